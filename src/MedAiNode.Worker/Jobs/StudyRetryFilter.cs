using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Hangfire.Storage;
using MedAiNode.Worker.Configuration;

namespace MedAiNode.Worker.Jobs;

/// <summary>
/// Automatic retries as Jobs:Retries and Jobs:DeliveryRetries say, in place of Hangfire's fixed default of 10; and
/// when a study's job has used them up (Hangfire elects the Failed state), the study itself ends Failed with the last
/// reason through <see cref="StudyFailures"/>, so a restart does not re-queue it.
/// </summary>
internal sealed class StudyRetryFilter : JobFilterAttribute, IElectStateFilter, IApplyStateFilter
{
    private readonly AutomaticRetryAttribute _analysis;
    private readonly AutomaticRetryAttribute _delivery;
    private readonly StudyFailures? _failures;

    public StudyRetryFilter(JobsOptions options, StudyFailures? failures = null)
    {
        _failures = failures;
        _analysis = new AutomaticRetryAttribute { Attempts = options.Retries, DelaysInSeconds = [10, 30, 60, 120, 300] };
        // A PACS outage can last hours; results wait in the outbox meanwhile, so deliveries keep trying longer.
        _delivery = new AutomaticRetryAttribute { Attempts = options.DeliveryRetries, DelaysInSeconds = [5, 15, 30, 60, 120, 300, 600] };
    }

    private AutomaticRetryAttribute For(Job? job) => job?.Method.Name == nameof(StudyJobs.DeliverAsync) ? _delivery : _analysis;

    public void OnStateElection(ElectStateContext context)
    {
        var job = context.BackgroundJob.Job;
        For(job).OnStateElection(context);
        // Still Failed after the retry filter had its say: no retry is left.
        if (_failures is null || context.CandidateState is not FailedState failed || job?.Type != typeof(StudyJobs)
            || job.Args.FirstOrDefault() is not string studyUid)
            return;
        var stage = job.Method.Name == nameof(StudyJobs.DeliverAsync) ? JobStage.Delivery : JobStage.Analysis;
        _failures.Fail(studyUid, stage, FailureClassifier.Classify(failed.Exception), context.BackgroundJob.Id, retriesExhausted: true);
    }

    public void OnStateApplied(ApplyStateContext context, IWriteOnlyTransaction transaction) => For(context.BackgroundJob.Job).OnStateApplied(context, transaction);
    public void OnStateUnapplied(ApplyStateContext context, IWriteOnlyTransaction transaction) => For(context.BackgroundJob.Job).OnStateUnapplied(context, transaction);
}
