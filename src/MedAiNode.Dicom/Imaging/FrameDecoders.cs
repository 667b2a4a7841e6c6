namespace MedAiNode.Dicom;

/// <summary>
/// Decodes frame N of a dataset, whatever its transfer syntax, to native pixels: little-endian, pixel-interleaved,
/// BitsAllocated wide. Layers that read pixels (volume assembly, transcoding, the store verb) take one of these; the host
/// registers the codecs layer's registry, and <see cref="NativeFrameDecoder"/> is the no-codec default.
/// </summary>
public interface IDicomFrameDecoder
{
    /// <summary>True when frames in <paramref name="transferSyntax"/> can be decoded now (a codec is registered and its library loads).</summary>
    bool CanDecode(DicomTransferSyntax transferSyntax);

    /// <summary>The native pixels of frame <paramref name="frameIndex"/> (0-based).</summary>
    ReadOnlyMemory<byte> DecodeFrame(DicomDataset dataset, DicomTransferSyntax transferSyntax, int frameIndex);
}

/// <summary>One codec: decodes the frames of the transfer syntaxes it names. A registry holds one per syntax.</summary>
public interface IDicomCodec
{
    /// <summary>A name for messages ("JPEG 2000 (OpenJPEG)").</summary>
    string Name { get; }

    /// <summary>The encapsulated transfer syntaxes this codec decodes.</summary>
    IReadOnlyList<DicomTransferSyntax> TransferSyntaxes { get; }

    /// <summary>The Debian package of the native library the codec needs, or null for a managed codec.</summary>
    string? AptPackage { get; }

    /// <summary>False when the codec cannot run here (its native library is missing or too old for this syntax).</summary>
    bool CanDecode(DicomTransferSyntax transferSyntax);

    ReadOnlyMemory<byte> DecodeFrame(DicomDataset dataset, DicomTransferSyntax transferSyntax, int frameIndex);
}

/// <summary>Compressed pixel data and no codec for its transfer syntax: which syntax, and what to install or register.</summary>
public sealed class DicomCodecUnavailableException(DicomTransferSyntax transferSyntax, string message, string? aptPackage = null)
    : InvalidOperationException(message)
{
    public DicomTransferSyntax TransferSyntax { get; } = transferSyntax;

    /// <summary>The Debian package that provides the missing native library, when that is the cause.</summary>
    public string? AptPackage { get; } = aptPackage;
}

/// <summary>
/// The decoder without codecs: native (uncompressed) transfer syntaxes and Encapsulated Uncompressed only. Compressed
/// frames get a <see cref="DicomCodecUnavailableException"/> naming the syntax. Stateless; share <see cref="Instance"/>.
/// </summary>
public sealed class NativeFrameDecoder : IDicomFrameDecoder
{
    public static readonly NativeFrameDecoder Instance = new();

    private NativeFrameDecoder() { }

    public static bool IsNative(DicomTransferSyntax ts) =>
        !ts.IsEncapsulated || ts.Uid == DicomTransferSyntax.EncapsulatedUncompressed.Uid;

    public bool CanDecode(DicomTransferSyntax transferSyntax) => IsNative(transferSyntax) && !transferSyntax.IsBigEndian;

    public ReadOnlyMemory<byte> DecodeFrame(DicomDataset dataset, DicomTransferSyntax transferSyntax, int frameIndex)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(transferSyntax);
        if (!IsNative(transferSyntax))
            throw new DicomCodecUnavailableException(transferSyntax,
                $"Pixel data is compressed ({transferSyntax.Name}, {transferSyntax.Uid}) and no codec is registered for it: decode through the codecs layer's registry (MedAiNode.Dicom.Codecs.DicomCodecRegistry).");
        if (transferSyntax.IsBigEndian) throw new NotSupportedException("Big-endian pixel data is not supported; convert to little endian first.");
        return new DicomPixelData(dataset, transferSyntax).GetFrame(frameIndex);
    }
}
