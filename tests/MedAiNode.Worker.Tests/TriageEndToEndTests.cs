using System.Text.Json;
using System.Text.Json.Nodes;

namespace MedAiNode.Worker.Tests;

/// <summary>
/// Triage with the node as an operator runs it (a medainode process) and a local webhook receiver: a kill while the
/// receiver holds the alert request open, and the whole path from an Orthanc push of a real head CT to SEG + SR back in
/// Orthanc and one alert.
/// </summary>
/// <remarks>
/// The guarantee tested: at least once, with one alert id. The delivered marker is written after the receiver's 2xx,
/// so a node killed before that sends the alert again after its restart, with the same id in Idempotency-Key and in the
/// body; a receiver that keeps the ids it has seen shows exactly one alert. Once the marker is written, the alert is
/// never sent again.
/// </remarks>
public class TriageEndToEndTests
{
    private static string Prop(JsonNode? n, string name) => n![name]!.GetValue<string>();

    [Fact]
    public async Task A_node_killed_while_the_webhook_holds_the_alert_sends_the_same_alert_id_again_after_restart_and_the_study_ends_delivered()
    {
        // The first request is held open (the node waits for the answer); every later one is answered 200.
        using var receiver = new WebhookReceiver { Answer = r => r.Index == 0 ? WebhookReceiver.HoldOpen : 200 };
        var root = TestData.TempDir("triage-kill");
        string[] triage =
        [
            "--Triage:Rules:body:Model=ct-body", "--Triage:Rules:body:Label=Body", "--Triage:Rules:body:ThresholdMl=0",
            $"--Triage:Webhooks:pager:Url={receiver.Url}", "--Triage:Webhooks:pager:MaxRetries=0",
            "--Triage:Webhooks:pager:AttemptTimeout=00:10:00", "--Triage:Webhooks:pager:TotalTimeout=00:10:00",
        ];
        var first = new WorkerProcess(root, triage);
        await first.StartAsync();
        var files = FakePatient.Copies(Directory.GetFiles(TestData.Path_("ct", "philips-phantom-5mm"), "*.dcm"), "triage-kill-patient");
        var send = Tool.Run("storescu", new[] { "-aet", "CT_SCANNER", "-aec", "MEDAINODE", "127.0.0.1", first.DicomPort.ToString() }.Concat(files));
        Assert.True(send.ExitCode == 0, send.StdErr);
        var held = (await receiver.WaitForAsync(r => r.Count >= 1, TimeSpan.FromSeconds(120), () => first.Log))[0];
        var analysed = await first.WaitForStudyAsync(s => Prop(s, "state") == "Analysed", TimeSpan.FromSeconds(30));
        Assert.Equal(held.AlertId, Prop(analysed["triage"], "alertId")); // the alert the node is waiting on
        first.Kill(); // SIGKILL while the receiver holds the request: no answer was read, no marker written
        await first.DisposeAsync();
        var studyUid = Prop(analysed, "studyInstanceUid");
        Assert.Empty(Directory.GetFiles(Path.Combine(root, "outbox", studyUid), "alert-*", SearchOption.AllDirectories));

        await using var second = new WorkerProcess(root, triage);
        await second.StartAsync();
        var study = await second.WaitForStudyAsync(s => Prop(s, "state") is "Delivered" or "Failed", TimeSpan.FromSeconds(120));
        Assert.Equal("Delivered", Prop(study, "state"));
        Assert.True(study["triage"]!["positive"]!.GetValue<bool>());
        var got = receiver.Received;
        Assert.Equal(2, got.Count); // the request the kill interrupted, and the one after the restart
        Assert.Equal([held.AlertId!], receiver.DistinctAlertIds); // one alert for a receiver that de-duplicates by id
        Assert.Equal(got[0].Body, got[1].Body);
        Assert.Equal((held.AlertId, held.AlertId), (got[1].IdempotencyKey, got[1].AlertId));
        Assert.Single(Directory.GetFiles(Path.Combine(root, "outbox", studyUid, "delivered"), "alert-*", SearchOption.AllDirectories));
        Assert.DoesNotContain("model ct-body on series", second.Log); // delivered from the outbox, not analysed again
        FakePatient.AssertAbsent(got[1].Body, "the alert");
        FakePatient.AssertAbsent(first.Log + second.Log, "the node's log");
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task Orthanc_pushes_a_head_ct_gets_seg_and_sr_back_and_the_webhook_gets_one_alert_above_the_threshold_and_none_below()
    {
        // Two rules on the same haemorrhage volume (the head CT measures about 2 ml): one with a threshold below it
        // alerts 'above', one with a threshold far above it would alert 'below'. One analysis shows both sides.
        using var above = new WebhookReceiver();
        using var below = new WebhookReceiver();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        await using var worker = new WorkerProcess(TestData.TempDir("triage-e2e"), "--Models:Enabled:0=blast-ct-v1", $"--Models:SearchPaths:0={Path.Combine(TestData.RepoRoot, "models")}",
            "--Triage:Rules:haemorrhage:Model=blast-ct-v1", "--Triage:Rules:haemorrhage:Measurement=haemorrhageVolume",
            "--Triage:Rules:haemorrhage:ThresholdMl=0.5", "--Triage:Rules:haemorrhage:Webhooks:0=above",
            "--Triage:Rules:large-haemorrhage:Model=blast-ct-v1", "--Triage:Rules:large-haemorrhage:Measurement=haemorrhageVolume",
            "--Triage:Rules:large-haemorrhage:ThresholdMl=1000", "--Triage:Rules:large-haemorrhage:Webhooks:0=below",
            $"--Triage:Webhooks:above:Url={above.Url}", $"--Triage:Webhooks:below:Url={below.Url}");
        using var orthanc = new OrthancServer(cfg =>
            cfg["DicomModalities"] = new JsonObject { ["medainode"] = new JsonArray("MEDAINODE", "127.0.0.1", worker.DicomPort) });
        worker.With("--DicomWeb:Pacs:0:Name=orthanc", $"--DicomWeb:Pacs:0:BaseUrl={orthanc.DicomWebUrl}", "--Export:StowTo:0=orthanc");
        await worker.StartAsync();

        // The real tilted head CT (28 slices), under a fake patient so the alert and the log can be checked for it.
        string? id = null;
        foreach (var f in FakePatient.Copies(Directory.GetFiles(TestData.Path_("ct", "ge-head-tilt-varspacing"), "*.dcm"), "triage-head")) id = await orthanc.UploadAsync(f);
        var series = await orthanc.GetJsonAsync($"/series/{(await orthanc.GetJsonAsync($"/instances/{id}"))["ParentSeries"]!.GetValue<string>()}");
        var push = await orthanc.Rest.PostAsync($"{orthanc.RestUrl}/modalities/medainode/store", new StringContent(series["ParentStudy"]!.GetValue<string>()));
        Assert.True(push.IsSuccessStatusCode, await push.Content.ReadAsStringAsync());

        var study = await worker.WaitForStudyAsync(s => Prop(s, "state") is "Delivered" or "Failed", TimeSpan.FromMinutes(20));
        Console.WriteLine($"Head CT pushed to Delivered in {sw.Elapsed.TotalSeconds:0} s; triage: {study["triage"]!.ToJsonString()}");
        Assert.Equal(("Delivered", 28), (Prop(study, "state"), study["instanceCount"]!.GetValue<int>()));
        var studyUid = Prop(study, "studyInstanceUid");

        // SEG and SR back in Orthanc, found by QIDO-RS as a viewer would.
        var results = await EndToEndTests.ResultsInOrthancAsync(orthanc, studyUid);
        Assert.Equal(1, results.Count(r => r.Modality == "SEG"));
        Assert.Equal(1, results.Count(r => r.Modality == "SR"));

        // Above the threshold: exactly one alert; below: none.
        var triage = study["triage"]!;
        Assert.True(triage["positive"]!.GetValue<bool>());
        var findings = triage["findings"]!.AsArray().ToDictionary(f => Prop(f, "rule"));
        var volume = findings["haemorrhage"]!["volumeMl"]!.GetValue<double>();
        Assert.True(volume > 0.5, $"haemorrhage volume {volume} ml");
        Assert.True(findings["haemorrhage"]!["positive"]!.GetValue<bool>());
        Assert.False(findings["large-haemorrhage"]!["positive"]!.GetValue<bool>());
        Assert.Equal(volume, findings["large-haemorrhage"]!["volumeMl"]!.GetValue<double>());
        var alert = Assert.Single(above.Received);
        Assert.Empty(below.Received);
        Assert.Equal((Prop(triage, "alertId"), Prop(triage, "alertId")), (alert.IdempotencyKey, alert.AlertId));
        var json = alert.Json;
        Assert.Equal(studyUid, Prop(json, "studyInstanceUid"));
        Assert.Equal(Prop(study, "analysedSeriesUid"), json["seriesInstanceUids"]![0]!.GetValue<string>());
        var finding = json["findings"]!.AsArray().Single()!;
        Assert.Equal(("haemorrhage", "haemorrhageVolume", volume), (Prop(finding, "rule"), Prop(finding, "measurement"), finding["volumeMl"]!.GetValue<double>()));
        Assert.Contains(json["volumes"]!.AsArray(), v => v!["labels"]!.AsArray().Count == 1 && Prop(v, "measurement") == "volume");
        // The alert names the SEG and SR the PACS now holds.
        var alerted = json["results"]!.AsArray().Select(r => Prop(r, "sopInstanceUid")).ToHashSet();
        Assert.All(results.Where(r => r.Modality is "SEG" or "SR"), r => Assert.Contains(r.Sop, alerted));
        FakePatient.AssertAbsent(alert.Body, "the alert");
        FakePatient.AssertAbsent(worker.Log, "the node's log");
    }
}
