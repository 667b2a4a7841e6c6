using System.CommandLine;
using MedAiNode.Dicom;
using MedAiNode.Dicom.Codecs;
using MedAiNode.Dicom.IO;
using MedAiNode.Worker.Commands;

namespace MedAiNode.Worker.Tests;

/// <summary>`medainode transcode` as the host builds it, with the host's codec registry.</summary>
public class TranscodeCommandTests
{
    private static string Wg04(string name) => TestData.Path_("compressed", "wg04", name + ".dcm");

    private static byte[] AllFrames(DicomFile f)
    {
        var pd = new DicomPixelData(f.Dataset, f.TransferSyntax);
        using var ms = new MemoryStream();
        for (var i = 0; i < pd.NumberOfFrames; i++) ms.Write(DicomPixelDecoder.DecodeFrame(f.Dataset, f.TransferSyntax, i));
        return ms.ToArray();
    }

    [Theory]
    [InlineData("1.2.840.10008.1.2.5", "1.2.840.10008.1.2.5", "RLELossless")]
    [InlineData("JPEG2000Lossless", "1.2.840.10008.1.2.4.90", "JPEG2000LosslessOnly")]
    [InlineData("explicitvrlittleendian", "1.2.840.10008.1.2.1", "LittleEndianExplicit")]
    public void Verb_parses_and_writes_the_target_syntax(string syntax, string uid, string dcmtkName)
    {
        var dir = TestData.TempDir("verb");
        var output = Path.Combine(dir, "out.dcm");
        var root = new RootCommand { TranscodeCommand.Create(DicomCodecRegistry.CreateDefault()) };
        var input = Wg04("CT2_JPLL");
        var code = root.Parse(["transcode", input, output, "--transfer-syntax", syntax]).Invoke();
        Assert.Equal(0, code);
        var written = DicomFile.Open(output);
        Assert.Equal(uid, written.TransferSyntax.Uid);
        Assert.Equal(AllFrames(DicomFile.Open(Wg04("CT2_UNC"))), AllFrames(written));
        // DCMTK reads what we wrote.
        var dump = Tool.Run("dcmdump", ["+P", "TransferSyntaxUID", output]);
        Assert.Equal(0, dump.ExitCode);
        Assert.Contains(dcmtkName, dump.StdOut);
    }

    [Fact]
    public void Unknown_syntax_lists_the_choices_and_fails_cleanly()
    {
        var err = new StringWriter();
        var dir = TestData.TempDir("verb-bad");
        var code = TranscodeCommand.Run(new FileInfo(Wg04("CT1_UNC")), new FileInfo(Path.Combine(dir, "x.dcm")), "JPEGBaseline8Bit", TextWriter.Null, err);
        Assert.Equal(2, code);
        Assert.Contains("1.2.840.10008.1.2.5 (RLELossless)", err.ToString());
        Assert.False(File.Exists(Path.Combine(dir, "x.dcm")));
    }

    [Fact]
    public void Damaged_input_fails_with_a_message_and_writes_nothing()
    {
        var dir = TestData.TempDir("verb-damaged");
        var bad = Path.Combine(dir, "bad.dcm");
        var bytes = File.ReadAllBytes(Wg04("CT1_JPLL"));
        File.WriteAllBytes(bad, bytes[..(bytes.Length - 60_000)]); // pixel data cut short
        var err = new StringWriter();
        var code = TranscodeCommand.Run(new FileInfo(bad), new FileInfo(Path.Combine(dir, "out.dcm")), "RLELossless", TextWriter.Null, err);
        Assert.Equal(2, code);
        Assert.Contains("bad.dcm", err.ToString());
        Assert.False(File.Exists(Path.Combine(dir, "out.dcm")));
    }
}
