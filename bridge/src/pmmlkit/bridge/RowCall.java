package pmmlkit.bridge;

/**
 * A reusable single-row call: Python fills {@link #numbers} and {@link #texts} in place and
 * calls {@link #run()} with no arguments, so one record costs one JNI call plus the copies.
 * Not thread-safe: pmmlkit keeps one per Python thread.
 */
public final class RowCall {

    public final double[] numbers;
    public final String[] texts;
    public final double[] outNumbers;
    public final String[] outTexts;
    private final RowScorer scorer;
    private final int[] layout;
    private final int[] outKinds;

    public RowCall(RowScorer scorer, int numberCount, int textCount, int[] layout, int[] outKinds) {
        this.scorer = scorer;
        this.numbers = new double[numberCount];
        this.texts = new String[textCount];
        this.layout = layout;
        this.outKinds = outKinds;
        this.outNumbers = new double[outKinds.length];
        this.outTexts = new String[outKinds.length];
    }

    /** Scores the row held in the input arrays; returns null when scored, else the reason. */
    public String run() {
        return Batch.scoreOne(scorer, numbers, texts, layout, outKinds, outNumbers, outTexts);
    }
}
