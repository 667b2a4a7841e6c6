using System.Net;
using System.Net.Http.Headers;
using MedAiNode.DicomWeb.Configuration;
using MedAiNode.DicomWeb.Qido;
using MedAiNode.DicomWeb.Resilience;
using MedAiNode.DicomWeb.Stow;
using MedAiNode.DicomWeb.Tests.Support;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace MedAiNode.DicomWeb.Tests.Unit;

/// <summary>The retry/no-retry decisions and Retry-After, through the same HttpClient registration the service uses,
/// with a local handler standing in for the server.</summary>
public sealed class ResilienceTests
{
    private static DicomWebPacsOptions Fast(string name = "pacs") => new()
    {
        Name = name,
        BaseUrl = "http://127.0.0.1:9/dicom-web",
        MaxRetries = 3,
        RetryBaseDelay = TimeSpan.FromMilliseconds(10),
        MaxRetryDelay = TimeSpan.FromMilliseconds(50),
        AttemptTimeout = TimeSpan.FromSeconds(5),
        TotalTimeout = TimeSpan.FromSeconds(20),
    };

    private static StandaloneDicomWebClient Client(DicomWebPacsOptions o, ScriptedHandler h) =>
        new(o, customize: b => b.ConfigurePrimaryHttpMessageHandler(() => h));

    private const string EmptyArray = "[]";

    [Theory]
    [InlineData(500, true)]
    [InlineData(502, true)]
    [InlineData(503, true)]
    [InlineData(504, true)]
    [InlineData(408, true)]
    [InlineData(429, true)]
    [InlineData(501, false)]
    [InlineData(505, false)]
    [InlineData(400, false)]
    [InlineData(401, false)]
    [InlineData(403, false)]
    [InlineData(404, false)]
    [InlineData(409, false)]
    [InlineData(413, false)]
    [InlineData(415, false)]
    [InlineData(200, false)]
    public void Status_classification(int status, bool transient)
    {
        Assert.Equal(transient, DicomWebResilience.IsTransientStatus((HttpStatusCode)status));
        using var r = new HttpResponseMessage((HttpStatusCode)status);
        Assert.Equal(transient, DicomWebResilience.ShouldRetry(Outcome.FromResult(r)));
    }

    [Fact]
    public void Exception_classification()
    {
        Assert.True(DicomWebResilience.IsTransientException(new HttpRequestException(HttpRequestError.ConnectionError, "refused")));
        Assert.True(DicomWebResilience.IsTransientException(new TimeoutRejectedException()));
        Assert.True(DicomWebResilience.IsTransientException(new BrokenCircuitException()));
        Assert.False(DicomWebResilience.IsTransientException(new IsolatedCircuitException()));
        Assert.False(DicomWebResilience.IsTransientException(new HttpRequestException(HttpRequestError.SecureConnectionError, "bad cert")));
        Assert.False(DicomWebResilience.IsTransientException(new OperationCanceledException()));
        Assert.False(DicomWebResilience.IsTransientException(new InvalidOperationException()));
        Assert.False(DicomWebResilience.CountsAsFailure(Outcome.FromException<HttpResponseMessage>(new BrokenCircuitException())));
    }

    [Fact]
    public void Retry_after_in_seconds_as_a_date_fractional_or_absent()
    {
        var now = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        using var secs = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        secs.Headers.RetryAfter = new RetryConditionHeaderValue(TimeSpan.FromSeconds(7));
        Assert.Equal(TimeSpan.FromSeconds(7), DicomWebResilience.GetRetryAfter(secs, now));

        using var date = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        date.Headers.TryAddWithoutValidation("Retry-After", now.AddSeconds(30).ToString("R"));
        Assert.Equal(TimeSpan.FromSeconds(30), DicomWebResilience.GetRetryAfter(date, now));

        using var past = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        past.Headers.TryAddWithoutValidation("Retry-After", now.AddSeconds(-30).ToString("R"));
        Assert.Equal(TimeSpan.Zero, DicomWebResilience.GetRetryAfter(past, now));

        using var frac = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        frac.Headers.TryAddWithoutValidation("Retry-After", "1.5");
        Assert.Equal(TimeSpan.FromSeconds(1.5), DicomWebResilience.GetRetryAfter(frac, now));

        using var junk = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        junk.Headers.TryAddWithoutValidation("Retry-After", "soon");
        Assert.Null(DicomWebResilience.GetRetryAfter(junk, now));

        using var none = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        Assert.Null(DicomWebResilience.GetRetryAfter(none, now));

        var o = Fast();
        o.MaxRetryAfter = TimeSpan.FromSeconds(5);
        Assert.Equal(TimeSpan.FromSeconds(5), DicomWebResilience.ChooseDelay(Outcome.FromResult(secs), o, now)); // capped
        Assert.Null(DicomWebResilience.ChooseDelay(Outcome.FromResult(none), o, now)); // jittered backoff
    }

    [Fact]
    public async Task A_503_is_retried_and_the_call_succeeds()
    {
        var h = new ScriptedHandler((_, n) => n < 3 ? ScriptedHandler.Status(HttpStatusCode.ServiceUnavailable) : ScriptedHandler.Status(HttpStatusCode.OK, EmptyArray));
        using var c = Client(Fast(), h);
        var r = await c.Client.SearchAsync(new QidoQuery()).ToListAsync();
        Assert.Empty(r);
        Assert.Equal(3, h.Calls);
    }

    [Theory]
    [InlineData(400)]
    [InlineData(401)]
    [InlineData(403)]
    [InlineData(404)]
    [InlineData(501)]
    public async Task A_request_the_server_refused_is_sent_once(int status)
    {
        var h = new ScriptedHandler((_, _) => ScriptedHandler.Status((HttpStatusCode)status, "{}"));
        using var c = Client(Fast(), h);
        var e = await Assert.ThrowsAsync<DicomWebException>(() => c.Client.SearchAsync(new QidoQuery()).ToListAsync().AsTask());
        Assert.Equal(1, h.Calls);
        Assert.Equal((HttpStatusCode)status, e.StatusCode);
        Assert.False(e.IsUnavailable);
        Assert.Contains("pacs", e.Message);
    }

    [Fact]
    public async Task Connection_failures_are_retried_up_to_the_limit_then_reported_as_unavailable()
    {
        var h = new ScriptedHandler(HttpResponseMessage (_, _) => throw new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused"));
        using var c = Client(Fast(), h);
        var e = await Assert.ThrowsAsync<DicomWebException>(() => c.Client.SearchAsync(new QidoQuery()).ToListAsync().AsTask());
        Assert.Equal(4, h.Calls); // 1 + MaxRetries
        Assert.True(e.IsUnavailable);
    }

    [Fact]
    public async Task Retry_after_from_a_429_is_honoured()
    {
        var h = new ScriptedHandler((_, n) =>
        {
            if (n > 1) return ScriptedHandler.Status(HttpStatusCode.OK, EmptyArray);
            var r = ScriptedHandler.Status(HttpStatusCode.TooManyRequests);
            r.Headers.RetryAfter = new RetryConditionHeaderValue(TimeSpan.FromSeconds(1));
            return r;
        });
        using var c = Client(Fast(), h); // its own backoff would wait about 10 ms
        await c.Client.SearchAsync(new QidoQuery()).ToListAsync();
        var times = h.Seen.Select(s => s.At).ToList();
        Assert.Equal(2, times.Count);
        Assert.True(times[1] - times[0] >= TimeSpan.FromMilliseconds(900), $"waited only {(times[1] - times[0]).TotalMilliseconds} ms");
    }

    [Fact]
    public async Task An_attempt_that_hangs_is_timed_out_and_retried()
    {
        var o = Fast();
        o.AttemptTimeout = TimeSpan.FromMilliseconds(300);
        var h = new ScriptedHandler(async (r, n) =>
        {
            if (n == 1) await Task.Delay(TimeSpan.FromSeconds(30));
            return ScriptedHandler.Status(HttpStatusCode.OK, EmptyArray);
        });
        using var c = Client(o, h);
        await c.Client.SearchAsync(new QidoQuery()).ToListAsync();
        Assert.Equal(2, h.Calls);
    }

    [Fact]
    public async Task The_circuit_opens_for_one_PACS_only()
    {
        var o = Fast("flaky");
        o.MaxRetries = 0;
        o.CircuitBreakerMinimumThroughput = 4;
        o.CircuitBreakerFailureRatio = 0.5;
        o.CircuitBreakerBreakDuration = TimeSpan.FromSeconds(30);
        var bad = new ScriptedHandler((_, _) => ScriptedHandler.Status(HttpStatusCode.InternalServerError));
        var good = new ScriptedHandler((_, _) => ScriptedHandler.Status(HttpStatusCode.OK, EmptyArray));
        var services = new ServiceCollection();
        var other = Fast("steady");
        services.AddDicomWeb([o, other], (name, b) => b.ConfigurePrimaryHttpMessageHandler(() => name == "flaky" ? bad : good));
        using var sp = services.BuildServiceProvider();
        var factory = sp.GetRequiredService<IDicomWebClientFactory>();
        var flaky = factory.Create("flaky");
        for (var i = 0; i < 4; i++)
            await Assert.ThrowsAsync<DicomWebException>(() => flaky.SearchAsync(new QidoQuery()).ToListAsync().AsTask());
        var callsBefore = bad.Calls;
        var open = await Assert.ThrowsAsync<DicomWebException>(() => flaky.SearchAsync(new QidoQuery()).ToListAsync().AsTask());
        Assert.Contains("circuit is open", open.Message);
        Assert.True(open.IsUnavailable);
        Assert.Equal(callsBefore, bad.Calls); // failed fast, nothing sent

        Assert.Empty(await factory.Create("steady").SearchAsync(new QidoQuery()).ToListAsync());
        Assert.Equal(1, good.Calls);
    }

    [Fact]
    public async Task A_retried_STOW_sends_the_whole_body_again()
    {
        var dir = TestData.TempDir("stow-retry");
        var f = Synthetic.Instance(Dicom.DicomUidGenerator.Default.Generate(), Dicom.DicomUidGenerator.Default.Generate());
        var path = Synthetic.Save(f, dir);
        var sop = f.Dataset.GetString(Dicom.DicomTags.SOPInstanceUID)!;
        var ok = $$$"""{"00081199":{"vr":"SQ","Value":[{"00081150":{"vr":"UI","Value":["{{{Synthetic.SecondaryCapture}}}"]},"00081155":{"vr":"UI","Value":["{{{sop}}}"]},"00081190":{"vr":"UR","Value":["http://x/{{{sop}}}"]}}]}}""";
        var h = new ScriptedHandler((_, n) => n == 1 ? ScriptedHandler.Status(HttpStatusCode.BadGateway) : ScriptedHandler.Status(HttpStatusCode.OK, ok));
        using var c = Client(Fast(), h);
        var result = await c.Client.StoreFilesAsync([path]);
        Assert.True(result.AllStored);
        var bodies = h.Seen.Select(s => s.Body!).ToList();
        Assert.Equal(2, bodies.Count);
        Assert.Equal(bodies[0], bodies[1]);
        Assert.True(bodies[0].Length > new FileInfo(path).Length);
        Assert.Equal("multipart/related", h.Seen.First().Request.Content!.Headers.ContentType!.MediaType);
    }

    [Fact]
    public async Task STOW_413_splits_the_batch_and_a_401_stops_with_what_was_done()
    {
        var dir = TestData.TempDir("stow-413");
        var files = Enumerable.Range(1, 4).Select(i => Synthetic.Save(Synthetic.Instance(Dicom.DicomUidGenerator.Default.Generate(), Dicom.DicomUidGenerator.Default.Generate()), dir)).ToList();
        var h = new ScriptedHandler((req, n) =>
        {
            var parts = req.Content!.ReadAsStringAsync().Result.Split("Content-Type: application/dicom").Length - 1;
            return parts > 2 ? ScriptedHandler.Status(HttpStatusCode.RequestEntityTooLarge) : ScriptedHandler.Status(HttpStatusCode.OK);
        });
        using var c = Client(Fast(), h);
        var r = await c.Client.StoreFilesAsync(files);
        Assert.True(r.AllStored);
        Assert.Equal(3, h.Calls); // 4 refused, then 2 + 2

        var h401 = new ScriptedHandler((_, n) => n == 1 ? ScriptedHandler.Status(HttpStatusCode.OK) : ScriptedHandler.Status(HttpStatusCode.Unauthorized));
        var o = Fast();
        o.StowMaxInstances = 2;
        using var c2 = Client(o, h401);
        var e = await Assert.ThrowsAsync<DicomWebException>(() => c2.Client.StoreFilesAsync(files));
        Assert.Equal(HttpStatusCode.Unauthorized, e.StatusCode);
        Assert.Equal(2, h401.Calls); // not retried
        Assert.Equal(2, e.PartialStowResult!.StoredCount);
    }
}
