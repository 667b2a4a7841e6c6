using MedAiNode.Dicom;
using MedAiNode.Results.Reports;
using MedAiNode.Results.Segmentation;

namespace MedAiNode.Results;

/// <summary>The SEG and SR of one job, as written to disk.</summary>
public sealed record ResultsFiles(string SegPath, string SrPath, SegmentationResult Segmentation, MeasurementReportResult Report, IReadOnlyList<string> Warnings);

/// <summary>
/// One call for the analysis pipeline: builds the SEG and the TID 1500 SR for a job and saves both (each written to a
/// temporary name and moved into place, so a crash never leaves half a file). The job id seeds every UID, so a retried
/// job writes — and resends — the same objects.
/// </summary>
public static class ResultsWriter
{
    public static ResultsFiles Write(SourceSeries source, LabelTable table, LabelMap labels, IReadOnlyList<MeasurementGroup> measurements,
        string jobId, string outputDirectory, SegmentationOptions? segmentation = null, MeasurementReportOptions? report = null)
    {
        if (string.IsNullOrWhiteSpace(jobId)) throw new ArgumentException("A job id is needed: it seeds the UIDs so retries resend the same objects.", nameof(jobId));
        var segOptions = (segmentation ?? new SegmentationOptions()) with { UidSeed = jobId };
        var srOptions = (report ?? new MeasurementReportOptions()) with { UidSeed = jobId };
        var seg = SegmentationWriter.Create(source, table.Segments, labels, table.Algorithm, segOptions);
        var sr = MeasurementReportWriter.Create(source, seg, table.Segments, measurements, table.Algorithm, srOptions);
        Directory.CreateDirectory(outputDirectory);
        // File names carry UIDs only, never patient data.
        var segPath = Path.Combine(outputDirectory, $"SEG_{seg.SopInstanceUid}.dcm");
        var srPath = Path.Combine(outputDirectory, $"SR_{sr.SopInstanceUid}.dcm");
        seg.File.Save(segPath);
        sr.File.Save(srPath);
        return new ResultsFiles(segPath, srPath, seg, sr, seg.Warnings);
    }
}
