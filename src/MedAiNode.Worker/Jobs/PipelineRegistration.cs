namespace MedAiNode.Worker.Jobs;

/// <summary>Registers the analysis pipeline (selection, inference, SEG/SR) and the PACS destinations.</summary>
internal static class PipelineRegistration
{
    public static void Add(IServiceCollection services, IConfiguration config)
    {
        services.AddSingleton<IStudyAnalyzer, UnavailableAnalyzer>();
    }

    /// <summary>Placeholder until the inference and results layers are wired: fails studies with a clear reason.</summary>
    private sealed class UnavailableAnalyzer : IStudyAnalyzer
    {
        public Task<AnalysisOutcome> AnalyzeAsync(MedAiNode.Store.StudyRecord study, IProgress<double>? progress, CancellationToken ct) =>
            Task.FromResult(new AnalysisOutcome(AnalysisStatus.PermanentFailure, Reason: "no analysis pipeline is configured in this build"));
    }
}
