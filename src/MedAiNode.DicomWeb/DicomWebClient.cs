using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using MedAiNode.Dicom.IO;
using MedAiNode.Dicom.Json;
using MedAiNode.DicomWeb.Configuration;
using MedAiNode.DicomWeb.Http;
using MedAiNode.DicomWeb.Multipart;
using MedAiNode.DicomWeb.Qido;
using MedAiNode.DicomWeb.Resilience;
using MedAiNode.DicomWeb.Stow;
using MedAiNode.DicomWeb.Wado;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace MedAiNode.DicomWeb;

/// <summary>Progress of a STOW-RS store, reported after each request.</summary>
public sealed record StowProgress(int InstancesDone, int InstancesTotal, int Stored, int Failed);

/// <summary>
/// QIDO-RS, WADO-RS and STOW-RS against one PACS. The HttpClient comes from IHttpClientFactory with the PACS's
/// resilience pipeline, credentials and TLS settings (see <see cref="DicomWebServiceCollectionExtensions"/>).
/// Logs carry UIDs, counts and statuses only, never query values or response bodies.
/// </summary>
public sealed class DicomWebClient
{
    private readonly HttpClient _http;
    private readonly ILogger _log;

    public DicomWebClient(HttpClient http, DicomWebPacsOptions options, ILogger? logger = null)
    {
        _http = http;
        Options = options;
        _log = logger ?? NullLogger.Instance;
        // Relative paths ("studies/...") resolve under the DICOMweb root only when it ends with '/'.
        BaseUri = new Uri(options.BaseUrl.EndsWith('/') ? options.BaseUrl : options.BaseUrl + "/", UriKind.Absolute);
    }

    public DicomWebPacsOptions Options { get; }
    public Uri BaseUri { get; }
    private string Pacs => Options.Name;

    // ---------------------------------------------------------------- QIDO-RS

    /// <summary>
    /// Every match of a QIDO-RS search, paging with limit/offset as the results are consumed. A page shorter than asked
    /// ends the search unless the PACS warned that it cut the page (Warning 299), as some cap their page size.
    /// A result that cannot be read, or whose identifying UID (Study, Series or SOP Instance UID for the level) is not a
    /// valid UID, is skipped and reported (to <paramref name="skipped"/> and the log, without its values), so one malformed
    /// study on the PACS does not hide the others. Each page is parsed as it streams, under MaxJsonResponseBytes,
    /// JsonResponseTimeout, ReadIdleTimeout and MinReadBytesPerSecond, and closed before its results are handed out.
    /// </summary>
    public async IAsyncEnumerable<DicomDataset> SearchAsync(QidoQuery query, Action<QidoSkipped>? skipped, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var offset = query.Offset;
        var remaining = query.Limit;
        string? previousFirst = null;
        var operation = "QIDO-RS " + query.ResourcePath();
        while (remaining is null or > 0)
        {
            var pageSize = remaining is { } r ? Math.Min(r, Options.QidoPageSize) : Options.QidoPageSize;
            var url = query.ToRelativeUrl(offset, pageSize);
            var page = new List<DicomDataset>();
            int received;
            string? first;
            bool truncatedByServer;
            using (var response = await SendAsync(() => Get(url, DicomWebMediaTypes.DicomJson), HttpCompletionOption.ResponseHeadersRead, operation, ct).ConfigureAwait(false))
            {
                if (response.StatusCode == HttpStatusCode.NoContent) yield break;
                await EnsureSuccess(response, operation).ConfigureAwait(false);
                truncatedByServer = response.Headers.Warning.Any(w => w.Code == 299);
                (received, first) = await ReadJsonArrayAsync(response, operation, offset, query.Level, page, skipped, ct).ConfigureAwait(false);
            }
            if (received == 0) yield break;
            // A PACS that ignores offset would hand out page one for ever.
            if (offset > query.Offset && first is not null && first == previousFirst)
                throw new DicomWebProtocolException($"DICOMweb {Pacs}: the PACS returned the same page again for offset {offset}; it does not support QIDO-RS offset paging.");
            previousFirst = first;
            foreach (var ds in page)
            {
                yield return ds;
            }
            offset += received;
            if (remaining is not null) remaining -= received;
            if (received < pageSize && !truncatedByServer) yield break;
        }
    }

    /// <summary>Every match of a QIDO-RS search; skipped results are logged only (see the overload).</summary>
    public IAsyncEnumerable<DicomDataset> SearchAsync(QidoQuery query, CancellationToken ct = default) => SearchAsync(query, null, ct);

    private static DicomTag IdentityTag(QidoLevel level) => level switch
    {
        QidoLevel.Studies => DicomTags.StudyInstanceUID,
        QidoLevel.Series => DicomTags.SeriesInstanceUID,
        _ => DicomTags.SOPInstanceUID,
    };

    // ---------------------------------------------------------------- WADO-RS metadata

    /// <summary>The metadata of a study, series or instance (DICOM JSON, bulk data left as empty elements).</summary>
    public async Task<List<DicomDataset>> RetrieveMetadataAsync(string studyUid, string? seriesUid = null, string? sopInstanceUid = null, CancellationToken ct = default)
    {
        var path = ResourcePath(studyUid, seriesUid, sopInstanceUid) + "/metadata";
        using var response = await SendAsync(() => Get(path, DicomWebMediaTypes.DicomJson), HttpCompletionOption.ResponseHeadersRead, "WADO-RS metadata", ct).ConfigureAwait(false);
        await EnsureSuccess(response, "WADO-RS metadata").ConfigureAwait(false);
        var list = new List<DicomDataset>();
        await ReadJsonArrayAsync(response, "WADO-RS metadata", 0, null, list, null, ct).ConfigureAwait(false);
        return list;
    }

    // ---------------------------------------------------------------- WADO-RS instances

    public Task<WadoResult> RetrieveStudyAsync(string studyUid, string directory, CancellationToken ct = default) =>
        RetrieveAsync(studyUid, null, null, directory, ct);

    public Task<WadoResult> RetrieveSeriesAsync(string studyUid, string seriesUid, string directory, CancellationToken ct = default) =>
        RetrieveAsync(studyUid, seriesUid, null, directory, ct);

    public Task<WadoResult> RetrieveInstanceAsync(string studyUid, string seriesUid, string sopInstanceUid, string directory, CancellationToken ct = default) =>
        RetrieveAsync(studyUid, seriesUid, sopInstanceUid, directory, ct);

    /// <summary>
    /// Retrieves a study, series or instance as multipart/related application/dicom and writes each part, as it
    /// arrives, to <c>directory/SOPInstanceUID.dcm</c> (written to a temporary name, then renamed, so a file that exists
    /// is whole). If the connection breaks part way, the instances still missing are listed with QIDO-RS and fetched
    /// one by one, so a resume does not download the study again.
    /// </summary>
    public async Task<WadoResult> RetrieveAsync(string studyUid, string? seriesUid, string? sopInstanceUid, string directory, CancellationToken ct = default)
    {
        Directory.CreateDirectory(directory);
        var result = new WadoResult();
        var sw = Stopwatch.StartNew();
        try
        {
            await RetrieveOnceAsync(ResourcePath(studyUid, seriesUid, sopInstanceUid), directory, result, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (IsBrokenStream(e, ct) && sopInstanceUid is null)
        {
            _log.LogWarning("DICOMweb {Pacs}: WADO-RS of study {Study} broke after {Count} instances ({Reason}); resuming the missing ones",
                Pacs, studyUid, result.Instances.Count, e.Message);
            await ResumeAsync(studyUid, seriesUid, directory, result, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (IsBrokenStream(e, ct))
        {
            throw new DicomWebException(Pacs, "WADO-RS", "the download broke off: " + e.Message, null, e) { IsUnavailable = true, PartialWadoResult = result };
        }
        _log.LogInformation("DICOMweb {Pacs}: WADO-RS study {Study}: {Count} instances, {MB:F1} MB in {Seconds:F1} s",
            Pacs, studyUid, result.Instances.Count, result.BytesReceived / 1e6, sw.Elapsed.TotalSeconds);
        return result;
    }

    private async Task ResumeAsync(string studyUid, string? seriesUid, string directory, WadoResult result, CancellationToken ct)
    {
        var query = new QidoQuery(QidoLevel.Instances) { StudyInstanceUid = studyUid, SeriesInstanceUid = seriesUid };
        query.Include(DicomTags.SeriesInstanceUID);
        var missing = new List<(string Series, string Sop)>();
        var listed = 0;
        await foreach (var ds in SearchAsync(query, ct).ConfigureAwait(false))
        {
            var sop = ds.GetString(DicomTags.SOPInstanceUID);
            var series = ds.GetString(DicomTags.SeriesInstanceUID) ?? seriesUid;
            if (!UidSyntax.IsValid(sop) || !UidSyntax.IsValid(series)) continue;
            listed++;
            if (!result.Contains(sop!)) missing.Add((series!, sop!));
        }
        result.ExpectedInstances = listed;
        // A listing that names nothing (the PACS is still indexing, or answers an empty page while failing) cannot
        // prove the study whole: what broke off is reported as a failure, to be fetched again, never as a study of
        // the instances that happened to arrive (F9: such a study was recorded as fetched with 0 instances).
        if (listed == 0)
            throw new DicomWebException(Pacs, "WADO-RS", $"the download broke off after {result.Instances.Count} instances and the resume query listed none; not complete",
                null) { IsUnavailable = true, PartialWadoResult = result };
        foreach (var (series, sop) in missing)
        {
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    await RetrieveOnceAsync(ResourcePath(studyUid, series, sop), directory, result, ct).ConfigureAwait(false);
                    break;
                }
                catch (Exception e) when (IsBrokenStream(e, ct) && attempt < Options.MaxRetries)
                {
                    result.Resumes++;
                    await Task.Delay(Backoff(attempt), ct).ConfigureAwait(false);
                }
                catch (Exception e) when (IsBrokenStream(e, ct))
                {
                    throw new DicomWebException(Pacs, "WADO-RS", $"instance {sop} broke off {attempt + 1} times: {e.Message}", null, e) { IsUnavailable = true, PartialWadoResult = result };
                }
            }
        }
        result.Resumes++;
    }

    private TimeSpan Backoff(int attempt)
    {
        var ms = Options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, attempt) * (0.5 + Random.Shared.NextDouble());
        return TimeSpan.FromMilliseconds(Math.Min(ms, Options.MaxRetryDelay.TotalMilliseconds));
    }

    private static bool IsBrokenStream(Exception e, CancellationToken ct) =>
        !ct.IsCancellationRequested && e is IOException or HttpIOException or TimeoutException or HttpRequestException;

    private async Task RetrieveOnceAsync(string path, string directory, WadoResult result, CancellationToken ct)
    {
        var ts = Options.WadoTransferSyntax;
        var response = await SendAsync(() => Get(path, DicomWebMediaTypes.MultipartDicomAccept(ts)), HttpCompletionOption.ResponseHeadersRead, "WADO-RS", ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotAcceptable && ts != "*")
        {
            // The PACS cannot transcode; take the stored syntax and let the caller decide (the codecs layer reads the compressed ones).
            response.Dispose();
            _log.LogWarning("DICOMweb {Pacs}: PACS cannot send transfer syntax {Ts}; asking for the stored one", Pacs, ts);
            response = await SendAsync(() => Get(path, DicomWebMediaTypes.MultipartDicomAccept("*")), HttpCompletionOption.ResponseHeadersRead, "WADO-RS", ct).ConfigureAwait(false);
        }
        using (response)
        {
            await EnsureSuccess(response, "WADO-RS").ConfigureAwait(false);
            var boundary = DicomWebMediaTypes.GetBoundary(response.Content.Headers.ContentType);
            await using var body = new GuardedBodyStream(await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false), WadoLimits, $"DICOMweb {Pacs}: WADO-RS");
            var reader = new MultipartRelatedReader(body, boundary);
            while (await reader.ReadNextAsync(ct).ConfigureAwait(false) is { } section)
                await WritePartAsync(section, directory, result, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Whether each fetched file's data is synced (fdatasync) before it is named; the study fetcher follows Store:Fsync.</summary>
    public bool FsyncFiles { get; set; } = true;

    /// <summary>Raised after each instance file is in place (instances written so far); for progress and tests.</summary>
    public Action<int>? WadoPartWritten { get; set; }

    private async Task WritePartAsync(MultipartRelatedSection section, string directory, WadoResult result, CancellationToken ct)
    {
        var mediaType = DicomWebMediaTypes.GetMediaType(section.ContentType);
        if (mediaType is not null && !mediaType.Equals(DicomWebMediaTypes.Dicom, StringComparison.OrdinalIgnoreCase))
        {
            await section.Body.CopyToAsync(Stream.Null, ct).ConfigureAwait(false);
            result.Problems.Add($"part {section.Index + 1}: media type {mediaType}, not {DicomWebMediaTypes.Dicom}; skipped.");
            return;
        }
        var tmp = Path.Combine(directory, $".wado-{Guid.NewGuid():N}.partial");
        var head = System.Buffers.ArrayPool<byte>.Shared.Rent(HeaderPeek);
        try
        {
            // The first bytes give the SOP Instance UID (for the file name) without reading the file back.
            var headLength = 0;
            int n;
            while (headLength < HeaderPeek && (n = await section.Body.ReadAsync(head.AsMemory(headLength, HeaderPeek - headLength), ct).ConfigureAwait(false)) > 0)
                headLength += n;
            long length;
            // Synchronous writes: on Linux an "asynchronous" FileStream only adds thread-pool hops (measured ~20% slower here).
            await using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.None))
            {
                await fs.WriteAsync(head.AsMemory(0, headLength), ct).ConfigureAwait(false);
                await section.Body.CopyToAsync(fs, 1024 * 1024, ct).ConfigureAwait(false);
                length = fs.Length;
                // As on C-STORE intake: the data is on disk before the file is named and handed to the store, whose
                // move into the study folder then syncs the folder. An fsync failure (disk full, I/O error) throws.
                if (FsyncFiles) DurableFile.DataSync(fs);
            }
            result.BytesReceived += length;
            DicomFile header;
            try
            {
                header = ReadHeader(head, headLength, headLength == length) ?? DicomFile.Open(tmp, new DicomReadOptions { StopBeforePixelData = true });
            }
            catch (DicomFormatException e)
            {
                result.Problems.Add($"part {section.Index + 1}: not a readable DICOM instance ({e.Message}); dropped.");
                return;
            }
            var sop = header.Dataset.GetString(DicomTags.SOPInstanceUID) is { Length: > 0 } s ? s : header.FileMetaInfo.GetString(DicomTags.MediaStorageSOPInstanceUID);
            if (!UidSyntax.IsValid(sop))
            {
                result.Problems.Add($"part {section.Index + 1}: no valid SOP Instance UID; dropped.");
                return;
            }
            var tsUid = header.TransferSyntax.Uid;
            if (Options.WadoTransferSyntax != "*" && tsUid != Options.WadoTransferSyntax)
                _log.LogDebug("DICOMweb {Pacs}: instance {Sop} came as {Ts}, not the {Asked} asked for", Pacs, sop, tsUid, Options.WadoTransferSyntax);
            var final = Path.Combine(directory, sop + ".dcm");
            File.Move(tmp, final, overwrite: true);
            result.Add(new WadoInstance(sop!, header.Dataset.GetString(DicomTags.SeriesInstanceUID), tsUid, final, length, header.Dataset) { Durable = FsyncFiles });
            WadoPartWritten?.Invoke(result.Instances.Count);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(head);
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    private const int HeaderPeek = 64 * 1024;

    /// <summary>The header from the first bytes of a part, or null when it runs past them (then the file is read).</summary>
    private static DicomFile? ReadHeader(byte[] head, int length, bool complete)
    {
        try
        {
            // Values are copied out of the stream, so the pooled buffer can be returned afterwards.
            var f = DicomFile.Read(new MemoryStream(head, 0, length, writable: false), new DicomReadOptions { StopBeforePixelData = true });
            // A peek that ended on an element boundary reads "successfully" but short; only trust it if the UID came with it.
            return complete || !string.IsNullOrEmpty(f.Dataset.GetString(DicomTags.SOPInstanceUID)) ? f : null;
        }
        catch (DicomFormatException) when (!complete)
        {
            return null; // the header is longer than the peek, or cut inside it: read from the file
        }
    }

    // ---------------------------------------------------------------- STOW-RS

    /// <summary>Stores files; a file that is not DICOM is reported failed without being sent, and the rest go on.</summary>
    public Task<StowResult> StoreFilesAsync(IEnumerable<string> paths, string? studyUid = null, IProgress<StowProgress>? progress = null, CancellationToken ct = default)
    {
        var instances = new List<StowInstance>();
        var refused = new List<StowInstanceResult>();
        foreach (var p in paths)
        {
            try
            {
                instances.Add(StowInstance.FromFile(p));
            }
            catch (Exception e) when (e is DicomFormatException or IOException or UnauthorizedAccessException)
            {
                refused.Add(new StowInstanceResult { SourcePath = p, Status = StowInstanceStatus.Failed, Message = "not sent: " + e.Message });
            }
        }
        return StoreAsync(instances, studyUid, progress, ct, refused);
    }

    /// <summary>
    /// Stores instances with STOW-RS in batches (by count and bytes, see the PACS options), each a multipart/related
    /// request that is retried as a whole on transient failures; storing the same SOP Instance UID again replaces
    /// it on a conforming PACS, so a retried batch creates no duplicates. A 413 splits the batch. The result has one
    /// entry per instance; a failure of the request itself (after retries) throws with the partial result.
    /// </summary>
    public async Task<StowResult> StoreAsync(IReadOnlyList<StowInstance> instances, string? studyUid = null, IProgress<StowProgress>? progress = null,
        CancellationToken ct = default, IEnumerable<StowInstanceResult>? alreadyFailed = null)
    {
        if (studyUid is not null) UidSyntax.Require(studyUid, "StudyInstanceUID");
        var result = new StowResult();
        if (alreadyFailed is not null) result.Instances.AddRange(alreadyFailed);
        var queue = new Queue<List<StowInstance>>(Batches(instances));
        var done = 0;
        while (queue.Count > 0)
        {
            var batch = queue.Dequeue();
            var outcome = await StoreBatchAsync(batch, studyUid, result, ct).ConfigureAwait(false);
            if (outcome is null)
            {
                // 413: split and send the halves next.
                var half = batch.Count / 2;
                var rest = queue.ToList();
                queue.Clear();
                queue.Enqueue(batch.Take(half).ToList());
                queue.Enqueue(batch.Skip(half).ToList());
                foreach (var b in rest) queue.Enqueue(b);
                continue;
            }
            result.Instances.AddRange(outcome);
            done += batch.Count;
            progress?.Report(new StowProgress(done, instances.Count, result.StoredCount, result.Instances.Count - result.StoredCount));
        }
        _log.LogInformation("DICOMweb {Pacs}: STOW-RS {Stored}/{Total} instances stored in {Requests} requests",
            Pacs, result.StoredCount, result.Instances.Count, result.Requests);
        return result;
    }

    /// <summary>Cuts the instances into batches of at most StowMaxInstances and StowMaxBytes (a bigger instance goes alone).</summary>
    internal IEnumerable<List<StowInstance>> Batches(IReadOnlyList<StowInstance> instances)
    {
        var batch = new List<StowInstance>();
        long bytes = 0;
        foreach (var i in instances)
        {
            if (batch.Count > 0 && (batch.Count >= Options.StowMaxInstances || bytes + i.Length > Options.StowMaxBytes))
            {
                yield return batch;
                batch = new List<StowInstance>();
                bytes = 0;
            }
            batch.Add(i);
            bytes += i.Length;
        }
        if (batch.Count > 0) yield return batch;
    }

    /// <summary>Raised after each part of a STOW request is on the wire (batch number from 0, part index); for progress and tests.</summary>
    public Action<int, int>? StowPartWritten { get; set; }

    private async Task<List<StowInstanceResult>?> StoreBatchAsync(List<StowInstance> batch, string? studyUid, StowResult result, CancellationToken ct)
    {
        var path = studyUid is null ? "studies" : "studies/" + studyUid;
        var batchNo = result.Requests;
        var parts = batch.Select(b => b.Part).ToList();
        HttpResponseMessage response;
        try
        {
            response = await SendAsync(() =>
            {
                var req = new HttpRequestMessage(HttpMethod.Post, new Uri(BaseUri, path))
                {
                    Content = new MultipartRelatedContent(parts) { PartWritten = i => StowPartWritten?.Invoke(batchNo, i) },
                };
                req.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(DicomWebMediaTypes.DicomJson));
                req.Headers.ExpectContinue = false;
                return req;
            }, HttpCompletionOption.ResponseContentRead, "STOW-RS", ct).ConfigureAwait(false);
        }
        catch (DicomWebException e)
        {
            throw new DicomWebException(e.Pacs, e.Operation, e.Message, e.StatusCode, e) { IsUnavailable = e.IsUnavailable, PartialStowResult = result };
        }
        using (response)
        {
            result.Requests++;
            var status = response.StatusCode;
            if (status == HttpStatusCode.RequestEntityTooLarge && batch.Count > 1)
            {
                _log.LogWarning("DICOMweb {Pacs}: STOW-RS request of {Count} instances too large (413); splitting", Pacs, batch.Count);
                return null;
            }
            result.BytesSent += parts.Sum(p => p.Length);
            var mediaType = response.Content.Headers.ContentType?.MediaType;
            var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            // PS3.18 10.5.3: 200 all stored, 202 some failed or warnings, 409 none stored; a 400 may carry the same details.
            // Orthanc sends its 400/409 details without a Content-Type, so a body that looks like JSON or XML is read too.
            if (status is HttpStatusCode.OK or HttpStatusCode.Accepted or HttpStatusCode.Conflict or HttpStatusCode.BadRequest
                && LooksLikeDicomBody(body, mediaType))
            {
                try
                {
                    return Match(batch, StowResponse.Parse(body, mediaType), status);
                }
                catch (DicomWebProtocolException e)
                {
                    _log.LogWarning("DICOMweb {Pacs}: STOW-RS HTTP {Status} with an unreadable body: {Reason}", Pacs, (int)status, e.Message);
                }
            }
            if (status == HttpStatusCode.Accepted)
                return batch.Select(b => Entry(b, StowInstanceStatus.NotAcknowledged, status,
                    "the PACS reported a partial store (202) without readable details; not known to be stored")).ToList();
            if (status == HttpStatusCode.OK)
            {
                // No body to check against: a success status without details is taken at its word.
                return batch.Select(b => Entry(b, StowInstanceStatus.Stored, status, null)).ToList();
            }
            if (status is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden or HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed
                or HttpStatusCode.UnsupportedMediaType or HttpStatusCode.NotImplemented || DicomWebResilience.IsTransientStatus(status))
            {
                // The request itself is refused (or the PACS still fails after retries): every later batch would be too.
                throw new DicomWebException(Pacs, "STOW-RS", $"HTTP {(int)status} {response.ReasonPhrase}", status)
                { PartialStowResult = result, IsUnavailable = DicomWebResilience.IsTransientStatus(status) };
            }
            return batch.Select(b => Entry(b, StowInstanceStatus.Failed, status, $"request refused: HTTP {(int)status} {response.ReasonPhrase}")).ToList();
        }
    }

    private static bool LooksLikeDicomBody(string body, string? mediaType)
    {
        if (body.Length == 0) return false;
        if (mediaType is not null && (mediaType.Contains("json", StringComparison.OrdinalIgnoreCase) || mediaType.Contains("xml", StringComparison.OrdinalIgnoreCase)))
            return true;
        var t = body.AsSpan().TrimStart();
        return (mediaType is null || mediaType.StartsWith("text/", StringComparison.OrdinalIgnoreCase)) && t.Length > 0 && t[0] is '{' or '<';
    }

    /// <summary>What happened to one instance; a failure or warning reason and a URL are added with <c>with</c> where the response gave them.</summary>
    private static StowInstanceResult Entry(StowInstance b, StowInstanceStatus st, HttpStatusCode http, string? message) => new()
    {
        SopInstanceUid = b.SopInstanceUid, SopClassUid = b.SopClassUid, SourcePath = b.SourcePath,
        Status = st, HttpStatus = http, Message = message,
    };

    /// <summary>Pairs each sent instance with the response's account of it, by SOP Instance UID. An instance the
    /// response does not mention (the PACS could not even read its UID) is NotAcknowledged.</summary>
    internal static List<StowInstanceResult> Match(IReadOnlyList<StowInstance> batch, StowResponse response, HttpStatusCode http)
    {
        var stored = new Dictionary<string, StowResponseItem>(StringComparer.Ordinal);
        foreach (var r in response.Referenced) if (r.SopInstanceUid is not null) stored.TryAdd(r.SopInstanceUid, r);
        var failed = new Dictionary<string, StowResponseItem>(StringComparer.Ordinal);
        foreach (var f in response.Failed) if (f.SopInstanceUid is not null) failed.TryAdd(f.SopInstanceUid, f);
        var list = new List<StowInstanceResult>(batch.Count);
        foreach (var b in batch)
        {
            if (b.SopInstanceUid is { } uid && failed.TryGetValue(uid, out var f))
            {
                var reason = f.FailureReason ?? 0x0110;
                list.Add(Entry(b, StowInstanceStatus.Failed, http, $"PACS refused it: 0x{reason:X4} {StowInstanceResult.DescribeReason(reason)}")
                    with { FailureReason = reason });
            }
            else if (b.SopInstanceUid is { } uid2 && stored.TryGetValue(uid2, out var s))
            {
                var warn = s.WarningReason ?? response.WarningReason;
                list.Add(Entry(b, warn is null ? StowInstanceStatus.Stored : StowInstanceStatus.StoredWithWarning, http,
                    warn is { } w ? $"stored with warning 0x{w:X4} {StowInstanceResult.DescribeReason(w)}" : null)
                    with { WarningReason = warn, RetrieveUrl = s.RetrieveUrl });
            }
            else
            {
                var other = response.OtherFailures.Count > 0 ? $" (PACS reported other failures: {string.Join(", ", response.OtherFailures.Select(o => $"0x{o:X4}"))})" : "";
                list.Add(Entry(b, StowInstanceStatus.NotAcknowledged, http,
                    "the PACS response does not mention this instance; it was not stored" + other));
            }
        }
        return list;
    }

    // ---------------------------------------------------------------- plumbing

    private string ResourcePath(string studyUid, string? seriesUid, string? sopUid)
    {
        var p = "studies/" + UidSyntax.Require(studyUid, "StudyInstanceUID");
        if (seriesUid is not null) p += "/series/" + UidSyntax.Require(seriesUid, "SeriesInstanceUID");
        else if (sopUid is not null) throw new ArgumentException("An instance retrieve needs its series UID.");
        if (sopUid is not null) p += "/instances/" + UidSyntax.Require(sopUid, "SOPInstanceUID");
        return p;
    }

    private HttpRequestMessage Get(string relative, string accept)
    {
        var req = new HttpRequestMessage(HttpMethod.Get, new Uri(BaseUri, relative));
        req.Headers.TryAddWithoutValidation("Accept", accept);
        return req;
    }

    /// <summary>Sends through the resilience pipeline; turns what is left after retries into DicomWebException.</summary>
    private async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> make, HttpCompletionOption completion, string operation, CancellationToken ct)
    {
        var request = make();
        try
        {
            return await _http.SendAsync(request, completion, ct).ConfigureAwait(false);
        }
        catch (TimeoutRejectedException e)
        {
            throw new DicomWebException(Pacs, operation, $"no answer within the configured timeouts ({e.Timeout.TotalSeconds:0.#} s)", null, e) { IsUnavailable = true };
        }
        catch (BrokenCircuitException e)
        {
            throw new DicomWebException(Pacs, operation, "the PACS failed repeatedly; its circuit is open, calls are paused" +
                (e.RetryAfter is { } ra ? $" for {ra.TotalSeconds:0} s more" : ""), null, e) { IsUnavailable = true };
        }
        catch (HttpRequestException e)
        {
            throw new DicomWebException(Pacs, operation, "cannot reach the PACS: " + e.Message, null, e) { IsUnavailable = DicomWebResilience.IsTransientException(e) };
        }
        finally
        {
            // The response does not depend on the request once headers are in; disposing frees STOW content.
            if (completion == HttpCompletionOption.ResponseContentRead) request.Dispose();
        }
    }

    private Task EnsureSuccess(HttpResponseMessage response, string operation)
    {
        if (response.IsSuccessStatusCode) return Task.CompletedTask;
        var status = response.StatusCode;
        // The body is not quoted (a PACS may echo query values, patient names, in its error text) nor read: it may be endless.
        var hint = status switch
        {
            HttpStatusCode.Unauthorized => " (check the PACS's Auth settings)",
            HttpStatusCode.Forbidden => " (the credentials are not allowed this)",
            HttpStatusCode.NotFound => " (no such resource, or the BaseUrl is wrong)",
            HttpStatusCode.NotAcceptable => " (the PACS cannot produce the requested media type or transfer syntax)",
            _ => "",
        };
        throw new DicomWebException(Pacs, operation, $"HTTP {(int)status} {response.ReasonPhrase}{hint}", status) { IsUnavailable = DicomWebResilience.IsTransientStatus(status) };
    }

    private BodyLimits JsonLimits => new(
        Options.MaxJsonResponseBytes, Key(nameof(DicomWebPacsOptions.MaxJsonResponseBytes)),
        Options.JsonResponseTimeout, Key(nameof(DicomWebPacsOptions.JsonResponseTimeout)),
        Options.ReadIdleTimeout, Key(nameof(DicomWebPacsOptions.ReadIdleTimeout)),
        Options.MinReadBytesPerSecond, Key(nameof(DicomWebPacsOptions.MinReadBytesPerSecond)));

    private BodyLimits WadoLimits => new(
        null, "",
        Options.WadoResponseTimeout, Key(nameof(DicomWebPacsOptions.WadoResponseTimeout)),
        Options.ReadIdleTimeout, Key(nameof(DicomWebPacsOptions.ReadIdleTimeout)),
        Options.MinReadBytesPerSecond, Key(nameof(DicomWebPacsOptions.MinReadBytesPerSecond)));

    private string Key(string option) => $"{DicomWebPacsOptions.SectionName} '{Pacs}' {option}";

    /// <summary>
    /// Parses a JSON array of datasets as it streams (one element in memory at a time, the body under
    /// <see cref="JsonLimits"/>) into <paramref name="into"/>. A dataset that cannot be read, or, with a QIDO level, lacks a
    /// valid identifying UID, is reported and skipped. Returns how many elements the array had (skipped ones included,
    /// which is what paging counts) and the first element's identifying value.
    /// </summary>
    private async Task<(int Count, string? First)> ReadJsonArrayAsync(HttpResponseMessage response, string operation, int offset, QidoLevel? level,
        List<DicomDataset> into, Action<QidoSkipped>? skipped, CancellationToken ct)
    {
        var limits = JsonLimits;
        var what = $"DICOMweb {Pacs}: {operation}";
        try
        {
            GuardedBodyStream.CheckDeclaredLength(response.Content.Headers.ContentLength, limits, what);
            await using var stream = new GuardedBodyStream(await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false), limits, what);
            var options = new DicomJsonOptions();
            var count = 0;
            string? first = null;
            // The root must be an array: DeserializeAsyncEnumerable refuses anything else.
            await foreach (var element in JsonSerializer.DeserializeAsyncEnumerable<JsonElement>(stream, JsonElementOptions, ct).ConfigureAwait(false))
            {
                var index = offset + count++;
                DicomDataset ds;
                try
                {
                    ds = DicomJson.ReadDataset(element, options, null);
                }
                catch (Exception e) when (e is FormatException or JsonException or InvalidOperationException or ArgumentException or DicomFormatException)
                {
                    Skip(new QidoSkipped(index, null, "unreadable DICOM JSON: " + WithoutValues(e.Message)));
                    continue;
                }
                if (level is { } l)
                {
                    var id = ds.GetString(IdentityTag(l));
                    if (count == 1) first = id;
                    if (!UidSyntax.IsValid(id))
                    {
                        Skip(new QidoSkipped(index, null, $"{(id is null ? "no" : "an invalid")} {IdentityTag(l)} (a UID is at most 64 digits and dots)"));
                        continue;
                    }
                }
                into.Add(ds);
            }
            return (count, first);
        }
        catch (ResponseTooLargeException e)
        {
            throw new DicomWebProtocolException(e.Message, e);
        }
        catch (TimeoutException e)
        {
            throw new DicomWebException(Pacs, operation, e.Message.Replace(what + ": ", ""), null, e) { IsUnavailable = true };
        }
        catch (Exception e) when (e is IOException or HttpRequestException && !ct.IsCancellationRequested)
        {
            throw new DicomWebException(Pacs, operation, "the response broke off: " + e.Message, null, e) { IsUnavailable = true };
        }
        catch (JsonException e)
        {
            throw new DicomWebProtocolException($"DICOMweb {Pacs}: {operation}: unreadable DICOM JSON response: {WithoutValues(e.Message)}", e);
        }

        void Skip(QidoSkipped s)
        {
            _log.LogWarning("DICOMweb {Pacs}: {Operation}: result {Index} skipped: {Reason}", Pacs, operation, s.Index, s.Reason);
            skipped?.Invoke(s);
        }
    }

    /// <summary>A parse error without the values it quotes (a person name, a hostile UID): everything between the first and
    /// the last single quote is withheld; the tag, VR and rule broken remain.</summary>
    internal static string WithoutValues(string message) =>
        System.Text.RegularExpressions.Regex.Replace(message, "'.*'", "(value withheld)", System.Text.RegularExpressions.RegexOptions.Singleline);

    private static readonly JsonSerializerOptions JsonElementOptions = new() { DefaultBufferSize = 16 * 1024, MaxDepth = 64 };
}

/// <summary>A QIDO-RS result that was skipped: its position in the whole result list and why (never its values).</summary>
public sealed record QidoSkipped(int Index, string? Uid, string Reason);
