package pmmlkit.bridge;

import java.util.ArrayList;
import java.util.List;

import org.dmg.pmml.DataType;
import org.dmg.pmml.LocalTransformations;
import org.dmg.pmml.MiningFunction;
import org.dmg.pmml.Model;
import org.dmg.pmml.Output;
import org.dmg.pmml.OutputField;
import org.dmg.pmml.PMML;
import org.dmg.pmml.ResultFeature;
import org.dmg.pmml.Targets;
import org.dmg.pmml.True;
import org.dmg.pmml.mining.MiningModel;
import org.dmg.pmml.mining.Segment;
import org.dmg.pmml.mining.Segmentation;

import pmmlkit.bridge.Plan.Block;
import pmmlkit.bridge.Plan.ModelStep;
import pmmlkit.bridge.Plan.Sym;
import pmmlkit.bridge.Plan.Unsupported;

import static pmmlkit.bridge.Plan.toFloat;

/** The plan of a {@code MiningModel}: sums and averages of segments, model chains. */
final class PlanEnsembles {

    private PlanEnsembles() {
    }

    /** sum / average of regression segments, or a model chain ending in a classification. */
    static ModelStep mining(PlanCompiler c, MiningModel model, PlanCompiler.Scope scope) throws Unsupported {
        boolean single = PlanArith.single(model);
        Segmentation segmentation = model.requireSegmentation();
        // every missingPredictionTreatment is the same where no segment's prediction is
        // missing; a row where one is (NaN) is deferred to the evaluator
        if (segmentation.getLocalTransformations() != null) {
            throw new Unsupported("Segmentation with LocalTransformations");
        }
        List<Segment> segments = segmentation.requireSegments();
        Segmentation.MultipleModelMethod method = segmentation.requireMultipleModelMethod();
        if (method == Segmentation.MultipleModelMethod.SELECT_FIRST) {
            return selectFirst(c, model, segments, scope);
        }
        for (Segment segment : segments) {
            if (!(segment.requirePredicate() instanceof True)) {
                throw new Unsupported("a Segment whose predicate is not True");
            }
        }
        if (method == Segmentation.MultipleModelMethod.MODEL_CHAIN) {
            return chain(c, model, segments, scope);
        }
        if (model.requireMiningFunction() == MiningFunction.CLASSIFICATION) {
            if (method == Segmentation.MultipleModelMethod.MAJORITY_VOTE
                    || method == Segmentation.MultipleModelMethod.WEIGHTED_MAJORITY_VOTE) {
                return vote(c, model, segments, scope,
                    method == Segmentation.MultipleModelMethod.WEIGHTED_MAJORITY_VOTE);
            }
            if (method != Segmentation.MultipleModelMethod.AVERAGE) {
                throw new Unsupported("MiningModel classification by " + method.value());
            }
            return averageDistribution(c, model, segments, scope);
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
            weightSum = PlanArith.add(PlanArith.single(model), weightSum, weights[s]);
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
            parts[s] = c.model(inner, c.scope(scope, inner), DataType.DOUBLE);
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
                double[][] totals = {total};
                for (int s = 0; s < parts.length; s++) {
                    if (s + 1 < parts.length && weights[s] == 1d && weights[s + 1] == 1d
                            && parts[s].compact() != null && parts[s + 1].compact() != null
                            && parts[s].compact().table == parts[s + 1].compact().table) {
                        parts[s].compact().sumTwo(block, parts[s].leafScores(), parts[s + 1].compact(),
                                parts[s + 1].leafScores(), total, single);
                        s++;
                        continue;
                    }
                    if (weights[s] == 1d && parts[s].accumulate(block, totals, single)) {
                        continue;
                    }
                    parts[s].run(block, part);
                    double[] values = part[0];
                    double weight = weights[s];
                    if (weight != 1d) {
                        for (int i = 0; i < block.n; i++) {
                            // NaN (no prediction) stays NaN: deferred
                            total[i] = PlanArith.mulAdd(single, total[i], weight, values[i]);
                        }
                    } else {
                        for (int i = 0; i < block.n; i++) {
                            total[i] = PlanArith.add(single, total[i], values[i]);
                        }
                    }
                }
                if (average) {
                    for (int i = 0; i < block.n; i++) {
                        total[i] = PlanArith.div(single, total[i], divisor);
                    }
                }
            }
        };
        return PlanCompiler.withTarget(aggregate, c.target(model), single);
    }

    /**
     * A segment's own OutputFields change nothing in an average (the evaluator computes
     * them, and only a model chain reads them) as long as none can fail: each is the
     * predicted value, or the probability of one of the segment's categories.
     */
    static void checkSegmentOutput(Model inner, List<Object> categories, DataType type) throws Unsupported {
        if (inner.getOutput() == null || !inner.getOutput().hasOutputFields()) {
            return;
        }
        for (OutputField field : inner.getOutput().getOutputFields()) {
            boolean plain = field.getExpression() == null && field.getSegmentId() == null
                && field.getTargetField() == null;
            if (field.getResultFeature() == ResultFeature.PROBABILITY) {
                plain &= field.getValue() != null && Plan.indexOf(categories, field.getValue(), type) >= 0;
            } else {
                plain &= field.getResultFeature() == ResultFeature.PREDICTED_VALUE && field.getValue() == null;
            }
            if (!plain) {
                throw new Unsupported("a segment's OutputField " + field.getName());
            }
        }
    }

    /**
     * selectFirst (MiningModelEvaluator.selectFirst): each row takes the results of the first
     * segment whose predicate is true. A predicate that meets a missing value (unknown), or a
     * row no segment takes, is the evaluator's to judge: deferred. Every segment is computed
     * over the block; a row reads its own segment's.
     */
    static ModelStep selectFirst(PlanCompiler c, MiningModel model, List<Segment> segments,
            PlanCompiler.Scope scope) throws Unsupported {
        if (c.target(model) != null) {
            throw new Unsupported("Targets on a selectFirst");
        }
        int count = segments.size();
        ModelStep[] parts = new ModelStep[count];
        SegmentTest[] tests = new SegmentTest[count];
        boolean classification = model.requireMiningFunction() == MiningFunction.CLASSIFICATION;
        List<Object> categories = null;
        DataType saved = c.inheritedTarget;
        c.inheritedTarget = c.targetDataType(model);
        for (int s = 0; s < count; s++) {
            tests[s] = SegmentTest.of(segments.get(s).requirePredicate(), scope);
            Model inner = segments.get(s).requireModel();
            if (inner.requireMiningFunction() != model.requireMiningFunction()) {
                throw new Unsupported("a selectFirst segment of another mining function");
            }
            if (inner.getOutput() != null && inner.getOutput().hasOutputFields()) {
                throw new Unsupported("a selectFirst segment with its own output fields");
            }
            parts[s] = c.model(inner, c.scope(scope, inner), c.targetDataType(inner));
            if (classification) {
                if (parts[s].categories() == null
                        || (categories != null && !categories.equals(parts[s].categories()))) {
                    throw new Unsupported("selectFirst segments with different categories");
                }
                categories = parts[s].categories();
            }
        }
        c.inheritedTarget = saved;
        int width = parts[0].width();
        for (ModelStep part : parts) {
            if (part.width() != width) {
                throw new Unsupported("selectFirst segments of different widths");
            }
        }
        List<Object> chosenCategories = categories;
        return new ModelStep() {
            public int width() {
                return width;
            }

            public List<Object> categories() {
                return chosenCategories;
            }

            public void run(Block block, double[][] out) {
                int n = block.n;
                int[] chosen = new int[n];
                java.util.Arrays.fill(chosen, -1);
                boolean[] open = new boolean[n];
                java.util.Arrays.fill(open, true);
                for (int s = 0; s < count; s++) {
                    for (int i = 0; i < n; i++) {
                        if (!open[i]) {
                            continue;
                        }
                        int holds = tests[s].test(block, i); // 1 true, 0 false, -1 unknown
                        if (holds != 0) {
                            chosen[i] = (holds > 0) ? s : -1;
                            open[i] = false;
                        }
                    }
                }
                for (int j = 0; j < width; j++) {
                    java.util.Arrays.fill(out[j], 0, n, Double.NaN); // no segment: deferred
                }
                double[][] part = new double[width][n];
                for (int s = 0; s < count; s++) {
                    boolean any = false;
                    for (int i = 0; i < n && !any; i++) {
                        any = chosen[i] == s;
                    }
                    if (!any) {
                        continue;
                    }
                    parts[s].run(block, part);
                    for (int i = 0; i < n; i++) {
                        if (chosen[i] == s) {
                            for (int j = 0; j < width; j++) {
                                out[j][i] = part[j][i];
                            }
                        }
                    }
                }
            }
        };
    }

    /** A Segment's predicate over one row: the trees' tests (PlanTrees.Test), with what the
     * trees do not need, a missing value's answer. */
    static final class SegmentTest {
        private final PlanTrees.Test test;

        private SegmentTest(PlanTrees.Test test) {
            this.test = test;
        }

        static SegmentTest of(org.dmg.pmml.Predicate predicate, PlanCompiler.Scope scope) throws Unsupported {
            return new SegmentTest(PlanTrees.test(predicate, scope));
        }

        /** 1 where the predicate holds, 0 where it does not, -1 where it meets a missing value. */
        int test(Block block, int i) {
            if (test.numeric()) {
                double x = block.numbers[test.slot][i];
                if (x != x) {
                    return -1;
                }
            } else if (test.kind != PlanTrees.Flat.TRUE && test.kind != PlanTrees.Flat.FALSE
                    && block.codes[test.slot][i] < 0) {
                return -1;
            }
            return PlanTrees.holds(test.kind, test.slot, test.threshold, block.numbers, block.codes, i) ? 1 : 0;
        }
    }

    /**
     * Plans each segment, a classification with a probability distribution over the same
     * categories as the first segment's (which are returned); {@code perms[s]} maps another
     * order of them into the first's.
     */
    static List<Object> classifications(PlanCompiler c, MiningModel model, List<Segment> segments,
            PlanCompiler.Scope scope, ModelStep[] parts, int[][] perms) throws Unsupported {
        List<Object> categories = null;
        DataType saved = c.inheritedTarget;
        c.inheritedTarget = c.targetDataType(model);
        for (int s = 0; s < parts.length; s++) {
            Model inner = segments.get(s).requireModel();
            if (inner.requireMiningFunction() != MiningFunction.CLASSIFICATION) {
                throw new Unsupported("a segment that is not a classification");
            }
            parts[s] = c.model(inner, c.scope(scope, inner), c.targetDataType(inner));
            if (parts[s].categories() == null) {
                throw new Unsupported("a segment without a probability distribution");
            }
            checkSegmentOutput(inner, parts[s].categories(), c.targetDataType(inner));
            if (categories == null) {
                categories = parts[s].categories();
            } else if (!categories.equals(parts[s].categories())) {
                // the evaluator aggregates by category; another order of the same categories
                // is permuted into the first segment's
                List<Object> own = parts[s].categories();
                if (own.size() != categories.size() || !own.containsAll(categories)) {
                    throw new Unsupported("segments with different categories");
                }
                perms[s] = new int[own.size()];
                for (int j = 0; j < own.size(); j++) {
                    perms[s][j] = categories.indexOf(own.get(j));
                }
            }
        }
        c.inheritedTarget = saved;
        return categories;
    }

    /**
     * A (weighted) majority vote (SegmentationlUtil.aggregateVotes, VoteAggregator): each
     * segment's prediction gets one vote (its weight), summed in segment order; the shares are
     * the sums divided by their total (ValueUtil.normalizeSimpleMax: the total taken in the
     * order categories got their first vote, no division when it is one), a category without a
     * vote has probability 0, and the winner is the first maximum in first-vote order. A
     * segment without a prediction defers the row (each missingPredictionTreatment gives the
     * same where every segment predicts).
     */
    static ModelStep vote(PlanCompiler c, MiningModel model, List<Segment> segments,
            PlanCompiler.Scope scope, boolean weighted) throws Unsupported {
        boolean single = PlanArith.single(model);
        if (c.target(model) != null) {
            throw new Unsupported("Targets on a classification");
        }
        double[] weights = new double[segments.size()];
        for (int s = 0; s < weights.length; s++) {
            weights[s] = weighted ? segments.get(s).getWeight().doubleValue() : 1d;
            if (weights[s] < 0d || Double.isNaN(weights[s]) || Double.isInfinite(weights[s])) {
                throw new Unsupported("a Segment weight of " + weights[s]);
            }
        }
        ModelStep[] parts = new ModelStep[segments.size()];
        int[][] perms = new int[parts.length][];
        List<Object> categories = classifications(c, model, segments, scope, parts, perms);
        int k = categories.size();
        int[] widths = new int[parts.length];
        for (int s = 0; s < parts.length; s++) {
            widths[s] = parts[s].width();
        }
        return new ModelStep() {
            public int width() {
                return k + 1; // the shares, then the winner's index
            }

            public List<Object> categories() {
                return categories;
            }

            public void run(Block block, double[][] out) {
                int n = block.n;
                int[][] first = new int[k][n]; // the segment that gave each category its first vote
                boolean[] voted = new boolean[k];
                for (int j = 0; j < k; j++) {
                    java.util.Arrays.fill(out[j], 0, n, 0d);
                    java.util.Arrays.fill(first[j], 0, n, Integer.MAX_VALUE);
                }
                double[] winners = out[k];
                java.util.Arrays.fill(winners, 0, n, 0d);
                double[][] part = new double[k + 1][n];
                for (int s = 0; s < parts.length; s++) {
                    parts[s].run(block, part);
                    for (int i = 0; i < n; i++) {
                        int own;
                        if (widths[s] > k) { // a tree: the category its node's score names
                            double named = part[k][i];
                            own = Double.isNaN(named) ? -1 : (int) named;
                        } else { // the first maximum of its distribution
                            own = 0;
                            for (int j = 0; j < k && own >= 0; j++) {
                                double p = part[j][i];
                                if (Double.isNaN(p)) {
                                    own = -1;
                                } else if (Double.compare(p, part[own][i]) > 0) {
                                    own = j;
                                }
                            }
                        }
                        if (own < 0) {
                            winners[i] = Double.NaN; // no prediction: deferred
                            continue;
                        }
                        int j = (perms[s] == null) ? own : perms[s][own];
                        out[j][i] = PlanArith.add(single, out[j][i], weights[s]);
                        if (first[j][i] == Integer.MAX_VALUE) {
                            first[j][i] = s;
                        }
                    }
                }
                int[] order = new int[k];
                for (int i = 0; i < n; i++) {
                    if (Double.isNaN(winners[i])) {
                        for (int j = 0; j < k; j++) {
                            out[j][i] = Double.NaN;
                        }
                        continue;
                    }
                    // the categories that got a vote, in the order of their first votes
                    int m = 0;
                    for (int j = 0; j < k; j++) {
                        if (first[j][i] != Integer.MAX_VALUE) {
                            int at = m++;
                            while (at > 0 && first[order[at - 1]][i] > first[j][i]) {
                                order[at] = order[at - 1];
                                at--;
                            }
                            order[at] = j;
                        }
                    }
                    double total = 0d;
                    for (int q = 0; q < m; q++) {
                        total = (q == 0) ? out[order[q]][i] : PlanArith.add(single, total, out[order[q]][i]);
                    }
                    if (total == 0d) {
                        winners[i] = Double.NaN; // the evaluator's UndefinedResultException
                        for (int j = 0; j < k; j++) {
                            out[j][i] = Double.NaN;
                        }
                        continue;
                    }
                    if (total != 1d) {
                        for (int q = 0; q < m; q++) {
                            out[order[q]][i] = PlanArith.div(single, out[order[q]][i], total);
                        }
                    }
                    int winner = order[0];
                    for (int q = 1; q < m; q++) {
                        if (Double.compare(out[order[q]][i], out[winner][i]) > 0) {
                            winner = order[q];
                        }
                    }
                    winners[i] = winner;
                }
            }
        };
    }

    /** The average of the segments' probability distributions (ProbabilityAggregator:
     * each category's sum from 0 in segment order, divided by the segment count). */
    static ModelStep averageDistribution(PlanCompiler c, MiningModel model, List<Segment> segments, PlanCompiler.Scope scope) throws Unsupported {
        boolean single = PlanArith.single(model);
        if (c.target(model) != null) {
            throw new Unsupported("Targets on a classification");
        }
        for (Segment segment : segments) {
            if (segment.getWeight().doubleValue() != 1d) {
                throw new Unsupported("a weighted Segment in an average of distributions");
            }
        }
        ModelStep[] parts = new ModelStep[segments.size()];
        int[][] perms = new int[parts.length][]; // a segment's category j is the average's perms[s][j]
        List<Object> categories = classifications(c, model, segments, scope, parts, perms);
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
                    if (perms[s] == null && parts[s].accumulate(block, out, single)) {
                        continue;
                    }
                    parts[s].run(block, part);
                    for (int c = 0; c < k; c++) {
                        double[] total = out[(perms[s] == null) ? c : perms[s][c]];
                        double[] values = part[c];
                        for (int i = 0; i < block.n; i++) {
                            // NaN (no distribution): deferred
                            total[i] = PlanArith.add(single, total[i], values[i]);
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
                        out[c][i] = PlanArith.div(single, out[c][i], size);
                    }
                }
            }
        };
    }

    /** A model chain: each segment but the last feeds its predicted value, through an
     * OutputField, to the next. */
    static ModelStep chain(PlanCompiler c, MiningModel model, List<Segment> segments, PlanCompiler.Scope scope) throws Unsupported {
        if (c.target(model) != null) {
            throw new Unsupported("Targets on a model chain");
        }
        PlanCompiler.Scope chainScope = c.new Scope(scope);
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
            feeders.add(c.model(inner, c.scope(chainScope, inner), DataType.DOUBLE));
            feederSingle.add(PlanArith.single(inner));
            int slot = c.numericSlots++;
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
        // the feeders' c.steps run in the block before the last model reads their slots
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
        c.steps.add(block -> {
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
        return c.model(last, c.scope(chainScope, last), c.targetDataType(last));
    }
}
