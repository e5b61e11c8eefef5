package pmmlkit.bridge;

/**
 * A reusable single-row call: Python fills {@link #numbers} and {@link #objects} in place and
 * calls {@link #run()} with no arguments, so one record costs one JNI call plus the copies.
 * Evaluator input i reads {@code objects[layout[i]]} when it is set, else
 * {@code numbers[layout[i]]} (NaN = missing). A categorical input of the plan
 * ({@link #codedInputs}) may instead carry its category's index in {@code numbers} (from
 * {@link #category}), so no text crosses into the JVM per record. Not thread-safe: pmmlkit
 * keeps one per Python thread.
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

    /** The columnar plan, or null: a row it computes never reaches the scorer. */
    private final Plan plan;
    private final InputColumn[] columns;
    private final double[][] columnNumbers;
    private final int[][] columnCodes;
    private final Object[][] columnValues;
    private final Object[] planOut;
    /** Per input column, its one value's category index (categorical columns only). */
    private final int[][] maps;

    public RowCall(RowScorer scorer, int inputCount, int[] layout, int[] outKinds) {
        this(scorer, null, inputCount, layout, outKinds);
    }

    public RowCall(RowScorer scorer, Plan plan, int inputCount, int[] layout, int[] outKinds) {
        this.scorer = scorer;
        this.plan = plan;
        int n = layout.length;
        this.columns = new InputColumn[n];
        this.columnNumbers = new double[n][1];
        this.columnCodes = new int[n][1];
        this.columnValues = new Object[n][1];
        for (int i = 0; i < n; i++) {
            columns[i] = new InputColumn(columnNumbers[i], columnCodes[i], columnValues[i]);
        }
        this.maps = new int[n][];
        for (int i = 0; i < n && plan != null; i++) {
            maps[i] = plan.categoricalInput(i) ? new int[1] : null;
        }
        this.planOut = new Object[outKinds.length];
        for (int j = 0; j < outKinds.length; j++) {
            planOut[j] = (outKinds[j] == 0) ? new double[1] : new Object[1];
        }
        this.numbers = new double[inputCount];
        this.objects = new Object[inputCount];
        this.layout = layout;
        this.outKinds = outKinds;
        this.outNumbers = new double[outKinds.length];
        this.outTexts = new String[outKinds.length];
        this.row = new Object[layout.length];
    }

    /** The schema positions whose category index {@link #numbers} may carry. */
    public int[] codedInputs() {
        int count = 0;
        for (int i = 0; i < layout.length; i++) {
            count += (maps[i] != null) ? 1 : 0;
        }
        int[] out = new int[count];
        for (int i = 0, j = 0; i < layout.length; i++) {
            if (maps[i] != null) {
                out[j++] = layout[i];
            }
        }
        return out;
    }

    /** The category index of {@code value} at schema position {@code k} (one of
     * {@link #codedInputs}), or -1 where the evaluator decides (the value then travels raw). */
    public int category(int k, Object value) {
        for (int i = 0; i < layout.length; i++) {
            if (layout[i] == k && maps[i] != null) {
                return plan.categoryOf(i, value);
            }
        }
        return -1;
    }

    /** Scores the row held in the input arrays; returns null when scored, else the reason. */
    public String run() {
        found[0] = new FieldProblem[0];
        if (plan != null && planned()) {
            problems = found[0];
            return null;
        }
        for (int i = 0; i < layout.length; i++) {
            int k = layout[i];
            Object value = objects[k];
            if (value == null) {
                double number = numbers[k];
                if (Double.isNaN(number)) {
                    value = null;
                } else if (maps[i] != null) { // a category's index: the category itself
                    value = plan.inputCategory(i, (int) number);
                } else {
                    value = number;
                }
            }
            row[i] = value;
        }
        String error = Batch.scoreOne(scorer, row, outKinds, outNumbers, outTexts, found);
        problems = found[0];
        return error;
    }

    /** The row as a one-row chunk through the plan; false when the plan defers it. */
    private boolean planned() {
        boolean raw = false;
        for (int i = 0; i < layout.length; i++) {
            int k = layout[i];
            Object value = objects[k];
            if (value == null && maps[i] != null && !Double.isNaN(numbers[k])) {
                // a category's index: the one-row map names it
                columnNumbers[i][0] = Double.NaN;
                columnCodes[i][0] = 0;
                maps[i][0] = (int) numbers[k];
                columnValues[i][0] = plan.inputCategory(i, maps[i][0]);
                continue;
            }
            if (value == null) {
                columnNumbers[i][0] = numbers[k]; // NaN: missing
                columnCodes[i][0] = -1;
            } else {
                columnNumbers[i][0] = Double.NaN;
                columnCodes[i][0] = 0;
                raw |= maps[i] != null;
            }
            columnValues[i][0] = value;
        }
        if (raw) {
            plan.rowCategoryMaps(columns, maps);
        }
        if (plan.scoreBlock(columns, maps, 0, 1, outKinds, planOut) != null) {
            return false;
        }
        for (int j = 0; j < outKinds.length; j++) {
            if (outKinds[j] == 0) {
                outNumbers[j] = ((double[]) planOut[j])[0];
            } else {
                Object value = ((Object[]) planOut[j])[0];
                outTexts[j] = (value == null) ? null : Batch.text(value);
            }
        }
        return true;
    }
}
