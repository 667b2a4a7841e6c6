using MedAiNode.Dicom.IO;
using MedAiNode.DicomWeb;
using MedAiNode.Store;

namespace MedAiNode.Worker.Intake;

/// <summary>What one fetch did: instances the PACS sent, instances the store filed, and how many the PACS said there are.</summary>
public sealed record FetchOutcome(int Received, int Filed, int? Expected)
{
    /// <summary>Instances received per series.</summary>
    public IReadOnlyDictionary<string, int> BySeries { get; init; } = new Dictionary<string, int>();
}

/// <summary>A fetch that received fewer instances than the PACS said the study has; nothing of it was filed.</summary>
public sealed class IncompleteFetchException(string message) : Exception(message);

/// <summary>Fetches a whole study from a configured PACS with WADO-RS into the store: for polling, and for a node
/// that runs the job of a study another node received.</summary>
public sealed class StudyFetcher(StudyStore store, IServiceProvider services, ILogger<StudyFetcher> log)
{
    public async Task<int> FetchAsync(string pacs, string studyUid, CancellationToken ct) =>
        (await FetchAsync(pacs, studyUid, null, fileIncomplete: true, ct)).Filed;

    /// <summary>
    /// Fetches a study; with <paramref name="expectedInstances"/> (the PACS's NumberOfStudyRelatedInstances), a download
    /// that brought fewer is incomplete: unless <paramref name="fileIncomplete"/>, nothing is filed (an incomplete study
    /// must not start its quiet period and be analysed) and <see cref="IncompleteFetchException"/> says so, for a retry.
    /// </summary>
    public Task<FetchOutcome> FetchAsync(string pacs, string studyUid, int? expectedInstances, bool fileIncomplete, CancellationToken ct) =>
        FetchAsync(pacs, studyUid, null, expectedInstances, fileIncomplete, ct);

    /// <summary>The same for one series of the study (<paramref name="seriesUid"/>), or the whole study when null.</summary>
    public async Task<FetchOutcome> FetchAsync(string pacs, string studyUid, string? seriesUid, int? expectedInstances, bool fileIncomplete, CancellationToken ct)
    {
        var factory = services.GetService<IDicomWebClientFactory>()
            ?? throw new InvalidOperationException($"no DicomWeb:Pacs entry named '{pacs}' is configured");
        var client = factory.Create(pacs);
        // As C-STORE intake: a fetched file's data is synced before the store names it, when Store:Fsync is on.
        client.FsyncFiles = store.Fsync;
        var dir = Path.Combine(store.IncomingRoot, "wado-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var result = seriesUid is null ? await client.RetrieveStudyAsync(studyUid, dir, ct) : await client.RetrieveSeriesAsync(studyUid, seriesUid, dir, ct);
            var received = result.Instances.Count;
            var expected = expectedInstances ?? result.ExpectedInstances;
            if (expected is { } e && received < e)
            {
                if (!fileIncomplete)
                    throw new IncompleteFetchException($"received {received} of the {e} instances the PACS lists; not filed, to be fetched again");
                log.LogWarning("Study {StudyInstanceUid} from {Pacs}: only {Received} of {Expected} instances after repeated tries; filing what arrived",
                    studyUid, pacs, received, e);
            }
            var filed = 0;
            foreach (var i in result.Instances)
            {
                // The same single path as C-STORE: the store files the header the client parsed while writing the file.
                var instance = new ReceivedInstance(i.Path, i.Header, DicomTransferSyntax.Get(i.TransferSyntaxUid), "DICOMWEB:" + pacs, "", i.Bytes);
                try { store.Store(instance); filed++; }
                catch (StoreRejectedException ex) { log.LogWarning("Fetched instance of study {StudyInstanceUid} refused: {Reason}", studyUid, ex.Message); }
            }
            log.LogInformation("Fetched study {StudyInstanceUid} from {Pacs}: {Count} instances", studyUid, pacs, received);
            return new FetchOutcome(received, filed, expected)
            {
                BySeries = result.Instances.GroupBy(i => i.SeriesInstanceUid ?? "").ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal),
            };
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}
