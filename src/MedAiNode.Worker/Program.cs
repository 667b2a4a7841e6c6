using System.CommandLine;
using MedAiNode.Worker.Commands;

// The one executable: `medainode serve` (the default) runs the service; the other verbs are for people operating it.
// Volumes read compressed series through the codecs layer.
MedAiNode.Imaging.Volumes.FrameDecoding.CompressedFrameDecoder ??= MedAiNode.Dicom.Codecs.DicomPixelDecoder.DecodeFrame;

var root = new RootCommand("MedAiNode: runs AI models on CT studies beside a PACS and returns DICOM SEG and SR.");
var serve = ServeCommand.Create();
root.Subcommands.Add(serve);
root.Subcommands.Add(DumpCommand.Create());
// Each layer's verbs are registered here, one line each.

if (args.Length == 0 || args[0].StartsWith("--", StringComparison.Ordinal) && !args[0].StartsWith("--help", StringComparison.Ordinal) && args[0] != "--version")
    args = ["serve", .. args]; // no verb, or only configuration overrides: run the service

return await root.Parse(args).InvokeAsync();
