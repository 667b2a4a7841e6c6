using MedAiNode.Dicom.Codecs.Jpeg2000;
using MedAiNode.Dicom.Codecs.JpegLs;
using MedAiNode.Dicom.Codecs.Native;
using MedAiNode.Dicom.Codecs.Pixels;
using MedAiNode.Dicom.IO;

namespace MedAiNode.Dicom.Codecs.Tests;

/// <summary>Missing native libraries and damaged codestreams give a clear DicomCodecException, never a crash.</summary>
public class RobustnessTests
{
    private static readonly FrameLayout Ct = new(512, 512, 1, 16, 16, true, 0, "MONOCHROME2");

    private static byte[] Codestream(string wg04)
    {
        var f = DicomFile.Open(PixelCompare.Wg04(wg04));
        return new DicomPixelData(f.Dataset, f.TransferSyntax).GetFrame(0).ToArray();
    }

    [Fact]
    public void Missing_openjpeg_names_its_apt_package()
    {
        var absent = new OpenJpeg(new NativeCodecLibrary("OpenJPEG (JPEG 2000)", "libopenjp2-7", "libopenjp2-does-not-exist.so.7"));
        Assert.False(absent.IsAvailable);
        var e = Assert.Throws<DicomCodecException>(() => absent.Decode(Codestream("CT1_J2KR"), new byte[Ct.FrameSize], Ct));
        Assert.Equal("libopenjp2-7", e.AptPackage);
        Assert.Contains("apt-get install libopenjp2-7", e.Message);
        // Asking again gives the same answer without probing, and the other codecs keep working.
        Assert.Throws<DicomCodecException>(() => absent.EncodeLossless(new byte[Ct.FrameSize], Ct));
        Assert.Equal(Codestream("CT1_UNC"), PixelCompare.Frame(PixelCompare.Wg04("CT1_RLE")));
    }

    [Fact]
    public void Missing_charls_names_its_apt_package()
    {
        var absent = new CharLs(new NativeCodecLibrary("CharLS (JPEG-LS)", "libcharls2", "libcharls-does-not-exist.so.2"));
        Assert.False(absent.IsAvailable);
        var e = Assert.Throws<DicomCodecException>(() => absent.Decode(Codestream("CT1_JLSL"), new byte[Ct.FrameSize], Ct));
        Assert.Equal("libcharls2", e.AptPackage);
        Assert.Contains("apt-get install libcharls2", e.Message);
    }

    [Fact]
    public void A_library_lacking_a_symbol_is_reported_as_missing()
    {
        // libcharls is real but has no OpenJPEG exports: the same path a too-old libopenjp2 would take.
        var wrong = new OpenJpeg(new NativeCodecLibrary("OpenJPEG (JPEG 2000)", "libopenjp2-7", "libcharls.so.2"));
        var e = Assert.Throws<DicomCodecException>(() => wrong.Decode(Codestream("CT1_J2KR"), new byte[Ct.FrameSize], Ct));
        Assert.Contains("opj_", e.Message);
        Assert.Equal("libopenjp2-7", e.AptPackage);
    }

    [Fact]
    public void Installed_libraries_are_found()
    {
        Assert.True(OpenJpeg.Default.IsAvailable);
        Assert.StartsWith("2.", OpenJpeg.Default.Version);
        Assert.True(OpenJpeg.Default.DecodesHighThroughput); // Debian 12 ships 2.5.0
        Assert.True(CharLs.Default.IsAvailable);
        foreach (var ts in DicomTransferSyntax.All) Assert.True(DicomPixelDecoder.CanDecode(ts), ts.ToString());
        Assert.True(DicomTranscoder.CanEncode(DicomTransferSyntax.RLELossless));
        Assert.True(DicomTranscoder.CanEncode(DicomTransferSyntax.JPEG2000Lossless));
        Assert.True(DicomTranscoder.CanEncode(DicomTransferSyntax.JPEGLSLossless));
        Assert.False(DicomTranscoder.CanEncode(DicomTransferSyntax.JPEGBaseline8Bit));
        Assert.False(DicomPixelDecoder.CanDecode(DicomTransferSyntax.Get("1.2.840.10008.1.2.4.100"))); // MPEG2: not an image codec here
    }

    public static TheoryData<string> Compressed() => new() { "CT1_RLE", "CT1_JPLL", "CT1_JLSL", "CT1_JLSN", "CT1_J2KR", "CT1_J2KI" };

    [Theory]
    [MemberData(nameof(Compressed))]
    public void Truncated_frames_throw_codec_exceptions(string name)
    {
        var file = DicomFile.Open(PixelCompare.Wg04(name));
        var full = Codestream(name);
        foreach (var keep in new[] { 0, 3, 40, full.Length / 3, full.Length / 2 })
        {
            var ds = file.Dataset.Clone();
            var seq = new DicomFragmentSequence(DicomTags.PixelData, DicomVR.OB);
            var cut = full[..keep];
            if (cut.Length % 2 == 1) cut = full[..(keep + 1)];
            seq.Fragments.Add(new MemoryByteBuffer(cut));
            ds.Add(seq);
            var e = Record.Exception(() => DicomPixelDecoder.DecodeFrame(ds, file.TransferSyntax, 0));
            // OpenJPEG tolerates truncated JPEG 2000 (it decodes the layers it has), as progressive codestreams allow.
            if (e is null) Assert.StartsWith("CT1_J2K", name);
            else Assert.IsType<DicomCodecException>(e);
        }
    }

    [Theory]
    [MemberData(nameof(Compressed))]
    public void Corrupted_bytes_never_crash(string name)
    {
        var file = DicomFile.Open(PixelCompare.Wg04(name));
        var full = Codestream(name);
        var rng = new Random(42);
        for (var trial = 0; trial < 40; trial++)
        {
            var bad = (byte[])full.Clone();
            // Half the trials hit the headers (where a fuzz run found an unchecked scan header), half anywhere.
            var span = trial % 2 == 0 ? Math.Min(300, bad.Length) : bad.Length;
            for (var k = 0; k < 1 + trial % 16; k++) bad[rng.Next(2, span)] = (byte)rng.Next(256);
            var ds = file.Dataset.Clone();
            var seq = new DicomFragmentSequence(DicomTags.PixelData, DicomVR.OB);
            seq.Fragments.Add(new MemoryByteBuffer(bad));
            ds.Add(seq);
            var e = Record.Exception(() => DicomPixelDecoder.DecodeFrame(ds, file.TransferSyntax, 0));
            if (e is not null) Assert.IsType<DicomCodecException>(e);
        }
    }

    [Theory]
    [InlineData("CT1_JPLL")]
    [InlineData("CT1_JLSL")]
    [InlineData("CT1_J2KR")]
    public void Frame_header_disagreeing_with_the_dataset_is_reported(string name)
    {
        var file = DicomFile.Open(PixelCompare.Wg04(name));
        var ds = file.Dataset.Clone();
        ds.Set<ushort>(DicomTags.Rows, DicomVR.US, 256);
        var e = Assert.Throws<DicomCodecException>(() => DicomPixelDecoder.DecodeFrame(ds, file.TransferSyntax, 0));
        Assert.Contains("512x512", e.Message);
    }

    [Fact]
    public void Frame_index_out_of_range_is_a_codec_error()
    {
        var file = DicomFile.Open(PixelCompare.Wg04("CT1_RLE"));
        Assert.Throws<DicomCodecException>(() => DicomPixelDecoder.DecodeFrame(file.Dataset, file.TransferSyntax, 1));
    }

    [Fact]
    public void Unsupported_target_syntax_names_what_can_be_encoded()
    {
        var file = DicomFile.Open(PixelCompare.Wg04("CT1_UNC"));
        var e = Assert.Throws<DicomCodecException>(() => DicomTranscoder.Transcode(file, DicomTransferSyntax.JPEGBaseline8Bit));
        Assert.Contains("RLE Lossless", e.Message);
    }
}

public class ConcurrencyTests
{
    [Fact]
    public void Native_and_managed_codecs_decode_concurrently()
    {
        var names = new[] { "CT1_RLE", "CT1_JPLL", "CT1_JLSL", "CT1_J2KR", "CT2_J2KI", "CT2_JLSN" };
        var files = names.Select(n => DicomFile.Open(PixelCompare.Wg04(n))).ToArray();
        var expected = files.Select(f => DicomPixelDecoder.DecodeFrame(f.Dataset, f.TransferSyntax, 0)).ToArray();
        var failures = 0;
        Parallel.For(0, 48, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var k = i % files.Length;
            if (!DicomPixelDecoder.DecodeFrame(files[k].Dataset, files[k].TransferSyntax, 0).AsSpan().SequenceEqual(expected[k]))
                Interlocked.Increment(ref failures);
        });
        Assert.Equal(0, failures);
    }
}

public class SettingsTests
{
    [Fact]
    public void Jpeg2000_thread_count_changes_speed_not_pixels()
    {
        var file = DicomFile.Open(PixelCompare.Wg04("CT1_J2KR"));
        var before = DicomCodecSettings.Jpeg2000Threads;
        try
        {
            DicomCodecSettings.Jpeg2000Threads = 1;
            var single = DicomPixelDecoder.DecodeFrame(file.Dataset, file.TransferSyntax, 0);
            DicomCodecSettings.Jpeg2000Threads = 4;
            Assert.Equal(single, DicomPixelDecoder.DecodeFrame(file.Dataset, file.TransferSyntax, 0));
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => DicomCodecSettings.Jpeg2000Threads = 0);
            Assert.Contains("Jpeg2000Threads", e.Message);
        }
        finally
        {
            DicomCodecSettings.Jpeg2000Threads = before;
        }
    }
}

/// <summary>A registry whose native libraries are absent: decoding and transcoding through it name the package, other
/// syntaxes keep working, and nothing shared is changed (the process-wide defaults are untouched).</summary>
public class MissingLibraryThroughPublicApiTests
{
    [Fact]
    public void Decoding_and_transcoding_name_the_package_and_other_syntaxes_keep_working()
    {
        var absent = new NativeCodecs(
            new OpenJpeg(new NativeCodecLibrary("OpenJPEG (JPEG 2000)", "libopenjp2-7", "libopenjp2-absent.so.7")),
            new CharLs(new NativeCodecLibrary("CharLS (JPEG-LS)", "libcharls2", "libcharls-absent.so.2")));
        var registry = DicomCodecRegistry.CreateDefault(absent);
        Assert.False(registry.CanDecode(DicomTransferSyntax.JPEG2000Lossless));
        Assert.False(registry.CanDecode(DicomTransferSyntax.JPEGLSLossless));
        Assert.False(DicomTranscoder.CanEncode(DicomTransferSyntax.JPEG2000Lossless, registry));

        var j2k = DicomFile.Open(PixelCompare.Wg04("CT1_J2KR"));
        var e = Assert.Throws<DicomCodecException>(() => registry.DecodeFrame(j2k.Dataset, j2k.TransferSyntax, 0));
        Assert.Contains("apt-get install libopenjp2-7", e.Message);
        var jls = DicomFile.Open(PixelCompare.Wg04("CT1_JLSL"));
        e = Assert.Throws<DicomCodecException>(() => DicomTranscoder.Transcode(jls, DicomTransferSyntax.ExplicitVRLittleEndian, registry));
        Assert.Contains("apt-get install libcharls2", e.Message);
        var unc = DicomFile.Open(PixelCompare.Wg04("CT1_UNC"));
        e = Assert.Throws<DicomCodecException>(() => DicomTranscoder.Transcode(unc, DicomTransferSyntax.JPEG2000Lossless, registry));
        Assert.Equal("libopenjp2-7", e.AptPackage);

        // Everything else is untouched, and so is the installed default.
        var rle = DicomTranscoder.Transcode(DicomFile.Open(PixelCompare.Wg04("CT1_JPLL")), DicomTransferSyntax.RLELossless, registry);
        Assert.Equal(PixelCompare.Frame(PixelCompare.Wg04("CT1_UNC")), registry.DecodeFrame(rle.Dataset, rle.TransferSyntax, 0).ToArray());
        Assert.True(DicomCodecRegistry.Default.CanDecode(DicomTransferSyntax.JPEG2000Lossless));
        Assert.True(DicomTranscoder.CanEncode(DicomTransferSyntax.JPEGLSLossless));
    }
}
