package pmmlkit.bridge;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.dmg.pmml.Apply;
import org.dmg.pmml.Constant;
import org.dmg.pmml.DataDictionary;
import org.dmg.pmml.DataField;
import org.dmg.pmml.DataType;
import org.dmg.pmml.DerivedField;
import org.dmg.pmml.Expression;
import org.dmg.pmml.FieldColumnPair;
import org.dmg.pmml.FieldRef;
import org.dmg.pmml.InlineTable;
import org.dmg.pmml.InvalidValueTreatmentMethod;
import org.dmg.pmml.LocalTransformations;
import org.dmg.pmml.MapValues;
import org.dmg.pmml.MiningField;
import org.dmg.pmml.NormContinuous;
import org.dmg.pmml.NormDiscrete;
import org.dmg.pmml.Model;
import org.dmg.pmml.OpType;
import org.dmg.pmml.OutlierTreatmentMethod;
import org.dmg.pmml.PMML;
import org.dmg.pmml.Target;
import org.dmg.pmml.Targets;
import org.dmg.pmml.TransformationDictionary;
import org.dmg.pmml.Value;
import org.dmg.pmml.mining.MiningModel;
import org.dmg.pmml.regression.RegressionModel;
import org.dmg.pmml.tree.TreeModel;
import org.jpmml.evaluator.InlineTableUtil;
import org.jpmml.evaluator.InputField;
import org.jpmml.evaluator.TypeUtil;

import pmmlkit.bridge.Plan.Block;
import pmmlkit.bridge.Plan.ModelStep;
import pmmlkit.bridge.Plan.Step;
import pmmlkit.bridge.Plan.Sym;
import pmmlkit.bridge.Plan.Unsupported;

import static pmmlkit.bridge.Plan.indexOf;
import static pmmlkit.bridge.Plan.targetName;
import static pmmlkit.bridge.Plan.targetType;
import static pmmlkit.bridge.Plan.toFloat;

/** Builds steps from PMML elements; refuses anything outside the supported set. */
final class PlanCompiler {
    final PMML pmml;
    final Map<String, DataField> dataFields = new HashMap<>();
    final Map<String, DerivedField> globalDerived = new HashMap<>();
    final Map<String, Integer> inputIndex = new HashMap<>();
    final Map<String, InputField> fields;
    final List<Step> steps = new ArrayList<>();
    /** Trees planned, and those of them walked level by level (PlanTrees.Compact). */
    int trees;
    int levelTrees;
    /** What the level-by-level trees test, per block (PlanTrees.Table). */
    final PlanTrees.Table treeTable = new PlanTrees.Table();
    final List<Object>[] inputCategories;
    final InputField[] inputFields;
    final Map<String, Sym> inputs = new HashMap<>();
    int numericSlots;
    int categorySlots;

    @SuppressWarnings("unchecked")
    PlanCompiler(PMML pmml, String[] inputNames, Map<String, InputField> fields) throws Unsupported {
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
            return global(name);
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
        checkMiningSchema(model, parent == null);
        return scope;
    }

    /** The top model's MiningFields: they prepare every input (InputFieldUtil). */
    final Map<String, MiningField> topFields = new HashMap<>();

    /**
     * The top model prepares each input from its MiningField: a missing value becomes the
     * missingValueReplacement, or an error under missingValueTreatment=returnInvalid (both
     * read in {@link #input}); an invalid value is treated as its MiningField says, which
     * the plan never needs to know, because it defers every invalid value to the evaluator.
     * A segment's MiningField prepares its input again only where it is not the default
     * (InputFieldUtil.isDefault), which the plan does not support.
     */
    private void checkMiningSchema(Model model, boolean top) throws Unsupported {
        for (MiningField field : model.requireMiningSchema().getMiningFields()) {
            String what = "MiningField " + field.getName();
            if (top) {
                topFields.put(field.getName(), field);
            }
            if (field.getOutlierTreatment() != null && field.getOutlierTreatment() != OutlierTreatmentMethod.AS_IS) {
                throw new Unsupported(what + "@outliers");
            }
            if (field.getMissingValueReplacement() != null && !top) {
                throw new Unsupported(what + "@missingValueReplacement in a segment");
            }
            InvalidValueTreatmentMethod invalid = field.getInvalidValueTreatment();
            if (invalid != null && invalid != InvalidValueTreatmentMethod.RETURN_INVALID
                    && invalid != InvalidValueTreatmentMethod.AS_IS && !top) {
                throw new Unsupported(what + "@invalidValueTreatment=" + invalid.value() + " in a segment");
            }
            if (field.getInvalidValueReplacement() != null && !top) {
                throw new Unsupported(what + "@invalidValueReplacement in a segment");
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
        // a continuous field's Intervals: a value strictly inside one is valid; any other
        // (outside, or on a margin, where the closure decides) is the evaluator's to judge
        double[][] intervals = null;
        if (field.hasIntervals()) {
            if (field.requireOpType() != OpType.CONTINUOUS) {
                throw new Unsupported("DataField " + name + " with Intervals");
            }
            List<org.dmg.pmml.Interval> list = field.getIntervals();
            intervals = new double[2][list.size()];
            for (int k = 0; k < list.size(); k++) {
                org.dmg.pmml.Interval interval = list.get(k);
                intervals[0][k] = (interval.getLeftMargin() != null) ? interval.getLeftMargin().doubleValue() : Double.NEGATIVE_INFINITY;
                intervals[1][k] = (interval.getRightMargin() != null) ? interval.getRightMargin().doubleValue() : Double.POSITIVE_INFINITY;
            }
        }
        OpType opType = field.requireOpType();
        DataType dataType = field.requireDataType();
        MiningField mining = topFields.get(name);
        Object replacement = (mining != null) ? mining.getMissingValueReplacement() : null;
        boolean missingInvalid = mining != null && replacement == null
                && mining.getMissingValueTreatment() == org.dmg.pmml.MissingValueTreatmentMethod.RETURN_INVALID;
        Sym sym;
        int c = column;
        if (opType == OpType.CONTINUOUS && (dataType == DataType.DOUBLE || dataType == DataType.FLOAT)) {
            // a value declared missing that no number equals (NaN, the one XGBoost's and
            // LightGBM's documents declare) changes nothing here: a NaN is missing already,
            // and a text travels as a raw value, which the evaluator reads
            for (Value value : field.hasValues() ? field.getValues() : java.util.Collections.<Value>emptyList()) {
                Object parsed;
                try {
                    parsed = TypeUtil.parseOrCast(DataType.DOUBLE, value.requireValue());
                } catch (RuntimeException e) {
                    parsed = null;
                }
                if (value.getProperty() != Value.Property.MISSING || !(parsed instanceof Double)
                        || !((Double) parsed).isNaN()) {
                    throw new Unsupported("continuous DataField " + name + " with Values");
                }
            }
            boolean single = (dataType == DataType.FLOAT);
            double instead = Double.NaN; // what a missing value becomes (NaN: it stays missing)
            if (replacement != null) {
                instead = ((Number) TypeUtil.parseOrCast(dataType, replacement)).doubleValue();
                if (Double.isNaN(instead) || Double.isInfinite(instead)) {
                    throw new Unsupported(what(mining) + "@missingValueReplacement=" + replacement);
                }
            }
            int slot = numericSlots++;
            sym = new Sym(true, slot, dataType, null);
            double missing = instead;
            double[][] valid = intervals;
            steps.add(block -> readNumbers(block, c, slot, single, missing, missingInvalid, valid));
        } else if (opType == OpType.CATEGORICAL && (dataType == DataType.STRING
                || dataType == DataType.INTEGER || dataType == DataType.BOOLEAN)) {
            // each distinct value is prepared by the evaluator once (Plan.category): a text,
            // a number or a boolean, replaced or judged invalid as its MiningField says
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
            int instead = -1; // the category a missing value becomes (-1: deferred)
            if (replacement != null) {
                instead = categories.indexOf(TypeUtil.parseOrCast(dataType, replacement));
                if (instead < 0) {
                    throw new Unsupported(what(mining) + "@missingValueReplacement outside the Values");
                }
            }
            int slot = categorySlots++;
            sym = new Sym(false, slot, dataType, categories);
            inputCategories[c] = categories;
            inputFields[c] = inputField;
            int missing = instead;
            steps.add(block -> readCategories(block, c, slot, missing));
        } else {
            throw new Unsupported("DataField " + name + " (" + opType.value() + " " + dataType.value() + ")");
        }
        inputs.put(name, sym);
        return sym;
    }

    private static String what(MiningField field) {
        return "MiningField " + field.getName();
    }

    /**
     * A column of numbers as the evaluator prepares them: -0 is 0 (TypeUtil.toDouble), a
     * float field's number is cast to float, a missing one (NaN) becomes {@code missing}
     * (the MiningField's replacement, else NaN, which the steps reading it carry as a
     * missing value) or is deferred under returnInvalid. A raw value and an infinite
     * number are deferred: the evaluator parses and judges them.
     */
    private static void readNumbers(Block block, int column, int slot, boolean single, double missing,
            boolean deferMissing, double[][] intervals) {
        InputColumn input = block.columns[column];
        double[] numbers = input.numbers();
        int[] codes = input.codes();
        double[] out = block.numbers[slot];
        boolean[] deferred = block.deferred;
        for (int i = 0, r = block.start; i < block.n; i++, r++) {
            double x = (numbers == null) ? Double.NaN : numbers[r];
            if (codes != null && codes[r] >= 0) {
                deferred[i] = true;
            } else if (x != x) {
                x = missing; // a replacement is not judged against the Intervals
                if (deferMissing) {
                    deferred[i] = true;
                }
            } else if (intervals != null && !inside(intervals, x, single)) {
                deferred[i] = true;
            }
            x = single ? (double) toFloat(x) : x + 0d;
            if (Double.isInfinite(x)) {
                deferred[i] = true;
            }
            out[i] = x;
        }
    }

    /** Whether {@code x} (and, for a float field, its float) lies strictly inside one of the
     * intervals ({@code intervals[0]} the left margins, {@code [1]} the right ones). */
    private static boolean inside(double[][] intervals, double x, boolean single) {
        double y = single ? (double) toFloat(x) : x;
        for (int k = 0; k < intervals[0].length; k++) {
            double low = intervals[0][k];
            double high = intervals[1][k];
            if (x > low && x < high && y > low && y < high) {
                return true;
            }
        }
        return false;
    }

    /**
     * A column of categories: a value outside the field's Values (or a raw value that is not
     * a text) is deferred; a missing one becomes {@code missing} (the replacement's
     * category, else -1: deferred).
     */
    private static void readCategories(Block block, int column, int slot, int missing) {
        InputColumn input = block.columns[column];
        int[] codes = input.codes();
        double[] numbers = input.numbers();
        int[] map = block.categoryMaps[column];
        int[] out = block.codes[slot];
        boolean[] deferred = block.deferred;
        for (int i = 0, r = block.start; i < block.n; i++, r++) {
            int code = (codes == null) ? -1 : codes[r];
            int category;
            if (code >= 0) {
                category = (map == null) ? -1 : map[code];
            } else {
                category = (numbers == null || numbers[r] != numbers[r]) ? missing : -1;
            }
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
        Expression expression = field.requireExpression();
        if (opType == OpType.CATEGORICAL && expression instanceof MapValues) {
            return mapValues(field.getName(), (MapValues) expression, dataType, scope);
        }
        Sym categorical = null; // a category read as its number
        if (opType == OpType.CONTINUOUS && expression instanceof MapValues) {
            categorical = mapValues(field.getName(), (MapValues) expression, dataType, scope);
        } else if (opType == OpType.CONTINUOUS && expression instanceof FieldRef) {
            FieldRef ref = (FieldRef) expression;
            Sym source = resolve(scope, ref.requireField());
            if (!source.numeric) {
                if (ref.getMapMissingTo() != null) {
                    throw new Unsupported("FieldRef@mapMissingTo");
                }
                categorical = source;
            }
        }
        if (categorical != null) {
            // the category's value cast to the field's type (FieldValue.cast): JPMML-SparkML's
            // continuous(bucket), sklearn2pmml's continuous(encoder(x)) and target encodings
            if (dataType != DataType.INTEGER && dataType != DataType.DOUBLE && dataType != DataType.FLOAT) {
                throw new Unsupported("DerivedField " + field.getName() + " (continuous " + dataType.value() + ")");
            }
            double[] numbers = new double[categorical.categories.size()];
            for (int k = 0; k < numbers.length; k++) {
                Object value;
                try {
                    value = TypeUtil.parseOrCast(dataType, categorical.categories.get(k));
                } catch (RuntimeException e) {
                    throw new Unsupported("DerivedField " + field.getName() + " of the category "
                        + categorical.categories.get(k));
                }
                numbers[k] = ((Number) value).doubleValue() + 0d; // -0 is 0 (ScalarValue)
                if (Double.isNaN(numbers[k]) || Double.isInfinite(numbers[k])) {
                    throw new Unsupported("DerivedField " + field.getName() + " of the category "
                        + categorical.categories.get(k));
                }
            }
            int slot = numericSlots++;
            int from = categorical.slot;
            steps.add(block -> {
                double[] out = block.numbers[slot];
                int[] codes = block.codes[from];
                for (int i = 0; i < block.n; i++) {
                    out[i] = (codes[i] >= 0) ? numbers[codes[i]] : Double.NaN; // -1: deferred
                }
            });
            return new Sym(true, slot, dataType, null);
        }
        if (opType != OpType.CONTINUOUS || (dataType != DataType.DOUBLE && dataType != DataType.FLOAT
                && dataType != DataType.INTEGER)) {
            throw new Unsupported("DerivedField " + field.getName() + " (" + opType.value() + " " + dataType.value() + ")");
        }
        Operand value;
        try {
            if (dataType == DataType.INTEGER) {
                throw new Unsupported("DerivedField " + field.getName() + " (continuous integer)");
            }
            value = expression(field.requireExpression(), scope);
        } catch (Unsupported columnar) {
            return rowWise(field, scope, columnar);
        }
        int slot = numericSlots++;
        boolean toFloat = (dataType == DataType.FLOAT) && value.dataType != DataType.FLOAT;
        steps.add(block -> {
            double[] out = block.numbers[slot];
            boolean[] deferred = block.deferred;
            for (int i = 0; i < block.n; i++) {
                double x = value.at(block, i);
                if (Double.isInfinite(x)) { // NaN: missing (a NaN made of values, deferred below)
                    deferred[i] = true;
                }
                out[i] = toFloat ? (double) toFloat(x) : x;
            }
        });
        return new Sym(true, slot, dataType, null);
    }

    /**
     * A continuous derived field whose expression the columnar steps do not cover (an
     * {@code if}, a comparison, any built-in function): per row, JPMML's own ExpressionUtil
     * evaluates it over the values it reads, each given as the evaluator holds it (a number
     * of its field's type, a category, or missing), and the result is cast to the field's
     * type as the evaluator casts it. A row where it fails, or gives a NaN or an infinite
     * number, is deferred; a missing result is a missing value. Only Apply, Constant and
     * FieldRef, with functions JPMML knows, are taken; else {@code why} stands.
     */
    Sym rowWise(DerivedField field, Scope scope, Unsupported why) throws Unsupported {
        List<String> names = new ArrayList<>();
        if (!rowWiseExpression(field.requireExpression(), names)) {
            throw why;
        }
        int count = names.size();
        Sym[] reads = new Sym[count];
        for (int r = 0; r < count; r++) {
            reads[r] = resolve(scope, names.get(r));
        }
        String[] keys = names.toArray(new String[0]);
        int slot = numericSlots++;
        steps.add(block -> {
            double[] out = block.numbers[slot];
            for (int i = 0; i < block.n; i++) {
                if (block.deferred[i]) {
                    out[i] = Double.NaN;
                    continue;
                }
                org.jpmml.evaluator.VirtualEvaluationContext context = new org.jpmml.evaluator.VirtualEvaluationContext();
                double x;
                try {
                    for (int r = 0; r < count; r++) {
                        Sym sym = reads[r];
                        org.jpmml.evaluator.FieldValue value;
                        if (sym.numeric) {
                            double v = block.numbers[sym.slot][i];
                            value = (v != v) ? null : org.jpmml.evaluator.FieldValueUtil.create(
                                OpType.CONTINUOUS, sym.dataType, v);
                        } else {
                            int code = block.codes[sym.slot][i];
                            value = (code < 0) ? null : org.jpmml.evaluator.FieldValueUtil.create(
                                OpType.CATEGORICAL, sym.dataType, sym.categories.get(code));
                        }
                        context.declareInternal(keys[r], value);
                    }
                    org.jpmml.evaluator.FieldValue result = org.jpmml.evaluator.ExpressionUtil.evaluate(field, context);
                    x = (result == null) ? Double.NaN : result.asNumber().doubleValue() + 0d;
                    if ((result != null && x != x) || Double.isInfinite(x)) {
                        block.deferred[i] = true;
                    }
                } catch (RuntimeException e) {
                    block.deferred[i] = true;
                    x = Double.NaN;
                }
                out[i] = x;
            }
        });
        return new Sym(true, slot, field.requireDataType(), null);
    }

    /** Whether an expression is Apply of known functions, Constant and FieldRef only
     * (collecting the fields it reads): what JPMML's ExpressionUtil can evaluate per row over
     * a context holding just those fields. */
    static boolean rowWiseExpression(Expression expression, List<String> names) {
        if (expression instanceof Constant) {
            return true;
        }
        if (expression instanceof FieldRef) {
            String name = ((FieldRef) expression).requireField();
            if (!names.contains(name)) {
                names.add(name);
            }
            return true;
        }
        if (expression instanceof Apply) {
            Apply apply = (Apply) expression;
            try {
                if (org.jpmml.evaluator.FunctionRegistry.getFunction(apply.requireFunction()) == null) {
                    return false;
                }
            } catch (RuntimeException e) {
                return false;
            }
            for (Expression argument : apply.getExpressions()) {
                if (!rowWiseExpression(argument, names)) {
                    return false;
                }
            }
            return true;
        }
        return false;
    }

    /**
     * A categorical field mapped from one categorical field by a table
     * (DiscretizationUtil.mapValue): each of the source's categories is looked up once, here.
     * The result's categories are the table's outputs, as the evaluator casts them (the
     * MapValues' type, then the field's); a category no row matches takes the defaultValue,
     * and without one is missing, which the plan defers, as it defers a missing source.
     */
    Sym mapValues(String name, MapValues map, DataType fieldType, Scope scope) throws Unsupported {
        if (map.getFieldColumnPairs().size() != 1) {
            throw new Unsupported("MapValues of several columns");
        }
        FieldColumnPair pair = map.getFieldColumnPairs().get(0);
        Sym source = resolve(scope, pair.requireField());
        if (source.numeric) {
            throw new Unsupported("MapValues of the continuous field " + pair.requireField());
        }
        InlineTable table = InlineTableUtil.getInlineTable(map);
        if (table == null) {
            throw new Unsupported("MapValues without an InlineTable");
        }
        com.google.common.collect.Table<Integer, String, Object> content = InlineTableUtil.getContent(table);
        DataType mapType = map.getDataType(DataType.STRING);
        String column = pair.requireColumn();
        String outputColumn = map.requireOutputColumn();
        List<Object> categories = new ArrayList<>();
        int[] codesOf = new int[source.categories.size()];
        try {
            for (int k = 0; k < codesOf.length; k++) {
                Object category = source.categories.get(k);
                Object result = null;
                int matches = 0;
                for (Integer row : content.rowKeySet()) {
                    Object cell = content.get(row, column);
                    if (cell != null && category.equals(TypeUtil.parseOrCast(source.dataType, cell))) {
                        result = content.get(row, outputColumn);
                        matches++;
                    }
                }
                if (matches > 1 || (matches == 1 && result == null)) {
                    throw new Unsupported("MapValues " + name + " with no single output for " + category);
                }
                if (matches == 0) {
                    result = map.getDefaultValue();
                }
                if (result == null) {
                    codesOf[k] = -1;
                    continue;
                }
                Object value = TypeUtil.parseOrCast(fieldType, TypeUtil.parseOrCast(mapType, result));
                if (value instanceof Double && (Double) value == 0d) {
                    value = 0d; // -0 is 0 (ScalarValue.filterValue)
                } else if (value instanceof Float && (Float) value == 0f) {
                    value = 0f;
                }
                int at = categories.indexOf(value);
                if (at < 0) {
                    at = categories.size();
                    categories.add(value);
                }
                codesOf[k] = at;
            }
        } catch (IllegalArgumentException | org.jpmml.evaluator.EvaluationException e) {
            throw new Unsupported("MapValues " + name + ": " + e.getMessage());
        }
        int slot = categorySlots++;
        int from = source.slot;
        steps.add(block -> {
            int[] in = block.codes[from];
            int[] out = block.codes[slot];
            for (int i = 0; i < block.n; i++) {
                int code = (in[i] >= 0) ? codesOf[in[i]] : -1;
                if (code < 0) {
                    block.deferred[i] = true;
                }
                out[i] = code;
            }
        });
        return new Sym(false, slot, fieldType, categories);
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
        if (expression instanceof NormContinuous) {
            return normContinuous((NormContinuous) expression, scope);
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
            if ((function.equals("isMissing") || function.equals("isNotMissing"))
                    && arguments.size() == 1 && arguments.get(0) instanceof FieldRef
                    && ((FieldRef) arguments.get(0)).getMapMissingTo() == null) {
                return missingTest(resolve(scope, ((FieldRef) arguments.get(0)).requireField()),
                    function.equals("isMissing"));
            }
            if (arguments.size() != 2) {
                throw new Unsupported("Apply function=" + function + " with " + arguments.size() + " arguments");
            }
            Operand left = expression(arguments.get(0), scope);
            Operand right = expression(arguments.get(1), scope);
            if (left.dataType == DataType.BOOLEAN || right.dataType == DataType.BOOLEAN) {
                throw new Unsupported("Apply function=" + function + " of a boolean");
            }
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
                    // a missing argument makes a missing result (ArithmeticFunction); a NaN
                    // of two values (0 / 0, inf - inf) is the evaluator's to judge
                    if (x != x && a == a && b == b) {
                        block.deferred[i] = true;
                    }
                    out[i] = single ? (double) toFloat(x) : x;
                }
            });
            return new Operand(slot, 0, common);
        }
        throw new Unsupported(expression.getClass().getSimpleName());
    }

    /**
     * isMissing / isNotMissing of a field, as a boolean the evaluator casts to 1.0 or 0.0: a
     * number is missing where it is NaN (which the plan carries as missing); a category
     * never is where the plan computes the row (a missing or invalid one is deferred).
     */
    Operand missingTest(Sym sym, boolean missing) {
        double yes = missing ? 1d : 0d;
        double no = missing ? 0d : 1d;
        int slot = numericSlots++;
        steps.add(block -> {
            double[] out = block.numbers[slot];
            if (sym.numeric) {
                double[] x = block.numbers[sym.slot];
                for (int i = 0; i < block.n; i++) {
                    out[i] = (x[i] != x[i]) ? yes : no;
                }
            } else {
                int[] codes = block.codes[sym.slot];
                for (int i = 0; i < block.n; i++) {
                    out[i] = (codes[i] < 0) ? yes : no;
                }
            }
        });
        return new Operand(slot, 0, DataType.BOOLEAN);
    }

    /**
     * A piecewise-linear normalization (NormalizationUtil, in double): the segment whose
     * closed range holds the value (a binary search in Double.compare order, as the
     * evaluator's), then {@code leftNorm + ((x - leftOrig) / (rightOrig - leftOrig)) *
     * (rightNorm - leftNorm)}; outside the points the outlier treatment extrapolates, makes
     * a missing value or takes the end's norm. A missing value becomes mapMissingTo.
     */
    Operand normContinuous(NormContinuous norm, Scope scope) throws Unsupported {
        Sym sym = resolve(scope, norm.requireField());
        if (!sym.numeric) {
            throw new Unsupported("NormContinuous of the categorical field " + norm.requireField());
        }
        List<org.dmg.pmml.LinearNorm> points = norm.requireLinearNorms();
        int count = points.size();
        if (count < 2) {
            throw new Unsupported("NormContinuous with fewer than two LinearNorms");
        }
        double[] orig = new double[count];
        double[] normed = new double[count];
        for (int i = 0; i < count; i++) {
            orig[i] = points.get(i).requireOrig().doubleValue();
            normed[i] = points.get(i).requireNorm().doubleValue();
        }
        org.dmg.pmml.OutlierTreatmentMethod outliers = norm.getOutlierTreatment();
        int treatment;
        switch (outliers) {
            case AS_IS: treatment = 0; break;
            case AS_MISSING_VALUES: treatment = 1; break;
            case AS_EXTREME_VALUES: treatment = 2; break;
            default: throw new Unsupported("NormContinuous@outliers=" + outliers.value());
        }
        double missing = (norm.getMapMissingTo() != null) ? norm.getMapMissingTo().doubleValue() : Double.NaN;
        int slot = numericSlots++;
        int from = sym.slot;
        steps.add(block -> {
            double[] x = block.numbers[from];
            double[] out = block.numbers[slot];
            for (int i = 0; i < block.n; i++) {
                double v = x[i];
                if (v != v) {
                    out[i] = missing;
                    continue;
                }
                int index = segment(orig, v);
                int start;
                if (index < 0 || index == count - 1) {
                    if (treatment == 1) {
                        out[i] = Double.NaN; // a missing value
                        continue;
                    }
                    if (treatment == 2) {
                        out[i] = (index < 0) ? normed[0] : normed[count - 1];
                        continue;
                    }
                    start = (index < 0) ? 0 : count - 2;
                } else {
                    start = index;
                }
                double y = normed[start] + ((v - orig[start]) / (orig[start + 1] - orig[start]))
                    * (normed[start + 1] - normed[start]);
                if (y != y) { // a NaN of values (a zero-width segment): the evaluator's to judge
                    block.deferred[i] = true;
                }
                out[i] = y;
            }
        });
        return new Operand(slot, 0, DataType.DOUBLE);
    }

    /** NormalizationUtil.binarySearch, step for step: the index of a closed segment holding
     * {@code v}, the last point's index beyond it, -1 below the first. */
    private static int segment(double[] orig, double v) {
        int low = 0;
        int high = orig.length - 1;
        while (low <= high) {
            int mid = low + (high - low) / 2;
            if (Double.compare(v, orig[mid]) >= 0) {
                if (mid < orig.length - 1) {
                    if (Double.compare(v, orig[mid + 1]) <= 0) {
                        return mid;
                    }
                } else {
                    return mid;
                }
                low = mid + 1;
            } else {
                high = mid - 1;
            }
        }
        return -1;
    }

    Sym resolve(Scope scope, String name) throws Unsupported {
        return (scope != null) ? scope.resolve(name) : global(name);
    }

    /** A field of the TransformationDictionary (computed once for every model), or an input. */
    private Sym global(String name) throws Unsupported {
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
            return PlanRegression.regression(this, (RegressionModel) model, scope);
        }
        if (model instanceof TreeModel) {
            return PlanTrees.tree(this, (TreeModel) model, scope);
        }
        if (model instanceof MiningModel) {
            return PlanEnsembles.mining(this, (MiningModel) model, scope);
        }
        if (model instanceof org.dmg.pmml.neural_network.NeuralNetwork) {
            return PlanNeural.network(this, (org.dmg.pmml.neural_network.NeuralNetwork) model, scope);
        }
        throw new Unsupported(model.getClass().getSimpleName());
    }

    Target target(Model model) throws Unsupported {
        Targets targets = model.getTargets();
        if (targets == null || !targets.hasTargets()) {
            return null;
        }
        if (targets.getTargets().size() != 1) {
            throw new Unsupported("Targets with more than one Target");
        }
        Target target = targets.getTargets().get(0);
        if (target.hasTargetValues()) {
            throw new Unsupported("TargetValues");
        }
        return target;
    }

    /** The evaluator's Target processing of a regression value ({@code TargetUtil.processValue}). */
    static ModelStep withTarget(ModelStep inner, Target target, boolean single) {
        if (target == null) {
            return inner;
        }
        double low = (target.getMin() != null) ? target.getMin().doubleValue() : Double.NEGATIVE_INFINITY;
        double high = (target.getMax() != null) ? target.getMax().doubleValue() : Double.POSITIVE_INFINITY;
        boolean restrict = target.getMin() != null || target.getMax() != null;
        double factor = target.getRescaleFactor().doubleValue();
        double constant = target.getRescaleConstant().doubleValue();
        // castInteger: Math.round (of a float in float: half up, as the evaluator's
        // FloatValue), Math.ceil or Math.floor of the rescaled value
        int cast = (target.getCastInteger() == null) ? 0
            : (target.getCastInteger() == Target.CastInteger.ROUND) ? 1
            : (target.getCastInteger() == Target.CastInteger.CEILING) ? 2 : 3;
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
                        x = PlanArith.restrict(single, x, low, high);
                    }
                    x = PlanArith.add(single, PlanArith.mul(single, x, factor), constant);
                    if (x != x) {
                        values[i] = x; // no value: deferred (Math.round would make it 0)
                        continue;
                    }
                    if (cast == 1) {
                        x = single ? (double) Math.round((float) x) : (double) Math.round(x);
                    } else if (cast == 2) {
                        x = Math.ceil(x); // exact: a float's ceiling is a float
                    } else if (cast == 3) {
                        x = Math.floor(x);
                    }
                    values[i] = x;
                }
            }
        };
    }

}
