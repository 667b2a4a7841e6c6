using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedAiNode.Export;

/// <summary>A result waiting for delivery: one Part 10 file in the outbox.</summary>
public sealed record OutboxItem(string StudyInstanceUid, string SopInstanceUid, string SopClassUid, string Path);

/// <summary>A place results are delivered to (a PACS over STOW-RS or C-STORE). Delivery of the same SOP Instance UIDs
/// again must be harmless: PACS replace an instance they already hold.</summary>
public interface IResultDestination
{
    string Name { get; }
    /// <summary>Sends the items; returns the ones the destination accepted. Throws for transient failures (retried later).</summary>
    Task<IReadOnlyCollection<string>> DeliverAsync(IReadOnlyList<OutboxItem> items, CancellationToken ct);
    /// <summary>Whether the destination answers now (for readiness); throws with the reason when it does not.</summary>
    Task CheckAsync(CancellationToken ct) => Task.CompletedTask;
}

/// <summary>
/// Results are written here before any delivery, so a PACS outage delays them and loses nothing. Layout:
/// outbox/&lt;StudyUID&gt;/&lt;SOPUID&gt;.dcm, and outbox/&lt;StudyUID&gt;/delivered/&lt;destination&gt;/&lt;SOPUID&gt; markers once a
/// destination has accepted an instance, so a retry sends only what is missing, with the same UIDs. Triage alerts
/// wait beside them as outbox/&lt;StudyUID&gt;/alerts/&lt;AlertId&gt;.json (fsynced before the study is Analysed) with
/// delivered/&lt;destination&gt;/alert-&lt;AlertId&gt; markers, written (and fsynced) only after the receiver accepted it.
/// </summary>
public sealed class Outbox
{
    private readonly ILogger _log;

    public Outbox(string root, ILogger<Outbox>? log = null)
    {
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Root);
        _log = (ILogger?)log ?? NullLogger.Instance;
    }

    public string Root { get; }

    /// <summary>Writes a result file (fsynced, then renamed into place); the same SOP Instance UID overwrites the earlier copy.</summary>
    public OutboxItem Put(DicomFile file)
    {
        var study = file.Dataset.GetString(DicomTags.StudyInstanceUID) ?? throw new ArgumentException("Result has no StudyInstanceUID.");
        var sop = file.Dataset.GetString(DicomTags.SOPInstanceUID) ?? throw new ArgumentException("Result has no SOPInstanceUID.");
        var cls = file.Dataset.GetString(DicomTags.SOPClassUID) ?? "";
        var dir = Path.Combine(Root, study);
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, sop + ".dcm");
        file.Save(path, null, new DicomWriteOptions { FlushToDisk = true });
        return new OutboxItem(study, sop, cls, path);
    }

    public IReadOnlyList<OutboxItem> Items(string studyUid)
    {
        var dir = Path.Combine(Root, studyUid);
        if (!Directory.Exists(dir)) return [];
        return Directory.EnumerateFiles(dir, "*.dcm").OrderBy(p => p, StringComparer.Ordinal).Select(p =>
        {
            var ds = DicomFile.Open(p, new DicomReadOptions { StopBeforePixelData = true }).Dataset;
            return new OutboxItem(studyUid, Path.GetFileNameWithoutExtension(p), ds.GetString(DicomTags.SOPClassUID) ?? "", p);
        }).ToList();
    }

    /// <summary>The property of an alert file that holds the alert as sent; "destinations" lists who it goes to.</summary>
    public const string AlertProperty = "alert";
    private const string DestinationsProperty = "destinations";

    /// <summary>Writes a triage alert durably (data and folder fsynced, then renamed into place): once this returns, a
    /// crash cannot lose it. The same id overwrites an earlier copy (a re-analysis of the same content).</summary>
    public AlertItem PutAlert(string studyUid, string alertId, IReadOnlyCollection<string> destinations, System.Text.Json.Nodes.JsonObject alert)
    {
        if (alertId.Length == 0 || alertId.Any(c => !char.IsAsciiLetterOrDigit(c) && c != '-'))
            throw new ArgumentException($"alert id '{alertId}' must be letters, digits and '-'", nameof(alertId));
        var dir = Path.Combine(Root, studyUid, "alerts");
        Directory.CreateDirectory(dir);
        var envelope = new System.Text.Json.Nodes.JsonObject
        {
            [DestinationsProperty] = new System.Text.Json.Nodes.JsonArray(destinations.Select(d => (System.Text.Json.Nodes.JsonNode?)d).ToArray()),
            [AlertProperty] = alert.DeepClone(),
        };
        var path = Path.Combine(dir, alertId + ".json");
        var tmp = path + ".tmp";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            using (var w = new System.Text.Json.Utf8JsonWriter(fs, new System.Text.Json.JsonWriterOptions { Indented = true })) envelope.WriteTo(w);
            DurableFile.DataSync(fs);
        }
        File.Move(tmp, path, overwrite: true);
        DurableFile.FsyncDirectory(dir);
        DurableFile.FsyncDirectory(Path.GetDirectoryName(dir)!);
        return new AlertItem(studyUid, alertId, destinations.ToList(), path);
    }

    /// <summary>The study's alerts waiting in the outbox (delivered or not), by id.</summary>
    public IReadOnlyList<AlertItem> Alerts(string studyUid)
    {
        var dir = Path.Combine(Root, studyUid, "alerts");
        if (!Directory.Exists(dir)) return [];
        return Directory.EnumerateFiles(dir, "*.json").OrderBy(p => p, StringComparer.Ordinal).Select(p =>
        {
            var envelope = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllBytes(p))
                ?? throw new InvalidDataException($"alert file {p} is empty");
            var to = envelope[DestinationsProperty]?.AsArray().Select(n => n?.GetValue<string>()).OfType<string>().ToList() ?? [];
            return new AlertItem(studyUid, Path.GetFileNameWithoutExtension(p), to, p);
        }).ToList();
    }

    public bool IsDelivered(AlertItem alert, string destination) =>
        File.Exists(Path.Combine(MarkerDir(alert.StudyInstanceUid, destination), AlertMarker(alert.AlertId)));

    private static string AlertMarker(string alertId) => "alert-" + alertId;

    /// <summary>Whether a result or an alert in the study's outbox has not reached a destination that should have it.</summary>
    public bool HasUndelivered(string studyUid, IEnumerable<IResultDestination> destinations, IEnumerable<IAlertDestination> alertDestinations)
    {
        var configured = alertDestinations.Select(d => d.Name).ToHashSet(StringComparer.Ordinal);
        if (Alerts(studyUid).Any(a => a.Destinations.Any(d => configured.Contains(d) && !IsDelivered(a, d)))) return true;
        var items = Items(studyUid);
        return destinations.Any(d => items.Any(i => !IsDelivered(i, d.Name)));
    }

    /// <summary>Called with the destination's name after each alert it accepted (metrics).</summary>
    public Action<string>? AlertDelivered { get; set; }

    public IReadOnlyList<string> Studies() =>
        Directory.Exists(Root) ? Directory.GetDirectories(Root).Select(Path.GetFileName).OfType<string>().OrderBy(s => s, StringComparer.Ordinal).ToList() : [];

    /// <summary>A delivered marker that survives a power cut (data and folder synced).</summary>
    private static void WriteMarker(string dir, string name)
    {
        var created = !Directory.Exists(dir);
        Directory.CreateDirectory(dir);
        using (var fs = new FileStream(Path.Combine(dir, name), FileMode.Create, FileAccess.Write, FileShare.None))
        {
            fs.Write(System.Text.Encoding.ASCII.GetBytes(DateTimeOffset.UtcNow.ToString("O")));
            DurableFile.DataSync(fs);
        }
        DurableFile.FsyncDirectory(dir);
        if (created) DurableFile.FsyncDirectory(Path.GetDirectoryName(dir)!);
    }

    private string MarkerDir(string studyUid, string destination) => Path.Combine(Root, studyUid, "delivered", Sanitize(destination));

    private static string Sanitize(string name) => string.Concat(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));

    /// <summary>Whether some destination still lacks some result of the study, from the marker files alone (no result is opened).</summary>
    public bool HasUndelivered(string studyUid, IEnumerable<string> destinations)
    {
        var dir = Path.Combine(Root, studyUid);
        if (!Directory.Exists(dir)) return false;
        var sops = Directory.EnumerateFiles(dir, "*.dcm").Select(Path.GetFileNameWithoutExtension).OfType<string>().ToList();
        return sops.Count > 0 && destinations.Any(d => sops.Any(s => !File.Exists(Path.Combine(MarkerDir(studyUid, d), s))));
    }

    public bool IsDelivered(OutboxItem item, string destination) => File.Exists(Path.Combine(MarkerDir(item.StudyInstanceUid, destination), item.SopInstanceUid));

    /// <summary>Removes results of an earlier analysis of the study (a re-analysis writes new ones) together with their markers.</summary>
    public void Clear(string studyUid)
    {
        var dir = Path.Combine(Root, studyUid);
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    /// <summary>Delivers what each destination still lacks. Returns true when every item reached every destination;
    /// a transient failure of one destination leaves its items pending for the next attempt and is rethrown after the others ran.</summary>
    public Task<bool> DeliverAsync(string studyUid, IEnumerable<IResultDestination> destinations, CancellationToken ct) =>
        DeliverAsync(studyUid, destinations, [], ct);

    /// <summary>
    /// As above, with the study's triage alerts first (they are urgent; SEG and SR can take minutes to a PACS). Each
    /// alert goes to each destination it names that has not accepted it yet; the marker is written after the receiver
    /// accepted it, so a crash between its answer and the marker sends it again, with the same alert id (at least once,
    /// never a new id). A destination an alert names that is not configured (any more) is logged and skipped.
    /// </summary>
    public async Task<bool> DeliverAsync(string studyUid, IEnumerable<IResultDestination> destinations, IEnumerable<IAlertDestination> alertDestinations,
        CancellationToken ct)
    {
        var failures = new List<Exception>();
        var complete = true;
        var receivers = alertDestinations.ToDictionary(d => d.Name, StringComparer.Ordinal);
        foreach (var alert in Alerts(studyUid))
        foreach (var name in alert.Destinations)
        {
            if (!receivers.TryGetValue(name, out var dest))
            {
                _log.LogWarning("Alert {AlertId} of study {StudyInstanceUid} is addressed to {Destination}, which is not configured: not sent", alert.AlertId, studyUid, name);
                continue;
            }
            if (IsDelivered(alert, name)) continue;
            try
            {
                await dest.SendAsync(alert, alert.ReadBody(), ct);
                WriteMarker(MarkerDir(studyUid, name), AlertMarker(alert.AlertId));
                AlertDelivered?.Invoke(name);
                _log.LogInformation("Alert {AlertId} of study {StudyInstanceUid} delivered to {Destination}", alert.AlertId, studyUid, name);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                complete = false;
                failures.Add(e);
                _log.LogWarning("Alert {AlertId} of study {StudyInstanceUid} to {Destination} failed: {Error}", alert.AlertId, studyUid, name, e.Message);
            }
        }

        var items = Items(studyUid);
        foreach (var dest in destinations)
        {
            var pending = items.Where(i => !IsDelivered(i, dest.Name)).ToList();
            if (pending.Count == 0) continue;
            try
            {
                var accepted = await dest.DeliverAsync(pending, ct);
                var markers = MarkerDir(studyUid, dest.Name);
                Directory.CreateDirectory(markers);
                foreach (var sop in accepted) await File.WriteAllTextAsync(Path.Combine(markers, sop), DateTimeOffset.UtcNow.ToString("O"), ct);
                if (accepted.Count < pending.Count) complete = false;
                _log.LogInformation("Delivered {Accepted}/{Pending} results of study {StudyInstanceUid} to {Destination}", accepted.Count, pending.Count, studyUid, dest.Name);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                complete = false;
                failures.Add(e);
                _log.LogWarning("Delivery of study {StudyInstanceUid} to {Destination} failed: {Error}", studyUid, dest.Name, e.Message);
            }
        }
        if (failures.Count > 0) throw new AggregateException($"Delivery of study {studyUid} failed for {failures.Count} destination(s)", failures);
        return complete;
    }
}

/// <summary>A destination that copies results into a folder (the embedded default: results appear on disk even with no PACS configured).</summary>
public sealed class FolderDestination : IResultDestination
{
    private readonly string _folder;

    public FolderDestination(string name, string folder)
    {
        Name = name;
        _folder = Path.GetFullPath(folder);
    }

    public string Name { get; }

    public Task<IReadOnlyCollection<string>> DeliverAsync(IReadOnlyList<OutboxItem> items, CancellationToken ct)
    {
        var done = new List<string>();
        foreach (var item in items)
        {
            var dir = Path.Combine(_folder, item.StudyInstanceUid);
            Directory.CreateDirectory(dir);
            // Copied under another name, then renamed: whoever watches the folder sees a whole file or none (a copy
            // straight to the final name was seen half-written and locked by a reader), and a re-delivery replaces
            // the file at once.
            var target = Path.Combine(dir, item.SopInstanceUid + ".dcm");
            var partial = target + ".partial";
            try
            {
                File.Copy(item.Path, partial, overwrite: true);
                File.Move(partial, target, overwrite: true);
            }
            catch
            {
                // A failed copy (disk full) or rename leaves nothing behind; the outbox tries the item again later.
                // (A crash between the two leaves the .partial until that retry replaces it.)
                try { File.Delete(partial); } catch (IOException) { } catch (UnauthorizedAccessException) { }
                throw;
            }
            done.Add(item.SopInstanceUid);
        }
        return Task.FromResult<IReadOnlyCollection<string>>(done);
    }
}
