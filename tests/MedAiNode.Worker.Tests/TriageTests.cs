using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using MedAiNode.Dicom;
using MedAiNode.Export;
using MedAiNode.Inference.Manifests;
using MedAiNode.Store;
using MedAiNode.Worker.Analysis;
using MedAiNode.Worker.Jobs;
using MedAiNode.Worker.Triage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace MedAiNode.Worker.Tests;

/// <summary>The fake patient every triage test files its studies under: none of it may reach an alert or a log line.</summary>
internal static class FakePatient
{
    public const string Name = "Triagetest^Hildegard", Id = "PID-TRIAGE-7734", BirthDate = "19450317";

    /// <summary>Copies of <paramref name="files"/> carrying the fake patient's name, ID and birth date.</summary>
    public static string[] Copies(IEnumerable<string> files, string name)
    {
        var dir = TestData.TempDir(name);
        return files.Select(f =>
        {
            var file = MedAiNode.Dicom.IO.DicomFile.Open(f);
            file.Dataset.Set(DicomTags.PatientName, Name);
            file.Dataset.Set(DicomTags.PatientID, Id);
            file.Dataset.Set(DicomTags.PatientBirthDate, BirthDate);
            var copy = Path.Combine(dir, Path.GetFileName(f));
            file.Save(copy);
            return copy;
        }).ToArray();
    }

    public static void AssertAbsent(string text, string where)
    {
        foreach (var value in new[] { Name, "Triagetest", "Hildegard", Id, BirthDate, "1945-03-17" })
            Assert.False(text.Contains(value, StringComparison.OrdinalIgnoreCase), $"{where} holds patient data '{value}'");
    }
}

/// <summary>An analyzer that succeeds at once with one result and one measured volume, as a model's analysis reports it.</summary>
internal sealed class MeasuredAnalyzer(Outbox outbox, double bodyVolumeMl) : IStudyAnalyzer
{
    public Task<AnalysisOutcome> AnalyzeAsync(StudyRecord study, IProgress<double>? progress, CancellationToken ct)
    {
        var result = MedAiNode.Dicom.IO.DicomFile.Open(TestData.Path_("ct", "philips-phantom-5mm", "I10.dcm"));
        result.Dataset.Set(DicomTags.StudyInstanceUID, study.StudyInstanceUid);
        result.Dataset.Set(DicomTags.SOPInstanceUID, study.StudyInstanceUid + ".99.1");
        var volume = new Measurement(Codes.Volume, bodyVolumeMl, Codes.Milliliter) { Id = "volume", Name = "Volume", Labels = [1] };
        var findings = new ModelFindings("ct-body", "1", "0123abcd", "1.2.3.4.5", "fingerprint", [volume], new Dictionary<int, string> { [1] = "Body" });
        return Task.FromResult(new AnalysisOutcome(AnalysisStatus.Succeeded, "1.2.3.4.5", "fingerprint", null, [outbox.Put(result)], [findings]));
    }
}

/// <summary>The first analysis as <paramref name="first"/> gives it; later ones find the selected series unchanged.</summary>
internal sealed class OnceThenUnchanged(IStudyAnalyzer first) : IStudyAnalyzer
{
    private int _calls;
    public Task<AnalysisOutcome> AnalyzeAsync(StudyRecord study, IProgress<double>? progress, CancellationToken ct) =>
        Interlocked.Increment(ref _calls) == 1 ? first.AnalyzeAsync(study, progress, ct)
            : Task.FromResult(new AnalysisOutcome(AnalysisStatus.Unchanged, study.AnalysedSeriesUid, study.AnalysedFingerprint));
}

/// <summary>Every log line of an in-process node, formatted, with its scopes' text.</summary>
internal sealed class CapturedLog : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();
    public string Text => string.Join("\n", _lines);
    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);
    public void Dispose() { }

    private sealed class Logger(CapturedLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull
        {
            log._lines.Enqueue($"{category} scope: {state}");
            return null;
        }
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            log._lines.Enqueue($"{category} {logLevel}: {formatter(state, exception)} {exception}");
    }
}

/// <summary>
/// Triage in the service host (in process, fake clock, the real jobs, outbox and webhook delivery; an analyzer that
/// reports a chosen body volume): the positive flag in the API, the dashboard and the metrics; the alert's delivery to
/// a local HTTP receiver through outages, refusals and restarts.
/// </summary>
[Collection(InProcessNodes.Name)]
public class TriageTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);
    private static string[] Philips(int n) => Directory.GetFiles(TestData.Path_("ct", "philips-phantom-5mm"), "*.dcm").Order().Take(n).ToArray();
    private static string NewStudyUid() => $"1.2.826.0.1.3680043.10.78.{Environment.ProcessId}.{Guid.NewGuid().GetHashCode() & 0x7fffffff}";
    private static FakeTimeProvider NewClock() => new(new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero));

    /// <summary>ct-body is enabled (its manifest checks the rule); the node's analyzer is replaced.</summary>
    private static string[] Rule(string name, double thresholdMl, params string[] webhooks) =>
    [
        "--Models:Enabled:0=ct-body", "--Inference:WarmUp=false",
        $"--Triage:Rules:{name}:Model=ct-body", $"--Triage:Rules:{name}:Label=Body", $"--Triage:Rules:{name}:ThresholdMl={thresholdMl}",
        .. webhooks.Select((w, i) => $"--Triage:Rules:{name}:Webhooks:{i}={w}"),
    ];

    private static string[] Webhook(string name, WebhookReceiver receiver, int retries = 1) =>
    [
        $"--Triage:Webhooks:{name}:Url={receiver.Url}", $"--Triage:Webhooks:{name}:MaxRetries={retries}",
        $"--Triage:Webhooks:{name}:RetryBaseDelay=00:00:00.050", $"--Triage:Webhooks:{name}:MaxRetryDelay=00:00:00.200",
    ];

    private static Task<InProcessNode> StartAsync(string root, double volumeMl, CapturedLog? log, params string[] args) =>
        InProcessNode.StartAsync(root, NewClock(), s =>
        {
            s.AddSingleton<IStudyAnalyzer>(sp => new MeasuredAnalyzer(sp.GetRequiredService<Outbox>(), volumeMl));
            if (log is not null) s.AddSingleton<ILoggerProvider>(log);
        }, args);

    private static async Task<JsonNode> ApiStudyAsync(InProcessNode node, string uid) =>
        JsonNode.Parse(await node.GetTextAsync("/api/studies"))!.AsArray().Single(s => s!["studyInstanceUid"]!.GetValue<string>() == uid)!;

    [Fact]
    public async Task A_positive_study_is_flagged_in_the_api_the_dashboard_and_the_metrics_and_its_alert_reaches_the_webhook_once_without_patient_data()
    {
        using var receiver = new WebhookReceiver();
        var log = new CapturedLog();
        await using var node = await StartAsync(TestData.TempDir("triage-positive"), 52.5, log, [.. Rule("big-body", 10), .. Webhook("pager", receiver)]);
        var uid = node.Receive(NewStudyUid(), FakePatient.Copies(Philips(2), "triage-patient"));
        node.EndQuietPeriod();
        var study = await node.WaitForStateAsync(uid, s => s.State is StudyState.Delivered or StudyState.Failed, Timeout);
        Assert.Equal(StudyState.Delivered, study.State);

        // The store's record: positive, the rule's finding, the alert id.
        var triage = study.Triage!;
        Assert.True(triage.Positive);
        var finding = Assert.Single(triage.Findings);
        Assert.Equal(("big-body", "ct-body", "volume", 52.5, 10.0, true, "Body"), (finding.Rule, finding.Model, finding.Measurement, finding.VolumeMl, finding.ThresholdMl, finding.Positive, finding.Labels.Single()));

        // Exactly one alert, with its id in the header and the body, and the documented fields only.
        var alert = Assert.Single(receiver.Received);
        Assert.Equal((triage.AlertId, triage.AlertId), (alert.IdempotencyKey, alert.AlertId));
        var json = alert.Json;
        Assert.Equal(["alertId", "createdAt", "findings", "node", "positive", "results", "schema", "seriesInstanceUids", "studyInstanceUid", "volumes"],
            json.Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.Equal((TriageService.Schema, uid, "1.2.3.4.5", true), (json["schema"]!.GetValue<string>(), json["studyInstanceUid"]!.GetValue<string>(),
            json["seriesInstanceUids"]![0]!.GetValue<string>(), json["positive"]!.GetValue<bool>()));
        var f = json["findings"]!.AsArray().Single()!;
        Assert.Equal(("big-body", "ct-body", 52.5, 10.0, "Body"), (f["rule"]!.GetValue<string>(), f["model"]!.GetValue<string>(), f["volumeMl"]!.GetValue<double>(),
            f["thresholdMl"]!.GetValue<double>(), f["labels"]![0]!.GetValue<string>()));
        Assert.Equal(52.5, json["volumes"]!.AsArray().Single()!["volumeMl"]!.GetValue<double>());
        Assert.Equal(uid + ".99.1", json["results"]!.AsArray().Single()!["sopInstanceUid"]!.GetValue<string>());
        FakePatient.AssertAbsent(alert.Body, "the alert");
        FakePatient.AssertAbsent(File.ReadAllText(Assert.Single(node.App.Services.GetRequiredService<Outbox>().Alerts(uid)).Path), "the alert file");

        // Visible in the API, the dashboard and the metrics.
        var api = await ApiStudyAsync(node, uid);
        Assert.True(api["triage"]!["positive"]!.GetValue<bool>());
        Assert.Equal(triage.AlertId, api["triage"]!["alertId"]!.GetValue<string>());
        Assert.Equal(52.5, api["triage"]!["findings"]![0]!["volumeMl"]!.GetValue<double>());
        var page = await node.GetTextAsync("/hangfire/studies");
        Assert.Contains("data-triage=\"positive\"", page);
        Assert.Contains("big-body: Volume 52.5 ml &gt; 10 ml", page);
        await node.WaitForMetricAsync(l => l.StartsWith("medainode_triage_positive_total") && l.TrimEnd().EndsWith(" 1"));
        await node.WaitForMetricAsync(l => l.StartsWith("medainode_alerts_delivered_total") && l.Contains("destination=\"webhook:pager\"") && l.TrimEnd().EndsWith(" 1"));
        Assert.Contains("triage rule big-body: volume 52.5 ml > 10 ml: positive", log.Text);
        FakePatient.AssertAbsent(log.Text, "the node's log");
    }

    [Fact]
    public async Task A_finding_not_above_the_threshold_sends_no_alert_and_the_study_is_delivered_as_negative()
    {
        using var receiver = new WebhookReceiver();
        await using var node = await StartAsync(TestData.TempDir("triage-negative"), 52.5, null, [.. Rule("big-body", 52.5), .. Webhook("pager", receiver)]);
        var uid = node.Receive(NewStudyUid(), Philips(2));
        node.EndQuietPeriod();
        var study = await node.WaitForStateAsync(uid, s => s.State is StudyState.Delivered or StudyState.Failed, Timeout);
        Assert.Equal(StudyState.Delivered, study.State); // the delivery job ran, alerts first: nothing was sent
        Assert.Empty(receiver.Received);
        Assert.False(study.Triage!.Positive);
        Assert.Null(study.Triage.AlertId);
        Assert.Empty(node.App.Services.GetRequiredService<Outbox>().Alerts(uid));
        var api = await ApiStudyAsync(node, uid);
        Assert.False(api["triage"]!["positive"]!.GetValue<bool>());
        Assert.False(api["triage"]!["findings"]![0]!["positive"]!.GetValue<bool>()); // 52.5 is not above 52.5
        Assert.Contains("data-triage=\"negative\"", await node.GetTextAsync("/hangfire/studies"));
        Assert.DoesNotContain("medainode_triage_positive_total", await node.GetTextAsync("/metrics"));
    }

    [Fact]
    public async Task A_webhook_outage_is_ridden_out_by_polly_then_by_the_delivery_job_and_the_alert_arrives_with_one_id()
    {
        // Four 503s: one delivery attempt (1 + 1 Polly retry) fails, the job is retried by Hangfire and its second
        // attempt gets through on its retry. The study waits Analysed meanwhile.
        using var receiver = new WebhookReceiver { Answer = r => r.Index < 3 ? 503 : 200 };
        await using var node = await StartAsync(TestData.TempDir("triage-outage"), 52.5, null, [.. Rule("big-body", 10), .. Webhook("pager", receiver, retries: 1)]);
        var uid = node.Receive(NewStudyUid(), Philips(2));
        await node.EndQuietPeriodAsync(uid, Timeout);
        await receiver.WaitForAsync(r => r.Count >= 2, Timeout);
        Assert.Equal(StudyState.Analysed, node.Store.Get(uid)!.State);
        var study = await node.WaitForStateAsync(uid, s => s.State is StudyState.Delivered or StudyState.Failed, Timeout);
        Assert.Equal(StudyState.Delivered, study.State);
        Assert.Equal(4, receiver.Received.Count);
        Assert.Equal([study.Triage!.AlertId!], receiver.DistinctAlertIds);
        Assert.Single(receiver.Received.Select(r => r.Body).Distinct());
        await node.AssertJobStatesAsync("Succeeded", "Succeeded"); // analysis; delivery (failed once, retried, succeeded)
        await node.WaitForMetricAsync(l => l.StartsWith("medainode_export_failures_total") && l.TrimEnd().EndsWith(" 1"));
    }

    [Fact]
    public async Task A_webhook_that_refuses_the_alert_fails_the_study_once_with_its_reason_and_no_retry()
    {
        using var receiver = new WebhookReceiver { Answer = _ => 400 };
        var root = TestData.TempDir("triage-refused");
        string uid;
        await using (var node = await StartAsync(root, 52.5, null, [.. Rule("big-body", 10), .. Webhook("pager", receiver, retries: 3)]))
        {
            uid = node.Receive(NewStudyUid(), Philips(2));
            node.EndQuietPeriod();
            var study = await node.WaitForStateAsync(uid, s => s.State is StudyState.Delivered or StudyState.Failed, Timeout);
            Assert.Equal(StudyState.Failed, study.State);
            Assert.Equal($"AlertRejectedException: webhook pager refused alert {study.Triage!.AlertId}: HTTP 400 Bad Request", study.Reason);
            await node.AssertJobStatesAsync("Succeeded", "Succeeded"); // permanent: the delivery job ended without a retry
            Assert.Single(receiver.Received);
            Assert.True((await ApiStudyAsync(node, uid))["triage"]!["positive"]!.GetValue<bool>()); // still shown positive
        }
        // A restart does not try again: the study is Failed, final until a person re-runs it.
        await using var again = await StartAsync(root, 52.5, null, [.. Rule("big-body", 10), .. Webhook("pager", receiver)]);
        // The monitor's recovery runs on a background thread: called here too, it must find nothing to queue.
        Assert.Equal(0, again.Monitor.Recover());
        Assert.Empty(again.JobStates());
        Assert.Single(receiver.Received);
    }

    [Fact]
    public async Task A_restart_sends_the_alert_only_to_the_webhook_that_had_not_accepted_it()
    {
        using var pager = new WebhookReceiver();
        using var ward = new WebhookReceiver { Answer = _ => 503 };
        var root = TestData.TempDir("triage-restart");
        string[] config = [.. Rule("big-body", 10), .. Webhook("pager", pager, retries: 0), .. Webhook("ward", ward, retries: 0)];
        string uid;
        await using (var node = await StartAsync(root, 52.5, null, config))
        {
            uid = node.Receive(NewStudyUid(), Philips(2));
            await node.EndQuietPeriodAsync(uid, Timeout);
            await ward.WaitForAsync(r => r.Count >= 1, Timeout);
            await pager.WaitForAsync(r => r.Count >= 1, Timeout);
            Assert.Equal(StudyState.Analysed, node.Store.Get(uid)!.State);
        }
        ward.Answer = _ => 200;
        await using (var node = await InProcessNode.StartAsync(root, NewClock(), s =>
                         s.AddSingleton<IStudyAnalyzer>(new ThrowingAnalyzer(() => new InvalidOperationException("must not run"))), config))
        {
            var study = await node.WaitForStateAsync(uid, s => s.State is StudyState.Delivered or StudyState.Failed, Timeout);
            Assert.Equal(StudyState.Delivered, study.State);
        }
        Assert.Single(pager.Received); // accepted before the restart: not sent again
        Assert.True(ward.Received.Count >= 2, $"ward got {ward.Received.Count} requests");
        Assert.Equal(pager.DistinctAlertIds, ward.DistinctAlertIds);
    }

    [Fact]
    public async Task A_late_arrival_that_changes_nothing_does_not_drop_an_alert_still_waiting_for_its_webhook()
    {
        using var pager = new WebhookReceiver { Answer = _ => 503 };
        var root = TestData.TempDir("triage-late");
        string[] config = [.. Rule("big-body", 10), .. Webhook("pager", pager, retries: 0)];
        string uid;
        await using (var node = await InProcessNode.StartAsync(root, NewClock(), s =>
                         s.AddSingleton<IStudyAnalyzer>(sp => new OnceThenUnchanged(new MeasuredAnalyzer(sp.GetRequiredService<Outbox>(), 52.5))), config))
        {
            uid = node.Receive(NewStudyUid(), Philips(2));
            await node.EndQuietPeriodAsync(uid, Timeout);
            await pager.WaitForAsync(r => r.Count >= 1, Timeout); // the alert waits: the webhook is down
            node.Receive(uid, Philips(3).Skip(2)); // a late instance reopens the study; the analysis finds nothing new
            Assert.Equal(StudyState.Receiving, node.Store.Get(uid)!.State);
            node.EndQuietPeriod();
            var study = await node.WaitForStateAsync(uid, s => s.Attempts == 2 && s.State is StudyState.Analysed or StudyState.Delivered or StudyState.Failed, Timeout);
            Assert.Equal((StudyState.Analysed, "selected series unchanged; earlier results still to deliver"), (study.State, study.Reason));
            Assert.True(study.Triage!.Positive);
        }
        // After a restart the alert still goes out: the study was not marked Delivered with its alert undelivered.
        pager.Answer = _ => 200;
        await using var again = await InProcessNode.StartAsync(root, NewClock(), s =>
            s.AddSingleton<IStudyAnalyzer>(new ThrowingAnalyzer(() => new InvalidOperationException("must not run"))), config);
        var delivered = await again.WaitForStateAsync(uid, s => s.State is StudyState.Delivered or StudyState.Failed, Timeout);
        Assert.Equal(StudyState.Delivered, delivered.State);
        Assert.Equal([delivered.Triage!.AlertId!], pager.DistinctAlertIds);
    }

    [Fact]
    public async Task A_bad_webhook_url_or_rule_stops_the_node_at_start_with_errors_naming_the_keys()
    {
        var app = ServiceHost.Build(
        [
            $"--Store:Root={TestData.TempDir("triage-options")}", "--Dicom:Port=-1", $"--Http:Urls=http://127.0.0.1:{TestData.FreePort()}",
            "--Models:Enabled:0=ct-body", "--Inference:WarmUp=false", "--Outbox:ResultsFolder=",
            "--Triage:Webhooks:pager:Url=pager.example.org/hook",
            "--Triage:Rules:bleed:Model=blast-ct-v1", "--Triage:Rules:bleed:ThresholdMl=5",
            "--Triage:Rules:body:Model=ct-body", "--Triage:Rules:body:Measurement=longestDiameter", "--Triage:Rules:body:ThresholdMl=5",
            "--Triage:Rules:other:Model=ct-body", "--Triage:Rules:other:Label=Liver", "--Triage:Rules:other:ThresholdMl=5", "--Triage:Rules:other:Webhooks:0=ward",
        ]);
        try
        {
            var e = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => app.StartAsync());
            Assert.Contains("Triage:Webhooks:pager:Url: 'pager.example.org/hook' is not an absolute http or https URL", e.Failures);
            Assert.Contains("Triage:Rules:bleed:Model: 'blast-ct-v1' is not in Models:Enabled (ct-body), so the rule could never apply", e.Failures);
            Assert.Contains(e.Failures, m => m.StartsWith("Triage:Rules:body:Measurement: 'longestDiameter' of model 'ct-body' is a LongestDiameter"));
            Assert.Contains(e.Failures, m => m.StartsWith("Triage:Rules:other:Label: 'Liver' is not a label of model 'ct-body' (1 Body)"));
            Assert.Contains("Triage:Rules:other:Webhooks: 'ward' is not the name of any Triage:Webhooks entry", e.Failures);
        }
        finally
        {
            Hangfire.Logging.LogProvider.SetCurrentLogProvider(null);
            await app.DisposeAsync();
        }
    }
}

/// <summary>The rules as a pure function of what the models measured.</summary>
public class TriageRuleTests
{
    private static Measurement Ml(string id, double value, int[] labels, int? lesion = null) =>
        new(Codes.Volume, value, Codes.Milliliter) { Id = id, Name = id, Labels = labels, Lesion = lesion };

    private static readonly Dictionary<int, string> Labels = new() { [1] = "Intraparenchymal haemorrhage", [2] = "Extra-axial haemorrhage", [3] = "Perilesional oedema" };

    private static ModelFindings Blast(params Measurement[] m) => new("blast-ct-v1", "1", "sha", "1.2.3", "fp", m, Labels);

    private static readonly ModelFindings Head = Blast(
        Ml("volume", 0.4, [1]), Ml("volume", 1.9, [2]), Ml("volume", 3.8, [3]), Ml("haemorrhageVolume", 2.3, [1, 2]),
        Ml("lesionVolume", 1.2, [2], 1), Ml("lesionVolume", 0.7, [2], 2),
        new Measurement(Codes.LongAxis, 57, Codes.Millimeter) { Id = "longestDiameter", Labels = [2] });

    private static TriageFinding One(TriageRule rule, params ModelFindings[] models) =>
        Assert.Single(TriageEvaluator.Evaluate(new Dictionary<string, TriageRule> { ["r"] = rule }, models)!.Findings);

    [Fact]
    public void A_rule_selects_a_measurement_by_id_and_optionally_one_label_by_value_or_name()
    {
        var union = One(new() { Model = "blast-ct-v1", Measurement = "haemorrhageVolume", ThresholdMl = 2 }, Head);
        Assert.Equal((2.3, true), (union.VolumeMl, union.Positive));
        Assert.Equal(["Intraparenchymal haemorrhage", "Extra-axial haemorrhage"], One(new() { Model = "blast-ct-v1", Measurement = "haemorrhageVolume", ThresholdMl = 2 }, Head).Labels);
        Assert.Equal(1.9, One(new() { Model = "blast-ct-v1", Label = "Extra-axial haemorrhage", ThresholdMl = 1 }, Head).VolumeMl);
        Assert.Equal(0.4, One(new() { Model = "blast-ct-v1", Label = "1", ThresholdMl = 1 }, Head).VolumeMl);
        // No label: the largest of the measurement's values (here the oedema's volume).
        var any = One(new() { Model = "blast-ct-v1", Measurement = "volume", ThresholdMl = 3 }, Head);
        Assert.Equal((3.8, "Perilesional oedema", true), (any.VolumeMl, any.Labels.Single(), any.Positive));
        // The largest single lesion, with its number as in the SR.
        var lesion = One(new() { Model = "blast-ct-v1", Measurement = "lesionVolume", Label = "2", ThresholdMl = 1 }, Head);
        Assert.Equal((1.2, 1, true), (lesion.VolumeMl, lesion.Lesion, lesion.Positive));
    }

    [Fact]
    public void Positive_means_strictly_above_and_a_measurement_the_model_did_not_report_reads_zero()
    {
        Assert.False(One(new() { Model = "blast-ct-v1", Measurement = "haemorrhageVolume", ThresholdMl = 2.3 }, Head).Positive);
        Assert.True(One(new() { Model = "blast-ct-v1", Measurement = "haemorrhageVolume", ThresholdMl = 2.299 }, Head).Positive);
        // Nothing found: the model ran and reported no haemorrhage, a negative finding of 0 ml (not "not triaged").
        var none = One(new() { Model = "blast-ct-v1", Measurement = "haemorrhageVolume", ThresholdMl = 0 }, Blast());
        Assert.Equal((0.0, false), (none.VolumeMl, none.Positive));
        // A value in mm is never read as ml.
        Assert.Equal(0, One(new() { Model = "blast-ct-v1", Measurement = "longestDiameter", ThresholdMl = 1 }, Head).VolumeMl);
    }

    [Fact]
    public void A_rule_whose_model_did_not_run_is_not_evaluated_and_a_study_no_rule_applies_to_is_not_triaged()
    {
        var rules = new Dictionary<string, TriageRule>
        {
            ["bleed"] = new() { Model = "blast-ct-v1", Measurement = "haemorrhageVolume", ThresholdMl = 1 },
            ["lungs"] = new() { Model = "ct-lung-quant", ThresholdMl = 1 },
        };
        var record = TriageEvaluator.Evaluate(rules, [Head])!;
        Assert.Equal(["bleed"], record.Findings.Select(f => f.Rule));
        Assert.True(record.Positive);
        Assert.Null(TriageEvaluator.Evaluate(rules, [new ModelFindings("ct-body", "1", "sha", "1.2", "fp", [], new Dictionary<int, string>())]));
    }

    [Fact]
    public void The_alert_id_is_the_same_for_the_same_content_and_findings_and_changes_with_them()
    {
        var rules = new Dictionary<string, TriageRule> { ["bleed"] = new() { Model = "blast-ct-v1", Measurement = "haemorrhageVolume", ThresholdMl = 1 } };
        var record = TriageEvaluator.Evaluate(rules, [Head])!;
        var (id1, alert1) = TriageService.Build("1.2.3", record, [Head], [], "node-a", DateTimeOffset.UnixEpoch);
        var (id2, _) = TriageService.Build("1.2.3", record, [Head], [], "node-b", DateTimeOffset.UnixEpoch.AddHours(1));
        Assert.Equal(id1, id2);
        Assert.Matches("^[0-9a-f]{32}$", id1);
        Assert.Equal(id1, alert1["alertId"]!.GetValue<string>());
        var other = Head with { SeriesFingerprint = "new instances" };
        Assert.NotEqual(id1, TriageService.Build("1.2.3", TriageEvaluator.Evaluate(rules, [other])!, [other], [], "node-a", DateTimeOffset.UnixEpoch).Id);
        Assert.NotEqual(id1, TriageService.Build("1.2.4", record, [Head], [], "node-a", DateTimeOffset.UnixEpoch).Id);
        // volumes: every whole-region volume of the model, per class and over several; not lesions, not diameters.
        Assert.Equal([0.4, 1.9, 3.8, 2.3], alert1["volumes"]!.AsArray().Select(v => v!["volumeMl"]!.GetValue<double>()));
    }

    [Fact]
    public void Rules_are_checked_against_the_manifest_of_their_model()
    {
        var blast = ModelManifest.Load(Path.Combine(TestData.RepoRoot, "models", "blast-ct-v1", "manifest.json"));
        IEnumerable<string> Check(TriageRule r) => r.CheckAgainst("Triage:Rules:r", blast);
        Assert.Empty(Check(new() { Model = "blast-ct-v1", Measurement = "haemorrhageVolume", ThresholdMl = 1 }));
        Assert.Empty(Check(new() { Model = "blast-ct-v1", Label = "Extra-axial haemorrhage", ThresholdMl = 1 }));
        Assert.Empty(Check(new() { Model = "blast-ct-v1", Measurement = "lesionVolume", Label = "4", ThresholdMl = 1 }));
        Assert.Contains(Check(new() { Model = "blast-ct-v1", Measurement = "bleed", ThresholdMl = 1 }),
            m => m == "Triage:Rules:r:Measurement: model 'blast-ct-v1' has no measurement 'bleed' (its volumes: volume, haemorrhageVolume, lesionVolume)");
        Assert.Contains(Check(new() { Model = "blast-ct-v1", Measurement = "haemorrhageVolume", Label = "1", ThresholdMl = 1 }),
            m => m.StartsWith("Triage:Rules:r:Label: 'haemorrhageVolume' of model 'blast-ct-v1' is one value over several labels"));
        Assert.Contains(Check(new() { Model = "blast-ct-v1", Measurement = "longestDiameter", ThresholdMl = 1 }), m => m.Contains("not a volume in ml"));
        var models = new ModelsOptions { Enabled = ["blast-ct-v1"], SearchPaths = [Path.Combine(TestData.RepoRoot, "models")] };
        Assert.Contains("Triage:Rules:r:ThresholdMl is required (positive above this volume, in ml)",
            new TriageOptions { Rules = { ["r"] = new() { Model = "blast-ct-v1", Measurement = "haemorrhageVolume" } } }.Validate(models));
        Assert.Contains("Triage:Rules:r:ThresholdMl must be a volume of 0 ml or more (was -1)",
            new TriageOptions { Rules = { ["r"] = new() { Model = "blast-ct-v1", Measurement = "haemorrhageVolume", ThresholdMl = -1 } } }.Validate(models));
    }
}
