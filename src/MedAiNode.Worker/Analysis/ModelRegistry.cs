using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;
using Microsoft.Extensions.Options;

namespace MedAiNode.Worker.Analysis;

/// <summary>Section "Models": which models run on incoming studies and where their manifests are.</summary>
public sealed class ModelsOptions
{
    public const string Section = "Models";
    /// <summary>Model ids (folder names under a search path, each holding manifest.json); each runs on every study whose
    /// series meets its manifest's rules (chest CT: lung analysis; head CT: BLAST-CT haemorrhage).</summary>
    public List<string> Enabled { get; set; } = new() { "ct-lung-quant", "blast-ct-v1" };
    /// <summary>Folders searched for ID/manifest.json, in order; a relative path is from the binary's folder (where the
    /// default models ship), never from the working directory.</summary>
    public List<string> SearchPaths { get; set; } = new() { "models" };

    /// <summary><see cref="SearchPaths"/> made absolute: relative ones under <paramref name="baseFolder"/> (the binary's folder).</summary>
    public IReadOnlyList<string> ResolvedSearchPaths(string? baseFolder = null) =>
        SearchPaths.Select(p => Path.GetFullPath(Path.IsPathRooted(p) ? p : Path.Combine(baseFolder ?? AppContext.BaseDirectory, p))).ToList();

    public IEnumerable<string> Validate()
    {
        if (Enabled.Count == 0) yield return $"{Section}:{nameof(Enabled)} names no model; at least one is needed";
        if (SearchPaths.Count == 0) yield return $"{Section}:{nameof(SearchPaths)} is empty";
    }
}

/// <summary>The enabled models, found and checked at start (manifest valid, ONNX hash right, session created once and shared).</summary>
public sealed class ModelRegistry
{
    private readonly ModelsOptions _options;
    private readonly ILogger<ModelRegistry> _log;
    private readonly List<ModelManifest> _models = new();
    private readonly List<string> _problems = new();

    public ModelRegistry(IOptions<ModelsOptions> options, ModelSessionCache sessions, ILogger<ModelRegistry> log)
    {
        _options = options.Value;
        Sessions = sessions;
        _log = log;
        Load();
    }

    public ModelSessionCache Sessions { get; }
    public IReadOnlyList<ModelManifest> Models => _models;
    /// <summary>Why an enabled model is not usable; empty when all are ready.</summary>
    public IReadOnlyList<string> Problems => _problems;

    private void Load()
    {
        var searchPaths = _options.ResolvedSearchPaths();
        foreach (var id in _options.Enabled)
        {
            try
            {
                var manifest = ModelCatalog.Find(id, searchPaths);
                if (manifest is null)
                {
                    _problems.Add($"model '{id}' not found under {string.Join(", ", searchPaths)} (Models:Enabled / Models:SearchPaths)");
                    continue;
                }
                manifest.Validate(id);
                var loaded = Sessions.Get(manifest); // creates and warms the session once
                _models.Add(manifest);
                _log.LogInformation("Model {Model} {Version} ready on {Provider}, from {Folder}", manifest.Id, manifest.Version, loaded.Provider, manifest.Directory);
            }
            catch (Exception e) when (e is ManifestException or IOException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException or InvalidOperationException)
            {
                _problems.Add($"model '{id}': {e.Message}");
            }
        }
        foreach (var p in _problems) _log.LogError("{Problem}", p);
    }
}
