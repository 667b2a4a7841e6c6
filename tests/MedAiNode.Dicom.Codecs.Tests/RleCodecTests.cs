using MedAiNode.Dicom.Codecs.Pixels;
using MedAiNode.Dicom.Codecs.Rle;

namespace MedAiNode.Dicom.Codecs.Tests;

public class RleCodecTests
{
    private static FrameLayout Layout(int rows, int cols, int spp, int bits) => new(rows, cols, spp, bits, bits, false, 0, spp == 1 ? "MONOCHROME2" : "RGB");

    [Theory]
    [InlineData(1, 1, 1, 8)]
    [InlineData(3, 300, 1, 8)]
    [InlineData(7, 5, 3, 8)]
    [InlineData(9, 130, 1, 16)]
    [InlineData(4, 129, 3, 16)]
    [InlineData(5, 6, 3, 32)]
    public void Round_trips_runs_literals_and_row_boundaries(int rows, int cols, int spp, int bits)
    {
        var layout = Layout(rows, cols, spp, bits);
        var native = new byte[layout.FrameSize];
        var rng = new Random(rows * 1000 + cols);
        // Long runs (over 128), short pairs, and noise, so every PackBits case occurs.
        for (var i = 0; i < native.Length; i++)
            native[i] = (i / 7 % 5) switch { 0 or 1 => 0x11, 2 => (byte)(i / 2), _ => (byte)rng.Next(256) };
        var encoded = RleCodec.Encode(native, layout);
        Assert.Equal(0, encoded.Length % 2);
        Assert.Equal((uint)(spp * bits / 8), BitConverter.ToUInt32(encoded, 0));
        var decoded = new byte[layout.FrameSize];
        RleCodec.Decode(encoded, decoded, layout);
        Assert.Equal(native, decoded);
    }

    [Fact]
    public void Long_runs_compress_and_never_cross_rows()
    {
        var layout = Layout(2, 300, 1, 8);
        var native = new byte[600];
        Array.Fill(native, (byte)7);
        var encoded = RleCodec.Encode(native, layout);
        // Per row: 128 + 128 + 44 as three replicate runs (2 bytes each) = 6 bytes; two rows; 64-byte header.
        Assert.Equal(64 + 12, encoded.Length);
        Assert.Equal(new byte[] { unchecked((byte)-127), 7, unchecked((byte)-127), 7, unchecked((byte)-43), 7 }, encoded[64..70]);
    }

    [Fact]
    public void Decoder_skips_the_minus_128_no_op_and_ignores_padding()
    {
        var layout = Layout(1, 4, 1, 8);
        var frame = new byte[64 + 8];
        BitConverter.TryWriteBytes(frame.AsSpan(0), 1u);
        BitConverter.TryWriteBytes(frame.AsSpan(4), 64u);
        new byte[] { 0x80, 0x01, 9, 8, unchecked((byte)-1), 5, 0, 0 }.CopyTo(frame, 64); // no-op, literal 2, run of 2, pad
        var decoded = new byte[4];
        RleCodec.Decode(frame, decoded, layout);
        Assert.Equal(new byte[] { 9, 8, 5, 5 }, decoded);
    }

    [Fact]
    public void Wrong_segment_count_and_short_segments_are_reported()
    {
        var layout = Layout(2, 2, 1, 16);
        var encoded = RleCodec.Encode(new byte[8], layout);
        var e = Assert.Throws<DicomCodecException>(() => RleCodec.Decode(encoded, new byte[4], Layout(2, 2, 1, 8)));
        Assert.Contains("2 segments", e.Message);
        var shortFrame = RleCodec.Encode(new byte[4], Layout(2, 2, 1, 8));
        Assert.Throws<DicomCodecException>(() => RleCodec.Decode(shortFrame, new byte[9], Layout(3, 3, 1, 8)));
    }

    [Fact]
    public void More_than_fifteen_byte_planes_cannot_be_encoded()
    {
        var e = Assert.Throws<DicomCodecException>(() => RleCodec.Encode(new byte[64], Layout(2, 2, 4, 32)));
        Assert.Contains("15", e.Message);
    }
}
