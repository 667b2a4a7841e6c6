using MedAiNode.Dicom;

namespace MedAiNode.Imaging.Volumes;

/// <summary>
/// The one seam to the codecs layer: decodes a compressed frame to native little-endian pixels. The host sets it
/// (to MedAiNode.Dicom.Codecs.DicomPixelDecoder.DecodeFrame) at start-up.
/// </summary>
public static class FrameDecoding
{
    public static Func<DicomDataset, DicomTransferSyntax, int, byte[]>? CompressedFrameDecoder { get; set; }

    /// <summary>Native frame bytes (little-endian) of frame <paramref name="frameIndex"/>.</summary>
    public static ReadOnlyMemory<byte> GetNativeFrame(DicomDataset ds, DicomTransferSyntax ts, int frameIndex)
    {
        var pixels = new DicomPixelData(ds, ts);
        if (!pixels.IsEncapsulated)
        {
            if (ts.IsBigEndian) throw new NotSupportedException("Big-endian pixel data is not supported; convert to little endian first.");
            return pixels.GetFrame(frameIndex);
        }
        var decoder = CompressedFrameDecoder
            ?? throw new InvalidOperationException($"Pixel data is compressed ({ts.Name}, {ts.Uid}) and no decoder is registered: set FrameDecoding.CompressedFrameDecoder (the codecs layer) at start-up.");
        return decoder(ds, ts, frameIndex);
    }
}
