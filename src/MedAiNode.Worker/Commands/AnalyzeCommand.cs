using MedAiNode.Analysis;
using MedAiNode.Imaging.Nifti;
using MedAiNode.Imaging.Series;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;

namespace MedAiNode.Worker.Commands;

/// <summary>`medainode analyze INPUT --out DIR [--model ID]`: the service's analysis pipeline, run by hand.</summary>
/// <remarks>
/// A folder of DICOM files gets labels.nii.gz, DICOM SEG and SR (what the service would send to the PACS) and
/// measurements.json; a NIfTI volume gets labels.nii.gz and measurements.json. Prints the series chosen and why, and
/// every warning (skipped files, gaps, uneven spacing, tilt).
/// </remarks>
internal static class AnalyzeCommand
{
    public static Command Create(IDicomFrameDecoder frameDecoder) // the host's codec registry, for compressed series
    {
        var outDir = new Option<string>("--out") { Description = "Output folder: labels.nii.gz, seg.dcm, sr.dcm, summary_NN.dcm, measurements.json.", Required = true };
        var model = new Option<string?>("--model") { Description = "Model id (a folder under models/ with manifest.json); default for CT: the service's default models in order (chest: ct-lung-quant, head: blast-ct-v1), the first whose rules the study meets; else the first model for the modality." };
        var models = new Option<string[]>("--models") { Description = $"Folders with model manifests (default: ./models, the program's models/ folder, ${ModelCatalog.ModelsVariable}).", AllowMultipleArgumentsPerToken = true };
        var providers = new Option<string[]>("--providers") { Description = "Execution providers in order (TensorRT, CUDA, CPU).", AllowMultipleArgumentsPerToken = true };
        var threads = new Option<int>("--threads") { Description = "ONNX Runtime intra-op threads (0 = all cores)." };
        var noSummary = new Option<bool>("--no-summary") { Description = "Do not write the AI summary Secondary Capture images (summary_NN.dcm)." };
        var input = new Argument<string>("input") { Description = "A folder of DICOM files (one study) or a .nii/.nii.gz volume." };
        var cmd = new Command("analyze", "Run a model on a study: label map, DICOM SEG and SR, measurements.") { input, outDir, model, models, providers, threads, noSummary };
        cmd.SetAction((parse, ct) =>
        {
            try
            {
                var roots = parse.GetValue(models) is { Length: > 0 } r ? r : ModelCatalog.DefaultRoots();
                // Every folder's manifest is read to choose a model; an invalid one other than the model asked for (an
                // older build reading a newer manifest, a researcher's work in progress) is reported and left out.
                var skipped = new List<(string Path, string Error)>();
                var manifests = ModelCatalog.LoadAll(roots, skipped);
                if (parse.GetValue(model) is { } wanted && manifests.All(m => m.Id != wanted)
                    && skipped.FirstOrDefault(s => Path.GetFileName(Path.GetDirectoryName(s.Path)) == wanted) is { Error: { } invalid })
                    throw new ManifestException($"model {wanted}: {invalid}");
                foreach (var (manifestPath, error) in skipped) Console.Error.WriteLine($"medainode analyze: warning: model manifest {manifestPath} left out: {error}");
                using var sessions = new ModelSessionCache(new InferenceOptions
                {
                    ExecutionProviders = parse.GetValue(providers) is { Length: > 0 } p ? p : ["CUDA", "CPU"],
                    IntraOpThreads = parse.GetValue(threads),
                    ModelSearchPaths = roots,
                    WarmUp = false,
                });
                var pipeline = new AnalysisPipeline(sessions, frameDecoder);
                var path = parse.GetValue(input)!;
                var progress = Console.IsErrorRedirected ? null : new ProgressBar();
                AnalysisResult result;
                if (File.Exists(path) && (path.EndsWith(".nii", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".nii.gz", StringComparison.OrdinalIgnoreCase)))
                {
                    var manifest = AnalysisPipeline.ChooseModel(manifests, parse.GetValue(model), null);
                    var volume = NiftiIO.Read(path);
                    result = pipeline.RunModel(volume, manifest, progress, ct);
                    result = result with { Notes = [$"NIfTI input {Path.GetFileName(path)}: {volume.Dims}, spacing {volume.Spacing}", .. result.Notes] };
                }
                else if (Directory.Exists(path))
                {
                    var files = AnalysisPipeline.Open(Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal), out var unreadable);
                    var modality = files.FirstOrDefault()?.Dataset.GetString(DicomTags.Modality);
                    // No model named: a CT goes through the service's default models in order, as the service routes it
                    // (chest to the lung analysis, head to BLAST-CT); the first whose rules the study meets runs.
                    var candidates = parse.GetValue(model) is null && string.Equals(modality, "CT", StringComparison.OrdinalIgnoreCase)
                        ? new MedAiNode.Worker.Analysis.ModelsOptions().Enabled.Select(id => manifests.FirstOrDefault(m => m.Id == id)).OfType<ModelManifest>().ToList()
                        : [];
                    if (candidates.Count == 0) candidates = [AnalysisPipeline.ChooseModel(manifests, parse.GetValue(model), modality)];
                    var options = new AnalysisOptions { Summary = new MedAiNode.Results.Summary.SummaryOptions { Enabled = !parse.GetValue(noSummary) } };
                    var refusals = new List<string>();
                    result = null!;
                    foreach (var manifest in candidates)
                    {
                        try { result = pipeline.Run(files, unreadable, manifest, options, progress, ct); refusals.Clear(); break; }
                        catch (AnalysisRejectedException e) when (candidates.Count > 1)
                        {
                            refusals.Add($"{manifest.Id}: {e.Message}");
                            Console.Error.WriteLine($"medainode analyze: model {manifest.Id} not run: {e.Message}");
                        }
                        catch (AnalysisRejectedException e)
                        {
                            // Still a page for the study saying it was not analysed and why, as the service would file it.
                            var page = AnalysisFiles.WriteSummary(AnalysisPipeline.NotAnalysedSummary(files, manifest, e.Message, options), parse.GetValue(outDir)!);
                            if (page.Count > 0) Console.Error.WriteLine($"medainode analyze: not analysed; summary page {page[0]}");
                            throw;
                        }
                    }
                    if (refusals.Count > 0)
                    {
                        var why = string.Join("; ", refusals);
                        var page = AnalysisFiles.WriteSummary(AnalysisPipeline.NotAnalysedSummary(files, candidates[0], why, options), parse.GetValue(outDir)!);
                        if (page.Count > 0) Console.Error.WriteLine($"medainode analyze: not analysed; summary page {page[0]}");
                        throw new AnalysisRejectedException(why);
                    }
                }
                else throw new FileNotFoundException($"Input {path} is neither a folder of DICOM files nor a .nii/.nii.gz file.");
                if (progress is not null) Console.Error.WriteLine();
                Console.Out.WriteLine(AnalysisFiles.Format(result, AnalysisFiles.Write(result, parse.GetValue(outDir)!)));
                return Task.FromResult(0);
            }
            catch (Exception e) when (e is AnalysisRejectedException or MedAiNode.Results.ResultsInputException or ManifestException or IOException
                or ArgumentException or InvalidOperationException or VolumeAssemblyException or NiftiFormatException)
            {
                Console.Error.WriteLine($"medainode analyze: {e.Message}");
                return Task.FromResult(2);
            }
        });
        return cmd;
    }

    private sealed class ProgressBar : IProgress<double>
    {
        public void Report(double fraction)
        {
            const int width = 40;
            var done = (int)(Math.Clamp(fraction, 0, 1) * width);
            Console.Error.Write($"\r[{new string('#', done)}{new string('-', width - done)}] {fraction:P0}");
        }
    }
}
