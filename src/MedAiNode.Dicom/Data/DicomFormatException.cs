namespace MedAiNode.Dicom;

/// <summary>Malformed DICOM input. Names the byte offset and, when known, the tag being read.</summary>
public sealed class DicomFormatException : Exception
{
    public DicomFormatException(string message, long offset = -1, DicomTag? tag = null, Exception? inner = null)
        : base(Compose(message, offset, tag), inner)
    {
        Offset = offset;
        Tag = tag;
    }

    public long Offset { get; }
    public DicomTag? Tag { get; }

    private static string Compose(string message, long offset, DicomTag? tag)
    {
        var where = (offset >= 0, tag) switch
        {
            (true, { } t) => $" (at offset {offset}, tag {t})",
            (true, null) => $" (at offset {offset})",
            (false, { } t) => $" (tag {t})",
            _ => "",
        };
        return message + where;
    }
}

/// <summary>A value that breaks the rules of its VR, refused when it is set.</summary>
public sealed class DicomValidationException : ArgumentException
{
    public DicomValidationException(DicomTag tag, DicomVR vr, string message)
        : base($"{tag} {DicomDictionary.GetKeyword(tag)} ({vr}): {message}")
    {
        Tag = tag;
        VR = vr;
    }

    public DicomTag Tag { get; }
    public DicomVR VR { get; }
}
