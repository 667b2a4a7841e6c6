using MedAiNode.Analysis;
using MedAiNode.Export;
using MedAiNode.Store;
using MedAiNode.Worker.Configuration;
using MedAiNode.Worker.Jobs;
using MedAiNode.Worker.Observability;
using MedAiNode.Dicom.IO;
using MedAiNode.Results.Summary;
using Microsoft.Extensions.Options;

namespace MedAiNode.Worker.Analysis;

/// <summary>The worker's analysis of a stored study: every enabled model whose rules match, results into the outbox.</summary>
public sealed class StudyAnalyzer(StudyStore store, ModelRegistry models, Outbox outbox, IOptions<DicomOptions> dicom,
    NodeMetrics metrics, ILogger<StudyAnalyzer> log, IDicomFrameDecoder frameDecoder, IOptions<SummaryOptions> summary,
    IOptions<MedAiNode.Results.Segmentation.SegmentationOptions> segmentation, IOptions<MedAiNode.Results.Reports.MeasurementReportOptions> report) : IStudyAnalyzer
{
    public Task<AnalysisOutcome> AnalyzeAsync(StudyRecord study, IProgress<double>? progress, CancellationToken ct) =>
        Task.Run(() => Analyze(study, progress, ct), ct);

    private AnalysisOutcome Analyze(StudyRecord study, IProgress<double>? progress, CancellationToken ct)
    {
        if (models.Models.Count == 0)
            throw new InvalidOperationException("no model is ready: " + string.Join("; ", models.Problems)); // transient: an operator can fix it
        var paths = store.InstancePaths(study.StudyInstanceUid).ToList();
        var pipeline = new AnalysisPipeline(models.Sessions, frameDecoder);
        var reasons = new List<string>();
        var results = new List<OutboxItem>();
        var findings = new List<ModelFindings>();
        string? seriesUid = null, fingerprint = null;
        var cleared = false;
        var selectClock = System.Diagnostics.Stopwatch.StartNew();
        var opened = AnalysisPipeline.Open(paths, out _); // headers only are read; pixel data stays in the files
        // This node's own results that a PACS routed back into the study (SEG, SR, summary pages) are no input.
        var files = opened.Where(f => !IsOwnResult(f)).ToList();
        if (files.Count == 0 && opened.Count > 0)
            return new AnalysisOutcome(AnalysisStatus.PermanentFailure, Reason: $"the study holds only results of this node ({opened.Count} instances)");
        var openSeconds = selectClock.Elapsed.TotalSeconds;
        // Why a model did not run on this study: logged for the operator, and the study's reason if none ran.
        void NotRun(string model, string why)
        {
            reasons.Add($"{model}: {why}");
            log.LogInformation("Study {StudyInstanceUid}: model {Model} not run: {Reason}", study.StudyInstanceUid, model, why);
        }
        foreach (var manifest in models.Models)
        {
            // Selection on headers first: if the chosen series is exactly what was analysed before, nothing needs redoing.
            selectClock.Restart();
            var selection = AnalysisPipeline.Select(files, manifest);
            var selectSeconds = openSeconds + selectClock.Elapsed.TotalSeconds;
            if (selection.Chosen is null)
            {
                NotRun(manifest.Id, selection.Explain());
                continue;
            }
            var fp = store.Fingerprint(study.StudyInstanceUid, selection.Chosen.SeriesInstanceUid);
            seriesUid ??= selection.Chosen.SeriesInstanceUid;
            fingerprint ??= fp;
            if (study.AnalysedFingerprint == fp && study.AnalysedSeriesUid == selection.Chosen.SeriesInstanceUid)
                return new AnalysisOutcome(AnalysisStatus.Unchanged, seriesUid, fp);
            try
            {
                var output = pipeline.Run(selection, manifest,
                    new AnalysisOptions { UidSeed = $"{study.StudyInstanceUid}/{fp}/{manifest.Id}/{manifest.ModelSha256}", UidRoot = NullIfEmpty(dicom.Value.UidRoot), Summary = summary.Value,
                        Segmentation = segmentation.Value, Report = report.Value },
                    progress, ct);
                if (!cleared) { outbox.Clear(study.StudyInstanceUid); cleared = true; }
                // SEG and SR, and the summary images; "nothing found" has the summary page alone.
                foreach (var file in new[] { output.Seg, output.Sr }.OfType<DicomFile>().Concat(output.Summary)) results.Add(outbox.Put(file));
                // The measurements as data, for the triage rules (a model that found nothing has none: its rules read 0).
                findings.Add(new ModelFindings(manifest.Id, manifest.Version, manifest.ModelSha256, selection.Chosen.SeriesInstanceUid, fp,
                    output.Measurements, manifest.Labels.ToDictionary(l => l.Value, l => l.Name)));
                // "inference" holds "model" (ONNX Runtime's own run); preprocess, postprocess and measure lie outside it.
                foreach (var (stage, seconds) in (output.Times with { Select = selectSeconds }).All())
                    metrics.StageDuration.Record(seconds, new KeyValuePair<string, object?>("stage", stage));
                log.LogInformation("Study {StudyInstanceUid}: model {Model} on series {SeriesInstanceUid} in {Seconds:F1} s ({Segments} segments, {Measurements} measurements)",
                    study.StudyInstanceUid, manifest.Id, selection.Chosen.SeriesInstanceUid, output.TotalSeconds, output.SegmentCount, output.Measurements.Count);
                // What the pipeline found worth saying: the series chosen and why, files dropped, gaps, tilt (UIDs, never patient data).
                foreach (var note in output.Notes) log.LogInformation("Study {StudyInstanceUid}: {Note}", study.StudyInstanceUid, note);
            }
            catch (AnalysisRejectedException e)
            {
                NotRun(manifest.Id, e.Message);
            }
        }
        if (results.Count == 0)
        {
            var why = string.Join("; ", reasons);
            return new AnalysisOutcome(AnalysisStatus.PermanentFailure, seriesUid, fingerprint, why, NotAnalysedPage(study, files, why));
        }
        return new AnalysisOutcome(AnalysisStatus.Succeeded, seriesUid, fingerprint, reasons.Count > 0 ? string.Join("; ", reasons) : null, results, findings);
    }

    /// <summary>
    /// The "not analysed: why" summary page of a study no model analysed, put in the outbox for delivery (the study still
    /// ends Failed with the reason). None when Results:Summary or its NotAnalysed page is off. Its UIDs derive from the
    /// study's instances (this node's own results left out) and the models, so a retry, or the same study coming back
    /// with our page in it, sends the same page again rather than a new series.
    /// </summary>
    private IReadOnlyList<OutboxItem> NotAnalysedPage(StudyRecord study, IReadOnlyList<DicomFile> files, string why)
    {
        var options = summary.Value;
        if (!options.Enabled || !options.NotAnalysed) return [];
        var content = files.Select(f => f.Dataset.GetString(MedAiNode.Dicom.DicomTags.SOPInstanceUID) ?? "").Order(StringComparer.Ordinal)
            .Concat(models.Models.Select(m => $"{m.Id}/{m.ModelSha256}"));
        var key = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join("\n", content))))[..32];
        var pages = AnalysisPipeline.NotAnalysedSummary(files, models.Models, why,
            new AnalysisOptions { UidSeed = $"{study.StudyInstanceUid}/not-analysed/{key}", UidRoot = NullIfEmpty(dicom.Value.UidRoot), Summary = options,
                Segmentation = segmentation.Value, Report = report.Value });
        if (pages.Count == 0) return [];
        outbox.Clear(study.StudyInstanceUid); // results of earlier content are not this content's
        log.LogInformation("Study {StudyInstanceUid}: not analysed; a summary page saying why goes to the destinations", study.StudyInstanceUid);
        return pages.Select(outbox.Put).ToList();
    }

    /// <summary>An instance this node wrote (SEG, SR or summary page), by its Manufacturer (as configured for each, or the default).</summary>
    private bool IsOwnResult(DicomFile f) => f.Dataset.GetString(MedAiNode.Dicom.DicomTags.Manufacturer)?.Trim() is { } m
        && (m == summary.Value.Equipment.Manufacturer || m == segmentation.Value.Equipment.Manufacturer || m == report.Value.Equipment.Manufacturer
            || m == new MedAiNode.Results.EquipmentOptions().Manufacturer);

    private static string? NullIfEmpty(string s) => string.IsNullOrWhiteSpace(s) ? null : s;
}
