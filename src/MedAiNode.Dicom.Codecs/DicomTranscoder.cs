using System.Buffers;
using MedAiNode.Dicom.IO;

namespace MedAiNode.Dicom.Codecs;

/// <summary>
/// Rewrites a file's pixel data in another transfer syntax: decodes every frame to native, then encodes (RLE Lossless,
/// JPEG 2000 Lossless, JPEG-LS Lossless, Encapsulated Uncompressed) or stores natively. The Image Pixel module is updated to match
/// (planar configuration, photometric interpretation of decoded YCbCr JPEG, BitsStored of a JPEG 2000 codestream
/// shallower than the header claims) and lossy history is recorded (PS3.3 C.7.6.1.1.5).
/// </summary>
public static class DicomTranscoder
{
    /// <summary>Returns a new DicomFile in the target syntax (decode then encode as needed); encodes RLE Lossless, JPEG 2000 Lossless and JPEG-LS Lossless.</summary>
    /// <param name="decoder">Decodes the source frames: the host's codec registry, or null for <see cref="DicomCodecRegistry.Default"/>.
    /// The built-in codecs are called directly (a JPEG 2000 codestream's precision corrects BitsStored); any other codec through the interface.</param>
    public static DicomFile Transcode(DicomFile file, DicomTransferSyntax target, IDicomFrameDecoder? decoder = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(target);
        var source = file.TransferSyntax;
        var libraries = (decoder as DicomCodecRegistry)?.Native ?? NativeCodecs.Installed; // the libraries this registry encodes with too
        var ds = file.Dataset.Clone();
        var hasPixels = ds[DicomTags.PixelData] is not null;

        var pixelsUnchanged = !hasPixels
            || source.Uid == target.Uid
            || !source.IsEncapsulated && !target.IsEncapsulated; // native to native: the writer re-encodes byte order
        if (!pixelsUnchanged)
        {
            // Syntaxes whose native library is missing get as far as the codec, which names the apt package to install.
            if (target.IsEncapsulated && !EncoderKnown(target))
                throw new DicomCodecException($"Cannot encode {target}; this node encodes {string.Join(", ", EncodableSyntaxes(libraries).Select(t => t.Name))}.");
            var external = decoder is not null && !(decoder is DicomCodecRegistry r && r.GetCodec(source) is BuiltInCodec)
                ? decoder : null;
            if (external is null && source.IsEncapsulated && source.Uid != DicomTransferSyntax.EncapsulatedUncompressed.Uid && DicomPixelDecoder.KindOf(source) == DicomPixelDecoder.CodecKind.None)
                throw new DicomCodecException($"Cannot decode {source}.");
            Recode(ds, source, target, external, libraries);
        }
        var result = new DicomFile(ds, target) { Preamble = file.Preamble };
        foreach (var a in file.FileMetaInfo)
            if (a.Tag != DicomTags.TransferSyntaxUID && a.Tag != DicomTags.FileMetaInformationGroupLength) result.FileMetaInfo.Add(a);
        return result;
    }

    public static bool CanEncode(DicomTransferSyntax ts) => CanEncode(ts, NativeCodecs.Installed);

    /// <summary>Whether <see cref="Transcode"/> through <paramref name="codecs"/> can write <paramref name="ts"/>.</summary>
    public static bool CanEncode(DicomTransferSyntax ts, DicomCodecRegistry codecs) => CanEncode(ts, codecs.Native);

    internal static bool CanEncode(DicomTransferSyntax ts, NativeCodecs native)
    {
        ArgumentNullException.ThrowIfNull(ts);
        if (!ts.IsEncapsulated || ts.Uid == DicomTransferSyntax.EncapsulatedUncompressed.Uid) return true;
        if (ts.Uid == DicomTransferSyntax.RLELossless.Uid) return true;
        if (ts.Uid == DicomTransferSyntax.JPEG2000Lossless.Uid) return native.Jpeg2000.IsAvailable;
        if (ts.Uid == DicomTransferSyntax.JPEGLSLossless.Uid) return native.JpegLs.IsAvailable;
        return false;
    }

    private static bool EncoderKnown(DicomTransferSyntax ts) =>
        ts.Uid is "1.2.840.10008.1.2.5" or "1.2.840.10008.1.2.4.90" or "1.2.840.10008.1.2.4.80" or "1.2.840.10008.1.2.1.98";

    private static IEnumerable<DicomTransferSyntax> EncodableSyntaxes(NativeCodecs native) =>
        DicomTransferSyntax.All.Where(t => t.IsEncapsulated && CanEncode(t, native));

    private static void Recode(DicomDataset ds, DicomTransferSyntax source, DicomTransferSyntax target, IDicomFrameDecoder? external, NativeCodecs libs)
    {
        var layout = FrameLayout.From(ds);
        var pixelData = new DicomPixelData(ds, source);
        var frames = pixelData.NumberOfFrames;
        var frameSize = layout.FrameSize;
        var decoded = source.IsEncapsulated && source.Uid != DicomTransferSyntax.EncapsulatedUncompressed.Uid;
        // Native output needs every frame in one value; encoded output only ever holds one native frame at a time.
        byte[]? native = null;
        byte[][]? encoded = null;
        byte[]? scratch = null;
        if (target.IsEncapsulated)
        {
            encoded = new byte[frames][];
            scratch = ArrayPool<byte>.Shared.Rent(frameSize);
        }
        else
        {
            if ((long)frameSize * frames > Array.MaxLength) throw new DicomCodecException($"{frames} frames of {frameSize} bytes exceed one Pixel Data value.");
            native = GC.AllocateUninitializedArray<byte>(frameSize * frames);
        }
        var codestreamPrecision = 0;
        try
        {
            for (var f = 0; f < frames; f++)
            {
                var dest = native is not null ? native.AsSpan(f * frameSize, frameSize) : scratch.AsSpan(0, frameSize);
                if (decoded && external is not null)
                {
                    var frame = external.DecodeFrame(ds, source, f).Span;
                    if (frame.Length < frameSize) throw new DicomCodecException($"Frame {f}: the {source.Name} decoder returned {frame.Length} bytes, {frameSize} expected.");
                    frame[..frameSize].CopyTo(dest);
                    codestreamPrecision = int.MaxValue;
                }
                else if (decoded)
                {
                    var p = DicomPixelDecoder.DecodeCodestream(source, DicomPixelDecoder.GetStoredFrameInternal(pixelData, f), dest, layout, libs);
                    codestreamPrecision = p > 0 ? Math.Max(codestreamPrecision, p) : int.MaxValue;
                }
                else
                {
                    var stored = DicomPixelDecoder.DecodeFrame(ds, source, f, libs);
                    if (layout.SamplesPerPixel > 1 && layout.PlanarConfiguration == 1)
                        SampleOps.Interleave(stored, dest, layout.PixelCount, layout.SamplesPerPixel, layout.BytesPerSample);
                    else stored.CopyTo(dest);
                }
                if (encoded is not null) encoded[f] = Encode(target, dest, layout, libs);
            }
        }
        finally
        {
            if (scratch is not null) ArrayPool<byte>.Shared.Return(scratch);
        }

        // The dataset now describes the new pixels.
        if (layout.SamplesPerPixel > 1) ds.Set<ushort>(DicomTags.PlanarConfiguration, DicomVR.US, 0);
        if (decoded && DicomPixelDecoder.KindOf(source) == DicomPixelDecoder.CodecKind.JpegLossy && JpegLossyDecoder.ConvertsToRgb(layout))
            ds.Set(DicomTags.PhotometricInterpretation, "RGB");
        if (native is not null && codestreamPrecision > 0 && codestreamPrecision < layout.BitsStored)
        {
            // A known writer quirk: BitsStored larger than every frame's codestream precision. Native data says what it
            // holds, as GDCM does. (Re-encoded data keeps the declared depth, which still holds the values exactly.)
            ds.Set<ushort>(DicomTags.BitsStored, DicomVR.US, (ushort)codestreamPrecision);
            ds.Set<ushort>(DicomTags.HighBit, DicomVR.US, (ushort)(codestreamPrecision - 1));
        }
        if (source.IsLossy) RecordLossyHistory(ds, source);
        ds.Remove(DicomTags.ExtendedOffsetTable);
        ds.Remove(DicomTags.ExtendedOffsetTableLengths);
        if (native is not null) ds.Add(new DicomElement(DicomTags.PixelData, layout.BitsAllocated > 8 ? DicomVR.OW : DicomVR.OB, native));
        else ds.Add(BuildFragments(encoded!));
    }

    private static byte[] Encode(DicomTransferSyntax target, ReadOnlySpan<byte> frame, in FrameLayout layout, NativeCodecs native) => target.Uid switch
    {
        "1.2.840.10008.1.2.5" => RleCodec.Encode(frame, layout),
        "1.2.840.10008.1.2.4.90" => native.Jpeg2000.EncodeLossless(frame, layout),
        "1.2.840.10008.1.2.4.80" => native.JpegLs.EncodeLossless(frame, layout),
        "1.2.840.10008.1.2.1.98" => frame.ToArray(),
        _ => throw new DicomCodecException($"Cannot encode {target}."),
    };

    /// <summary>One fragment per frame with a Basic Offset Table (or an empty one when offsets would pass 4 GiB).</summary>
    internal static DicomFragmentSequence BuildFragments(IReadOnlyList<byte[]> frames)
    {
        var seq = new DicomFragmentSequence(DicomTags.PixelData, DicomVR.OB);
        var offsets = new byte[frames.Count * 4];
        long at = 0;
        var fits = true;
        for (var i = 0; i < frames.Count; i++)
        {
            if (at > uint.MaxValue) fits = false;
            else BitConverter.TryWriteBytes(offsets.AsSpan(i * 4), (uint)at);
            var data = frames[i];
            if ((data.Length & 1) == 1) Array.Resize(ref data, data.Length + 1); // fragments have even length (PS3.5 A.4)
            seq.Fragments.Add(new MemoryByteBuffer(data));
            at += 8 + data.Length;
        }
        if (fits && frames.Count > 1) seq.OffsetTable = new MemoryByteBuffer(offsets);
        return seq;
    }

    private static void RecordLossyHistory(DicomDataset ds, DicomTransferSyntax source)
    {
        ds.Set(DicomTags.LossyImageCompression, "01");
        var method = DicomPixelDecoder.KindOf(source) switch
        {
            DicomPixelDecoder.CodecKind.JpegLossy => "ISO_10918_1",
            DicomPixelDecoder.CodecKind.JpegLs => "ISO_14495_1",
            DicomPixelDecoder.CodecKind.Jpeg2000 => source.Uid.StartsWith("1.2.840.10008.1.2.4.20", StringComparison.Ordinal) ? "ISO_15444_15" : "ISO_15444_1",
            _ => null,
        };
        if (method is null) return;
        var methods = ds.GetStrings(DicomTags.LossyImageCompressionMethod);
        if (!methods.Contains(method)) ds.Set(DicomTags.LossyImageCompressionMethod, [.. methods, method]);
    }
}
