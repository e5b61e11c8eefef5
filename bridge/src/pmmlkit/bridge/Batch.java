package pmmlkit.bridge;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ForkJoinPool;
import java.util.stream.IntStream;

/**
 * Column-wise batch scoring: one call per chunk across the Python/Java boundary.
 *
 * Input columns are {@link InputColumn}s. An output column is a {@code double[]} (kind 0,
 * NaN = missing) or dictionary-coded (kind 1) as {@code int[]} codes (-1 = missing). The
 * result holds the columns, then the rows that failed ({@code int[]}) and their messages
 * ({@code String[]}), then one dictionary ({@code String[]}, null for a double column) per
 * column, then the failed rows' field problems as four parallel arrays: row ({@code int[]}),
 * input position ({@code int[]}), kind ({@code int[]}, see {@link FieldProblem}) and the
 * evaluator's message ({@code String[]}).
 */
public final class Batch {

    private static final int BLOCK = 512;
    /** One pool per parallelism, created on first use and never shut down: concurrent calls
     * asking for different parallelism must not stop each other's pool. Its threads are daemons. */
    private static final ConcurrentHashMap<Integer, ForkJoinPool> POOLS = new ConcurrentHashMap<>();

    private Batch() {
    }

    private static ForkJoinPool pool(int parallelism) {
        return POOLS.computeIfAbsent(parallelism, ForkJoinPool::new);
    }

    /** Scores {@code nrows} rows; see the class comment for the layout of the result. */
    public static Object[] score(RowScorer scorer, InputColumn[] columns, int nrows, int[] outKinds,
            int parallelism) throws Exception {
        return score(scorer, null, columns, nrows, outKinds, parallelism);
    }

    /**
     * Scores {@code nrows} rows with {@code plan} (null: none): the plan computes each block's
     * plain rows, {@code scorer} the rows it defers, one by one.
     */
    public static Object[] score(RowScorer scorer, Plan plan, InputColumn[] columns, int nrows,
            int[] outKinds, int parallelism) throws Exception {
        int[][] maps = (plan == null) ? null : plan.categoryMaps(columns);
        int ncols = outKinds.length;
        Object[] rawOut = new Object[ncols];
        for (int j = 0; j < ncols; j++) {
            rawOut[j] = (outKinds[j] == 0) ? new double[nrows] : new Object[nrows];
        }
        String[] errors = new String[nrows];
        FieldProblem[][] problems = new FieldProblem[nrows][];
        int blocks = (nrows + BLOCK - 1) / BLOCK;
        IntStream range = IntStream.range(0, blocks);
        if (parallelism > 1 && blocks > 1) {
            pool(parallelism).submit(() -> range.parallel().forEach(
                    b -> scoreBlock(scorer, plan, maps, columns, b, nrows, outKinds, rawOut, errors,
                            problems))).get();
        } else {
            range.forEach(b -> scoreBlock(scorer, plan, maps, columns, b, nrows, outKinds, rawOut, errors,
                    problems));
        }
        Object[] result = new Object[2 * ncols + 6];
        for (int j = 0; j < ncols; j++) {
            if (outKinds[j] == 0) {
                result[j] = rawOut[j];
            } else {
                encode((Object[]) rawOut[j], result, j, ncols + 2 + j);
            }
        }
        int failed = 0;
        int found = 0;
        for (int i = 0; i < nrows; i++) {
            if (errors[i] != null) {
                failed++;
                found += problems[i].length;
            }
        }
        int[] errorRows = new int[failed];
        String[] errorMessages = new String[failed];
        int[] problemRows = new int[found];
        int[] problemFields = new int[found];
        int[] problemKinds = new int[found];
        String[] problemTexts = new String[found];
        for (int i = 0, k = 0, p = 0; i < nrows; i++) {
            if (errors[i] != null) {
                errorRows[k] = i;
                errorMessages[k++] = errors[i];
                for (FieldProblem problem : problems[i]) {
                    problemRows[p] = i;
                    problemFields[p] = problem.field;
                    problemKinds[p] = problem.kind;
                    problemTexts[p++] = problem.text;
                }
            }
        }
        result[ncols] = errorRows;
        result[ncols + 1] = errorMessages;
        result[2 * ncols + 2] = problemRows;
        result[2 * ncols + 3] = problemFields;
        result[2 * ncols + 4] = problemKinds;
        result[2 * ncols + 5] = problemTexts;
        return result;
    }

    private static void scoreBlock(RowScorer scorer, Plan plan, int[][] maps, InputColumn[] columns,
            int block, int nrows, int[] outKinds, Object[] rawOut, String[] errors,
            FieldProblem[][] problems) {
        int start = block * BLOCK;
        int end = Math.min(nrows, start + BLOCK);
        boolean[] deferred = null;
        if (plan != null) {
            deferred = plan.scoreBlock(columns, maps, start, end, outKinds, rawOut);
            if (deferred == null) {
                return;
            }
        }
        Object[] row = new Object[columns.length];
        for (int i = start; i < end; i++) {
            if (deferred != null && !deferred[i - start]) {
                continue;
            }
            for (int c = 0; c < columns.length; c++) {
                row[c] = columns[c].get(i);
            }
            try {
                Object[] values = scorer.score(row);
                store(values, i, outKinds, rawOut);
            } catch (Exception e) {
                errors[i] = describe(e);
                problems[i] = diagnose(scorer, row);
                store(null, i, outKinds, rawOut);
            }
        }
    }

    private static FieldProblem[] diagnose(RowScorer scorer, Object[] row) {
        try {
            return scorer.diagnose(row.clone());
        } catch (RuntimeException e) {
            return new FieldProblem[0];
        }
    }

    private static void store(Object[] values, int i, int[] outKinds, Object[] rawOut) {
        for (int j = 0; j < outKinds.length; j++) {
            Object value = (values == null) ? null : values[j];
            if (outKinds[j] == 0) {
                ((double[]) rawOut[j])[i] = number(value);
            } else {
                ((Object[]) rawOut[j])[i] = value;
            }
        }
    }

    /** A result as a number column holds it: booleans 1 and 0, text parsed, else NaN. */
    static double number(Object value) {
        if (value instanceof Number) {
            return ((Number) value).doubleValue();
        }
        if (value instanceof Boolean) {
            return ((Boolean) value) ? 1.0 : 0.0;
        }
        if (value instanceof String) {
            try {
                return Double.parseDouble((String) value);
            } catch (NumberFormatException e) {
                return Double.NaN;
            }
        }
        return Double.NaN;
    }

    private static void encode(Object[] values, Object[] result, int codesAt, int dictionaryAt) {
        Map<String, Integer> index = new HashMap<>();
        int[] codes = new int[values.length];
        for (int i = 0; i < values.length; i++) {
            Object value = values[i];
            if (value == null) {
                codes[i] = -1;
                continue;
            }
            String text = text(value);
            Integer code = index.get(text);
            if (code == null) {
                code = index.size();
                index.put(text, code);
            }
            codes[i] = code;
        }
        String[] dictionary = new String[index.size()];
        for (Map.Entry<String, Integer> entry : index.entrySet()) {
            dictionary[entry.getValue()] = entry.getKey();
        }
        result[codesAt] = codes;
        result[dictionaryAt] = dictionary;
    }

    /** The text of a value: integral doubles print without a fraction so "1.0" and "1" agree. */
    public static String text(Object value) {
        if (value instanceof Double || value instanceof Float) {
            double d = ((Number) value).doubleValue();
            if (d == Math.rint(d) && !Double.isInfinite(d) && Math.abs(d) < 1e15) {
                return Long.toString((long) d);
            }
        }
        return String.valueOf(value);
    }

    /**
     * Scores one row given as raw values in scorer input order ({@code row}, null = missing);
     * outputs land in {@code outNumbers} or {@code outTexts} by {@code outKinds}. Returns
     * null when scored, else the reason, with the row's field problems in {@code problems[0]}.
     */
    public static String scoreOne(RowScorer scorer, Object[] row, int[] outKinds, double[] outNumbers,
            String[] outTexts, FieldProblem[][] problems) {
        Object[] values;
        try {
            values = scorer.score(row);
        } catch (Exception e) {
            problems[0] = diagnose(scorer, row);
            return describe(e);
        }
        for (int j = 0; j < outKinds.length; j++) {
            Object value = values[j];
            if (outKinds[j] == 0) {
                outNumbers[j] = number(value);
            } else {
                outTexts[j] = (value == null) ? null : text(value);
            }
        }
        return null;
    }

    /** One line naming the Java exception class and its message. */
    public static String describe(Throwable e) {
        String message = e.getMessage();
        String name = e.getClass().getSimpleName();
        return (message == null || message.isEmpty()) ? name : name + ": " + message;
    }
}
