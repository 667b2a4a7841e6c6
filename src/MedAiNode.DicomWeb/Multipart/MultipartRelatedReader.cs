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
