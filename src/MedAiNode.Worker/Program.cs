using System.CommandLine;
using MedAiNode.Worker.Commands;

// The one executable: `medainode serve` (the default) runs the service; the other verbs are for people operating it.
// Volumes read compressed series through the codecs layer.
MedAiNode.Imaging.Volumes.FrameDecoding.CompressedFrameDecoder ??= MedAiNode.Dicom.Codecs.DicomPixelDecoder.DecodeFrame;

var root = new RootCommand("MedAiNode: runs AI models on CT studies beside a PACS and returns DICOM SEG and SR.");
var serve = ServeCommand.Create();
root.Subcommands.Add(serve);
root.Subcommands.Add(DumpCommand.Create());
root.Subcommands.Add(MedAiNode.Dicom.Codecs.Cli.TranscodeVerb.Create());
root.Subcommands.Add(MedAiNode.Dicom.Network.Cli.EchoVerb.Create());
root.Subcommands.Add(MedAiNode.Dicom.Network.Cli.StoreVerb.Create(MedAiNode.Dicom.Codecs.DicomTranscoder.Transcode));
foreach (var verb in MedAiNode.DicomWeb.Cli.DicomWebVerbs.CreateAll()) root.Subcommands.Add(verb);
root.Subcommands.Add(AnalyzeCommand.Create());
root.Subcommands.Add(MedAiNode.Results.Cli.SegInfoVerb.Create());

if (args.Length == 0 || args[0].StartsWith("--", StringComparison.Ordinal) && !args[0].StartsWith("--help", StringComparison.Ordinal) && args[0] != "--version")
    args = ["serve", .. args]; // no verb, or only configuration overrides: run the service

return await root.Parse(args).InvokeAsync();
