using System.Globalization;
using System.Text.Json;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Imaging.Nifti;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;

namespace MedAiNode.Analysis.Tests;

public class AnalyzeTests
{
    private static IReadOnlyList<ModelManifest> Models => ModelCatalog.LoadAll([Fixtures.ModelsDir]);

    private static IEnumerable<string> Files(string dir) => Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal);

    [Fact]
    public void AnalyzeNifti_WritesLabelMapOnTheInputGrid_AndMeasurements()
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var outDir = TestData.TempDir("analyze-nifti");
        var input = TestData.Path_("nifti", "example_ct_sm.nii.gz");
        var result = new AnalysisPipeline(cache).RunModel(NiftiIO.Read(input), AnalysisPipeline.ChooseModel(Models, null, null));
        Assert.Equal("ct-lung-quant", result.Model.Id);
        var o = AnalysisFiles.Write(result, outDir);
        Assert.Null(o.Seg); // NIfTI has no source images to put a SEG on
        var labels = NiftiIO.ReadLabels(o.LabelMap);
        var ct = NiftiIO.Read(input);
        Assert.Equal(ct.Dims, labels.Dims);
        // nibabel sees the same affine on both files.
        var r = Tool.Python("import sys, nibabel as nib, numpy as np; a = nib.load(sys.argv[1]).affine; b = nib.load(sys.argv[2]).affine; print(float(np.abs(a - b).max()))", input, o.LabelMap);
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.True(double.Parse(r.StdOut.Trim(), CultureInfo.InvariantCulture) < 1e-3);
        using var json = JsonDocument.Parse(File.ReadAllText(o.Measurements));
        var measured = json.RootElement.GetProperty("measurements").EnumerateArray().ToList();
        var laa = measured.Single(m => m.GetProperty("id").GetString() == "laa950");
        // Measurements are data: the concept and unit come from the manifest's declaration, with the threshold in the code.
        Assert.Equal("PCTBELOW-950", laa.GetProperty("concept").GetProperty("value").GetString());
        Assert.Equal("%", laa.GetProperty("unit").GetString());
        Assert.Equal(["Left lung", "Right lung"], laa.GetProperty("segments").EnumerateArray().Select(x => x.GetString()));
        Assert.Contains("Lung volume", AnalysisFiles.Format(result, o));

        // The group over both lungs is placed at the centroid of their union (the SR's group-level SCOORD3D POINT,
        // without which OHIF cannot open the SR): the voxel-weighted mean of the two lungs' centroids.
        var both = AnalysisPipeline.Groups(result).Single(g => g.SegmentNumber is null && g.Segments.Order().SequenceEqual([2, 3]));
        var lungs = result.LabelStatistics.Where(l => l.Label is 2 or 3).Select(l => l.Statistics).ToList();
        Assert.Equal(2, lungs.Count);
        Assert.All(lungs, l => Assert.True(l.VoxelCount > 0));
        var n = lungs.Sum(l => (double)l.VoxelCount);
        var expected = new[] { lungs.Sum(l => l.CentroidMm.X * l.VoxelCount) / n, lungs.Sum(l => l.CentroidMm.Y * l.VoxelCount) / n, lungs.Sum(l => l.CentroidMm.Z * l.VoxelCount) / n };
        Assert.NotNull(both.CentroidMm);
        for (var k = 0; k < 3; k++) Assert.Equal(expected[k], both.CentroidMm![k], 1e-6);
    }

    /// <summary>
    /// Issue 16: the results stage (SEG, SR, summary) reads the labels and the received frames, so the volume is
    /// garbage by then, and is collected and handed back to the system before the SEG is written. It was kept alive to
    /// the end of the analysis (150 MiB of int16 for a 300-slice chest, the largest thing held while the SEG was
    /// written). The series is the tilted head CT: regridded, so the SR is measured again on the received slices from
    /// the frames, not the volume.
    /// </summary>
    [Fact]
    public void The_results_stage_runs_with_the_volume_released()
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var lung = Models.Single(m => m.Id == "ct-lung-quant");
        lung.SeriesSelection!.BodyParts = [];
        WeakReference? values = null;
        bool? aliveAtResults = null;
        GCMemoryInfo? released = null;
        var pipeline = new AnalysisPipeline(cache)
        {
            Assembled = a => values = new WeakReference(a.Hu is { } hu ? hu.Data : a.Volume.Data),
            ResultsBegin = () =>
            {
                released = GC.GetGCMemoryInfo(GCKind.FullBlocking); // the pipeline's own collection, just before
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
                aliveAtResults = values!.IsAlive;
            },
        };
        var result = pipeline.Run(Files(TestData.Path_("ct", "ge-head-tilt-varspacing")), lung, new AnalysisOptions());
        Assert.NotNull(result.Seg);
        Assert.NotNull(values);
        Assert.True(aliveAtResults == false, $"the volume's values were {(aliveAtResults is null ? "never checked" : "still reachable")} when the results stage began");
        // And the memory went back to the system: a plain full collection freed the garbage but kept 40 MiB of it
        // committed here (163 MiB before a 300-slice chest's nodule search); the aggressive one compacts and decommits.
        var g = released!.Value;
        var free = g.TotalCommittedBytes - g.HeapSizeBytes;
        Assert.True(g.Compacted && free < 16L << 20,
            $"after the collection before the results: {free >> 20} MiB committed beyond the {g.HeapSizeBytes >> 20} MiB heap, compacted {g.Compacted}");
    }

    /// <summary>
    /// An instance received again while its study is analysed replaces its file (the store renames the new copy over
    /// it). The analysis reads the frames again after the model (the SR re-measured on the received slices, the summary
    /// images): from the new file at the old file's offsets those were other bytes, silently. It must fail as an I/O
    /// condition instead (the worker retries it, on the files as they are then), never finish with shifted pixels.
    /// </summary>
    [Fact]
    public void An_instance_received_again_during_the_analysis_fails_it_for_a_retry_never_gives_shifted_pixels()
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var lung = Models.Single(m => m.Id == "ct-lung-quant");
        lung.SeriesSelection!.BodyParts = [];
        var dir = TestData.TempDir("resent-during-analysis");
        foreach (var f in Directory.GetFiles(TestData.Path_("ct", "ge-head-tilt-varspacing"), "*.dcm"))
            File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        var resent = Path.Combine(dir, "14.dcm");
        var pipeline = new AnalysisPipeline(cache)
        {
            Assembled = _ =>
            {
                // The same instance again with a longer header (so its pixels sit further into the file), filed as the store does.
                var again = DicomFile.Open(resent);
                again.Dataset.Set(DicomTags.PatientComments, new string('x', 64));
                again.Save(resent + ".part");
                File.Move(resent + ".part", resent, overwrite: true);
            },
        };
        var e = Assert.Throws<DicomFileChangedException>(() => pipeline.Run(Files(dir), lung, new AnalysisOptions()));
        Assert.Contains("14.dcm", e.Message);
        // Run again, as the retry does, the analysis reads the new file and succeeds.
        Assert.NotNull(new AnalysisPipeline(cache).Run(Files(dir), lung, new AnalysisOptions()).Seg);
    }

    [Fact]
    public void AnalyzeDicomFolder_SelectsAssemblesAndSegmentsTheTiltedSeries()
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var head = TestData.Path_("ct", "ge-head-tilt-varspacing");
        // The lung model's rules refuse a head CT (Body Part Examined HEAD) and say why.
        var lung = Models.Single(m => m.Id == "ct-lung-quant");
        var refusal = Assert.Throws<AnalysisRejectedException>(() => new AnalysisPipeline(cache).Run(Files(head), lung, new AnalysisOptions()));
        Assert.Contains("body part HEAD", refusal.Message);
        // With the body-part rule lifted, the whole chain runs on the tilted, unevenly spaced series.
        lung.SeriesSelection!.BodyParts = [];
        var result = new AnalysisPipeline(cache).Run(Files(head), lung, new AnalysisOptions());
        Assert.NotNull(result.SeriesInstanceUid);
        Assert.Contains(result.Notes, n => n.Contains("gantry tilt"));
        Assert.True(result.Times.Select > 0 && result.Times.Assemble > 0 && result.Times.Results > 0, result.Times.ToString());
        var o = AnalysisFiles.Write(result, TestData.TempDir("analyze-dicom"));
        Assert.True(File.Exists(o.Seg) && File.Exists(o.Sr) && File.Exists(o.Measurements));
        var labels = NiftiIO.ReadLabels(o.LabelMap);
        Assert.Equal(512, labels.Dims.X);
        Assert.False(labels.Affine.IsOrthogonal()); // the label map keeps the sheared source geometry
        var body = result.LabelStatistics.Single(l => l.Label == 1).Statistics;
        Assert.InRange(body.VolumeMl, 500, 8000); // a head

        // The SR places each segment's measurements: its Long axis NUM is inferred from the two end points of the
        // diameter the pipeline measured (a POLYLINE of that length), its group holds the centroid POINT, both in
        // the source's Frame of Reference; dciodvfy and dsrdump accept it.
        var sr = result.Sr!.Dataset;
        var frame = result.Selection!.Chosen!.Files[0].Dataset.GetString(MedAiNode.Dicom.DicomTags.FrameOfReferenceUID);
        var groups = Items(Items(sr).Single(i => Meaning(i) == "Imaging Measurements")).Where(i => Meaning(i) == "Measurement Group").ToList();
        var bodyGroup = Items(groups.Single(g => Items(g).Any(i => Meaning(i) == "Tracking Identifier" && i.GetString(MedAiNode.Dicom.DicomTags.TextValue) == "Body")));
        var axis = bodyGroup.Single(i => Meaning(i) == "Long axis");
        var line = Items(axis).Single(i => i.GetString(MedAiNode.Dicom.DicomTags.ValueType) == "SCOORD3D");
        Assert.Equal("INFERRED FROM", line.GetString(MedAiNode.Dicom.DicomTags.RelationshipType));
        Assert.Equal("POLYLINE", line.GetString(MedAiNode.Dicom.DicomTags.GraphicType));
        var xyz = line.GetValues<float>(MedAiNode.Dicom.DicomTags.GraphicData);
        Assert.Equal(6, xyz.Length);
        Assert.Equal(frame, line.GetString(MedAiNode.Dicom.DicomTags.ReferencedFrameOfReferenceUID));
        var length = Math.Sqrt(Math.Pow(xyz[0] - xyz[3], 2) + Math.Pow(xyz[1] - xyz[4], 2) + Math.Pow(xyz[2] - xyz[5], 2));
        Assert.Equal(body.LongestDiameterMm, length, 0.01);
        var reported = double.Parse(axis.GetSequence(MedAiNode.Dicom.DicomTags.MeasuredValueSequence)!.Items[0].GetString(MedAiNode.Dicom.DicomTags.NumericValue)!, CultureInfo.InvariantCulture);
        Assert.True(Math.Abs(reported - length) <= 0.051, $"Long axis {reported} mm, polyline {length} mm");
        var centre = bodyGroup.Single(i => Meaning(i) == "Center of Mass");
        Assert.Equal("POINT", centre.GetString(MedAiNode.Dicom.DicomTags.GraphicType));
        Assert.Equal(frame, centre.GetString(MedAiNode.Dicom.DicomTags.ReferencedFrameOfReferenceUID));
        Assert.Equal(new[] { (float)body.CentroidMm.X, (float)body.CentroidMm.Y, (float)body.CentroidMm.Z }, centre.GetValues<float>(MedAiNode.Dicom.DicomTags.GraphicData));
        // Beside it, the body's long axis on its key slice (largest area) as a 2D line on that tilted source image, for
        // viewers that list only image coordinates: both ends on body pixels, its length the pixel-spaced distance.
        var planar = Items(groups.Single(g => Items(g).Any(i => Meaning(i) == "Comment" && i.GetString(MedAiNode.Dicom.DicomTags.TextValue)!.StartsWith("Body, volume ", StringComparison.Ordinal))));
        Assert.Equal(MedAiNode.Results.Reports.MeasurementReportOptions.CornerstoneLengthTrackingIdentifier, planar.Single(i => Meaning(i) == "Tracking Identifier").GetString(MedAiNode.Dicom.DicomTags.TextValue));
        var planarNum = planar.Single(i => Meaning(i) == "Long axis");
        var scoord = Items(planarNum).Single(i => i.GetString(MedAiNode.Dicom.DicomTags.ValueType) == "SCOORD");
        var keyUid = Items(scoord).Single().GetSequence(MedAiNode.Dicom.DicomTags.ReferencedSOPSequence)!.Items[0].GetString(MedAiNode.Dicom.DicomTags.ReferencedSOPInstanceUID)!;
        var map = MedAiNode.Results.Segmentation.SegmentationReader.Read(o.Seg);
        int Area(string uid) => map.GetLabels(uid).Count(v => v == 1);
        Assert.Equal(map.Instances.Max(Area), Area(keyUid));
        var key = Directory.EnumerateFiles(head, "*", SearchOption.AllDirectories).Select(f => { try { return MedAiNode.Results.SourceImage.Open(f); } catch (Exception) { return null; } })
            .First(i => i?.SopInstanceUid == keyUid)!;
        var cr = scoord.GetValues<float>(MedAiNode.Dicom.DicomTags.GraphicData);
        var keyLabels = map.GetLabels(keyUid);
        for (var e = 0; e < 2; e++)
            Assert.Equal(1, keyLabels[(int)(cr[2 * e + 1] - 0.5) * key.Columns + (int)(cr[2 * e] - 0.5)]);
        var inPlane = Math.Sqrt(Math.Pow((cr[0] - cr[2]) * key.PixelSpacing[1], 2) + Math.Pow((cr[1] - cr[3]) * key.PixelSpacing[0], 2));
        var planarValue = double.Parse(planarNum.GetSequence(MedAiNode.Dicom.DicomTags.MeasuredValueSequence)!.Items[0].GetString(MedAiNode.Dicom.DicomTags.NumericValue)!, CultureInfo.InvariantCulture);
        Assert.True(Math.Abs(planarValue - inPlane) <= 0.051 && planarValue <= body.LongestDiameterMm + 0.05, $"key-slice axis {planarValue} mm, line {inPlane} mm, 3D {body.LongestDiameterMm} mm");
        var dciodvfy = Tool.Run("dciodvfy", [o.Sr]);
        Assert.DoesNotContain("Error", dciodvfy.StdOut + dciodvfy.StdErr);
        var dump = Tool.Run("dsrdump", ["-Ee", "-Ec", o.Sr]);
        Assert.True(dump.ExitCode == 0 && !dump.StdErr.Contains("E:") && !dump.StdErr.Contains("Error"), dump.StdErr);
    }

    private static List<MedAiNode.Dicom.DicomDataset> Items(MedAiNode.Dicom.DicomDataset d) =>
        d.GetSequence(MedAiNode.Dicom.DicomTags.ContentSequence)?.Items.ToList() ?? [];

    private static string? Meaning(MedAiNode.Dicom.DicomDataset d) =>
        MedAiNode.Dicom.CodedConcept.FromSequence(d, MedAiNode.Dicom.DicomTags.ConceptNameCodeSequence)?.Meaning;

    [Fact]
    public void BadInputs_GiveClearErrors()
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var empty = TestData.TempDir("analyze-empty");
        File.WriteAllText(Path.Combine(empty, "notes.txt"), "not dicom");
        var lung = Models.Single(m => m.Id == "ct-lung-quant");
        Assert.Contains("no readable DICOM", Assert.Throws<AnalysisRejectedException>(() => new AnalysisPipeline(cache).Run(Files(empty), lung, new AnalysisOptions())).Message);
        Assert.Contains("Unknown model", Assert.Throws<ArgumentException>(() => AnalysisPipeline.ChooseModel(Models, "nope", null)).Message);
        Assert.Contains("No model for modality US", Assert.Throws<ArgumentException>(() => AnalysisPipeline.ChooseModel(Models, null, "US")).Message);
    }
}
