using System.Text.Json.Nodes;

namespace MedAiNode.Export.Tests;

/// <summary>Triage alerts in the outbox and the webhook destination, against a local HTTP receiver.</summary>
public class AlertTests
{
    private static WebhookOptions Fast(string url, int retries = 2) => new()
    {
        Url = url, MaxRetries = retries, RetryBaseDelay = TimeSpan.FromMilliseconds(20), MaxRetryDelay = TimeSpan.FromMilliseconds(100),
        AttemptTimeout = TimeSpan.FromSeconds(10), TotalTimeout = TimeSpan.FromSeconds(30),
    };

    private static JsonObject Alert(string id) => new() { ["alertId"] = id, ["studyInstanceUid"] = "1.2.3", ["positive"] = true };

    [Fact]
    public async Task Polly_retries_a_5xx_and_every_attempt_carries_the_same_alert_id_and_body()
    {
        using var receiver = new WebhookReceiver { Answer = r => r.Index < 2 ? 503 : 204 };
        var outbox = new Outbox(TestData.TempDir("alerts-retry"));
        var alert = outbox.PutAlert("1.2.3", "a1b2", ["webhook:w"], Alert("a1b2"));
        using var hook = new WebhookDestination("w", Fast(receiver.Url));
        await hook.SendAsync(alert, alert.ReadBody(), default);
        var got = receiver.Received;
        Assert.Equal(3, got.Count);
        Assert.All(got, r => Assert.Equal(("a1b2", "a1b2"), (r.IdempotencyKey, r.AlertId)));
        Assert.Single(got.Select(r => r.Body).Distinct());
        Assert.StartsWith("application/json", got[0].ContentType);
    }

    [Fact]
    public async Task A_4xx_is_a_refusal_sent_once_and_not_retried()
    {
        using var receiver = new WebhookReceiver { Answer = _ => 422 };
        var outbox = new Outbox(TestData.TempDir("alerts-4xx"));
        var alert = outbox.PutAlert("1.2.3", "c3", ["webhook:w"], Alert("c3"));
        using var hook = new WebhookDestination("w", Fast(receiver.Url));
        var e = await Assert.ThrowsAsync<AlertRejectedException>(() => hook.SendAsync(alert, alert.ReadBody(), default));
        Assert.Contains("webhook w refused alert c3: HTTP 422", e.Message);
        Assert.Single(receiver.Received);
    }

    [Fact]
    public async Task A_receiver_still_failing_after_the_retries_is_a_transient_failure()
    {
        using var receiver = new WebhookReceiver { Answer = _ => 503 };
        var outbox = new Outbox(TestData.TempDir("alerts-503"));
        var alert = outbox.PutAlert("1.2.3", "d4", ["webhook:w"], Alert("d4"));
        using var hook = new WebhookDestination("w", Fast(receiver.Url, retries: 1));
        var e = await Assert.ThrowsAsync<HttpRequestException>(() => hook.SendAsync(alert, alert.ReadBody(), default));
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, e.StatusCode);
        Assert.Equal(2, receiver.Received.Count);
    }

    [Fact]
    public async Task Alerts_go_first_each_to_the_destinations_it_names_and_a_new_outbox_on_the_same_folder_resends_only_what_is_undelivered()
    {
        var root = TestData.TempDir("alerts-outbox");
        using var a = new WebhookReceiver();
        using var b = new WebhookReceiver { Answer = _ => 503 };
        var outbox = new Outbox(root);
        outbox.Put(new MedAiNode.Dicom.IO.DicomFile(new MedAiNode.Dicom.DicomDataset()
            .Set(MedAiNode.Dicom.DicomTags.SOPClassUID, MedAiNode.Dicom.DicomUids.SegmentationStorage)
            .Set(MedAiNode.Dicom.DicomTags.SOPInstanceUID, "1.2.3.1").Set(MedAiNode.Dicom.DicomTags.StudyInstanceUID, "1.2.3")));
        outbox.PutAlert("1.2.3", "e5", ["webhook:a", "webhook:b", "webhook:gone"], Alert("e5"));
        var order = new List<string>();
        var pacs = new RecordingDestination(order);
        using (var hookA = new WebhookDestination("a", Fast(a.Url, retries: 0)))
        using (var hookB = new WebhookDestination("b", Fast(b.Url, retries: 0)))
        {
            var failed = await Assert.ThrowsAsync<AggregateException>(() => outbox.DeliverAsync("1.2.3", [pacs], [new Ordered(hookA, order), new Ordered(hookB, order)], default));
            Assert.IsType<HttpRequestException>(Assert.Single(failed.InnerExceptions));
        }
        Assert.Equal(["webhook:a", "webhook:b", "pacs"], order); // the alert before the (slow) DICOM results
        Assert.Single(a.Received);

        // A restart: the alert file and the markers are all there is. Only b, which never accepted it, gets it again.
        b.Answer = _ => 200;
        var again = new Outbox(root);
        Assert.Equal(["webhook:a", "webhook:b", "webhook:gone"], Assert.Single(again.Alerts("1.2.3")).Destinations);
        using (var hookA = new WebhookDestination("a", Fast(a.Url, retries: 0)))
        using (var hookB = new WebhookDestination("b", Fast(b.Url, retries: 0)))
        {
            Assert.True(await again.DeliverAsync("1.2.3", [], [hookA, hookB], default)); // "webhook:gone" is not configured: skipped, not blocking
            Assert.True(await again.DeliverAsync("1.2.3", [], [hookA, hookB], default)); // nothing left
        }
        Assert.Single(a.Received);
        Assert.Equal(2, b.Received.Count);
        Assert.Equal(["e5"], b.DistinctAlertIds);
        Assert.Equal(a.Received[0].Body, b.Received[1].Body);
    }

    [Fact]
    public void Webhook_options_name_the_key_of_each_problem()
    {
        var bad = new WebhookOptions { Url = "ftp://x/hook", MaxRetries = -1, Headers = { ["Bad Name"] = "v", ["Idempotency-Key"] = "x" } }.Validate("Triage:Webhooks:w").ToList();
        Assert.Contains("Triage:Webhooks:w:Url: 'ftp://x/hook' is not an absolute http or https URL", bad);
        Assert.Contains(bad, p => p.StartsWith("Triage:Webhooks:w:MaxRetries"));
        Assert.Contains(bad, p => p.StartsWith("Triage:Webhooks:w:Headers: 'Bad Name'"));
        Assert.Contains(bad, p => p.StartsWith("Triage:Webhooks:w:Headers:Idempotency-Key"));
        Assert.Contains("Triage:Webhooks:w:Url: 'relative/path' is not an absolute http or https URL", new WebhookOptions { Url = "relative/path" }.Validate("Triage:Webhooks:w"));
        Assert.Contains(new WebhookOptions { Url = "https://user:pw@host/x" }.Validate("Triage:Webhooks:w"), p => p.Contains("credentials in the URL"));
        Assert.Empty(new WebhookOptions { Url = "https://pager.example.org/hooks/ct" }.Validate("Triage:Webhooks:w"));
    }

    private sealed class Ordered(IAlertDestination inner, List<string> order) : IAlertDestination
    {
        public string Name => inner.Name;
        public Task SendAsync(AlertItem alert, byte[] body, CancellationToken ct)
        {
            order.Add(Name);
            return inner.SendAsync(alert, body, ct);
        }
    }

    private sealed class RecordingDestination(List<string> order) : IResultDestination
    {
        public string Name => "pacs";
        public Task<IReadOnlyCollection<string>> DeliverAsync(IReadOnlyList<OutboxItem> items, CancellationToken ct)
        {
            order.Add(Name);
            return Task.FromResult<IReadOnlyCollection<string>>(items.Select(i => i.SopInstanceUid).ToList());
        }
    }
}
