package pmmlkit.bridge;

import java.util.ArrayList;
import java.util.List;

import org.dmg.pmml.DataType;
import org.jpmml.evaluator.EvaluationException;
import org.jpmml.evaluator.FieldValue;
import org.jpmml.evaluator.InputField;
import org.jpmml.evaluator.TypeCheckException;
import org.jpmml.evaluator.TypeUtil;
import org.jpmml.evaluator.ValueCheckException;

/**
 * JPMML-Evaluator's own input preparation ({@link InputField#prepare}), one field at a time:
 * the rules every pmmlkit path follows, so that pmmlkit never refuses a value the evaluator
 * takes nor takes one it refuses.
 */
public final class Inputs {

    private Inputs() {
    }

    /** The problem of preparing {@code value} for {@code field} (input {@code index}), or null. */
    public static FieldProblem check(InputField field, int index, Object value) {
        try {
            field.prepare(value);
            return null;
        } catch (ValueCheckException e) {
            int kind = (value == null) ? FieldProblem.MISSING
                    : readable(field.getDataType(), value) ? FieldProblem.INVALID : FieldProblem.TYPE;
            return new FieldProblem(index, kind, Batch.describe(e));
        } catch (TypeCheckException | IllegalArgumentException e) {
            return new FieldProblem(index, FieldProblem.TYPE, Batch.describe(e));
        } catch (EvaluationException e) {
            return new FieldProblem(index, FieldProblem.OTHER, Batch.describe(e));
        } catch (RuntimeException e) {
            return new FieldProblem(index, FieldProblem.OTHER, Batch.describe(e));
        }
    }

    /** Every problem of a row, in input order (a null field is one the evaluator never reads). */
    public static FieldProblem[] checkAll(InputField[] fields, Object[] row) {
        List<FieldProblem> found = new ArrayList<>();
        for (int i = 0; i < fields.length; i++) {
            if (fields[i] == null) {
                continue;
            }
            FieldProblem problem = check(fields[i], i, row[i]);
            if (problem != null) {
                found.add(problem);
            }
        }
        return found.toArray(new FieldProblem[0]);
    }

    /** The prepared value of {@code value} for {@code field}: what the evaluator scores. */
    public static FieldValue prepare(InputField field, Object value) {
        return field.prepare(value);
    }

    /** Whether the evaluator reads {@code value} as {@code dataType} (parse or cast). */
    public static boolean readable(DataType dataType, Object value) {
        try {
            TypeUtil.parseOrCast(dataType, value);
            return true;
        } catch (RuntimeException e) {
            return false;
        }
    }

    /**
     * The evaluator's reading of each text as {@code dataType} ({@link TypeUtil#parse}): the
     * value (Double, Float, Integer, Boolean, String...) or null where it cannot be read.
     * The oracle of pmmlkit's own fast readers of numeric text.
     */
    public static Object[] parseAll(String dataType, String[] texts) {
        DataType type = DataType.fromValue(dataType);
        Object[] out = new Object[texts.length];
        for (int i = 0; i < texts.length; i++) {
            try {
                out[i] = TypeUtil.parse(type, texts[i]);
            } catch (RuntimeException e) {
                out[i] = null;
            }
        }
        return out;
    }
}
