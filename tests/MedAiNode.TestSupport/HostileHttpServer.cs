using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MedAiNode.Testing;

/// <summary>One request as the hostile server saw it: method and path with query.</summary>
public sealed record RawRequest(string Method, string Target);

/// <summary>
/// A raw HTTP/1.1 server on loopback for DICOMweb clients facing a hostile or broken PACS: the handler writes the
/// response bytes itself (endless bodies, trickles, a body shorter than its Content-Length, connections held open).
/// One request per connection (responses should say Connection: close). Stopped, with every connection, by DisposeAsync.
/// </summary>
public sealed class HostileHttpServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _cts = new();
    private readonly Func<RawRequest, Stream, CancellationToken, Task> _handler;
    private readonly ConcurrentBag<Task> _connections = new();
    private readonly Task _accept;
    private long _bytesSent;

    public HostileHttpServer(Func<RawRequest, Stream, CancellationToken, Task> handler)
    {
        _handler = handler;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accept = Task.Run(AcceptLoop);
    }

    public int Port { get; }
    public string BaseUrl => $"http://127.0.0.1:{Port}/dicom-web";
    public ConcurrentQueue<RawRequest> Requests { get; } = new();
    /// <summary>Bytes the handlers wrote, all connections together.</summary>
    public long BytesSent => Interlocked.Read(ref _bytesSent);

    private async Task AcceptLoop()
    {
        while (!_cts.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_cts.Token); }
            catch (Exception) when (_cts.IsCancellationRequested) { return; }
            catch (SocketException) { return; }
            _connections.Add(Task.Run(() => Serve(client)));
        }
    }

    private async Task Serve(TcpClient client)
    {
        using (client)
        {
            try
            {
                client.NoDelay = true;
                var stream = client.GetStream();
                var head = await ReadHead(stream, _cts.Token);
                if (head is null) return;
                var line = head.Split("\r\n")[0].Split(' ');
                var request = new RawRequest(line[0], line.Length > 1 ? line[1] : "/");
                Requests.Enqueue(request);
                await _handler(request, new CountingStream(stream, n => Interlocked.Add(ref _bytesSent, n)), _cts.Token);
                await stream.FlushAsync(_cts.Token);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The client gave up (what the tests want) or the server is stopping.
            }
        }
    }

    private static async Task<string?> ReadHead(NetworkStream s, CancellationToken ct)
    {
        var buf = new List<byte>();
        var one = new byte[1];
        while (buf.Count < 64 * 1024)
        {
            if (await s.ReadAsync(one, ct) == 0) return null;
            buf.Add(one[0]);
            var n = buf.Count;
            if (n >= 4 && buf[n - 4] == '\r' && buf[n - 3] == '\n' && buf[n - 2] == '\r' && buf[n - 1] == '\n')
                return Encoding.ASCII.GetString(buf.ToArray());
        }
        return null;
    }

    /// <summary>Writes a status line and headers (Connection: close is added).</summary>
    public static Task WriteHead(Stream s, string status, CancellationToken ct, params string[] headers)
    {
        var sb = new StringBuilder($"HTTP/1.1 {status}\r\n");
        foreach (var h in headers) sb.Append(h).Append("\r\n");
        sb.Append("Connection: close\r\n\r\n");
        return s.WriteAsync(Encoding.ASCII.GetBytes(sb.ToString()), ct).AsTask();
    }

    /// <summary>A whole response with a body and its Content-Length.</summary>
    public static async Task WriteResponse(Stream s, string status, string contentType, byte[] body, CancellationToken ct)
    {
        await WriteHead(s, status, ct, $"Content-Type: {contentType}", $"Content-Length: {body.Length}");
        await s.WriteAsync(body, ct);
    }

    public static Task WriteJson(Stream s, string json, CancellationToken ct) =>
        WriteResponse(s, "200 OK", "application/dicom+json", Encoding.UTF8.GetBytes(json), ct);

    /// <summary>Holds the connection open, sending nothing, until the client goes or the server stops.</summary>
    public static async Task Hold(CancellationToken ct)
    {
        try { await Task.Delay(Timeout.Infinite, ct); } catch (OperationCanceledException) { }
    }

    public async ValueTask DisposeAsync()
    {
        _cts.Cancel();
        _listener.Stop();
        try { await _accept; } catch (Exception) { }
        try { await Task.WhenAll(_connections).WaitAsync(TimeSpan.FromSeconds(30)); } catch (Exception) { }
        _cts.Dispose();
    }

    private sealed class CountingStream(Stream inner, Action<int> count) : Stream
    {
        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
        {
            await inner.WriteAsync(buffer, ct);
            count(buffer.Length);
        }
        public override Task WriteAsync(byte[] buffer, int offset, int n, CancellationToken ct) => WriteAsync(buffer.AsMemory(offset, n), ct).AsTask();
        public override void Write(byte[] buffer, int offset, int n) { inner.Write(buffer, offset, n); count(n); }
        public override Task FlushAsync(CancellationToken ct) => inner.FlushAsync(ct);
        public override void Flush() => inner.Flush();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int n) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
