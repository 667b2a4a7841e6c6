using System.Net;

namespace MedAiNode.DicomWeb;

/// <summary>A DICOMweb request that did not succeed. Messages name the PACS, the operation and the HTTP status, never
/// query values (which may carry patient names or IDs).</summary>
public class DicomWebException : Exception
{
    public DicomWebException(string pacs, string operation, string message, HttpStatusCode? status = null, Exception? inner = null)
        : base($"DICOMweb {pacs}: {operation}: {message}", inner)
    {
        Pacs = pacs;
        Operation = operation;
        StatusCode = status;
    }

    public string Pacs { get; }
    public string Operation { get; }
    public HttpStatusCode? StatusCode { get; }
    /// <summary>True when the PACS was unreachable, slow or overloaded (after retries), as opposed to refusing the request.</summary>
    public bool IsUnavailable { get; init; }
    /// <summary>For a STOW that stopped part way: what was stored before it stopped.</summary>
    public Stow.StowResult? PartialStowResult { get; init; }
    /// <summary>For a WADO that stopped part way: what was written before it stopped.</summary>
    public Wado.WadoResult? PartialWadoResult { get; init; }
}

/// <summary>A response that breaks the DICOMweb or MIME rules (bad multipart framing, unreadable DICOM JSON).</summary>
public sealed class DicomWebProtocolException : Exception
{
    public DicomWebProtocolException(string message, Exception? inner = null) : base(message, inner) { }
}
