package pmmlkit.bridge;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.dmg.pmml.DataType;
import org.dmg.pmml.DerivedField;
import org.dmg.pmml.Expression;
import org.dmg.pmml.FieldRef;
import org.dmg.pmml.MathContext;
import org.dmg.pmml.MiningFunction;
import org.dmg.pmml.NormDiscrete;
import org.dmg.pmml.OpType;
import org.dmg.pmml.neural_network.Connection;
import org.dmg.pmml.neural_network.NeuralInput;
import org.dmg.pmml.neural_network.NeuralLayer;
import org.dmg.pmml.neural_network.NeuralNetwork;
import org.dmg.pmml.neural_network.NeuralOutput;
import org.dmg.pmml.neural_network.Neuron;
import org.jpmml.evaluator.TypeUtil;

import pmmlkit.bridge.Plan.Block;
import pmmlkit.bridge.Plan.ModelStep;
import pmmlkit.bridge.Plan.Unsupported;

/**
 * A NeuralNetwork (NeuralNetworkEvaluator.evaluateRaw, in double), layer by layer over the
 * block: each neuron's value is 0 plus weight x input for each connection in order, plus its
 * bias, then the layer's activation (identity, logistic {@code 1 / (1 + exp(-z))}, tanh,
 * rectifier {@code max(z, 0)}), then the layer's normalization (none, softmax, simplemax as
 * ValueUtil's). A row missing an input has no result: deferred. A classification's
 * probabilities are its output neurons' values, in NeuralOutputs order (the evaluator's
 * winner is the first maximum in that order); a regression's value is its output neuron's.
 */
final class PlanNeural {
    private PlanNeural() {
    }

    private static final int IDENTITY = 0, LOGISTIC = 1, TANH = 2, RECTIFIER = 3;
    private static final int NONE = 0, SOFTMAX = 1, SIMPLEMAX = 2;

    static ModelStep network(PlanCompiler c, NeuralNetwork model, PlanCompiler.Scope scope) throws Unsupported {
        if (model.getMathContext() == MathContext.FLOAT) {
            throw new Unsupported("NeuralNetwork@mathContext=float");
        }
        Map<String, Integer> slotOf = new HashMap<>();
        for (NeuralInput input : model.requireNeuralInputs().requireNeuralInputs()) {
            DerivedField field = input.requireDerivedField();
            if (field.requireOpType() != OpType.CONTINUOUS) {
                throw new Unsupported("a NeuralInput that is not continuous");
            }
            // the input is its DerivedField's value, as the plan computes a derived field
            DerivedField named = new DerivedField(field.getName() != null ? field.getName() : "\u0000" + input.requireId(),
                    field.requireOpType(), field.requireDataType(), field.requireExpression());
            Plan.Sym sym = c.derivedField(named, scope);
            if (!sym.numeric) {
                throw new Unsupported("a NeuralInput that is not a number");
            }
            if (slotOf.put(input.requireId(), sym.slot) != null) {
                throw new Unsupported("NeuralInputs with the same id");
            }
        }
        NeuralNetwork.ActivationFunction networkActivation = model.getActivationFunction();
        NeuralNetwork.NormalizationMethod networkNormalization = model.getNormalizationMethod();
        List<int[]> layerSlots = new ArrayList<>();
        List<int[][]> layerFrom = new ArrayList<>();
        List<double[][]> layerWeights = new ArrayList<>();
        List<double[]> layerBias = new ArrayList<>();
        List<Integer> activations = new ArrayList<>();
        List<Integer> normalizations = new ArrayList<>();
        for (NeuralLayer layer : model.requireNeuralLayers()) {
            NeuralNetwork.ActivationFunction activation = (layer.getActivationFunction() != null)
                    ? layer.getActivationFunction() : networkActivation;
            if (activation == null) {
                throw new Unsupported("a NeuralLayer without an activationFunction");
            }
            int kind;
            switch (activation) {
                case IDENTITY: kind = IDENTITY; break;
                case LOGISTIC: kind = LOGISTIC; break;
                case TANH: kind = TANH; break;
                case RECTIFIER: kind = RECTIFIER; break;
                default: throw new Unsupported("NeuralNetwork@activationFunction=" + activation.value());
            }
            if (kind == RECTIFIER && (layer.getLeakage() != null || model.getLeakage() != null)) {
                throw new Unsupported("a rectifier with leakage");
            }
            NeuralNetwork.NormalizationMethod normalization = (layer.getNormalizationMethod() != null)
                    ? layer.getNormalizationMethod() : networkNormalization;
            int norm;
            switch (normalization) {
                case NONE: norm = NONE; break;
                case SOFTMAX: norm = SOFTMAX; break;
                case SIMPLEMAX: norm = SIMPLEMAX; break;
                default: throw new Unsupported("NeuralNetwork@normalizationMethod=" + normalization.value());
            }
            List<Neuron> neurons = layer.requireNeurons();
            int[] slots = new int[neurons.size()];
            int[][] from = new int[neurons.size()][];
            double[][] weights = new double[neurons.size()][];
            double[] bias = new double[neurons.size()];
            for (int j = 0; j < neurons.size(); j++) {
                Neuron neuron = neurons.get(j);
                List<Connection> connections = neuron.requireConnections();
                from[j] = new int[connections.size()];
                weights[j] = new double[connections.size()];
                for (int q = 0; q < connections.size(); q++) {
                    Integer source = slotOf.get(connections.get(q).requireFrom());
                    if (source == null) {
                        throw new Unsupported("a Connection from " + connections.get(q).requireFrom()
                            + ", no earlier neuron or input");
                    }
                    from[j][q] = source;
                    weights[j][q] = connections.get(q).requireWeight().doubleValue();
                }
                bias[j] = (neuron.getBias() != null) ? neuron.getBias().doubleValue() : Double.NaN;
                slots[j] = c.numericSlots++;
            }
            // a layer's neurons are known to the next layers only
            for (int j = 0; j < neurons.size(); j++) {
                if (slotOf.put(neurons.get(j).requireId(), slots[j]) != null) {
                    throw new Unsupported("neurons with the same id");
                }
            }
            layerSlots.add(slots);
            layerFrom.add(from);
            layerWeights.add(weights);
            layerBias.add(bias);
            activations.add(kind);
            normalizations.add(norm);
        }
        int layers = layerSlots.size();
        // the results: the output neurons, by the NeuralOutputs
        List<NeuralOutput> outputs = model.requireNeuralOutputs().requireNeuralOutputs();
        String target = Plan.targetName(model);
        boolean classification = model.requireMiningFunction() == MiningFunction.CLASSIFICATION;
        if (!classification && model.requireMiningFunction() != MiningFunction.REGRESSION) {
            throw new Unsupported("NeuralNetwork@functionName=" + model.requireMiningFunction().value());
        }
        DataType targetType = c.targetDataType(model);
        List<Object> categories = classification ? new ArrayList<>() : null;
        List<Integer> resultSlots = new ArrayList<>();
        for (NeuralOutput output : outputs) {
            Integer slot = slotOf.get(output.requireOutputNeuron());
            if (slot == null) {
                throw new Unsupported("a NeuralOutput of an unknown neuron");
            }
            Expression expression = output.requireDerivedField().requireExpression();
            if (expression instanceof FieldRef) {
                expression = outputExpression((FieldRef) expression, c, scope);
            }
            if (classification) {
                if (!(expression instanceof NormDiscrete) || !((NormDiscrete) expression).requireField().equals(target)) {
                    throw new Unsupported("a classification's NeuralOutput other than a NormDiscrete of the target");
                }
                Object category = TypeUtil.parseOrCast(targetType, ((NormDiscrete) expression).requireValue());
                if (categories.contains(category)) {
                    throw new Unsupported("two NeuralOutputs of one category");
                }
                categories.add(category);
            } else {
                if (!(expression instanceof FieldRef) || !((FieldRef) expression).requireField().equals(target)) {
                    throw new Unsupported("a regression's NeuralOutput other than a FieldRef to the target");
                }
            }
            resultSlots.add(slot);
        }
        if (classification ? categories.size() < 2 : resultSlots.size() != 1) {
            throw new Unsupported("NeuralOutputs of " + resultSlots.size() + " neurons");
        }
        int[] results = new int[resultSlots.size()];
        for (int r = 0; r < results.length; r++) {
            results[r] = resultSlots.get(r);
        }
        ModelStep step = new ModelStep() {
            public int width() {
                return results.length;
            }

            public List<Object> categories() {
                return categories;
            }

            public void run(Block block, double[][] out) {
                int n = block.n;
                double[][] numbers = block.numbers;
                for (int l = 0; l < layers; l++) {
                    int[] slots = layerSlots.get(l);
                    int[][] from = layerFrom.get(l);
                    double[][] weights = layerWeights.get(l);
                    double[] bias = layerBias.get(l);
                    int kind = activations.get(l);
                    for (int j = 0; j < slots.length; j++) {
                        double[] z = numbers[slots[j]];
                        java.util.Arrays.fill(z, 0, n, 0d);
                        for (int q = 0; q < from[j].length; q++) {
                            double w = weights[j][q];
                            double[] x = numbers[from[j][q]];
                            for (int i = 0; i < n; i++) {
                                z[i] += w * x[i];
                            }
                        }
                        double b = bias[j];
                        if (b == b) {
                            for (int i = 0; i < n; i++) {
                                z[i] += b;
                            }
                        }
                        // one loop per activation, so the JIT can vectorize each
                        switch (kind) {
                            case LOGISTIC:
                                for (int i = 0; i < n; i++) {
                                    z[i] = 1d / (1d + Math.exp(-z[i]));
                                }
                                break;
                            case TANH:
                                for (int i = 0; i < n; i++) {
                                    z[i] = Math.tanh(z[i]);
                                }
                                break;
                            case RECTIFIER:
                                for (int i = 0; i < n; i++) {
                                    z[i] = Math.max(z[i], 0);
                                }
                                break;
                            default:
                                break;
                        }
                    }
                    int norm = normalizations.get(l);
                    if (norm != NONE) {
                        double[][] values = new double[slots.length][];
                        for (int j = 0; j < slots.length; j++) {
                            values[j] = numbers[slots[j]];
                        }
                        if (norm == SOFTMAX) {
                            PlanRegression.softMax(values, n, false);
                        } else {
                            simpleMax(values, n, block);
                        }
                    }
                }
                for (int r = 0; r < results.length; r++) {
                    // a missing input (NaN) gives NaN: the row is deferred
                    System.arraycopy(numbers[results[r]], 0, out[r], 0, n);
                }
            }
        };
        return classification ? step : PlanCompiler.withTarget(step, c.target(model), false);
    }

    /** ValueUtil.normalizeSimpleMax: each value over their sum (in neuron order), none when
     * the sum is one; a zero sum is the evaluator's error, deferred. */
    private static void simpleMax(double[][] values, int n, Block block) {
        for (int i = 0; i < n; i++) {
            double sum = 0d;
            for (int j = 0; j < values.length; j++) {
                sum = (j == 0) ? values[j][i] : sum + values[j][i];
            }
            if (sum == 0d) {
                block.deferred[i] = true;
                continue;
            }
            if (sum != 1d) {
                for (int j = 0; j < values.length; j++) {
                    values[j][i] /= sum;
                }
            }
        }
    }

    /** NeuralNetworkEvaluator.getOutputExpression: a FieldRef to a derived field stands for
     * that field's expression; one to a data field for itself. */
    private static Expression outputExpression(FieldRef ref, PlanCompiler c, PlanCompiler.Scope scope) {
        DerivedField derived = null;
        for (PlanCompiler.Scope s = scope; s != null && derived == null; s = s.parent) {
            derived = s.derived.get(ref.requireField());
        }
        if (derived == null) {
            derived = c.globalDerived.get(ref.requireField());
        }
        return (derived != null) ? derived.requireExpression() : ref;
    }
}
