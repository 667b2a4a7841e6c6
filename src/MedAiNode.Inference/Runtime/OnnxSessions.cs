using System.Collections.Concurrent;
using MedAiNode.Inference.Manifests;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MedAiNode.Inference.Runtime;

/// <summary>ONNX Runtime settings, bound from configuration (section "Inference").</summary>
public sealed class InferenceOptions
{
    /// <summary>Execution providers to try in order; the first that loads wins. CPU is always the last resort.</summary>
    public string[] ExecutionProviders { get; set; } = ["CUDA", "CPU"];
    public int DeviceId { get; set; }
    /// <summary>Threads inside one operator; 0 lets ONNX Runtime choose (all physical cores).</summary>
    public int IntraOpThreads { get; set; }
    public int InterOpThreads { get; set; } = 1;
    /// <summary>Run one patch through each model when it is loaded, so the first study does not pay for initialisation.</summary>
    public bool WarmUp { get; set; } = true;
    /// <summary>ONNX Runtime's CPU memory arena, shrunk back after every run: a whole-volume run allocates its tensors
    /// from the arena (about 3x faster on the chest model than plain malloc) and hands them back when it ends, so a
    /// large run does not stay reserved for the process's life. False: plain malloc for every tensor.</summary>
    public bool CpuMemArena { get; set; } = true;
    /// <summary>Model runs this node makes at once, over all analyses. One by default: on CPU a run already uses every
    /// core, and two whole-volume runs at once hold both runs' tensors (the chest graph's are 4x its input volume).</summary>
    public int MaxConcurrentRuns { get; set; } = 1;
    /// <summary>Folders searched for ONNX files named by manifests (after the manifest's own folder).</summary>
    public string[] ModelSearchPaths { get; set; } = [];
    /// <summary>
    /// A GPU build of the ONNX Runtime native library (libonnxruntime.so of the onnxruntime-gpu release of the same
    /// version as the node's Microsoft.ML.OnnxRuntime, its libonnxruntime_providers_*.so beside it). Empty: the CPU
    /// build shipped with the node, on which CUDA and TensorRT are reported unavailable and CPU runs.
    /// </summary>
    public string NativeLibraryPath { get; set; } = "";
    /// <summary>TensorRT: build FP16 engines (about twice as fast on tensor-core GPUs; the labels should be checked once per model).</summary>
    public bool TensorRtFp16 { get; set; } = true;
    /// <summary>TensorRT: folder for built engines, so a restart does not rebuild them (minutes per model). Empty: no cache.</summary>
    public string TensorRtEngineCachePath { get; set; } = "";

    public void Validate(string section = "Inference")
    {
        if (ExecutionProviders.Length == 0) throw new ArgumentException($"{section}:ExecutionProviders must list at least one provider (e.g. CPU).");
        foreach (var p in ExecutionProviders)
            if (!new[] { "TensorRT", "CUDA", "CPU" }.Contains(p, StringComparer.OrdinalIgnoreCase))
                throw new ArgumentException($"{section}:ExecutionProviders has unknown provider '{p}' (use TensorRT, CUDA, CPU).");
        if (IntraOpThreads < 0) throw new ArgumentException($"{section}:IntraOpThreads must not be negative.");
        if (InterOpThreads < 0) throw new ArgumentException($"{section}:InterOpThreads must not be negative.");
        if (DeviceId < 0) throw new ArgumentException($"{section}:DeviceId must not be negative.");
        if (MaxConcurrentRuns is < 1 or > 64) throw new ArgumentException($"{section}:MaxConcurrentRuns must be 1..64 (was {MaxConcurrentRuns}).");
        if (NativeLibraryPath.Length > 0 && !File.Exists(NativeLibraryPath))
            throw new ArgumentException($"{section}:NativeLibraryPath: {NativeLibraryPath} does not exist (the GPU build's libonnxruntime.so; leave it empty for the CPU build shipped with the node).");
        if (TensorRtEngineCachePath.Length > 0 && Path.GetDirectoryName(Path.GetFullPath(TensorRtEngineCachePath)) is { } parent && !Directory.Exists(parent))
            throw new ArgumentException($"{section}:TensorRtEngineCachePath: the folder {parent} that should hold {TensorRtEngineCachePath} does not exist.");
    }
}

/// <summary>
/// Points the managed ONNX Runtime at another native library (a GPU build) for the whole process; it can be chosen once,
/// before the first call into ONNX Runtime.
/// </summary>
public static class OrtNativeLibrary
{
    private static readonly object Gate = new();
    private static string? _path;

    /// <summary>Binds the library at <paramref name="path"/>; returns its full path, or null when none is configured.</summary>
    public static string? Use(string? path)
    {
        if (string.IsNullOrEmpty(path)) return null;
        var full = Path.GetFullPath(path);
        lock (Gate)
        {
            if (_path == full) return full;
            if (_path is not null) throw new InvalidOperationException($"Inference:NativeLibraryPath: ONNX Runtime is already bound to {_path} in this process; {full} cannot replace it.");
            nint handle;
            try { handle = System.Runtime.InteropServices.NativeLibrary.Load(full); }
            catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
            {
                throw new InvalidOperationException($"Inference:NativeLibraryPath: {full} could not be loaded: {e.Message}", e);
            }
            try
            {
                System.Runtime.InteropServices.NativeLibrary.SetDllImportResolver(typeof(OrtEnv).Assembly,
                    (name, _, _) => name is "onnxruntime" or "libonnxruntime" or "libonnxruntime.so" ? handle : 0);
            }
            catch (InvalidOperationException e)
            {
                throw new InvalidOperationException($"Inference:NativeLibraryPath: ONNX Runtime's library resolver is already set in this process ({e.Message}).", e);
            }
            _path = full;
            return full;
        }
    }
}

/// <summary>
/// Bounds how many model runs the node makes at once (Inference:MaxConcurrentRuns), whatever model and analysis they
/// belong to. Analyses still overlap in everything else (reading, resampling, postprocessing, writing).
/// </summary>
public sealed class InferenceGate
{
    private readonly SemaphoreSlim _slots;
    private int _inFlight, _peak;

    public InferenceGate(int slots)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1);
        Slots = slots;
        _slots = new SemaphoreSlim(slots, slots);
    }

    public int Slots { get; }
    /// <summary>The most runs that were in flight at once since the node started.</summary>
    public int PeakInFlight => Volatile.Read(ref _peak);

    /// <summary>Waits for a slot; dispose the lease when the run's output has been read. A cancelled analysis stops
    /// waiting (OperationCanceledException) instead of queueing behind another analysis's run it no longer needs.</summary>
    public Lease Enter(CancellationToken ct = default)
    {
        _slots.Wait(ct);
        var now = Interlocked.Increment(ref _inFlight);
        for (var peak = Volatile.Read(ref _peak); now > peak && Interlocked.CompareExchange(ref _peak, now, peak) != peak; peak = Volatile.Read(ref _peak)) { }
        return new Lease(this);
    }

    public readonly struct Lease(InferenceGate gate) : IDisposable
    {
        public void Dispose()
        {
            Interlocked.Decrement(ref gate._inFlight);
            gate._slots.Release();
        }
    }
}

/// <summary>One provider attempt, for logs and for the status page.</summary>
public sealed record ProviderAttempt(string Provider, bool Succeeded, string? Reason);

/// <summary>
/// A loaded model: its manifest, its sessions (one per ensemble member, each thread-safe for concurrent Run calls) and
/// how the provider was chosen.
/// </summary>
public sealed class LoadedModel
{
    internal LoadedModel(ModelManifest manifest, IReadOnlyList<InferenceSession> sessions, string provider, IReadOnlyList<ProviderAttempt> attempts, IReadOnlyList<string> paths, bool shrinkCpuArena, InferenceGate gate)
    {
        Manifest = manifest; Sessions = sessions; Provider = provider; Attempts = attempts; OnnxPaths = paths; Gate = gate;
        _shrinkCpuArena = shrinkCpuArena;
        var input = Session.InputMetadata[manifest.Input.Name];
        InputIsFloat16 = input.ElementDataType == TensorElementType.Float16;
        OutputIsFloat16 = Session.OutputMetadata[manifest.Output.Name].ElementDataType == TensorElementType.Float16;
    }

    public ModelManifest Manifest { get; }
    /// <summary>The first (often only) member's session.</summary>
    public InferenceSession Session => Sessions[0];
    public IReadOnlyList<InferenceSession> Sessions { get; }
    public string Provider { get; }
    public IReadOnlyList<ProviderAttempt> Attempts { get; }
    public string OnnxPath => OnnxPaths[0];
    public IReadOnlyList<string> OnnxPaths { get; }
    public bool InputIsFloat16 { get; }
    public bool OutputIsFloat16 { get; }
    /// <summary>Several members: each patch's softmax outputs are averaged, so scores are probabilities.</summary>
    public bool IsEnsemble => Sessions.Count > 1;
    /// <summary>The node's bound on model runs at once, shared by every model of one session cache.</summary>
    public InferenceGate Gate { get; }

    private readonly bool _shrinkCpuArena;

    /// <summary>Options for one run: with the CPU arena on, the arena gives back what the run took when it ends.</summary>
    internal RunOptions NewRunOptions()
    {
        var o = new RunOptions();
        if (_shrinkCpuArena) o.AddRunConfigEntry("memory.enable_memory_arena_shrinkage", "cpu:0");
        return o;
    }
}

/// <summary>
/// One CPU arena for every session in the process, grown by what a run asks for. A session's own arena grows by
/// doubling its next region, so a whole-volume run whose tensors need about 140 MiB reserved 272 while it ran (the
/// chest graph on a 2 mm chest; docs/benchmarks.md); each run still shrinks it when it ends (memory.enable_memory_arena_shrinkage).
/// </summary>
internal static class SharedCpuArena
{
    private const int ExtendBySameAsRequested = 1; // OrtArenaCfg's arena_extend_strategy: 0 next power of two, 1 same as requested
    private static readonly Lock Gate = new();
    private static bool? _registered;

    /// <summary>Registers the arena with the process's ONNX Runtime environment once; false (sessions keep their own) if that fails.</summary>
    public static bool Register(ILogger log)
    {
        lock (Gate)
        {
            if (_registered is { } known) return known;
            try
            {
                using var memory = new OrtMemoryInfo(OrtMemoryInfo.allocatorCPU, OrtAllocatorType.ArenaAllocator, 0, OrtMemType.Default);
                using var config = new OrtArenaCfg(0, ExtendBySameAsRequested, -1, -1);
                OrtEnv.Instance().CreateAndRegisterAllocator(memory, config);
                _registered = true;
            }
            catch (OnnxRuntimeException e)
            {
                log.LogWarning("ONNX Runtime's shared CPU arena could not be registered ({Reason}); each model keeps its own", e.Message.Split('\n')[0]);
                _registered = false;
            }
            return _registered.Value;
        }
    }
}

internal sealed record SessionEntry(InferenceSession Session, string Provider, IReadOnlyList<ProviderAttempt> Attempts, string Path);

/// <summary>
/// Loads each model once and shares the session. Execution providers are tried in the configured order; each attempt
/// is logged, and CPU is used with the reason when the accelerators cannot be loaded.
/// </summary>
public sealed class ModelSessionCache : IDisposable
{
    private readonly InferenceOptions _options;
    private readonly ILogger _log;
    // Keyed by the ONNX file's checksum: one session per network, whatever manifests point at it.
    private readonly ConcurrentDictionary<string, Lazy<SessionEntry>> _sessions = new();

    public ModelSessionCache(InferenceOptions options, ILogger? logger = null)
    {
        options.Validate();
        _options = options;
        _log = logger ?? NullLogger.Instance;
        Gate = new InferenceGate(options.MaxConcurrentRuns);
        if (NativeHeap.ArenaPolicy is { } arenas) _log.LogInformation("{ArenaPolicy}", arenas);
        // Before anything calls into ONNX Runtime: which native library serves this process.
        if (OrtNativeLibrary.Use(options.NativeLibraryPath) is { } loaded)
            _log.LogInformation("ONNX Runtime {Version} native library from {Path} (Inference:NativeLibraryPath)", OrtEnv.Instance().GetVersionString(), loaded);
    }

    /// <summary>Model runs at once over every model this cache loads (Inference:MaxConcurrentRuns).</summary>
    public InferenceGate Gate { get; }

    public LoadedModel Get(ModelManifest manifest)
    {
        var entries = manifest.Members.Select(member => Entry(manifest, member)).ToList();
        return new LoadedModel(manifest, entries.Select(e => e.Session).ToList(), entries[0].Provider,
            entries.SelectMany(e => e.Attempts).Distinct().ToList(), entries.Select(e => e.Path).ToList(), _options.CpuMemArena, Gate);
    }

    private SessionEntry Entry(ModelManifest manifest, OnnxFileInfo member)
    {
        var key = member.Sha256.ToLowerInvariant();
        var lazy = _sessions.GetOrAdd(key, _ => new Lazy<SessionEntry>(() => Load(manifest, member), LazyThreadSafetyMode.ExecutionAndPublication));
        SessionEntry entry;
        try { entry = lazy.Value; }
        catch { _sessions.TryRemove(new KeyValuePair<string, Lazy<SessionEntry>>(key, lazy)); throw; }
        CheckSignature(manifest, entry.Session);
        return entry;
    }

    /// <summary>Number of sessions loaded.</summary>
    public int Count => _sessions.Count(m => m.Value.IsValueCreated);

    private SessionEntry Load(ModelManifest manifest, OnnxFileInfo member)
    {
        var path = manifest.ResolveOnnxPath(member, _options.ModelSearchPaths);
        var attempts = new List<ProviderAttempt>();
        var providers = _options.ExecutionProviders.Select(p => p.ToUpperInvariant()).ToList();
        if (!providers.Contains("CPU")) providers.Add("CPU");
        foreach (var provider in providers)
        {
            var so = new SessionOptions
            {
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
                IntraOpNumThreads = _options.IntraOpThreads,
                InterOpNumThreads = _options.InterOpThreads,
                ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
                // With the arena, each run shrinks it again (LoadedModel.NewRunOptions), so a whole chest volume's
                // tensors go back to the system when the run ends.
                EnableCpuMemArena = _options.CpuMemArena,
            };
            if (_options.CpuMemArena && SharedCpuArena.Register(_log)) so.AddSessionConfigEntry("session.use_env_allocators", "1");
            try
            {
                switch (provider)
                {
                    case "TENSORRT":
                    {
                        using var trt = new OrtTensorRTProviderOptions();
                        var settings = new Dictionary<string, string>
                        {
                            ["device_id"] = _options.DeviceId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                            ["trt_fp16_enable"] = _options.TensorRtFp16 ? "1" : "0",
                        };
                        if (_options.TensorRtEngineCachePath.Length > 0)
                        {
                            Directory.CreateDirectory(_options.TensorRtEngineCachePath);
                            settings["trt_engine_cache_enable"] = "1";
                            settings["trt_engine_cache_path"] = Path.GetFullPath(_options.TensorRtEngineCachePath);
                        }
                        trt.UpdateOptions(settings);
                        so.AppendExecutionProvider_Tensorrt(trt);
                        break;
                    }
                    case "CUDA": so.AppendExecutionProvider_CUDA(_options.DeviceId); break;
                }
                var session = new InferenceSession(path, so);
                var name = provider == "TENSORRT" ? "TensorRT" : provider == "CUDA" ? "CUDA" : "CPU";
                attempts.Add(new ProviderAttempt(name, true, null));
                _log.LogInformation("Model {Model} loaded from {Path} on {Provider}", manifest.Id, path, name);
                try
                {
                    CheckSignature(manifest, session);
                    if (_options.WarmUp) WarmUp(new LoadedModel(manifest, [session], name, attempts, [path], _options.CpuMemArena, Gate));
                }
                catch { session.Dispose(); throw; }
                return new SessionEntry(session, name, attempts, path);
            }
            catch (Exception e) when (provider != "CPU" && e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException or NotSupportedException or InvalidOperationException)
            {
                var reason = e.Message.Split('\n')[0];
                attempts.Add(new ProviderAttempt(provider, false, reason));
                _log.LogWarning("Model {Model}: execution provider {Provider} unavailable ({Reason}); trying the next one", manifest.Id, provider, reason);
                so.Dispose();
            }
        }
        throw new InvalidOperationException($"Model {manifest.Id}: no execution provider could load it.");
    }

    private static void CheckSignature(ModelManifest m, InferenceSession session)
    {
        if (!session.InputMetadata.TryGetValue(m.Input.Name, out var input))
            throw new ManifestException($"Model {m.Id}: the ONNX graph has no input '{m.Input.Name}' (it has {string.Join(", ", session.InputMetadata.Keys)}).");
        if (!session.OutputMetadata.TryGetValue(m.Output.Name, out var output))
            throw new ManifestException($"Model {m.Id}: the ONNX graph has no output '{m.Output.Name}' (it has {string.Join(", ", session.OutputMetadata.Keys)}).");
        if (input.Dimensions.Length != 5) throw new ManifestException($"Model {m.Id}: input '{m.Input.Name}' has rank {input.Dimensions.Length}; a 3D model takes [N, C, D, H, W].");
        if (input.ElementDataType is not (TensorElementType.Float or TensorElementType.Float16))
            throw new ManifestException($"Model {m.Id}: input element type {input.ElementDataType} is not float32 or float16.");
        var channels = m.Output.TensorChannels;
        if (output.Dimensions.Length == 5 && output.Dimensions[1] > 0 && output.Dimensions[1] != channels)
            throw new ManifestException(m.Output.Kind == OutputKind.Labels
                ? $"Model {m.Id}: output has {output.Dimensions[1]} channels; output.kind labels takes one channel of class indices."
                : $"Model {m.Id}: output has {output.Dimensions[1]} channels, the manifest says {channels}.");
        var types = m.Output.Kind == OutputKind.Labels ? PatchRunner.LabelOutputTypes : [TensorElementType.Float, TensorElementType.Float16];
        if (!types.Contains(output.ElementDataType))
            throw new ManifestException($"Model {m.Id}: output element type {output.ElementDataType} is not one output.kind {m.Output.Kind.ToString().ToLowerInvariant()} reads ({string.Join(", ", types)}).");
    }

    private void WarmUp(LoadedModel model)
    {
        var dims = model.Session.InputMetadata[model.Manifest.Input.Name].Dimensions;
        var shape = dims.Select((d, i) => (long)(d > 0 ? d : i < 2 ? 1 : 16)).ToArray();
        if (shape.Skip(2).Aggregate(1L, (a, b) => a * b) > 32 * 32 * 32 && model.Manifest.SlidingWindow.PatchSize is null) return; // whole-volume models warm up on their first study
        var runner = new PatchRunner(model);
        var n = shape.Aggregate(1L, (a, b) => a * b);
        runner.Run(new float[n], shape);
        _log.LogInformation("Model {Model} warmed up", model.Manifest.Id);
    }

    public void Dispose()
    {
        foreach (var m in _sessions.Values) if (m.IsValueCreated) m.Value.Session.Dispose();
        _sessions.Clear();
    }
}
