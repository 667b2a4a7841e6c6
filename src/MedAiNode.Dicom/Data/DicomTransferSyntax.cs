namespace MedAiNode.Dicom;

/// <summary>A transfer syntax: how a dataset's bytes are laid out (VR explicitness, byte order, deflate, pixel encapsulation).</summary>
public sealed class DicomTransferSyntax : IEquatable<DicomTransferSyntax>
{
    private DicomTransferSyntax(string uid, bool explicitVR, bool bigEndian, bool deflated, bool encapsulated, bool lossy = false)
    {
        // The flags as one tuple: the constructor stays private, which a primary constructor (always public) would not.
        Uid = uid;
        (IsExplicitVR, IsBigEndian, IsDeflated, IsEncapsulated, IsLossy) = (explicitVR, bigEndian, deflated, encapsulated, lossy);
    }

    public string Uid { get; }
    public string Name => DicomUids.NameOf(Uid);
    public bool IsExplicitVR { get; }
    public bool IsBigEndian { get; }
    public bool IsDeflated { get; }
    /// <summary>Pixel Data is a sequence of fragments (compressed, or encapsulated uncompressed).</summary>
    public bool IsEncapsulated { get; }
    public bool IsLossy { get; }

    public static readonly DicomTransferSyntax ImplicitVRLittleEndian = new(DicomUids.ImplicitVRLittleEndian, false, false, false, false);
    public static readonly DicomTransferSyntax ExplicitVRLittleEndian = new(DicomUids.ExplicitVRLittleEndian, true, false, false, false);
    public static readonly DicomTransferSyntax ExplicitVRBigEndian = new(DicomUids.ExplicitVRBigEndian, true, true, false, false);
    public static readonly DicomTransferSyntax DeflatedExplicitVRLittleEndian = new(DicomUids.DeflatedExplicitVRLittleEndian, true, false, true, false);
    public static readonly DicomTransferSyntax EncapsulatedUncompressed = new(DicomUids.EncapsulatedUncompressedExplicitVRLittleEndian, true, false, false, true);
    public static readonly DicomTransferSyntax RLELossless = new(DicomUids.RLELossless, true, false, false, true);
    public static readonly DicomTransferSyntax JPEGBaseline8Bit = new(DicomUids.JPEGBaseline8Bit, true, false, false, true, true);
    public static readonly DicomTransferSyntax JPEGExtended12Bit = new(DicomUids.JPEGExtended12Bit, true, false, false, true, true);
    public static readonly DicomTransferSyntax JPEGLossless = new(DicomUids.JPEGLossless, true, false, false, true);
    public static readonly DicomTransferSyntax JPEGLosslessSV1 = new(DicomUids.JPEGLosslessSV1, true, false, false, true);
    public static readonly DicomTransferSyntax JPEGLSLossless = new(DicomUids.JPEGLSLossless, true, false, false, true);
    public static readonly DicomTransferSyntax JPEGLSNearLossless = new(DicomUids.JPEGLSNearLossless, true, false, false, true, true);
    public static readonly DicomTransferSyntax JPEG2000Lossless = new(DicomUids.JPEG2000Lossless, true, false, false, true);
    public static readonly DicomTransferSyntax JPEG2000 = new(DicomUids.JPEG2000, true, false, false, true, true);
    public static readonly DicomTransferSyntax HTJ2KLossless = new(DicomUids.HTJ2KLossless, true, false, false, true);
    public static readonly DicomTransferSyntax HTJ2KLosslessRPCL = new(DicomUids.HTJ2KLosslessRPCL, true, false, false, true);
    public static readonly DicomTransferSyntax HTJ2K = new(DicomUids.HTJ2K, true, false, false, true, true);

    private static readonly Dictionary<string, DicomTransferSyntax> Known = new DicomTransferSyntax[]
    {
        ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian, EncapsulatedUncompressed,
        RLELossless, JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLossless, JPEGLosslessSV1, JPEGLSLossless, JPEGLSNearLossless,
        JPEG2000Lossless, JPEG2000, HTJ2KLossless, HTJ2KLosslessRPCL, HTJ2K,
    }.ToDictionary(t => t.Uid, StringComparer.Ordinal);

    public static IEnumerable<DicomTransferSyntax> All => Known.Values;

    /// <summary>Finds a transfer syntax by UID. Unknown UIDs of the compressed family are treated as encapsulated
    /// Explicit VR Little Endian, which is what every compressed syntax is on the wire (PS3.5 A.4).</summary>
    public static DicomTransferSyntax Get(string uid)
    {
        uid = uid.TrimEnd('\0', ' ');
        if (Known.TryGetValue(uid, out var ts)) return ts;
        var entry = DicomUids.Find(uid);
        if (entry is not null && entry.Type != "Transfer Syntax")
            throw new DicomFormatException($"UID {uid} ({entry.Name}) is not a transfer syntax");
        return new DicomTransferSyntax(uid, true, false, false, true);
    }

    public bool Equals(DicomTransferSyntax? other) => other is not null && other.Uid == Uid;
    public override bool Equals(object? obj) => Equals(obj as DicomTransferSyntax);
    public override int GetHashCode() => Uid.GetHashCode();
    public override string ToString() => $"{Name} [{Uid}]";
}
