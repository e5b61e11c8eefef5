package pmmlkit.bridge;

/**
 * Why an evaluator refuses one input value: the input's position (in the scorer's input
 * order), a {@link #kind} and the evaluator's own message.
 */
public final class FieldProblem {

    /** The field cannot take a missing value (missingValueTreatment="returnInvalid"). */
    public static final int MISSING = 1;
    /** The value has the field's type but is not one of its valid values or ranges. */
    public static final int INVALID = 2;
    /** The value cannot be read as the field's data type. */
    public static final int TYPE = 3;
    /** Anything else the evaluator refused the value for. */
    public static final int OTHER = 4;

    public final int field;
    public final int kind;
    public final String text;

    public FieldProblem(int field, int kind, String text) {
        this.field = field;
        this.kind = kind;
        this.text = text;
    }
}
