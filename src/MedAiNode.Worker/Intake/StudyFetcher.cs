using MedAiNode.Dicom.IO;
using MedAiNode.DicomWeb;
using MedAiNode.Store;

namespace MedAiNode.Worker.Intake;

/// <summary>Fetches a whole study from a configured PACS with WADO-RS into the store: for polling, and for a node
/// that runs the job of a study another node received.</summary>
public sealed class StudyFetcher(StudyStore store, IServiceProvider services, ILogger<StudyFetcher> log)
{
    public async Task<int> FetchAsync(string pacs, string studyUid, CancellationToken ct)
    {
        var factory = services.GetService<IDicomWebClientFactory>()
            ?? throw new InvalidOperationException($"no DicomWeb:Pacs entry named '{pacs}' is configured");
        var client = factory.Create(pacs);
        var dir = Path.Combine(store.IncomingRoot, "wado-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var result = await client.RetrieveStudyAsync(studyUid, dir, ct);
            var filed = 0;
            foreach (var i in result.Instances)
            {
                // The same single path as C-STORE: the store files the header the client parsed while writing the file.
                var instance = new ReceivedInstance(i.Path, i.Header, DicomTransferSyntax.Get(i.TransferSyntaxUid), "DICOMWEB:" + pacs, "", i.Bytes);
                try { store.Store(instance); filed++; }
                catch (StoreRejectedException e) { log.LogWarning("Fetched instance of study {StudyInstanceUid} refused: {Reason}", studyUid, e.Message); }
            }
            log.LogInformation("Fetched study {StudyInstanceUid} from {Pacs}: {Count} instances", studyUid, pacs, result.Instances.Count);
            return filed;
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}
