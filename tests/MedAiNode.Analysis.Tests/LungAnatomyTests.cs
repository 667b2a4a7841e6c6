using MedAiNode.Dicom.IO;
using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Nifti;
using MedAiNode.Imaging.Series;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;

namespace MedAiNode.Analysis.Tests;

/// <summary>
/// The lung analysis on real CT it was not tuned on, checked against marks nobody here wrote: LIDC-IDRI-0001's four
/// radiologists' nodule outlines, Lung-PET-CT-Dx A0001's tumour boxes, TotalSegmentator's lungs; plus an abdomen and a
/// head, where no lung may be found.
/// </summary>
public class LungAnatomyTests
{
    private static ModelManifest Lung(bool anyBodyPart = false)
    {
        var m = ModelManifest.Load(Path.Combine(Fixtures.ModelsDir, "ct-lung-quant", "manifest.json"));
        // Content must decide, not Body Part Examined: lift the rule to show what the content gives.
        if (anyBodyPart) m.SeriesSelection!.BodyParts = [];
        if (anyBodyPart) m.SeriesSelection!.MaxSliceThicknessMm = 10;
        return m;
    }

    private static AnalysisResult Run(string series, ModelManifest manifest)
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        return new AnalysisPipeline(cache, MedAiNode.Dicom.Codecs.DicomCodecRegistry.CreateDefault())
            .Run(Directory.GetFiles(TestData.Path_("ct", series), "*.dcm"), manifest, new AnalysisOptions());
    }

    /// <summary>Each image's geometry by SOP Instance UID, to take reader marks from pixels to patient coordinates.</summary>
    private static Dictionary<string, FrameInfo> Geometry(string series) =>
        Directory.GetFiles(TestData.Path_("ct", series), "*.dcm").SelectMany(f => InstanceGeometry.Frames(DicomFile.Open(f))).ToDictionary(f => f.SopInstanceUid);

    private static byte LabelAt(LabelVolume labels, Vec3 patient)
    {
        var ijk = labels.Affine.PatientToIndex(patient);
        int i = (int)Math.Round(ijk.X), j = (int)Math.Round(ijk.Y), k = (int)Math.Round(ijk.Z);
        return labels.Dims.Contains(i, j, k) ? labels.Data[labels.Dims.Index(i, j, k)] : (byte)255;
    }

    private static bool IsLung(byte label) => label is 2 or 3;

    /// <summary>Share of lung voxels inside the body's outline, slice by slice (the body's filled outline: label map non-zero, holes filled).</summary>
    private static double LungInsideBody(LabelVolume labels)
    {
        var body = new byte[labels.Data.Length];
        for (var i = 0; i < body.Length; i++) body[i] = labels.Data[i] != 0 ? (byte)1 : (byte)0;
        MedAiNode.Imaging.Morphology.BoxMorphology.FillHoles2D(body, labels.Dims);
        long lung = 0, inside = 0;
        for (var i = 0; i < body.Length; i++)
            if (IsLung(labels.Data[i])) { lung++; if (body[i] != 0) inside++; }
        return lung == 0 ? 1 : (double)inside / lung;
    }

    private static double Measured(AnalysisResult r, string id) => r.Measurements.Single(m => m.Id == id).Value;

    [Fact]
    public void Lidc_0001_lungs_are_adult_sized_inside_the_body_and_hold_every_nodule_two_readers_outlined()
    {
        var result = Run("lidc-idri-0001-chest", Lung());
        var volume = Measured(result, "lungVolume");
        Console.WriteLine($"LIDC-IDRI-0001: lungs {volume:0} mL, airway {result.Anatomy!.AirwayMl:0} mL");
        Assert.InRange(volume, 2500, 8000);
        Assert.True(LungInsideBody(result.Labels) >= 0.99);

        var geometry = Geometry("lidc-idri-0001-chest");
        var outlined = ReaderMarks.ReadLidc(TestData.Path_("ct", "lidc-idri-0001-chest-nodules.xml")).Where(n => n.Outlined)
            .Select(n => (n.Reader, Centre: Centroid(n.Points.Select(p => geometry[p.SopInstanceUid].PixelToPatient(p.Column, p.Row)))))
            .ToList();
        // Readers' outlines of one nodule: centroids within 15 mm of each other.
        var nodules = new List<List<(int Reader, Vec3 Centre)>>();
        foreach (var mark in outlined)
        {
            var same = nodules.FirstOrDefault(g => (g[0].Centre - mark.Centre).Length < 15);
            if (same is null) nodules.Add([mark]); else same.Add(mark);
        }
        var agreed = nodules.Where(g => g.Select(m => m.Reader).Distinct().Count() >= 2).ToList();
        Assert.NotEmpty(agreed); // LIDC-IDRI-0001 has a nodule all four readers outlined
        foreach (var mark in agreed.SelectMany(g => g))
            Assert.True(IsLung(LabelAt(result.Labels, mark.Centre)) || LabelAt(result.Labels, mark.Centre) == NoduleLabel,
                $"reader {mark.Reader}'s nodule at {mark.Centre} is labelled {LabelAt(result.Labels, mark.Centre)}, not lung or nodule");

        // Nodule detection: the nodule the readers agree on is found, among few candidates, each measured and in a lung.
        var candidates = result.Lesions.Where(l => l.Label == NoduleLabel).ToList();
        Assert.InRange(candidates.Count, 1, 8);
        foreach (var nodule in agreed)
        {
            var centre = Centroid(nodule.Select(m => m.Centre));
            var hit = candidates.FindIndex(c => (c.CentroidMm - centre).Length < 10);
            Assert.True(hit >= 0, $"no candidate within 10 mm of the readers' nodule at {centre}: " + string.Join("; ", candidates.Select(c => c.CentroidMm)));
            Assert.True(hit < 3, $"the readers' nodule is candidate {hit + 1}");
            Assert.InRange(candidates[hit].LongestDiameterMm, 10, 40); // readers outlined it 27 to 36 mm across in plane
            Assert.Equal(NoduleLabel, LabelAt(result.Labels, candidates[hit].CentroidMm));
        }
        Assert.All(candidates, c => Assert.InRange(c.MeanProbability, 0, 1));
        var confidences = result.Measurements.Where(m => m.Id == "lesionConfidence").Select(m => m.Value).ToList();
        Assert.Equal(candidates.Count, confidences.Count);
        Assert.Equal(confidences.OrderDescending(), confidences); // the SR lists the most confident first
    }

    private const byte NoduleLabel = 5;

    [Fact]
    public void Lung_pet_ct_dx_A0001_tumour_lies_inside_the_left_lung()
    {
        var result = Run("lungpetctdx-a0001-chest", Lung());
        Console.WriteLine($"Lung-PET-CT-Dx A0001: lungs {Measured(result, "lungVolume"):0} mL");
        Assert.InRange(Measured(result, "lungVolume"), 2500, 8000);
        Assert.True(LungInsideBody(result.Labels) >= 0.99);
        var geometry = Geometry("lungpetctdx-a0001-chest");
        var boxes = ReaderMarks.ReadVocBoxes(TestData.Path_("ct", "lungpetctdx-a0001-chest-boxes"));
        Assert.Equal(11, boxes.Count);
        foreach (var b in boxes)
        {
            var centre = geometry[b.SopInstanceUid].PixelToPatient((b.XMin + b.XMax) / 2.0, (b.YMin + b.YMax) / 2.0);
            // The adenocarcinoma is in the left upper lobe: label 2 (left lung), not body or the right lung.
            Assert.True(LabelAt(result.Labels, centre) == 2, $"tumour box centre at {centre} is labelled {LabelAt(result.Labels, centre)}");
        }
    }

    [Fact]
    public void An_abdomen_with_lung_bases_agrees_with_TotalSegmentator_and_has_no_lung_in_bowel_or_outside_the_body()
    {
        var manifest = Lung();
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var result = new AnalysisPipeline(cache).RunModel(NiftiIO.Read(TestData.Path_("nifti", "example_ct_sm.nii.gz")), manifest);
        var reference = NiftiIO.ReadLabels(TestData.Path_("nifti", "example_seg.nii.gz"));
        long both = 0, ours = 0, theirs = 0, inGut = 0;
        for (var i = 0; i < reference.Data.Length; i++)
        {
            var o = IsLung(result.Labels.Data[i]);
            var t = reference.Data[i] is >= 10 and <= 14; // TotalSegmentator v2 lung lobes
            if (o) ours++;
            if (t) theirs++;
            if (o && t) both++;
            if (o && reference.Data[i] is 6 or 18 or 19 or 20) inGut++; // stomach, small bowel, duodenum, colon
        }
        var dice = 2.0 * both / (ours + theirs);
        Console.WriteLine($"example_ct_sm: lung Dice {dice:0.000}, {inGut} lung voxels in bowel or stomach");
        Assert.True(dice >= 0.85, $"Dice {dice:0.000}");
        Assert.True(inGut <= 0.01 * ours, $"{inGut} of {ours} lung voxels lie in TotalSegmentator's bowel or stomach");
        Assert.True(LungInsideBody(result.Labels) >= 0.99);
    }

    [Fact]
    public void The_j2k_abdomen_without_lung_bases_gets_no_lung()
    {
        var result = Run("totalseg-abdomen-j2k", Lung(anyBodyPart: true));
        Assert.False(result.Anatomy!.LungInFieldOfView);
        Assert.DoesNotContain(result.Labels.Data, l => IsLung(l));
        Assert.Contains(result.Notes, n => n.StartsWith("No lung in the field of view"));
        // TotalSegmentator agrees: its reference has no lung voxel in this series.
        Assert.DoesNotContain(NiftiIO.ReadLabels(TestData.Path_("ct", "totalseg-abdomen-j2k-reference-seg.nii.gz")).Data, l => l is >= 10 and <= 14);
    }

    [Fact]
    public void A_head_ct_gets_no_lung_segments_whatever_its_body_part_says()
    {
        var result = Run("ge-head-tilt-varspacing", Lung(anyBodyPart: true));
        Assert.False(result.Anatomy!.LungInFieldOfView);
        Assert.DoesNotContain(result.Labels.Data, l => l is 2 or 3 or 4);
        Assert.Contains(result.Notes, n => n.StartsWith("No lung in the field of view"));
        // The body is the head only: no head-rest or table, so a few litres at most.
        Assert.InRange(result.Anatomy.BodyMl, 1500, 6000);
    }

    private static Vec3 Centroid(IEnumerable<Vec3> points)
    {
        var list = points.ToList();
        return new Vec3(list.Average(p => p.X), list.Average(p => p.Y), list.Average(p => p.Z));
    }
}
