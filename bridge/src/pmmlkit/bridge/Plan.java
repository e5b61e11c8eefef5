package pmmlkit.bridge;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import org.dmg.pmml.Apply;
import org.dmg.pmml.Constant;
import org.dmg.pmml.DataDictionary;
import org.dmg.pmml.DataField;
import org.dmg.pmml.DataType;
import org.dmg.pmml.DerivedField;
import org.dmg.pmml.Expression;
import org.dmg.pmml.False;
import org.dmg.pmml.FieldRef;
import org.dmg.pmml.InvalidValueTreatmentMethod;
import org.dmg.pmml.LocalTransformations;
import org.dmg.pmml.MathContext;
import org.dmg.pmml.MiningField;
import org.dmg.pmml.MiningFunction;
import org.dmg.pmml.MiningSchema;
import org.dmg.pmml.NormDiscrete;
import org.dmg.pmml.Model;
import org.dmg.pmml.OpType;
import org.dmg.pmml.OutlierTreatmentMethod;
import org.dmg.pmml.Output;
import org.dmg.pmml.OutputField;
import org.dmg.pmml.PMML;
import org.dmg.pmml.Predicate;
import org.dmg.pmml.ResultFeature;
import org.dmg.pmml.SimplePredicate;
import org.dmg.pmml.Target;
import org.dmg.pmml.Targets;
import org.dmg.pmml.TransformationDictionary;
import org.dmg.pmml.True;
import org.dmg.pmml.Value;
import org.dmg.pmml.mining.MiningModel;
import org.dmg.pmml.mining.Segment;
import org.dmg.pmml.mining.Segmentation;
import org.dmg.pmml.regression.CategoricalPredictor;
import org.dmg.pmml.regression.NumericPredictor;
import org.dmg.pmml.regression.RegressionModel;
import org.dmg.pmml.regression.RegressionTable;
import org.dmg.pmml.tree.Node;
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
 * declares float; {@code Double.compare} in predicates; the first maximum wins), and a plan
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

        Block(InputColumn[] columns, int[][] categoryMaps, int start, int n, int numericSlots,
                int categorySlots) {
            this.columns = columns;
            this.categoryMaps = categoryMaps;
            this.start = start;
            this.n = n;
            this.numbers = new double[numericSlots][n];
            this.codes = new int[categorySlots][n];
            this.deferred = new boolean[n];
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
    /** For a classification: the categories, typed, in result order; else null. */
    private final List<Object> categories;
    private final int numericSlots;
    private final int categorySlots;
    /** Per input column: the categories of a categorical input (null for a numeric one). */
    private final List<Object>[] inputCategories;
    private final InputField[] inputFields;
    private final String summary;

    private Plan(Compiler compiler, ModelStep model, int[] outputs, boolean[] floatOutputs,
            double[][] mappedOutputs,
            List<Object> categories, String summary) {
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
        Compiler compiler = new Compiler(pmml, inputNames, fields);
        Compiler.Scope scope = compiler.scope(null, top);
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
        for (int j = 0; j < keys.length; j++) {
            String key = keys[j];
            OutputField field = declared.get(key);
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
        return new Plan(compiler, model, outputs, floats, mapped, categories, describe(top));
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

    private static String targetName(Model model) {
        MiningSchema schema = model.getMiningSchema();
        for (MiningField field : schema.getMiningFields()) {
            if (field.getUsageType() == MiningField.UsageType.TARGET
                    || field.getUsageType() == MiningField.UsageType.PREDICTED) {
                return field.getName();
            }
        }
        return null;
    }

    private static DataType targetType(PMML pmml, Model model) {
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
            for (int j = 0; j < outputs.length; j++) {
                Object value;
                double number;
                if (mappedOutputs[j] != null) {
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

    /**
     * The evaluator's arithmetic on model values ({@code DoubleValue}, or {@code FloatValue}
     * where a model declares {@code mathContext="float"}: each operand rounded to float and
     * each operation in float). Values are held as doubles; a float one exactly.
     */
    static final class Arith {
        private Arith() {
        }

        static double add(boolean single, double a, double b) {
            return single ? (double) ((float) a + (float) b) : a + b;
        }

        static double mulAdd(boolean single, double sum, double coefficient, double x) {
            return single ? (double) ((float) sum + (float) coefficient * (float) x) : sum + coefficient * x;
        }

        static double mul(boolean single, double a, double b) {
            return single ? (double) ((float) a * (float) b) : a * b;
        }

        static double div(boolean single, double a, double b) {
            return single ? (double) ((float) a / (float) b) : a / b;
        }

        static double exp(boolean single, double x) {
            return single ? (double) org.jpmml.evaluator.FloatValue.exp((float) x) : Math.exp(x);
        }

        static double inverseLogit(boolean single, double x) {
            return single ? (double) (1f / (1f + org.jpmml.evaluator.FloatValue.exp(-(float) x)))
                    : 1d / (1d + Math.exp(-x));
        }

        static double residual(boolean single, double p) {
            return single ? (double) (1f - (float) p) : 1d - p;
        }

        static double restrict(boolean single, double x, double low, double high) {
            if (single) {
                return (double) Math.min(Math.max((float) x, (float) low), (float) high);
            }
            return Math.min(Math.max(x, low), high);
        }

        /** A number as the model's value type holds it. */
        static double of(boolean single, double x) {
            return single ? (double) (float) x : x;
        }
    }

    static boolean single(Model model) {
        return model.getMathContext() == MathContext.FLOAT;
    }

    // -- compiling the document ----------------------------------------------------------

    /** Builds steps from PMML elements; refuses anything outside the supported set. */
    static final class Compiler {
        final PMML pmml;
        final Map<String, DataField> dataFields = new HashMap<>();
        final Map<String, DerivedField> globalDerived = new HashMap<>();
        final Map<String, Integer> inputIndex = new HashMap<>();
        final Map<String, InputField> fields;
        final List<Step> steps = new ArrayList<>();
        final List<Object>[] inputCategories;
        final InputField[] inputFields;
        final Map<String, Sym> inputs = new HashMap<>();
        int numericSlots;
        int categorySlots;

        @SuppressWarnings("unchecked")
        Compiler(PMML pmml, String[] inputNames, Map<String, InputField> fields) throws Unsupported {
            this.pmml = pmml;
            this.fields = fields;
            DataDictionary dictionary = pmml.requireDataDictionary();
            for (DataField field : dictionary.getDataFields()) {
                dataFields.put(field.getName(), field);
            }
            TransformationDictionary transformations = pmml.getTransformationDictionary();
            if (transformations != null) {
                if (transformations.hasDefineFunctions()) {
                    throw new Unsupported("DefineFunction");
                }
                for (DerivedField field : transformations.getDerivedFields()) {
                    globalDerived.put(field.getName(), field);
                }
            }
            for (int i = 0; i < inputNames.length; i++) {
                inputIndex.put(inputNames[i], i);
            }
            this.inputCategories = new List[inputNames.length];
            this.inputFields = new InputField[inputNames.length];
        }

        /** Field names visible in a model: its own derived fields, then its parents'. */
        final class Scope {
            final Scope parent;
            final Map<String, DerivedField> derived = new HashMap<>();
            final Map<String, Sym> computed = new HashMap<>();

            Scope(Scope parent) {
                this.parent = parent;
            }

            Sym resolve(String name) throws Unsupported {
                for (Scope s = this; s != null; s = s.parent) {
                    Sym sym = s.computed.get(name);
                    if (sym != null) {
                        return sym;
                    }
                    DerivedField field = s.derived.get(name);
                    if (field != null) {
                        Sym made = derivedField(field, s);
                        s.computed.put(name, made);
                        return made;
                    }
                }
                DerivedField global = globalDerived.get(name);
                if (global != null) {
                    Sym made = inputs.get("\u0000" + name);
                    if (made == null) {
                        made = derivedField(global, null);
                        inputs.put("\u0000" + name, made);
                    }
                    return made;
                }
                return input(name);
            }
        }

        Scope scope(Scope parent, Model model) throws Unsupported {
            Scope scope = new Scope(parent);
            LocalTransformations local = model.getLocalTransformations();
            if (local != null) {
                for (DerivedField field : local.getDerivedFields()) {
                    scope.derived.put(field.getName(), field);
                }
            }
            checkMiningSchema(model);
            return scope;
        }

        /** Every MiningField with the default treatments: the plan reads inputs as they are. */
        private void checkMiningSchema(Model model) throws Unsupported {
            for (MiningField field : model.requireMiningSchema().getMiningFields()) {
                String what = "MiningField " + field.getName();
                if (field.getOutlierTreatment() != null && field.getOutlierTreatment() != OutlierTreatmentMethod.AS_IS) {
                    throw new Unsupported(what + "@outliers");
                }
                if (field.getMissingValueReplacement() != null) {
                    throw new Unsupported(what + "@missingValueReplacement");
                }
                InvalidValueTreatmentMethod invalid = field.getInvalidValueTreatment();
                if (invalid != null && invalid != InvalidValueTreatmentMethod.RETURN_INVALID) {
                    throw new Unsupported(what + "@invalidValueTreatment=" + invalid.value());
                }
                if (field.getInvalidValueReplacement() != null) {
                    throw new Unsupported(what + "@invalidValueReplacement");
                }
                if (field.getOpType() != null && dataFields.containsKey(field.getName())
                        && field.getOpType() != dataFields.get(field.getName()).getOpType()) {
                    throw new Unsupported(what + "@optype");
                }
            }
        }

        /** A data field read from the chunk's columns. */
        Sym input(String name) throws Unsupported {
            Sym known = inputs.get(name);
            if (known != null) {
                return known;
            }
            DataField field = dataFields.get(name);
            Integer column = inputIndex.get(name);
            InputField inputField = fields.get(name);
            if (field == null || column == null || inputField == null) {
                throw new Unsupported("field " + name + " is not a model input");
            }
            if (field.hasIntervals()) {
                throw new Unsupported("DataField " + name + " with Intervals");
            }
            OpType opType = field.requireOpType();
            DataType dataType = field.requireDataType();
            Sym sym;
            int c = column;
            if (opType == OpType.CONTINUOUS && dataType == DataType.DOUBLE) {
                if (field.hasValues()) {
                    throw new Unsupported("continuous DataField " + name + " with Values");
                }
                int slot = numericSlots++;
                sym = new Sym(true, slot, DataType.DOUBLE, null);
                steps.add(block -> readNumbers(block, c, slot));
            } else if (opType == OpType.CATEGORICAL && dataType == DataType.STRING) {
                List<Object> categories = new ArrayList<>();
                for (Value value : field.getValues()) {
                    if (value.getProperty() != Value.Property.VALID) {
                        throw new Unsupported("DataField " + name + " with invalid or missing Values");
                    }
                    categories.add(TypeUtil.parseOrCast(dataType, value.requireValue()));
                }
                if (categories.isEmpty()) {
                    throw new Unsupported("categorical DataField " + name + " without Values");
                }
                int slot = categorySlots++;
                sym = new Sym(false, slot, dataType, categories);
                inputCategories[c] = categories;
                inputFields[c] = inputField;
                steps.add(block -> readCategories(block, c, slot));
            } else {
                throw new Unsupported("DataField " + name + " (" + opType.value() + " " + dataType.value() + ")");
            }
            inputs.put(name, sym);
            return sym;
        }

        private static void readNumbers(Block block, int column, int slot) {
            InputColumn input = block.columns[column];
            double[] numbers = input.numbers();
            int[] codes = input.codes();
            double[] out = block.numbers[slot];
            boolean[] deferred = block.deferred;
            for (int i = 0, r = block.start; i < block.n; i++, r++) {
                double x = (numbers == null) ? Double.NaN : numbers[r];
                if ((codes != null && codes[r] >= 0) || !Double.isFinite(x)) {
                    deferred[i] = true;
                }
                out[i] = x;
            }
        }

        private static void readCategories(Block block, int column, int slot) {
            InputColumn input = block.columns[column];
            int[] codes = input.codes();
            int[] map = block.categoryMaps[column];
            int[] out = block.codes[slot];
            boolean[] deferred = block.deferred;
            for (int i = 0, r = block.start; i < block.n; i++, r++) {
                int code = (codes == null || map == null) ? -1 : codes[r];
                int category = (code >= 0) ? map[code] : -1;
                if (category < 0) {
                    deferred[i] = true;
                }
                out[i] = category;
            }
        }

        /** A derived field: its expression, cast to its declared type (double or float). */
        Sym derivedField(DerivedField field, Scope scope) throws Unsupported {
            OpType opType = field.requireOpType();
            DataType dataType = field.requireDataType();
            if (field.requireExpression() instanceof org.dmg.pmml.Discretize) {
                return discretize(field, (org.dmg.pmml.Discretize) field.requireExpression(), scope);
            }
            if (opType == OpType.CONTINUOUS && dataType == DataType.INTEGER
                    && field.requireExpression() instanceof FieldRef) {
                // a category read as its number (JPMML-SparkML's continuous(bucket))
                FieldRef ref = (FieldRef) field.requireExpression();
                Sym source = resolve(scope, ref.requireField());
                if (source.numeric || source.dataType != DataType.INTEGER || ref.getMapMissingTo() != null) {
                    throw new Unsupported("DerivedField " + field.getName() + " (continuous integer)");
                }
                double[] numbers = new double[source.categories.size()];
                for (int k = 0; k < numbers.length; k++) {
                    numbers[k] = ((Number) source.categories.get(k)).doubleValue();
                }
                int slot = numericSlots++;
                steps.add(block -> {
                    double[] out = block.numbers[slot];
                    int[] codes = block.codes[source.slot];
                    for (int i = 0; i < block.n; i++) {
                        out[i] = (codes[i] >= 0) ? numbers[codes[i]] : Double.NaN;
                    }
                });
                return new Sym(true, slot, DataType.INTEGER, null);
            }
            if (opType != OpType.CONTINUOUS || (dataType != DataType.DOUBLE && dataType != DataType.FLOAT)) {
                throw new Unsupported("DerivedField " + field.getName() + " (" + opType.value() + " " + dataType.value() + ")");
            }
            Operand value = expression(field.requireExpression(), scope);
            int slot = numericSlots++;
            boolean toFloat = (dataType == DataType.FLOAT) && value.dataType != DataType.FLOAT;
            steps.add(block -> {
                double[] out = block.numbers[slot];
                boolean[] deferred = block.deferred;
                for (int i = 0; i < block.n; i++) {
                    double x = value.at(block, i);
                    if (!Double.isFinite(x)) {
                        deferred[i] = true;
                    }
                    out[i] = toFloat ? (double) toFloat(x) : x;
                }
            });
            return new Sym(true, slot, dataType, null);
        }

        /**
         * A categorical field of bins (DiscretizationUtil): the first bin whose interval holds
         * the value. A value on a margin is deferred (the closures decide there), as is one in
         * no bin (the default value or a missing one).
         */
        Sym discretize(DerivedField field, org.dmg.pmml.Discretize discretize, Scope scope) throws Unsupported {
            DataType dataType = field.requireDataType();
            if (field.requireOpType() != OpType.CATEGORICAL || (dataType != DataType.INTEGER
                    && dataType != DataType.STRING) || discretize.getDefaultValue() != null) {
                throw new Unsupported("DerivedField " + field.getName() + " of a Discretize");
            }
            Sym source = resolve(scope, discretize.requireField());
            if (!source.numeric) {
                throw new Unsupported("Discretize of a categorical field");
            }
            List<org.dmg.pmml.DiscretizeBin> bins = discretize.getDiscretizeBins();
            List<Object> categories = new ArrayList<>();
            int nbins = bins.size();
            double[] lows = new double[nbins];
            double[] highs = new double[nbins];
            int[] codesOf = new int[nbins];
            for (int b = 0; b < nbins; b++) {
                org.dmg.pmml.Interval interval = bins.get(b).requireInterval();
                lows[b] = (interval.getLeftMargin() != null) ? interval.getLeftMargin().doubleValue() : Double.NEGATIVE_INFINITY;
                highs[b] = (interval.getRightMargin() != null) ? interval.getRightMargin().doubleValue() : Double.POSITIVE_INFINITY;
                Object value = TypeUtil.parseOrCast(dataType, bins.get(b).requireBinValue());
                int at = categories.indexOf(value);
                if (at < 0) {
                    at = categories.size();
                    categories.add(value);
                }
                codesOf[b] = at;
            }
            int slot = categorySlots++;
            int from = source.slot;
            steps.add(block -> {
                double[] x = block.numbers[from];
                int[] out = block.codes[slot];
                for (int i = 0; i < block.n; i++) {
                    int code = -1;
                    for (int b = 0; b < nbins; b++) {
                        if (x[i] == lows[b] || x[i] == highs[b]) {
                            code = -1;
                            break;
                        }
                        if (code < 0 && x[i] > lows[b] && x[i] < highs[b]) {
                            code = codesOf[b];
                        }
                    }
                    if (code < 0) {
                        block.deferred[i] = true;
                    }
                    out[i] = code;
                }
            });
            return new Sym(false, slot, dataType, categories);
        }

        /** A numeric operand: a slot or a constant, with the evaluator's data type. */
        static final class Operand {
            final int slot;
            final double constant;
            final DataType dataType;

            Operand(int slot, double constant, DataType dataType) {
                this.slot = slot;
                this.constant = constant;
                this.dataType = dataType;
            }

            double at(Block block, int i) {
                return (slot < 0) ? constant : block.numbers[slot][i];
            }
        }

        Operand expression(Expression expression, Scope scope) throws Unsupported {
            if (expression instanceof FieldRef) {
                FieldRef ref = (FieldRef) expression;
                if (ref.getMapMissingTo() != null) {
                    throw new Unsupported("FieldRef@mapMissingTo");
                }
                Sym sym = resolve(scope, ref.requireField());
                if (!sym.numeric) {
                    throw new Unsupported("FieldRef to the categorical field " + ref.requireField());
                }
                return new Operand(sym.slot, 0, sym.dataType);
            }
            if (expression instanceof Constant) {
                Constant constant = (Constant) expression;
                if (constant.isMissing() || constant.getValue() == null) {
                    throw new Unsupported("a missing Constant");
                }
                DataType dataType = constant.getDataType();
                if (dataType == null) {
                    dataType = TypeUtil.getConstantDataType(constant.getValue());
                }
                if (dataType != DataType.DOUBLE && dataType != DataType.FLOAT) {
                    throw new Unsupported("Constant@dataType=" + dataType.value());
                }
                Number number = (Number) TypeUtil.parseOrCast(dataType, constant.getValue());
                return new Operand(-1, number.doubleValue(), dataType);
            }
            if (expression instanceof NormDiscrete) {
                // 1.0 where the categorical field has the value, else 0.0 (a missing value,
                // which mapMissingTo would replace, is deferred)
                NormDiscrete norm = (NormDiscrete) expression;
                Sym sym = resolve(scope, norm.requireField());
                if (sym.numeric) {
                    throw new Unsupported("NormDiscrete of the continuous field " + norm.requireField());
                }
                int at = indexOf(sym.categories, norm.requireValue(), sym.dataType);
                int slot = numericSlots++;
                steps.add(block -> {
                    double[] out = block.numbers[slot];
                    int[] codes = block.codes[sym.slot];
                    for (int i = 0; i < block.n; i++) {
                        out[i] = (codes[i] == at) ? 1d : 0d;
                    }
                });
                return new Operand(slot, 0, DataType.DOUBLE);
            }
            if (expression instanceof Apply) {
                Apply apply = (Apply) expression;
                if (apply.getMapMissingTo() != null || apply.getDefaultValue() != null
                        || (apply.getInvalidValueTreatment() != null
                            && apply.getInvalidValueTreatment() != InvalidValueTreatmentMethod.RETURN_INVALID)) {
                    throw new Unsupported("Apply with mapMissingTo, defaultValue or invalidValueTreatment");
                }
                List<Expression> arguments = apply.getExpressions();
                String function = apply.requireFunction();
                if (arguments.size() != 2) {
                    throw new Unsupported("Apply function=" + function + " with " + arguments.size() + " arguments");
                }
                Operand left = expression(arguments.get(0), scope);
                Operand right = expression(arguments.get(1), scope);
                int op;
                switch (function) {
                    case "+": op = 0; break;
                    case "-": op = 1; break;
                    case "*": op = 2; break;
                    case "/": op = 3; break;
                    default: throw new Unsupported("Apply function=" + function);
                }
                // the evaluator computes in double and keeps the common type (float op float
                // is cast back to float)
                DataType common = TypeUtil.getCommonDataType(left.dataType, right.dataType);
                if (common != DataType.DOUBLE && common != DataType.FLOAT) {
                    throw new Unsupported("Apply function=" + function + " on " + common.value() + " values");
                }
                boolean single = (common == DataType.FLOAT);
                int slot = numericSlots++;
                steps.add(block -> {
                    double[] out = block.numbers[slot];
                    for (int i = 0; i < block.n; i++) {
                        double a = left.at(block, i);
                        double b = right.at(block, i);
                        double x;
                        switch (op) {
                            case 0: x = a + b; break;
                            case 1: x = a - b; break;
                            case 2: x = a * b; break;
                            default: x = a / b; break;
                        }
                        out[i] = single ? (double) toFloat(x) : x;
                    }
                });
                return new Operand(slot, 0, common);
            }
            throw new Unsupported(expression.getClass().getSimpleName());
        }

        Sym resolve(Scope scope, String name) throws Unsupported {
            if (scope != null) {
                return scope.resolve(name);
            }
            DerivedField global = globalDerived.get(name);
            if (global != null) {
                Sym made = inputs.get("\u0000" + name);
                if (made == null) {
                    made = derivedField(global, null);
                    inputs.put("\u0000" + name, made);
                }
                return made;
            }
            return input(name);
        }

        /** The data type of the target a model predicts: its own target field's, or (a
         * segment without one) the enclosing model's. */
        DataType targetDataType(Model model) {
            return (targetName(model) == null && inheritedTarget != null) ? inheritedTarget
                    : targetType(pmml, model);
        }

        DataType inheritedTarget;

        // -- models --------------------------------------------------------------------

        ModelStep model(Model model, Scope scope, DataType targetType) throws Unsupported {
            if (model instanceof RegressionModel) {
                return regression((RegressionModel) model, scope);
            }
            if (model instanceof TreeModel) {
                return tree((TreeModel) model, scope);
            }
            if (model instanceof MiningModel) {
                return mining((MiningModel) model, scope);
            }
            throw new Unsupported(model.getClass().getSimpleName());
        }

        private Target target(Model model) throws Unsupported {
            Targets targets = model.getTargets();
            if (targets == null || !targets.hasTargets()) {
                return null;
            }
            if (targets.getTargets().size() != 1) {
                throw new Unsupported("Targets with more than one Target");
            }
            Target target = targets.getTargets().get(0);
            if (target.getCastInteger() != null || target.hasTargetValues()) {
                throw new Unsupported("Target@castInteger or TargetValues");
            }
            return target;
        }

        /** The evaluator's Target processing of a regression value ({@code TargetUtil.processValue}). */
        private static ModelStep withTarget(ModelStep inner, Target target, boolean single) {
            if (target == null) {
                return inner;
            }
            double low = (target.getMin() != null) ? target.getMin().doubleValue() : Double.NEGATIVE_INFINITY;
            double high = (target.getMax() != null) ? target.getMax().doubleValue() : Double.POSITIVE_INFINITY;
            boolean restrict = target.getMin() != null || target.getMax() != null;
            double factor = target.getRescaleFactor().doubleValue();
            double constant = target.getRescaleConstant().doubleValue();
            return new ModelStep() {
                public int width() {
                    return 1;
                }

                public void run(Block block, double[][] out) {
                    inner.run(block, out);
                    double[] values = out[0];
                    for (int i = 0; i < block.n; i++) {
                        double x = values[i];
                        if (restrict) {
                            x = Arith.restrict(single, x, low, high);
                        }
                        values[i] = Arith.add(single, Arith.mul(single, x, factor), constant);
                    }
                }
            };
        }

        ModelStep regression(RegressionModel model, Scope scope) throws Unsupported {
            boolean single = single(model);
            List<RegressionTable> tables = model.requireRegressionTables();
            RegressionModel.NormalizationMethod normalization = model.getNormalizationMethod();
            int k = tables.size();
            double[][] numericCoefficients = new double[k][];
            int[][] numericSlotsOf = new int[k][];
            int[][] categorySlotsOf = new int[k][];
            double[][][] categoryCoefficients = new double[k][][];
            double[] intercepts = new double[k];
            for (int t = 0; t < k; t++) {
                RegressionTable table = tables.get(t);
                if (table.hasPredictorTerms()) {
                    throw new Unsupported("PredictorTerm");
                }
                List<NumericPredictor> numeric = table.getNumericPredictors();
                numericCoefficients[t] = new double[numeric.size()];
                numericSlotsOf[t] = new int[numeric.size()];
                for (int p = 0; p < numeric.size(); p++) {
                    NumericPredictor predictor = numeric.get(p);
                    if (predictor.getExponent() != null && predictor.getExponent() != 1) {
                        throw new Unsupported("NumericPredictor@exponent");
                    }
                    Sym sym = scope.resolve(predictor.requireField());
                    if (!sym.numeric) {
                        throw new Unsupported("NumericPredictor on a categorical field");
                    }
                    numericCoefficients[t][p] = predictor.requireCoefficient().doubleValue();
                    numericSlotsOf[t][p] = sym.slot;
                }
                // the evaluator adds the coefficient of the first predictor of a field that
                // matches, and skips the rest of that field's predictors (which follow it)
                List<CategoricalPredictor> categorical = table.getCategoricalPredictors();
                List<String> order = new ArrayList<>();
                Map<String, double[]> byField = new HashMap<>();
                String previous = null;
                for (CategoricalPredictor predictor : categorical) {
                    String name = predictor.requireField();
                    if (!name.equals(previous) && byField.containsKey(name)) {
                        throw new Unsupported("CategoricalPredictors of field " + name + " are not consecutive");
                    }
                    previous = name;
                    Sym sym = scope.resolve(name);
                    if (sym.numeric) {
                        throw new Unsupported("CategoricalPredictor on the continuous field " + name);
                    }
                    double[] coefficients = byField.get(name);
                    if (coefficients == null) {
                        coefficients = new double[sym.categories.size()];
                        java.util.Arrays.fill(coefficients, Double.NaN);
                        byField.put(name, coefficients);
                        order.add(name);
                    }
                    int at = indexOf(sym.categories, predictor.requireValue(), sym.dataType);
                    if (at >= 0 && Double.isNaN(coefficients[at])) {
                        coefficients[at] = predictor.requireCoefficient().doubleValue();
                    }
                }
                categorySlotsOf[t] = new int[order.size()];
                categoryCoefficients[t] = new double[order.size()][];
                for (int f = 0; f < order.size(); f++) {
                    categorySlotsOf[t][f] = scope.resolve(order.get(f)).slot;
                    categoryCoefficients[t][f] = byField.get(order.get(f));
                }
                intercepts[t] = table.requireIntercept().doubleValue();
            }
            MiningFunction function = model.requireMiningFunction();
            if (function == MiningFunction.REGRESSION) {
                if (k != 1) {
                    throw new Unsupported("a regression with " + k + " RegressionTables");
                }
                int normalize;
                switch (normalization) {
                    case NONE: normalize = 0; break;
                    case SOFTMAX:
                    case LOGIT: normalize = 1; break;
                    case EXP: normalize = 2; break;
                    default: throw new Unsupported("RegressionModel@normalizationMethod=" + normalization.value());
                }
                ModelStep sum = tableSums(numericCoefficients, numericSlotsOf, categorySlotsOf,
                        categoryCoefficients, intercepts, single);
                ModelStep normalized = new ModelStep() {
                    public int width() {
                        return 1;
                    }

                    public void run(Block block, double[][] out) {
                        sum.run(block, out);
                        if (normalize == 0) {
                            return;
                        }
                        double[] values = out[0];
                        for (int i = 0; i < block.n; i++) {
                            values[i] = (normalize == 1) ? Arith.inverseLogit(single, values[i])
                                    : Arith.exp(single, values[i]);
                        }
                    }
                };
                return withTarget(normalized, target(model), single);
            }
            if (function != MiningFunction.CLASSIFICATION) {
                throw new Unsupported("RegressionModel@functionName=" + function.value());
            }
            if (target(model) != null) {
                throw new Unsupported("Targets on a classification");
            }
            if (targetDataType(model) == null || k < 2) {
                throw new Unsupported("a classification with " + k + " RegressionTables");
            }
            DataType targetType = targetDataType(model);
            MiningField targetField = null;
            for (MiningField field : model.requireMiningSchema().getMiningFields()) {
                if (field.getUsageType() == MiningField.UsageType.TARGET) {
                    targetField = field;
                }
            }
            DataField targetData = (targetField != null) ? dataFields.get(targetField.getName()) : null;
            if (targetData == null || targetData.requireOpType() != OpType.CATEGORICAL) {
                throw new Unsupported("a classification whose target is not a categorical DataField");
            }
            if (targetData.hasValues()) {
                List<Object> declared = new ArrayList<>();
                for (Value value : targetData.getValues()) {
                    declared.add(TypeUtil.parseOrCast(targetType, value.requireValue()));
                }
                for (RegressionTable table : tables) {
                    if (!declared.contains(TypeUtil.parseOrCast(targetType, table.requireTargetCategory()))) {
                        throw new Unsupported("a RegressionTable for an undeclared category");
                    }
                }
                if (declared.size() != k) {
                    throw new Unsupported("RegressionTables and target Values differ in number");
                }
            }
            ModelStep sums = tableSums(numericCoefficients, numericSlotsOf, categorySlotsOf,
                    categoryCoefficients, intercepts, single);
            int mode;
            if (k == 2 && (normalization == RegressionModel.NormalizationMethod.LOGIT
                    || (normalization == RegressionModel.NormalizationMethod.SOFTMAX && isDefault(tables.get(1))))) {
                mode = 0; // binomial logit: the first table's inverse logit, the second 1 - it
            } else if (k == 2 && normalization == RegressionModel.NormalizationMethod.NONE) {
                mode = 1; // binomial, restricted to [0, 1]
            } else if (normalization == RegressionModel.NormalizationMethod.SOFTMAX) {
                mode = 2;
            } else {
                throw new Unsupported("RegressionModel classification with normalizationMethod="
                        + normalization.value() + " and " + k + " tables");
            }
            List<Object> tableCategories = new ArrayList<>();
            for (RegressionTable table : tables) {
                tableCategories.add(TypeUtil.parseOrCast(targetType, table.requireTargetCategory()));
            }
            return new ModelStep() {
                public int width() {
                    return k;
                }

                public List<Object> categories() {
                    return tableCategories;
                }

                public void run(Block block, double[][] out) {
                    sums.run(block, out);
                    if (mode == 0 || mode == 1) {
                        double[] first = out[0];
                        double[] second = out[1];
                        for (int i = 0; i < block.n; i++) {
                            double p = (mode == 0) ? Arith.inverseLogit(single, first[i])
                                    : Arith.restrict(single, first[i], 0d, 1d);
                            first[i] = p;
                            second[i] = Arith.residual(single, p);
                        }
                        return;
                    }
                    softMax(out, block.n, single);
                }
            };
        }

        private static boolean isDefault(RegressionTable table) {
            return !table.hasNumericPredictors() && !table.hasCategoricalPredictors()
                    && !table.hasPredictorTerms() && table.requireIntercept().doubleValue() == 0d;
        }

        /** ValueUtil.normalizeSoftMax: exp(x - max) / the sum of them, in category order. */
        static void softMax(double[][] out, int n, boolean single) {
            int k = out.length;
            for (int i = 0; i < n; i++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int c = 0; c < k; c++) {
                    max = Math.max(max, out[c][i]);
                }
                double sum = 0d;
                for (int c = 0; c < k; c++) {
                    double e = Arith.exp(single, Arith.add(single, out[c][i], -max));
                    out[c][i] = e;
                    sum = (c == 0) ? e : Arith.add(single, sum, e);
                }
                if (sum != 1d) {
                    for (int c = 0; c < k; c++) {
                        out[c][i] = Arith.div(single, out[c][i], sum);
                    }
                }
            }
        }

        /** Each table's sum: 0, then coefficient x value in element order, then the matching
         * categorical coefficients, then the intercept when it is not zero. */
        private static ModelStep tableSums(double[][] coefficients, int[][] slots, int[][] categorySlots,
                double[][][] categoryCoefficients, double[] intercepts, boolean single) {
            int k = coefficients.length;
            return new ModelStep() {
                public int width() {
                    return k;
                }

                public void run(Block block, double[][] out) {
                    for (int t = 0; t < k; t++) {
                        double[] sum = out[t];
                        java.util.Arrays.fill(sum, 0, block.n, 0d);
                        double[] c = coefficients[t];
                        int[] s = slots[t];
                        for (int p = 0; p < c.length; p++) {
                            double coefficient = c[p];
                            double[] x = block.numbers[s[p]];
                            if (single) {
                                for (int i = 0; i < block.n; i++) {
                                    sum[i] = Arith.mulAdd(true, sum[i], coefficient, x[i]);
                                }
                            } else {
                                for (int i = 0; i < block.n; i++) {
                                    sum[i] += coefficient * x[i];
                                }
                            }
                        }
                        for (int f = 0; f < categorySlots[t].length; f++) {
                            int[] codes = block.codes[categorySlots[t][f]];
                            double[] values = categoryCoefficients[t][f];
                            for (int i = 0; i < block.n; i++) {
                                int code = codes[i];
                                if (code >= 0 && !Double.isNaN(values[code])) {
                                    sum[i] = Arith.add(single, sum[i], values[code]);
                                }
                            }
                        }
                        double intercept = intercepts[t];
                        if (intercept != 0d) {
                            for (int i = 0; i < block.n; i++) {
                                sum[i] = Arith.add(single, sum[i], intercept);
                            }
                        }
                    }
                }
            };
        }

        /** A tree as flat arrays, walked per row: a regression tree's node score, or a
         * classification tree's node distribution (in its ScoreDistribution order). */
        ModelStep tree(TreeModel model, Scope scope) throws Unsupported {
            boolean single = single(model);
            MiningFunction function = model.requireMiningFunction();
            boolean classification = function == MiningFunction.CLASSIFICATION;
            if (!classification && function != MiningFunction.REGRESSION) {
                throw new Unsupported("TreeModel@functionName=" + function.value());
            }
            TreeModel.NoTrueChildStrategy noTrueChild = model.getNoTrueChildStrategy();
            boolean lastPrediction = noTrueChild == TreeModel.NoTrueChildStrategy.RETURN_LAST_PREDICTION;
            if (!lastPrediction && noTrueChild != TreeModel.NoTrueChildStrategy.RETURN_NULL_PREDICTION) {
                throw new Unsupported("TreeModel@noTrueChildStrategy=" + noTrueChild.value());
            }
            // (missingValueStrategy and defaultChild apply only where a predicate meets a
            // missing value: such rows are deferred)
            Target target = target(model);
            if (classification && target != null) {
                throw new Unsupported("Targets on a classification tree");
            }
            Flat flat = new Flat(classification ? targetDataType(model) : null, single);
            flat.add(model.requireNode(), scope);
            int[] first = flat.toInts(flat.firstChild);
            int[] count = flat.toInts(flat.childCount);
            int[] kind = flat.toInts(flat.kind);
            int[] slot = flat.toInts(flat.slot);
            double[] threshold = flat.toDoubles(flat.threshold);
            double[] score = flat.toDoubles(flat.score);
            boolean[] scored = new boolean[score.length];
            for (int i = 0; i < scored.length; i++) {
                scored[i] = !Double.isNaN(score[i]);
            }
            if (kind[0] != Flat.TRUE) {
                throw new Unsupported("a TreeModel whose root predicate is not True");
            }
            double[][] distributions = classification ? flat.distributions() : null;
            int k = classification ? flat.categories.size() : 0;
            // a classification tree predicts its node's score (NodeScoreDistribution), a
            // category index here; a node without one fails in the evaluator: deferred
            double[] named = new double[score.length];
            if (classification) {
                for (int i = 0; i < named.length; i++) {
                    Object value = flat.scores.get(i);
                    named[i] = (value == null) ? Double.NaN : indexOf(flat.categories, value, flat.targetType);
                    if (named[i] < 0) {
                        throw new Unsupported("a Node whose score is not one of its categories");
                    }
                }
            }
            int width = classification ? k + 1 : 1;
            List<Object> treeCategories = classification ? flat.categories : null;
            // two children, the second True: the first's test alone chooses; held by the
            // node itself, so a step down reads one node's entries
            int[] testKind = new int[count.length];
            int[] testSlot = new int[count.length];
            double[] testThreshold = new double[count.length];
            for (int i = 0; i < testKind.length; i++) {
                boolean binary = count[i] == 2 && kind[first[i] + 1] == Flat.TRUE;
                testKind[i] = binary ? kind[first[i]] : -1;
                testSlot[i] = binary ? slot[first[i]] : 0;
                testThreshold[i] = binary ? threshold[first[i]] : 0d;
            }
            ModelStep walk = new ModelStep() {
                public int width() {
                    return width;
                }

                public List<Object> categories() {
                    return treeCategories;
                }

                public void run(Block block, double[][] out) {
                    double[][] numbers = block.numbers;
                    int[][] codes = block.codes;
                    int[] leaves = new int[block.n];
                    for (int i = 0; i < block.n; i++) {
                        int node = 0;
                        while (true) {
                            int test = testKind[node];
                            if (test >= 0) { // a test, else the True child after it
                                node = holds(test, testSlot[node], testThreshold[node], numbers, codes, i)
                                        ? first[node] : first[node] + 1;
                                continue;
                            }
                            int chosen = -1;
                            for (int c = first[node], end = first[node] + count[node]; c < end; c++) {
                                if (holds(kind[c], slot[c], threshold[c], numbers, codes, i)) {
                                    chosen = c;
                                    break;
                                }
                            }
                            if (chosen < 0) {
                                // a leaf is the result; an inner node with no true child is
                                // (lastPrediction, when it has a score) or there is none
                                if (count[node] > 0 && !(lastPrediction && scored[node])) {
                                    node = -1;
                                }
                                break;
                            }
                            node = chosen;
                        }
                        leaves[i] = node;
                    }
                    for (int i = 0; i < block.n; i++) {
                        int node = leaves[i];
                        if (!classification) {
                            out[0][i] = (node < 0) ? Double.NaN : score[node];
                            continue;
                        }
                        double[] distribution = (node < 0) ? null : distributions[node];
                        for (int c = 0; c < k; c++) {
                            out[c][i] = (distribution == null) ? Double.NaN : distribution[c];
                        }
                        out[k][i] = (node < 0) ? Double.NaN : named[node];
                    }
                }
            };
            return classification ? walk : withTarget(walk, target, single);
        }

        static boolean holds(int kind, int slot, double threshold, double[][] numbers, int[][] codes, int i) {
            switch (kind) {
                case Flat.TRUE: return true;
                case Flat.FALSE: return false;
                // Double.compare's order (the evaluator's): it differs from < and == only
                // between a zero and the other zero (values are never NaN here)
                case Flat.LESS_THAN: {
                    double x = numbers[slot][i];
                    return x < threshold || (x == threshold && Double.compare(x, threshold) < 0);
                }
                case Flat.LESS_OR_EQUAL: {
                    double x = numbers[slot][i];
                    return x < threshold || (x == threshold && Double.compare(x, threshold) <= 0);
                }
                case Flat.GREATER_THAN: {
                    double x = numbers[slot][i];
                    return x > threshold || (x == threshold && Double.compare(x, threshold) > 0);
                }
                case Flat.GREATER_OR_EQUAL: {
                    double x = numbers[slot][i];
                    return x > threshold || (x == threshold && Double.compare(x, threshold) >= 0);
                }
                case Flat.EQUAL: {
                    double x = numbers[slot][i];
                    return x == threshold && Double.compare(x, threshold) == 0;
                }
                case Flat.NOT_EQUAL: {
                    double x = numbers[slot][i];
                    return x != threshold || Double.compare(x, threshold) != 0;
                }
                case Flat.IS: return codes[slot][i] == (int) threshold;
                case Flat.IS_NOT: return codes[slot][i] != (int) threshold;
                case Flat.IN: return ((Double.doubleToRawLongBits(threshold) >>> codes[slot][i]) & 1L) != 0;
                case Flat.NOT_IN: return ((Double.doubleToRawLongBits(threshold) >>> codes[slot][i]) & 1L) == 0;
                default: throw new IllegalStateException();
            }
        }

        /** A tree's nodes in breadth order: each node's children are consecutive. */
        final class Flat {
            static final int TRUE = 0, FALSE = 1, LESS_THAN = 2, LESS_OR_EQUAL = 3, GREATER_THAN = 4,
                    GREATER_OR_EQUAL = 5, EQUAL = 6, NOT_EQUAL = 7, IS = 8, IS_NOT = 9, IN = 10, NOT_IN = 11;
            final List<Integer> firstChild = new ArrayList<>();
            final List<Integer> childCount = new ArrayList<>();
            final List<Integer> kind = new ArrayList<>();
            final List<Integer> slot = new ArrayList<>();
            final List<Double> threshold = new ArrayList<>();
            final List<Double> score = new ArrayList<>();
            /** A classification tree's categories, typed, in its ScoreDistribution order. */
            final DataType targetType;
            final List<Object> categories = new ArrayList<>();
            final List<double[]> distribution = new ArrayList<>();
            /** A classification tree's node scores, typed (null: none). */
            final List<Object> scores = new ArrayList<>();

            final boolean single;

            Flat(DataType targetType, boolean single) {
                this.targetType = targetType;
                this.single = single;
            }

            double[][] distributions() {
                return distribution.toArray(new double[0][]);
            }

            /** ComplexTreeModelEvaluator's node distribution: probabilities, else record
             * counts, each divided by their sum (from 0, in order) unless it is one. */
            private double[] distributionOf(Node node) throws Unsupported {
                if (targetType == null) {
                    if (node.hasScoreDistributions()) {
                        throw new Unsupported("ScoreDistributions in a regression tree");
                    }
                    return null;
                }
                if (!node.hasScoreDistributions()) {
                    return null; // the evaluator votes by score there: deferred
                }
                List<org.dmg.pmml.ScoreDistribution> items = node.getScoreDistributions();
                boolean probabilities = items.get(0).getProbability() != null;
                List<Object> found = new ArrayList<>();
                double[] values = new double[items.size()];
                double sum = 0d;
                for (int k = 0; k < items.size(); k++) {
                    org.dmg.pmml.ScoreDistribution item = items.get(k);
                    found.add(TypeUtil.parseOrCast(targetType, item.requireValue()));
                    Number number = probabilities ? item.requireProbability() : item.requireRecordCount();
                    if (probabilities && (number.doubleValue() < 0d || number.doubleValue() > 1d)) {
                        throw new Unsupported("a ScoreDistribution probability outside [0, 1]");
                    }
                    values[k] = Arith.of(single, number.doubleValue());
                    sum = Arith.add(single, sum, number.doubleValue());
                }
                // every node lists the same categories in the same order: the order of the
                // evaluator's distribution, whose first maximum wins
                if (categories.isEmpty()) {
                    if (new java.util.HashSet<>(found).size() != found.size()) {
                        throw new Unsupported("a ScoreDistribution listing a category twice");
                    }
                    categories.addAll(found);
                } else if (!categories.equals(found)) {
                    throw new Unsupported("ScoreDistributions in different category orders");
                }
                if (sum != 1d) {
                    if (sum == 0d) {
                        return null; // the evaluator's "undefined result": deferred
                    }
                    for (int k = 0; k < values.length; k++) {
                        values[k] = Arith.div(single, values[k], sum);
                    }
                }
                return values;
            }

            void add(Node root, Scope scope) throws Unsupported {
                List<Node> queue = new ArrayList<>();
                queue.add(root);
                for (int at = 0; at < queue.size(); at++) {
                    Node node = queue.get(at);
                    predicate(node.requirePredicate(), scope);
                    if (node.getEmbeddedModel() != null || node.getPartition() != null) {
                        throw new Unsupported("a Node with an embedded model or a Partition");
                    }
                    Object value = node.getScore();
                    if (targetType == null) {
                        score.add((value == null) ? Double.NaN
                                : Arith.of(single, ((Number) TypeUtil.parseOrCast(DataType.DOUBLE, value)).doubleValue()));
                    } else {
                        score.add((value == null) ? Double.NaN : 0d); // only whether it has one
                        scores.add((value == null) ? null : TypeUtil.parseOrCast(targetType, value));
                    }
                    distribution.add(distributionOf(node));
                    List<Node> children = node.hasNodes() ? node.getNodes() : java.util.Collections.emptyList();
                    firstChild.add(queue.size());
                    childCount.add(children.size());
                    queue.addAll(children);
                }
            }

            private void predicate(Predicate predicate, Scope scope) throws Unsupported {
                if (predicate instanceof True) {
                    kind.add(TRUE);
                    slot.add(0);
                    threshold.add(0d);
                    return;
                }
                if (predicate instanceof False) {
                    kind.add(FALSE);
                    slot.add(0);
                    threshold.add(0d);
                    return;
                }
                if (predicate instanceof org.dmg.pmml.SimpleSetPredicate) {
                    setPredicate((org.dmg.pmml.SimpleSetPredicate) predicate, scope);
                    return;
                }
                if (!(predicate instanceof SimplePredicate)) {
                    throw new Unsupported(predicate.getClass().getSimpleName());
                }
                SimplePredicate simple = (SimplePredicate) predicate;
                Sym sym = scope.resolve(simple.requireField());
                SimplePredicate.Operator operator = simple.requireOperator();
                if (sym.numeric) {
                    int k;
                    switch (operator) {
                        case LESS_THAN: k = LESS_THAN; break;
                        case LESS_OR_EQUAL: k = LESS_OR_EQUAL; break;
                        case GREATER_THAN: k = GREATER_THAN; break;
                        case GREATER_OR_EQUAL: k = GREATER_OR_EQUAL; break;
                        case EQUAL: k = EQUAL; break;
                        case NOT_EQUAL: k = NOT_EQUAL; break;
                        default: throw new Unsupported("SimplePredicate@operator=" + operator.value());
                    }
                    Number value = (Number) TypeUtil.parseOrCast(sym.dataType, simple.requireValue());
                    kind.add(k);
                    slot.add(sym.slot);
                    threshold.add(value.doubleValue());
                    return;
                }
                if (operator != SimplePredicate.Operator.EQUAL && operator != SimplePredicate.Operator.NOT_EQUAL) {
                    throw new Unsupported("SimplePredicate@operator=" + operator.value() + " on a categorical field");
                }
                int at = indexOf(sym.categories, simple.requireValue(), sym.dataType);
                kind.add(operator == SimplePredicate.Operator.EQUAL ? IS : IS_NOT);
                slot.add(sym.slot);
                threshold.add((double) at); // -1: a category no row has, never equal
            }

            /** isIn / isNotIn on a categorical field: a bit set of its categories. */
            private void setPredicate(org.dmg.pmml.SimpleSetPredicate predicate, Scope scope) throws Unsupported {
                Sym sym = scope.resolve(predicate.requireField());
                if (sym.numeric) {
                    throw new Unsupported("SimpleSetPredicate on the continuous field " + predicate.requireField());
                }
                // the set travels as a double's bits: 52 categories keep it from being a NaN
                if (sym.categories.size() > 52) {
                    throw new Unsupported("SimpleSetPredicate on a field of more than 52 categories");
                }
                long members = 0L;
                for (Object value : org.jpmml.evaluator.ArrayUtil.getContent(predicate.requireArray())) {
                    int at = indexOf(sym.categories, value, sym.dataType);
                    if (at >= 0) {
                        members |= 1L << at;
                    }
                }
                boolean in = predicate.requireBooleanOperator() == org.dmg.pmml.SimpleSetPredicate.BooleanOperator.IS_IN;
                kind.add(in ? IN : NOT_IN);
                slot.add(sym.slot);
                threshold.add(Double.longBitsToDouble(members));
            }

            int[] toInts(List<Integer> values) {
                int[] out = new int[values.size()];
                for (int i = 0; i < out.length; i++) {
                    out[i] = values.get(i);
                }
                return out;
            }

            double[] toDoubles(List<Double> values) {
                double[] out = new double[values.size()];
                for (int i = 0; i < out.length; i++) {
                    out[i] = values.get(i);
                }
                return out;
            }
        }

        /** sum / average of regression segments, or a model chain ending in a classification. */
        ModelStep mining(MiningModel model, Scope scope) throws Unsupported {
            boolean single = single(model);
            Segmentation segmentation = model.requireSegmentation();
            // every missingPredictionTreatment is the same where no segment's prediction is
            // missing; a row where one is (NaN) is deferred to the evaluator
            if (segmentation.getLocalTransformations() != null) {
                throw new Unsupported("Segmentation with LocalTransformations");
            }
            List<Segment> segments = segmentation.requireSegments();
            for (Segment segment : segments) {
                if (!(segment.requirePredicate() instanceof True)) {
                    throw new Unsupported("a Segment whose predicate is not True");
                }
            }
            Segmentation.MultipleModelMethod method = segmentation.requireMultipleModelMethod();
            if (method == Segmentation.MultipleModelMethod.MODEL_CHAIN) {
                return chain(model, segments, scope);
            }
            if (model.requireMiningFunction() == MiningFunction.CLASSIFICATION) {
                if (method != Segmentation.MultipleModelMethod.AVERAGE) {
                    throw new Unsupported("MiningModel classification by " + method.value());
                }
                return averageDistribution(model, segments, scope);
            }
            if (model.requireMiningFunction() != MiningFunction.REGRESSION) {
                throw new Unsupported("MiningModel@functionName=" + model.requireMiningFunction().value());
            }
            // ValueAggregator: a weighted sum adds weight x value (the value alone where the
            // weight is 1); a weighted average divides that by the weights' sum
            boolean average;
            boolean weighted;
            switch (method) {
                case SUM: average = false; weighted = false; break;
                case AVERAGE: average = true; weighted = false; break;
                case WEIGHTED_SUM: average = false; weighted = true; break;
                case WEIGHTED_AVERAGE: average = true; weighted = true; break;
                default: throw new Unsupported("Segmentation@multipleModelMethod=" + method.value());
            }
            double[] weights = new double[segments.size()];
            double weightSum = 0d;
            for (int s = 0; s < weights.length; s++) {
                weights[s] = segments.get(s).getWeight().doubleValue();
                if (!weighted && weights[s] != 1d) {
                    throw new Unsupported("a weighted Segment in an unweighted " + method.value());
                }
                if (weights[s] < 0d) {
                    throw new Unsupported("a negative Segment weight");
                }
                weightSum = Arith.add(single(model), weightSum, weights[s]);
            }
            double divisor = weighted ? weightSum : segments.size();
            if (average && divisor == 0d) {
                throw new Unsupported("segment weights summing to zero");
            }
            ModelStep[] parts = new ModelStep[segments.size()];
            for (int s = 0; s < parts.length; s++) {
                Model inner = segments.get(s).requireModel();
                if (inner.requireMiningFunction() != MiningFunction.REGRESSION || inner.getOutput() != null
                        && inner.getOutput().hasOutputFields()) {
                    throw new Unsupported("a segment that is not a plain regression");
                }
                parts[s] = model(inner, scope(scope, inner), DataType.DOUBLE);
            }
            int size = parts.length;
            ModelStep aggregate = new ModelStep() {
                public int width() {
                    return 1;
                }

                public void run(Block block, double[][] out) {
                    double[] total = out[0];
                    java.util.Arrays.fill(total, 0, block.n, 0d);
                    double[][] part = new double[1][block.n];
                    for (int s = 0; s < parts.length; s++) {
                        parts[s].run(block, part);
                        double[] values = part[0];
                        double weight = weights[s];
                        if (weight != 1d) {
                            for (int i = 0; i < block.n; i++) {
                                // NaN (no prediction) stays NaN: deferred
                                total[i] = Arith.mulAdd(single, total[i], weight, values[i]);
                            }
                        } else {
                            for (int i = 0; i < block.n; i++) {
                                total[i] = Arith.add(single, total[i], values[i]);
                            }
                        }
                    }
                    if (average) {
                        for (int i = 0; i < block.n; i++) {
                            total[i] = Arith.div(single, total[i], divisor);
                        }
                    }
                }
            };
            return withTarget(aggregate, target(model), single);
        }

        /** The average of the segments' probability distributions (ProbabilityAggregator:
         * each category's sum from 0 in segment order, divided by the segment count). */
        ModelStep averageDistribution(MiningModel model, List<Segment> segments, Scope scope) throws Unsupported {
            boolean single = single(model);
            if (target(model) != null) {
                throw new Unsupported("Targets on a classification");
            }
            for (Segment segment : segments) {
                if (segment.getWeight().doubleValue() != 1d) {
                    throw new Unsupported("a weighted Segment in an average of distributions");
                }
            }
            ModelStep[] parts = new ModelStep[segments.size()];
            List<Object> categories = null;
            DataType saved = inheritedTarget;
            inheritedTarget = targetDataType(model);
            for (int s = 0; s < parts.length; s++) {
                Model inner = segments.get(s).requireModel();
                if (inner.requireMiningFunction() != MiningFunction.CLASSIFICATION
                        || (inner.getOutput() != null && inner.getOutput().hasOutputFields())) {
                    throw new Unsupported("a segment that is not a plain classification");
                }
                parts[s] = model(inner, scope(scope, inner), targetDataType(inner));
                if (parts[s].categories() == null) {
                    throw new Unsupported("a segment without a probability distribution");
                }
                if (categories == null) {
                    categories = parts[s].categories();
                } else if (!categories.equals(parts[s].categories())) {
                    throw new Unsupported("segments with different category orders");
                }
            }
            inheritedTarget = saved;
            int k = categories.size();
            int size = parts.length;
            List<Object> averaged = categories;
            int[] widths = new int[parts.length];
            for (int s = 0; s < parts.length; s++) {
                widths[s] = parts[s].width();
            }
            return new ModelStep() {
                public int width() {
                    return k;
                }

                public List<Object> categories() {
                    return averaged;
                }

                public void run(Block block, double[][] out) {
                    for (int c = 0; c < k; c++) {
                        java.util.Arrays.fill(out[c], 0, block.n, 0d);
                    }
                    double[][] part = new double[k + 1][block.n];
                    for (int s = 0; s < parts.length; s++) {
                        parts[s].run(block, part);
                        for (int c = 0; c < k; c++) {
                            double[] total = out[c];
                            double[] values = part[c];
                            for (int i = 0; i < block.n; i++) {
                                // NaN (no distribution): deferred
                                total[i] = Arith.add(single, total[i], values[i]);
                            }
                        }
                        if (widths[s] > k) { // a tree without a prediction fails the row
                            double[] named = part[k];
                            for (int i = 0; i < block.n; i++) {
                                if (Double.isNaN(named[i])) {
                                    out[0][i] = Double.NaN;
                                }
                            }
                        }
                    }
                    for (int c = 0; c < k; c++) {
                        for (int i = 0; i < block.n; i++) {
                            out[c][i] = Arith.div(single, out[c][i], size);
                        }
                    }
                }
            };
        }

        /** A model chain: each segment but the last feeds its predicted value, through an
         * OutputField, to the next. */
        ModelStep chain(MiningModel model, List<Segment> segments, Scope scope) throws Unsupported {
            if (target(model) != null) {
                throw new Unsupported("Targets on a model chain");
            }
            Scope chainScope = new Scope(scope);
            List<ModelStep> feeders = new ArrayList<>();
            List<Integer> feederSlots = new ArrayList<>();
            List<Boolean> feederFloat = new ArrayList<>();
            List<Boolean> feederSingle = new ArrayList<>();
            for (int s = 0; s < segments.size() - 1; s++) {
                Model inner = segments.get(s).requireModel();
                if (inner.requireMiningFunction() != MiningFunction.REGRESSION) {
                    throw new Unsupported("a model chain with a classification before its last segment");
                }
                Output output = inner.getOutput();
                if (output == null || output.getOutputFields().size() != 1) {
                    throw new Unsupported("a chained segment without exactly one OutputField");
                }
                OutputField field = output.getOutputFields().get(0);
                if (field.getResultFeature() != ResultFeature.PREDICTED_VALUE || field.getExpression() != null) {
                    throw new Unsupported("a chained OutputField other than the predicted value");
                }
                DataType type = field.getDataType();
                if (type != null && type != DataType.DOUBLE && type != DataType.FLOAT) {
                    throw new Unsupported("a chained OutputField@dataType=" + type.value());
                }
                feeders.add(model(inner, scope(chainScope, inner), DataType.DOUBLE));
                feederSingle.add(single(inner));
                int slot = numericSlots++;
                feederSlots.add(slot);
                feederFloat.add(type == DataType.FLOAT);
                chainScope.computed.put(field.getName(), new Sym(true, slot,
                        (type == DataType.FLOAT) ? DataType.FLOAT : DataType.DOUBLE, null));
            }
            Model last = segments.get(segments.size() - 1).requireModel();
            if (last.getOutput() != null && last.getOutput().hasOutputFields()) {
                for (OutputField field : last.getOutput().getOutputFields()) {
                    if (field.getResultFeature() != ResultFeature.PROBABILITY) {
                        throw new Unsupported("an OutputField of the chain's last segment other than a probability");
                    }
                }
            }
            // the feeders' steps run in the block before the last model reads their slots
            int n = feeders.size();
            ModelStep[] feeding = feeders.toArray(new ModelStep[0]);
            int[] slots = new int[n];
            boolean[] floats = new boolean[n];
            boolean[] singles = new boolean[n];
            for (int f = 0; f < n; f++) {
                slots[f] = feederSlots.get(f);
                floats[f] = feederFloat.get(f);
                singles[f] = feederSingle.get(f);
            }
            steps.add(block -> {
                double[][] out = new double[1][block.n];
                for (int f = 0; f < n; f++) {
                    feeding[f].run(block, out);
                    double[] target = block.numbers[slots[f]];
                    for (int i = 0; i < block.n; i++) {
                        double x = out[0][i];
                        if (Double.isNaN(x)) {
                            block.deferred[i] = true;
                        }
                        // a Double cast to float loses its zero's sign; a Float stays as it is
                        target[i] = !floats[f] ? x : singles[f] ? (double) (float) x : (double) toFloat(x);
                    }
                }
            });
            return model(last, scope(chainScope, last), targetDataType(last));
        }
    }
}
