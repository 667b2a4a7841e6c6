using System.Net.Http.Headers;

namespace MedAiNode.DicomWeb.Multipart;

public static class DicomWebMediaTypes
{
    public const string Dicom = "application/dicom";
    public const string DicomJson = "application/dicom+json";
    public const string DicomXml = "application/dicom+xml";
    public const string MultipartRelated = "multipart/related";

    /// <summary>The WADO-RS Accept value for Part 10 instances in a transfer syntax ("*" for as stored).</summary>
    public static string MultipartDicomAccept(string transferSyntax) =>
        $"multipart/related; type=\"{Dicom}\"; transfer-syntax={transferSyntax}";

    /// <summary>The boundary of a multipart response, unquoted; throws when the response is not multipart.</summary>
    public static string GetBoundary(MediaTypeHeaderValue? contentType)
    {
        if (contentType?.MediaType is not { } mt || !mt.Equals(MultipartRelated, StringComparison.OrdinalIgnoreCase))
            throw new DicomWebProtocolException($"expected a multipart/related response, got '{contentType?.ToString() ?? "no Content-Type"}'.");
        var b = contentType.Parameters.FirstOrDefault(p => p.Name.Equals("boundary", StringComparison.OrdinalIgnoreCase))?.Value;
        if (string.IsNullOrEmpty(b)) throw new DicomWebProtocolException("multipart/related response without a boundary parameter.");
        b = b.Trim();
        if (b.Length >= 2 && b[0] == '"' && b[^1] == '"') b = b[1..^1];
        if (b.Length is 0 or > 200) throw new DicomWebProtocolException($"multipart boundary of invalid length {b.Length}.");
        return b;
    }

    /// <summary>A media type parameter (unquoted) or null.</summary>
    public static string? GetParameter(string? contentType, string name)
    {
        if (contentType is null || !MediaTypeHeaderValue.TryParse(contentType, out var mt)) return null;
        var v = mt.Parameters.FirstOrDefault(p => p.Name.Equals(name, StringComparison.OrdinalIgnoreCase))?.Value;
        return v is { Length: >= 2 } && v[0] == '"' && v[^1] == '"' ? v[1..^1] : v;
    }

    public static string? GetMediaType(string? contentType) =>
        contentType is not null && MediaTypeHeaderValue.TryParse(contentType, out var mt) ? mt.MediaType : null;
}
