package pmmlkit.bridge;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import org.dmg.pmml.DataField;
import org.dmg.pmml.DataType;
import org.dmg.pmml.MiningField;
import org.dmg.pmml.MiningFunction;
import org.dmg.pmml.MiningSchema;
import org.dmg.pmml.Model;
import org.dmg.pmml.Output;
import org.dmg.pmml.OutputField;
import org.dmg.pmml.PMML;
import org.dmg.pmml.ResultFeature;
import org.dmg.pmml.mining.MiningModel;
import org.dmg.pmml.mining.Segment;
import org.dmg.pmml.mining.Segmentation;
import org.dmg.pmml.regression.RegressionModel;
import org.dmg.pmml.tree.TreeModel;
import org.jpmml.evaluator.Evaluator;
import org.jpmml.evaluator.FieldValue;
import org.jpmml.evaluator.InputField;
import org.jpmml.evaluator.ModelEvaluator;
import org.jpmml.evaluator.TypeUtil;

/**
 * A columnar plan of a PMML model: whole columns in, one step (one derived field, one tree,
 * one regression table) at a time over a block of rows, no per-row object.
 *
 * <p>The plan computes a row only when every value it reads is plain: a numeric input is a
 * finite double, a categorical input one of its field's declared values, every derived value
 * finite. Any other row (missing, invalid or unknown values, a value the evaluator must parse
 * itself) is <em>deferred</em>: the evaluator scores it row by row, so its result and error are
 * the evaluator's own. A computed row follows JPMML-Evaluator's operations in its order and
 * types (sums from 0 in element order, intercept last; float casts where the document
 * declares float; no negative zero, so IEEE comparisons in predicates; the first maximum
 * wins), and a plan
 * serves only after reproducing the evaluator bit for bit on real rows (the caller's gate).
 *
 * <p>{@link #build} refuses (throws {@link Unsupported} naming the element) any document with
 * an element or attribute outside the supported set; that model keeps the evaluator.
 */
public final class Plan {

    /** Why a document has no plan: the first element or attribute outside the supported set. */
    public static final class Unsupported extends Exception {
        private static final long serialVersionUID = 1L;

        Unsupported(String message) {
            super(message);
        }
    }

    // -- values --------------------------------------------------------------------------

    /** A value the plan computes: a numeric slot, or a category index slot. */
    static final class Sym {
        final boolean numeric;
        final int slot;
        /** DOUBLE or FLOAT for a numeric value; the field's type for a categorical one. */
        final DataType dataType;
        /** A categorical value's categories, typed: index i means categories.get(i). */
        final List<Object> categories;

        Sym(boolean numeric, int slot, DataType dataType, List<Object> categories) {
            this.numeric = numeric;
            this.slot = slot;
            this.dataType = dataType;
            this.categories = categories;
        }
    }

    /** One computation over a block: fills a slot, flags rows it cannot compute. */
    interface Step {
        void run(Block block);
    }

    /** The working columns of one block of rows. */
    static final class Block {
        final InputColumn[] columns;
        final int[][] categoryMaps;
        final int start;
        final int n;
        final double[][] numbers;
        final int[][] codes;
        final boolean[] deferred;
        /** The trees' row-major table (PlanTrees.Table), built on first use. */
        double[] table;
        /** Scratch of the tree walks: each row's step (and a second tree's). */
        final int[] steps;
        private int[] steps2;

        int[] steps2() {
            if (steps2 == null) {
                steps2 = new int[n];
            }
            return steps2;
        }

        Block(InputColumn[] columns, int[][] categoryMaps, int start, int n, int numericSlots,
                int categorySlots) {
            this.columns = columns;
            this.categoryMaps = categoryMaps;
            this.start = start;
            this.n = n;
            this.numbers = new double[numericSlots][n];
            this.codes = new int[categorySlots][n];
            this.deferred = new boolean[n];
            this.steps = new int[n];
        }
    }

    /** A model over a block: one array of values per result (a regression value, or one
     * probability per category), NaN where the model gives none (those rows are deferred). */
    interface ModelStep {
        /** Results: 1 for a regression, the category count for a classification. */
        int width();

        /** A classification's categories, typed, in the order of its results; else null. */
        default List<Object> categories() {
            return null;
        }

        void run(Block block, double[][] out);

        /**
         * Adds this model's results to {@code totals} as {@code run} then a sum would,
         * {@code totals[c][i] = add(single, totals[c][i], result c of row i)}, with NaN where
         * run gives any NaN; false (nothing done) where it cannot.
         */
        default boolean accumulate(Block block, double[][] totals, boolean single) {
            return false;
        }

        /** A regression tree's level-by-level form (its results: {@link #leafScores}), or
         * null. */
        default PlanTrees.Compact compact() {
            return null;
        }

        default double[] leafScores() {
            return null;
        }
    }

    // -- the plan ------------------------------------------------------------------------

    private final List<Step> steps;
    private final ModelStep model;
    /** Per output key: -1 the predicted value, else the result index it reads. */
    private final int[] outputs;
    /** Per output key: cast the value to float (an OutputField declared float). */
    private final boolean[] floatOutputs;
    /** Per output key: a MapValues of the predicted category (its number per category index;
     * NaN where the table has none: deferred), else null. */
    private final double[][] mappedOutputs;
    /** Output fields made by expressions (outputs[j] = -2 - their place in its chain), or null. */
    private final PlanOutputs expressions;
    /** For a classification: the categories, typed, in result order; else null. */
    private final List<Object> categories;
    private final int numericSlots;
    private final int categorySlots;
    /** Per input column: the categories of a categorical input (null for a numeric one). */
    private final List<Object>[] inputCategories;
    private final InputField[] inputFields;
    private final String summary;

    private Plan(PlanCompiler compiler, ModelStep model, int[] outputs, boolean[] floatOutputs,
            double[][] mappedOutputs,
            List<Object> categories, PlanOutputs expressions, String summary) {
        this.expressions = expressions;
        this.steps = compiler.steps;
        this.model = model;
        this.outputs = outputs;
        this.floatOutputs = floatOutputs;
        this.mappedOutputs = mappedOutputs;
        this.categories = categories;
        this.numericSlots = compiler.numericSlots;
        this.categorySlots = compiler.categorySlots;
        this.inputCategories = compiler.inputCategories;
        this.inputFields = compiler.inputFields;
        this.summary = summary;
    }

    /** What the plan computes, e.g. {@code MiningModel(modelChain: sum of 100 TreeModel, RegressionModel)}. */
    public String summary() {
        return summary;
    }

    /**
     * The plan of {@code evaluator}'s model for inputs {@code inputNames} (the order of the
     * chunk's columns) and the output keys {@code keys} (the target's name, or an output
     * field's name), or {@link Unsupported} naming what it does not support.
     */
    public static Plan build(Evaluator evaluator, String[] inputNames, String[] keys) throws Unsupported {
        if (!(evaluator instanceof ModelEvaluator)) {
            throw new Unsupported("not an interpreting evaluator");
        }
        ModelEvaluator<?> modelEvaluator = (ModelEvaluator<?>) evaluator;
        PMML pmml = modelEvaluator.getPMML();
        Model top = modelEvaluator.getModel();
        Map<String, InputField> fields = new HashMap<>();
        for (InputField field : evaluator.getInputFields()) {
            fields.put(field.getName(), field);
        }
        PlanCompiler compiler = new PlanCompiler(pmml, inputNames, fields);
        PlanCompiler.Scope scope = compiler.scope(null, top);
        ModelStep model = compiler.model(top, scope, targetType(pmml, top));
        List<Object> categories = model.categories();
        if (categories == null && top.requireMiningFunction() == MiningFunction.CLASSIFICATION) {
            throw new Unsupported("a classification without a probability distribution");
        }
        int[] outputs = new int[keys.length];
        boolean[] floats = new boolean[keys.length];
        double[][] mapped = new double[keys.length][];
        String target = targetName(top);
        // a model chain's result is its last segment's, with that segment's output fields
        Map<String, OutputField> declared = new HashMap<>();
        for (Model at = top; at != null; at = lastOfChain(at)) {
            Output output = at.getOutput();
            if (output != null && output.hasOutputFields()) {
                for (OutputField field : output.getOutputFields()) {
                    declared.putIfAbsent(field.getName(), field);
                }
            }
        }
        List<OutputField> topOutputs = (top.getOutput() != null && top.getOutput().hasOutputFields())
            ? top.getOutput().getOutputFields() : java.util.Collections.<OutputField>emptyList();
        int lastExpression = -1;
        for (int j = 0; j < keys.length; j++) {
            String key = keys[j];
            OutputField field = declared.get(key);
            if (field != null && PlanOutputs.isExpression(field)) {
                int at = topOutputs.indexOf(field);
                if (at < 0 || lastOfChain(top) != null) {
                    throw new Unsupported("OutputField " + key + " with an expression in a model chain");
                }
                outputs[j] = -2 - at; // the chain's value
                lastExpression = Math.max(lastExpression, at);
                continue;
            }
            if (field == null) {
                if (!Objects.equals(key, target)) {
                    throw new Unsupported("output " + key + " is neither the target nor an OutputField");
                }
                outputs[j] = -1;
                continue;
            }
            floats[j] = castsToFloat(field.getDataType());
            ResultFeature feature = field.getResultFeature();
            if (field.getTargetField() != null && !Objects.equals(field.getTargetField(), target)) {
                throw new Unsupported("OutputField " + key + "@targetField");
            }
            if (feature == ResultFeature.PREDICTED_VALUE) {
                outputs[j] = -1;
            } else if (feature == ResultFeature.PROBABILITY && categories != null) {
                int at = indexOf(categories, field.getValue(), compiler.targetDataType(top));
                if (at < 0) {
                    throw new Unsupported("OutputField " + key + ": probability of an unknown category");
                }
                outputs[j] = at;
            } else if (feature == ResultFeature.TRANSFORMED_VALUE && categories != null) {
                mapped[j] = mappedPrediction(field, declared, target, categories,
                        compiler.targetDataType(top));
                outputs[j] = -1;
                continue;
            } else {
                throw new Unsupported("OutputField " + key + "@feature=" + feature);
            }
            if (field.getExpression() != null || field.getSegmentId() != null) {
                throw new Unsupported("OutputField " + key + " with an expression or segmentId");
            }
        }
        PlanOutputs expressions = (lastExpression >= 0)
            ? PlanOutputs.build(topOutputs, lastExpression, categories, compiler.targetDataType(top)) : null;
        compiler.treeTable.freeze();
        String summary = describe(top);
        if (compiler.trees > 0) {
            summary += ", " + compiler.levelTrees + " of " + compiler.trees + " trees walked level by level";
        }
        return new Plan(compiler, model, outputs, floats, mapped, categories, expressions, summary);
    }

    private static Model lastOfChain(Model model) {
        if (!(model instanceof MiningModel)) {
            return null;
        }
        Segmentation segmentation = ((MiningModel) model).getSegmentation();
        if (segmentation == null || segmentation.getMultipleModelMethod() != Segmentation.MultipleModelMethod.MODEL_CHAIN) {
            return null;
        }
        List<Segment> segments = segmentation.getSegments();
        return segments.isEmpty() ? null : segments.get(segments.size() - 1).getModel();
    }

    /** A transformed value that maps the predicted category through a table (JPMML-SparkML's
     * label index): the number of each category, or NaN where the evaluator decides. */
    private static double[] mappedPrediction(OutputField field, Map<String, OutputField> declared,
            String target, List<Object> categories, DataType targetType) throws Unsupported {
        String what = "OutputField " + field.getName() + "@feature=transformedValue";
        if (!(field.getExpression() instanceof org.dmg.pmml.MapValues)) {
            throw new Unsupported(what + " other than a MapValues");
        }
        org.dmg.pmml.MapValues map = (org.dmg.pmml.MapValues) field.getExpression();
        if (map.getFieldColumnPairs().size() != 1 || map.getTableLocator() != null) {
            throw new Unsupported(what + " of a MapValues of several columns");
        }
        org.dmg.pmml.FieldColumnPair pair = map.getFieldColumnPairs().get(0);
        OutputField source = declared.get(pair.requireField());
        boolean predicted = Objects.equals(pair.requireField(), target) || (source != null
                && source.getResultFeature() == ResultFeature.PREDICTED_VALUE
                && source.getExpression() == null);
        if (!predicted) {
            throw new Unsupported(what + " of something other than the prediction");
        }
        DataType type = (map.getDataType() != null) ? map.getDataType() : field.getDataType();
        if (type != DataType.DOUBLE && type != DataType.FLOAT && type != DataType.INTEGER) {
            throw new Unsupported(what + " to a " + type);
        }
        double[] numbers = new double[categories.size()];
        java.util.Arrays.fill(numbers, Double.NaN);
        com.google.common.collect.Table<Integer, String, Object> table =
                org.jpmml.evaluator.InlineTableUtil.getContent(map.requireInlineTable());
        String output = map.requireOutputColumn();
        for (Integer row : table.rowKeySet()) {
            Object input = table.get(row, pair.requireColumn());
            Object value = table.get(row, output);
            int at = (input == null) ? -1 : indexOf(categories, input, targetType);
            if (at >= 0 && value != null && Double.isNaN(numbers[at])) {
                numbers[at] = ((Number) TypeUtil.parseOrCast(type, value)).doubleValue();
            }
        }
        return numbers;
    }

    private static boolean castsToFloat(DataType dataType) throws Unsupported {
        if (dataType == DataType.FLOAT) {
            return true;
        }
        if (dataType != null && dataType != DataType.DOUBLE && dataType != DataType.STRING
                && dataType != DataType.INTEGER) {
            throw new Unsupported("OutputField@dataType=" + dataType.value());
        }
        return false;
    }

    static int indexOf(List<Object> categories, Object value, DataType dataType) {
        Object typed = (value instanceof String) ? TypeUtil.parseOrCast(dataType, value) : value;
        for (int i = 0; i < categories.size(); i++) {
            if (Objects.equals(categories.get(i), typed)) {
                return i;
            }
        }
        return -1;
    }

    static String targetName(Model model) {
        MiningSchema schema = model.getMiningSchema();
        for (MiningField field : schema.getMiningFields()) {
            if (field.getUsageType() == MiningField.UsageType.TARGET
                    || field.getUsageType() == MiningField.UsageType.PREDICTED) {
                return field.getName();
            }
        }
        return null;
    }

    static DataType targetType(PMML pmml, Model model) {
        String name = targetName(model);
        if (name == null) {
            return DataType.DOUBLE;
        }
        for (DataField field : pmml.getDataDictionary().getDataFields()) {
            if (field.getName().equals(name)) {
                return field.getDataType();
            }
        }
        return DataType.DOUBLE;
    }

    private static String describe(Model model) {
        if (model instanceof MiningModel) {
            Segmentation segmentation = ((MiningModel) model).getSegmentation();
            List<Segment> segments = segmentation.getSegments();
            StringBuilder text = new StringBuilder("MiningModel(")
                    .append(segmentation.getMultipleModelMethod().value()).append(": ");
            if (segments.size() > 3) {
                text.append(segments.size()).append(" x ").append(describe(segments.get(0).getModel()));
            } else {
                for (int i = 0; i < segments.size(); i++) {
                    text.append(i == 0 ? "" : ", ").append(describe(segments.get(i).getModel()));
                }
            }
            return text.append(')').toString();
        }
        return model.getClass().getSimpleName();
    }

    // -- scoring -------------------------------------------------------------------------

    /** For each categorical input column, its dictionary's codes as category indexes (-1: the
     * evaluator decides the row). Each distinct value is prepared once, by the evaluator's
     * own input preparation. */
    int[][] categoryMaps(InputColumn[] columns) {
        int[][] maps = new int[columns.length][];
        for (int c = 0; c < columns.length; c++) {
            List<Object> categories = inputCategories[c];
            if (categories == null || columns[c].values() == null) {
                continue;
            }
            Object[] values = columns[c].values();
            int[] map = new int[values.length];
            for (int k = 0; k < values.length; k++) {
                map[k] = category(inputFields[c], categories, values[k]);
            }
            maps[c] = map;
        }
        return maps;
    }

    /** Per categorical input column, the category index of each value a single-row call
     * has seen (a value's preparation depends on the value alone), up to a bound. */
    private java.util.concurrent.ConcurrentHashMap<Object, Integer>[] rowCategories;
    private static final int ROW_CATEGORIES = 4096;

    /** {@link #categoryMaps} for one-row columns, into {@code maps} (each an int[1] or null). */
    @SuppressWarnings("unchecked")
    void rowCategoryMaps(InputColumn[] columns, int[][] maps) {
        java.util.concurrent.ConcurrentHashMap<Object, Integer>[] known = rowCategories;
        if (known == null) {
            known = new java.util.concurrent.ConcurrentHashMap[columns.length];
            for (int c = 0; c < known.length; c++) {
                known[c] = new java.util.concurrent.ConcurrentHashMap<>();
            }
            rowCategories = known;
        }
        for (int c = 0; c < columns.length; c++) {
            List<Object> categories = inputCategories[c];
            Object[] values = columns[c].values();
            if (categories == null || values == null || maps[c] == null) {
                continue;
            }
            Object value = values[0];
            if (value == null) {
                maps[c][0] = -1;
                continue;
            }
            Integer at = known[c].get(value);
            if (at == null) {
                at = category(inputFields[c], categories, value);
                if (known[c].size() < ROW_CATEGORIES) {
                    known[c].put(value, at);
                }
            }
            maps[c][0] = at;
        }
    }

    /** Whether input column {@code c} is categorical (its codes index a map). */
    boolean categoricalInput(int c) {
        return inputCategories[c] != null;
    }

    /** The category index of a raw value of the categorical input column {@code c} (-1: the
     * evaluator decides the row), as {@link #categoryMaps} finds it. */
    int categoryOf(int c, Object value) {
        return category(inputFields[c], inputCategories[c], value);
    }

    /** Category {@code k} of the categorical input column {@code c}, typed: a value the
     * evaluator prepares into that very category. */
    Object inputCategory(int c, int k) {
        return inputCategories[c].get(k);
    }

    private static int category(InputField field, List<Object> categories, Object value) {
        if (value == null) {
            return -1;
        }
        try {
            FieldValue prepared = field.prepare(value);
            if (prepared == null || !(prepared instanceof org.jpmml.evaluator.ScalarValue)
                    || !((org.jpmml.evaluator.ScalarValue) prepared).isValid()) {
                return -1;
            }
            Object typed = prepared.getValue();
            for (int i = 0; i < categories.size(); i++) {
                if (Objects.equals(categories.get(i), typed)) {
                    return i;
                }
            }
            return -1;
        } catch (RuntimeException e) {
            return -1;
        }
    }

    /**
     * Computes the rows {@code start..end} of a chunk into the output columns ({@code double[]}
     * or {@code Object[]} by {@code outKinds}, as {@link Batch} lays them out); returns which
     * rows it deferred (null: none).
     */
    boolean[] scoreBlock(InputColumn[] columns, int[][] categoryMaps, int start, int end,
            int[] outKinds, Object[] rawOut) {
        int n = end - start;
        Block block = new Block(columns, categoryMaps, start, n, numericSlots, categorySlots);
        for (Step step : steps) {
            step.run(block);
        }
        double[][] results = new double[model.width()][n];
        model.run(block, results);
        boolean[] deferred = block.deferred;
        // a classification's results: one probability per category, then (a tree) the
        // category its node's score names, which is the tree's prediction
        int width = (categories != null) ? categories.size() : 1;
        boolean byScore = results.length > width;
        boolean any = false;
        for (int i = 0; i < n; i++) {
            if (deferred[i]) {
                any = true;
                continue;
            }
            int winner = -1;
            if (categories != null) {
                // Guava's Ordering.max, as the evaluator's Classification: the first maximum
                winner = 0;
                for (int k = 0; k < width; k++) {
                    double p = results[k][i];
                    if (Double.isNaN(p)) {
                        winner = -1;
                        break;
                    }
                    if (Double.compare(p, results[winner][i]) > 0) {
                        winner = k;
                    }
                }
                if (byScore && winner >= 0) {
                    double named = results[width][i];
                    winner = Double.isNaN(named) ? -1 : (int) named;
                }
                if (winner < 0) {
                    deferred[i] = true;
                    any = true;
                    continue;
                }
            } else if (Double.isNaN(results[0][i])) {
                deferred[i] = true;
                any = true;
                continue;
            }
            boolean unmapped = false;
            for (int j = 0; j < outputs.length; j++) {
                if (mappedOutputs[j] != null && Double.isNaN(mappedOutputs[j][winner])) {
                    unmapped = true;
                }
            }
            if (unmapped) {
                deferred[i] = true;
                any = true;
                continue;
            }
            Object[] made = null;
            if (expressions != null) {
                Object predicted = (categories != null) ? categories.get(winner) : (Object) results[0][i];
                made = expressions.values(predicted, results, i);
                if (made == null) {
                    deferred[i] = true;
                    any = true;
                    continue;
                }
            }
            for (int j = 0; j < outputs.length; j++) {
                Object value;
                double number;
                if (outputs[j] <= -2) {
                    value = made[-2 - outputs[j]];
                    number = Double.NaN;
                    if (value == null) { // a missing value: the evaluator's to give
                        deferred[i] = true;
                        any = true;
                        break;
                    }
                } else if (mappedOutputs[j] != null) {
                    number = mappedOutputs[j][winner];
                    value = null;
                } else if (outputs[j] >= 0) {
                    number = results[outputs[j]][i];
                    value = null;
                } else if (categories != null) {
                    value = categories.get(winner);
                    number = Double.NaN;
                } else {
                    number = results[0][i];
                    value = null;
                }
                if (value == null && floatOutputs[j]) {
                    number = (double) toFloat(number);
                }
                int row = start + i;
                if (outKinds[j] == 0) {
                    ((double[]) rawOut[j])[row] = (value != null) ? Batch.number(value) : number;
                } else {
                    ((Object[]) rawOut[j])[row] = (value != null) ? value : (Object) number;
                }
            }
        }
        return any ? deferred : null;
    }

    /** How many of the first {@code nrows} rows the plan computes (the others it defers). */
    public int count(InputColumn[] columns, int nrows, int[] outKinds) {
        int[][] maps = categoryMaps(columns);
        Object[] scratch = new Object[outKinds.length];
        for (int j = 0; j < outKinds.length; j++) {
            scratch[j] = (outKinds[j] == 0) ? new double[nrows] : new Object[nrows];
        }
        int computed = 0;
        for (int start = 0; start < nrows; start += 512) {
            int end = Math.min(nrows, start + 512);
            boolean[] deferred = scoreBlock(columns, maps, start, end, outKinds, scratch);
            for (int i = 0; i < end - start; i++) {
                if (deferred == null || !deferred[i]) {
                    computed++;
                }
            }
        }
        return computed;
    }

    /** The evaluator's cast of a double to float: a zero of either sign is positive zero. */
    static float toFloat(double value) {
        float single = (float) value;
        return (single == 0f) ? 0f : single;
    }
}
