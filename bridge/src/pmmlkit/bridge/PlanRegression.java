package pmmlkit.bridge;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.dmg.pmml.DataField;
import org.dmg.pmml.DataType;
import org.dmg.pmml.MiningField;
import org.dmg.pmml.MiningFunction;
import org.dmg.pmml.OpType;
import org.dmg.pmml.PMML;
import org.dmg.pmml.Targets;
import org.dmg.pmml.Value;
import org.dmg.pmml.regression.CategoricalPredictor;
import org.dmg.pmml.regression.NumericPredictor;
import org.dmg.pmml.regression.RegressionModel;
import org.dmg.pmml.regression.RegressionTable;
import org.jpmml.evaluator.TypeUtil;

import pmmlkit.bridge.Plan.Block;
import pmmlkit.bridge.Plan.ModelStep;
import pmmlkit.bridge.Plan.Sym;
import pmmlkit.bridge.Plan.Unsupported;

import static pmmlkit.bridge.Plan.indexOf;
import static pmmlkit.bridge.Plan.targetType;

/** The plan of a {@code RegressionModel}: its tables' sums and normalizations. */
final class PlanRegression {

    private PlanRegression() {
    }

    static ModelStep regression(PlanCompiler c, RegressionModel model, PlanCompiler.Scope scope) throws Unsupported {
        boolean single = PlanArith.single(model);
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
                        values[i] = (normalize == 1) ? PlanArith.inverseLogit(single, values[i])
                                : PlanArith.exp(single, values[i]);
                    }
                }
            };
            return PlanCompiler.withTarget(normalized, c.target(model), single);
        }
        if (function != MiningFunction.CLASSIFICATION) {
            throw new Unsupported("RegressionModel@functionName=" + function.value());
        }
        if (c.target(model) != null) {
            throw new Unsupported("Targets on a classification");
        }
        if (c.targetDataType(model) == null || k < 2) {
            throw new Unsupported("a classification with " + k + " RegressionTables");
        }
        DataType targetType = c.targetDataType(model);
        MiningField targetField = null;
        for (MiningField field : model.requireMiningSchema().getMiningFields()) {
            if (field.getUsageType() == MiningField.UsageType.TARGET) {
                targetField = field;
            }
        }
        DataField targetData = (targetField != null) ? c.dataFields.get(targetField.getName()) : null;
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
                        double p = (mode == 0) ? PlanArith.inverseLogit(single, first[i])
                                : PlanArith.restrict(single, first[i], 0d, 1d);
                        first[i] = p;
                        second[i] = PlanArith.residual(single, p);
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
                double e = PlanArith.exp(single, PlanArith.add(single, out[c][i], -max));
                out[c][i] = e;
                sum = (c == 0) ? e : PlanArith.add(single, sum, e);
            }
            if (sum != 1d) {
                for (int c = 0; c < k; c++) {
                    out[c][i] = PlanArith.div(single, out[c][i], sum);
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
                                sum[i] = PlanArith.mulAdd(true, sum[i], coefficient, x[i]);
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
                                sum[i] = PlanArith.add(single, sum[i], values[code]);
                            }
                        }
                    }
                    double intercept = intercepts[t];
                    if (intercept != 0d) {
                        for (int i = 0; i < block.n; i++) {
                            sum[i] = PlanArith.add(single, sum[i], intercept);
                        }
                    }
                }
            }
        };
    }
}
