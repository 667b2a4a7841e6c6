using System.Text.Json;
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
    /// <summary>On the first poll, look this many days back.</summary>
    public int InitialLookbackDays { get; set; } = 1;

    public IEnumerable<string> Validate()
    {
        if (PollInterval < TimeSpan.FromSeconds(1)) yield return $"{Section}:{nameof(PollInterval)} must be at least 1 s (was {PollInterval})";
        if (InitialLookbackDays is < 0 or > 36500) yield return $"{Section}:{nameof(InitialLookbackDays)} must be 0..36500";
    }
}

/// <summary>Where a poll got to: the day it searched from and the studies already fetched. Persisted per PACS beside the store.</summary>
internal sealed class PollCursor
{
    public DateOnly Since { get; set; }
    public HashSet<string> Fetched { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>Polls PACS with QIDO-RS for new studies of the configured modalities and fetches them with WADO-RS into the store.</summary>
public sealed class QidoPollingService : BackgroundService
{
    private readonly IntakeOptions _options;
    private readonly IServiceProvider _services;
    private readonly StudyStore _store;
    private readonly StudyFetcher _fetcher;
    private readonly ILogger<QidoPollingService> _log;

    public QidoPollingService(IOptions<IntakeOptions> options, IServiceProvider services, StudyStore store, StudyFetcher fetcher, ILogger<QidoPollingService> log)
    {
        _options = options.Value;
        _services = services;
        _store = store;
        _fetcher = fetcher;
        _log = log;
    }

    private string CursorPath(string pacs) => Path.Combine(_store.Root, $"qido-cursor-{pacs}.json");

    private PollCursor LoadCursor(string pacs)
    {
        var path = CursorPath(pacs);
        if (File.Exists(path))
        {
            try { return JsonSerializer.Deserialize<PollCursor>(File.ReadAllText(path)) ?? new PollCursor(); }
            catch (JsonException e) { _log.LogWarning("Poll cursor of {Pacs} unreadable ({Error}); starting over", pacs, e.Message); }
        }
        return new PollCursor { Since = DateOnly.FromDateTime(DateTime.UtcNow).AddDays(-_options.InitialLookbackDays) };
    }

    private void SaveCursor(string pacs, PollCursor cursor)
    {
        var tmp = CursorPath(pacs) + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(cursor));
        File.Move(tmp, CursorPath(pacs), overwrite: true);
    }

    /// <summary>One poll of one PACS; returns the number of studies fetched.</summary>
    public async Task<int> PollAsync(string pacs, CancellationToken ct)
    {
        var client = _services.GetRequiredService<IDicomWebClientFactory>().Create(pacs);
        var cursor = LoadCursor(pacs);
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var fetched = 0;
        foreach (var modality in _options.Modalities)
        {
            var query = new QidoQuery(QidoLevel.Studies)
                .Match(DicomTags.ModalitiesInStudy, modality)
                .MatchDateRange(DicomTags.StudyDate, cursor.Since, null)
                .Include(DicomTags.StudyInstanceUID).Include(DicomTags.NumberOfStudyRelatedInstances);
            await foreach (var study in client.SearchAsync(query, ct))
            {
                var uid = study.GetString(DicomTags.StudyInstanceUID);
                if (string.IsNullOrEmpty(uid) || cursor.Fetched.Contains(uid)) continue;
                await _fetcher.FetchAsync(pacs, uid, ct);
                cursor.Fetched.Add(uid);
                SaveCursor(pacs, cursor);
                fetched++;
            }
        }
        // Keep a day of overlap: a study dated yesterday can still arrive on the PACS today.
        cursor.Since = today.AddDays(-1);
        SaveCursor(pacs, cursor);
        return fetched;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_options.PollPacs.Count == 0) return;
        using var timer = new PeriodicTimer(_options.PollInterval);
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
