package pmmlkit.bridge;

import java.util.ArrayList;
import java.util.List;

import org.dmg.pmml.DataType;
import org.dmg.pmml.Expression;
import org.dmg.pmml.OpType;
import org.dmg.pmml.OutputField;
import org.dmg.pmml.ResultFeature;
import org.jpmml.evaluator.ExpressionUtil;
import org.jpmml.evaluator.FieldUtil;
import org.jpmml.evaluator.FieldValue;
import org.jpmml.evaluator.FieldValueUtil;
import org.jpmml.evaluator.TypeInfo;
import org.jpmml.evaluator.TypeUtil;
import org.jpmml.evaluator.VirtualEvaluationContext;

import pmmlkit.bridge.Plan.Unsupported;

/**
 * Output fields whose value is an expression of the output fields before them (an
 * IsolationForest's decision function and outlier flag): per computed row, the top model's
 * output fields in document order, each made as OutputUtil makes it (the predicted value,
 * a probability, or the expression evaluated by JPMML's own ExpressionUtil over the values
 * before it), each value typed by the field as OutputUtil types it. Only the expressions
 * run per row; a row whose expression fails is deferred to the evaluator.
 */
final class PlanOutputs {
    private static final int PREDICTED = 0;
    private static final int PROBABILITY = 1;
    private static final int EXPRESSION = 2;

    private final OutputField[] fields;
    private final int[] kinds;
    /** A probability's category index. */
    private final int[] categoryOf;

    private PlanOutputs(OutputField[] fields, int[] kinds, int[] categoryOf) {
        this.fields = fields;
        this.kinds = kinds;
        this.categoryOf = categoryOf;
    }

    /**
     * The chain of {@code all} (the top model's output fields, in order) up to field
     * {@code last}, or Unsupported naming the field it cannot make.
     */
    static PlanOutputs build(List<OutputField> all, int last, List<Object> categories, DataType targetType) throws Unsupported {
        OutputField[] fields = new OutputField[last + 1];
        int[] kinds = new int[last + 1];
        int[] categoryOf = new int[last + 1];
        List<String> before = new ArrayList<>();
        for (int f = 0; f <= last; f++) {
            OutputField field = all.get(f);
            String what = "OutputField " + field.getName();
            if (field.getTargetField() != null || field.getSegmentId() != null) {
                throw new Unsupported(what + "@targetField or segmentId");
            }
            ResultFeature feature = field.getResultFeature();
            if (feature == ResultFeature.PREDICTED_VALUE && field.getExpression() == null) {
                kinds[f] = PREDICTED;
            } else if (feature == ResultFeature.PROBABILITY && categories != null && field.getValue() != null) {
                kinds[f] = PROBABILITY;
                categoryOf[f] = Plan.indexOf(categories, field.getValue(), targetType);
                if (categoryOf[f] < 0) {
                    throw new Unsupported(what + ": probability of an unknown category");
                }
            } else if ((feature == ResultFeature.TRANSFORMED_VALUE || feature == ResultFeature.DECISION)
                    && field.getExpression() != null) {
                check(field.getExpression(), before, what);
                kinds[f] = EXPRESSION;
            } else {
                throw new Unsupported(what + "@feature=" + feature);
            }
            fields[f] = field;
            before.add(field.getName());
        }
        return new PlanOutputs(fields, kinds, categoryOf);
    }

    /** An expression JPMML evaluates per row (PlanCompiler.rowWiseExpression) of constants
     * and the output fields before it. */
    private static void check(Expression expression, List<String> before, String what) throws Unsupported {
        List<String> reads = new ArrayList<>();
        if (!PlanCompiler.rowWiseExpression(expression, reads)) {
            throw new Unsupported(what + ": an expression other than Apply, Constant and FieldRef");
        }
        for (String name : reads) {
            if (!before.contains(name)) {
                throw new Unsupported(what + " of the field " + name);
            }
        }
    }

    /**
     * The chain's values for one row whose prediction is {@code predicted} (the winning
     * category, or the regression's number) with {@code probabilities} (indexed as the
     * categories; null for a regression), or null where an expression fails (the evaluator
     * gives that row's answer).
     */
    Object[] values(Object predicted, double[][] results, int row) {
        VirtualEvaluationContext context = new VirtualEvaluationContext();
        Object[] out = new Object[fields.length];
        try {
            for (int f = 0; f < fields.length; f++) {
                Object value;
                switch (kinds[f]) {
                    case PREDICTED:
                        value = predicted;
                        break;
                    case PROBABILITY:
                        value = results[categoryOf[f]][row];
                        break;
                    default:
                        value = FieldValueUtil.getValue(ExpressionUtil.evaluateExpressionContainer(fields[f], context));
                        break;
                }
                FieldValue typed = FieldValueUtil.create(typeInfo(fields[f], value), value);
                context.declareInternal(fields[f].getName(), typed);
                out[f] = FieldValueUtil.getValue(typed);
            }
        } catch (RuntimeException e) { // an EvaluationException, an overflow: the evaluator's
            return null;
        }
        return out;
    }

    /** OutputUtil's type of an output field's value: its declared types, else the value's. */
    private static TypeInfo typeInfo(OutputField field, Object value) {
        return new TypeInfo() {
            @Override
            public OpType getOpType() {
                OpType opType = field.getOpType();
                return (opType != null) ? opType : TypeUtil.getOpType(getDataType());
            }

            @Override
            public DataType getDataType() {
                DataType dataType = field.getDataType();
                if (dataType != null) {
                    return dataType;
                }
                return (value instanceof java.util.Collection)
                    ? TypeUtil.getDataType((java.util.Collection<?>) value) : TypeUtil.getDataType(value);
            }

            @Override
            public List<?> getOrdering() {
                return FieldUtil.getValidValues(field);
            }
        };
    }

    static boolean isExpression(OutputField field) {
        ResultFeature feature = field.getResultFeature();
        return (feature == ResultFeature.TRANSFORMED_VALUE || feature == ResultFeature.DECISION)
            && field.getExpression() != null && !(field.getExpression() instanceof org.dmg.pmml.MapValues);
    }
}
