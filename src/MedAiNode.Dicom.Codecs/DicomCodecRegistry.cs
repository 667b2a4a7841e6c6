
namespace MedAiNode.Dicom.Codecs;

/// <summary>
/// The codecs this node decodes with, one per transfer syntax: RLE, JPEG (lossless and lossy), JPEG-LS (CharLS) and
/// JPEG 2000 / HTJ2K (OpenJPEG) by default. Native syntaxes need no codec. Immutable: <see cref="With"/> returns a new
/// registry, so the host registers one instance and tests build their own instead of changing shared state.
/// </summary>
public sealed class DicomCodecRegistry : IDicomFrameDecoder
{
    private readonly Dictionary<string, IDicomCodec> _codecs;

    public DicomCodecRegistry(IEnumerable<IDicomCodec> codecs) : this(codecs, NativeCodecs.Installed) { }

    internal DicomCodecRegistry(IEnumerable<IDicomCodec> codecs, NativeCodecs native)
    {
        ArgumentNullException.ThrowIfNull(codecs);
        Native = native;
        _codecs = new Dictionary<string, IDicomCodec>(StringComparer.Ordinal);
        foreach (var codec in codecs)
            foreach (var ts in codec.TransferSyntaxes)
                _codecs[ts.Uid] = codec; // a later codec replaces an earlier one for the same syntax
    }

    /// <summary>The built-in codecs (what the host registers).</summary>
    public static DicomCodecRegistry CreateDefault() => CreateDefault(NativeCodecs.Installed);

    /// <summary>The built-in codecs over the given native libraries (tests bind absent ones).</summary>
    internal static DicomCodecRegistry CreateDefault(NativeCodecs native) => new(BuiltInCodec.All(native), native);

    /// <summary>The native libraries this registry's built-in codecs, and transcoding through it, use.</summary>
    internal NativeCodecs Native { get; }

    /// <summary>A registry holding only the built-in codecs; shared and immutable, for code without a service provider.</summary>
    public static DicomCodecRegistry Default { get; } = CreateDefault();

    /// <summary>A copy of this registry with <paramref name="codec"/> answering for its transfer syntaxes.</summary>
    public DicomCodecRegistry With(IDicomCodec codec) => new(_codecs.Values.Distinct().Append(codec), Native);

    /// <summary>A copy without a codec for <paramref name="transferSyntax"/>.</summary>
    public DicomCodecRegistry Without(DicomTransferSyntax transferSyntax)
    {
        var copy = new DicomCodecRegistry([], Native);
        foreach (var (uid, codec) in _codecs) if (uid != transferSyntax.Uid) copy._codecs[uid] = codec;
        return copy;
    }

    public IReadOnlyCollection<IDicomCodec> Codecs => _codecs.Values.Distinct().ToList();

    public bool HasCodec(DicomTransferSyntax transferSyntax) => _codecs.ContainsKey(transferSyntax.Uid);

    public IDicomCodec? GetCodec(DicomTransferSyntax transferSyntax) =>
        _codecs.GetValueOrDefault(transferSyntax.Uid);

    public bool CanDecode(DicomTransferSyntax transferSyntax)
    {
        ArgumentNullException.ThrowIfNull(transferSyntax);
        if (NativeFrameDecoder.IsNative(transferSyntax)) return true;
        return GetCodec(transferSyntax) is { } c && c.CanDecode(transferSyntax);
    }

    /// <summary>Frame <paramref name="frameIndex"/> as native pixels. A syntax without a codec, or whose codec's native library
    /// is missing, is a <see cref="DicomCodecException"/> naming the syntax (and the Debian package to install).</summary>
    public ReadOnlyMemory<byte> DecodeFrame(DicomDataset dataset, DicomTransferSyntax transferSyntax, int frameIndex)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(transferSyntax);
        if (NativeFrameDecoder.IsNative(transferSyntax)) return DicomPixelDecoder.DecodeFrame(dataset, transferSyntax, frameIndex);
        var codec = GetCodec(transferSyntax)
            ?? throw new DicomCodecException($"No codec is registered for transfer syntax {transferSyntax.Name} ({transferSyntax.Uid}); this node decodes {Known()}.");
        if (!codec.CanDecode(transferSyntax) && codec.AptPackage is { } package)
        {
            // Let the codec say why (its loader names the library); the message adds which syntax could not be read.
            try { return codec.DecodeFrame(dataset, transferSyntax, frameIndex); }
            catch (DicomCodecException e) when (e.AptPackage is not null)
            {
                throw new DicomCodecException($"Cannot decode {transferSyntax.Name} ({transferSyntax.Uid}) with {codec.Name}: {e.Message}", e) { AptPackage = e.AptPackage };
            }
            catch (DicomCodecException e)
            {
                throw new DicomCodecException($"Cannot decode {transferSyntax.Name} ({transferSyntax.Uid}) with {codec.Name}: {e.Message} Install it with: apt-get install {package}", e) { AptPackage = package };
            }
        }
        return codec.DecodeFrame(dataset, transferSyntax, frameIndex);
    }

    private string Known() =>
        string.Join(", ", _codecs.Keys.Order(StringComparer.Ordinal).Select(u => DicomTransferSyntax.Get(u).Name).Prepend("native syntaxes"));
}

/// <summary>The codecs that ship with this node, over <see cref="DicomPixelDecoder"/>.</summary>
internal sealed class BuiltInCodec(string name, string? aptPackage, NativeCodecs native, params DicomTransferSyntax[] syntaxes) : IDicomCodec
{
    public string Name { get; } = name;
    public IReadOnlyList<DicomTransferSyntax> TransferSyntaxes { get; } = syntaxes;
    public string? AptPackage { get; } = aptPackage;
    public bool CanDecode(DicomTransferSyntax transferSyntax) => TransferSyntaxes.Contains(transferSyntax) && DicomPixelDecoder.CanDecode(transferSyntax, native);

    public ReadOnlyMemory<byte> DecodeFrame(DicomDataset dataset, DicomTransferSyntax transferSyntax, int frameIndex) =>
        DicomPixelDecoder.DecodeFrame(dataset, transferSyntax, frameIndex, native);

    public static IEnumerable<IDicomCodec> All(NativeCodecs native) =>
    [
        new BuiltInCodec("RLE Lossless", null, native, DicomTransferSyntax.RLELossless),
        new BuiltInCodec("JPEG (managed)", null, native,
            DicomTransferSyntax.JPEGBaseline8Bit, DicomTransferSyntax.JPEGExtended12Bit, DicomTransferSyntax.JPEGLossless, DicomTransferSyntax.JPEGLosslessSV1),
        new BuiltInCodec("JPEG-LS (CharLS)", native.JpegLs.Library.AptPackage, native,
            DicomTransferSyntax.JPEGLSLossless, DicomTransferSyntax.JPEGLSNearLossless),
        new BuiltInCodec("JPEG 2000 (OpenJPEG)", native.Jpeg2000.Library.AptPackage, native,
            DicomTransferSyntax.JPEG2000Lossless, DicomTransferSyntax.JPEG2000,
            DicomTransferSyntax.HTJ2KLossless, DicomTransferSyntax.HTJ2KLosslessRPCL, DicomTransferSyntax.HTJ2K),
    ];
}
