package pmmlkit.bridge;

/**
 * A reusable single-row call: Python fills {@link #numbers} and {@link #objects} in place and
 * calls {@link #run()} with no arguments, so one record costs one JNI call plus the copies.
 * Evaluator input i reads {@code objects[layout[i]]} when it is set, else
 * {@code numbers[layout[i]]} (NaN = missing). Not thread-safe: pmmlkit keeps one per Python
 * thread.
 */
public final class RowCall {

    public final double[] numbers;
    public final Object[] objects;
    public final double[] outNumbers;
    public final String[] outTexts;
    /** The last failed row's field problems (input positions in schema order). */
    public FieldProblem[] problems = new FieldProblem[0];
    private final RowScorer scorer;
    private final int[] layout;
    private final int[] outKinds;
    private final Object[] row;
    private final FieldProblem[][] found = new FieldProblem[1][];

    public RowCall(RowScorer scorer, int inputCount, int[] layout, int[] outKinds) {
        this.scorer = scorer;
        this.numbers = new double[inputCount];
        this.objects = new Object[inputCount];
        this.layout = layout;
        this.outKinds = outKinds;
        this.outNumbers = new double[outKinds.length];
        this.outTexts = new String[outKinds.length];
        this.row = new Object[layout.length];
    }

    /** Scores the row held in the input arrays; returns null when scored, else the reason. */
    public String run() {
        for (int i = 0; i < layout.length; i++) {
            int k = layout[i];
            Object value = objects[k];
            if (value == null) {
                double number = numbers[k];
                value = Double.isNaN(number) ? null : (Object) number;
            }
            row[i] = value;
        }
        found[0] = new FieldProblem[0];
        String error = Batch.scoreOne(scorer, row, outKinds, outNumbers, outTexts, found);
        problems = found[0];
        return error;
    }
}
