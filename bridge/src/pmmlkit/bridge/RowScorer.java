package pmmlkit.bridge;

/**
 * Scores one row. Inputs arrive in the order of {@link #inputNames()}, with
 * {@code null} for a missing value; outputs come back in pmmlkit's output
 * contract order. A row that cannot be scored throws.
 */
public interface RowScorer {

    String[] inputNames();

    Object[] score(Object[] row) throws Exception;
}
