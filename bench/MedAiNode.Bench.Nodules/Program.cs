using System.Diagnostics;
using System.Globalization;
using MedAiNode.Analysis;
using MedAiNode.Dicom.Codecs;
using MedAiNode.Dicom.IO;
using MedAiNode.Imaging.Series;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;
using MedAiNode.Testing;

// Lung nodule detection against references nobody here wrote: per series, sensitivity per reader-consensus nodule
// (outlined, so 3 mm or more, by at least 1 and at least 2 of LIDC's four readers; Lung-PET-CT-Dx's tumour boxes) and
// false positives per scan, with the analysis time. Candidates near a lesion the score does not count (a nodule only
// one reader outlined, when scoring 2+) are neither hits nor false positives.
//   flock /tmp/medainode-build.lock dotnet build -c Release bench/MedAiNode.Bench.Nodules
//   dotnet bench/MedAiNode.Bench.Nodules/bin/Release/net10.0/MedAiNode.Bench.Nodules.dll
var ci = CultureInfo.InvariantCulture;
var manifest = ModelManifest.Load(Path.Combine(TestData.RepoRoot, "models", "ct-lung-quant", "manifest.json"));
using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
var pipeline = new AnalysisPipeline(cache, DicomCodecRegistry.CreateDefault());

Console.WriteLine("| series | reference | lesions | found | sensitivity | false positives | candidates | analysis s |");
Console.WriteLine("|---|---|---|---|---|---|---|---|");
Evaluate("lidc-idri-0001-chest", geometry =>
{
    var outlines = ReaderMarks.ReadLidc(TestData.Path_("ct", "lidc-idri-0001-chest-nodules.xml")).Where(n => n.Outlined)
        .Select(n => (n.Reader, (IReadOnlyList<(double, double, double)>)n.Points.Select(p => Point(geometry[p.SopInstanceUid].PixelToPatient(p.Column, p.Row))).ToList()));
    var all = LesionMatching.Consensus(outlines);
    return [("LIDC readers, >= 1 of 4", all, []), ("LIDC readers, >= 2 of 4", all.Where(l => l.Readers >= 2).ToList(), all.Where(l => l.Readers < 2).ToList())];
});
Evaluate("lungpetctdx-a0001-chest", geometry =>
{
    // The boxes of one tumour on its slices: one lesion, centred on the boxes' centres, as wide as the largest box.
    var boxes = ReaderMarks.ReadVocBoxes(TestData.Path_("ct", "lungpetctdx-a0001-chest-boxes"))
        .Select(b => (Centre: geometry[b.SopInstanceUid].PixelToPatient((b.XMin + b.XMax) / 2.0, (b.YMin + b.YMax) / 2.0),
            Radius: geometry[b.SopInstanceUid].RowSpacing * Math.Max(b.XMax - b.XMin, b.YMax - b.YMin) / 2)).ToList();
    var tumour = new ReferenceLesion(boxes.Average(b => b.Centre.X), boxes.Average(b => b.Centre.Y), boxes.Average(b => b.Centre.Z), 1, boxes.Max(b => b.Radius));
    return [("tumour boxes (adenocarcinoma)", [tumour], [])];
});
return 0;

void Evaluate(string series, Func<Dictionary<string, FrameInfo>, List<(string Name, List<ReferenceLesion> Lesions, List<ReferenceLesion> Ignore)>> reference)
{
    var files = Directory.GetFiles(TestData.Path_("ct", series), "*.dcm");
    var geometry = files.SelectMany(f => InstanceGeometry.Frames(DicomFile.Open(f))).ToDictionary(f => f.SopInstanceUid);
    var clock = Stopwatch.StartNew();
    var result = pipeline.Run(files, manifest, new AnalysisOptions());
    var seconds = clock.Elapsed.TotalSeconds;
    var nodule = manifest.Anatomy?.Nodules?.Label ?? 0;
    var candidates = result.Lesions.Where(l => l.Label == nodule).Select(l => (l.CentroidMm.X, l.CentroidMm.Y, l.CentroidMm.Z)).ToList();
    foreach (var (name, lesions, ignore) in reference(geometry))
    {
        var (found, total, fp) = LesionMatching.Score(lesions, ignore, candidates);
        Console.WriteLine(string.Create(ci, $"| {series} | {name} | {total} | {found} | {(total == 0 ? "-" : ((double)found / total).ToString("0.00", ci))} | {fp} | {candidates.Count} | {seconds:0.0} |"));
    }
}

static (double, double, double) Point(MedAiNode.Imaging.Geometry.Vec3 v) => (v.X, v.Y, v.Z);
