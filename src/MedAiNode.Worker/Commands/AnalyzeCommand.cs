using System.CommandLine;
using MedAiNode.Imaging.Nifti;
using MedAiNode.Inference.Cli;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;
using MedAiNode.Worker.Analysis;

namespace MedAiNode.Worker.Commands;

/// <summary>
/// `medainode analyze INPUT --out DIR [--model ID]`: a DICOM folder gets labels.nii.gz plus DICOM SEG and TID 1500 SR
/// (what the service would send to the PACS); a NIfTI file gets the label map and measurements (the inference layer's verb).
/// </summary>
internal static class AnalyzeCommand
{
    public static Command Create()
    {
        var niftiVerb = AnalyzeVerb.Create();
        var input = new Argument<string>("input") { Description = "A folder of DICOM files (one study) or a .nii/.nii.gz volume." };
        var outDir = new Option<string>("--out") { Description = "Output folder: labels.nii.gz, seg.dcm, sr.dcm, measurements.", Required = true };
        var model = new Option<string>("--model") { Description = "Model id (a folder under models/ with manifest.json).", DefaultValueFactory = _ => "ct-lung-quant" };
        var cmd = new Command("analyze", "Run a model on a study: label map, DICOM SEG and SR.") { input, outDir, model };
        cmd.SetAction((parse, ct) =>
        {
            var path = parse.GetValue(input)!;
            if (File.Exists(path)) return niftiVerb.Parse(["analyze", path, "--out", parse.GetValue(outDir)!, "--model", parse.GetValue(model)!]).InvokeAsync(cancellationToken: ct);
            try
            {
                var roots = AnalyzeVerb.DefaultModelRoots();
                var manifest = ModelRegistry.Find(parse.GetValue(model)!, roots)
                    ?? throw new ManifestException($"model '{parse.GetValue(model)}' not found under {string.Join(", ", roots)}");
                using var sessions = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CUDA", "CPU"], ModelSearchPaths = roots, WarmUp = false });
                var files = Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).ToList();
                var output = new DicomAnalysis(sessions).Run(files, manifest, new DicomAnalysisOptions(), null, ct);
                var dir = Directory.CreateDirectory(parse.GetValue(outDir)!).FullName;
                NiftiIO.Write(Path.Combine(dir, "labels.nii.gz"), output.Segmentation.Labels);
                output.Seg.Save(Path.Combine(dir, "seg.dcm"));
                output.Sr.Save(Path.Combine(dir, "sr.dcm"));
                Console.Out.WriteLine($"series {output.Selection.Chosen!.SeriesInstanceUid}: {output.Selection.Chosen.SliceCount} slices, model {manifest.Id} {manifest.Version}");
                foreach (var m in output.Measurements)
                    Console.Out.WriteLine($"  segment {m.SegmentNumber}{(m.LesionNumber is { } l ? $" lesion {l}" : "")}: volume {m.VolumeMl:F1} mL"
                        + (m.MeanHu is { } hu ? $", mean {hu:F0} HU" : "") + (m.LongestDiameterMm is { } d ? $", longest diameter {d:F1} mm" : "")
                        + (m.Laa950Percent is { } laa ? $", LAA-950 {laa:F1} %" : ""));
                Console.Out.WriteLine($"wrote {Path.Combine(dir, "seg.dcm")}, {Path.Combine(dir, "sr.dcm")}, {Path.Combine(dir, "labels.nii.gz")}");
                return Task.FromResult(0);
            }
            catch (Exception e) when (e is AnalysisRejectedException or MedAiNode.Results.ResultsInputException or ManifestException or IOException or InvalidOperationException or ArgumentException)
            {
                Console.Error.WriteLine($"medainode analyze: {e.Message}");
                return Task.FromResult(2);
            }
        });
        return cmd;
    }
}
