using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace MedAiNode.DicomWeb.Multipart;

/// <summary>One body part: its media type and where its bytes come from (a file streamed from disk, or bytes in memory).</summary>
public sealed class MultipartPart
{
    private MultipartPart(string contentType, string? path, ReadOnlyMemory<byte> bytes, long length)
    {
        ContentType = contentType;
        FilePath = path;
        Bytes = bytes;
        Length = length;
    }

    public string ContentType { get; }
    public string? FilePath { get; }
    public ReadOnlyMemory<byte> Bytes { get; }
    public long Length { get; }

    public static MultipartPart FromFile(string path, string contentType = DicomWebMediaTypes.Dicom) =>
        new(contentType, path, default, new FileInfo(path).Length);

    public static MultipartPart FromBytes(ReadOnlyMemory<byte> bytes, string contentType = DicomWebMediaTypes.Dicom) =>
        new(contentType, null, bytes, bytes.Length);
}

/// <summary>
/// A multipart/related request body (RFC 2387) as STOW-RS takes it. Parts are streamed from disk when sent, so a batch
/// of large instances never sits in memory, and the content can be sent again by a retry. The length is known up
/// front, so the request carries Content-Length (some PACS refuse chunked uploads).
/// </summary>
public sealed class MultipartRelatedContent : HttpContent
{
    private const int CopyBuffer = 256 * 1024;
    private readonly IReadOnlyList<MultipartPart> _parts;
    private readonly byte[] _closing;

    public MultipartRelatedContent(IReadOnlyList<MultipartPart> parts, string type = DicomWebMediaTypes.Dicom, string? boundary = null)
    {
        if (parts.Count == 0) throw new ArgumentException("A multipart body needs at least one part.", nameof(parts));
        _parts = parts;
        Boundary = boundary ?? "medainode-" + Guid.NewGuid().ToString("N");
        if (Boundary.Length is 0 or > 70) throw new ArgumentException("A MIME boundary has 1 to 70 characters.", nameof(boundary));
        var ct = new MediaTypeHeaderValue("multipart/related");
        ct.Parameters.Add(new NameValueHeaderValue("type", "\"" + type + "\""));
        ct.Parameters.Add(new NameValueHeaderValue("boundary", Boundary));
        Headers.ContentType = ct;
        _closing = Encoding.ASCII.GetBytes("--" + Boundary + "--\r\n");
    }

    public string Boundary { get; }
    public IReadOnlyList<MultipartPart> Parts => _parts;

    /// <summary>Called after each part has been written to the wire (index of the part); used for progress reports.</summary>
    public Action<int>? PartWritten { get; init; }

    private byte[] PartHeader(MultipartPart p) =>
        Encoding.ASCII.GetBytes($"--{Boundary}\r\nContent-Type: {p.ContentType}\r\nContent-Length: {p.Length}\r\n\r\n");

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(CopyBuffer);
        try
        {
            for (var i = 0; i < _parts.Count; i++)
            {
                var p = _parts[i];
                await stream.WriteAsync(PartHeader(p), cancellationToken).ConfigureAwait(false);
                if (p.FilePath is not null)
                {
                    await using var fs = new FileStream(p.FilePath, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
                    long sent = 0;
                    int n;
                    while ((n = await fs.ReadAsync(buffer.AsMemory(0, CopyBuffer), cancellationToken).ConfigureAwait(false)) > 0)
                    {
                        sent += n;
                        if (sent > p.Length) break;
                        await stream.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                    }
                    // The declared Content-Length would otherwise be a lie and the PACS would misparse every following part.
                    if (sent != p.Length)
                        throw new MultipartSourceChangedException($"{p.FilePath} changed size while being sent ({p.Length} bytes expected, {sent} read).");
                }
                else await stream.WriteAsync(p.Bytes, cancellationToken).ConfigureAwait(false);
                await stream.WriteAsync("\r\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
                PartWritten?.Invoke(i);
            }
            await stream.WriteAsync(_closing, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override bool TryComputeLength(out long length)
    {
        length = _closing.Length;
        foreach (var p in _parts) length += PartHeader(p).Length + p.Length + 2;
        return true;
    }
}

/// <summary>A part's file changed while it was being sent; sending it again would not help, so this is never retried.</summary>
public sealed class MultipartSourceChangedException(string message) : IOException(message);
