package pmmlkit.bridge;

import java.util.HashMap;
import java.util.Map;

import org.jpmml.evaluator.Computable;
import org.jpmml.evaluator.Evaluator;
import org.jpmml.evaluator.HasProbability;

/**
 * Row scorer over a JPMML-Evaluator {@link Evaluator}.
 *
 * Each output column is described by a kind, a result key and a category:
 * kind 0 = the target's value (key = target name, null for a model without one),
 * kind 1 = the probability of a category of the target, kind 2 = a declared output field.
 */
public final class JpmmlScorer implements RowScorer {

    private final Evaluator evaluator;
    private final String[] inputNames;
    private final int[] kinds;
    private final String[] keys;
    private final String[] categories;

    public JpmmlScorer(Evaluator evaluator, String[] inputNames, int[] kinds, String[] keys, String[] categories) {
        this.evaluator = evaluator;
        this.inputNames = inputNames;
        this.kinds = kinds;
        this.keys = keys;
        this.categories = categories;
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
        Object[] out = new Object[kinds.length];
        for (int j = 0; j < kinds.length; j++) {
            Object value = results.get(keys[j]);
            switch (kinds[j]) {
                case 0:
                    out[j] = (value instanceof Computable) ? ((Computable) value).getResult() : value;
                    break;
                case 1:
                    out[j] = (value instanceof HasProbability) ? probability((HasProbability) value, categories[j]) : null;
                    break;
                default:
                    out[j] = (value instanceof Computable) ? ((Computable) value).getResult() : value;
            }
        }
        return out;
    }

    /** The probability of the category whose text is {@code category} (categories may be typed). */
    private static Double probability(HasProbability value, String category) {
        for (Object candidate : value.getCategories()) {
            if (Batch.text(candidate).equals(category)) {
                return value.getProbability(candidate);
            }
        }
        return 0.0;
    }
}
