namespace MedAiNode.DicomWeb.Wado;

/// <summary>One instance written to disk by a WADO-RS retrieve, with the header parsed while it was written (up to the
/// pixel data), so whoever files it need not read the file again.</summary>
public sealed record WadoInstance(string SopInstanceUid, string? SeriesInstanceUid, string TransferSyntaxUid, string Path, long Bytes,
    MedAiNode.Dicom.DicomDataset Header)
{
    /// <summary>The file's data was synced to disk before it was given its name.</summary>
    public bool Durable { get; init; }
}

/// <summary>What a WADO-RS retrieve wrote: each instance once (a part re-sent after a resume replaces its file).</summary>
public sealed class WadoResult
{
    private readonly Dictionary<string, WadoInstance> _bySop = new(StringComparer.Ordinal);

    public IReadOnlyCollection<WadoInstance> Instances => _bySop.Values;
    /// <summary>Parts that were not DICOM instances or could not be read, with the reason (no patient data).</summary>
    public List<string> Problems { get; } = new();
    public long BytesReceived { get; internal set; }
    /// <summary>How many times a broken download was resumed.</summary>
    public int Resumes { get; internal set; }
    /// <summary>How many instances the PACS listed for what was asked (known when a resume had to list them), else null.</summary>
    public int? ExpectedInstances { get; internal set; }

    public bool Contains(string sopInstanceUid) => _bySop.ContainsKey(sopInstanceUid);
    internal void Add(WadoInstance i) => _bySop[i.SopInstanceUid] = i;
}
