using MedAiNode.Export;
using MedAiNode.Inference.Manifests;
using MedAiNode.Worker.Analysis;

namespace MedAiNode.Worker.Triage;

/// <summary>
/// Section "Triage": rules that mark a study positive when a model's measurement is above a volume, and the webhooks
/// the alert goes to. Rules select measurements as data (a model id, a manifest measurement id, optionally one label),
/// so any model's volumes can drive triage without code named after it.
/// </summary>
public sealed class TriageOptions
{
    public const string Section = "Triage";

    /// <summary>Rules by name (Triage:Rules:&lt;name&gt;:Model, ...). A study is positive when any rule is.</summary>
    public Dictionary<string, TriageRule> Rules { get; set; } = new();

    /// <summary>Alert receivers by name (Triage:Webhooks:&lt;name&gt;:Url, ...).</summary>
    public Dictionary<string, WebhookOptions> Webhooks { get; set; } = new();

    /// <summary>Every problem, each naming its key. The manifests of the rules' models are read (not run) to check that
    /// the measurement and label exist and that the measurement is a volume in ml.</summary>
    public IEnumerable<string> Validate(ModelsOptions models)
    {
        foreach (var (name, webhook) in Webhooks)
            foreach (var problem in webhook.Validate($"{Section}:{nameof(Webhooks)}:{name}")) yield return problem;
        foreach (var (name, rule) in Rules)
            foreach (var problem in rule.Validate($"{Section}:{nameof(Rules)}:{name}", models, Webhooks.Keys)) yield return problem;
    }

    /// <summary>The webhooks a positive rule alerts: those it names, or every webhook when it names none.</summary>
    public IEnumerable<string> WebhooksOf(TriageRule rule) => rule.Webhooks.Count > 0 ? rule.Webhooks : Webhooks.Keys;
}

/// <summary>One triage rule: positive when the largest value of the selected measurement is above <see cref="ThresholdMl"/>.</summary>
public sealed class TriageRule
{
    /// <summary>The model id (as in Models:Enabled) whose measurements the rule reads.</summary>
    public string Model { get; set; } = "";
    /// <summary>A measurement id of the model's manifest that is a volume in ml (e.g. haemorrhageVolume over several
    /// labels, volume per label, lesionVolume per lesion). Empty: "volume".</summary>
    public string Measurement { get; set; } = "";
    /// <summary>One label, by value or name, for a per-label or per-lesion measurement; empty: any label's (the largest).</summary>
    public string Label { get; set; } = "";
    /// <summary>Positive when the value is strictly above this many ml.</summary>
    public double? ThresholdMl { get; set; }
    /// <summary>Names of Triage:Webhooks entries that get the alert; empty: all of them.</summary>
    public List<string> Webhooks { get; set; } = new();

    public string EffectiveMeasurement => string.IsNullOrWhiteSpace(Measurement) ? "volume" : Measurement;

    /// <summary>The label value <see cref="Label"/> names in a label table (value or name, case-insensitive); null if it names none.</summary>
    public int? ResolveLabel(IReadOnlyDictionary<int, string> labels) =>
        int.TryParse(Label, out var v) && labels.ContainsKey(v) ? v
        : labels.Where(l => string.Equals(l.Value, Label.Trim(), StringComparison.OrdinalIgnoreCase)).Select(l => (int?)l.Key).FirstOrDefault();

    internal IEnumerable<string> Validate(string key, ModelsOptions models, IEnumerable<string> webhooks)
    {
        if (string.IsNullOrWhiteSpace(Model))
        {
            yield return $"{key}:{nameof(Model)} is required (a model id from {ModelsOptions.Section}:{nameof(ModelsOptions.Enabled)})";
            yield break;
        }
        if (ThresholdMl is not { } t) yield return $"{key}:{nameof(ThresholdMl)} is required (positive above this volume, in ml)";
        else if (!double.IsFinite(t) || t < 0) yield return $"{key}:{nameof(ThresholdMl)} must be a volume of 0 ml or more (was {t})";
        foreach (var w in Webhooks.Where(w => !webhooks.Contains(w)))
            yield return $"{key}:{nameof(Webhooks)}: '{w}' is not the name of any {TriageOptions.Section}:{nameof(TriageOptions.Webhooks)} entry";
        if (!models.Enabled.Contains(Model, StringComparer.Ordinal))
        {
            yield return $"{key}:{nameof(Model)}: '{Model}' is not in {ModelsOptions.Section}:{nameof(ModelsOptions.Enabled)} ({string.Join(", ", models.Enabled)}), so the rule could never apply";
            yield break;
        }
        ModelManifest? manifest;
        try { manifest = ModelCatalog.Find(Model, models.SearchPaths); }
        catch (Exception e) when (e is ManifestException or IOException) { manifest = null; } // the model registry reports it
        if (manifest is null) yield break;
        foreach (var problem in CheckAgainst(key, manifest)) yield return problem;
    }

    /// <summary>The measurement exists in the manifest, is a volume in ml, and the label (if any) is one it measures alone.</summary>
    internal IEnumerable<string> CheckAgainst(string key, ModelManifest manifest)
    {
        var id = EffectiveMeasurement;
        var labels = manifest.Labels.ToDictionary(l => l.Value, l => l.Name);
        int? label = null;
        if (!string.IsNullOrWhiteSpace(Label))
        {
            label = ResolveLabel(labels);
            if (label is null)
            {
                yield return $"{key}:{nameof(Label)}: '{Label}' is not a label of model '{manifest.Id}' ({string.Join(", ", manifest.Labels.Select(l => $"{l.Value} {l.Name}"))})";
                yield break;
            }
        }
        if (id == LesionVolumeId)
        {
            var withLesions = manifest.Labels.Where(l => l.Postprocessing?.Lesions == true).Select(l => l.Value).ToList();
            if (withLesions.Count == 0) yield return $"{key}:{nameof(Measurement)}: model '{manifest.Id}' reports no lesions (no label has postprocessing.lesions)";
            else if (label is { } l && !withLesions.Contains(l)) yield return $"{key}:{nameof(Label)}: label '{Label}' of model '{manifest.Id}' has no lesions reported";
            yield break;
        }
        var spec = manifest.EffectiveMeasurements.FirstOrDefault(m => m.Id == id);
        if (spec is null)
        {
            var volumes = manifest.EffectiveMeasurements.Where(IsVolumeInMl).Select(m => m.Id)
                .Concat(manifest.Labels.Any(l => l.Postprocessing?.Lesions == true) ? [LesionVolumeId] : []);
            yield return $"{key}:{nameof(Measurement)}: model '{manifest.Id}' has no measurement '{id}' (its volumes: {string.Join(", ", volumes)})";
            yield break;
        }
        if (!IsVolumeInMl(spec))
        {
            yield return $"{key}:{nameof(Measurement)}: '{id}' of model '{manifest.Id}' is a {spec.Kind} in {(spec.Unit.Length > 0 ? spec.Unit : "its usual unit")}, not a volume in ml";
            yield break;
        }
        if (label is { } one && (!spec.PerLabel || !spec.LabelsIn(manifest).Contains(one)))
            yield return $"{key}:{nameof(Label)}: '{id}' of model '{manifest.Id}' is {(spec.PerLabel ? "not measured on label '" + Label + "'" : "one value over several labels; leave Label empty")}";
    }

    /// <summary>The id the analysis gives each lesion's volume.</summary>
    public const string LesionVolumeId = "lesionVolume";

    private static bool IsVolumeInMl(MeasurementSpec m) => m.Kind == MeasurementKind.Volume && (m.Unit.Length == 0 || m.Unit is "ml" or "mL");
}
