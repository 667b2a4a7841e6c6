using MedAiNode.Dicom.Codecs.Jpeg2000;
using MedAiNode.Dicom.Codecs.Native;
using MedAiNode.Dicom.IO;

namespace MedAiNode.Dicom.Codecs.Tests;

/// <summary>The codec registry: one codec per transfer syntax, replaceable per registry instance (no shared state changes).</summary>
public class CodecRegistryTests
{
    /// <summary>A codec for one syntax that returns a fixed frame and counts its calls.</summary>
    private sealed class FixedCodec(DicomTransferSyntax syntax, byte[] frame) : IDicomCodec
    {
        public int Calls;
        public string Name => "fixed test codec";
        public IReadOnlyList<DicomTransferSyntax> TransferSyntaxes { get; } = [syntax];
        public string? AptPackage => null;
        public bool CanDecode(DicomTransferSyntax ts) => ts.Uid == syntax.Uid;
        public ReadOnlyMemory<byte> DecodeFrame(DicomDataset dataset, DicomTransferSyntax ts, int frameIndex)
        {
            Calls++;
            return frame;
        }
    }

    [Fact]
    public void Default_registry_decodes_every_built_in_syntax_like_the_decoder()
    {
        var registry = DicomCodecRegistry.CreateDefault();
        foreach (var name in new[] { "CT1_RLE", "CT1_JPLL", "CT1_J2KR", "CT1_JLSL", "CT1_UNC" })
        {
            var f = DicomFile.Open(PixelCompare.Wg04(name));
            Assert.True(registry.CanDecode(f.TransferSyntax), name);
            Assert.Equal(PixelCompare.Frame(PixelCompare.Wg04("CT1_UNC")), registry.DecodeFrame(f.Dataset, f.TransferSyntax, 0).ToArray());
        }
    }

    [Fact]
    public void A_codec_registered_for_a_syntax_is_the_one_used_for_it_and_only_for_it()
    {
        var marker = Enumerable.Repeat((byte)0x5A, 16).ToArray();
        var codec = new FixedCodec(DicomTransferSyntax.JPEG2000Lossless, marker);
        var registry = DicomCodecRegistry.CreateDefault().With(codec);
        Assert.Same(codec, registry.GetCodec(DicomTransferSyntax.JPEG2000Lossless));

        var j2k = DicomFile.Open(PixelCompare.Wg04("CT1_J2KR"));
        Assert.Equal(marker, registry.DecodeFrame(j2k.Dataset, j2k.TransferSyntax, 0).ToArray());
        Assert.Equal(1, codec.Calls);
        // Other syntaxes keep the built-in codecs; the default registry is untouched.
        var rle = DicomFile.Open(PixelCompare.Wg04("CT1_RLE"));
        Assert.Equal(PixelCompare.Frame(PixelCompare.Wg04("CT1_UNC")), registry.DecodeFrame(rle.Dataset, rle.TransferSyntax, 0).ToArray());
        Assert.NotSame(codec, DicomCodecRegistry.Default.GetCodec(DicomTransferSyntax.JPEG2000Lossless));
        Assert.Equal(1, codec.Calls);
    }

    [Fact]
    public void Transcoding_decodes_through_the_registry_it_is_given()
    {
        var frame = PixelCompare.Frame(PixelCompare.Wg04("CT1_UNC"));
        var inverted = frame.Select(b => (byte)~b).ToArray();
        var j2k = DicomFile.Open(PixelCompare.Wg04("CT1_J2KR"));
        var codec = new FixedCodec(j2k.TransferSyntax, inverted);
        var native = DicomTranscoder.Transcode(j2k, DicomTransferSyntax.ExplicitVRLittleEndian, DicomCodecRegistry.CreateDefault().With(codec));
        Assert.Equal(1, codec.Calls);
        Assert.Equal(inverted, DicomPixelDecoder.DecodeFrame(native.Dataset, native.TransferSyntax, 0));
        Assert.NotEqual(frame, inverted);
    }

    [Fact]
    public void A_syntax_without_a_codec_is_an_error_naming_the_syntax()
    {
        var registry = DicomCodecRegistry.CreateDefault().Without(DicomTransferSyntax.JPEGLSLossless);
        var jls = DicomFile.Open(PixelCompare.Wg04("CT1_JLSL"));
        Assert.False(registry.CanDecode(jls.TransferSyntax));
        var e = Assert.Throws<DicomCodecException>(() => registry.DecodeFrame(jls.Dataset, jls.TransferSyntax, 0));
        Assert.Contains("1.2.840.10008.1.2.4.80", e.Message);
        Assert.Contains(DicomTransferSyntax.JPEGLSLossless.Name, e.Message);
        // The no-codec default says the same about any compressed syntax.
        var e2 = Assert.Throws<DicomCodecUnavailableException>(() => NativeFrameDecoder.Instance.DecodeFrame(jls.Dataset, jls.TransferSyntax, 0));
        Assert.Contains("1.2.840.10008.1.2.4.80", e2.Message);
    }
}

/// <summary>A codec whose native library is missing: the registry's error names the syntax and the Debian package.</summary>
public class CodecRegistryMissingLibraryTests
{
    [Fact]
    public void Missing_native_library_names_the_syntax_and_the_package()
    {
        var absent = NativeCodecs.Installed with
        {
            Jpeg2000 = new OpenJpeg(new NativeCodecLibrary("OpenJPEG (JPEG 2000)", "libopenjp2-7", "libopenjp2-absent.so.7")),
        };
        var registry = DicomCodecRegistry.CreateDefault(absent);
        var j2k = DicomFile.Open(PixelCompare.Wg04("CT1_J2KR"));
        Assert.False(registry.CanDecode(j2k.TransferSyntax));
        var e = Assert.Throws<DicomCodecException>(() => registry.DecodeFrame(j2k.Dataset, j2k.TransferSyntax, 0));
        Assert.Contains("1.2.840.10008.1.2.4.90", e.Message);
        Assert.Contains("apt-get install libopenjp2-7", e.Message);
        Assert.Equal("libopenjp2-7", e.AptPackage);
        Assert.True(registry.CanDecode(DicomTransferSyntax.JPEGLSLossless)); // only JPEG 2000 is affected
    }
}
