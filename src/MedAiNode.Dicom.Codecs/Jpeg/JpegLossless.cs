using System.Runtime.InteropServices;
using MedAiNode.Dicom.Codecs.Pixels;

namespace MedAiNode.Dicom.Codecs.Jpeg;

internal static class JpegLossless
{
    public static void Decode(ReadOnlySpan<byte> data, Span<byte> dest, in FrameLayout layout)
    {
        var decoder = new JpegLosslessDecoder();
        var samples = decoder.Decode(data, (layout.Columns, layout.Rows, layout.SamplesPerPixel));
        if (decoder.Width != layout.Columns || decoder.Height != layout.Rows || decoder.Components != layout.SamplesPerPixel)
            throw new DicomCodecException($"JPEG Lossless frame is {decoder.Width}x{decoder.Height}x{decoder.Components}; the dataset says {layout.Columns}x{layout.Rows}x{layout.SamplesPerPixel}.");
        if (decoder.Precision > layout.BitsAllocated)
            throw new DicomCodecException($"JPEG Lossless precision {decoder.Precision} does not fit BitsAllocated {layout.BitsAllocated}.");
        WriteSamples(samples, dest, layout, decoder.Precision);
    }

    /// <summary>Writes P-bit unsigned samples as native little-endian values, sign-extending signed data stored in fewer bits.</summary>
    public static void WriteSamples(ReadOnlySpan<ushort> samples, Span<byte> dest, in FrameLayout layout, int precision)
    {
        var n = layout.PixelCount * layout.SamplesPerPixel;
        switch (layout.BytesPerSample)
        {
            case 1:
                for (var i = 0; i < n; i++) dest[i] = (byte)samples[i];
                break;
            case 2:
                samples[..n].CopyTo(MemoryMarshal.Cast<byte, ushort>(dest));
                break;
            default:
                var d = MemoryMarshal.Cast<byte, uint>(dest);
                for (var i = 0; i < n; i++) d[i] = samples[i];
                break;
        }
        SampleOps.SignExtend(dest[..layout.FrameSize], layout, Math.Min(precision, layout.BitsStored));
    }
}
