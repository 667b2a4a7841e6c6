using System.Buffers.Binary;
using MedAiNode.Dicom.Codecs.Pixels;

namespace MedAiNode.Dicom.Codecs.Rle;

/// <summary>
/// DICOM RLE Lossless (PS3.5 Annex G): a 64-byte header of up to 15 segment offsets, one PackBits segment per byte
/// plane, most significant byte of each sample first. Output is native little-endian, pixel-interleaved.
/// </summary>
internal static class RleCodec
{
    private const int HeaderSize = 64;

    public static void Decode(ReadOnlySpan<byte> data, Span<byte> dest, in FrameLayout layout)
    {
        var bps = layout.BytesPerSample;
        var spp = layout.SamplesPerPixel;
        var segments = spp * bps;
        if (data.Length < HeaderSize) throw new DicomCodecException($"RLE frame is {data.Length} bytes, shorter than its 64-byte header.");
        var count = BinaryPrimitives.ReadUInt32LittleEndian(data);
        if (count != segments)
            throw new DicomCodecException($"RLE header lists {count} segments; {spp} sample(s) of {layout.BitsAllocated} bits need {segments}.");
        Span<int> offsets = stackalloc int[16];
        for (var i = 0; i < segments; i++)
        {
            var off = BinaryPrimitives.ReadUInt32LittleEndian(data[(4 + 4 * i)..]);
            if (off < HeaderSize || off > data.Length) throw new DicomCodecException($"RLE segment {i + 1} offset {off} lies outside the {data.Length}-byte frame.");
            offsets[i] = (int)off;
        }
        offsets[segments] = data.Length;

        var pixels = layout.PixelCount;
        var stride = spp * bps;
        for (var seg = 0; seg < segments; seg++)
        {
            var end = seg + 1 < segments ? offsets[seg + 1] : data.Length;
            if (end < offsets[seg]) end = data.Length; // offsets out of order: let the segment run to the frame end
            var sample = seg / bps;
            var byteInSample = bps - 1 - seg % bps; // segments go MSB first; native is little-endian
            var decoded = DecodeSegment(data[offsets[seg]..end], dest, sample * bps + byteInSample, stride, pixels);
            if (decoded < pixels)
                throw new DicomCodecException($"RLE segment {seg + 1} decodes to {decoded} bytes; the frame needs {pixels}.");
        }
    }

    /// <summary>PackBits: n in 0..127 copies n+1 literal bytes, n in -127..-1 repeats the next byte 1-n times, -128 is a no-op.
    /// Bytes past the frame are ignored, as encoders pad segments to even length.</summary>
    private static int DecodeSegment(ReadOnlySpan<byte> src, Span<byte> dest, int start, int stride, int count)
    {
        var o = 0;
        var i = 0;
        var pos = start;
        while (o < count && i < src.Length)
        {
            var n = (sbyte)src[i++];
            if (n >= 0)
            {
                var len = Math.Min(n + 1, count - o);
                if (i + len > src.Length) throw new DicomCodecException("RLE literal run reaches past the end of its segment.");
                if (stride == 1) src.Slice(i, len).CopyTo(dest.Slice(pos, len));
                else
                    for (var k = 0; k < len; k++) dest[pos + k * stride] = src[i + k];
                i += n + 1;
                o += len;
                pos += len * stride;
            }
            else if (n != -128)
            {
                if (i >= src.Length) throw new DicomCodecException("RLE replicate run has no byte to repeat.");
                var len = Math.Min(1 - n, count - o);
                var b = src[i++];
                if (stride == 1) dest.Slice(pos, len).Fill(b);
                else
                    for (var k = 0; k < len; k++) dest[pos + k * stride] = b;
                o += len;
                pos += len * stride;
            }
        }
        return o;
    }

    /// <summary>Encodes one native (pixel-interleaved, little-endian) frame. Each row is packed separately (G.3.1).</summary>
    public static byte[] Encode(ReadOnlySpan<byte> native, in FrameLayout layout)
    {
        var bps = layout.BytesPerSample;
        var spp = layout.SamplesPerPixel;
        var segments = spp * bps;
        if (segments > 15) throw new DicomCodecException($"RLE holds at most 15 byte planes; {spp} sample(s) of {layout.BitsAllocated} bits need {segments}.");
        if (native.Length < layout.FrameSize) throw new DicomCodecException($"Frame has {native.Length} bytes; {layout.FrameSize} expected.");
        var stride = spp * bps;
        var cols = layout.Columns;
        // Worst case PackBits grows 1 byte per 128 plus padding.
        var output = new byte[HeaderSize + segments * (layout.PixelCount + layout.PixelCount / 128 + layout.Rows + 2)];
        var row = new byte[cols];
        var at = HeaderSize;
        BinaryPrimitives.WriteUInt32LittleEndian(output, (uint)segments);
        for (var seg = 0; seg < segments; seg++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(output.AsSpan(4 + 4 * seg), (uint)at);
            var sample = seg / bps;
            var offset = sample * bps + (bps - 1 - seg % bps);
            for (var y = 0; y < layout.Rows; y++)
            {
                var rowStart = y * cols * stride + offset;
                for (var x = 0; x < cols; x++) row[x] = native[rowStart + x * stride];
                at += PackRow(row, output.AsSpan(at));
            }
            if ((at & 1) == 1) output[at++] = 0;
        }
        return output.AsSpan(0, at).ToArray();
    }

    private static int PackRow(ReadOnlySpan<byte> row, Span<byte> dest)
    {
        var o = 0;
        var i = 0;
        var n = row.Length;
        while (i < n)
        {
            // Length of the run of equal bytes starting here.
            var run = 1;
            while (i + run < n && run < 128 && row[i + run] == row[i]) run++;
            if (run >= 2)
            {
                dest[o++] = (byte)(sbyte)(1 - run);
                dest[o++] = row[i];
                i += run;
                continue;
            }
            // Literal: up to the next pair of equal bytes (a two-byte repeat costs the same as a literal, three saves).
            var start = i;
            var len = 0;
            while (i < n && len < 128)
            {
                if (i + 2 < n && row[i] == row[i + 1] && row[i] == row[i + 2]) break;
                i++;
                len++;
            }
            dest[o++] = (byte)(len - 1);
            row.Slice(start, len).CopyTo(dest[o..]);
            o += len;
        }
        return o;
    }
}
