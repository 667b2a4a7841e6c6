namespace MedAiNode.Dicom;

/// <summary>A PN value: up to three component groups (alphabetic, ideographic, phonetic), each with five components.</summary>
public sealed record DicomPersonName(string Alphabetic, string Ideographic = "", string Phonetic = "")
{
    public static DicomPersonName Parse(string value)
    {
        var groups = value.Split('=');
        return new DicomPersonName(groups[0], groups.Length > 1 ? groups[1] : "", groups.Length > 2 ? groups[2] : "");
    }

    public static DicomPersonName FromComponents(string family, string given = "", string middle = "", string prefix = "", string suffix = "") =>
        new(string.Join('^', new[] { family, given, middle, prefix, suffix }).TrimEnd('^'));

    private static string Component(string group, int index)
    {
        var parts = group.Split('^');
        return index < parts.Length ? parts[index] : "";
    }

    public string FamilyName => Component(Alphabetic, 0);
    public string GivenName => Component(Alphabetic, 1);
    public string MiddleName => Component(Alphabetic, 2);
    public string Prefix => Component(Alphabetic, 3);
    public string Suffix => Component(Alphabetic, 4);

    public override string ToString() =>
        Phonetic.Length > 0 ? $"{Alphabetic}={Ideographic}={Phonetic}"
        : Ideographic.Length > 0 ? $"{Alphabetic}={Ideographic}"
        : Alphabetic;
}
