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
import org.dmg.pmml.FieldRef;
import org.dmg.pmml.InvalidValueTreatmentMethod;
import org.dmg.pmml.LocalTransformations;
import org.dmg.pmml.MiningField;
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
            // NaN is a missing value, which the steps reading it carry as NaN (or defer)
            if ((codes != null && codes[r] >= 0) || Double.isInfinite(x)) {
                deferred[i] = true;
            }
            out[i] = x + 0d; // the evaluator's input value: -0 is 0 (TypeUtil.toDouble)
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
                if (Double.isInfinite(x)) { // NaN: missing (a NaN made of values, deferred below)
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
        if (target.getCastInteger() != null || target.hasTargetValues()) {
            throw new Unsupported("Target@castInteger or TargetValues");
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
                    values[i] = PlanArith.add(single, PlanArith.mul(single, x, factor), constant);
                }
            }
        };
    }

}
