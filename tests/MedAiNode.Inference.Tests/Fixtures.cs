using System.Security.Cryptography;
using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using Microsoft.Extensions.Logging;

namespace MedAiNode.Inference.Tests;

internal static class Fixtures
{
    public static string ModelsDir => Path.Combine(TestData.RepoRoot, "models");
    public static string FixtureDir => Path.Combine(ModelsDir, "test-fixtures");

    public static string Sha(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }

    /// <summary>A manifest for one of the tiny fixture models (built by models/test-fixtures/build.py).</summary>
    /// <param name="whole">The whole volume in one run (no patch size).</param>
    public static ModelManifest Manifest(string onnx = "identity2.onnx", int[]? patch = null, OutputKind kind = OutputKind.Logits, int channels = 2, bool whole = false)
    {
        var m = new ModelManifest
        {
            Id = Path.GetFileNameWithoutExtension(onnx),
            Onnx = new OnnxFileInfo { File = onnx, Sha256 = Sha(Path.Combine(FixtureDir, onnx)) },
            Input = new TensorSpec { Name = "input" },
            Output = new OutputSpec { Name = "output", Kind = kind, Channels = channels },
            SlidingWindow = new SlidingWindowSpec { PatchSize = whole ? null : patch ?? [16, 16, 8], Overlap = 0.5 },
            Labels = [new LabelSpec { Value = 1, Name = "positive", Category = new("91723000", "SCT", "Anatomical Structure"), Type = new("39607008", "SCT", "Lung") }],
            Directory = FixtureDir,
        };
        m.Validate();
        return m;
    }

    public static Volume Random(Dims d, int seed = 1, Affine? affine = null)
    {
        var rng = new Random(seed);
        var v = new Volume(d, affine ?? new Affine(new Vec3(0, 0, 0), new Vec3(1, 0, 0), new Vec3(0, 1, 0), new Vec3(0, 0, 1)));
        for (var i = 0; i < v.Data.Length; i++) v.Data[i] = (float)(rng.NextDouble() * 2 - 1);
        return v;
    }
}

/// <summary>Collects log lines so tests can check what the service tells operators.</summary>
internal sealed class ListLogger : ILogger
{
    public List<(LogLevel Level, string Message)> Lines { get; } = new();
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Lines) Lines.Add((logLevel, formatter(state, exception)));
    }
}
