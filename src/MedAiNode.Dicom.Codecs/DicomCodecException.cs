namespace MedAiNode.Dicom.Codecs;

/// <summary>A frame could not be decoded or encoded: corrupt codestream, unsupported layout, or a missing native library.</summary>
public sealed class DicomCodecException : Exception
{
    public DicomCodecException(string message, Exception? inner = null) : base(message, inner) { }

    /// <summary>The Debian package that provides a missing native library, when that is the cause.</summary>
    public string? AptPackage { get; init; }
}
