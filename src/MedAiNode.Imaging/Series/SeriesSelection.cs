using System.Globalization;
using MedAiNode.Dicom;
using MedAiNode.Imaging.Geometry;

namespace MedAiNode.Imaging.Series;

/// <summary>Which series of a study a model may run on. Bound from configuration; <see cref="Validate"/> names the bad key.</summary>
public sealed class SeriesSelectionRules
{
    public string[] Modalities { get; set; } = ["CT"];
    public int MinSlices { get; set; } = 20;
    public double MinSliceThicknessMm { get; set; } = 0.0;
    public double MaxSliceThicknessMm { get; set; } = 5.0;
    /// <summary>Require ImageType value 1 ORIGINAL and value 2 PRIMARY. Off by default: real archives hold many plain axial
    /// reconstructions as ORIGINAL\SECONDARY\AXIAL or DERIVED\SECONDARY\AXIAL; derived maps are refused by
    /// <see cref="RefusedImageTypes"/> instead.</summary>
    public bool RequireOriginalPrimary { get; set; }
    /// <summary>ImageType values (any position, case-insensitive) of images that are not plain slices of the anatomy:
    /// projections and reformats, renderings, subtractions, perfusion and other parametric maps, screen captures.
    /// A series whose images carry one is refused, naming the value.</summary>
    public string[] RefusedImageTypes { get; set; } = DefaultRefusedImageTypes;

    public static readonly string[] DefaultRefusedImageTypes =
    [
        "MPR", "CPR", "CURVED", "REFORMATTED", "MIP", "MINIP", "MIN IP", "PROJECTION IMAGE", "VOLUME RENDER", "VOLUME_RENDER", "VRT", "SSD",
        "SUBTRACTION", "SUBTRACTED", "PERFUSION", "CBF", "CBV", "MTT", "TTP", "TMAX", "ADC", "FA", "IODINE", "EFFECTIVE_Z", "SCREEN SAVE", "SCREENSHOT",
        "DOSE_INFO", "DOSE REPORT", "FUSION", "FUSED",
    ];
    /// <summary>Require axial images: ImageType value 3 AXIAL when present, and a slice normal within <see cref="MaxAxialAngleDeg"/> of the patient z axis.</summary>
    public bool RequireAxial { get; set; } = true;
    public double MaxAxialAngleDeg { get; set; } = 35;
    /// <summary>Convolution kernels in order of preference (case-insensitive prefix match), e.g. ["STANDARD", "B30", "FC17"].</summary>
    public string[] PreferredKernels { get; set; } = [];
    /// <summary>Accepted Body Part Examined values (e.g. CHEST, THORAX); empty accepts any. Series without the attribute pass.</summary>
    public string[] BodyParts { get; set; } = [];
    /// <summary>
    /// "head" or "chest": a series without Body Part Examined must show this region in its content (see
    /// <see cref="Morphology.BodyRegion"/>; checked once the volume is assembled). Null: no content rule.
    /// </summary>
    public string? Content { get; set; }

    public void Validate(string section = "SeriesSelection")
    {
        if (Modalities is null || Modalities.Length == 0) throw new ArgumentException($"{section}:Modalities must list at least one modality.");
        if (MinSlices < 1) throw new ArgumentException($"{section}:MinSlices must be at least 1, got {MinSlices}.");
        if (MinSliceThicknessMm < 0) throw new ArgumentException($"{section}:MinSliceThicknessMm must not be negative.");
        if (MaxSliceThicknessMm < MinSliceThicknessMm) throw new ArgumentException($"{section}:MaxSliceThicknessMm ({MaxSliceThicknessMm}) is below MinSliceThicknessMm ({MinSliceThicknessMm}).");
        if (MaxAxialAngleDeg is < 0 or > 90) throw new ArgumentException($"{section}:MaxAxialAngleDeg must be between 0 and 90.");
        if (Content is not (null or "head" or "chest")) throw new ArgumentException($"{section}:Content must be \"head\" or \"chest\", got \"{Content}\".");
    }
}

public sealed record SeriesCandidate(string SeriesInstanceUid, string Modality, string? Description, int SliceCount, double? SliceThickness, string? Kernel, IReadOnlyList<DicomFile> Files);

public sealed record SkippedSeries(string SeriesInstanceUid, string? Description, int Files, string Reason);

public sealed record SeriesSelectionResult(SeriesCandidate? Chosen, IReadOnlyList<SkippedSeries> Skipped)
{
    public string Explain() => Chosen is null
        ? "No series qualifies. " + string.Join("; ", Skipped.Select(s => $"{s.SeriesInstanceUid}: {s.Reason}"))
        : $"Chose {Chosen.SeriesInstanceUid} ({Chosen.SliceCount} slices, {Chosen.SliceThickness?.ToString("0.##", CultureInfo.InvariantCulture) ?? "?"} mm, kernel {Chosen.Kernel ?? "-"})"
          + string.Concat(Skipped.Select(s => $"; skipped {s.SeriesInstanceUid}: {s.Reason}"));
}

/// <summary>Picks one series per study for a model, with a reason for each one skipped.</summary>
public static class SeriesSelector
{
    public static SeriesSelectionResult Select(IEnumerable<DicomFile> files, SeriesSelectionRules rules)
    {
        rules.Validate();
        var skipped = new List<SkippedSeries>();
        var eligible = new List<SeriesCandidate>();
        foreach (var group in files.GroupBy(f => f.Dataset.GetString(DicomTags.SeriesInstanceUID) ?? "", StringComparer.Ordinal))
        {
            var list = group.ToList();
            var first = list[0].Dataset;
            var uid = group.Key.Length > 0 ? group.Key : "(no Series Instance UID)";
            var description = first.GetString(DicomTags.SeriesDescription);
            var reason = Check(list, rules, out var candidate, uid, description);
            if (reason is null) eligible.Add(candidate!);
            else skipped.Add(new SkippedSeries(uid, description, list.Count, reason));
        }
        if (eligible.Count == 0) return new SeriesSelectionResult(null, skipped);

        int KernelRank(SeriesCandidate c)
        {
            for (var i = 0; i < rules.PreferredKernels.Length; i++)
                if (c.Kernel is not null && c.Kernel.StartsWith(rules.PreferredKernels[i], StringComparison.OrdinalIgnoreCase)) return i;
            return rules.PreferredKernels.Length;
        }
        var ordered = eligible.OrderBy(KernelRank).ThenByDescending(c => c.SliceCount).ThenBy(c => c.SliceThickness ?? double.MaxValue).ToList();
        foreach (var other in ordered.Skip(1))
            skipped.Add(new SkippedSeries(other.SeriesInstanceUid, other.Description, other.Files.Count,
                KernelRank(other) > KernelRank(ordered[0]) ? $"eligible, but kernel {other.Kernel ?? "-"} is less preferred than {ordered[0].Kernel}" : "eligible, but another series has more or thinner slices"));
        return new SeriesSelectionResult(ordered[0], skipped);
    }

    private static string? Check(List<DicomFile> files, SeriesSelectionRules rules, out SeriesCandidate? candidate, string uid, string? description)
    {
        candidate = null;
        var ds = files[0].Dataset;
        var modality = ds.GetString(DicomTags.Modality) ?? "";
        if (!rules.Modalities.Contains(modality, StringComparer.OrdinalIgnoreCase)) return $"rule modality: modality {(modality.Length == 0 ? "(none)" : modality)} is not one of {string.Join("/", rules.Modalities)}";
        if (!files.All(f => f.Dataset.Contains(DicomTags.PixelData))) return "some instances have no pixel data (not images)";

        var bodyPart = ds.GetString(DicomTags.BodyPartExamined);
        if (rules.BodyParts.Length > 0 && !string.IsNullOrEmpty(bodyPart) && !rules.BodyParts.Contains(bodyPart, StringComparer.OrdinalIgnoreCase))
            return $"rule body part: body part {bodyPart} is not one of {string.Join("/", rules.BodyParts)}";
        // Localizers inside an axial series are dropped at assembly; a series of localizers only is refused.
        var slices = files.Where(f => !VolumeAssembler.IsLocalizer(f)).ToList();
        if (slices.Count == 0) return "rule localizer: only localizer images (ImageType " + string.Join('\\', ds.GetStrings(DicomTags.ImageType)) + ")";
        var imageType = slices[0].Dataset.GetStrings(DicomTags.ImageType).Select(s => s.Trim().ToUpperInvariant()).ToArray();
        var typeText = string.Join('\\', imageType);
        if (imageType.FirstOrDefault(v => rules.RefusedImageTypes.Contains(v, StringComparer.OrdinalIgnoreCase)) is { } map)
            return $"rule derived image: ImageType {typeText} contains {map} (not plain slices of the anatomy)";
        if (rules.RequireOriginalPrimary && (imageType.Length < 2 || imageType[0] != "ORIGINAL" || imageType[1] != "PRIMARY"))
            return $"rule original primary: ImageType {typeText} is not ORIGINAL\\PRIMARY";
        if (rules.RequireAxial && imageType.Length >= 3 && imageType[2] is not ("AXIAL" or "VOLUME" or ""))
            return $"rule axial: ImageType value 3 is {imageType[2]}, not AXIAL (a reformat)";

        List<FrameInfo> frames;
        try { frames = VolumeAssembler.VolumeFrames(files.SelectMany(InstanceGeometry.Frames).ToList(), []); }
        catch (VolumeAssemblyException e) { return e.Message; }
        if (frames.Count == 1) return "rule single image: one image is not a volume (a localizer, key image or capture)";
        if (frames.Count < rules.MinSlices) return $"rule min slices: {frames.Count} slices, fewer than the {rules.MinSlices} required";
        if (rules.RequireAxial)
        {
            var normal = frames[0].Normal;
            var angle = Math.Acos(Math.Min(1, Math.Abs(normal.Z))) * 180 / Math.PI;
            if (angle > rules.MaxAxialAngleDeg) return $"rule axial: slice normal is {angle:0.#} degrees from the patient z axis (not axial; limit {rules.MaxAxialAngleDeg})";
        }
        var thickness = frames[0].SliceThickness;
        if (thickness is { } t && (t < rules.MinSliceThicknessMm || t > rules.MaxSliceThicknessMm))
            return FormattableString.Invariant($"rule slice thickness: slice thickness {t:0.##} mm is outside {rules.MinSliceThicknessMm:0.##}..{rules.MaxSliceThicknessMm:0.##} mm");
        var kernel = frames[0].File.Dataset.GetString(DicomTags.ConvolutionKernel);
        candidate = new SeriesCandidate(uid, modality, description, frames.Count, thickness, kernel, files);
        return null;
    }
}
