package pmmlkit.bridge;

import java.util.HashMap;
import java.util.Map;

import org.jpmml.evaluator.Computable;
import org.jpmml.evaluator.Evaluator;
import org.jpmml.evaluator.InputField;

/**
 * Row scorer over a JPMML-Evaluator {@link Evaluator}.
 *
 * Inputs go to the evaluator as given: it reads, validates and treats each value itself
 * (lazily, only the fields a row's evaluation reaches). Each output column is read from the
 * evaluator's result map by its key (the target's name, or an output field's name; pmmlkit
 * declares the probabilities it wants as output fields). A {@link Computable} is unwrapped
 * to its value.
 */
public final class JpmmlScorer implements RowScorer {

    private final Evaluator evaluator;
    private final String[] inputNames;
    private final String[] keys;
    private final InputField[] inputFields;

    public JpmmlScorer(Evaluator evaluator, String[] inputNames, String[] keys) {
        this.evaluator = evaluator;
        this.inputNames = inputNames;
        this.keys = keys;
        Map<String, InputField> byName = new HashMap<>();
        for (InputField field : evaluator.getInputFields()) {
            byName.put(field.getName(), field);
        }
        // null where the evaluator has no such input (a compiled model drops the unused ones)
        this.inputFields = new InputField[inputNames.length];
        for (int i = 0; i < inputNames.length; i++) {
            inputFields[i] = byName.get(inputNames[i]);
        }
    }

    @Override
    public String[] inputNames() {
        return inputNames;
    }

    @Override
    public Object[] score(Object[] row) throws Exception {
        Map<String, Object> arguments = new HashMap<>(inputNames.length * 2);
        for (int i = 0; i < inputNames.length; i++) {
            arguments.put(inputNames[i], row[i]);
        }
        Map<String, ?> results = evaluator.evaluate(arguments);
        Object[] out = new Object[keys.length];
        for (int j = 0; j < keys.length; j++) {
            Object value = results.get(keys[j]);
            out[j] = (value instanceof Computable) ? ((Computable) value).getResult() : value;
        }
        return out;
    }

    @Override
    public FieldProblem[] diagnose(Object[] row) {
        return Inputs.checkAll(inputFields, row);
    }
}
