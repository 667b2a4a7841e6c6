using Hangfire;
using MedAiNode.Store;
using MedAiNode.Worker.Configuration;
using MedAiNode.Worker.Jobs;
using MedAiNode.Worker.Observability;
using Microsoft.Extensions.Options;

namespace MedAiNode.Worker.Intake;

/// <summary>Turns studies whose quiet period ended into jobs, at start re-queues what a previous run left unfinished,
/// and takes over the outcome when another node sharing the database analysed a study this node received.</summary>
public sealed class CompletionMonitor : BackgroundService
{
    private static readonly TimeSpan ReconcileInterval = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan RetentionInterval = TimeSpan.FromHours(1);
    private readonly StudyStore _store;
    private readonly IBackgroundJobClient _jobs;
    private readonly StudyLedger _ledger;
    private readonly NodeMetrics _metrics;
    private readonly JobsOptions _options;
    private readonly StudyStoreOptions _storeOptions;
    private readonly MedAiNode.Export.Outbox _outbox;
    private readonly List<string> _destinations;
    private readonly ILogger<CompletionMonitor> _log;
    private readonly TimeProvider _time;
    private DateTimeOffset _lastReconcile = DateTimeOffset.MinValue;
    private DateTimeOffset _lastRetention = DateTimeOffset.MinValue;

    public CompletionMonitor(StudyStore store, IBackgroundJobClient jobs, StudyLedger ledger, NodeMetrics metrics, IOptions<JobsOptions> options,
        IOptions<StudyStoreOptions> storeOptions, MedAiNode.Export.Outbox outbox, ILogger<CompletionMonitor> log, TimeProvider? time = null,
        IEnumerable<MedAiNode.Export.IResultDestination>? destinations = null)
    {
        _destinations = destinations?.Select(d => d.Name).ToList() ?? [];
        _time = time ?? TimeProvider.System;
        _store = store;
        _storeOptions = storeOptions.Value;
        _outbox = outbox;
        _jobs = jobs;
        _ledger = ledger;
        _metrics = metrics;
        _options = options.Value;
        _log = log;
    }

    private string Node => _options.EffectiveNodeName;

    /// <summary>Re-queues what a previous run left unfinished (<see cref="StudyLifecycle.IsUnfinished"/>): never a Failed
    /// or Delivered study, nor one still receiving (its quiet period queues it); for a Failed study only the delivery of a
    /// "not analysed" page some destination still lacks. Returns how many were re-queued.</summary>
    public int Recover()
    {
        var count = 0;
        foreach (var study in _store.Unfinished())
        {
            if (study.State == StudyState.Analysed) StudyJobs.EnqueueDelivery(_jobs, study.StudyInstanceUid, Node);
            else
            {
                if (study.State == StudyState.Complete) _store.Transition(study.StudyInstanceUid, StudyState.Queued, "re-queued at start", onlyFrom: [StudyState.Complete]);
                StudyJobs.EnqueueAnalysis(_jobs, study, _store.StudyFingerprint(study.StudyInstanceUid), Node);
            }
            count++;
            _log.LogInformation("Re-queued unfinished study {StudyInstanceUid} ({State})", study.StudyInstanceUid, study.State);
        }
        // A Failed study is never analysed again by itself, but its "not analysed" summary page may still be on its way.
        foreach (var study in _store.List().Where(s => s.State == StudyState.Failed && _outbox.HasUndelivered(s.StudyInstanceUid, _destinations)))
        {
            StudyJobs.EnqueueDelivery(_jobs, study.StudyInstanceUid, Node);
            count++;
            _log.LogInformation("Re-queued the delivery of failed study {StudyInstanceUid}'s summary page", study.StudyInstanceUid);
        }
        return count;
    }

    /// <summary>Complete studies whose move to Queued failed (its index could not be saved): tried again each poll, so
    /// a disk that was full when a quiet period ended does not leave the study stuck until a restart.</summary>
    private readonly HashSet<string> _notQueued = new(StringComparer.Ordinal);

    public int Poll()
    {
        var completed = _store.TakeCompleted().ToList();
        foreach (var uid in _notQueued.ToList())
        {
            _notQueued.Remove(uid);
            if (_store.Get(uid) is { State: StudyState.Complete } again && completed.All(c => c.StudyInstanceUid != uid)) completed.Add(again);
        }
        foreach (var study in completed)
        {
            try
            {
                if (!_store.Transition(study.StudyInstanceUid, StudyState.Queued, onlyFrom: [StudyState.Complete]).Moved) continue;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _notQueued.Add(study.StudyInstanceUid);
                _log.LogWarning("Study {StudyInstanceUid} complete but not yet queued ({Error}); tried again at the next check", study.StudyInstanceUid, e.Message);
                continue;
            }
            _metrics.StageDuration.Record((study.LastArrival - study.FirstArrival).TotalSeconds, new KeyValuePair<string, object?>("stage", "receive"));
            var id = StudyJobs.EnqueueAnalysis(_jobs, study, _store.StudyFingerprint(study.StudyInstanceUid), Node);
            _log.LogInformation("Study {StudyInstanceUid} complete ({Count} instances): job {JobId} on queue {Queue}",
                study.StudyInstanceUid, study.InstanceCount, id, study.Priority);
        }
        return completed.Count;
    }

    /// <summary>Queued studies whose content another node has finished with take that outcome here too.</summary>
    public int Reconcile()
    {
        var adopted = 0;
        foreach (var study in _store.List().Where(s => s.State == StudyState.Queued))
        {
            if (_ledger.Get(study.StudyInstanceUid) is not { IsFinished: true } done) continue;
            if (done.Fingerprint != _store.StudyFingerprint(study.StudyInstanceUid)) continue;
            if (StudyJobs.Adopt(_store, study.StudyInstanceUid, done, Node))
            {
                adopted++;
                _log.LogInformation("Study {StudyInstanceUid} was {State} by node {Holder}", study.StudyInstanceUid, done.State, done.Node);
            }
        }
        return adopted;
    }

    /// <summary>Deletes finished studies older than Store:RetainFinishedFor, with their outbox folders.</summary>
    public int ApplyRetention()
    {
        if (_storeOptions.RetainFinishedFor <= TimeSpan.Zero) return 0;
        // Its results first: a crash in between then leaves a study that the next retention removes, not results of none.
        var removed = _store.RemoveFinished(_storeOptions.RetainFinishedFor, _outbox.Clear);
        if (removed.Count > 0)
            _log.LogInformation("Removed {Count} studies finished more than {Retention} ago (Store:RetainFinishedFor)", removed.Count, _storeOptions.RetainFinishedFor);
        return removed.Count;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Recover();
        // The store's clock: a test with a fake clock decides when quiet periods end and polls happen.
        using var timer = new PeriodicTimer(_options.CompletionPollInterval, _time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                Poll();
                var now = _time.GetUtcNow();
                if (now - _lastReconcile > ReconcileInterval)
                {
                    _lastReconcile = now;
                    Reconcile();
                }
                if (now - _lastRetention > RetentionInterval)
                {
                    _lastRetention = now;
                    ApplyRetention();
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log.LogError("Store check failed: {Error}", e.Message);
            }
        }
    }
}
