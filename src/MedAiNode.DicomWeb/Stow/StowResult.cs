using System.Net;

namespace MedAiNode.DicomWeb.Stow;

public enum StowInstanceStatus
{
    /// <summary>In the response's ReferencedSOPSequence without a warning.</summary>
    Stored,
    /// <summary>In the ReferencedSOPSequence with a WarningReason (e.g. coerced attributes).</summary>
    StoredWithWarning,
    /// <summary>In the FailedSOPSequence, or refused before sending (not DICOM), or its whole request failed.</summary>
    Failed,
    /// <summary>Sent, but the response neither stored nor failed it; treat as not stored.</summary>
    NotAcknowledged,
}

/// <summary>What happened to one instance of a STOW-RS store.</summary>
public sealed record StowInstanceResult
{
    public string? SopInstanceUid { get; init; }
    public string? SopClassUid { get; init; }
    /// <summary>The file it came from, when it came from a file.</summary>
    public string? SourcePath { get; init; }
    public StowInstanceStatus Status { get; init; }
    /// <summary>(0008,1197) Failure Reason, e.g. 0xA700 out of resources, 0xA900 SOP class mismatch, 0xC000 cannot understand, 0x0110 processing failure.</summary>
    public ushort? FailureReason { get; init; }
    /// <summary>(0008,1196) Warning Reason, e.g. 0xB000 coercion of data elements.</summary>
    public ushort? WarningReason { get; init; }
    public string? RetrieveUrl { get; init; }
    /// <summary>A human-readable account for failures (no patient data).</summary>
    public string? Message { get; init; }
    /// <summary>The HTTP status of the request that carried it.</summary>
    public HttpStatusCode? HttpStatus { get; init; }

    public bool IsStored => Status is StowInstanceStatus.Stored or StowInstanceStatus.StoredWithWarning;

    public static string DescribeReason(ushort code) => code switch
    {
        0x0110 => "processing failure",
        0x0122 => "referenced SOP class not supported",
        0x0124 => "not authorized",
        0x0210 => "duplicate invocation",
        0x0211 => "unrecognized operation",
        0x0212 => "mistyped argument",
        0xA700 => "out of resources",
        0xA770 => "out of resources: unable to store",
        0xA900 => "data set does not match SOP class",
        0xB000 => "coercion of data elements",
        0xB006 => "elements discarded",
        0xB007 => "data set does not match SOP class (warning)",
        0xC122 => "referenced transfer syntax not supported",
        _ when code >= 0xC000 && code <= 0xCFFF => "cannot understand",
        _ => "status 0x" + code.ToString("X4"),
    };
}

/// <summary>The outcome of a STOW-RS store: one entry per instance given, in the order given.</summary>
public sealed class StowResult
{
    public List<StowInstanceResult> Instances { get; } = new();
    /// <summary>How many HTTP requests carried the instances (after splitting on 413).</summary>
    public int Requests { get; internal set; }
    public long BytesSent { get; internal set; }

    public int StoredCount => Instances.Count(i => i.IsStored);
    public IEnumerable<StowInstanceResult> Failures => Instances.Where(i => !i.IsStored);
    public bool AllStored => Instances.All(i => i.IsStored);
}
