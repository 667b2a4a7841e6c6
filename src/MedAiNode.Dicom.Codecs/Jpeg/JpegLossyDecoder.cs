using JpegLibrary;
using MedAiNode.Dicom.Codecs.Pixels;

namespace MedAiNode.Dicom.Codecs.Jpeg;

/// <summary>
/// JPEG Baseline (8-bit) and Extended (12-bit) DCT decoding through the managed JpegLibrary package. Three-component
/// frames coded as YCbCr (Photometric YBR_FULL_422 / YBR_FULL / YBR_PARTIAL_*) come back as RGB, as every DICOM
/// toolkit returns them; the transcoder then writes Photometric RGB.
/// </summary>
internal static class JpegLossyDecoder
{
    public static bool ConvertsToRgb(in FrameLayout layout) =>
        layout.SamplesPerPixel == 3 && layout.Photometric.StartsWith("YBR", StringComparison.Ordinal);

    public static void Decode(ReadOnlyMemory<byte> data, Span<byte> dest, in FrameLayout layout)
    {
        var decoder = new JpegDecoder();
        try
        {
            decoder.SetInput(data);
            decoder.Identify();
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or ArgumentException or InvalidOperationException)
        {
            throw new DicomCodecException($"JPEG header could not be read: {e.Message}", e);
        }
        if (decoder.Width != layout.Columns || decoder.Height != layout.Rows || decoder.NumberOfComponents != layout.SamplesPerPixel)
            throw new DicomCodecException($"JPEG frame is {decoder.Width}x{decoder.Height}x{decoder.NumberOfComponents}; the dataset says {layout.Columns}x{layout.Rows}x{layout.SamplesPerPixel}.");
        var precision = decoder.Precision;
        if (precision > layout.BitsAllocated) throw new DicomCodecException($"JPEG precision {precision} does not fit BitsAllocated {layout.BitsAllocated}.");
        var samples = new ushort[layout.PixelCount * layout.SamplesPerPixel];
        decoder.SetOutputWriter(new Writer(samples, layout.Columns, layout.Rows, layout.SamplesPerPixel, (1 << precision) - 1));
        try
        {
            decoder.Decode();
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or ArgumentException or InvalidOperationException or IndexOutOfRangeException)
        {
            throw new DicomCodecException($"JPEG frame could not be decoded: {e.Message}", e);
        }
        var maxH = decoder.GetMaximumHorizontalSampling();
        for (var c = 0; c < layout.SamplesPerPixel; c++)
            if (maxH == 2 * decoder.GetHorizontalSampling(c) && decoder.GetMaximumVerticalSampling() == decoder.GetVerticalSampling(c))
                UpsampleH2V1(samples, layout.Columns, layout.Rows, layout.SamplesPerPixel, c);
        if (ConvertsToRgb(layout)) YbrToRgb(samples, (1 << precision) - 1, 1 << (precision - 1));
        JpegLossless.WriteSamples(samples, dest, layout, precision);
    }

    /// <summary>JpegLibrary replicates chroma of 4:2:2 frames (YBR_FULL_422, the common DICOM case); libjpeg, and so DCMTK and
    /// GDCM, interpolate with a triangle filter. Do the same so our pixels match theirs.</summary>
    private static void UpsampleH2V1(ushort[] s, int width, int height, int spp, int c)
    {
        var half = (width + 1) / 2;
        var buffer = new int[half];
        for (var y = 0; y < height; y++)
        {
            var row = y * width;
            for (var i = 0; i < half; i++) buffer[i] = s[(row + 2 * i) * spp + c];
            for (var i = 0; i < half; i++)
            {
                var cur = buffer[i] * 3;
                var left = i > 0 ? buffer[i - 1] : buffer[i];
                var right = i + 1 < half ? buffer[i + 1] : buffer[i];
                var x = 2 * i;
                s[(row + x) * spp + c] = (ushort)((cur + left + 1) >> 2);
                if (x + 1 < width) s[(row + x + 1) * spp + c] = (ushort)((cur + right + 2) >> 2);
            }
        }
    }

    /// <summary>JFIF / ITU-R BT.601 full-range YCbCr to RGB (PS3.3 C.7.6.3.1.2).</summary>
    private static void YbrToRgb(ushort[] s, int max, int half)
    {
        for (var i = 0; i + 2 < s.Length; i += 3)
        {
            double y = s[i], cb = s[i + 1] - half, cr = s[i + 2] - half;
            s[i] = Clamp(y + 1.402 * cr, max);
            s[i + 1] = Clamp(y - 0.344136 * cb - 0.714136 * cr, max);
            s[i + 2] = Clamp(y + 1.772 * cb, max);
        }
    }

    private static ushort Clamp(double v, int max) => (ushort)Math.Clamp((int)Math.Round(v), 0, max);

    private sealed class Writer(ushort[] output, int width, int height, int components, int max) : JpegBlockOutputWriter
    {
        public override void WriteBlock(ref short blockRef, int componentIndex, int x, int y)
        {
            if (x >= width || y >= height) return;
            var w = Math.Min(width - x, 8);
            var h = Math.Min(height - y, 8);
            for (var dy = 0; dy < h; dy++)
            {
                var row = (y + dy) * width;
                for (var dx = 0; dx < w; dx++)
                {
                    int v = System.Runtime.CompilerServices.Unsafe.Add(ref blockRef, dy * 8 + dx);
                    output[(row + x + dx) * components + componentIndex] = (ushort)Math.Clamp(v, 0, max);
                }
            }
        }
    }
}
