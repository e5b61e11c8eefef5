package pmmlkit.bridge;

/**
 * Scores one row. Inputs arrive in the order of {@link #inputNames()} as raw values
 * (String, Double, Long, Boolean; {@code null} for a missing value); outputs come back in
 * pmmlkit's output contract order. A row that cannot be scored throws.
 */
public interface RowScorer {

    String[] inputNames();

    Object[] score(Object[] row) throws Exception;

    /**
     * After {@link #score} threw on {@code row}: every input value the evaluator's own input
     * preparation refuses, or an empty array when no single value is to blame.
     */
    default FieldProblem[] diagnose(Object[] row) {
        return new FieldProblem[0];
    }
}
