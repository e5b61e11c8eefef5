package pmmlkit.bridge;

import java.io.ByteArrayInputStream;
import java.util.HashMap;
import java.util.Map;

import org.dmg.pmml.DataDictionary;
import org.dmg.pmml.DataField;
import org.dmg.pmml.MiningField;
import org.dmg.pmml.MiningSchema;
import org.dmg.pmml.PMML;
import org.jpmml.evaluator.FieldValue;
import org.jpmml.evaluator.InputField;
import org.jpmml.model.PMMLUtil;
import org.pmml4s.model.Model;

/**
 * Row scorer over a PMML4S {@link Model}. {@code outputIndex[j]} is the index in PMML4S's
 * output row of pmmlkit's output column j.
 *
 * PMML4S reads unparseable or invalid values as missing and scores them; so each input is
 * first prepared by JPMML-Evaluator's input rules for the same document (its DataField and
 * MiningField), and PMML4S scores the prepared values. A value those rules refuse fails the
 * row, as it would with JPMML-Evaluator. Without the rules (a document JPMML cannot even
 * read), values go to PMML4S as given.
 */
public final class Pmml4sScorer implements RowScorer {

    private final Model model;
    private final String[] inputNames;
    private final int[] outputIndex;
    private final InputField[] inputFields;

    public Pmml4sScorer(Model model, int[] outputIndex, InputField[] inputFields) {
        this.model = model;
        this.inputNames = model.inputNames();
        this.outputIndex = outputIndex;
        this.inputFields = inputFields;
    }

    /**
     * JPMML-Evaluator's input fields of the document's first model, in {@code names} order
     * (null where a name has no DataField and MiningField), or null when JPMML cannot read the
     * document.
     */
    public static InputField[] inputFields(byte[] pmml, String[] names) {
        PMML document;
        try {
            document = PMMLUtil.unmarshal(new ByteArrayInputStream(pmml));
        } catch (Exception e) {
            return null;
        }
        Map<String, DataField> dataFields = new HashMap<>();
        DataDictionary dictionary = document.getDataDictionary();
        if (dictionary != null && dictionary.hasDataFields()) {
            for (DataField field : dictionary.getDataFields()) {
                dataFields.put(field.getName(), field);
            }
        }
        Map<String, MiningField> miningFields = new HashMap<>();
        if (!document.hasModels()) {
            return null;
        }
        MiningSchema schema = document.getModels().get(0).getMiningSchema();
        if (schema != null && schema.hasMiningFields()) {
            for (MiningField field : schema.getMiningFields()) {
                miningFields.put(field.getName(), field);
            }
        }
        InputField[] out = new InputField[names.length];
        for (int i = 0; i < names.length; i++) {
            DataField dataField = dataFields.get(names[i]);
            MiningField miningField = miningFields.get(names[i]);
            if (dataField == null || miningField == null) {
                return null;
            }
            out[i] = new InputField(dataField, miningField);
        }
        return out;
    }

    @Override
    public String[] inputNames() {
        return inputNames;
    }

    @Override
    public Object[] score(Object[] row) {
        Object[] values = row;
        if (inputFields != null) {
            values = new Object[row.length];
            for (int i = 0; i < row.length; i++) {
                values[i] = forPmml4s(Inputs.prepare(inputFields[i], row[i]));
            }
        }
        Object[] result = model.predict(values);
        Object[] out = new Object[outputIndex.length];
        for (int j = 0; j < outputIndex.length; j++) {
            out[j] = result[outputIndex[j]];
        }
        return out;
    }

    @Override
    public FieldProblem[] diagnose(Object[] row) {
        return (inputFields == null) ? new FieldProblem[0] : Inputs.checkAll(inputFields, row);
    }

    /** A prepared value as PMML4S reads it: numbers as Double, the rest as PMML text. */
    private static Object forPmml4s(FieldValue value) {
        if (value == null) {
            return null;
        }
        Object plain = value.getValue();
        if (plain instanceof Number) {
            return ((Number) plain).doubleValue();
        }
        return org.jpmml.evaluator.TypeUtil.format(plain);
    }
}
