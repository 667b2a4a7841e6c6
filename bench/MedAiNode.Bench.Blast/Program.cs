using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MedAiNode.Analysis;
using MedAiNode.Imaging.Nifti;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Preprocessing;
using MedAiNode.Inference.Runtime;
using MedAiNode.Inference.SlidingWindow;
using Microsoft.ML.OnnxRuntime;

// BLAST-CT v1 benchmarks on the shared 1 mm head CT (models/blast-ct-v1/head_ct_1mm_lps.nii.gz).
//   tiles ONNX...            one real head tile per ONNX file (any tile size 80+30k), ONNX Runtime, median of --runs
//   compare --tiles N        ours (ONNX Runtime) and upstream PyTorch (eager, upstream code) on the same N tiles of
//                            the head, same thread count, interleaved --runs times in this one run
//   analysis                 the whole model stage (preprocess, ensemble tiles, postprocess, measure) on the head CT,
//                            --runs times; peak working set; agreement with the shared model_1 reference argmax;
//                            --all-tiles runs every tile (no slidingWindow.tissueTiles), --labels FILE writes the labels
// Usage: dotnet run -c Release --project bench/MedAiNode.Bench.Blast -- MODE [--model blast-ct-v1|blast-ct-v1-ensemble] [--threads 2] [--runs 3] [--tiles 2] [--members N] [--shared DIR]
var mode = args.FirstOrDefault() ?? "analysis";
var threads = Arg("--threads", Environment.ProcessorCount);
var runs = Arg("--runs", 3);
var nTiles = Arg("--tiles", 2);
var root = FindRoot();
var shared = ArgS("--shared", Environment.GetEnvironmentVariable("MEDAINODE_SHARED_DATA") is { Length: > 0 } e ? e : Path.Combine(root, "..", "shared", "data"));
var headPath = Path.Combine(shared, "models", "blast-ct-v1", "head_ct_1mm_lps.nii.gz");
var head = NiftiIO.Read(headPath);
Console.WriteLine($"# BLAST-CT v1, head CT {head.Dims}, {threads} threads, ONNX Runtime {OrtEnv.Instance().GetVersionString()}, {Environment.ProcessorCount} cores, load {Load()}");
var manifest = ModelManifest.Load(Path.Combine(root, "models", ArgS("--model", "blast-ct-v1"), "manifest.json"));
// --members 1: the first member only (the shared reference is model_1's; three take three times the network time).
if (Arg("--members", manifest.Members.Length) is var members && members < manifest.Members.Length) { manifest.Ensemble = manifest.Ensemble![..members]; manifest.Validate(); }
if (args.Contains("--all-tiles")) manifest.SlidingWindow.TissueTiles = null;

switch (mode)
{
    case "tiles":
        foreach (var onnx in args.Skip(1).Where(a => a.EndsWith(".onnx")))
        {
            var tile = int.Parse(System.Text.RegularExpressions.Regex.Match(Path.GetFileName(onnx), @"t(\d+)").Groups[1].Value);
            using var session = Session(onnx);
            var x = HeadTile(tile, (90, 90, 60));
            var t = new List<double>();
            for (var r = 0; r < runs + 1; r++) { var sw = Stopwatch.StartNew(); RunTile(session, x, tile); if (r > 0) t.Add(sw.Elapsed.TotalSeconds); }
            var outVox = Math.Pow(tile - 80, 3);
            var needed = Tiles(head.Dims, tile - 80);
            Console.WriteLine(FormattableString.Invariant($"tile {tile}^3 -> {tile - 80}^3: median {Median(t):0.00} s (min {t.Min():0.00}, max {t.Max():0.00}), {Median(t) / outVox * 1e6:0.00} s per M output voxels, {needed} tiles cover the head"));
        }
        break;
    case "compare":
    {
        var tile = manifest.SlidingWindow.PatchSize![0];
        var member = manifest.Members[0];
        var path = manifest.ResolveOnnxPath(member);
        using var session = Session(path);
        // The first N tiles (in tiling order) that hold tissue: the ones a real analysis runs.
        var origins = TissueTiles(tile, nTiles);
        var inputs = origins.Select(o => HeadTile(tile, o)).ToList();
        var ours = new List<double>(); var upstream = new List<double>();
        RunTile(session, inputs[0], tile); // warm-up
        var tilesArg = string.Join(";", origins.Select(o => $"{o.X},{o.Y},{o.Z}"));
        for (var r = 0; r < runs; r++)
        {
            var sw = Stopwatch.StartNew();
            foreach (var x in inputs) RunTile(session, x, tile);
            ours.Add(sw.Elapsed.TotalSeconds);
            var json = Run("/usr/bin/python3", $"{Path.Combine(root, "bench", "MedAiNode.Bench.Blast", "upstream_bench.py")} --threads {threads} --tile {tile} --member {member.File.Split('-')[3].TrimStart('m')} --tiles \"{tilesArg}\"").Trim().Split('\n')[^1];
            upstream.Add(JsonDocument.Parse(json).RootElement.GetProperty("seconds").GetDouble());
            Console.WriteLine(FormattableString.Invariant($"run {r + 1}: ours {ours[^1]:0.0} s, upstream PyTorch {upstream[^1]:0.0} s for {inputs.Count} tiles of {tile}^3 (load {Load()})"));
        }
        Console.WriteLine(FormattableString.Invariant($"ours (ONNX Runtime): median {Median(ours):0.0} s (min {ours.Min():0.0}, max {ours.Max():0.0}); upstream PyTorch: median {Median(upstream):0.0} s (min {upstream.Min():0.0}, max {upstream.Max():0.0}); speed-up {Median(upstream) / Median(ours):0.0}x"));
        break;
    }
    case "analysis":
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"], IntraOpThreads = threads, WarmUp = false });
        var pipeline = new AnalysisPipeline(cache);
        var load = Stopwatch.StartNew();
        cache.Get(manifest);
        Console.WriteLine(FormattableString.Invariant($"sessions loaded in {load.Elapsed.TotalSeconds:0.0} s ({manifest.Members.Length} members)"));
        var totals = new List<double>();
        for (var r = 0; r < runs; r++)
        {
            var sw = Stopwatch.StartNew();
            var result = pipeline.RunModel(head, manifest);
            totals.Add(sw.Elapsed.TotalSeconds);
            var s = result.WindowStats;
            var t = result.Times;
            Console.WriteLine(FormattableString.Invariant($"run {r + 1}: {totals[^1]:0.0} s (preprocess {t.Preprocess:0.0}, inference {t.Inference:0.0} of which network {t.Model:0.0}, postprocess {t.Postprocess:0.0}, measure {t.Measure:0.0}); tiles {s.Patches}, network runs {s.Runs}, skipped as uniform {s.SkippedUniform}, without tissue {s.SkippedNoTissue}; lesion voxels {string.Join("/", result.LabelStatistics.Select(l => l.Statistics.VoxelCount))} (load {Load()})"));
            if (r == 0)
            {
                var reference = NiftiIO.ReadLabels(Path.Combine(shared, "models", "blast-ct-v1", "head_ct_1mm_lps_model1_argmax.nii.gz"));
                long agree = 0, union = 0, unionAgree = 0;
                for (var i = 0; i < reference.Data.Length; i++)
                {
                    var (a, b) = (reference.Data[i], result.Labels.Data[i]);
                    if (a == b) agree++;
                    if (a > 0 || b > 0) { union++; if (a == b) unionAgree++; }
                }
                Console.WriteLine(FormattableString.Invariant($"  against the shared model_1 reference: {agree / (double)reference.Data.Length:P4} of voxels, {unionAgree / (double)Math.Max(union, 1):P2} of the {union} voxels either labels as lesion"));
                if (ArgS("--labels", "") is { Length: > 0 } labelsOut) NiftiIO.Write(labelsOut, result.Labels);
            }
        }
        Console.WriteLine(FormattableString.Invariant($"whole model stage on the head CT: median {Median(totals):0.0} s (min {totals.Min():0.0}, max {totals.Max():0.0}); peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0:0} MiB"));
        break;
    }
}

InferenceSession Session(string path) => new(path, new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL });

void RunTile(InferenceSession s, float[] x, int tile)
{
    using var v = OrtValue.CreateTensorValueFromMemory(x, [1, 1, tile, tile, tile]);
    using var o = s.Run(new RunOptions(), ["image"], [v], ["logits"]);
}

// The normalised head, one edge-padded input tile whose output starts at o ([z,y,x] order, x fastest).
float[] HeadTile(int tile, (int X, int Y, int Z) o)
{
    var d = head.Dims;
    var v = new float[(long)tile * tile * tile];
    var m = (tile - (tile - 80)) / 2;
    for (var z = 0; z < tile; z++) for (var y = 0; y < tile; y++) for (var x = 0; x < tile; x++)
        v[((long)z * tile + y) * tile + x] = head[Math.Clamp(o.X - m + x, 0, d.X - 1), Math.Clamp(o.Y - m + y, 0, d.Y - 1), Math.Clamp(o.Z - m + z, 0, d.Z - 1)];
    IntensityNormalizer.Apply(manifest.Intensity, v);
    return v;
}

List<(int X, int Y, int Z)> TissueTiles(int tile, int n)
{
    var o = tile - 80;
    var list = new List<(int, int, int)>();
    foreach (var z in SlidingWindowInferer.TileStarts(head.Dims.Z, o))
    foreach (var y in SlidingWindowInferer.TileStarts(head.Dims.Y, o))
    foreach (var x in SlidingWindowInferer.TileStarts(head.Dims.X, o))
    {
        var t = HeadTile(tile, (x, y, z));
        if (t.AsSpan().IndexOfAnyExcept(t[0]) >= 0) list.Add((x, y, z));
        if (list.Count == n) return list;
    }
    return list;
}

static int Tiles(Dims d, int o) => (int)(Math.Ceiling(d.X / (double)o) * Math.Ceiling(d.Y / (double)o) * Math.Ceiling(d.Z / (double)o));
static double Median(List<double> v) { var s = v.OrderBy(x => x).ToList(); return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2; }
static string Load() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
int Arg(string name, int def) { var i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : def; }
string ArgS(string name, string def) { var i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : def; }

static string FindRoot()
{
    var dir = new DirectoryInfo(AppContext.BaseDirectory);
    while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MedAiNode.sln"))) dir = dir.Parent;
    return dir?.FullName ?? throw new InvalidOperationException("MedAiNode.sln not found.");
}

static string Run(string file, string arguments)
{
    var psi = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
    using var p = Process.Start(psi)!;
    var stderr = p.StandardError.ReadToEndAsync();
    var output = p.StandardOutput.ReadToEnd();
    p.WaitForExit();
    if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {arguments} failed: {stderr.Result}");
    return output;
}
