using MedAiNode.Imaging.Series;
using MedAiNode.Inference.Manifests;
using MedAiNode.Results;
// Moves to MedAiNode.Analysis with the analysis pipeline; the type name stays.
using MedAiNode.Analysis;

namespace MedAiNode.Worker.Jobs;

public enum FailureKind
{
    /// <summary>May succeed later (I/O, network, timeouts, cancellation, memory, no model ready): Hangfire retries it.</summary>
    Transient,
    /// <summary>The input can never succeed: the study ends Failed on the first attempt, without a retry.</summary>
    Permanent,
}

/// <summary>How a job's exception is treated, the reason a person reads, and a short category for metrics.</summary>
public sealed record FailureVerdict(FailureKind Kind, string Reason, string Category)
{
    public bool IsPermanent => Kind == FailureKind.Permanent;
}

/// <summary>
/// The one place that decides whether a failure of a study's job is permanent or transient. Permanent: the input
/// itself is unusable (rejected by the analysis, unreadable DICOM, a series that cannot form a volume, an input the
/// SEG/SR writers cannot take, a manifest that cannot describe it, an unsupported transfer syntax or pixel format,
/// malformed data), or a webhook that refused an alert (4xx). Everything else is transient, and becomes Failed only when its retries run out.
/// </summary>
public static class FailureClassifier
{
    public static FailureVerdict Classify(Exception e)
    {
        if (e is AggregateException { InnerExceptions.Count: > 0 } all)
        {
            // Several destinations or steps failed: permanent only if none of them could succeed on a retry.
            var inner = all.InnerExceptions.Select(Classify).ToList();
            var kind = inner.All(v => v.IsPermanent) ? FailureKind.Permanent : FailureKind.Transient;
            return new FailureVerdict(kind, string.Join("; ", inner.Select(v => v.Reason)), inner[0].Category);
        }
        var kindOf = IsPermanent(e) ? FailureKind.Permanent : FailureKind.Transient;
        return new FailureVerdict(kindOf, Describe(e), e.GetType().Name);
    }

    private static bool IsPermanent(Exception e) => e switch
    {
        AnalysisRejectedException or ResultsInputException or VolumeAssemblyException or ManifestException or DicomFormatException => true,
        // A webhook answered 4xx (or a redirect): sending the same alert again gets the same answer.
        MedAiNode.Export.AlertRejectedException => true,
        NotSupportedException or InvalidDataException or FormatException => true,
        // A wrapper (TargetInvocationException, TypeInitializationException...) is judged by what it wraps.
        { InnerException: { } inner } when e is System.Reflection.TargetInvocationException or TypeInitializationException => IsPermanent(inner),
        _ => false, // IOException, HttpRequestException, TimeoutException, OperationCanceledException, OnnxRuntimeException, "no model is ready", unknown
    };

    private static string Describe(Exception e) => e switch
    {
        AnalysisRejectedException => e.Message,
        _ => $"{e.GetType().Name}: {e.Message}",
    };
}
