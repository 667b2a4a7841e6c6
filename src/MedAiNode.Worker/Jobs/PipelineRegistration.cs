using MedAiNode.DicomWeb;
using MedAiNode.DicomWeb.Configuration;
using MedAiNode.Export;
using MedAiNode.Worker.Configuration;
using MedAiNode.Worker.Intake;

namespace MedAiNode.Worker.Jobs;

/// <summary>Section "Export": which configured PACS receive results.</summary>
public sealed class ExportOptions
{
    public const string Section = "Export";
    /// <summary>Names of DicomWeb:Pacs entries that receive results with STOW-RS.</summary>
    public List<string> StowTo { get; set; } = new();
    /// <summary>PACS that receive results with C-STORE, by name.</summary>
    public Dictionary<string, CStoreDestinationOptions> CStore { get; set; } = new();
}

/// <summary>Registers the analysis pipeline (selection, inference, SEG/SR/summary), the PACS, intake by polling, the destinations,
/// and triage with its webhooks.</summary>
internal static class PipelineRegistration
{
    public static void Add(IServiceCollection services, IConfiguration config)
    {
        // Frames are decoded through one codec registry (RLE, JPEG, JPEG-LS, JPEG 2000); volume assembly and transcoding take it from here.
        services.AddSingleton(_ => MedAiNode.Dicom.Codecs.DicomCodecRegistry.CreateDefault());
        services.AddSingleton<MedAiNode.Dicom.IDicomFrameDecoder>(sp => sp.GetRequiredService<MedAiNode.Dicom.Codecs.DicomCodecRegistry>());
        services.AddValidatedOptions<MedAiNode.Inference.Runtime.InferenceOptions>(config, "Inference", o =>
        {
            try { o.Validate(); return []; }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or MedAiNode.Inference.Manifests.ManifestException) { return [e.Message]; }
        });
        var models = services.AddValidatedOptions<MedAiNode.Worker.Analysis.ModelsOptions>(config, MedAiNode.Worker.Analysis.ModelsOptions.Section, o => o.Validate());
        services.AddSingleton(sp => new MedAiNode.Inference.Runtime.ModelSessionCache(
            sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<MedAiNode.Inference.Runtime.InferenceOptions>>().Value,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("MedAiNode.Inference")));
        // The AI summary series (on by default): a bad window, count or font is reported at start with its key.
        services.AddValidatedOptions<MedAiNode.Results.Summary.SummaryOptions>(config, MedAiNode.Results.Summary.SummaryOptions.Section, o =>
        {
            try { o.Validate(); return []; }
            catch (ArgumentException e) { return [e.Message]; }
        });
        // The SEG's and SR's series and equipment (a hanging protocol may want its own series numbers; a viewer that lists
        // both the SR's key-slice lengths and its own may want those off): checked at start, named by key.
        services.AddValidatedOptions<MedAiNode.Results.Segmentation.SegmentationOptions>(config, MedAiNode.Results.Segmentation.SegmentationOptions.Section, o =>
        {
            try { o.Validate(); return []; }
            catch (ArgumentException e) { return [e.Message]; }
        });
        services.AddValidatedOptions<MedAiNode.Results.Reports.MeasurementReportOptions>(config, MedAiNode.Results.Reports.MeasurementReportOptions.Section, o =>
        {
            try { o.Validate(); return []; }
            catch (ArgumentException e) { return [e.Message]; }
        });
        services.AddSingleton<MedAiNode.Worker.Analysis.ModelRegistry>();
        services.AddSingleton<IStudyAnalyzer, MedAiNode.Worker.Analysis.StudyAnalyzer>();

        var pacs = config.GetSection(DicomWebPacsOptions.SectionName).Get<List<DicomWebPacsOptions>>() ?? [];
        if (pacs.Count > 0) services.AddDicomWeb(pacs);
        services.AddValidatedOptions<IntakeOptions>(config, IntakeOptions.Section, o => o.Validate().Concat(UnknownPacs(o.PollPacs, pacs, "Intake:PollPacs")));
        var export = services.AddValidatedOptions<ExportOptions>(config, ExportOptions.Section, o => UnknownPacs(o.StowTo, pacs, "Export:StowTo"));
        services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<JobsOptions>>(new SectionValidator<JobsOptions>(o =>
            string.IsNullOrWhiteSpace(o.FetchFrom) ? [] : UnknownPacs([o.FetchFrom], pacs, "Jobs:FetchFrom")));
        services.AddSingleton<QidoPollingService>();
        services.AddHostedService(sp => sp.GetRequiredService<QidoPollingService>());

        foreach (var name in export.StowTo)
            services.AddSingleton<IResultDestination>(sp => new StowDestination("stow:" + name, sp.GetRequiredService<IDicomWebClientFactory>().Create(name)));
        foreach (var (name, o) in export.CStore)
            services.AddSingleton<IResultDestination>(new CStoreDestination("cstore:" + name, o));

        // Triage: rules checked against the enabled models' manifests at start; each webhook an alert destination with
        // its own resilient HttpClient.
        var triage = services.AddValidatedOptions<MedAiNode.Worker.Triage.TriageOptions>(config, MedAiNode.Worker.Triage.TriageOptions.Section, o => o.Validate(models));
        services.AddSingleton<MedAiNode.Worker.Triage.TriageService>();
        foreach (var (name, o) in triage.Webhooks)
            services.AddSingleton<IAlertDestination>(sp => new WebhookDestination(name, o, sp.GetRequiredService<ILoggerFactory>().CreateLogger("MedAiNode.Webhook." + name)));
    }

    private static IEnumerable<string> UnknownPacs(IEnumerable<string> names, List<DicomWebPacsOptions> pacs, string key) =>
        names.Where(n => !pacs.Any(p => string.Equals(p.Name, n, StringComparison.OrdinalIgnoreCase)))
             .Select(n => $"{key}: '{n}' is not the Name of any {DicomWebPacsOptions.SectionName} entry");
}
