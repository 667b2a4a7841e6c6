using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using MedAiNode.Dicom;
using MedAiNode.Imaging.Series;

namespace MedAiNode.Inference.Manifests;

public sealed class OnnxFileInfo
{
    /// <summary>File name, relative to the manifest's folder or to one of the model search paths.</summary>
    public string File { get; set; } = "";
    /// <summary>Lowercase hex SHA-256 of the file; loading refuses a file that does not match.</summary>
    public string Sha256 { get; set; } = "";
}

public sealed class TensorSpec
{
    public string Name { get; set; } = "";
    /// <summary>
    /// Order of the three spatial tensor axes after N and C, in volume axis letters: "zyx" feeds the x-fastest voxel
    /// array as [N,C,z,y,x] (NIfTI/numpy convention, MONAI on nibabel arrays is "xyz").
    /// </summary>
    public string Layout { get; set; } = "zyx";
}

/// <summary>What the network's output holds. <see cref="Labels"/>: the graph ends in its own argmax and returns one channel
/// of class indices (float or integer), as many exports do; a fifth of the memory of five score channels, but no
/// probabilities (no lesion confidences, no blending of overlapping windows, no ensembles).</summary>
public enum OutputKind { Logits, Softmax, Sigmoid, Labels }

public sealed class OutputSpec
{
    public string Name { get; set; } = "";
    public OutputKind Kind { get; set; } = OutputKind.Logits;
    /// <summary>Channels the model emits (background included for Logits/Softmax); for Labels, the classes its argmax
    /// chooses from (background included), so its values are 0..Channels-1.</summary>
    public int Channels { get; set; }
    /// <summary>Channels of the output tensor: one for Labels, else <see cref="Channels"/>.</summary>
    [JsonIgnore] public int TensorChannels => Kind == OutputKind.Labels ? 1 : Channels;
    /// <summary>For Sigmoid outputs: channel c becomes label c+1 where its probability exceeds this.</summary>
    public float Threshold { get; set; } = 0.5f;
}

public enum IntensityKind { None, ScaleIntensityRange, NnUNetCT, ZScore, MinMax }

/// <summary>Intensity normalisation, named after the library step it reproduces.</summary>
public sealed class IntensitySpec
{
    public IntensityKind Kind { get; set; } = IntensityKind.None;
    // MONAI ScaleIntensityRange(a_min, a_max, b_min, b_max, clip)
    public float AMin { get; set; }
    public float AMax { get; set; }
    public float BMin { get; set; }
    public float BMax { get; set; } = 1;
    public bool Clip { get; set; } = true;
    // nnU-Net CTNormalization: clip to the training foreground's 0.5/99.5 percentiles, then (x - mean) / std.
    public float PercentileLow { get; set; }
    public float PercentileHigh { get; set; }
    public float Mean { get; set; }
    public float Std { get; set; } = 1;
    /// <summary>ZScore: compute mean/std over non-zero voxels only (MONAI NormalizeIntensity nonzero=True).</summary>
    public bool NonZero { get; set; }
}

/// <summary>How overlapping patch outputs are combined; None for valid-convolution tiling, whose output tiles do not overlap.</summary>
public enum BlendMode { Constant, Gaussian, None }

/// <summary>What a patch holds beyond the volume's border: <see cref="SlidingWindowSpec.PadValue"/>, or the nearest border voxel.</summary>
public enum PadMode { Constant, Edge }

public sealed class SlidingWindowSpec
{
    /// <summary>Patch size in volume axes (x, y, z). Null: the whole volume in one pass.</summary>
    public int[]? PatchSize { get; set; }
    public double Overlap { get; set; } = 0.5;
    public BlendMode Blending { get; set; } = BlendMode.Gaussian;
    public double SigmaScale { get; set; } = 0.125;
    public int BatchSize { get; set; } = 1;
    /// <summary>Volume axes (0 = x, 1 = y, 2 = z) to mirror for test-time augmentation, as nnU-Net does; empty = off.</summary>
    public int[] MirrorAxes { get; set; } = [];
    /// <summary>Value (after normalisation) for padding a volume smaller than a patch.</summary>
    public float PadValue { get; set; }
    /// <summary>
    /// Valid-convolution networks (DeepMedic): the output tile (x, y, z) a patch gives, centred in it and smaller than it.
    /// Set, tiles start at the grid's first voxel with stride = output size (the network's subsampling paths see the
    /// same phase as in training), there is no overlap and no blending, and the input reaches beyond the volume.
    /// </summary>
    public int[]? OutputSize { get; set; }
    /// <summary>Padding beyond the volume's border (valid-convolution tiling reads past every border).</summary>
    public PadMode Padding { get; set; } = PadMode.Constant;
    /// <summary>
    /// Valid-convolution tiling: a tile whose whole input is one value (air outside the head once clipped) is not run;
    /// it gets the network's output for that constant input, computed once (a constant input gives a constant output).
    /// </summary>
    public bool SkipUniformTiles { get; set; }
    /// <summary>
    /// Valid-convolution tiling: only tiles whose output region holds tissue are run; the others get the network's
    /// output for an all-air tile (computed once). Null: every tile runs. See <see cref="TissueTileSpec"/>.
    /// </summary>
    public TissueTileSpec? TissueTiles { get; set; }
    /// <summary>
    /// Valid-convolution tiling with <see cref="TissueTiles"/>: tile origins may move by multiples of this many voxels,
    /// the least common multiple of the network's subsampling factors (15 for DeepMedic's 3x and 5x paths), so that the
    /// fewest tiles cover the tissue. Every tile then sees its subsampled paths at the same phase: results are unchanged.
    /// Null: origins at the grid's first voxel.
    /// </summary>
    public int? TilePhase { get; set; }

    [JsonIgnore] public bool IsValidConvolution => OutputSize is not null;
}

/// <summary>
/// Which voxels count as tissue when deciding whether a valid-convolution tile is worth running, in the input's own
/// values (HU for CT) on the model grid, before intensity normalisation. A voxel is tissue when its value lies strictly
/// between <see cref="MinValue"/> and <see cref="MaxValue"/> (the intensity window: outside it the network sees only
/// its clipped ends) and, with <see cref="InsideBoneValue"/> set, when it is enclosed in its slice (third grid axis,
/// axial for LPS) by voxels at or above that value, gaps up to <see cref="CloseMm"/> closed: intracranial for head CT.
/// </summary>
public sealed class TissueTileSpec
{
    public double MinValue { get; set; } = double.NegativeInfinity;
    public double MaxValue { get; set; } = double.PositiveInfinity;
    public double? InsideBoneValue { get; set; }
    public double CloseMm { get; set; } = 3;
}

public sealed class LabelPostprocessing
{
    public bool LargestComponent { get; set; }
    public double MinSizeMl { get; set; }
    /// <summary>Report each connected component as a lesion candidate.</summary>
    public bool Lesions { get; set; }
}

public enum AnatomyKind { ChestCt }

/// <summary>
/// Anatomy rules applied to the model's labels on its grid (intensities in HU): which label holds the body, each lung
/// and the airway (0: the manifest does not report it; lungs then stay body). See ChestCtAnatomy.
/// </summary>
public sealed class AnatomySpec
{
    public AnatomyKind Kind { get; set; } = AnatomyKind.ChestCt;
    public int Body { get; set; }
    public int LeftLung { get; set; }
    public int RightLung { get; set; }
    public int Airway { get; set; }
    /// <summary>Smallest air component taken for lung (a lung base at the top of an abdomen scan can be small).</summary>
    public double MinLungMl { get; set; } = 10;
    /// <summary>Air components at least this big are lung even when they do not reach the top of the field of view.</summary>
    public double LungWithoutTopMl { get; set; } = 400;
    /// <summary>Gas in bowel, stomach and sinuses is nearly pure air; aerated lung has vessels and septa. Above this fraction below -950 HU, not lung.</summary>
    public double MaxPureAirFraction { get; set; } = 0.5;
    /// <summary>Closing radius that brings vessels, juxta-pleural nodules and tumours at the boundary into the lung.</summary>
    public double CloseMm { get; set; } = 10;
    /// <summary>Lung nodule candidates written as this label; null: no nodule detection.</summary>
    public NoduleSpec? Nodules { get; set; }
}

/// <summary>Lung nodule detection (LungNodules): the label nodules are painted with and the candidate rules.</summary>
public sealed class NoduleSpec
{
    /// <summary>Label value of the nodule segment (may lie beyond the graph's outputs: the anatomy step paints it).</summary>
    public int Label { get; set; }
    public double MinDiameterMm { get; set; } = 3;
    public double MaxDiameterMm { get; set; } = 30;
    /// <summary>Smallest dot-filter response (HU, scale-normalised) that seeds a candidate.</summary>
    public float MinResponse { get; set; } = 20;
    /// <summary>Smallest share of aerated lung around a candidate: hilar vessels and mediastinum have none.</summary>
    public double MinAeratedShell { get; set; } = 0.2;
    /// <summary>
    /// Candidates denser than this on average are contrast-filled vessels, bone or metal (a rib at the lung's edge), not
    /// solid nodules (about -100 to 100 HU with partial volume); calcified granulomas, benign, go too.
    /// </summary>
    public double MaxMeanHu { get; set; } = 150;
    /// <summary>Largest elongation (square root of the voxel positions' largest over smallest variance): vessels are long.</summary>
    public double MaxElongation { get; set; } = 2.5;
    /// <summary>At most this many candidates per study, the most confident first.</summary>
    public int MaxCandidates { get; set; } = 8;
}

public sealed class LabelSpec
{
    public int Value { get; set; }
    public string Name { get; set; } = "";
    public CodedConcept? Category { get; set; }
    public CodedConcept? Type { get; set; }
    public CodedConcept? AnatomicRegion { get; set; }
    public CodedConcept? AnatomicRegionModifier { get; set; }
    /// <summary>Recommended Display CIELab Value as DICOM stores it (three unsigned 16-bit values); computed from <see cref="Rgb"/> when absent.</summary>
    public int[]? CieLab { get; set; }
    /// <summary>Display colour as sRGB 0..255, the way people pick colours.</summary>
    public int[]? Rgb { get; set; }

    /// <summary>The DICOM Recommended Display CIELab Value (PS3.3 C.10.7.1.1), as given or from <see cref="Rgb"/>.</summary>
    public DicomCieLab? DisplayColor() => CieLab is { Length: 3 } lab ? new DicomCieLab((ushort)lab[0], (ushort)lab[1], (ushort)lab[2])
        : Rgb is { Length: 3 } c ? DicomCieLab.FromRgb((byte)c[0], (byte)c[1], (byte)c[2]) : null;
    public LabelPostprocessing? Postprocessing { get; set; }
}

public enum MeasurementKind { Volume, MeanValue, PercentBelow, LongestDiameter }

/// <summary>
/// A number the analysis computes on the original (HU) grid and reports, declared as data: what (kind, DICOM concept,
/// UCUM unit) and over which labels. Per label, it lands in that segment's SR group; otherwise one value over the union.
/// </summary>
public sealed class MeasurementSpec
{
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public MeasurementKind Kind { get; set; }
    /// <summary>Label values measured; empty means every label of the table.</summary>
    public int[] Labels { get; set; } = [];
    /// <summary>One value for each label (each segment's own) rather than one over their union.</summary>
    public bool PerLabel { get; set; }
    /// <summary>For <see cref="MeasurementKind.PercentBelow"/>: voxels strictly below this value count.</summary>
    public float Threshold { get; set; }
    /// <summary>UCUM code (ml, mm, %, [hnsf'U], ...); the kind's usual unit when empty.</summary>
    public string Unit { get; set; } = "";
    /// <summary>What is measured, as DICOM codes it; the kind's usual concept when absent.</summary>
    public CodedConcept? Concept { get; set; }

    /// <summary>The labels this measures, with "empty = every label" resolved against the table.</summary>
    public int[] LabelsIn(ModelManifest m) => Labels.Length > 0 ? Labels : m.Labels.Select(l => l.Value).ToArray();

    /// <summary>Concept, unit and modifiers as written to the SR; null when the kind has no usual concept for this modality.</summary>
    public (CodedConcept Concept, CodedConcept Unit, IReadOnlyList<ConceptModifier> Modifiers)? Coding(ModelManifest m)
    {
        var ct = m.Modalities.Contains("CT", StringComparer.OrdinalIgnoreCase);
        var unit = Unit.Length > 0 ? Codes.Ucum(Unit) : Kind switch
        {
            MeasurementKind.Volume => Codes.Milliliter,
            MeasurementKind.LongestDiameter => Codes.Millimeter,
            MeasurementKind.PercentBelow => Codes.Percent,
            MeasurementKind.MeanValue when ct => Codes.HounsfieldUnit,
            _ => null,
        };
        if (unit is null) return null;
        (CodedConcept? concept, IReadOnlyList<ConceptModifier> modifiers) = Kind switch
        {
            MeasurementKind.Volume => (Codes.Volume, [new ConceptModifier(Codes.MeasurementMethod, Codes.SumOfSegmentedVoxelVolumes)]),
            MeasurementKind.MeanValue => (ct ? Codes.AttenuationCoefficient : null, [new ConceptModifier(Codes.Derivation, Codes.Mean)]),
            MeasurementKind.LongestDiameter => (Codes.LongAxis, []),
            MeasurementKind.PercentBelow => (Codes.PercentBelow(Threshold, ct ? Codes.HounsfieldUnit : unit), []),
            _ => ((CodedConcept?)null, (IReadOnlyList<ConceptModifier>)[]),
        };
        concept = Concept ?? concept;
        return concept is null ? null : (concept, unit, modifiers);
    }

    /// <summary>What a manifest without a "measurements" list gets: each label's volume, mean (CT) and longest diameter.</summary>
    public static MeasurementSpec[] Defaults(ModelManifest m) =>
    [
        new() { Id = "volume", Name = "Volume", Kind = MeasurementKind.Volume, PerLabel = true },
        .. m.Modalities.Contains("CT", StringComparer.OrdinalIgnoreCase) ? [new MeasurementSpec { Id = "meanHu", Name = "Mean attenuation", Kind = MeasurementKind.MeanValue, PerLabel = true }] : Array.Empty<MeasurementSpec>(),
        new() { Id = "longestDiameter", Name = "Longest diameter", Kind = MeasurementKind.LongestDiameter, PerLabel = true },
    ];
}

/// <summary>Everything needed to run one ONNX segmentation model the way it was trained. Lives as JSON in models/ID/manifest.json.</summary>
public sealed class ModelManifest
{
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public string Version { get; set; } = "1";
    public string Description { get; set; } = "";
    public string[] Modalities { get; set; } = ["CT"];
    public OnnxFileInfo Onnx { get; set; } = new();
    /// <summary>
    /// Ensemble members, each run on every patch; their softmax outputs are averaged. When present, <see cref="Onnx"/>
    /// is left out.
    /// </summary>
    public OnnxFileInfo[]? Ensemble { get; set; }
    /// <summary>The networks run: the ensemble's members, or the one <see cref="Onnx"/> file.</summary>
    [JsonIgnore] public OnnxFileInfo[] Members => Ensemble is { Length: > 0 } e ? e : [Onnx];
    /// <summary>
    /// What identifies the network(s): the ONNX file's SHA-256, or for an ensemble the SHA-256 of its members' hashes
    /// in order (SEG/SR algorithm version, UID seeds).
    /// </summary>
    [JsonIgnore] public string ModelSha256 => Ensemble is { Length: > 0 } e
        ? Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(string.Join("\n", e.Select(m => m.Sha256.ToLowerInvariant())))))
        : Onnx.Sha256;
    public TensorSpec Input { get; set; } = new();
    public OutputSpec Output { get; set; } = new();
    /// <summary>Orientation code the model expects (e.g. "LPS", "RAS"); null keeps the input grid's axes.</summary>
    public string? Orientation { get; set; }
    /// <summary>Voxel spacing in mm (x, y, z) the model expects; null keeps the input spacing.</summary>
    public double[]? Spacing { get; set; }
    public IntensitySpec Intensity { get; set; } = new();
    public SlidingWindowSpec SlidingWindow { get; set; } = new();
    public LabelSpec[] Labels { get; set; } = [];
    /// <summary>What is measured and reported; absent (null) gives <see cref="MeasurementSpec.Defaults"/>.</summary>
    public MeasurementSpec[]? Measurements { get; set; }
    [JsonIgnore] public MeasurementSpec[] EffectiveMeasurements => Measurements ?? MeasurementSpec.Defaults(this);
    public SeriesSelectionRules? SeriesSelection { get; set; }
    /// <summary>Anatomy rules applied after the model (body, lungs, airway by connectivity); null: none.</summary>
    public AnatomySpec? Anatomy { get; set; }

    /// <summary>Folder the manifest was loaded from.</summary>
    [JsonIgnore] public string? Directory { get; set; }

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        WriteIndented = true,
    };

    public static ModelManifest Load(string path)
    {
        ModelManifest? m;
        try { m = JsonSerializer.Deserialize<ModelManifest>(File.ReadAllText(path), JsonOptions); }
        catch (JsonException e) { throw new ManifestException($"{path}: not a valid model manifest: {e.Message}"); }
        if (m is null) throw new ManifestException($"{path}: empty manifest.");
        m.Directory = Path.GetDirectoryName(Path.GetFullPath(path));
        m.Validate(path);
        return m;
    }

    public void Validate(string where = "manifest")
    {
        void Fail(string key, string why) => throw new ManifestException($"{where}: {key} {why}");
        if (string.IsNullOrWhiteSpace(Id)) Fail("id", "is required.");
        if (Ensemble is { Length: > 0 })
        {
            if (!string.IsNullOrEmpty(Onnx.File)) Fail("onnx", "must be left out when ensemble lists the members.");
            for (var i = 0; i < Ensemble.Length; i++)
            {
                if (string.IsNullOrWhiteSpace(Ensemble[i].File)) Fail($"ensemble[{i}].file", "is required.");
                if (Ensemble[i].Sha256.Length != 64 || !Ensemble[i].Sha256.All(Uri.IsHexDigit)) Fail($"ensemble[{i}].sha256", "must be 64 hex digits.");
            }
            if (Output.Kind is OutputKind.Sigmoid or OutputKind.Labels) Fail("output.kind", "must be logits or softmax for an ensemble (members' softmax outputs are averaged).");
        }
        else
        {
            if (Ensemble is { Length: 0 }) Fail("ensemble", "must list at least one member (or be left out).");
            if (string.IsNullOrWhiteSpace(Onnx.File)) Fail("onnx.file", "is required.");
            if (Onnx.Sha256.Length != 64 || !Onnx.Sha256.All(Uri.IsHexDigit)) Fail("onnx.sha256", "must be 64 hex digits.");
        }
        if (string.IsNullOrWhiteSpace(Input.Name)) Fail("input.name", "is required.");
        if (Input.Layout is not ("zyx" or "xyz")) Fail("input.layout", $"must be \"zyx\" or \"xyz\", got \"{Input.Layout}\".");
        if (string.IsNullOrWhiteSpace(Output.Name)) Fail("output.name", "is required.");
        if (Output.Channels < 1) Fail("output.channels", "must be at least 1.");
        if (Output.Kind != OutputKind.Sigmoid && Output.Channels < 2) Fail("output.channels", "must be at least 2 for softmax/logits/labels (background + labels).");
        if (Output.Kind == OutputKind.Labels)
        {
            // Class indices cannot be averaged: only tilings that place each output voxel once.
            if (SlidingWindow.PatchSize is not null && SlidingWindow.OutputSize is null)
                Fail("slidingWindow.patchSize", "must be left out (the whole volume) or come with outputSize for output.kind labels: overlapping windows are blended, class indices cannot be.");
            if (SlidingWindow.MirrorAxes.Length > 0) Fail("slidingWindow.mirrorAxes", "cannot be used with output.kind labels (mirrored outputs are averaged).");
            if (Labels.FirstOrDefault(l => l.Postprocessing?.Lesions == true) is { } lesion)
                Fail($"labels[{lesion.Value}].postprocessing.lesions", "needs probabilities, which output.kind labels does not give.");
        }
        if (Spacing is not null && (Spacing.Length != 3 || Spacing.Any(s => s <= 0))) Fail("spacing", "must be three positive numbers (x, y, z mm).");
        if (Orientation is not null && (Orientation.Length != 3 || Orientation.Any(c => !"LRAPSI".Contains(char.ToUpperInvariant(c))))) Fail("orientation", $"\"{Orientation}\" is not a three-letter code like LPS.");
        var sw = SlidingWindow;
        if (sw.PatchSize is not null && (sw.PatchSize.Length != 3 || sw.PatchSize.Any(p => p < 1))) Fail("slidingWindow.patchSize", "must be three positive sizes (x, y, z).");
        if (sw.Overlap is < 0 or >= 1) Fail("slidingWindow.overlap", "must be in [0, 1).");
        if (sw.BatchSize < 1) Fail("slidingWindow.batchSize", "must be at least 1.");
        if (sw.SigmaScale <= 0) Fail("slidingWindow.sigmaScale", "must be positive.");
        if (sw.MirrorAxes.Any(a => a is < 0 or > 2)) Fail("slidingWindow.mirrorAxes", "may only hold 0, 1, 2.");
        if (sw.OutputSize is { } os)
        {
            if (sw.PatchSize is not { } ps) { Fail("slidingWindow.outputSize", "needs slidingWindow.patchSize (the input tile it is cut from)."); return; }
            if (os.Length != 3 || os.Any(o => o < 1)) Fail("slidingWindow.outputSize", "must be three positive sizes (x, y, z).");
            for (var axis = 0; axis < 3; axis++)
                if (os[axis] > ps[axis] || (ps[axis] - os[axis]) % 2 != 0) Fail("slidingWindow.outputSize", $"must be at most patchSize and differ from it by an even margin on each axis (axis {axis}: {os[axis]} from {ps[axis]}).");
            if (sw.Blending != BlendMode.None) Fail("slidingWindow.blending", "must be \"none\" with outputSize (tiles do not overlap).");
            if (sw.MirrorAxes.Length > 0) Fail("slidingWindow.mirrorAxes", "is not supported with outputSize.");
            if (sw.TissueTiles is { } tt)
            {
                if (!(tt.MinValue < tt.MaxValue)) Fail("slidingWindow.tissueTiles.maxValue", "must be above minValue.");
                if (tt.CloseMm < 0 || tt.CloseMm > 20) Fail("slidingWindow.tissueTiles.closeMm", "must be 0 to 20 mm.");
            }
            if (sw.TilePhase is { } phase)
            {
                if (sw.TissueTiles is null) Fail("slidingWindow.tilePhase", "needs slidingWindow.tissueTiles (it moves tiles to cover the tissue).");
                if (phase < 1 || os.Any(o => o % phase != 0)) Fail("slidingWindow.tilePhase", $"must be positive and divide outputSize ({string.Join(", ", os)}).");
            }
        }
        else
        {
            if (sw.Blending == BlendMode.None) Fail("slidingWindow.blending", "\"none\" needs outputSize (valid-convolution tiling); overlapping windows are blended.");
            if (sw.SkipUniformTiles) Fail("slidingWindow.skipUniformTiles", "needs outputSize (valid-convolution tiling).");
            if (sw.TissueTiles is not null) Fail("slidingWindow.tissueTiles", "needs outputSize (valid-convolution tiling).");
        }
        if (Intensity.Kind == IntensityKind.ScaleIntensityRange && Intensity.AMax == Intensity.AMin) Fail("intensity.aMax", "must differ from aMin.");
        if (Intensity.Kind == IntensityKind.NnUNetCT && Intensity.Std <= 0) Fail("intensity.std", "must be positive.");
        var graphLabels = Output.Kind == OutputKind.Sigmoid ? Output.Channels : Output.Channels - 1;
        // Nodules are painted by the anatomy step, not by a graph channel.
        var maxLabel = Math.Max(graphLabels, Anatomy?.Nodules?.Label ?? 0);
        foreach (var l in Labels)
        {
            if (l.Value < 1 || l.Value > maxLabel) Fail($"labels[{l.Value}].value", $"must be 1..{maxLabel}.");
            if (l.CieLab is { } c && (c.Length != 3 || c.Any(v => v is < 0 or > 65535))) Fail($"labels[{l.Value}].cieLab", "must be three values 0..65535.");
            if (l.Rgb is { } rgb && (rgb.Length != 3 || rgb.Any(v => v is < 0 or > 255))) Fail($"labels[{l.Value}].rgb", "must be three values 0..255.");
            if (l.Type is null) Fail($"labels[{l.Value}].type", "is required (the SNOMED CT segmented property type).");
            if (l.Category is null) Fail($"labels[{l.Value}].category", "is required (the SNOMED CT segmented property category).");
        }
        if (Labels.Select(l => l.Value).Distinct().Count() != Labels.Length) Fail("labels", "repeat a value.");
        if (maxLabel > 255) Fail("output.channels", "gives more than 255 labels.");
        foreach (var m in EffectiveMeasurements)
        {
            if (string.IsNullOrWhiteSpace(m.Id)) Fail("measurements[].id", "is required.");
            if (m.Labels.Any(v => Labels.All(l => l.Value != v))) Fail($"measurements[{m.Id}].labels", "must name labels from the label table.");
            if (m.Kind == MeasurementKind.LongestDiameter && !m.PerLabel) Fail($"measurements[{m.Id}].perLabel", "must be true for a longest diameter (it is measured on one region).");
            if (m.Coding(this) is null) Fail($"measurements[{m.Id}].concept", $"and unit are required for a {m.Kind} measurement on {string.Join("/", Modalities)} (no usual concept).");
        }
        if (EffectiveMeasurements.GroupBy(m => m.Id).FirstOrDefault(g => g.Count() > 1) is { } dupe) Fail($"measurements[{dupe.Key}]", "is declared twice.");
        SeriesSelection?.Validate($"{where}: seriesSelection");
        if (Anatomy is { } a)
        {
            foreach (var (key, v) in new[] { ("body", a.Body), ("leftLung", a.LeftLung), ("rightLung", a.RightLung), ("airway", a.Airway) })
                if (v < 0 || v > maxLabel) Fail($"anatomy.{key}", $"must be 0 (not reported) or a label 1..{maxLabel}.");
            if (a.Body < 1) Fail("anatomy.body", "is required: the anatomy rules start from the body.");
            if (Intensity.Kind != IntensityKind.None) Fail("anatomy", "needs intensity.kind none: its rules read HU on the model grid.");
            if (a.CloseMm < 0 || a.MinLungMl < 0 || a.LungWithoutTopMl < 0) Fail("anatomy", "sizes must not be negative.");
            if (a.MaxPureAirFraction is <= 0 or > 1) Fail("anatomy.maxPureAirFraction", "must be in (0, 1].");
            if (a.Nodules is { } nod)
            {
                if (a.LeftLung < 1 || a.RightLung < 1) Fail("anatomy.nodules", "needs anatomy.leftLung and anatomy.rightLung: nodules are looked for inside them.");
                if (nod.Label <= graphLabels || nod.Label > 255 || Labels.All(l => l.Value != nod.Label)) Fail("anatomy.nodules.label", $"must be a label of the label table above the graph's {graphLabels} outputs.");
                if (nod.MinDiameterMm <= 0 || nod.MaxDiameterMm <= nod.MinDiameterMm) Fail("anatomy.nodules.maxDiameterMm", "must exceed minDiameterMm, which must be positive.");
                if (nod.MaxCandidates < 1) Fail("anatomy.nodules.maxCandidates", "must be at least 1.");
            }
        }
    }

    /// <summary>Finds the ONNX file (manifest folder first, then the search paths) and checks its SHA-256.</summary>
    public string ResolveOnnxPath(IEnumerable<string>? searchPaths = null) => ResolveOnnxPath(Onnx, searchPaths);

    /// <summary>As <see cref="ResolveOnnxPath(IEnumerable{string}?)"/> for one ensemble member.</summary>
    public string ResolveOnnxPath(OnnxFileInfo member, IEnumerable<string>? searchPaths = null)
    {
        var dirs = new List<string>();
        if (Directory is not null) dirs.Add(Directory);
        if (searchPaths is not null) dirs.AddRange(searchPaths);
        var path = dirs.Select(d => Path.Combine(d, member.File)).FirstOrDefault(File.Exists)
            ?? throw new ManifestException($"Model {Id}: ONNX file {member.File} not found in {string.Join(", ", dirs)}.");
        using var fs = File.OpenRead(path);
        var hash = Convert.ToHexStringLower(SHA256.HashData(fs));
        if (!string.Equals(hash, member.Sha256, StringComparison.OrdinalIgnoreCase))
            throw new ManifestException($"Model {Id}: {path} has SHA-256 {hash}, the manifest expects {member.Sha256}; refusing to load a different model.");
        return path;
    }

    public LabelSpec? Label(int value) => Labels.FirstOrDefault(l => l.Value == value);
}

public sealed class ManifestException(string message) : Exception(message);

/// <summary>Finds manifests under the model folders (each model in its own folder with manifest.json).</summary>
public static class ModelCatalog
{
    /// <summary>The environment variable that adds model folders (separated like PATH) for the command line.</summary>
    public const string ModelsVariable = "MEDAINODE_MODELS";

    /// <summary>Where models are looked for by default: ./models, the program's models/ folder, then $MEDAINODE_MODELS.</summary>
    public static string[] DefaultRoots()
    {
        var list = new List<string> { Path.Combine(System.IO.Directory.GetCurrentDirectory(), "models"), Path.Combine(AppContext.BaseDirectory, "models") };
        if (Environment.GetEnvironmentVariable(ModelsVariable) is { Length: > 0 } env) list.AddRange(env.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        return list.Distinct().ToArray();
    }

    /// <summary>Search paths made absolute: relative ones from the working directory, then from the binary's folder.</summary>
    public static IEnumerable<string> ResolveRoots(IEnumerable<string> searchPaths) =>
        searchPaths.SelectMany(p => Path.IsPathRooted(p) ? [p] : new[] { Path.GetFullPath(p), Path.Combine(AppContext.BaseDirectory, p) })
            .Distinct().Where(System.IO.Directory.Exists);

    /// <summary>models/ID/manifest.json under the first search path that has it.</summary>
    public static ModelManifest? Find(string id, IEnumerable<string> searchPaths)
    {
        foreach (var root in ResolveRoots(searchPaths))
        {
            var path = Path.Combine(root, id, "manifest.json");
            if (File.Exists(path)) return ModelManifest.Load(path);
        }
        return null;
    }

    public static IReadOnlyList<ModelManifest> LoadAll(IEnumerable<string> roots) =>
        ManifestPaths(roots).Select(ModelManifest.Load).ToList();

    /// <summary>As <see cref="LoadAll(IEnumerable{string})"/>, but a manifest that cannot be read or is invalid is left
    /// out and reported in <paramref name="skipped"/> (its path and why), so one bad folder does not stop the others.</summary>
    public static IReadOnlyList<ModelManifest> LoadAll(IEnumerable<string> roots, List<(string Path, string Error)> skipped)
    {
        var loaded = new List<ModelManifest>();
        foreach (var path in ManifestPaths(roots))
        {
            try { loaded.Add(ModelManifest.Load(path)); }
            catch (Exception e) when (e is ManifestException or IOException or UnauthorizedAccessException) { skipped.Add((path, e.Message)); }
        }
        return loaded;
    }

    private static IEnumerable<string> ManifestPaths(IEnumerable<string> roots) =>
        roots.Where(System.IO.Directory.Exists)
            .SelectMany(r => System.IO.Directory.EnumerateFiles(r, "manifest.json", SearchOption.AllDirectories));
}
