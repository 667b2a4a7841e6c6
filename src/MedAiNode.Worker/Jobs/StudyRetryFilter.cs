using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Hangfire.Storage;
using MedAiNode.Worker.Configuration;

namespace MedAiNode.Worker.Jobs;

/// <summary>Automatic retries as Jobs:Retries and Jobs:DeliveryRetries say, in place of Hangfire's fixed default of 10.</summary>
internal sealed class StudyRetryFilter : JobFilterAttribute, IElectStateFilter, IApplyStateFilter
{
    private readonly AutomaticRetryAttribute _analysis;
    private readonly AutomaticRetryAttribute _delivery;

    public StudyRetryFilter(JobsOptions options)
    {
        _analysis = new AutomaticRetryAttribute { Attempts = options.Retries, DelaysInSeconds = [10, 30, 60, 120, 300] };
        // A PACS outage can last hours; results wait in the outbox meanwhile, so deliveries keep trying longer.
        _delivery = new AutomaticRetryAttribute { Attempts = options.DeliveryRetries, DelaysInSeconds = [5, 15, 30, 60, 120, 300, 600] };
    }

    private AutomaticRetryAttribute For(Job? job) => job?.Method.Name == nameof(StudyJobs.DeliverAsync) ? _delivery : _analysis;

    public void OnStateElection(ElectStateContext context) => For(context.BackgroundJob.Job).OnStateElection(context);
    public void OnStateApplied(ApplyStateContext context, IWriteOnlyTransaction transaction) => For(context.BackgroundJob.Job).OnStateApplied(context, transaction);
    public void OnStateUnapplied(ApplyStateContext context, IWriteOnlyTransaction transaction) => For(context.BackgroundJob.Job).OnStateUnapplied(context, transaction);
}
