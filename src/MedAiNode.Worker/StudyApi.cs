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
            s.AnalysedSeriesUid, s.Reason, s.Attempts,
            series = s.Series.Values.Select(x => new { x.SeriesInstanceUid, x.Modality, x.InstanceCount }),
        }));
        api.MapPost("/studies/{uid}/rerun", (string uid, StudyStore store, IBackgroundJobClient jobs, StudyLedger ledger,
            Microsoft.Extensions.Options.IOptions<MedAiNode.Worker.Configuration.JobsOptions> options) =>
        {
            var study = store.Get(uid);
            if (study is null) return HttpResults.NotFound(new { error = $"study {uid} is not in the store" });
            if (study.State is StudyState.Receiving or StudyState.Queued or StudyState.Analysing)
                return HttpResults.Conflict(new { error = $"study {uid} is {study.State}" });
            store.TryTransition(uid, study.State, StudyState.Queued, "re-run requested", r => r.AnalysedFingerprint = null);
            ledger.Reset(uid, "re-run requested");
            var id = StudyJobs.EnqueueAnalysis(jobs, study, store.StudyFingerprint(uid), options.Value.EffectiveNodeName);
            return HttpResults.Accepted($"/api/studies/{uid}", new { jobId = id });
        });
    }
}
