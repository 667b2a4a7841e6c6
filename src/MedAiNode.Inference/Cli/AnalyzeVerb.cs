using System.CommandLine;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Pipeline;
using MedAiNode.Inference.Runtime;
using MedAiNode.Inference.SlidingWindow;

namespace MedAiNode.Inference.Cli;

/// <summary>`medainode analyze INPUT --out DIR [--model ID]`: segment a DICOM folder or NIfTI file and print measurements.</summary>
public static class AnalyzeVerb
{
    public static Command Create()
    {
        var input = new Argument<string>("input") { Description = "A folder of DICOM files (one study) or a .nii/.nii.gz volume." };
        var outDir = new Option<string>("--out") { Description = "Folder for labels.nii.gz and measurements.json.", Required = true };
        var model = new Option<string?>("--model") { Description = $"Model id (default: {AnalysisRunner.DefaultCtModel} for CT)." };
        var models = new Option<string[]>("--models") { Description = "Folders with model manifests (default: ./models, the program's models/ folder, $MEDAINODE_MODELS).", AllowMultipleArgumentsPerToken = true };
        var providers = new Option<string[]>("--providers") { Description = "Execution providers in order (TensorRT, CUDA, CPU).", AllowMultipleArgumentsPerToken = true };
        var threads = new Option<int>("--threads") { Description = "ONNX Runtime intra-op threads (0 = all cores)." };
        var cmd = new Command("analyze", "Run a segmentation model on a study and write the label map and measurements.") { input, outDir, model, models, providers, threads };
        cmd.SetAction((parse, ct) =>
        {
            try
            {
                var roots = parse.GetValue(models) is { Length: > 0 } r ? r : DefaultModelRoots();
                var manifests = ModelCatalog.LoadAll(roots);
                var options = new InferenceOptions
                {
                    ExecutionProviders = parse.GetValue(providers) is { Length: > 0 } p ? p : ["CUDA", "CPU"],
                    IntraOpThreads = parse.GetValue(threads),
                    ModelSearchPaths = roots.Concat(Environment.GetEnvironmentVariable("MEDAINODE_MODEL_PATH")?.Split(Path.PathSeparator) ?? []).ToArray(),
                    WarmUp = false,
                };
                using var sessions = new ModelSessionCache(options);
                var runner = new AnalysisRunner(sessions, manifests);
                var output = runner.Run(parse.GetValue(input)!, parse.GetValue(outDir)!, parse.GetValue(model), Console.IsErrorRedirected ? null : new ProgressBar(), ct);
                if (!Console.IsErrorRedirected) Console.Error.WriteLine();
                Console.Out.WriteLine(AnalysisRunner.Format(output));
                return Task.FromResult(0);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or ManifestException or Imaging.Series.VolumeAssemblyException or Imaging.Nifti.NiftiFormatException)
            {
                Console.Error.WriteLine($"medainode analyze: {e.Message}");
                return Task.FromResult(2);
            }
        });
        return cmd;
    }

    public static string[] DefaultModelRoots()
    {
        var list = new List<string> { Path.Combine(Directory.GetCurrentDirectory(), "models"), Path.Combine(AppContext.BaseDirectory, "models") };
        if (Environment.GetEnvironmentVariable("MEDAINODE_MODELS") is { Length: > 0 } env) list.AddRange(env.Split(Path.PathSeparator));
        return list.Distinct().ToArray();
    }

    private sealed class ProgressBar : IProgress<InferenceProgress>
    {
        public void Report(InferenceProgress p)
        {
            var width = 40;
            var done = (int)(p.Fraction * width);
            Console.Error.Write($"\r[{new string('#', done)}{new string('-', width - done)}] {p.PatchesDone}/{p.PatchesTotal} patches");
        }
    }
}
