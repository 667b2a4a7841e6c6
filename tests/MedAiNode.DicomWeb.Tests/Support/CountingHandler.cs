using System.Collections.Concurrent;
using System.Net;

namespace MedAiNode.DicomWeb.Tests.Support;

/// <summary>Records each attempt that reaches the wire (it sits inside the resilience handler).</summary>
public sealed class CountingHandler : DelegatingHandler
{
    public ConcurrentQueue<Uri> Attempts { get; } = new();
    public List<Uri> Requests => Attempts.ToList();

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Attempts.Enqueue(request.RequestUri!);
        return base.SendAsync(request, cancellationToken);
    }
}

/// <summary>A local server stand-in for unit tests of the client's HTTP logic (interop tests use Orthanc).</summary>
public sealed class ScriptedHandler(Func<HttpRequestMessage, int, Task<HttpResponseMessage>> respond) : HttpMessageHandler
{
    private int _calls;
    public int Calls => _calls;
    public ConcurrentQueue<(DateTime At, HttpRequestMessage Request, byte[]? Body)> Seen { get; } = new();

    public ScriptedHandler(Func<HttpRequestMessage, int, HttpResponseMessage> respond) : this((r, n) => Task.FromResult(respond(r, n))) { }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var n = Interlocked.Increment(ref _calls);
        var body = request.Content is null ? null : await request.Content.ReadAsByteArrayAsync(cancellationToken);
        Seen.Enqueue((DateTime.UtcNow, request, body));
        var response = await respond(request, n).WaitAsync(cancellationToken);
        response.RequestMessage ??= request;
        return response;
    }

    public static HttpResponseMessage Status(HttpStatusCode code, string? body = null, string mediaType = "application/dicom+json") =>
        new(code) { Content = body is null ? new ByteArrayContent([]) : new StringContent(body, System.Text.Encoding.UTF8, mediaType) };
}
