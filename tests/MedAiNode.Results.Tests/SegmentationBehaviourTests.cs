using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Results;
using MedAiNode.Results.Segmentation;

namespace MedAiNode.Results.Tests;

public class SegmentationBehaviourTests
{
    private static SegmentationResult Write(List<SourceImage> images, LabelMap labels, int segments, SegmentationOptions? options = null) =>
        SegmentationWriter.Create(SourceSeries.Create(images), Fixtures.Segments(segments), labels, Fixtures.Algorithm, options ?? new SegmentationOptions { UidSeed = "job" });

    [Fact]
    public void Same_seed_gives_same_uids_and_bytes_other_seed_or_none_gives_new_ones()
    {
        var images = Fixtures.SyntheticSeries(6, 20, 24);
        var labels = Fixtures.SyntheticLabels(images, 2);
        var when = new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var a = Write(images, labels, 2, new SegmentationOptions { UidSeed = "job-42", ContentDateTime = when });
        var b = Write(images, labels, 2, new SegmentationOptions { UidSeed = "job-42", ContentDateTime = when });
        var c = Write(images, labels, 2, new SegmentationOptions { UidSeed = "job-43", ContentDateTime = when });
        var d = Write(images, labels, 2, new SegmentationOptions { ContentDateTime = when });
        Assert.Equal(a.SopInstanceUid, b.SopInstanceUid);
        Assert.Equal(a.SeriesInstanceUid, b.SeriesInstanceUid);
        Assert.Equal(a.File.ToBytes(), b.File.ToBytes()); // a retried job resends the very same object
        Assert.NotEqual(a.SopInstanceUid, c.SopInstanceUid);
        Assert.NotEqual(a.SeriesInstanceUid, c.SeriesInstanceUid);
        Assert.NotEqual(a.SopInstanceUid, d.SopInstanceUid);
        Assert.NotEqual(a.SopInstanceUid, a.SeriesInstanceUid);
    }

    [Fact]
    public void Empty_frames_are_left_out_unless_asked_for()
    {
        var images = Fixtures.SyntheticSeries(8, 16, 16);
        var labels = new LabelMap();
        var slice = new byte[256];
        slice[5] = 1;
        slice[200] = 3;
        labels.Set(images[2].SopInstanceUid, slice);
        var sparse = Write(images, labels, 3);
        Assert.Equal([(1, 2), (3, 2)], sparse.Frames.Select(f => (f.SegmentNumber, f.SliceIndex)));
        var full = Write(images, labels, 3, new SegmentationOptions { IncludeEmptyFrames = true });
        Assert.Equal(3 * 8, full.Frames.Count);
        Assert.Equal("24", full.Dataset.GetString(DicomTags.NumberOfFrames));
        var back = SegmentationReader.Read(ReadBack(full));
        Assert.Equal(slice, back.GetLabels(images[2].SopInstanceUid));
        Assert.All(images.Where((_, i) => i != 2), img => Assert.All(back.GetLabels(img.SopInstanceUid), b => Assert.Equal(0, b)));
    }

    [Fact]
    public void Nothing_found_still_gives_a_valid_seg_with_one_empty_frame_per_segment()
    {
        var images = Fixtures.SyntheticSeries(4, 16, 16);
        var seg = Write(images, new LabelMap(), 2);
        Assert.Equal(2, seg.Frames.Count);
        Assert.Contains(seg.Warnings, w => w.Contains("No voxel", StringComparison.Ordinal));
        var path = Path.Combine(TestData.TempDir("seg-empty"), "seg.dcm");
        seg.File.Save(path);
        Dciodvfy.Check(path);
    }

    public static TheoryData<string, double[], double[]?> Geometries => new()
    {
        { "sagittal", [0, 1, 0, 0, 0, -1], null },
        { "coronal", [1, 0, 0, 0, 0, -1], null },
        { "oblique", [0.8660254, 0.5, 0, -0.3535534, 0.6123724, 0.7071068], null },
        // gantry tilt: slices stacked along z while the planes are tilted 20 degrees about x
        { "tilted", [1, 0, 0, 0, 0.9396926, -0.3420201], [0, 0, 1] },
    };

    [Theory]
    [MemberData(nameof(Geometries))]
    public void Frames_follow_each_source_plane_for_any_orientation(string name, double[] iop, double[]? step)
    {
        var images = Fixtures.SyntheticSeries(9, 30, 34, iop, 3.0, step, seed: name);
        var labels = Fixtures.SyntheticLabels(images, 3, seed: name.Length);
        var seg = Write(images, labels, 3);
        var path = Path.Combine(TestData.TempDir("seg-" + name), "seg.dcm");
        seg.File.Save(path);
        Dciodvfy.Check(path);

        var file = DicomFile.Open(path);
        var shared = file.Dataset.GetSequence(DicomTags.SharedFunctionalGroupsSequence)!.Items[0];
        var iopWritten = shared.GetSequence(DicomTags.PlaneOrientationSequence)!.Items[0].GetValues<double>(DicomTags.ImageOrientationPatient);
        Assert.Equal(iop, iopWritten, (x, y) => Math.Abs(x - y) < 1e-6);
        var perFrame = file.Dataset.GetSequence(DicomTags.PerFrameFunctionalGroupsSequence)!.Items;
        for (var f = 0; f < seg.Frames.Count; f++)
        {
            var src = images.Single(i => i.SopInstanceUid == seg.Frames[f].SourceSopInstanceUid);
            var ipp = perFrame[f].GetSequence(DicomTags.PlanePositionSequence)!.Items[0].GetValues<double>(DicomTags.ImagePositionPatient);
            Assert.Equal(src.ImagePositionPatient, ipp, (x, y) => Math.Abs(x - y) < 1e-6);
        }
        // frames without a Source Image reference still land on the right slice by their plane position
        foreach (var item in perFrame) item.Remove(DicomTags.DerivationImageSequence);
        var back = SegmentationReader.Read(file, SourceSeries.Create(images));
        foreach (var img in images)
            Assert.Equal(labels.TryGet(img.SopInstanceUid, out var l) ? l.ToArray() : new byte[30 * 34], back.GetLabels(img.SopInstanceUid));
    }

    [Fact]
    public void Uneven_spacing_leaves_out_spacing_between_slices_even_spacing_states_it()
    {
        var even = Fixtures.SyntheticSeries(5, 8, 8, spacing: 2.5);
        var seg = Write(even, Fixtures.SyntheticLabels(even, 1), 1);
        var pm = seg.Dataset.GetSequence(DicomTags.SharedFunctionalGroupsSequence)!.Items[0].GetSequence(DicomTags.PixelMeasuresSequence)!.Items[0];
        Assert.Equal(2.5, pm.GetValue<double>(DicomTags.SpacingBetweenSlices), 6);

        var uneven = Fixtures.SyntheticSeries(5, 8, 8, spacing: 2.5);
        var moved = uneven.Select((img, i) =>
        {
            var ds = img.Dataset.Clone();
            if (i == 3) ds.Set(DicomTags.ImagePositionPatient, DicomVR.DS, "-100", "-120", "59.1");
            return SourceImage.FromDataset(ds);
        }).ToList();
        var seg2 = Write(moved, Fixtures.SyntheticLabels(moved, 1), 1);
        var pm2 = seg2.Dataset.GetSequence(DicomTags.SharedFunctionalGroupsSequence)!.Items[0].GetSequence(DicomTags.PixelMeasuresSequence)!.Items[0];
        Assert.False(pm2.Contains(DicomTags.SpacingBetweenSlices));
    }

    [Fact]
    public void Header_carries_patient_study_frame_of_reference_and_every_source_instance()
    {
        var images = Fixtures.SyntheticSeries(7, 12, 12);
        var seg = Write(images, Fixtures.SyntheticLabels(images, 2), 2);
        var ds = ReadBack(seg).Dataset;
        var src = images[0].Dataset;
        foreach (var tag in new[] { DicomTags.PatientName, DicomTags.PatientID, DicomTags.PatientBirthDate, DicomTags.StudyInstanceUID, DicomTags.AccessionNumber, DicomTags.FrameOfReferenceUID, DicomTags.StudyID })
            Assert.Equal(src.GetString(tag), ds.GetString(tag));
        Assert.Equal("Müller^Jürgen", ds.GetString(DicomTags.PatientName));
        Assert.NotEqual(src.GetString(DicomTags.SeriesInstanceUID), ds.GetString(DicomTags.SeriesInstanceUID));
        Assert.Equal("9901", ds.GetString(DicomTags.SeriesNumber));
        Assert.Equal("MedAiNode", ds.GetString(DicomTags.Manufacturer));
        var refs = ds.GetSequence(DicomTags.ReferencedSeriesSequence)!.Items.Single();
        Assert.Equal(src.GetString(DicomTags.SeriesInstanceUID), refs.GetString(DicomTags.SeriesInstanceUID));
        Assert.Equal(images.Select(i => i.SopInstanceUid).Order(), refs.GetSequence(DicomTags.ReferencedInstanceSequence)!.Items.Select(i => i.GetString(DicomTags.ReferencedSOPInstanceUID)!).Order());
        var segItem = ds.GetSequence(DicomTags.SegmentSequence)!.Items[0];
        var alg = segItem.GetSequence(DicomTags.SegmentationAlgorithmIdentificationSequence)!.Items[0];
        Assert.Equal(Fixtures.Algorithm.Name, alg.GetString(DicomTags.AlgorithmName));
        Assert.Equal(Fixtures.Algorithm.Version, alg.GetString(DicomTags.AlgorithmVersion));
        Assert.Equal("model-sha256=" + new string('a', 64), alg.GetString(DicomTags.AlgorithmParameters));
        Assert.Equal("AUTOMATIC", segItem.GetString(DicomTags.SegmentAlgorithmType));
        Assert.Equal(3, segItem.GetValues<ushort>(DicomTags.RecommendedDisplayCIELabValue).Length);
    }

    [Fact]
    public void Bad_input_gets_a_clear_error()
    {
        var images = Fixtures.SyntheticSeries(3, 10, 10);
        var segs = Fixtures.Segments(2);
        var source = SourceSeries.Create(images);
        var bad = new LabelMap().Set(images[0].SopInstanceUid, Enumerable.Repeat((byte)7, 100).ToArray());
        var e = Assert.Throws<ResultsInputException>(() => SegmentationWriter.Create(source, segs, bad, Fixtures.Algorithm));
        Assert.Contains("value 7", e.Message);
        e = Assert.Throws<ResultsInputException>(() => SegmentationWriter.Create(source, segs, new LabelMap().Set(images[0].SopInstanceUid, new byte[99]), Fixtures.Algorithm));
        Assert.Contains("99 bytes", e.Message);
        e = Assert.Throws<ResultsInputException>(() => SegmentationWriter.Create(source, segs, new LabelMap().Set("1.2.3", new byte[100]), Fixtures.Algorithm));
        Assert.Contains("1.2.3", e.Message);
        e = Assert.Throws<ResultsInputException>(() => SegmentationWriter.Create(source, [segs[0], segs[0]], new LabelMap(), Fixtures.Algorithm));
        Assert.Contains("twice", e.Message);

        var other = Fixtures.SyntheticSeries(1, 10, 10, seed: "other-study");
        e = Assert.Throws<ResultsInputException>(() => SourceSeries.Create(images.Concat(other)));
        Assert.Contains("Study Instance UID", e.Message);
        var noGeometry = images[0].Dataset.Clone();
        noGeometry.Remove(DicomTags.ImageOrientationPatient);
        e = Assert.Throws<ResultsInputException>(() => SourceImage.FromDataset(noGeometry));
        Assert.Contains("Orientation", e.Message);
        Assert.DoesNotContain("Müller", e.Message); // messages carry UIDs, never patient data
    }

    [Fact]
    public void Options_are_validated_with_the_key_named()
    {
        var images = Fixtures.SyntheticSeries(2, 8, 8);
        var e = Assert.Throws<ArgumentException>(() => Write(images, new LabelMap(), 1, new SegmentationOptions { ContentLabel = "lower case" }));
        Assert.Contains("Results:Segmentation:ContentLabel", e.Message);
        e = Assert.Throws<ArgumentException>(() => Write(images, new LabelMap(), 1, new SegmentationOptions { SeriesNumber = -1 }));
        Assert.Contains("Results:Segmentation:SeriesNumber", e.Message);
        e = Assert.Throws<ArgumentException>(() => Write(images, new LabelMap(), 1, new SegmentationOptions { UidRoot = "1.2.abc" }));
        Assert.Contains("Results:Segmentation:UidRoot", e.Message);
        e = Assert.Throws<ArgumentException>(() => Write(images, new LabelMap(), 1, new SegmentationOptions { Equipment = new EquipmentOptions { Manufacturer = "" } }));
        Assert.Contains("Results:Segmentation:Equipment:Manufacturer", e.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(1000)]
    [InlineData(262144)]
    public void Bit_packing_is_lsb_first_like_ps3_5(int length)
    {
        var rng = new Random(length);
        var map = new byte[length];
        for (var i = 0; i < length; i++) map[i] = (byte)rng.Next(4);
        var bits = new byte[(length + 7) / 8];
        SegmentationWriter.PackEquals(map, 2, bits);
        for (var i = 0; i < length; i++) Assert.Equal(map[i] == 2, (bits[i >> 3] >> (i & 7) & 1) == 1);
    }

    [Fact]
    public void Cielab_conversion_matches_known_values()
    {
        Assert.Equal(new DicomCieLab(65535, 32896, 32896), DicomCieLab.FromRgb(255, 255, 255));
        Assert.Equal(new DicomCieLab(0, 32896, 32896), DicomCieLab.FromRgb(0, 0, 0));
        var red = DicomCieLab.FromRgb(255, 0, 0); // L* 53.24, a* 80.09, b* 67.20
        Assert.InRange(red.L * 100.0 / 65535, 53.0, 53.5);
        Assert.InRange(red.A * 255.0 / 65535 - 128, 79.8, 80.4);
        Assert.InRange(red.B * 255.0 / 65535 - 128, 66.9, 67.5);
    }

    private static DicomFile ReadBack(SegmentationResult seg) => DicomFile.Read(new MemoryStream(seg.File.ToBytes()));
}

public class LabelScanTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void Labels_present_finds_every_value_in_runs_mixes_and_tails(int pattern)
    {
        var rng = new Random(pattern);
        var map = new byte[4099];
        for (var i = 0; i < map.Length; i++)
            map[i] = pattern switch
            {
                0 => (byte)(i / 700 % 3 == 0 ? 0 : 1 + i / 700),   // long runs of one label
                1 => (byte)rng.Next(256),                          // every kind of mix
                _ => (byte)(i % 97 == 0 ? 200 : 0),                // sparse single voxels
            };
        var present = new bool[256];
        MedAiNode.Results.Segmentation.SegmentationWriter.LabelsPresent(map, present);
        var expected = new bool[256];
        foreach (var b in map) expected[b] = true;
        expected[0] = present[0]; // background is not tracked
        Assert.Equal(expected, present);
    }
}

public class PerFrameGeometryTests
{
    [Fact]
    public void Slices_that_differ_in_orientation_or_spacing_get_per_frame_groups()
    {
        var images = Fixtures.SyntheticSeries(6, 20, 22).Select((img, i) =>
        {
            var ds = img.Dataset.Clone();
            if (i == 4)
            {
                ds.Set(DicomTags.ImageOrientationPatient, DicomVR.DS, "1", "0", "0", "0", "0.9998477", "-0.0174524"); // 1 degree off
                ds.Set(DicomTags.PixelSpacing, DicomVR.DS, "0.8", "0.8");
            }
            return SourceImage.FromDataset(ds);
        }).ToList();
        var labels = Fixtures.SyntheticLabels(images, 2);
        var seg = SegmentationWriter.Create(SourceSeries.Create(images), Fixtures.Segments(2), labels, Fixtures.Algorithm, new SegmentationOptions { UidSeed = "pf" });
        var shared = seg.Dataset.GetSequence(DicomTags.SharedFunctionalGroupsSequence)!.Items[0];
        Assert.False(shared.Contains(DicomTags.PlaneOrientationSequence));
        Assert.False(shared.Contains(DicomTags.PixelMeasuresSequence));
        var perFrame = seg.Dataset.GetSequence(DicomTags.PerFrameFunctionalGroupsSequence)!.Items;
        for (var f = 0; f < perFrame.Count; f++)
        {
            var src = images.Single(i => i.SopInstanceUid == seg.Frames[f].SourceSopInstanceUid);
            Assert.Equal(src.ImageOrientationPatient, perFrame[f].GetSequence(DicomTags.PlaneOrientationSequence)!.Items[0].GetValues<double>(DicomTags.ImageOrientationPatient));
            Assert.Equal(src.PixelSpacing, perFrame[f].GetSequence(DicomTags.PixelMeasuresSequence)!.Items[0].GetValues<double>(DicomTags.PixelSpacing));
        }
        var path = Path.Combine(TestData.TempDir("seg-perframe"), "seg.dcm");
        seg.File.Save(path);
        Dciodvfy.Check(path);
        var back = SegmentationReader.Read(path);
        foreach (var img in images)
            Assert.Equal(labels.TryGet(img.SopInstanceUid, out var l) ? l.ToArray() : new byte[20 * 22], back.GetLabels(img.SopInstanceUid));
    }
}
