namespace MedAiNode.Dicom.Codecs;

/// <summary>
/// Turns one frame of pixel data, in any supported transfer syntax, into native pixels: little-endian, pixel-interleaved
/// (planar configuration 0), BitsAllocated wide, signed samples stored in fewer bits sign-extended to the full width.
/// </summary>
public static class DicomPixelDecoder
{
    /// <summary>The frame as it would appear in native (uncompressed, little-endian) Pixel Data for the same Image Pixel module
    /// (colour frames pixel-interleaved; YCbCr JPEG frames converted to RGB). Native transfer syntaxes are returned as they are.</summary>
    public static byte[] DecodeFrame(DicomDataset dataset, DicomTransferSyntax transferSyntax, int frameIndex) =>
        DecodeFrame(dataset, transferSyntax, frameIndex, NativeCodecs.Installed);

    internal static byte[] DecodeFrame(DicomDataset dataset, DicomTransferSyntax transferSyntax, int frameIndex, NativeCodecs native)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(transferSyntax);
        var pixelData = new DicomPixelData(dataset, transferSyntax);
        if (!transferSyntax.IsEncapsulated || transferSyntax.Uid == DicomTransferSyntax.EncapsulatedUncompressed.Uid)
        {
            var stored = GetStoredFrame(pixelData, frameIndex);
            // GetFrame copies native frames into a fresh array already; hand that one out rather than copying again.
            return System.Runtime.InteropServices.MemoryMarshal.TryGetArray(stored, out var seg) && seg.Offset == 0 && seg.Count == seg.Array!.Length
                && !transferSyntax.IsEncapsulated ? seg.Array : stored.ToArray();
        }
        // A syntax whose native library is missing goes on to its codec, which names the apt package to install.
        if (KindOf(transferSyntax) == CodecKind.None)
            throw new DicomCodecException($"Transfer syntax {transferSyntax} cannot be decoded by this node.");
        var layout = FrameLayout.From(dataset);
        var codestream = GetStoredFrame(pixelData, frameIndex);
        var dest = new byte[layout.FrameSize];
        DecodeCodestream(transferSyntax, codestream, dest, layout, native);
        return dest;
    }

    public static bool CanDecode(DicomTransferSyntax ts) => CanDecode(ts, NativeCodecs.Installed);

    internal static bool CanDecode(DicomTransferSyntax ts, NativeCodecs native)
    {
        ArgumentNullException.ThrowIfNull(ts);
        if (!ts.IsEncapsulated || ts.Uid == DicomTransferSyntax.EncapsulatedUncompressed.Uid) return true;
        return KindOf(ts) switch
        {
            CodecKind.Rle or CodecKind.JpegLossless or CodecKind.JpegLossy => true,
            CodecKind.Jpeg2000 => IsHighThroughput(ts) ? native.Jpeg2000.DecodesHighThroughput : native.Jpeg2000.IsAvailable,
            CodecKind.JpegLs => native.JpegLs.IsAvailable,
            _ => false,
        };
    }

    private static bool IsHighThroughput(DicomTransferSyntax ts) => ts.Uid.StartsWith("1.2.840.10008.1.2.4.20", StringComparison.Ordinal);

    internal enum CodecKind { None, Rle, JpegLossless, JpegLossy, JpegLs, Jpeg2000 }

    internal static CodecKind KindOf(DicomTransferSyntax ts) => ts.Uid switch
    {
        "1.2.840.10008.1.2.5" => CodecKind.Rle,
        "1.2.840.10008.1.2.4.57" or "1.2.840.10008.1.2.4.70" => CodecKind.JpegLossless,
        "1.2.840.10008.1.2.4.50" or "1.2.840.10008.1.2.4.51" => CodecKind.JpegLossy,
        "1.2.840.10008.1.2.4.80" or "1.2.840.10008.1.2.4.81" => CodecKind.JpegLs,
        "1.2.840.10008.1.2.4.90" or "1.2.840.10008.1.2.4.91" // JPEG 2000
            or "1.2.840.10008.1.2.4.201" or "1.2.840.10008.1.2.4.202" or "1.2.840.10008.1.2.4.203" => CodecKind.Jpeg2000, // HTJ2K
        _ => CodecKind.None,
    };

    private static ReadOnlyMemory<byte> GetStoredFrame(DicomPixelData pixelData, int frameIndex)
    {
        try
        {
            return pixelData.GetFrame(frameIndex);
        }
        catch (Exception e) when (e is DicomFormatException or InvalidOperationException or ArgumentOutOfRangeException)
        {
            throw new DicomCodecException($"Frame {frameIndex} cannot be read: {e.Message}", e);
        }
    }

    /// <summary>Decodes one frame's codestream into <paramref name="dest"/>; returns the codestream's sample precision when the
    /// codec reports one that may differ from BitsStored (JPEG 2000), else 0.</summary>
    internal static int DecodeCodestream(DicomTransferSyntax ts, ReadOnlyMemory<byte> codestream, Span<byte> dest, in FrameLayout layout, NativeCodecs native)
    {
        try
        {
            return DecodeCore(ts, codestream, dest, layout, native);
        }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or OverflowException or InvalidOperationException
                                      or InvalidDataException or NotSupportedException or InvalidCastException)
        {
            // A damaged codestream must never take the service down: whatever slipped past the codec's own checks is reported alike.
            throw new DicomCodecException($"{ts.Name} frame is damaged or malformed ({e.GetType().Name}: {e.Message}).", e);
        }
    }

    private static int DecodeCore(DicomTransferSyntax ts, ReadOnlyMemory<byte> codestream, Span<byte> dest, in FrameLayout layout, NativeCodecs native)
    {
        switch (KindOf(ts))
        {
            case CodecKind.Rle:
                RleCodec.Decode(codestream.Span, dest, layout);
                break;
            case CodecKind.JpegLossless:
                JpegLossless.Decode(codestream.Span, dest, layout);
                break;
            case CodecKind.JpegLossy:
                // Some writers label lossless JPEG as baseline; the frame header says which process it really is.
                if (JpegMarkers.FindSofMarker(codestream.Span) == 0xC3) JpegLossless.Decode(codestream.Span, dest, layout);
                else JpegLossyDecoder.Decode(codestream, dest, layout);
                break;
            case CodecKind.JpegLs:
                native.JpegLs.Decode(codestream.Span, dest, layout);
                break;
            case CodecKind.Jpeg2000:
                return native.Jpeg2000.Decode(codestream.Span, dest, layout).Precision;
            default:
                throw new DicomCodecException($"Transfer syntax {ts} cannot be decoded by this node.");
        }
        return 0;
    }

    internal static ReadOnlyMemory<byte> GetStoredFrameInternal(DicomPixelData pixelData, int frameIndex) => GetStoredFrame(pixelData, frameIndex);
}
