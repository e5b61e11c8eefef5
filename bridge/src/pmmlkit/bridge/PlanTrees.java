package pmmlkit.bridge;

import java.util.ArrayList;
import java.util.List;

import org.dmg.pmml.DataType;
import org.dmg.pmml.False;
import org.dmg.pmml.MiningFunction;
import org.dmg.pmml.PMML;
import org.dmg.pmml.Predicate;
import org.dmg.pmml.SimplePredicate;
import org.dmg.pmml.Target;
import org.dmg.pmml.Targets;
import org.dmg.pmml.True;
import org.dmg.pmml.tree.Node;
import org.dmg.pmml.tree.TreeModel;
import org.jpmml.evaluator.TypeUtil;

import pmmlkit.bridge.Plan.Block;
import pmmlkit.bridge.Plan.ModelStep;
import pmmlkit.bridge.Plan.Sym;
import pmmlkit.bridge.Plan.Unsupported;

import static pmmlkit.bridge.Plan.indexOf;
import static pmmlkit.bridge.Plan.targetType;

/** The plan of a {@code TreeModel}: binary steps walked level by level over a block
 * ({@link Compact}), else flat node arrays walked per row. */
final class PlanTrees {

    private PlanTrees() {
    }

    /** A tree: a regression tree's node score, or a classification tree's node
     * distribution (in its ScoreDistribution order). */
    static ModelStep tree(PlanCompiler c, TreeModel model, PlanCompiler.Scope scope) throws Unsupported {
        boolean single = PlanArith.single(model);
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
        // where a test meets a missing number: the level-by-level walk follows the
        // missingValueStrategy (none, nullPrediction, lastPrediction, defaultChild); the
        // node-by-node walk defers such rows to the evaluator
        int missing;
        switch (model.getMissingValueStrategy()) {
            case NONE: missing = Compact.NONE; break;
            case NULL_PREDICTION: missing = Compact.NULL; break;
            case LAST_PREDICTION: missing = Compact.LAST; break;
            case DEFAULT_CHILD: missing = Compact.DEFAULT; break;
            default: missing = -1; break;
        }
        if (model.getMissingValuePenalty() != null && model.getMissingValuePenalty().doubleValue() != 1d) {
            missing = -1; // the penalty scales a classification's confidence: deferred
        }
        Target target = c.target(model);
        if (classification && target != null) {
            throw new Unsupported("Targets on a classification tree");
        }
        Flat flat = new Flat(classification ? c.targetDataType(model) : null, single);
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
        Compact compact = (missing < 0) ? null : Compact.of(first, count, kind, slot, threshold,
                flat.toInts(flat.categoryCount), scored, lastPrediction, c.treeTable, missing,
                flat.defaultChildren());
        // the numbers the node-by-node walk reads: a row missing one is deferred
        int[] numberSlots = java.util.stream.IntStream.range(0, kind.length)
                .filter(i -> kind[i] >= Flat.LESS_THAN && kind[i] <= Flat.NOT_EQUAL)
                .map(i -> slot[i]).distinct().toArray();
        c.trees++;
        c.levelTrees += (compact != null) ? 1 : 0;
        // per step of the compact form, the leaf's results (NaN: none, or a test), so that a
        // sum of trees adds them straight from the walk: a regression's score, or (rows
        // first) a classification's distribution, all NaN where the node has no
        // distribution or no score (either fails the row in run)
        double[] stepScore = null;
        double[][] stepDistribution = null;
        if (compact != null) {
            int steps = compact.leafOf.length;
            if (classification) {
                stepDistribution = new double[k][steps];
            } else {
                stepScore = new double[steps];
            }
            for (int step = 0; step < steps; step++) {
                int node = compact.leafOf[step];
                if (!classification) {
                    stepScore[step] = (node < 0) ? Double.NaN : score[node];
                    continue;
                }
                double[] distribution = (node < 0) ? null : distributions[node];
                boolean none = distribution == null || Double.isNaN(named[node]);
                for (int cat = 0; cat < k; cat++) {
                    stepDistribution[cat][step] = none ? Double.NaN : distribution[cat];
                }
            }
        }
        double[] leafScore = stepScore;
        double[][] leafDistribution = stepDistribution;
        ModelStep walk = new ModelStep() {
            public Compact compact() {
                return classification ? null : compact;
            }

            public double[] leafScores() {
                return leafScore;
            }

            public boolean accumulate(Block block, double[][] totals, boolean sum) {
                if (compact == null) {
                    return false;
                }
                int[] at = compact.walk(block);
                if (!classification) {
                    double[] total = totals[0];
                    for (int i = 0; i < block.n; i++) {
                        total[i] = PlanArith.add(sum, total[i], leafScore[at[i]]);
                    }
                    return true;
                }
                for (int cat = 0; cat < k; cat++) {
                    double[] total = totals[cat];
                    double[] values = leafDistribution[cat];
                    for (int i = 0; i < block.n; i++) {
                        total[i] = PlanArith.add(sum, total[i], values[at[i]]);
                    }
                }
                return true;
            }

            public int width() {
                return width;
            }

            public List<Object> categories() {
                return treeCategories;
            }

            public void run(Block block, double[][] out) {
                double[][] numbers = block.numbers;
                int[][] codes = block.codes;
                int[] leaves = (compact != null) ? compact.leaves(block) : new int[block.n];
                for (int k = 0; compact == null && k < numberSlots.length; k++) {
                    double[] values = numbers[numberSlots[k]];
                    for (int i = 0; i < block.n; i++) {
                        if (Double.isNaN(values[i])) {
                            block.deferred[i] = true;
                        }
                    }
                }
                for (int i = 0; compact == null && i < block.n; i++) {
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
        return classification ? walk : PlanCompiler.withTarget(walk, target, single);
    }

    /**
     * The values the level-by-level trees test, row by row: for each block, one row-major
     * table of the numbers they compare and of a 0/1 column per category set they test, so
     * that every test is "x &lt;= t" on one entry and a row's values sit together.
     */
    static final class Table {
        private final List<Integer> numbers = new ArrayList<>();
        private final java.util.Map<Integer, Integer> numberColumn = new java.util.HashMap<>();
        private final List<int[]> sets = new ArrayList<>();
        private final List<Long> members = new ArrayList<>();
        private final java.util.Map<String, Integer> setColumn = new java.util.HashMap<>();
        private int width;
        // filled when compiling is over (Plan.build), before any thread scores
        private int[] numberSlots;
        private int[] setSlots;
        private long[] setMembers;

        int number(int slot) {
            Integer known = numberColumn.get(slot);
            if (known == null) {
                known = width++;
                numberColumn.put(slot, known);
                numbers.add(known);
                numbers.add(slot);
            }
            return known;
        }

        /** A column of 1 where the category (a code slot's code) is one of {@code bits}. */
        int set(int slot, long bits) {
            String key = slot + ":" + bits;
            Integer known = setColumn.get(key);
            if (known == null) {
                known = width++;
                setColumn.put(key, known);
                sets.add(new int[] {known, slot});
                members.add(bits);
            }
            return known;
        }

        int width() {
            return width;
        }

        void freeze() {
            int[] n = new int[numbers.size()];
            for (int i = 0; i < n.length; i++) {
                n[i] = numbers.get(i);
            }
            int[] c = new int[sets.size() * 2];
            long[] m = new long[sets.size()];
            for (int k = 0; k < sets.size(); k++) {
                c[2 * k] = sets.get(k)[0];
                c[2 * k + 1] = sets.get(k)[1];
                m[k] = members.get(k);
            }
            setSlots = c;
            setMembers = m;
            numberSlots = n;
        }

        /** The block's table, built on its first use. */
        double[] of(Block block) {
            if (block.table != null) {
                return block.table;
            }
            int n = block.n;
            int w = width;
            double[] table = new double[n * w];
            int[] numberPairs = numberSlots;
            for (int k = 0; k < numberPairs.length; k += 2) {
                int column = numberPairs[k];
                double[] source = block.numbers[numberPairs[k + 1]];
                for (int i = 0, at = column; i < n; i++, at += w) {
                    table[at] = source[i];
                }
            }
            int[] setPairs = setSlots;
            long[] bits = setMembers;
            for (int k = 0; k < bits.length; k++) {
                int column = setPairs[2 * k];
                int[] codes = block.codes[setPairs[2 * k + 1]];
                long set = bits[k];
                // a code below 0 is a deferred row: its entry is never used
                for (int i = 0, at = column; i < n; i++, at += w) {
                    table[at] = (double) ((set >>> codes[i]) & 1L);
                }
            }
            block.table = table;
            return table;
        }
    }

    /**
     * A tree as binary tests, one comparison each ("x &lt;= t" on an entry of the block's
     * {@link Table}). A node's children become a chain of tests in their order: the first
     * that holds leads into its child, the last that fails to the node's own result (its
     * score under returnLastPrediction, else none), as the evaluator chooses. A test's two
     * outcomes are adjacent, the one where "x &lt;= t" holds first, so a step is
     * {@code base + (x > t ? 1 : 0)}. It is walked one level at a time over all rows of a
     * block, so that rows advance side by side instead of one row's chain of dependent loads
     * at a time; a leaf is its own next step (its threshold is +Infinity).
     */
    static final class Compact {
        /** missingValueStrategy: what a test meeting a missing number leads to. */
        static final int NONE = 0, NULL = 1, LAST = 2, DEFAULT = 3;
        /** Per step: where a row whose tested value is missing (NaN) goes. */
        final int[] miss;
        /** Per step, side by side (one cache line a step): its table column (low 20 bits)
         * and its first outcome (the rest), then its threshold's bits. */
        final long[] packed;
        /** A leaf's node in the tree (-1: no prediction); -2 for a test. */
        final int[] leafOf;
        final int root;
        final int depth;
        final Table table;

        private Compact(Builder b, Table table) {
            int n = b.column.size();
            this.packed = new long[2 * n];
            this.leafOf = new int[n];
            this.miss = new int[n];
            for (int i = 0; i < n; i++) {
                leafOf[i] = b.leafOf.get(i);
                boolean test = leafOf[i] == -2;
                miss[i] = test ? b.miss.get(i) : i;
                long base = test ? b.base.get(i) : i;
                long column = test ? b.column.get(i) : 0;
                packed[2 * i] = (base << 20) | column;
                packed[2 * i + 1] = Double.doubleToRawLongBits(
                        test ? b.threshold.get(i) : Double.POSITIVE_INFINITY);
            }
            // the most steps from the root to a leaf, a missing value's way included (a
            // subtree it leads to may also be reached another way)
            int[] below = new int[n];
            java.util.Arrays.fill(below, -1);
            this.root = 0;
            this.depth = height(0, b, below);
            this.table = table;
        }

        private static int height(int step, Builder b, int[] below) {
            if (below[step] >= 0) {
                return below[step];
            }
            int h = 0;
            if (b.leafOf.get(step) == -2) {
                int base = b.base.get(step);
                h = 1 + Math.max(Math.max(height(base, b, below), height(base + 1, b, below)),
                        height(b.miss.get(step), b, below));
            }
            below[step] = h;
            return h;
        }

        /** The compact form, or null where a test is not one comparison. */
        static Compact of(int[] first, int[] count, int[] kind, int[] slot, double[] threshold,
                int[] categoryCount, boolean[] scored, boolean lastPrediction, Table table,
                int missing, int[] defaultChild) {
            Builder b = new Builder(first, count, kind, slot, threshold, categoryCount, scored, lastPrediction);
            b.missing = missing;
            b.defaultChild = defaultChild;
            try {
                b.entry(b.add(), 0);
            } catch (Unsupported e) {
                return null;
            }
            if (b.column.size() >= (1 << 30)) {
                return null;
            }
            for (int i = 0; i < b.kind.size(); i++) {
                if (b.leafOf.get(i) == -2) {
                    int k = b.kind.get(i);
                    b.column.set(i, (k == Flat.IN) ? table.set(~b.column.get(i), b.members.get(i))
                            : table.number(b.column.get(i)));
                }
            }
            return new Compact(b, table);
        }

        private static final class Builder {
            final int[] first, count, nodeKind, nodeSlot, categoryCount;
            final double[] nodeThreshold;
            final boolean[] scored;
            final boolean lastPrediction;
            /** Per step: a number's slot or ~ a category's slot (then a table column). */
            final List<Integer> column = new ArrayList<>();
            final List<Integer> kind = new ArrayList<>();
            final List<Double> threshold = new ArrayList<>();
            final List<Long> members = new ArrayList<>();
            final List<Integer> base = new ArrayList<>();
            final List<Integer> leafOf = new ArrayList<>();
            final List<Integer> miss = new ArrayList<>();
            /** The step where each node's entry was built (-1: not yet). */
            final java.util.Map<Integer, Integer> built = new java.util.HashMap<>();
            int missing;
            int[] defaultChild;

            Builder(int[] first, int[] count, int[] kind, int[] slot, double[] threshold,
                    int[] categoryCount, boolean[] scored, boolean lastPrediction) {
                this.first = first;
                this.count = count;
                this.nodeKind = kind;
                this.nodeSlot = slot;
                this.nodeThreshold = threshold;
                this.categoryCount = categoryCount;
                this.scored = scored;
                this.lastPrediction = lastPrediction;
            }

            int add() {
                column.add(0);
                kind.add(-1);
                threshold.add(0d);
                members.add(0L);
                base.add(-1);
                leafOf.add(-1);
                miss.add(-1);
                return leafOf.size() - 1;
            }

            /** A new leaf step: {@code node}'s result (-1: none, the evaluator decides). */
            private int leafStep(int node) {
                int at = add();
                leafOf.set(at, node);
                return at;
            }

            /** Step {@code at}: where a row that has reached {@code node} goes. */
            void entry(int at, int node) throws Unsupported {
                built.putIfAbsent(node, at);
                if (count[node] == 0) {
                    leafOf.set(at, node);
                } else {
                    chain(at, node, first[node]);
                }
            }

            /** Step {@code at}: child {@code c} of {@code node} tested, its later siblings
             * after it. */
            private void chain(int at, int node, int c) throws Unsupported {
                int end = first[node] + count[node];
                if (c == end) {
                    leafOf.set(at, (lastPrediction && scored[node]) ? node : -1);
                    return;
                }
                if (nodeKind[c] == Flat.TRUE) {
                    entry(at, c);
                    return;
                }
                if (nodeKind[c] == Flat.FALSE) {
                    chain(at, node, c + 1);
                    return;
                }
                leafOf.set(at, -2);
                boolean holdsLow = compare(at, c);
                int low = add();
                add();
                base.set(at, low);
                int yes = holdsLow ? low : low + 1;
                int no = holdsLow ? low + 1 : low;
                entry(yes, c);
                // the last sibling's test, the complement of this one, always holds where
                // this one does not (a missing value fails both)
                boolean complement = c + 2 == end && complements(c, c + 1);
                if (complement) {
                    entry(no, c + 1);
                } else {
                    chain(no, node, c + 1);
                }
                miss.set(at, missed(node, c, yes, no, complement));
            }

            /** Where a missing value at child c's test goes (ComplexTreeModelEvaluator's
             * handleMissingValue): on to the next sibling (none), no prediction, the node's
             * own (lastPrediction: the evaluator decides when it has no score), or the
             * node's default child, its predicate not evaluated. */
            private int missed(int node, int c, int yes, int no, boolean complement) throws Unsupported {
                switch (missing) {
                    case NONE:
                        // the complement tests the same value, missing too: no child holds
                        return complement ? leafStep((lastPrediction && scored[node]) ? node : -1) : no;
                    case NULL:
                        return leafStep(-1);
                    case LAST:
                        return leafStep(scored[node] ? node : -1);
                    default: {
                        int d = defaultChild[node];
                        if (d < 0) {
                            return leafStep(-1);
                        }
                        if (d == c) {
                            return yes;
                        }
                        Integer known = built.get(d);
                        if (known != null) {
                            return known;
                        }
                        int target = add();
                        entry(target, d);
                        return target;
                    }
                }
            }

            /** Child c's predicate as step {@code at}; whether the predicate holds where
             * "x &lt;= t" does. */
            private boolean compare(int at, int c) throws Unsupported {
                double t = nodeThreshold[c];
                // x < t is x <= nextDown(t), x >= t its negation, x > t that of x <= t
                // (IEEE's order, the evaluator's here: see holds)
                switch (nodeKind[c]) {
                    case Flat.LESS_OR_EQUAL:
                    case Flat.GREATER_THAN:
                        column.set(at, nodeSlot[c]);
                        threshold.set(at, t);
                        kind.set(at, Flat.LESS_OR_EQUAL);
                        return nodeKind[c] == Flat.LESS_OR_EQUAL;
                    case Flat.LESS_THAN:
                    case Flat.GREATER_OR_EQUAL:
                        column.set(at, nodeSlot[c]);
                        threshold.set(at, Math.nextDown(t));
                        kind.set(at, Flat.LESS_OR_EQUAL);
                        return nodeKind[c] == Flat.LESS_THAN;
                    case Flat.IS:
                    case Flat.IS_NOT:
                    case Flat.IN:
                    case Flat.NOT_IN: {
                        // codes index a long's bits: at most 64 categories; the table's
                        // column is 1 for a member: "x <= 0.5" holds for the others
                        if (categoryCount[c] > 64) {
                            throw new Unsupported("more than 64 categories");
                        }
                        long bits;
                        if (nodeKind[c] == Flat.IS || nodeKind[c] == Flat.IS_NOT) {
                            int code = (int) t;
                            bits = (code < 0) ? 0L : 1L << code;
                        } else {
                            bits = Double.doubleToRawLongBits(t);
                        }
                        column.set(at, ~nodeSlot[c]);
                        members.set(at, bits);
                        threshold.set(at, 0.5d);
                        kind.set(at, Flat.IN);
                        return nodeKind[c] == Flat.IS_NOT || nodeKind[c] == Flat.NOT_IN;
                    }
                    default:
                        throw new Unsupported("an equality test on a number");
                }
            }

            /** Two tests that are each other's negation on every value a computed row has. */
            private boolean complements(int a, int b) {
                if (nodeSlot[a] != nodeSlot[b]
                        || Double.doubleToRawLongBits(nodeThreshold[a]) != Double.doubleToRawLongBits(nodeThreshold[b])) {
                    return false;
                }
                int x = nodeKind[a];
                int y = nodeKind[b];
                return (x == Flat.LESS_OR_EQUAL && y == Flat.GREATER_THAN) || (x == Flat.GREATER_THAN && y == Flat.LESS_OR_EQUAL)
                        || (x == Flat.LESS_THAN && y == Flat.GREATER_OR_EQUAL) || (x == Flat.GREATER_OR_EQUAL && y == Flat.LESS_THAN)
                        || (x == Flat.IS && y == Flat.IS_NOT) || (x == Flat.IS_NOT && y == Flat.IS)
                        || (x == Flat.IN && y == Flat.NOT_IN) || (x == Flat.NOT_IN && y == Flat.IN);
            }
        }

        /** Each row's leaf: its node in the tree, or -1 where there is no prediction. */
        int[] leaves(Block block) {
            int[] at = walk(block);
            int[] out = new int[block.n];
            for (int i = 0; i < block.n; i++) {
                out[i] = leafOf[at[i]];
            }
            return out;
        }

        /**
         * Adds the leaf scores of two regression trees walked side by side to {@code total},
         * this tree's first, then {@code other}'s (the sum's order): each level steps both
         * trees for a row, twice the independent work per pass.
         */
        void sumTwo(Block block, double[] scores, Compact other, double[] otherScores,
                double[] total, boolean single) {
            int n = block.n;
            int[] at = block.steps;
            int[] at2 = block.steps2();
            java.util.Arrays.fill(at, 0, n, root);
            java.util.Arrays.fill(at2, 0, n, other.root);
            double[] values = table.of(block);
            int w = table.width();
            long[] packed = this.packed;
            long[] packed2 = other.packed;
            // a leaf is its own next step: the shallower tree waits at its leaves
            int levels = Math.max(depth, other.depth);
            int[] miss = this.miss;
            int[] miss2 = other.miss;
            for (int d = 0; d < levels; d++) {
                for (int i = 0, row = 0; i < n; i++, row += w) {
                    int a = at[i];
                    int a2 = at2[i];
                    long m = packed[a << 1];
                    long m2 = packed2[a2 << 1];
                    double x = values[row + (int) (m & 0xFFFFF)];
                    double x2 = values[row + (int) (m2 & 0xFFFFF)];
                    int next = (int) (m >>> 20) + (x > Double.longBitsToDouble(packed[(a << 1) + 1]) ? 1 : 0);
                    int next2 = (int) (m2 >>> 20) + (x2 > Double.longBitsToDouble(packed2[(a2 << 1) + 1]) ? 1 : 0);
                    at[i] = (x != x) ? miss[a] : next;
                    at2[i] = (x2 != x2) ? miss2[a2] : next2;
                }
            }
            for (int i = 0; i < n; i++) {
                total[i] = PlanArith.add(single, PlanArith.add(single, total[i], scores[at[i]]),
                        otherScores[at2[i]]);
            }
        }

        /** Each row's last step (a leaf of this form), in the block's scratch array. */
        int[] walk(Block block) {
            int n = block.n;
            int[] at = block.steps;
            java.util.Arrays.fill(at, 0, n, root);
            double[] values = table.of(block);
            int w = table.width();
            long[] packed = this.packed;
            int[] miss = this.miss;
            for (int d = 0; d < depth; d++) {
                for (int i = 0, row = 0; i < n; i++, row += w) {
                    int at0 = at[i];
                    int step = at0 << 1;
                    long m = packed[step];
                    double x = values[row + (int) (m & 0xFFFFF)];
                    int next = (int) (m >>> 20) + (x > Double.longBitsToDouble(packed[step + 1]) ? 1 : 0);
                    at[i] = (x != x) ? miss[at0] : next;
                }
            }
            return at;
        }
    }

    /** One predicate as a Flat test: its kind, the slot it reads, its threshold (a category's
     * index, or a set of them as a double's bits) and the field's category count. */
    static final class Test {
        final int kind;
        final int slot;
        final double threshold;
        final int categories;

        Test(int kind, int slot, double threshold, int categories) {
            this.kind = kind;
            this.slot = slot;
            this.threshold = threshold;
            this.categories = categories;
        }

        /** Whether it reads a number (else a category, or nothing). */
        boolean numeric() {
            return kind >= Flat.LESS_THAN && kind <= Flat.NOT_EQUAL;
        }
    }

    /** True, False, one comparison of a field, or a set of categories, as a {@link Test}. */
    static Test test(Predicate predicate, PlanCompiler.Scope scope) throws Unsupported {
        if (predicate instanceof True) {
            return new Test(Flat.TRUE, 0, 0d, 0);
        }
        if (predicate instanceof False) {
            return new Test(Flat.FALSE, 0, 0d, 0);
        }
        if (predicate instanceof org.dmg.pmml.SimpleSetPredicate) {
            return setTest((org.dmg.pmml.SimpleSetPredicate) predicate, scope);
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
                case LESS_THAN: k = Flat.LESS_THAN; break;
                case LESS_OR_EQUAL: k = Flat.LESS_OR_EQUAL; break;
                case GREATER_THAN: k = Flat.GREATER_THAN; break;
                case GREATER_OR_EQUAL: k = Flat.GREATER_OR_EQUAL; break;
                case EQUAL: k = Flat.EQUAL; break;
                case NOT_EQUAL: k = Flat.NOT_EQUAL; break;
                default: throw new Unsupported("SimplePredicate@operator=" + operator.value());
            }
            Number value = (Number) TypeUtil.parseOrCast(sym.dataType, simple.requireValue());
            return new Test(k, sym.slot, value.doubleValue(), 0);
        }
        if (operator != SimplePredicate.Operator.EQUAL && operator != SimplePredicate.Operator.NOT_EQUAL) {
            throw new Unsupported("SimplePredicate@operator=" + operator.value() + " on a categorical field");
        }
        int at = indexOf(sym.categories, simple.requireValue(), sym.dataType);
        // -1: a category no row has, never equal
        return new Test(operator == SimplePredicate.Operator.EQUAL ? Flat.IS : Flat.IS_NOT, sym.slot,
                at, sym.categories.size());
    }

    /** isIn / isNotIn on a categorical field: a bit set of its categories. */
    private static Test setTest(org.dmg.pmml.SimpleSetPredicate predicate, PlanCompiler.Scope scope) throws Unsupported {
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
        return new Test(in ? Flat.IN : Flat.NOT_IN, sym.slot, Double.longBitsToDouble(members),
                sym.categories.size());
    }

    static boolean holds(int kind, int slot, double threshold, double[][] numbers, int[][] codes, int i) {
        switch (kind) {
            case Flat.TRUE: return true;
            case Flat.FALSE: return false;
            // the evaluator holds no negative zero (a value, input or computed, is cast with
            // TypeUtil's toDouble, a threshold parsed with its parseDouble: both turn -0 into
            // 0), so its Double.compare order is IEEE's order on the values here (never NaN)
            case Flat.LESS_THAN: return numbers[slot][i] < threshold;
            case Flat.LESS_OR_EQUAL: return numbers[slot][i] <= threshold;
            case Flat.GREATER_THAN: return numbers[slot][i] > threshold;
            case Flat.GREATER_OR_EQUAL: return numbers[slot][i] >= threshold;
            case Flat.EQUAL: return numbers[slot][i] == threshold;
            case Flat.NOT_EQUAL: return numbers[slot][i] != threshold;
            case Flat.IS: return codes[slot][i] == (int) threshold;
            case Flat.IS_NOT: return codes[slot][i] != (int) threshold;
            case Flat.IN: return ((Double.doubleToRawLongBits(threshold) >>> codes[slot][i]) & 1L) != 0;
            case Flat.NOT_IN: return ((Double.doubleToRawLongBits(threshold) >>> codes[slot][i]) & 1L) == 0;
            default: throw new IllegalStateException();
        }
    }

    /** A tree's nodes in breadth order: each node's children are consecutive. */
    static final class Flat {
        static final int TRUE = 0, FALSE = 1, LESS_THAN = 2, LESS_OR_EQUAL = 3, GREATER_THAN = 4,
                GREATER_OR_EQUAL = 5, EQUAL = 6, NOT_EQUAL = 7, IS = 8, IS_NOT = 9, IN = 10, NOT_IN = 11;
        final List<Integer> firstChild = new ArrayList<>();
        final List<Integer> childCount = new ArrayList<>();
        final List<Integer> kind = new ArrayList<>();
        final List<Integer> slot = new ArrayList<>();
        final List<Double> threshold = new ArrayList<>();
        final List<Double> score = new ArrayList<>();
        /** Each node, and its defaultChild: the child Node itself (the loaded model resolves
         * the reference), else the id as written (null: none). */
        final List<Node> nodes = new ArrayList<>();
        final List<Object> defaults = new ArrayList<>();

        /** Each node's default child (an index), -1 where it names none of its children. */
        int[] defaultChildren() {
            int[] out = new int[firstChild.size()];
            for (int node = 0; node < out.length; node++) {
                out[node] = -1;
                Object wanted = defaults.get(node);
                for (int c = firstChild.get(node), end = c + childCount.get(node); wanted != null && c < end; c++) {
                    Node child = nodes.get(c);
                    if (wanted == child || (!(wanted instanceof Node) && child.getId() != null
                            && String.valueOf(wanted).equals(String.valueOf(child.getId())))) {
                        out[node] = c;
                        break;
                    }
                }
            }
            return out;
        }

        /** A categorical test's field's category count; 0 for any other node. */
        final List<Integer> categoryCount = new ArrayList<>();
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
                values[k] = PlanArith.of(single, number.doubleValue());
                sum = PlanArith.add(single, sum, number.doubleValue());
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
                    values[k] = PlanArith.div(single, values[k], sum);
                }
            }
            return values;
        }

        void add(Node root, PlanCompiler.Scope scope) throws Unsupported {
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
                            : PlanArith.of(single, ((Number) TypeUtil.parseOrCast(DataType.DOUBLE, value)).doubleValue()));
                } else {
                    score.add((value == null) ? Double.NaN : 0d); // only whether it has one
                    scores.add((value == null) ? null : TypeUtil.parseOrCast(targetType, value));
                }
                distribution.add(distributionOf(node));
                nodes.add(node);
                defaults.add(node.getDefaultChild());
                List<Node> children = node.hasNodes() ? node.getNodes() : java.util.Collections.emptyList();
                firstChild.add(queue.size());
                childCount.add(children.size());
                queue.addAll(children);
            }
        }

        private void predicate(Predicate predicate, PlanCompiler.Scope scope) throws Unsupported {
            Test test = test(predicate, scope);
            categoryCount.add(test.categories);
            kind.add(test.kind);
            slot.add(test.slot);
            threshold.add(test.threshold);
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
}
