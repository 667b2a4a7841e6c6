using Hangfire;
using MedAiNode.Store;
using MedAiNode.Worker.Configuration;
using MedAiNode.Worker.Jobs;
using Microsoft.Extensions.Options;

namespace MedAiNode.Worker.Intake;

/// <summary>Turns studies whose quiet period ended into jobs, and at start re-queues what a previous run left unfinished.</summary>
public sealed class CompletionMonitor : BackgroundService
{
    private readonly StudyStore _store;
    private readonly IBackgroundJobClient _jobs;
    private readonly JobsOptions _options;
    private readonly ILogger<CompletionMonitor> _log;

    public CompletionMonitor(StudyStore store, IBackgroundJobClient jobs, IOptions<JobsOptions> options, ILogger<CompletionMonitor> log)
    {
        _store = store;
        _jobs = jobs;
        _options = options.Value;
        _log = log;
    }

    public void Recover()
    {
        foreach (var study in _store.Unfinished())
        {
            if (study.State == StudyState.Analysed) StudyJobs.EnqueueDelivery(_jobs, study.StudyInstanceUid);
            else
            {
                _store.TryTransition(study.StudyInstanceUid, StudyState.Complete, StudyState.Queued);
                StudyJobs.EnqueueAnalysis(_jobs, study);
            }
            _log.LogInformation("Re-queued unfinished study {StudyInstanceUid} ({State})", study.StudyInstanceUid, study.State);
        }
    }

    public int Poll()
    {
        var completed = _store.TakeCompleted();
        foreach (var study in completed)
        {
            if (!_store.TryTransition(study.StudyInstanceUid, StudyState.Complete, StudyState.Queued)) continue;
            var id = StudyJobs.EnqueueAnalysis(_jobs, study);
            _log.LogInformation("Study {StudyInstanceUid} complete ({Count} instances): job {JobId} on queue {Queue}",
                study.StudyInstanceUid, study.InstanceCount, id, study.Priority);
        }
        return completed.Count;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Recover();
        using var timer = new PeriodicTimer(_options.CompletionPollInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try { Poll(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log.LogError("Store check failed: {Error}", e.Message);
            }
        }
    }
}
