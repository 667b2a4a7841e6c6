namespace MedAiNode.Dicom;

/// <summary>A coded concept (PS3.3 Table 8.8-1 Code Sequence Macro): value, coding scheme designator and meaning.</summary>
public sealed record CodedConcept(string Value, string Scheme, string Meaning)
{
    /// <summary>A sequence item holding this code; long URN/URL values go to LongCodeValue/URNCodeValue as PS3.3 8.8 asks.</summary>
    public DicomDataset ToItem()
    {
        if (string.IsNullOrWhiteSpace(Value) || string.IsNullOrWhiteSpace(Scheme) || string.IsNullOrWhiteSpace(Meaning))
            throw new ArgumentException($"Code ({Value}, {Scheme}, \"{Meaning}\") needs a value, a scheme and a meaning.");
        var item = new DicomDataset();
        if (Value.Length <= 16) item.Set(DicomTags.CodeValue, Value);
        else if (Value.Contains(':')) item.Set(DicomTags.URNCodeValue, Value);
        else item.Set(DicomTags.LongCodeValue, Value);
        item.Set(DicomTags.CodingSchemeDesignator, Scheme);
        item.Set(DicomTags.CodeMeaning, Meaning.Length > 64 ? Meaning[..64] : Meaning);
        return item;
    }

    public static CodedConcept? FromItem(DicomDataset? item)
    {
        if (item is null) return null;
        var value = item.GetString(DicomTags.CodeValue) ?? item.GetString(DicomTags.LongCodeValue) ?? item.GetString(DicomTags.URNCodeValue);
        if (string.IsNullOrEmpty(value)) return null;
        return new CodedConcept(value, item.GetStringOrDefault(DicomTags.CodingSchemeDesignator), item.GetStringOrDefault(DicomTags.CodeMeaning));
    }

    public static CodedConcept? FromSequence(DicomDataset ds, DicomTag tag) =>
        ds.GetSequence(tag) is { Items.Count: > 0 } s ? FromItem(s.Items[0]) : null;

    public override string ToString() => $"({Value}, {Scheme}, \"{Meaning}\")";
}
