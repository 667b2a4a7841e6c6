using System.Diagnostics;
using System.Numerics;
using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Morphology;
using MedAiNode.Imaging.Resampling;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Postprocessing;
using MedAiNode.Inference.Preprocessing;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;
using MedAiNode.Inference.SlidingWindow;

namespace MedAiNode.Analysis;

/// <summary>
/// The pipeline's model stages on one volume: preprocess (orientation, model grid, intensity normalisation) -> model
/// (sliding window) -> postprocess (labels, filters, lesions, labels back onto the input grid) -> measure (per-label
/// statistics and the manifest's measurements on the original values).
/// </summary>
internal static class ModelStage
{
    /// <param name="input">CT or MR values on the input grid: float, or int16 HU (<see cref="HuVolume"/>, half the
    /// memory; every stage reads the same values from it, so the result is the same). Let go while the network runs
    /// when it can be read again.</param>
    /// <param name="networkStarts">Test seam: called just before the network runs.</param>
    public static AnalysisResult Run<T>(LoadedModel model, ModelInput<T> input, IProgress<InferenceProgress>? progress, CancellationToken ct,
        Action? networkStarts = null)
        where T : unmanaged, INumberBase<T>
    {
        var m = model.Manifest;
        var clock = Stopwatch.StartNew();
        var (normalized, tissue) = Prepare(input, m);
        // Nothing reads the input's values again before the nodule search: when they can be read back from the frames,
        // they are let go (the preprocessing did so already when it made its own copy; an input already on the model's
        // grid is let go here, after its normalised clone). Collected now in any case, before the network's run: the
        // tissue mask's scratch and the regions the GC keeps committed after the preprocessing's collections were ~90 MiB
        // under a 300-slice head's network run (LOH 132 MiB at its last collection, 93 live; 200 MiB committed).
        input.Release();
        StageMemory.Release(Math.Max(input.Dims.Count, normalized.Dims.Count));
        // The C heap's free pages too: a node's intake leaves glibc arenas of tens of MiB freed but resident (80 MiB
        // after a 300-slice series), under the network's run.
        NativeHeap.Trim();
        var preprocess = clock.Elapsed.TotalSeconds;
        networkStarts?.Invoke();

        clock.Restart();
        var inferer = new SlidingWindowInferer(model);
        // Labels and the lesions' probabilities read only each voxel's own class and its probability, unless anatomy rules
        // relabel voxels: with valid-convolution tiling only those are kept, not every channel (BLAST-CT on a 300-slice head:
        // five float channels, 160 MiB -> a byte per voxel and the probabilities of the voxels found, about 8 MiB).
        var scores = inferer.Run(normalized, progress, ct, tissue, classesOnly: m.Anatomy is null);
        var inference = clock.Elapsed.TotalSeconds;
        NativeHeap.Trim();

        clock.Restart();
        var modelLabels = Postprocessor.ToLabels(scores, m.Output, normalized);
        // The score map (channels x model grid; one channel of classes for the chest graph and valid-convolution tiling)
        // is read again only for the lesions' probabilities: a model without lesion labels drops it here, before the
        // anatomy rules allocate their scratch. Dropped by hand: the first (unoptimised) compilation of a method keeps
        // every local alive until it returns.
        var lesionScores = m.Labels.Any(l => l.Postprocessing?.Lesions == true) ? scores : null;
        scores = null!; tissue = null;
        // intensity "none" is required with anatomy rules, so the model grid still holds HU.
        var anatomy = m.Anatomy is { } spec ? ChestCtAnatomy.Apply(modelLabels, normalized, spec) : null;
        Postprocessor.ApplyFilters(modelLabels, m);
        var lesions = Postprocessor.Lesions(modelLabels, lesionScores, m);
        // Not needed past the lesions: the score map and the model-grid input.
        lesionScores = null; normalized = null!;
        // The anatomy rules' scratch and the score map are garbage now: collected before the labels are resampled onto
        // the input grid (75 MiB for 300 slices of 512x512), which otherwise came on top of them (a fresh node's peak in
        // some runs), and before the nodule search allocates its crop.
        StageMemory.Release(input.Dims.Count);
        var sameGrid = modelLabels.Dims == input.Dims && modelLabels.Affine == input.Affine;
        var labels = sameGrid ? modelLabels : Resampler.Resample(modelLabels, input.Dims, input.Affine);
        labels = new LabelVolume(labels.Dims, labels.Affine, labels.Data) { Slices = input.Slices };
        var notes = new List<string>(anatomy?.Notes ?? []);
        if (m.Anatomy is { Nodules: { } nodules } a && anatomy is { LungInFieldOfView: true })
        {
            // On the input grid, at 1 mm: a 3 mm nodule is one voxel of the model's 2 mm grid.
            // The box around the lungs is all it reads: when the input was let go, only that box is read back for it, a few
            // dozen planes at a time for the seed search, then whole for the growing.
            var detection = LungNodules.Detect(input, labels, (byte)a.LeftLung, (byte)a.RightLung, nodules, ct);
            var painted = detection.Paint(labels, (byte)nodules.Label);
            // The candidates' values: one box around them all, read back once (with candidates in both lungs, at most the
            // box around the lungs the search read).
            var around = painted.Any(p => p.Count > 0) ? input.Window(VoxelBox.Enclosing(labels.Dims, painted.SelectMany(p => p))) : null;
            for (var k = 0; k < detection.Candidates.Count; k++)
            {
                var c = detection.Candidates[k];
                if (painted[k].Count == 0) continue;
                var st = RegionMeasurements.Measure(labels, painted[k], around!);
                lesions.Add(new LesionCandidate(nodules.Label, lesions.Count(l => l.Label == nodules.Label) + 1, st.VoxelCount, st.VolumeMl, st.CentroidMm,
                    st.LongestDiameterMm, c.Confidence) { LongestDiameterEndsMm = st.LongestDiameterEndsMm, MeanValue = st.MeanValue });
                notes.Add($"Nodule candidate {lesions.Count(l => l.Label == nodules.Label)}: {c.SideName}, {st.LongestDiameterMm:0.0} mm, {st.VolumeMl * 1000:0} mm³, mean {st.MeanValue:0} HU, confidence {c.Confidence:0.00}, centre ({st.CentroidMm.X:0.0}, {st.CentroidMm.Y:0.0}, {st.CentroidMm.Z:0.0}) mm LPS.");
            }
            if (detection.Candidates.Count == 0) notes.Add("No lung nodule candidate from 3 to 30 mm.");
        }
        var postprocess = clock.Elapsed.TotalSeconds;

        StageMemory.Release(input.Dims.Count);

        clock.Restart();
        // All labels' geometry in one pass over the (usually 512x512xN) input grid, their values in another that reads a
        // few planes at a time: the whole input is never held again.
        var (stats, measurements) = Measuring.Measure<T>(m, labels, input.ReadPlanes, lesions);
        return new AnalysisResult
        {
            Model = m,
            Provider = model.Provider,
            Labels = labels,
            ModelGridLabels = modelLabels,
            LabelStatistics = stats,
            Measurements = measurements,
            Lesions = lesions,
            Anatomy = anatomy,
            Notes = notes,
            WindowStats = inferer.LastStats!,
            Times = new StageTimes
            {
                Preprocess = preprocess, Inference = inference, Model = inferer.LastStats!.ModelSeconds,
                Postprocess = postprocess, Measure = clock.Elapsed.TotalSeconds,
            },
        };
    }

    /// <summary>The preprocessing: the input on the model's grid, normalised, and the tiles worth running. A method of its
    /// own so that no temporary of the caller's frame keeps the input alive while the network runs.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static (Volume Normalized, byte[]? Tissue) Prepare<T>(ModelInput<T> input, ModelManifest m) where T : unmanaged, INumberBase<T>
    {
        var work = GridFromPlanes(input, m);
        var copied = work is not null;
        if (work is null)
        {
            var volume = input.Volume;
            work = ModelGrid(volume, m);
            copied = !ReferenceEquals(work, volume);
            // Dropped by hand: this method's first compilation keeps its locals alive until it returns.
            volume = null!;
        }
        // With its own copy on the model grid, the input is let go now rather than after the tissue mask and the
        // normalisation, which allocate on top of it (a 300-slice head CT: 150 MiB of int16 under the head model's mask
        // of the skull's inside, its peak).
        if (copied && input.Release()) StageMemory.Release(input.Dims.Count);
        // Tiles worth running, judged on the values the manifest speaks in (HU), before normalisation clips them.
        var tissue = m.SlidingWindow.TissueTiles is { } tt ? TissueMask.Compute(work, tt) : null;
        var normalized = copied ? work : new Volume(work.Dims, work.Affine, (float[])work.Data.Clone());
        IntensityNormalizer.Apply(m.Intensity, normalized.Data);
        return (normalized, tissue);
    }

    /// <summary>
    /// The model's grid made without the whole input beside it, when the input can be read again from its frames and is
    /// to be resampled (another spacing, or a tilted stack): the input is let go first, then the grid is made from windows
    /// of source planes read back (<see cref="Resampler.ResampleFromReader{T}"/>, the same values to the bit). Else null
    /// (the grid is made from the volume in memory). A 300-slice head CT: its 150 MiB of int16 and the grid were both
    /// alive, one of a warm node's two peaks; now the grid and a window of at most 19 planes (docs/benchmarks.md).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static Volume? GridFromPlanes<T>(ModelInput<T> input, ModelManifest m) where T : unmanaged, INumberBase<T>
    {
        if (!input.CanReadAgain || m.Spacing is not { } sp) return null;
        var volume = input.Volume;
        if (m.Orientation is { } code && !Reorientation.IsOriented(volume.Affine, code)) return null;
        var target = new Vec3(sp[0], sp[1], sp[2]);
        if (volume.Affine.IsOrthogonal() && (volume.Spacing - target).Length <= 1e-6) return null;
        var (dims, affine) = Resampler.OrthogonalGrid(volume.Dims, volume.Affine, target);
        var edge = Edge(volume);
        volume = null!; // dropped by hand, as in Prepare
        if (!input.Release()) return null;
        StageMemory.Release(input.Dims.Count);
        var grid = Resampler.ResampleFromReader(input, input.Dims, input.Affine, dims, affine, edge);
        // Its window of planes, before the tissue mask and the network allocate.
        StageMemory.Release(input.Dims.Count);
        return grid;
    }

    /// <summary>
    /// The input on the model's grid and orientation, as floats: the input itself when it already is a float volume on
    /// that grid (the caller copies before normalising), else a new volume (an int16 input is read as the floats it equals).
    /// </summary>
    private static Volume ModelGrid<T>(VoxelVolume<T> input, ModelManifest m) where T : unmanaged, INumberBase<T>
    {
        var work = input;
        // Most CT already is LPS: reorienting would only copy the whole input (0.2-0.6 s at 512x512x300).
        if (m.Orientation is { } code && !Reorientation.IsOriented(work.Affine, code))
            work = work switch
            {
                Volume f => (VoxelVolume<T>)(object)Reorientation.Reorient(f, code),
                HuVolume h => (VoxelVolume<T>)(object)Reorientation.Reorient(h, code),
                _ => throw new NotSupportedException($"Model input must be float or int16, not {typeof(T).Name}."),
            };
        if (m.Spacing is { } sp)
        {
            var target = new Vec3(sp[0], sp[1], sp[2]);
            var (dims, affine) = Resampler.OrthogonalGrid(work.Dims, work.Affine, target);
            if (!work.Affine.IsOrthogonal() || (work.Spacing - target).Length > 1e-6) return Resampler.ResampleScalar(work, dims, affine, Edge(work));
            return ScalarVolumes.AsFloat(work);
        }
        var floats = ScalarVolumes.AsFloat(work);
        // Models are trained on rectangular grids.
        return floats.Affine.IsOrthogonal() ? floats : Resampler.ToOrthogonal(floats, null, Edge(floats));
    }

    /// <summary>Padding value for resampling: the image minimum (air for CT), so borders do not look like tissue.</summary>
    private static float Edge<T>(VoxelVolume<T> v) where T : unmanaged => ScalarVolumes.Min(v);
}
