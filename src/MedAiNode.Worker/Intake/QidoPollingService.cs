using System.Globalization;
using MedAiNode.DicomWeb;
using MedAiNode.DicomWeb.Qido;
using MedAiNode.Store;
using Microsoft.Extensions.Options;

namespace MedAiNode.Worker.Intake;

/// <summary>Section "Intake": finding studies on a PACS instead of (or besides) being sent them.</summary>
public sealed class IntakeOptions
{
    public const string Section = "Intake";
    /// <summary>Names of DicomWeb:Pacs entries polled with QIDO-RS for new studies.</summary>
    public List<string> PollPacs { get; set; } = new();
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>Modalities a study must contain to be fetched.</summary>
    public List<string> Modalities { get; set; } = new() { "CT" };
    /// <summary>On the first poll, fetch studies dated this many days back; older ones already on the PACS are recorded as a baseline, not fetched.</summary>
    public int InitialLookbackDays { get; set; } = 1;
    /// <summary>Time zone of the PACS's StudyDate values (IANA or Windows id, e.g. Europe/Berlin); empty: this node's local zone.
    /// "Today" and every date window are the PACS's calendar days, not UTC's.</summary>
    public string PacsTimeZone { get; set; } = "";
    /// <summary>How often a poll widens its window to <see cref="SweepLookbackDays"/> (the other polls look at today and yesterday).</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromHours(1);
    /// <summary>Days a sweep looks back by StudyDate; it finds studies uploaded late with an older date, and studies that
    /// gained instances. 0: a sweep lists every study of the modalities (no date filter; only for a PACS small enough).</summary>
    public int SweepLookbackDays { get; set; } = 7;
    /// <summary>Failed fetches of one study before it is given up (until its instance count on the PACS changes).</summary>
    public int MaxFetchAttempts { get; set; } = 5;

    public IEnumerable<string> Validate()
    {
        if (PollInterval < TimeSpan.FromSeconds(1)) yield return $"{Section}:{nameof(PollInterval)} must be at least 1 s (was {PollInterval})";
        if (InitialLookbackDays is < 0 or > 36500) yield return $"{Section}:{nameof(InitialLookbackDays)} must be 0..36500";
        if (SweepInterval < PollInterval) yield return $"{Section}:{nameof(SweepInterval)} ({SweepInterval}) must be at least {nameof(PollInterval)} ({PollInterval})";
        if (SweepLookbackDays is < 0 or > 36500) yield return $"{Section}:{nameof(SweepLookbackDays)} must be 0 (no date filter) or 1..36500";
        if (MaxFetchAttempts is < 1 or > 1000) yield return $"{Section}:{nameof(MaxFetchAttempts)} must be 1..1000";
        if (PacsTimeZone.Length > 0 && !TryZone(PacsTimeZone, out _))
            yield return $"{Section}:{nameof(PacsTimeZone)} '{PacsTimeZone}' is not a known time zone id (e.g. Europe/Berlin)";
    }

    public TimeZoneInfo Zone => PacsTimeZone.Length == 0 ? TimeZoneInfo.Local : TryZone(PacsTimeZone, out var z) ? z! : TimeZoneInfo.Local;

    private static bool TryZone(string id, out TimeZoneInfo? zone)
    {
        try { zone = TimeZoneInfo.FindSystemTimeZoneById(id); return true; }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException) { zone = null; return false; }
    }
}

/// <summary>What one poll of one PACS did.</summary>
public sealed record PollResult(bool Sweep, int Listed, int Fetched, int Failed, int Skipped, int Pruned);

/// <summary>
/// Polls PACS with QIDO-RS for studies of the configured modalities and fetches them with WADO-RS into the store.
/// QIDO-RS has no "arrived since" key (Orthanc, like most PACS, cannot be asked by arrival), so arrivals are found by
/// difference: each study seen is kept in a <see cref="PollLedger"/> with the PACS's instance count, and a study is
/// fetched when it is not in the ledger (new to us, whatever its date) or its count grew (new series). Ordinary polls
/// look at StudyDate today and yesterday in the PACS's time zone; every SweepInterval a sweep looks SweepLookbackDays
/// back (or at every study, with 0). Limits, said in conformance/dicomweb.md: a study uploaded with a StudyDate older
/// than the sweep window, or with none, is not found (push it, or set SweepLookbackDays=0 on a small PACS); an
/// instance replaced on the PACS without changing the count is not seen.
/// </summary>
public sealed class QidoPollingService : BackgroundService
{
    private readonly IntakeOptions _options;
    private readonly IServiceProvider _services;
    private readonly StudyStore _store;
    private readonly StudyFetcher _fetcher;
    private readonly ILogger<QidoPollingService> _log;
    private readonly TimeProvider _time;

    public QidoPollingService(IOptions<IntakeOptions> options, IServiceProvider services, StudyStore store, StudyFetcher fetcher, ILogger<QidoPollingService> log,
        TimeProvider? time = null)
    {
        _options = options.Value;
        _services = services;
        _store = store;
        _fetcher = fetcher;
        _log = log;
        _time = time ?? TimeProvider.System;
    }

    public string LedgerPath(string pacs) => Path.Combine(_store.Root, $"qido-{pacs}.jsonl");

    /// <summary>Today on the PACS's calendar (its StudyDate values are local dates, with no zone).</summary>
    public DateOnly PacsToday() => DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(_time.GetUtcNow(), _options.Zone).DateTime);

    /// <summary>One poll of one PACS. Bad results and failed fetches are reported and skipped; the others go on.</summary>
    public async Task<PollResult> PollAsync(string pacs, CancellationToken ct)
    {
        var client = _services.GetRequiredService<IDicomWebClientFactory>().Create(pacs);
        var ledger = PollLedger.Load(LedgerPath(pacs), Path.Combine(_store.Root, $"qido-cursor-{pacs}.json"), w => _log.LogWarning("{Pacs}: {Warning}", pacs, w));
        var now = _time.GetUtcNow();
        var today = PacsToday();
        var first = ledger.IsNew;
        var sweep = first || ledger.LastSweep is not { } last || now - last >= _options.SweepInterval;
        DateOnly? from = sweep ? (_options.SweepLookbackDays == 0 ? null : today.AddDays(-_options.SweepLookbackDays)) : today.AddDays(-1);
        if (first && _options.SweepLookbackDays > 0 && from > today.AddDays(-_options.InitialLookbackDays)) from = today.AddDays(-_options.InitialLookbackDays);
        // On the first poll, a study dated before this is already there: recorded, not fetched.
        var baselineBefore = today.AddDays(-_options.InitialLookbackDays);
        int listed = 0, fetched = 0, failed = 0, unavailableInARow = 0;
        var skipped = new List<QidoSkipped>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var modality in _options.Modalities)
        {
            var query = new QidoQuery(QidoLevel.Studies)
                .Match(DicomTags.ModalitiesInStudy, modality)
                .Include(DicomTags.StudyInstanceUID).Include(DicomTags.StudyDate).Include(DicomTags.NumberOfStudyRelatedInstances);
            if (from is not null) query.MatchDateRange(DicomTags.StudyDate, from, null);
            // The listing is taken whole before fetching, so a long fetch does not hold a QIDO response open.
            var studies = new List<(string Uid, string Date, int? Count)>();
            await foreach (var ds in client.SearchAsync(query, skipped.Add, ct))
            {
                var uid = ds.GetString(DicomTags.StudyInstanceUID)!; // the client skips results without a valid one
                if (!seen.Add(uid)) continue;
                var count = int.TryParse(ds.GetString(DicomTags.NumberOfStudyRelatedInstances), NumberStyles.None, CultureInfo.InvariantCulture, out var c) ? c : (int?)null;
                studies.Add((uid, ds.GetString(DicomTags.StudyDate) ?? "", count));
            }
            listed += studies.Count;
            foreach (var (uid, date, count) in studies)
            {
                var entry = ledger.Get(uid);
                if (entry is null && first && DateOnly.TryParseExact(date, "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d) && d < baselineBefore)
                {
                    ledger.Put(new PolledStudy { Uid = uid, Date = date, Count = count, Baseline = true, Done = true, Seen = now });
                    continue;
                }
                if (entry is { Done: true, Count: null } && count is not null)
                {
                    // Fetched when no count was known (a former cursor's entry): its count now is the one to compare with.
                    entry.Count = count;
                    entry.Date = date;
                    ledger.Put(entry);
                    continue;
                }
                if (entry is not null && !NeedsFetch(entry, count))
                {
                    entry.Seen = now; // in memory: used only to prune undated entries, a lost update costs nothing
                    continue;
                }
                entry ??= new PolledStudy { Uid = uid };
                entry.Date = date;
                entry.Seen = now;
                if (entry.GaveUp && entry.Count != count) { entry.GaveUp = false; entry.Attempts = 0; }
                try
                {
                    var lastTry = entry.Attempts + 1 >= _options.MaxFetchAttempts;
                    if (entry is { Done: true, Series: not null })
                    {
                        // Fetched before and grown: only the series of the polled modalities that are new or grew.
                        var grown = await GrownSeriesAsync(client, entry, ct);
                        foreach (var (series, expected) in grown)
                        {
                            var o = await _fetcher.FetchAsync(pacs, uid, series, expected, fileIncomplete: lastTry, ct);
                            entry.Series[series] = o.BySeries.GetValueOrDefault(series, o.Received);
                        }
                        if (grown.Count > 0) fetched++;
                        _log.LogInformation("QIDO poll of {Pacs}: study {StudyInstanceUid} grew to {Count} instances; {Series} series of {Modalities} fetched",
                            pacs, uid, count, grown.Count, string.Join("/", _options.Modalities));
                    }
                    else
                    {
                        var outcome = await _fetcher.FetchAsync(pacs, uid, count, fileIncomplete: lastTry, ct);
                        entry.Received = outcome.Received;
                        entry.Series = new Dictionary<string, int>(outcome.BySeries, StringComparer.Ordinal);
                        fetched++;
                    }
                    entry.Count = count ?? entry.Received;
                    entry.Done = true;
                    entry.Baseline = false;
                    entry.Attempts = 0;
                    entry.GaveUp = false;
                    unavailableInARow = 0;
                    ledger.Put(entry);
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    failed++;
                    entry.Done = false; // the next try fetches the whole study
                    entry.Series = null;
                    entry.Attempts++;
                    entry.Count = count;
                    if (entry.Attempts >= _options.MaxFetchAttempts) entry.GaveUp = true;
                    ledger.Put(entry);
                    if (entry.GaveUp)
                        _log.LogError("QIDO poll of {Pacs}: study {StudyInstanceUid} given up after {Attempts} failed fetches ({Error}); tried again if its instance count changes",
                            pacs, uid, entry.Attempts, e.Message);
                    else
                        _log.LogWarning("QIDO poll of {Pacs}: fetch of study {StudyInstanceUid} failed ({Error}); attempt {Attempt} of {Max}, the other studies go on",
                            pacs, uid, e.Message, entry.Attempts, _options.MaxFetchAttempts);
                    // Two studies in a row that cannot be reached: the PACS is down, stop this poll (the next one retries).
                    if (e is DicomWebException { IsUnavailable: true } && ++unavailableInARow >= 2) throw;
                    if (e is not DicomWebException { IsUnavailable: true }) unavailableInARow = 0;
                }
            }
        }
        var pruned = 0;
        if (sweep)
        {
            // An entry leaves the ledger once no query window can list it again: dated before the sweep window, or, for
            // undated entries and with no date filter, not listed by a whole sweep.
            var windowStart = today.AddDays(-Math.Max(_options.SweepLookbackDays, 1) - 1);
            var complete = skipped.Count == 0;
            pruned = ledger.Prune(s =>
                _options.SweepLookbackDays > 0 && DateOnly.TryParseExact(s.Date, "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d)
                    ? d < windowStart
                    : complete && !seen.Contains(s.Uid) && s.Seen < now - _options.SweepInterval);
            ledger.MarkSweep(now);
        }
        var result = new PollResult(sweep, listed, fetched, failed, skipped.Count, pruned);
        if (fetched + failed + skipped.Count > 0 || sweep)
            _log.LogInformation("QIDO poll of {Pacs}{Sweep}: {Listed} listed, {Fetched} fetched, {Failed} failed, {Skipped} skipped, {Pruned} pruned, {Known} known",
                pacs, sweep ? " (sweep)" : "", listed, fetched, failed, skipped.Count, pruned, ledger.Count);
        return result;
    }

    /// <summary>The series of a grown study worth fetching: of a polled modality (not, say, our own SEG and SR sent back
    /// to the PACS), and new or with more instances on the PACS than were fetched; with the PACS's count for each.</summary>
    private async Task<List<(string Series, int? Expected)>> GrownSeriesAsync(DicomWebClient client, PolledStudy entry, CancellationToken ct)
    {
        var query = new QidoQuery(QidoLevel.Series) { StudyInstanceUid = entry.Uid }
            .Include(DicomTags.SeriesInstanceUID).Include(DicomTags.Modality).Include(DicomTags.NumberOfSeriesRelatedInstances);
        var grown = new List<(string, int?)>();
        await foreach (var ds in client.SearchAsync(query, ct))
        {
            var series = ds.GetString(DicomTags.SeriesInstanceUID)!;
            if (!_options.Modalities.Contains(ds.GetString(DicomTags.Modality) ?? "", StringComparer.OrdinalIgnoreCase)) continue;
            var n = int.TryParse(ds.GetString(DicomTags.NumberOfSeriesRelatedInstances), NumberStyles.None, CultureInfo.InvariantCulture, out var c) ? c : (int?)null;
            var had = entry.Series!.GetValueOrDefault(series, -1);
            if (had < 0 || n is { } m && m > had) grown.Add((series, n));
        }
        return grown;
    }

    /// <summary>Fetch when never fetched whole, when the PACS now has more instances than were fetched, and retry a failed
    /// one until it is given up (a given-up study comes back when its count changes).</summary>
    private static bool NeedsFetch(PolledStudy e, int? count)
    {
        if (e.GaveUp) return e.Count != count;
        if (!e.Done) return true;
        return count is { } c && e.Count is { } known && c > known;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_options.PollPacs.Count == 0) return;
        using var timer = new PeriodicTimer(_options.PollInterval, _time);
        do
        {
            foreach (var pacs in _options.PollPacs)
            {
                try { await PollAsync(pacs, stoppingToken); }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    _log.LogWarning("QIDO poll of {Pacs} failed: {Error}", pacs, e.Message);
                }
            }
        } while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
