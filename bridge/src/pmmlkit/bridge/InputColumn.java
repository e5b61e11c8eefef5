package pmmlkit.bridge;

/**
 * One input column of a chunk, as pmmlkit hands it to an evaluator: typed numbers
 * ({@code numbers}, NaN = missing) and/or codes into a dictionary of raw values
 * ({@code codes[i] >= 0} picks {@code values[codes[i]]}: a String, Double, Long or Boolean).
 *
 * A row's value is its dictionary value when it has a code, else its number, else missing
 * (null). Numbers carry what needs no parsing; everything the evaluator must parse itself
 * (text the fast path cannot read exactly as the evaluator would) travels as a raw value.
 */
public final class InputColumn {

    private final double[] numbers;
    private final int[] codes;
    private final Object[] values;

    public InputColumn(double[] numbers, int[] codes, Object[] values) {
        if (codes != null && values == null) {
            throw new IllegalArgumentException("codes without values");
        }
        this.numbers = numbers;
        this.codes = codes;
        this.values = values;
    }

    double[] numbers() {
        return numbers;
    }

    int[] codes() {
        return codes;
    }

    Object[] values() {
        return values;
    }

    /** The raw value of row {@code i}: null when missing. */
    public Object get(int i) {
        if (codes != null) {
            int code = codes[i];
            if (code >= 0) {
                return values[code];
            }
        }
        if (numbers != null) {
            double value = numbers[i];
            return Double.isNaN(value) ? null : (Object) value;
        }
        return null;
    }
}
