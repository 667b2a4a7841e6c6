using MedAiNode.Dicom.Codecs;
using MedAiNode.Worker.Commands;

// The one executable: `medainode serve` (the default) runs the service; the other verbs are for people operating it.
// First: glibc's arenas capped, which means starting again with MALLOC_ARENA_MAX set (the C heap a node keeps after
// analyses; ArenaCap).
MedAiNode.Worker.ArenaCap.Apply();

// Verbs that read pixels decode through one codec registry (the service registers its own in DI).
var codecs = DicomCodecRegistry.CreateDefault();

var root = new RootCommand("MedAiNode: runs AI models on CT studies beside a PACS and returns DICOM SEG and SR.");
var serve = ServeCommand.Create();
root.Subcommands.Add(serve);
root.Subcommands.Add(DumpCommand.Create());
root.Subcommands.Add(TranscodeCommand.Create(codecs));
root.Subcommands.Add(EchoCommand.Create());
root.Subcommands.Add(StoreCommand.Create(codecs));
foreach (var verb in DicomWebCommands.CreateAll()) root.Subcommands.Add(verb);
root.Subcommands.Add(AnalyzeCommand.Create(codecs));
root.Subcommands.Add(SegInfoCommand.Create());

if (args.Length == 0 || args[0].StartsWith("--", StringComparison.Ordinal) && !args[0].StartsWith("--help", StringComparison.Ordinal) && args[0] != "--version")
    args = ["serve", .. args]; // no verb, or only configuration overrides: run the service

return await root.Parse(args).InvokeAsync();
