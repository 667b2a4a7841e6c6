using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;
using MedAiNode.Inference.SlidingWindow;
using Microsoft.ML.OnnxRuntime;

// Inference benchmark: (1) the same random-weight 3D U-Net on the same 96^3 patches in ONNX Runtime (ours) and
// PyTorch, same thread count; (2) the share of sliding-window time spent outside the network on a 512x512x300 volume.
// Usage: dotnet run -c Release --project bench/MedAiNode.Bench.Inference -- [--threads N] [--patches N] [--volume X,Y,Z] [--overlap F] [--skip-volume]
var threads = Arg("--threads", Environment.ProcessorCount);
var patches = Arg("--patches", 5);
var volumeDims = ArgS("--volume", "512,512,300").Split(',').Select(int.Parse).ToArray();
var overlap = double.Parse(ArgS("--overlap", "0.25"), CultureInfo.InvariantCulture);
var skipVolume = args.Contains("--skip-volume");
var root = FindRoot();
var work = Path.Combine(Path.GetTempPath(), "medainode-bench");
Directory.CreateDirectory(work);
var onnx = Path.Combine(work, "unet-bench.onnx");
if (!File.Exists(onnx)) Run("/usr/bin/python3", $"{Path.Combine(root, "models", "unet-bench", "build.py")} {onnx}");

Console.WriteLine($"# U-Net 16-32-64-128-256, 96^3 patches, {threads} threads, {patches} patches, ONNX Runtime {OrtEnv.Instance().GetVersionString()}");
var manifest = new ModelManifest
{
    Id = "unet-bench",
    Onnx = new OnnxFileInfo { File = Path.GetFileName(onnx), Sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(onnx))) },
    Input = new TensorSpec { Name = "input" },
    Output = new OutputSpec { Name = "output", Kind = OutputKind.Logits, Channels = 2 },
    SlidingWindow = new SlidingWindowSpec { PatchSize = [96, 96, 96], Overlap = overlap, Blending = BlendMode.Gaussian, BatchSize = 1 },
    Labels = [new LabelSpec { Value = 1, Name = "x", Category = new("91723000", "SCT", "Anatomical Structure"), Type = new("39607008", "SCT", "Lung") }],
    Directory = work,
};
using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"], IntraOpThreads = threads, InterOpThreads = 1, WarmUp = true });
var model = cache.Get(manifest);
var runner = new PatchRunner(model);
var rng = new Random(7);
var inputs = Enumerable.Range(0, patches).Select(_ => { var a = new float[96 * 96 * 96]; for (var i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1); return a; }).ToList();
long[] shape = [1, 1, 96, 96, 96];
runner.Run(inputs[0], shape);
var times = new List<double>();
foreach (var x in inputs) { var t = Stopwatch.StartNew(); runner.Run(x, shape); times.Add(t.Elapsed.TotalSeconds); }
var ort = times.Average();
var torchJson = Run("/usr/bin/python3", $"{Path.Combine(root, "bench", "MedAiNode.Bench.Inference", "torch_bench.py")} {threads} {patches}").Trim().Split('\n')[^1];
var torch = JsonDocument.Parse(torchJson).RootElement;
var pt = torch.GetProperty("mean_s").GetDouble();
Console.WriteLine(FormattableString.Invariant($"onnxruntime  mean {ort:0.000} s/patch (min {times.Min():0.000})"));
Console.WriteLine(FormattableString.Invariant($"pytorch {torch.GetProperty("torch").GetString()}  mean {pt:0.000} s/patch (min {torch.GetProperty("min_s").GetDouble():0.000}), threads {torch.GetProperty("threads").GetInt32()}"));
Console.WriteLine(FormattableString.Invariant($"speed-up (pytorch / onnxruntime): {pt / ort:0.00}x"));

if (!skipVolume)
{
    var d = new Dims(volumeDims[0], volumeDims[1], volumeDims[2]);
    var v = new Volume(d, new Affine(new Vec3(0, 0, 0), new Vec3(0.7, 0, 0), new Vec3(0, 0.7, 0), new Vec3(0, 0, 1)));
    for (var i = 0; i < v.Data.Length; i++) v.Data[i] = (float)Math.Sin(i * 1e-3);
    var inferer = new SlidingWindowInferer(model);
    var last = -1;
    inferer.Run(v, new Progress<InferenceProgress>(p => { var pc = (int)(p.Fraction * 10); if (pc != last) { last = pc; Console.Error.Write($"\r{p.PatchesDone}/{p.PatchesTotal}"); } }));
    var s = inferer.LastStats!;
    Console.Error.WriteLine();
    Console.WriteLine(FormattableString.Invariant($"sliding window {d} overlap {overlap}: {s.Patches} patches, {s.TotalSeconds:0.0} s total, {s.ModelSeconds:0.0} s in the network, overhead {s.OverheadShare:P2}"));
}

int Arg(string name, int fallback) => Array.IndexOf(args, name) is var i && i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : fallback;
string ArgS(string name, string fallback) => Array.IndexOf(args, name) is var i && i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;

static string FindRoot()
{
    var dir = new DirectoryInfo(AppContext.BaseDirectory);
    while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MedAiNode.sln"))) dir = dir.Parent;
    return dir?.FullName ?? Directory.GetCurrentDirectory();
}

static string Run(string program, string arguments)
{
    var psi = new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
    using var p = Process.Start(psi)!;
    var o = p.StandardOutput.ReadToEndAsync();
    var e = p.StandardError.ReadToEndAsync();
    p.WaitForExit();
    if (p.ExitCode != 0) throw new InvalidOperationException($"{program} {arguments} failed: {e.Result}");
    return o.Result;
}
