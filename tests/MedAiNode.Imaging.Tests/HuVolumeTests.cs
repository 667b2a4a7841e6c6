using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Morphology;
using MedAiNode.Imaging.Resampling;
using MedAiNode.Imaging.Series;
using MedAiNode.Imaging.Volumes;

namespace MedAiNode.Imaging.Tests;

/// <summary>A CT series is held as int16 HU when that loses nothing, and as float otherwise; the int16 values are the
/// floats the decoder gives, and the stages that read them give what they give on floats.</summary>
public class HuVolumeTests
{
    [Fact]
    public void A_real_chest_ct_is_held_as_int16_with_exactly_the_decoded_values()
    {
        var files = Directory.GetFiles(TestData.Path_("ct", "lidc-idri-0001-chest"), "*.dcm").Select(p => DicomFile.Open(p)).ToList();
        var a = VolumeAssembler.Assemble(files);
        var hu = Assert.IsType<HuVolume>(a.Hu);
        Assert.Equal(a.Frames.Count, hu.Slices.Count);
        var plane = new float[hu.Dims.X * hu.Dims.Y];
        for (var z = 0; z < hu.Dims.Z; z++)
        {
            VolumeAssembler.DecodeInto(a.Frames[z], plane);
            var slice = hu.Slice(z);
            for (var i = 0; i < plane.Length; i++)
                if (slice[i] != plane[i]) Assert.Fail($"slice {z} pixel {i}: int16 {slice[i]}, decoded {plane[i]}");
        }
        // The float view (made only on request) holds the same values, grid and source slices.
        var floats = a.Volume;
        Assert.Equal(hu.Dims, floats.Dims);
        Assert.Equal(hu.Affine, floats.Affine);
        Assert.Same(hu.Slices, floats.Slices);
        Assert.Equal(hu.Range(), floats.Range());
        Assert.True(hu.Range().Min < -1000 && hu.Range().Max > 1000, $"range {hu.Range()}");
    }

    /// <summary>The analysis reads back only the box of the input the nodule search needs: the box's values are the
    /// assembled volume's at the same grid indices, and its grid sits where that box lies in the patient.</summary>
    [Fact]
    public void A_box_read_again_from_the_frames_holds_the_assembled_values_of_that_box()
    {
        var files = Directory.GetFiles(TestData.Path_("ct", "lidc-idri-0001-chest"), "*.dcm").Select(p => DicomFile.Open(p)).ToList();
        var a = VolumeAssembler.Assemble(files);
        var hu = Assert.IsType<HuVolume>(a.Hu);
        var box = new VoxelBox(101, 77, 30, new Dims(250, 190, 61));
        var w = VolumeAssembler.DecodeAgain(a.Frames, hu.Dims, hu.Affine, box);
        Assert.Equal(box, w.Box);
        Assert.Equal(box.Size, w.Values.Dims);
        Assert.True((w.Values.Affine.IndexToPatient(0, 0, 0) - hu.Affine.IndexToPatient(box.X, box.Y, box.Z)).Length < 1e-9);
        var differ = 0;
        for (var k = 0; k < box.Size.Z; k++)
        for (var j = 0; j < box.Size.Y; j++)
        for (var i = 0; i < box.Size.X; i++)
        {
            var expected = hu[box.X + i, box.Y + j, box.Z + k];
            if (w.Values[i, j, k] != expected) Assert.Fail($"box voxel ({i}, {j}, {k}): {w.Values[i, j, k]}, assembled {expected}");
            if (expected != hu[i, j, k]) differ++;
        }
        Assert.True(differ > box.Size.Count / 2, "the box's values are not the corner's: an offset that is ignored would show");
        Assert.Throws<ArgumentOutOfRangeException>(() => VolumeAssembler.DecodeAgain(a.Frames, hu.Dims, hu.Affine, box with { Z = hu.Dims.Z - 10 }));

        // Whole planes (the measurements' reads) are decoded straight into a buffer the caller reuses, planes 40-44 at its start.
        var plane = hu.Dims.X * hu.Dims.Y;
        var into = new short[6 * plane];
        Array.Fill(into, (short)12345);
        new FrameStackReader(a.Frames, hu.Dims, hu.Affine).Read(new VoxelBox(0, 0, 40, hu.Dims with { Z = 5 }), into);
        Assert.Equal(hu.Data.AsSpan(40 * plane, 5 * plane).ToArray(), into.AsSpan(0, 5 * plane).ToArray());
        Assert.All(into.AsSpan(5 * plane).ToArray(), v => Assert.Equal(12345, v));
        Assert.Throws<ArgumentException>(() => VolumeAssembler.DecodeAgain(a.Frames, hu.Dims, new VoxelBox(0, 0, 40, hu.Dims with { Z = 7 }), into));

        // A volume held in memory copies the same boxes: whole planes at once, a smaller box row by row.
        Array.Fill(into, (short)12345);
        HeldVolumeReader<short>.CopyBox(hu, new VoxelBox(0, 0, 40, hu.Dims with { Z = 5 }), into);
        Assert.Equal(hu.Data.AsSpan(40 * plane, 5 * plane).ToArray(), into.AsSpan(0, 5 * plane).ToArray());
        Assert.All(into.AsSpan(5 * plane).ToArray(), v => Assert.Equal(12345, v));
        var held = new short[box.Size.Count];
        HeldVolumeReader<short>.CopyBox(hu, box, held);
        Assert.Equal(w.Values.Data, held);

        // Reading a frame again leaves next to no garbage: its bytes go through a pooled buffer, not an array of their own
        // (512 KB per slice, 130 MiB at once when the box around a chest's lungs was read back). Counted on this thread
        // alone (other tests allocate in parallel), frame by frame as each worker of a box read decodes them.
        VolumeAssembler.DecodeInto(a.Frames[0], into.AsSpan(0, plane)); // the pools filled
        var before = GC.GetAllocatedBytesForCurrentThread();
        foreach (var f in a.Frames) Assert.True(VolumeAssembler.DecodeInto(f, into.AsSpan(0, plane)));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        var frameBytes = (long)a.Frames.Count * plane * 2;
        Assert.True(allocated < frameBytes / 20, $"{allocated} bytes allocated to read {frameBytes} bytes of frames");
    }

    [Fact]
    public void One_slice_with_fractional_values_makes_the_whole_volume_float_and_loses_nothing()
    {
        var (row, col) = Synthetic.Oblique(0, 0, 0);
        // Slope 0.5: whole HU everywhere but slice 2, which holds halves.
        var files = Synthetic.Stack(new Vec3(0, 0, 0), row, col, new Vec3(0, 0, 1), [0, 1, 2, 3, 4], 1, 16,
            p => Math.Round(p.X * 7 - p.Y * 3) + (p.Z == 2 ? 0.5 : 0));
        var whole = Synthetic.Stack(new Vec3(0, 0, 0), row, col, new Vec3(0, 0, 1), [0, 1, 2, 3, 4], 1, 16, p => Math.Round(p.X * 7 - p.Y * 3));
        Assert.NotNull(VolumeAssembler.Assemble(whole).Hu);

        var a = VolumeAssembler.Assemble(files);
        Assert.Null(a.Hu);
        var v = a.Volume;
        var plane = new float[16 * 16];
        for (var z = 0; z < 5; z++)
        {
            VolumeAssembler.DecodeInto(a.Frames[z], plane);
            Assert.Equal(plane, v.Slice(z).ToArray());
        }
        Assert.Equal(0.5f, v[3, 4, 2] - MathF.Floor(v[3, 4, 2]));
        Assert.Equal(7f * 3 - 3 * 4, v[3, 4, 1]);
        Assert.Equal(5, v.Slices.Count);
    }

    /// <summary>A series that is not whole anywhere (slope 0.5 and odd stored values) is decoded about once, not once as
    /// int16 and again as float: the int16 attempt stops at the first frame that fails.</summary>
    [Fact]
    public void A_series_with_fractions_everywhere_is_not_decoded_twice()
    {
        var (row, col) = Synthetic.Oblique(0, 0, 0);
        var t = Enumerable.Range(0, 40).Select(i => (double)i).ToArray();
        var files = Synthetic.Stack(new Vec3(0, 0, 0), row, col, new Vec3(0, 0, 1), t, 1, 32, p => Math.Round(p.X) + 0.5);
        var counting = new CountingDecoder();
        var a = VolumeAssembler.Assemble(files, decoder: counting);
        Assert.Null(a.Hu);
        Assert.Equal(0.5f, a.Volume[7, 3, 20] - 7);
        // 40 frames once each, plus the few that were already being decoded as int16 when the first one failed.
        Assert.True(counting.Calls < 2 * t.Length, $"{counting.Calls} frame decodes for {t.Length} frames");
    }

    private sealed class CountingDecoder : IDicomFrameDecoder
    {
        public int Calls;
        public bool CanDecode(DicomTransferSyntax ts) => NativeFrameDecoder.Instance.CanDecode(ts);
        public ReadOnlyMemory<byte> DecodeFrame(DicomDataset ds, DicomTransferSyntax ts, int frameIndex)
        {
            Interlocked.Increment(ref Calls);
            return NativeFrameDecoder.Instance.DecodeFrame(ds, ts, frameIndex);
        }
    }

    [Fact]
    public void Int16_decoding_refuses_values_outside_int16_and_fractions()
    {
        var (row, col) = Synthetic.Oblique(0, 0, 0);
        var fractional = Synthetic.Slice(new Vec3(0, 0, 0), row, col, 1, 4, 4, p => p.X + 0.5);
        var frame = InstanceGeometry.Frames(fractional).Single();
        Assert.False(VolumeAssembler.DecodeInto(frame, new short[16]));
        var fine = InstanceGeometry.Frames(Synthetic.Slice(new Vec3(0, 0, 0), row, col, 1, 4, 4, p => -1024 + p.X)).Single();
        var dst = new short[16];
        Assert.True(VolumeAssembler.DecodeInto(fine, dst));
        Assert.Equal(new short[] { -1024, -1023, -1022, -1021 }, dst[..4]);
    }

    /// <summary>The stages that read the input volume: resampling, reorientation, region statistics, body region.</summary>
    /// <summary>A nodule is measured on the box of values around it that the analysis reads back, not on the whole
    /// input: the same statistics to the bit; a box that misses one of its voxels is refused, not read out of place.</summary>
    [Fact]
    public void A_region_measured_on_the_box_of_values_around_it_equals_the_region_measured_on_the_whole_volume()
    {
        var dims = new Dims(40, 30, 20);
        var affine = new Affine(new Vec3(-20, 15, 30), new Vec3(0.7, 0.05, 0), new Vec3(0, -0.7, 0.1), new Vec3(0.02, 0, -2.5));
        var rng = new Random(5);
        var hu = new HuVolume(dims, affine, Enumerable.Range(0, (int)dims.Count).Select(_ => (short)rng.Next(-1000, 400)).ToArray());
        var labels = new LabelVolume(dims, affine);
        var ball = new List<long>();
        for (var z = 0; z < dims.Z; z++)
        for (var y = 0; y < dims.Y; y++)
        for (var x = 0; x < dims.X; x++)
            if ((x - 20) * (x - 20) + (y - 15) * (y - 15) + (z - 10) * (z - 10) <= 25) ball.Add(dims.Index(x, y, z));
        var box = VoxelBox.Enclosing(dims, ball);
        Assert.Equal(new VoxelBox(15, 10, 5, new Dims(11, 11, 11)), box);

        var whole = RegionMeasurements.Measure(labels, ball, hu.Data);
        Assert.NotNull(whole.MeanValue);
        Assert.Equal(whole, RegionMeasurements.Measure(labels, ball, Cut(box)));
        var short1 = box with { Size = box.Size with { Z = box.Size.Z - 1 } };
        Assert.Throws<ArgumentException>(() => RegionMeasurements.Measure(labels, ball, Cut(short1)));

        VoxelWindow<short> Cut(VoxelBox b)
        {
            var v = new HuVolume(b.Size, affine);
            for (var k = 0; k < b.Size.Z; k++)
            for (var j = 0; j < b.Size.Y; j++)
            for (var i = 0; i < b.Size.X; i++)
                v.Data[b.Size.Index(i, j, k)] = hu[b.X + i, b.Y + j, b.Z + k];
            return new VoxelWindow<short>(v, b);
        }
    }

    [Fact]
    public void Stages_give_the_same_results_on_int16_as_on_the_same_values_as_float()
    {
        var dims = new Dims(37, 29, 23);
        var affine = new Affine(new Vec3(-20, 15, 30), new Vec3(0.7, 0.05, 0), new Vec3(0, -0.7, 0.1), new Vec3(0.02, 0, -2.5));
        var rng = new Random(11);
        var shorts = new short[dims.Count];
        for (var i = 0; i < shorts.Length; i++) shorts[i] = (short)rng.Next(short.MinValue, short.MaxValue + 1);
        shorts[5] = short.MinValue; shorts[6] = short.MaxValue;
        var hu = new HuVolume(dims, affine, shorts);
        var floats = hu.ToVolume();
        Assert.Equal((-32768f, 32767f), hu.Range());
        Assert.Equal(floats.Range(), hu.Range());

        var (gd, ga) = Resampler.OrthogonalGrid(dims, affine, new Vec3(1.3, 1.1, 1.7));
        Assert.Equal(Resampler.Resample(floats, gd, ga, -1024f).Data, Resampler.ResampleScalar(hu, gd, ga, -1024f).Data);
        Assert.Equal(Reorientation.Reorient(floats, "RAI").Data, Reorientation.Reorient(hu, "RAI").Data.Select(x => (float)x).ToArray());

        var labels = new LabelVolume(dims, affine);
        for (var i = 0; i < labels.Data.Length; i++) labels.Data[i] = (byte)(i * 7 % 13 % 4);
        byte[] asked = [1, 2, 3];
        var voxels = Enumerable.Range(0, 500).Select(i => (long)i * 31).ToHashSet();
        Assert.Equal(RegionMeasurements.Measure(labels, voxels, floats.Data), RegionMeasurements.Measure(labels, voxels, hu.Data));

        // HU-like values for the body-region evidence (air, lung, soft tissue, bone).
        for (var i = 0; i < shorts.Length; i++) shorts[i] = (short)(new[] { -1000, -800, 40, 700 }[rng.Next(4)]);
        Assert.Equal(BodyRegion.Measure(hu.ToVolume()), BodyRegion.Measure(hu));
    }
}
