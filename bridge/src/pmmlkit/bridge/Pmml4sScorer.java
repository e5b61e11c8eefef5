package pmmlkit.bridge;

import org.pmml4s.model.Model;

/**
 * Row scorer over a PMML4S {@link Model}. {@code outputIndex[j]} is the index in
 * PMML4S's output row of pmmlkit's output column j.
 */
public final class Pmml4sScorer implements RowScorer {

    private final Model model;
    private final String[] inputNames;
    private final int[] outputIndex;

    public Pmml4sScorer(Model model, int[] outputIndex) {
        this.model = model;
        this.inputNames = model.inputNames();
        this.outputIndex = outputIndex;
    }

    @Override
    public String[] inputNames() {
        return inputNames;
    }

    @Override
    public Object[] score(Object[] row) {
        Object[] result = model.predict(row);
        Object[] out = new Object[outputIndex.length];
        for (int j = 0; j < outputIndex.length; j++) {
            out[j] = result[outputIndex[j]];
        }
        return out;
    }
}
