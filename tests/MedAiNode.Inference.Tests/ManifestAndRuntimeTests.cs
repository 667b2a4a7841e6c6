using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;
using Microsoft.Extensions.Logging;

namespace MedAiNode.Inference.Tests;

public class ManifestAndRuntimeTests
{
    [Fact]
    public void RepositoryManifests_LoadAndValidate()
    {
        var all = ModelCatalog.LoadAll([Fixtures.ModelsDir]);
        var brain = Assert.Single(all, m => m.Id == "mr-brainchop-tissue3");
        Assert.Equal(3, brain.Output.Channels);
        Assert.Equal(IntensityKind.MinMax, brain.Intensity.Kind);
        Assert.Equal("40146001", brain.Label(1)!.Type!.Value);
        var lab = brain.Label(2)!.DisplayColor()!.Value;
        Assert.InRange(lab.L, 60000, 65535); // a light colour has high L*
        Assert.All(all, m => Assert.All(m.Members, f => Assert.Equal(64, f.Sha256.Length)));
        // BLAST-CT: model_1 by default, the three members as an ensemble model of its own, the same ONNX files;
        // valid-convolution tiling and the tissue rule declared in the manifests.
        var blast = Assert.Single(all, m => m.Id == "blast-ct-v1");
        var ensemble = Assert.Single(all, m => m.Id == "blast-ct-v1-ensemble");
        Assert.Single(blast.Members);
        Assert.Equal(3, ensemble.Members.Length);
        Assert.Equal(blast.Members[0].Sha256, ensemble.Members[0].Sha256);
        foreach (var m in new[] { blast, ensemble })
        {
            Assert.Equal([30, 30, 30], m.SlidingWindow.OutputSize!);
            Assert.Equal(PadMode.Edge, m.SlidingWindow.Padding);
            Assert.NotNull(m.SlidingWindow.TissueTiles);
            Assert.All(m.Members, f => Assert.True(File.Exists(Path.Combine(m.Directory!, f.File)), f.File));
            Assert.Equal(m.Members.Length, m.Members.Select(f => m.ResolveOnnxPath(f)).Distinct().Count());
        }
    }

    [Fact]
    public void LabelColour_FromRgb_IsTheD65CieLabViewersDecode_AndAnExplicitCieLabWins()
    {
        var label = new LabelSpec { Rgb = [255, 255, 255] };
        Assert.Equal(new MedAiNode.Dicom.DicomCieLab(65535, 32896, 32896), label.DisplayColor()); // white: L* 100, neutral
        label.Rgb = [221, 130, 101];
        Assert.Equal(MedAiNode.Dicom.DicomCieLab.FromRgb(221, 130, 101), label.DisplayColor());
        label.CieLab = [1, 2, 3];
        Assert.Equal(new MedAiNode.Dicom.DicomCieLab(1, 2, 3), label.DisplayColor());
    }

    [Fact]
    public void InvalidManifests_NameTheKey()
    {
        var dir = TestData.TempDir("manifest");
        var path = Path.Combine(dir, "manifest.json");
        File.WriteAllText(path, """{ "id": "x", "onnx": { "file": "a.onnx", "sha256": "abc" } }""");
        Assert.Contains("onnx.sha256", Assert.Throws<ManifestException>(() => ModelManifest.Load(path)).Message);
        File.WriteAllText(path, "{ not json");
        Assert.Contains("not a valid model manifest", Assert.Throws<ManifestException>(() => ModelManifest.Load(path)).Message);
        var m = Fixtures.Manifest();
        m.SlidingWindow.Overlap = 1.5;
        Assert.Contains("slidingWindow.overlap", Assert.Throws<ManifestException>(() => m.Validate()).Message);
        m = Fixtures.Manifest();
        m.Labels[0].Value = 5;
        Assert.Contains("labels[5].value", Assert.Throws<ManifestException>(() => m.Validate()).Message);
    }

    [Fact]
    public void A_labels_output_is_refused_where_scores_would_be_averaged_or_read_as_probabilities()
    {
        ManifestException Refused(Action<ModelManifest> change)
        {
            var m = Fixtures.Manifest("argmax2.onnx", kind: OutputKind.Labels, whole: true);
            change(m);
            return Assert.Throws<ManifestException>(() => m.Validate());
        }
        Assert.Contains("slidingWindow.patchSize", Refused(m => m.SlidingWindow.PatchSize = [16, 16, 8]).Message);
        Assert.Contains("slidingWindow.mirrorAxes", Refused(m => m.SlidingWindow.MirrorAxes = [0]).Message);
        Assert.Contains("labels[1].postprocessing.lesions", Refused(m => m.Labels[0].Postprocessing = new LabelPostprocessing { Lesions = true }).Message);
        Assert.Contains("output.kind", Refused(m => { m.Ensemble = [m.Onnx, m.Onnx]; m.Onnx = new OnnxFileInfo(); }).Message);
        // Tiles that place each output voxel once are fine.
        var tiled = Fixtures.Manifest("argmax2.onnx", kind: OutputKind.Labels, whole: true);
        tiled.SlidingWindow.PatchSize = [12, 12, 12];
        tiled.SlidingWindow.OutputSize = [10, 10, 10];
        tiled.SlidingWindow.Blending = BlendMode.None;
        tiled.Validate();
    }

    [Fact]
    public void An_output_whose_channels_or_type_do_not_match_its_kind_is_refused_at_load()
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"], IntraOpThreads = 1 });
        // Scores declared as indices: two channels.
        var e = Assert.Throws<ManifestException>(() => cache.Get(Fixtures.Manifest("identity2.onnx", kind: OutputKind.Labels, whole: true)));
        Assert.Contains("takes one channel of class indices", e.Message);
        // Indices (int64) declared as sigmoid scores.
        e = Assert.Throws<ManifestException>(() => cache.Get(Fixtures.Manifest("argmax2.onnx", kind: OutputKind.Sigmoid, channels: 1)));
        Assert.Contains("output element type Int64", e.Message);
    }

    [Fact]
    public void ChecksumMismatch_IsRefused()
    {
        var m = Fixtures.Manifest();
        m.Onnx.Sha256 = new string('0', 64);
        var e = Assert.Throws<ManifestException>(() => m.ResolveOnnxPath());
        Assert.Contains("refusing", e.Message);
        m.Onnx.File = "missing.onnx";
        Assert.Contains("not found", Assert.Throws<ManifestException>(() => m.ResolveOnnxPath()).Message);
    }

    [Theory]
    [InlineData("NativeLibraryPath", "/nonexistent/onnxruntime-gpu/lib/libonnxruntime.so")]
    [InlineData("TensorRtEngineCachePath", "/nonexistent/folder/engines")]
    public void GpuSettingsThatCannotWork_AreRefusedAtStart_NamingTheKey(string key, string value)
    {
        var o = new InferenceOptions();
        typeof(InferenceOptions).GetProperty(key)!.SetValue(o, value);
        var e = Assert.Throws<ArgumentException>(() => o.Validate());
        Assert.StartsWith($"Inference:{key}", e.Message);
        Assert.Contains(key == "NativeLibraryPath" ? value : "/nonexistent/folder", e.Message);
    }

    [Fact]
    public void ProvidersAreTriedInOrder_AndCpuFallbackIsLoggedWithReason()
    {
        var log = new ListLogger();
        // TensorRT with its FP16 and engine-cache settings, as a GPU node is configured: on the CPU build it is skipped with its reason.
        var engines = Path.Combine(Path.GetTempPath(), "medainode-trt-" + Guid.NewGuid().ToString("N"));
        using var cache = new ModelSessionCache(new InferenceOptions
        {
            ExecutionProviders = ["TensorRT", "CUDA", "CPU"], IntraOpThreads = 1, TensorRtFp16 = true, TensorRtEngineCachePath = engines,
        }, log);
        var model = cache.Get(Fixtures.Manifest());
        Assert.Equal("CPU", model.Provider);
        Assert.Equal(["TENSORRT", "CUDA", "CPU"], model.Attempts.Select(a => a.Provider.ToUpperInvariant()));
        Assert.All(model.Attempts.Take(2), a => { Assert.False(a.Succeeded); Assert.False(string.IsNullOrWhiteSpace(a.Reason)); });
        Assert.Contains(log.Lines, l => l.Level == LogLevel.Warning && l.Message.Contains("CUDA") && l.Message.Contains("unavailable"));
        Assert.Contains(log.Lines, l => l.Message.Contains("warmed up"));
        // Loaded once, shared.
        Assert.Same(model.Session, cache.Get(Fixtures.Manifest()).Session);
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public void WrongTensorNames_AreReportedAgainstTheGraph()
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var m = Fixtures.Manifest();
        m.Input.Name = "image";
        var e = Assert.Throws<ManifestException>(() => cache.Get(m));
        Assert.Contains("no input 'image'", e.Message);
    }

    [Fact]
    public void InvalidOptions_NameTheKey()
    {
        Assert.Contains("Inference:ExecutionProviders", Assert.Throws<ArgumentException>(() => new InferenceOptions { ExecutionProviders = ["OpenVINO"] }.Validate()).Message);
    }
}
