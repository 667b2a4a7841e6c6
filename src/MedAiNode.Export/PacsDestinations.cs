using MedAiNode.Dicom;
using MedAiNode.Dicom.Network.Client;
using MedAiNode.Dicom.Network.Dimse;
using MedAiNode.DicomWeb;

namespace MedAiNode.Export;

/// <summary>Delivers results with STOW-RS through the PACS's resilient DICOMweb client (retries, circuit breaker, auth).</summary>
public sealed class StowDestination(string name, DicomWebClient client) : IResultDestination
{
    public string Name { get; } = name;

    public async Task<IReadOnlyCollection<string>> DeliverAsync(IReadOnlyList<OutboxItem> items, CancellationToken ct)
    {
        var result = await client.StoreFilesAsync(items.Select(i => i.Path), items[0].StudyInstanceUid, null, ct);
        return result.Instances.Where(i => i.IsStored && i.SopInstanceUid is not null).Select(i => i.SopInstanceUid!).ToList();
    }

    /// <summary>A one-result QIDO-RS search: proves the PACS answers DICOMweb with our credentials.</summary>
    public async Task CheckAsync(CancellationToken ct)
    {
        await foreach (var _ in client.SearchAsync(new MedAiNode.DicomWeb.Qido.QidoQuery(MedAiNode.DicomWeb.Qido.QidoLevel.Studies) { Limit = 1 }, ct)) break;
    }
}

/// <summary>Section "Export:CStore:&lt;name&gt;": a PACS that takes results over DIMSE C-STORE.</summary>
public sealed class CStoreDestinationOptions
{
    public string Host { get; set; } = "127.0.0.1";
    public int Port { get; set; } = 104;
    public string CalledAE { get; set; } = "PACS";
    public string CallingAE { get; set; } = "MEDAINODE";
}

/// <summary>Delivers results with C-STORE, one association per delivery, proposing each result's own syntax and Explicit VR LE.</summary>
public sealed class CStoreDestination(string name, CStoreDestinationOptions options) : IResultDestination
{
    public string Name { get; } = name;

    public async Task<IReadOnlyCollection<string>> DeliverAsync(IReadOnlyList<OutboxItem> items, CancellationToken ct)
    {
        var files = items.Select(i => MedAiNode.Dicom.IO.DicomFile.Open(i.Path)).ToList();
        var proposals = DicomClient.StorageProposals(files.Select(f => (f.Dataset.GetStringOrDefault(DicomTags.SOPClassUID), f.TransferSyntax.Uid)));
        await using var assoc = await DicomClient.ConnectAsync(new DicomClientOptions
        {
            Host = options.Host, Port = options.Port, CalledAE = options.CalledAE, CallingAE = options.CallingAE,
        }, proposals, ct);
        var accepted = new List<string>();
        foreach (var f in files)
        {
            var r = await assoc.StoreAsync(f, ct);
            if (r.Success) accepted.Add(r.SopInstanceUid);
            else if (r.Status == DimseStatus.OutOfResources || (r.Status & 0xFF00) == 0xA700)
                throw new IOException($"{Name} is out of resources (0x{r.Status:X4}): {r.ErrorComment}"); // transient: retried
        }
        await assoc.ReleaseAsync(ct);
        return accepted;
    }

    /// <summary>C-ECHO: proves the PACS accepts an association from us and answers.</summary>
    public async Task CheckAsync(CancellationToken ct)
    {
        await using var assoc = await DicomClient.ConnectAsync(new DicomClientOptions
        {
            Host = options.Host, Port = options.Port, CalledAE = options.CalledAE, CallingAE = options.CallingAE, ConnectTimeout = TimeSpan.FromSeconds(5),
        }, [DicomClient.Context(1, DicomUids.Verification)], ct);
        var status = await assoc.EchoAsync(ct);
        await assoc.ReleaseAsync(ct);
        if (status != 0) throw new IOException($"C-ECHO answered 0x{status:X4}");
    }
}
