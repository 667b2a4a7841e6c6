using Microsoft.AspNetCore.WebUtilities;

namespace MedAiNode.DicomWeb.Multipart;

/// <summary>One part of a multipart/related body, to be read before asking for the next.</summary>
public sealed record MultipartRelatedSection(int Index, string? ContentType, string? ContentLocation, Stream Body);

/// <summary>
/// Reads a multipart/related body part by part with ASP.NET Core's MultipartReader: each part's body is a stream over
/// the network, so a study of any size passes through a fixed buffer.
/// </summary>
public sealed class MultipartRelatedReader
{
    private readonly MultipartReader _reader;
    private int _index;

    public MultipartRelatedReader(Stream body, string boundary, int bufferSize = 256 * 1024)
    {
        _reader = new MultipartReader(boundary, body, bufferSize)
        {
            BodyLengthLimit = null, // a CT instance, let alone an enhanced multi-frame one, is far above the 128 MB default
            HeadersLengthLimit = 64 * 1024,
            HeadersCountLimit = 64,
        };
    }

    /// <summary>The next part, or null after the closing boundary. Framing errors become DicomWebProtocolException.</summary>
    public async Task<MultipartRelatedSection?> ReadNextAsync(CancellationToken ct)
    {
        MultipartSection? s;
        try
        {
            s = await _reader.ReadNextSectionAsync(ct).ConfigureAwait(false);
        }
        catch (InvalidDataException e)
        {
            throw new DicomWebProtocolException($"malformed multipart body at part {_index + 1}: {e.Message}", e);
        }
        if (s is null) return null;
        string? location = null;
        if (s.Headers is { } h && h.TryGetValue("Content-Location", out var loc)) location = loc.ToString();
        return new MultipartRelatedSection(_index++, s.ContentType, location, s.Body);
    }
}

/// <summary>Wraps a network stream so that a read which gets no byte within the idle timeout fails, instead of a stalled
/// PACS holding a download open for ever.</summary>
internal sealed class IdleTimeoutStream(Stream inner, TimeSpan idle) : Stream
{
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(idle);
        try
        {
            return await inner.ReadAsync(buffer, cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"no data received for {idle.TotalSeconds:0.#} s", e);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync() => inner.DisposeAsync();
}
