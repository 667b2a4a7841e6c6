using HttpResults = Microsoft.AspNetCore.Http.Results;
using Hangfire;
using MedAiNode.Store;
using MedAiNode.Worker.Jobs;

namespace MedAiNode.Worker;

/// <summary>The small JSON API: list studies with their state, re-run a study.</summary>
internal static class StudyApi
{
    public static void Map(WebApplication app)
    {
        var api = app.MapGroup("/api"); // guarded by HttpAccess like the dashboard
        api.MapGet("/studies", (StudyStore store) => store.List().Select(s => new
        {
            s.StudyInstanceUid, state = s.State.ToString(), s.InstanceCount, s.Priority, s.FirstArrival, s.LastArrival,
            s.AnalysedSeriesUid, s.Reason, s.Attempts, s.InvalidValues,
            // null: not triaged (no rule's model ran); positive with each rule's finding otherwise.
            triage = s.Triage,
            series = s.Series.Values.Select(x => new { x.SeriesInstanceUid, x.Modality, x.InstanceCount }),
        }));
        api.MapPost("/studies/{uid}/rerun", (string uid, StudyStore store, IBackgroundJobClient jobs, StudyLedger ledger,
            Microsoft.Extensions.Options.IOptions<MedAiNode.Worker.Configuration.JobsOptions> options) =>
        {
            var study = store.Get(uid);
            if (study is null) return HttpResults.NotFound(new { error = $"study {uid} is not in the store" });
            // Only a finished study (Analysed, Delivered, Failed) can be re-run; the lifecycle table says so.
            var moved = store.Transition(uid, StudyState.Queued, "re-run requested", r => r.AnalysedFingerprint = null, onlyFrom: [study.State]);
            if (!moved.Moved)
                return HttpResults.Conflict(new { error = $"study {uid} cannot be re-run: {moved.Refusal}" });
            ledger.Reset(uid, "re-run requested");
            var id = StudyJobs.EnqueueAnalysis(jobs, study, store.StudyFingerprint(uid), options.Value.EffectiveNodeName);
            return HttpResults.Accepted($"/api/studies/{uid}", new { jobId = id });
        });
    }
}
