using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace MedAiNode.Testing;

/// <summary>One POST the receiver got: its order, the Idempotency-Key header, the body as text and parsed.</summary>
public sealed record ReceivedAlert(int Index, string? IdempotencyKey, string ContentType, string Body)
{
    public JsonObject Json => JsonNode.Parse(Body)!.AsObject();
    public string? AlertId => Json["alertId"]?.GetValue<string>();
}

/// <summary>
/// A local HTTP webhook receiver (HttpListener on loopback) for triage alerts. It records every request and answers
/// what <see cref="Answer"/> says (200 by default); an answer can be held open (<see cref="Hold"/>) to have a node
/// killed while its request is in flight. A receiver de-duplicating by alert id counts <see cref="DistinctAlertIds"/>.
/// </summary>
public sealed class WebhookReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly List<ReceivedAlert> _received = new();
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _loop;

    public WebhookReceiver()
    {
        Port = TestData.FreePort();
        Url = $"http://127.0.0.1:{Port}/alerts/";
        _listener.Prefixes.Add(Url);
        _listener.Start();
        _loop = Task.Run(Loop);
    }

    public int Port { get; }
    public string Url { get; }

    /// <summary>The status code for a request (given the request and how many came before it, 0-based). Returning
    /// <see cref="HoldOpen"/> leaves the request unanswered until the receiver is disposed.</summary>
    public Func<ReceivedAlert, int> Answer { get; set; } = _ => 200;

    /// <summary>An <see cref="Answer"/> value: never answer (the sender's connection stays open).</summary>
    public const int HoldOpen = -1;

    public IReadOnlyList<ReceivedAlert> Received
    {
        get { lock (_received) return _received.ToList(); }
    }

    /// <summary>The alert ids of every request, de-duplicated: what a receiver that keeps the ids it has seen shows.</summary>
    public IReadOnlyList<string> DistinctAlertIds
    {
        get { lock (_received) return _received.Select(r => r.AlertId).OfType<string>().Distinct().ToList(); }
    }

    public async Task<IReadOnlyList<ReceivedAlert>> WaitForAsync(Func<IReadOnlyList<ReceivedAlert>, bool> condition, TimeSpan timeout, Func<string>? context = null)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var now = Received;
            if (condition(now)) return now;
            if (sw.Elapsed > timeout)
                throw new TimeoutException($"webhook receiver: condition not met in {timeout}; {now.Count} requests: " +
                                           string.Join(", ", now.Select(r => r.AlertId)) + (context is null ? "" : "\n" + context()));
            await Task.Delay(100);
        }
    }

    private async Task Loop()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
            _ = Task.Run(() => Handle(ctx));
        }
    }

    private async Task Handle(HttpListenerContext ctx)
    {
        try
        {
            string body;
            using (var reader = new StreamReader(ctx.Request.InputStream, Encoding.UTF8)) body = await reader.ReadToEndAsync();
            ReceivedAlert alert;
            lock (_received)
            {
                alert = new ReceivedAlert(_received.Count, ctx.Request.Headers["Idempotency-Key"], ctx.Request.ContentType ?? "", body);
                _received.Add(alert);
            }
            var status = Answer(alert);
            if (status == HoldOpen)
            {
                await _released.Task;
                ctx.Response.Abort();
                return;
            }
            ctx.Response.StatusCode = status;
            ctx.Response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or IOException or InvalidOperationException)
        {
            // The sender went away (killed mid-request) or the receiver is stopping.
        }
    }

    public void Dispose()
    {
        _released.TrySetResult();
        // Close alone: after Stop, the managed HttpListener's Close removes its prefixes again and binds the port anew to
        // do so, which throws "Address already in use" when another test took the port in between (seen on a fresh machine).
        try { _listener.Close(); }
        catch (ObjectDisposedException) { }
        try { _loop.Wait(TimeSpan.FromSeconds(5)); }
        catch (AggregateException) { }
    }
}
