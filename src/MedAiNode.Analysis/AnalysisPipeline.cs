using System.Numerics;
using System.Diagnostics;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Imaging.Morphology;
using MedAiNode.Imaging.Series;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;
using MedAiNode.Inference.SlidingWindow;
using MedAiNode.Results;
using MedAiNode.Results.Reports;
using MedAiNode.Results.Segmentation;
using MedAiNode.Results.Summary;

namespace MedAiNode.Analysis;

public sealed record AnalysisOptions
{
    /// <summary>Same seed, same SOP Instance UIDs: a retried job re-sends identical objects.</summary>
    public string? UidSeed { get; init; }
    public string? UidRoot { get; init; }
    public VolumeAssemblyOptions? Assembly { get; init; }
    /// <summary>The "AI summary" Secondary Capture series (on by default); its UIDs follow <see cref="UidSeed"/> and <see cref="UidRoot"/>.</summary>
    public SummaryOptions Summary { get; init; } = new();
    /// <summary>The DICOM SEG's series, labels and equipment (Results:Segmentation); its UIDs follow <see cref="UidSeed"/> and <see cref="UidRoot"/>.</summary>
    public SegmentationOptions Segmentation { get; init; } = new();
    /// <summary>The TID 1500 SR's series, flags and equipment (Results:Report); its UIDs follow <see cref="UidSeed"/> and <see cref="UidRoot"/>.</summary>
    public MeasurementReportOptions Report { get; init; } = new();

    internal SummaryOptions SummaryFor() => Summary with { UidSeed = UidSeed is null ? null : UidSeed + "/summary", UidRoot = UidRoot };
    internal SegmentationOptions SegmentationFor() => Segmentation with { UidSeed = UidSeed is null ? null : UidSeed + "/seg", UidRoot = UidRoot };
    internal MeasurementReportOptions ReportFor() => Report with { UidSeed = UidSeed is null ? null : UidSeed + "/sr", UidRoot = UidRoot };
}

/// <summary>
/// The one analysis pipeline, used by `medainode analyze` and by the service's jobs alike:
/// select (the model's series rules) -> assemble (volume and geometry) -> preprocess -> model -> postprocess ->
/// measure -> results (DICOM SEG and a TID 1500 SR written from exactly those labels and measurements).
/// </summary>
/// <remarks>Compressed series decode through <paramref name="frameDecoder"/> (the host's codec registry); without one, only
/// native transfer syntaxes are read and a compressed series is refused with the transfer syntax named.</remarks>
public sealed class AnalysisPipeline(ModelSessionCache sessions, IDicomFrameDecoder? frameDecoder = null)
{
    public const string DefaultCtModel = "ct-lung-quant";

    /// <summary>Test seams: the volume as soon as it is assembled, the moment the network starts, and the moment the results stage begins.</summary>
    internal Action<AssembledVolume>? Assembled { get; init; }
    internal Action? NetworkStarts { get; init; }
    internal Action? ResultsBegin { get; init; }

    /// <summary>Opens every readable file (headers only; pixel data stays in the file until used); the rest are counted, not fatal.</summary>
    public static List<DicomFile> Open(IEnumerable<string> paths, out int unreadable)
    {
        var files = new List<DicomFile>();
        unreadable = 0;
        foreach (var path in paths)
        {
            try { files.Add(DicomFile.Open(path)); }
            catch (Exception e) when (e is DicomFormatException or IOException or InvalidDataException or EndOfStreamException) { unreadable++; }
        }
        return files;
    }

    /// <summary>The series the model's rules choose, and why each other series was not.</summary>
    public static SeriesSelectionResult Select(IEnumerable<DicomFile> files, ModelManifest manifest) =>
        SeriesSelector.Select(files, manifest.SeriesSelection ?? new SeriesSelectionRules { Modalities = manifest.Modalities });

    /// <summary>The model for an input: the one named, else the one for its modality (CT: <see cref="DefaultCtModel"/>).</summary>
    public static ModelManifest ChooseModel(IReadOnlyList<ModelManifest> models, string? id, string? modality)
    {
        var known = string.Join(", ", models.Select(m => m.Id));
        if (id is not null)
            return models.FirstOrDefault(m => string.Equals(m.Id, id, StringComparison.OrdinalIgnoreCase))
                ?? throw new ArgumentException($"Unknown model '{id}'. Known models: {known}.");
        if (modality is not null && !string.Equals(modality, "CT", StringComparison.OrdinalIgnoreCase))
            return models.FirstOrDefault(m => m.Modalities.Contains(modality, StringComparer.OrdinalIgnoreCase))
                ?? throw new ArgumentException($"No model for modality {modality}; pass --model. Known models: {known}.");
        return models.FirstOrDefault(m => m.Id == DefaultCtModel)
            ?? throw new ArgumentException($"Default model {DefaultCtModel} not found; pass --model. Known models: {known}.");
    }

    /// <summary>A folder's (or list's) files: open, select, then <see cref="Run(SeriesSelectionResult, ModelManifest, AnalysisOptions, IProgress{double}?, CancellationToken)"/>.</summary>
    public AnalysisResult Run(IEnumerable<string> paths, ModelManifest manifest, AnalysisOptions options, IProgress<double>? progress = null, CancellationToken ct = default) =>
        Run(Open(paths, out var unreadable), unreadable, manifest, options, progress, ct); // not DICOM, or damaged: selection only sees what can be read

    /// <summary>Files the caller opened already (it may need a header, such as the modality, to choose the model).</summary>
    public AnalysisResult Run(IReadOnlyList<DicomFile> files, int unreadable, ModelManifest manifest, AnalysisOptions options,
        IProgress<double>? progress = null, CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        if (files.Count == 0) throw new AnalysisRejectedException("no readable DICOM instances");
        var selection = Select(files, manifest);
        var select = clock.Elapsed.TotalSeconds;
        var result = Run(selection, manifest, options, progress, ct);
        return result with
        {
            Notes = unreadable > 0 ? [$"{unreadable} files are not DICOM or are damaged; skipped", .. result.Notes] : result.Notes,
            Times = result.Times with { Select = select },
        };
    }

    /// <summary>Runs on a selection already made (the service selects first, to see whether the chosen series changed).</summary>
    public AnalysisResult Run(SeriesSelectionResult selection, ModelManifest manifest, AnalysisOptions options, IProgress<double>? progress = null, CancellationToken ct = default)
    {
        var notes = new List<string> { selection.Explain() };
        if (selection.Chosen is not { } chosen) throw new AnalysisRejectedException(selection.Explain());

        var clock = Stopwatch.StartNew();
        AssembledVolume assembled;
        try { assembled = VolumeAssembler.Assemble(chosen.Files, options.Assembly, frameDecoder); }
        catch (VolumeAssemblyException e) { throw new AnalysisRejectedException("series cannot form a volume: " + e.Message); }
        Assembled?.Invoke(assembled);
        notes.AddRange(assembled.Notes);
        notes.Add(ContentRule(manifest, chosen, assembled));
        var assemble = clock.Elapsed.TotalSeconds;
        var voxels = assembled.Dims.Count;
        StageMemory.Release(voxels); // the decoded frames

        // The results read the labels and the received frames, never the volume's values: without this the volume (150
        // MiB of int16 for 300 slices of 512x512) stayed alive through the SEG and the summary. Every reference is handed
        // to the model stages (a method run once per analysis keeps its locals alive until it returns), then the volume
        // and the measuring's garbage (~190 MiB for those 300 slices) are collected before the SEG allocates.
        var (frames, files, resampled) = (assembled.Frames, assembled.Files, assembled.Resampled);
        var result = RunModel(ref assembled, manifest, progress, ct);
        notes.AddRange(result.Notes);
        StageMemory.Release(voxels);
        ResultsBegin?.Invoke();

        clock.Restart();
        // The images that made the volume (localizers, other orientations and repeated instances dropped) are the SEG's source.
        var source = SourceSeries.Create(files.Select(SourceImage.FromFile));
        var present = result.PresentLabels.ToHashSet();
        var segments = manifest.Labels.Where(l => present.Contains(l.Value)).Select(Describe).ToList();
        var algorithm = Algorithm(manifest);
        if (segments.Count == 0)
            return NothingFound(result, $"model {manifest.Id} found none of its labels in series {chosen.SeriesInstanceUid}");
        // A manifest may report only some of a graph's output classes (ct-body uses the body channel of ct-lung-quant).
        var labelMap = LabelProjection.OntoSourceSlices(result.Labels, source, segments.Select(s => (byte)s.Number).ToHashSet());
        if (resampled)
        {
            // The grid holds interpolated slices the SEG does not have: the SR measures the SEG's voxels instead.
            result = SourceSliceMeasuring.Remeasure(result, labelMap, source, frames, frameDecoder);
            present = result.PresentLabels.ToHashSet();
            segments = segments.Where(s => present.Contains(s.Number)).ToList();
            if (segments.Count == 0)
                return NothingFound(result, $"model {manifest.Id} found none of its labels on the received slices of series {chosen.SeriesInstanceUid}");
            notes.Add("Volumes, means and percentages measured on the received slices as the SEG shows them (each slice counts half-way to its neighbours), not on the regridded volume.");
        }
        var seg = SegmentationWriter.Create(source, segments, labelMap, algorithm,
            options.SegmentationFor());
        notes.AddRange(seg.Warnings);
        // Each segment's and lesion's long axis on its key slice, on the slices as the SEG shows them (a 2D line on a
        // source image, which OHIF's measurement panel lists; the 3D axis stays under each group's Long axis NUM).
        var groups = KeySliceAxes.Add(Groups(result), labelMap, source, result.Lesions.Where(l => present.Contains(l.Label)).ToList());
        var report = MeasurementReportWriter.Create(source, seg, segments, groups, algorithm,
            options.ReportFor());
        // The same segments, colours and numbers as the SEG and SR, drawn for viewers that show neither.
        var summary = options.Summary.Enabled
            ? SummaryPages.ForFindings(source, frames, frameDecoder, labelMap, segments, result.Measurements,
                result.Lesions.Where(l => present.Contains(l.Label)).ToList(), algorithm, options.SummaryFor()).Files
            : [];

        return result with
        {
            Selection = selection,
            Groups = groups,
            Seg = seg.File,
            Sr = report.File,
            Summary = summary,
            Notes = notes,
            Times = result.Times with { Assemble = assemble, Results = clock.Elapsed.TotalSeconds },
        };

        // No label at all: an SR that says so (each label looked for, coded Absent), so a negative study is told apart
        // from one never analysed, and with the summary on a page saying "nothing found"; no SEG (it needs a segment).
        AnalysisResult NothingFound(AnalysisResult r, string why)
        {
            notes.Add(why);
            var sr = MeasurementReportWriter.CreateNothingFound(source, manifest.Labels.Select(Describe).ToList(), algorithm,
                options.ReportFor());
            var page = options.Summary.Enabled
                ? SummaryPages.ForOutcome(files, algorithm, SummaryOutcome.NothingFound($"{manifest.Id} found none of its labels"), options.SummaryFor())
                : null;
            return r with
            {
                Selection = selection, Sr = sr.File, Summary = page?.Files ?? [], Notes = notes,
                Times = r.Times with { Assemble = assemble, Results = clock.Elapsed.TotalSeconds },
            };
        }
    }

    /// <summary>The model's stages on the assembled values: int16 when the series allows it (almost every CT), half the
    /// memory of float for the rest of the analysis. The caller's reference is taken (by ref) and this method's dropped,
    /// so that the model input is the volume's only holder and can let it go while the network runs.</summary>
    private AnalysisResult RunModel(ref AssembledVolume assembled, ModelManifest manifest, IProgress<double>? progress, CancellationToken ct) =>
        TakeInput(ref assembled) switch
        {
            ModelInput<short> hu => RunModel(hu, manifest, progress, ct),
            var floats => RunModel((ModelInput<float>)floats, manifest, progress, ct),
        };

    /// <summary>The model input made from the assembled volume, the caller's reference cleared; a frame of its own, so that
    /// no temporary of a frame that lives through the model run refers to the volume.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private object TakeInput(ref AssembledVolume assembled)
    {
        var a = assembled;
        assembled = null!;
        if (a.Hu is not { } hu) return new ModelInput<float>(a.Volume);
        return new ModelInput<short>(hu, CanReadAgain(a) ? new FrameStackReader(a.Frames, hu.Dims, hu.Affine, frameDecoder) : null);
    }

    /// <summary>Whether an int16 stack is cheap to read again from its frames (by box): not when it was regridded (its
    /// slices are blends) or its files are compressed (decoding JPEG 2000 again costs seconds, not the 0.5 s of 300
    /// plain slices).</summary>
    private static bool CanReadAgain(AssembledVolume a) =>
        !a.Resampled && !a.Frames.Any(f => f.File.TransferSyntax.IsEncapsulated || f.File.TransferSyntax.IsDeflated);

    private static string ContentRule(ModelManifest manifest, SeriesCandidate chosen, AssembledVolume assembled) =>
        assembled.Hu is { } hu ? ContentRule(manifest, chosen, hu) : ContentRule(manifest, chosen, assembled.Volume);

    /// <summary>
    /// Why the model may run on this series' anatomy: its Body Part Examined, or, when that is missing and the manifest
    /// names a region, what the images show; a series that shows another region is refused, saying what was measured.
    /// </summary>
    private static string ContentRule<T>(ModelManifest manifest, SeriesCandidate chosen, VoxelVolume<T> volume) where T : unmanaged, INumberBase<T>
    {
        var rules = manifest.SeriesSelection;
        var bodyPart = chosen.Files[0].Dataset.GetString(DicomTags.BodyPartExamined)?.Trim();
        if (!string.IsNullOrEmpty(bodyPart))
            return rules is { BodyParts.Length: > 0 } ? $"Body Part Examined {bodyPart} is one {manifest.Id} accepts." : $"Body Part Examined {bodyPart}; {manifest.Id} accepts any.";
        if (rules?.Content is not { } region) return $"No Body Part Examined; {manifest.Id} has no content rule.";
        var evidence = BodyRegion.Measure(volume);
        if (!evidence.Shows(region))
            throw new AnalysisRejectedException($"rule content: series {chosen.SeriesInstanceUid} has no Body Part Examined and does not look like a {region}: {evidence}");
        return $"No Body Part Examined; the series looks like a {region}: {evidence}.";
    }

    /// <summary>The one page of a study a model did not analyse (no eligible series, a series that forms no volume), saying why;
    /// empty when the summary is off or no file carries the study's identity.</summary>
    public static IReadOnlyList<DicomFile> NotAnalysedSummary(IReadOnlyList<DicomFile> files, ModelManifest manifest, string why, AnalysisOptions options) =>
        NotAnalysedSummary(files, [manifest], why, options);

    /// <summary>The one page of a study none of <paramref name="manifests"/> analysed (the service's case: every enabled
    /// model refused it), naming each model (with its version; the SHA-256 too when there is one model) and saying why;
    /// empty when the summary or its "not analysed" page is off, or no file carries the study's identity.</summary>
    public static IReadOnlyList<DicomFile> NotAnalysedSummary(IReadOnlyList<DicomFile> files, IReadOnlyList<ModelManifest> manifests, string why, AnalysisOptions options)
    {
        if (!options.Summary.Enabled || !options.Summary.NotAnalysed || manifests.Count == 0) return [];
        var algorithm = manifests.Count == 1 ? Algorithm(manifests[0])
            : new AlgorithmInfo(string.Join(", ", manifests.Select(m => $"{Algorithm(m).Name} {m.Version}".Trim())), "");
        return SummaryPages.ForOutcome(files, algorithm, SummaryOutcome.NotAnalysed(why), options.SummaryFor())?.Files ?? [];
    }

    private static AlgorithmInfo Algorithm(ModelManifest manifest) =>
        new(manifest.Name.Length > 0 ? manifest.Name : manifest.Id, manifest.Version, manifest.ModelSha256);

    /// <summary>A volume already in memory (NIfTI, tests): the model's stages and measurements, no SEG or SR.</summary>
    /// <param name="volume">Float, or int16 HU (<see cref="HuVolume"/>): the same values give the same result.</param>
    public AnalysisResult RunModel<T>(VoxelVolume<T> volume, ModelManifest manifest, IProgress<double>? progress = null, CancellationToken ct = default)
        where T : unmanaged, INumberBase<T> =>
        RunModel(new ModelInput<T>(volume), manifest, progress, ct);

    private AnalysisResult RunModel<T>(ModelInput<T> input, ModelManifest manifest, IProgress<double>? progress, CancellationToken ct)
        where T : unmanaged, INumberBase<T>
    {
        var model = sessions.Get(manifest);
        var inferenceProgress = progress is null ? null : new Fraction(progress);
        var result = ModelStage.Run(model, input, inferenceProgress, ct, NetworkStarts);
        return result with
        {
            Notes = [.. model.Attempts.Where(a => !a.Succeeded).Select(a => $"execution provider {a.Provider} unavailable ({a.Reason}); ran on {model.Provider}"), .. result.Notes],
        };
    }

    /// <summary>
    /// The SR's measurement groups: per segment, per set of segments, per lesion; each with the centroid of the region
    /// it measured (the group's SCOORD3D POINT, which a viewer such as OHIF needs to list the group at all). A group over
    /// several segments gets the centroid of their union: the voxel-weighted mean of the segments' centroids (the labels
    /// are disjoint, so this is the mean position of every voxel the group's numbers were counted on).
    /// </summary>
    public static List<MeasurementGroup> Groups(AnalysisResult result)
    {
        var groups = MeasurementGroup.From(result.Measurements);
        var lesions = result.Lesions.Where(l => result.PresentLabels.Contains(l.Label)).GroupBy(l => l.Label).ToDictionary(g => g.Key, g => g.ToList());
        var segments = result.LabelStatistics.Where(s => s.Statistics.VoxelCount > 0).ToDictionary(s => s.Label, s => s.Statistics);
        return groups.Select(g => g switch
        {
            { LesionNumber: { } n, SegmentNumber: { } label } when lesions.TryGetValue(label, out var list) && n <= list.Count =>
                g with { CentroidMm = [list[n - 1].CentroidMm.X, list[n - 1].CentroidMm.Y, list[n - 1].CentroidMm.Z] },
            { LesionNumber: null, SegmentNumber: { } label } when segments.TryGetValue(label, out var s) => g with { CentroidMm = [s.CentroidMm.X, s.CentroidMm.Y, s.CentroidMm.Z] },
            { LesionNumber: null, SegmentNumber: null, Segments.Count: > 0 } when UnionCentroid(g.Segments, segments) is { } u => g with { CentroidMm = u },
            _ => g,
        }).ToList();
    }

    /// <summary>Centroid of the union of disjoint labels: voxel-weighted mean of their centroids; null if none has a voxel.</summary>
    private static double[]? UnionCentroid(IReadOnlyList<int> labels, Dictionary<int, RegionStatistics> segments)
    {
        double x = 0, y = 0, z = 0;
        long n = 0;
        foreach (var label in labels.Distinct())
        {
            if (!segments.TryGetValue(label, out var s)) continue;
            x += s.CentroidMm.X * s.VoxelCount;
            y += s.CentroidMm.Y * s.VoxelCount;
            z += s.CentroidMm.Z * s.VoxelCount;
            n += s.VoxelCount;
        }
        return n == 0 ? null : [x / n, y / n, z / n];
    }

    private static SegmentDescription Describe(LabelSpec l)
    {
        return new SegmentDescription
        {
            Number = l.Value,
            Label = l.Name,
            Category = l.Category ?? new CodedConcept("123037004", "SCT", "Anatomical Structure"),
            Type = l.Type ?? throw new ManifestException($"label {l.Value} ({l.Name}) has no Type code; SEG needs one"),
            AnatomicRegion = l.AnatomicRegion,
            Color = l.DisplayColor(),
        };
    }
}

/// <summary>Patches done as a fraction, reported on the calling thread (Progress&lt;T&gt; would post it elsewhere, late).</summary>
file sealed class Fraction(IProgress<double> to) : IProgress<InferenceProgress>
{
    public void Report(InferenceProgress p) => to.Report(p.PatchesTotal > 0 ? (double)p.PatchesDone / p.PatchesTotal : 0);
}
