package pmmlkit.bridge;

import org.dmg.pmml.MathContext;
import org.dmg.pmml.Model;

/**
 * The evaluator's arithmetic on model values ({@code DoubleValue}, or {@code FloatValue}
 * where a model declares {@code mathContext="float"}: each operand rounded to float and
 * each operation in float). Values are held as doubles; a float one exactly.
 */
final class PlanArith {

    private PlanArith() {
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

    /** Whether a model computes in floats ({@code mathContext="float"}). */
    static boolean single(Model model) {
    return model.getMathContext() == MathContext.FLOAT;
    }
}
