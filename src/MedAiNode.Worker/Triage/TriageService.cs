using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using MedAiNode.Export;
using MedAiNode.Store;
using MedAiNode.Worker.Configuration;
using MedAiNode.Worker.Jobs;
using Microsoft.Extensions.Options;

namespace MedAiNode.Worker.Triage;

/// <summary>The triage rules applied to what the models measured: a pure function of the rules and the measurements.</summary>
public static class TriageEvaluator
{
    /// <summary>Each rule whose model ran gives one finding: the largest value among the measurements it selects (0 when
    /// the model found none, e.g. no voxel of the label), positive when strictly above the threshold. Null when no
    /// rule's model ran (the study was not triaged, which is not the same as negative).</summary>
    public static TriageRecord? Evaluate(IReadOnlyDictionary<string, TriageRule> rules, IReadOnlyList<ModelFindings> models)
    {
        var findings = new List<TriageFinding>();
        foreach (var (name, rule) in rules.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            var model = models.FirstOrDefault(m => m.ModelId == rule.Model);
            if (model is null) continue;
            var id = rule.EffectiveMeasurement;
            int? label = string.IsNullOrWhiteSpace(rule.Label) ? null : rule.ResolveLabel(model.LabelNames) ?? -1;
            var best = model.Measurements
                .Where(m => m.Id == id && m.Unit.Value is "ml" or "mL" && double.IsFinite(m.Value))
                .Where(m => label is null || m.Labels.Count == 1 && m.Labels[0] == label)
                .MaxBy(m => m.Value);
            var value = best?.Value ?? 0;
            var threshold = rule.ThresholdMl ?? double.PositiveInfinity;
            IReadOnlyList<int> measuredOn = best?.Labels ?? (label is { } l and >= 0 ? new[] { l } : Array.Empty<int>());
            findings.Add(new TriageFinding
            {
                Rule = name, Model = model.ModelId, SeriesInstanceUid = model.SeriesInstanceUid, Measurement = id,
                Name = best?.DisplayName ?? id,
                Labels = measuredOn.Select(v => model.LabelNames.TryGetValue(v, out var n) ? n : v.ToString(CultureInfo.InvariantCulture)).ToList(),
                Lesion = best?.Lesion, VolumeMl = Math.Round(value, 3), ThresholdMl = threshold, Positive = value > threshold,
            });
        }
        return findings.Count == 0 ? null : new TriageRecord { Positive = findings.Any(f => f.Positive), Findings = findings };
    }
}

/// <summary>
/// Triage of an analysed study: evaluates the rules, and for a positive study writes the alert into the study's outbox
/// (durably, before the study is Analysed) addressed to the webhooks of the rules that fired. The delivery job sends it.
/// </summary>
public sealed class TriageService(IOptions<TriageOptions> options, Outbox outbox, IOptions<JobsOptions> jobs, TimeProvider time, ILogger<TriageService> log)
{
    public const string Schema = "medainode-triage-alert/1";

    /// <summary>Null when no rule applies to what ran. Throws (transiently) when the alert cannot be written.</summary>
    public TriageRecord? Apply(string studyUid, AnalysisOutcome outcome)
    {
        var o = options.Value;
        if (o.Rules.Count == 0 || outcome.Findings is not { Count: > 0 } models) return null;
        var record = TriageEvaluator.Evaluate(o.Rules, models);
        if (record is null) return null;
        foreach (var f in record.Findings)
            log.LogInformation("Study {StudyInstanceUid}: triage rule {Rule}: {Measurement} {Volume:0.###} ml {Comparison} {Threshold:0.###} ml: {Verdict}",
                studyUid, f.Rule, f.Measurement, f.VolumeMl, f.Positive ? ">" : "<=", f.ThresholdMl, f.Positive ? "positive" : "negative");
        if (!record.Positive) return record;

        var webhooks = record.Findings.Where(f => f.Positive).SelectMany(f => o.WebhooksOf(o.Rules[f.Rule]))
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).Select(w => WebhookDestination.Prefix + w).ToList();
        if (webhooks.Count == 0)
        {
            log.LogInformation("Study {StudyInstanceUid}: triage positive; no webhook is configured, so no alert is sent", studyUid);
            return record;
        }
        var (id, alert) = Build(studyUid, record, models, outcome.Results ?? [], jobs.Value.EffectiveNodeName, time.GetUtcNow());
        outbox.PutAlert(studyUid, id, webhooks, alert);
        log.LogInformation("Study {StudyInstanceUid}: triage positive; alert {AlertId} waits in the outbox for {Webhooks}", studyUid, id, string.Join(", ", webhooks));
        return record with { AlertId = id };
    }

    /// <summary>
    /// The alert: study and series UIDs, the positive findings, the volumes the models measured and the results' UIDs.
    /// Nothing about the patient (no name, ID, birth date, accession number): it is built from UIDs and measurements
    /// only, never from the source's attributes. Its id is a hash of the study, the analysed content (series fingerprint
    /// and model weights) and the positive findings, so re-analysing the same content gives the same id.
    /// </summary>
    internal static (string Id, JsonObject Alert) Build(string studyUid, TriageRecord record, IReadOnlyList<ModelFindings> models,
        IReadOnlyList<OutboxItem> results, string node, DateTimeOffset now)
    {
        var positive = record.Findings.Where(f => f.Positive).ToList();
        var fired = models.Where(m => positive.Any(f => f.Model == m.ModelId)).ToList();
        var key = new StringBuilder(Schema).Append('\n').Append(studyUid);
        foreach (var m in fired) key.Append('\n').Append(m.ModelId).Append('|').Append(m.ModelSha256).Append('|').Append(m.SeriesInstanceUid).Append('|').Append(m.SeriesFingerprint);
        foreach (var f in positive) key.Append('\n').Append(f.Rule).Append('|').Append(f.Measurement).Append('|').Append(f.VolumeMl.ToString("R", CultureInfo.InvariantCulture));
        var id = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key.ToString())))[..32];

        static JsonArray Strings(IEnumerable<string> s) => new(s.Select(x => (JsonNode?)x).ToArray());
        var alert = new JsonObject
        {
            ["schema"] = Schema,
            ["alertId"] = id,
            ["createdAt"] = now.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture),
            ["node"] = node,
            ["studyInstanceUid"] = studyUid,
            ["seriesInstanceUids"] = Strings(fired.Select(m => m.SeriesInstanceUid).Distinct()),
            ["positive"] = true,
            ["findings"] = new JsonArray(positive.Select(f => (JsonNode?)new JsonObject
            {
                ["rule"] = f.Rule, ["model"] = f.Model, ["modelVersion"] = models.First(m => m.ModelId == f.Model).ModelVersion,
                ["seriesInstanceUid"] = f.SeriesInstanceUid, ["measurement"] = f.Measurement, ["name"] = f.Name, ["labels"] = Strings(f.Labels),
                ["lesion"] = f.Lesion, ["volumeMl"] = f.VolumeMl, ["thresholdMl"] = f.ThresholdMl,
            }).ToArray()),
            // Every whole-region volume the alerting models measured (per class and over several), for the receiver's message.
            ["volumes"] = new JsonArray(fired.SelectMany(m => m.Measurements
                .Where(x => x.Lesion is null && x.Unit.Value is "ml" or "mL" && double.IsFinite(x.Value))
                .Select(x => (JsonNode?)new JsonObject
                {
                    ["model"] = m.ModelId, ["seriesInstanceUid"] = m.SeriesInstanceUid, ["measurement"] = x.Id, ["name"] = x.DisplayName,
                    ["labels"] = Strings(x.Labels.Select(v => m.LabelNames.TryGetValue(v, out var n) ? n : v.ToString(CultureInfo.InvariantCulture))),
                    ["volumeMl"] = Math.Round(x.Value, 3),
                })).ToArray()),
            // The SEG, SR and summary instances the PACS receives, so a receiver can link to them.
            ["results"] = new JsonArray(results.Select(r => (JsonNode?)new JsonObject { ["sopInstanceUid"] = r.SopInstanceUid, ["sopClassUid"] = r.SopClassUid }).ToArray()),
        };
        return (id, alert);
    }
}
