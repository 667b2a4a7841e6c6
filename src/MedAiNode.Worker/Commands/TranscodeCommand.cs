using MedAiNode.Dicom.Codecs;
using MedAiNode.Dicom.IO;

namespace MedAiNode.Worker.Commands;

/// <summary>`medainode transcode IN OUT --transfer-syntax UID`: rewrites a file's pixel data in another transfer syntax.</summary>
public static class TranscodeCommand
{
    /// <param name="codecs">Decodes the source frames (the host's codec registry).</param>
    public static Command Create(IDicomFrameDecoder codecs)
    {
        var input = new Argument<FileInfo>("in") { Description = "The DICOM file to read." };
        var output = new Argument<FileInfo>("out") { Description = "Where to write the transcoded file (written atomically)." };
        var syntax = new Option<string>("--transfer-syntax", "-t")
        {
            Description = "Target transfer syntax: a UID (1.2.840.10008.1.2.5) or its keyword (RLELossless, JPEG2000Lossless, ExplicitVRLittleEndian).",
            Required = true,
        };
        var cmd = new Command("transcode", "Decode and re-encode a DICOM file's pixel data in another transfer syntax.") { input, output, syntax };
        cmd.SetAction(parse => Run(parse.GetValue(input)!, parse.GetValue(output)!, parse.GetValue(syntax)!, Console.Out, Console.Error, codecs));
        return cmd;
    }

    /// <summary>The verb's work; returns the process exit code (0 done, 2 bad input or unsupported syntax).</summary>
    public static int Run(FileInfo input, FileInfo output, string syntax, TextWriter stdout, TextWriter stderr, IDicomFrameDecoder? codecs = null)
    {
        var target = Resolve(syntax);
        if (target is null)
        {
            var known = string.Join(", ", DicomTransferSyntax.All.Where(t => DicomTranscoder.CanEncode(t)).Select(t => $"{t.Uid} ({Keyword(t)})"));
            stderr.WriteLine($"medainode transcode: '{syntax}' is not a transfer syntax this node can write. Choose one of: {known}");
            return 2;
        }
        try
        {
            var file = DicomFile.Open(input.FullName);
            var started = System.Diagnostics.Stopwatch.StartNew();
            var result = DicomTranscoder.Transcode(file, target, codecs);
            result.Save(output.FullName);
            var frames = Math.Max(1, file.Dataset.GetValueOrDefault<int>(DicomTags.NumberOfFrames, 1));
            stdout.WriteLine($"{input.Name}: {file.TransferSyntax.Name} ({input.Length:N0} bytes) -> {output.Name}: {target.Name} " +
                             $"({new FileInfo(output.FullName).Length:N0} bytes), {frames} frame(s) in {started.ElapsedMilliseconds} ms");
            return 0;
        }
        catch (Exception e) when (e is DicomCodecException or DicomCodecUnavailableException or DicomFormatException or IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"medainode transcode: {input.Name}: {e.Message}");
            return 2;
        }
    }

    private static DicomTransferSyntax? Resolve(string s)
    {
        s = s.Trim();
        var ts = DicomTransferSyntax.All.FirstOrDefault(t => t.Uid == s || string.Equals(Keyword(t), s, StringComparison.OrdinalIgnoreCase));
        return ts is not null && DicomTranscoder.CanEncode(ts) ? ts : null;
    }

    private static string Keyword(DicomTransferSyntax ts) => DicomUids.Find(ts.Uid)?.Keyword ?? ts.Uid;
}
