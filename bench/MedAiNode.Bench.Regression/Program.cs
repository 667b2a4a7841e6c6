using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MedAiNode.Dicom;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Analysis;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;
using MedAiNode.Testing;

// Analysis regression check: the results of an analysis must not change when its code is made faster.
//
// Runs what `medainode analyze` runs, in this process and at full precision: AnalysisPipeline (SEG + SR, the service's
// path too) on every CT series in ../shared/data/ct and on the end-to-end benchmark's generated 300-slice 512x512 series,
// and its model stages alone (the NIfTI path, which runs ct-lung-quant whatever the body part) on the shared NIfTI CTs; each
// with ct-lung-quant and ct-body. Each run becomes a snapshot of flat key -> value strings: the label map's geometry,
// a SHA-256 of its voxels and per-label counts, the per-label statistics, manifest measurements, lesions and SEG/SR
// measurements printed round-trip ("R"), the SEG's frames and Pixel Data (hashed) and every SR content item as written.
// UIDs that are new on every run are left out, or replaced by the source file's name.
//
//   capture OUT [--series DIR] [--e2e DLL] [--labels]  writes OUT/<input>.<model>.json (--labels: also labels.nii.gz)
//   compare BASE NEW                                     exit 0 when every snapshot agrees
//
// Compare: hashes, counts and texts must be identical; numbers must agree to 1e-6 relative, and the report says which
// differ at all. The code under test is the code this tool was built with: rebuild it after changing the libraries.
var ci = CultureInfo.InvariantCulture;
if (args.Length < 2 || args[0] is not ("capture" or "compare") || args[0] == "compare" && args.Length < 3)
{
    Console.Error.WriteLine("usage: capture OUT [--series DIR] [--e2e DLL] [--labels] | compare BASE NEW");
    return 2;
}
if (args[0] == "compare") return Compare(args[1], args[2]);

var outDir = Path.GetFullPath(args[1]);
var repo = TestData.RepoRoot;
var e2e = Path.Combine(repo, "bench", "MedAiNode.Bench.EndToEnd", "bin", "Release", "net10.0", "MedAiNode.Bench.EndToEnd.dll");
string? generated = null;
var keepLabels = false;
for (var i = 2; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--series": generated = args[++i]; break;
        case "--e2e": e2e = args[++i]; break;
        case "--labels": keepLabels = true; break;
        default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
    }
}
Directory.CreateDirectory(outDir);
string? scratch = null;
if (generated is null)
{
    // The generator's pixels and geometry are deterministic; only its UIDs are new each time.
    scratch = Path.Combine(Path.GetTempPath(), "medainode-regression-" + Environment.ProcessId);
    generated = Path.Combine(scratch, "series300");
    Directory.CreateDirectory(generated);
    var psi = new ProcessStartInfo("dotnet") { ArgumentList = { e2e, "--series-only", generated } };
    using var p = Process.Start(psi)!;
    p.WaitForExit();
    if (p.ExitCode != 0) { Console.Error.WriteLine($"{e2e} --series-only failed"); return 1; }
}
try
{
    var roots = new[] { Path.Combine(repo, "models") };
    var manifests = ModelCatalog.LoadAll(roots);
    using var sessions = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"], ModelSearchPaths = roots, WarmUp = false });
    var dicomInputs = Directory.GetDirectories(TestData.Path_("ct")).Order(StringComparer.Ordinal).Select(d => (Name: Path.GetFileName(d), Path: d)).ToList();
    dicomInputs.Add(("generated-512x512x300", generated));
    var niftiInputs = new[] { "example_ct.nii.gz", "example_ct_sm.nii.gz" }.Select(n => (Name: "nifti-" + n.Replace(".nii.gz", ""), Path: TestData.Path_("nifti", n)));
    foreach (var modelId in new[] { "ct-lung-quant", "ct-body" })
    {
        var manifest = manifests.Single(m => m.Id == modelId);
        foreach (var (name, path) in dicomInputs)
        {
            var clock = Stopwatch.StartNew();
            var s = new Snapshot();
            try
            {
                var files = Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).ToList();
                var output = new AnalysisPipeline(sessions, MedAiNode.Dicom.Codecs.DicomCodecRegistry.Default).Run(files, manifest, new AnalysisOptions());
                s.Add("status", "ok");
                Segmentation(s, output);
                foreach (var g in output.Groups)
                {
                    if (g.SegmentNumber is not { } segment)
                    {
                        // Measurements over several segments (TID 1501 groups) have no per-segment key.
                        foreach (var m in g.Measurements) s.Add($"sr.group.{string.Join("+", g.Segments)}.{m.Id}", m.Value);
                        continue;
                    }
                    var key = $"sr.measurement.{segment}" + (g.LesionNumber is { } l ? $".lesion{l}" : "");
                    double? Of(Func<MedAiNode.Dicom.CodedConcept, bool> concept) => g.Measurements.FirstOrDefault(m => concept(m.Concept))?.Value;
                    s.Add(key + ".volumeMl", Of(c => c == MedAiNode.Dicom.Codes.Volume)); s.Add(key + ".meanHu", Of(c => c == MedAiNode.Dicom.Codes.AttenuationCoefficient));
                    s.Add(key + ".longestDiameterMm", Of(c => c == MedAiNode.Dicom.Codes.LongAxis));
                    s.Add(key + ".laa950Percent", Of(c => c.Value == "PCTBELOW-950")); s.Add(key + ".centroidMm", g.CentroidMm);
                }
                Seg(s, output.Seg!.Dataset, path);
                Sr(s, output.Sr!.Dataset);
                if (keepLabels) MedAiNode.Imaging.Nifti.NiftiIO.Write(Path.Combine(outDir, $"{name}.{modelId}.labels.nii.gz"), output.Labels);
            }
            catch (AnalysisRejectedException e) { s.Add("status", "rejected: " + e.Message); }
            s.Save(Path.Combine(outDir, $"{name}.{modelId}.json"));
            Console.WriteLine($"{name} {modelId}: {s.Status}, {clock.Elapsed.TotalSeconds.ToString("0.0", ci)} s");
        }
        foreach (var (name, path) in niftiInputs)
        {
            var clock = Stopwatch.StartNew();
            var s = new Snapshot();
            var output = new AnalysisPipeline(sessions).RunModel(MedAiNode.Imaging.Nifti.NiftiIO.Read(path), manifest);
            s.Add("status", "ok");
            Segmentation(s, output);
            if (keepLabels) MedAiNode.Imaging.Nifti.NiftiIO.Write(Path.Combine(outDir, $"{name}.{modelId}.labels.nii.gz"), output.Labels);
            s.Save(Path.Combine(outDir, $"{name}.{modelId}.json"));
            Console.WriteLine($"{name} {modelId}: {s.Status}, {clock.Elapsed.TotalSeconds.ToString("0.0", ci)} s");
        }
    }
    return 0;
}
finally
{
    if (scratch is not null) Directory.Delete(scratch, recursive: true);
}

static void Segmentation(Snapshot s, AnalysisResult r)
{
    Labels(s, "labels", r.Labels);
    Labels(s, "modelGridLabels", r.ModelGridLabels);
    foreach (var l in r.LabelStatistics)
    {
        var k = $"stats.{l.Label}";
        s.Add(k + ".name", l.Name); s.Add(k + ".voxels", l.Statistics.VoxelCount); s.Add(k + ".volumeMl", l.Statistics.VolumeMl);
        s.Add(k + ".centroidMm", [l.Statistics.CentroidMm.X, l.Statistics.CentroidMm.Y, l.Statistics.CentroidMm.Z]);
        s.Add(k + ".longestDiameterMm", l.Statistics.LongestDiameterMm); s.Add(k + ".meanValue", l.Statistics.MeanValue);
    }
    // Per-label measurements by label; those over several labels by their id alone, as the manifest's were before.
    foreach (var m in r.Measurements.Where(m => m.Lesion is null))
        s.Add(m.Labels.Count > 1 ? $"measurement.{m.Id}" : $"measurement.{m.Id}.{m.Labels[0]}", m.Value);
    s.Add("lesions", r.Lesions.Count);
    foreach (var l in r.Lesions)
    {
        var k = $"lesion.{l.Label}.{l.Index}";
        s.Add(k + ".voxels", l.Voxels); s.Add(k + ".volumeMl", l.VolumeMl); s.Add(k + ".centroidMm", [l.CentroidMm.X, l.CentroidMm.Y, l.CentroidMm.Z]);
        s.Add(k + ".longestDiameterMm", l.LongestDiameterMm); s.Add(k + ".meanProbability", l.MeanProbability);
    }
}

static void Labels(Snapshot s, string key, LabelVolume v)
{
    s.Add(key + ".dims", v.Dims.ToString());
    var a = v.Affine;
    s.Add(key + ".affine", [a.Origin.X, a.Origin.Y, a.Origin.Z, a.Col0.X, a.Col0.Y, a.Col0.Z, a.Col1.X, a.Col1.Y, a.Col1.Z, a.Col2.X, a.Col2.Y, a.Col2.Z]);
    s.Add(key + ".sha256", Convert.ToHexString(SHA256.HashData(v.Data)));
    var counts = new long[256];
    foreach (var b in v.Data) counts[b]++;
    for (var l = 0; l < 256; l++) if (counts[l] > 0) s.Add($"{key}.count.{l}", counts[l]);
}

static void Seg(Snapshot s, DicomDataset seg, string inputDir)
{
    // Source SOP Instance UID -> file name, so frame references compare across regenerated series.
    var names = new Dictionary<string, string>();
    foreach (var f in Directory.EnumerateFiles(inputDir).Order(StringComparer.Ordinal))
    {
        try { if (MedAiNode.Dicom.IO.DicomFile.Open(f).Dataset.GetString(DicomTags.SOPInstanceUID) is { Length: > 0 } uid) names.TryAdd(uid, Path.GetFileName(f)); }
        catch (Exception) { /* not DICOM */ }
    }
    s.Add("seg.frames", seg.GetString(DicomTags.NumberOfFrames));
    s.Add("seg.segments", string.Join("; ", seg.GetSequence(DicomTags.SegmentSequence)?.Items.Select(i => $"{i.GetString(DicomTags.SegmentNumber)} {i.GetString(DicomTags.SegmentLabel)}") ?? []));
    var frames = seg.GetSequence(DicomTags.PerFrameFunctionalGroupsSequence)?.Items.Select(f =>
    {
        var segment = f.GetSequence(DicomTags.SegmentIdentificationSequence)?.Items[0].GetString(DicomTags.ReferencedSegmentNumber);
        var source = f.GetSequence(DicomTags.DerivationImageSequence)?.Items[0].GetSequence(DicomTags.SourceImageSequence)?.Items
            .Select(i => i.GetString(DicomTags.ReferencedSOPInstanceUID)).Select(u => u is not null && names.TryGetValue(u, out var n) ? n : u);
        var ipp = f.GetSequence(DicomTags.PlanePositionSequence)?.Items[0].GetString(DicomTags.ImagePositionPatient);
        return $"segment {segment} source {string.Join(",", source ?? [])} at {ipp}";
    }).ToList() ?? [];
    s.Add("seg.perFrame.sha256", Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n", frames)))));
    s.Add("seg.pixelData.sha256", Convert.ToHexString(SHA256.HashData(seg.GetBytes(DicomTags.PixelData).Span)));
}

static void Sr(Snapshot s, DicomDataset sr)
{
    var items = new List<string>();
    Walk(sr, "", items);
    for (var i = 0; i < items.Count; i++) s.Add($"sr.content.{i:D3}", items[i]);
}

// Content items as "path | TYPE | value"; UIDREF values and instance references are left out (new on every run).
static void Walk(DicomDataset node, string path, List<string> into)
{
    var seq = node.GetSequence(DicomTags.ContentSequence);
    if (seq is null) return;
    foreach (var item in seq.Items)
    {
        var name = item.GetSequence(DicomTags.ConceptNameCodeSequence)?.Items[0].GetString(DicomTags.CodeMeaning) ?? "";
        var type = item.GetString(DicomTags.ValueType) ?? "";
        var here = path + "/" + name;
        var value = type switch
        {
            "NUM" => item.GetSequence(DicomTags.MeasuredValueSequence)?.Items[0] is { } mv
                ? mv.GetString(DicomTags.NumericValue) + " " + mv.GetSequence(DicomTags.MeasurementUnitsCodeSequence)?.Items[0].GetString(DicomTags.CodeValue)
                : "(no value)",
            "CODE" => item.GetSequence(DicomTags.ConceptCodeSequence)?.Items[0].GetString(DicomTags.CodeMeaning),
            "TEXT" => item.GetString(DicomTags.TextValue),
            "SCOORD3D" => string.Join(" ", item.GetStrings(DicomTags.GraphicData)),
            "CONTAINER" => "",
            _ => "(not compared)",
        };
        into.Add($"{here} | {type} | {value}");
        Walk(item, here, into);
    }
}

static int Compare(string baseDir, string newDir)
{
    var failures = 0; var roundingOnly = 0; var identical = 0;
    var newFiles = Directory.GetFiles(newDir, "*.json").Select(Path.GetFileName).ToHashSet();
    foreach (var f in Directory.GetFiles(baseDir, "*.json").Select(Path.GetFileName).Order(StringComparer.Ordinal))
    {
        if (!newFiles.Contains(f)) { Console.WriteLine($"{f}: missing in {newDir}"); failures++; continue; }
        var a = Snapshot.Load(Path.Combine(baseDir, f!));
        var b = Snapshot.Load(Path.Combine(newDir, f!));
        var problems = new List<string>(); var rounding = new List<string>();
        foreach (var (k, va) in a)
        {
            if (!b.TryGetValue(k, out var vb)) problems.Add($"{k}: missing");
            else if (va == vb) continue;
            else if (Close(va, vb)) rounding.Add($"{k}: {va} -> {vb}");
            else problems.Add($"{k}: {va} -> {vb}");
        }
        foreach (var k in b.Keys) if (!a.ContainsKey(k)) problems.Add($"{k}: new, {b[k]}");
        if (problems.Count > 0) { failures++; Console.WriteLine($"{f}: DIFFERENT\n  " + string.Join("\n  ", problems.Concat(rounding))); }
        else if (rounding.Count > 0) { roundingOnly++; Console.WriteLine($"{f}: equal within 1e-6 relative\n  " + string.Join("\n  ", rounding)); }
        else { identical++; Console.WriteLine($"{f}: identical ({a.Count} values)"); }
    }
    Console.WriteLine($"{identical} identical, {roundingOnly} equal within 1e-6 relative, {failures} different");
    return failures == 0 ? 0 : 1;
}

// Numbers (or space-separated lists of them) within 1e-6 relative of each other.
static bool Close(string a, string b)
{
    var x = a.Split(' '); var y = b.Split(' ');
    if (x.Length != y.Length) return false;
    for (var i = 0; i < x.Length; i++)
    {
        if (x[i] == y[i]) continue;
        if (!double.TryParse(x[i], NumberStyles.Float, CultureInfo.InvariantCulture, out var dx)
            || !double.TryParse(y[i], NumberStyles.Float, CultureInfo.InvariantCulture, out var dy)
            || !(Math.Abs(dx - dy) <= 1e-6 * Math.Max(Math.Abs(dx), Math.Abs(dy)))) return false;
    }
    return true;
}

/// <summary>Flat, ordered key -> value strings; numbers round-trip ("R").</summary>
sealed class Snapshot : SortedDictionary<string, string>
{
    public Snapshot() : base(StringComparer.Ordinal) { }

    public string Status => TryGetValue("status", out var s) ? s : "?";

    public new void Add(string key, string? value) => base.Add(key, value ?? "null");
    public void Add(string key, long value) => base.Add(key, value.ToString(CultureInfo.InvariantCulture));
    public void Add(string key, double? value) => base.Add(key, value is { } v ? v.ToString("R", CultureInfo.InvariantCulture) : "null");
    public void Add(string key, double[]? values) =>
        base.Add(key, values is null ? "null" : string.Join(" ", values.Select(v => v.ToString("R", CultureInfo.InvariantCulture))));

    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize<SortedDictionary<string, string>>(this, new JsonSerializerOptions { WriteIndented = true }));

    public static Snapshot Load(string path)
    {
        var s = new Snapshot();
        foreach (var (k, v) in JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(path))!) s.Add(k, v);
        return s;
    }
}
