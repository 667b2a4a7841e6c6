using System.Globalization;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Resampling;
using MedAiNode.Imaging.Series;
using MedAiNode.Imaging.Volumes;

namespace MedAiNode.Imaging.Tests;

public class VolumeAssemblyTests
{
    private static List<DicomFile> Load(string folder) =>
        Directory.GetFiles(TestData.Path_("ct", folder), "*.dcm").Select(p => DicomFile.Open(p)).ToList();

    private static Vec3 SourcePixel(SliceReference s, FrameSpacing sp, double c, double r) =>
        s.ImagePositionPatient + s.RowDirection * (c * sp.Col) + s.ColumnDirection * (r * sp.Row);

    private readonly record struct FrameSpacing(double Row, double Col);

    /// <summary>Source pixel -> volume -> orthogonal resample -> volume -> source slice, within 0.01 mm.</summary>
    private static void AssertRoundTrip(Volume vol, Volume ortho, FrameSpacing sp)
    {
        double worst = 0;
        foreach (var s in vol.Slices)
        foreach (var (c, r) in new[] { (0.0, 0.0), (vol.Dims.X - 1.0, 0.0), (17.0, 300.0), (vol.Dims.X / 2.0, vol.Dims.Y - 1.0) })
        {
            var p = SourcePixel(s, sp, c, r);
            var idx = vol.PatientToIndex(p);
            Assert.Equal(c, idx.X, 4);
            Assert.Equal(r, idx.Y, 4);
            Assert.Equal(s.VolumeZ, idx.Z, 4);
            var q = ortho.PatientToIndex(vol.IndexToPatient(idx.X, idx.Y, idx.Z));
            var back = vol.PatientToIndex(ortho.IndexToPatient(q.X, q.Y, q.Z));
            var slice = vol.Slices.MinBy(x => Math.Abs(x.VolumeZ - back.Z))!;
            Assert.Same(s, slice);
            var p3 = SourcePixel(slice, sp, back.X, back.Y);
            worst = Math.Max(worst, (p3 - p).Length);
        }
        Assert.True(worst < 0.01, $"round trip error {worst} mm");
    }

    [Fact]
    public void GeTiltedUnevenSeries_KeepsTrueGeometry()
    {
        var files = Load("ge-head-tilt-varspacing");
        files.Reverse(); // order of the list must not matter
        var result = VolumeAssembler.Assemble(files);
        var vol = result.Volume;
        Assert.Equal(18.5, result.GantryTiltDeg, 1);
        Assert.True(result.Resampled);
        // Its run of wider steps is uneven spacing, not missing slices.
        Assert.DoesNotContain(result.Notes, n => n.Contains("Missing slice"));
        Assert.Equal(28, vol.Slices.Count);
        Assert.Equal(512, vol.Dims.X);
        Assert.False(vol.Affine.IsOrthogonal());
        // Sorted along the stack: positions strictly increase and the instance numbers follow (GE numbers them in order).
        var z = vol.Slices.Select(s => s.ImagePositionPatient.Z).ToArray();
        Assert.Equal(z.OrderBy(x => x), z);
        Assert.Equal(0, vol.Slices[0].VolumeZ, 9);
        Assert.Equal(vol.Dims.Z - 1, vol.Slices[^1].VolumeZ, 6);
        var ds = files[0].Dataset;
        var ps = ds.GetValues<double>(DicomTags.PixelSpacing);
        var ortho = Resampler.ToOrthogonal(vol);
        Assert.True(ortho.Affine.IsOrthogonal());
        AssertRoundTrip(vol, ortho, new FrameSpacing(ps[0], ps[1]));
    }

    [Fact]
    public void GeSeries_HuMatchesPydicom()
    {
        var files = Load("ge-head-tilt-varspacing");
        var vol = VolumeAssembler.Assemble(files).Volume;
        var first = vol.Slices[0].SourcePath!;
        var last = vol.Slices[^1].SourcePath!;
        const string script = """
import sys, pydicom, numpy as np
for p in sys.argv[1:]:
    d = pydicom.dcmread(p)
    a = d.pixel_array.astype(np.float64) * float(d.RescaleSlope) + float(d.RescaleIntercept)
    print(repr(float(a.sum())), repr(float(a[100, 200])), repr(float(a[511, 3])))
""";
        var r = Tool.Python(script, first, last);
        Assert.True(r.ExitCode == 0, r.StdErr);
        var lines = r.StdOut.Trim().Split('\n');
        void Check(string line, int z)
        {
            var v = line.Split(' ').Select(x => double.Parse(x, CultureInfo.InvariantCulture)).ToArray();
            double sum = 0;
            foreach (var x in vol.Slice(z)) sum += x;
            Assert.Equal(v[0], sum, 0);
            Assert.Equal(v[1], vol[200, 100, z]);
            Assert.Equal(v[2], vol[3, 511, z]);
        }
        Check(lines[0], 0);
        Check(lines[1], vol.Dims.Z - 1);
    }

    [Fact]
    public void PhilipsSeries_RegularAxialGeometryMatchesHeaders()
    {
        var files = Load("philips-phantom-5mm");
        var shuffled = files.OrderBy(f => f.Dataset.GetString(DicomTags.SOPInstanceUID)).ToList();
        var result = VolumeAssembler.Assemble(shuffled);
        var vol = result.Volume;
        Assert.False(result.Resampled);
        Assert.Equal(0, result.GantryTiltDeg, 3);
        Assert.Equal(files.Count, vol.Dims.Z);
        Assert.True(vol.Affine.IsOrthogonal());
        var ps = files[0].Dataset.GetValues<double>(DicomTags.PixelSpacing);
        Assert.Equal(ps[1], vol.Spacing.X, 6);
        Assert.Equal(5.0, vol.Spacing.Z, 2);
        for (var k = 0; k < vol.Slices.Count; k++)
        {
            Assert.Equal(k, vol.Slices[k].VolumeZ, 6);
            Assert.True((vol.IndexToPatient(0, 0, k) - vol.Slices[k].ImagePositionPatient).Length < 0.01, $"slice {k}: {vol.IndexToPatient(0, 0, k)} vs {vol.Slices[k].ImagePositionPatient}");
        }
        var ortho = Resampler.ToOrthogonal(vol, new Vec3(0.7, 0.7, 2.5));
        AssertRoundTrip(vol, ortho, new FrameSpacing(ps[0], ps[1]));
    }

    [Fact]
    public void CompressedSeries_WithoutDecoder_GivesClearError()
    {
        // No decoder passed: the no-codec default reads native series only and names the syntax it cannot read.
        var e = Assert.Throws<DicomCodecUnavailableException>(() => VolumeAssembler.Assemble(Load("totalseg-abdomen-j2k")));
        Assert.Contains("1.2.840.10008.1.2.4.90", e.Message);
        Assert.Contains("DicomCodecRegistry", e.Message);
        Assert.Equal("1.2.840.10008.1.2.4.90", e.TransferSyntax.Uid);
    }

    /// <summary>A decoder that answers for one transfer syntax with a constant stored value, and counts its calls.</summary>
    private sealed class ConstantDecoder(DicomTransferSyntax syntax, ushort stored) : IDicomFrameDecoder
    {
        public int Calls;
        public bool CanDecode(DicomTransferSyntax ts) => ts.Uid == syntax.Uid;
        public ReadOnlyMemory<byte> DecodeFrame(DicomDataset ds, DicomTransferSyntax ts, int frameIndex)
        {
            Assert.Equal(syntax.Uid, ts.Uid);
            Interlocked.Increment(ref Calls);
            var px = new DicomPixelData(ds, ts);
            var bytes = new byte[px.Rows * px.Columns * 2];
            for (var i = 0; i < bytes.Length; i += 2) BitConverter.TryWriteBytes(bytes.AsSpan(i), stored);
            return bytes;
        }
    }

    [Fact]
    public void CompressedSeries_DecodesThroughTheDecoderItIsGiven()
    {
        var files = Load("totalseg-abdomen-j2k");
        var decoder = new ConstantDecoder(files[0].TransferSyntax, 1234);
        var result = VolumeAssembler.Assemble(files, decoder: decoder);
        Assert.Equal(result.Volume.Slices.Count, decoder.Calls);
        var slope = files[0].Dataset.GetValueOrDefault(DicomTags.RescaleSlope, 1.0);
        var intercept = files[0].Dataset.GetValueOrDefault(DicomTags.RescaleIntercept, 0.0);
        var bits = files[0].Dataset.GetValueOrDefault<int>(DicomTags.BitsStored, 16);
        var signed = files[0].Dataset.GetValueOrDefault<int>(DicomTags.PixelRepresentation, 0) == 1;
        long storedValue = 1234 & ((1 << bits) - 1);
        if (signed && (storedValue >> (bits - 1) & 1) != 0) storedValue -= 1L << bits;
        Assert.All(result.Volume.Data.Take(5000), v => Assert.Equal((float)(storedValue * slope + intercept), v, 3));
    }

    [Fact]
    public void CompressedSeries_GeometryUsesFileMetaUidsWhenDatasetUidsAreEmpty()
    {
        var files = Load("totalseg-abdomen-j2k");
        var frames = files.SelectMany(InstanceGeometry.Frames).ToList();
        Assert.All(frames, f => Assert.False(string.IsNullOrEmpty(f.SopInstanceUid)));
        Assert.Equal(files.Count, frames.Select(f => f.SopInstanceUid).Distinct().Count());
    }

    [Fact]
    public void EnhancedCtMultiFrame_UsesPerFrameFunctionalGroups()
    {
        var file = DicomFile.Open(TestData.Path_("compressed", "other", "pydicomdata_eCT_Supplemental_EnhancedCT.dcm"));
        var frames = InstanceGeometry.Frames(file).ToList();
        Assert.Equal(2, frames.Count);
        Assert.Equal(-1024, frames[0].Intercept);
        Assert.Equal(new Vec3(-1, 0, 0), frames[0].RowDirection);
        var result = VolumeAssembler.Assemble([file], new VolumeAssemblyOptions());
        Assert.Equal(2, result.Volume.Dims.Z);
        Assert.Equal(new[] { 1, 2 }, result.Volume.Slices.Select(s => s.FrameNumber).OrderBy(x => x));
        // Pixel values as pydicom decodes them, frame by frame in file order.
        var r = Tool.Python("""
import sys, pydicom, numpy as np
d = pydicom.dcmread(sys.argv[1])
a = d.pixel_array.astype(np.float64) - 1024
for f in range(a.shape[0]):
    print(repr(float(a[f].sum())))
""", file.Path!);
        Assert.True(r.ExitCode == 0, r.StdErr);
        var sums = r.StdOut.Trim().Split('\n').Select(x => double.Parse(x, CultureInfo.InvariantCulture)).ToArray();
        for (var z = 0; z < 2; z++)
        {
            double s = 0;
            foreach (var v in result.Volume.Slice(z)) s += v;
            Assert.Equal(sums[result.Volume.Slices[z].FrameNumber - 1], s, 0);
        }
    }

    [Fact]
    public void SyntheticObliqueVolumes_RoundTripAndLinearFieldSurviveResampling()
    {
        foreach (var (ax, ay, az) in new[] { (0.0, 0.0, 0.0), (20.0, 0.0, 0.0), (15.0, -25.0, 40.0), (90.0, 0.0, 0.0) })
        {
            var (row, col) = Synthetic.Oblique(ax, ay, az);
            var n = row.Cross(col);
            Func<Vec3, double> hu = p => 0.5 * p.X - 0.25 * p.Y + 0.75 * p.Z + 3;
            var files = Synthetic.Stack(new Vec3(-10, 20, 30), row, col, n, Enumerable.Range(0, 12).Select(i => i * 2.0).Reverse().ToArray(), 1.5, 24, hu);
            var vol = VolumeAssembler.Assemble(files).Volume;
            Assert.Equal(12, vol.Dims.Z);
            Assert.True((vol.Affine.DirectionZ - n).Length < 1e-5);
            // Canonical LPS grid: trilinear interpolation of a linear field is exact inside the source grid.
            var ortho = Resampler.ToOrthogonal(vol, new Vec3(1, 1, 1), float.NaN);
            var lps = Reorientation.Reorient(vol, "LPS");
            Assert.Equal("LPS", Reorientation.OrientationCode(lps.Affine));
            var checkedVoxels = 0;
            for (var k = 0; k < ortho.Dims.Z; k += 3)
            for (var j = 0; j < ortho.Dims.Y; j += 3)
            for (var i = 0; i < ortho.Dims.X; i += 3)
            {
                var v = ortho[i, j, k];
                if (float.IsNaN(v)) continue;
                var p = ortho.IndexToPatient(i, j, k);
                var idx = vol.PatientToIndex(p);
                if (idx.X < 0 || idx.Y < 0 || idx.Z < 0 || idx.X > vol.Dims.X - 1 || idx.Y > vol.Dims.Y - 1 || idx.Z > vol.Dims.Z - 1) continue;
                Assert.True(Math.Abs(hu(p) - v) < 0.6, $"rotation {ax},{ay},{az} voxel {i},{j},{k} -> source {idx}: expected {hu(p)}, got {v}"); // stored values are rounded to the 0.5 HU slope
                checkedVoxels++;
            }
            Assert.True(checkedVoxels > 100);
            AssertRoundTrip(vol, ortho, new FrameSpacing(1.5, 1.5));
        }
    }

    [Fact]
    public void SyntheticTiltedUnevenStack_IsRegriddedAlongTheStackLine()
    {
        var (row, col) = Synthetic.Oblique(0, 0, 0);
        var tilt = 20 * Math.PI / 180;
        var stackDir = new Vec3(0, Math.Sin(tilt), Math.Cos(tilt)); // gantry tilt: stack not on the normal
        Func<Vec3, double> hu = p => 2 * p.Z + p.Y;
        double[] t = [0, 3, 6, 9, 10, 13, 16, 19, 25];
        var vol = VolumeAssembler.Assemble(Synthetic.Stack(new Vec3(0, 0, 0), row, col, stackDir, t, 1, 16, hu)).Volume;
        Assert.Equal(25.0 / 8, vol.Spacing.Z, 5); // median step 3, stretched so both end slices stay on the grid
        Assert.Equal(9, vol.Dims.Z);
        for (var k = 0; k < vol.Dims.Z; k++)
        {
            var p = vol.IndexToPatient(5, 7, k);
            Assert.Equal(hu(p), vol[5, 7, k], 0.6);
        }
        foreach (var s in vol.Slices) Assert.Equal(t[vol.Slices.ToList().IndexOf(s)] / vol.Spacing.Z, s.VolumeZ, 5);
    }

    [Fact]
    public void MissingSlices_BeyondBound_AreRefusedWithReason()
    {
        var (row, col) = Synthetic.Oblique(0, 0, 0);
        double[] t = [0, 2, 4, 6, 14, 16, 18];
        var files = Synthetic.Stack(new Vec3(0, 0, 0), row, col, new Vec3(0, 0, 1), t, 1, 8, _ => 0);
        var e = Assert.Throws<VolumeAssemblyException>(() => VolumeAssembler.Assemble(files));
        Assert.Contains("missing slices", e.Message);
        Assert.Contains("8 mm", e.Message);
        // One missing slice (gap 2x) is bridged by interpolation with a note.
        double[] t2 = [0, 2, 4, 8, 10, 12];
        var ok = VolumeAssembler.Assemble(Synthetic.Stack(new Vec3(0, 0, 0), row, col, new Vec3(0, 0, 1), t2, 1, 8, p => p.Z));
        Assert.Equal(7, ok.Volume.Dims.Z);
        Assert.Contains(ok.Notes, n => n.Contains("resampled"));
        Assert.Equal(6f * 1, ok.Volume[3, 3, 3], 0.6);
        // ... and the missing slice is named: where, and how many.
        var missing = Assert.Single(ok.Notes, n => n.StartsWith("Missing slice"));
        Assert.Contains("between slices 3 and 4 of 6", missing);
        Assert.Contains("at patient z 4 to 8 mm", missing);
        Assert.Contains("about 1 slice(s) missing", missing);
        Assert.Equal(6, ok.Frames.Count);
        // An even series has no such note.
        var even = VolumeAssembler.Assemble(Synthetic.Stack(new Vec3(0, 0, 0), row, col, new Vec3(0, 0, 1), [0, 2, 4, 6, 8], 1, 8, _ => 0));
        Assert.DoesNotContain(even.Notes, n => n.Contains("Missing"));
        Assert.False(even.Resampled);
    }

    [Fact]
    public void LocalizerAndOtherOrientation_InsideTheSeries_AreDroppedWithANote_AndTheRestAssembled()
    {
        var (row, col) = Synthetic.Oblique(0, 0, 0);
        var files = Synthetic.Stack(new Vec3(0, 0, 0), row, col, new Vec3(0, 0, 1), [0, 1, 2, 3, 4, 5], 1, 8, p => p.Z * 10);
        // A coronal localizer (other size, ImageType LOCALIZER) and a sagittal reformat image (no LOCALIZER) in the same series.
        files.Insert(2, Synthetic.Slice(new Vec3(0, 0, 0), new Vec3(1, 0, 0), new Vec3(0, 0, -1), 2, 12, 6, _ => 0, instance: 100, imageType: ["ORIGINAL", "PRIMARY", "LOCALIZER"]));
        files.Add(Synthetic.Slice(new Vec3(0, 0, 0), new Vec3(0, 1, 0), new Vec3(0, 0, -1), 1, 8, 8, _ => 0, instance: 101));
        var a = VolumeAssembler.Assemble(files);
        Assert.Equal(6, a.Volume.Dims.Z);
        Assert.Equal(6, a.Files.Count);
        Assert.DoesNotContain(a.Files, f => f.Dataset.GetString(DicomTags.InstanceNumber) is "100" or "101");
        Assert.Equal(30f, a.Volume[2, 2, 3], 0.6);
        Assert.Contains(a.Notes, n => n.Contains("Dropped 1 localizer image(s)") && n.Contains("instance 100"));
        Assert.Contains(a.Notes, n => n.Contains("Dropped 1 image(s) in another orientation") && n.Contains("instance 101"));
        // Only localizers: refused, saying so.
        var only = new List<DicomFile> { files[2] };
        Assert.Contains("only localizer", Assert.Throws<VolumeAssemblyException>(() => VolumeAssembler.Assemble(only)).Message);
    }

    [Fact]
    public void TheSameFileReceivedTwice_UnderAnotherPath_IsOneInstance()
    {
        var (row, col) = Synthetic.Oblique(0, 0, 0);
        var dir = TestData.TempDir("assembly-duplicate-sop");
        var stack = Synthetic.Stack(new Vec3(0, 0, 0), row, col, new Vec3(0, 0, 1), [0, 1, 2, 3, 4], 1, 8, p => p.Z);
        var paths = new List<string>();
        for (var i = 0; i < stack.Count; i++) { var p = Path.Combine(dir, $"{i}.dcm"); stack[i].Save(p); paths.Add(p); }
        var again = Path.Combine(dir, "copy-of-2.dcm");
        File.Copy(paths[2], again);
        paths.Add(again);
        var a = VolumeAssembler.Assemble(paths.Select(p => DicomFile.Open(p)));
        Assert.Equal(5, a.Volume.Dims.Z);
        Assert.Equal(5, a.Files.Count);
        Assert.False(a.Resampled);
        Assert.Contains(a.Notes, n => n.Contains("1 image(s) received more than once with the same SOP Instance UID (instance 3)"));
        // The same UID at another position is not a repeat: refused rather than guessed.
        var clash = Synthetic.Stack(new Vec3(0, 0, 0), row, col, new Vec3(0, 0, 1), [0, 1, 2], 1, 8, _ => 0);
        clash.Add(Synthetic.Slice(new Vec3(0, 0, 7), row, col, 1, 8, 8, _ => 0, instance: 2));
        Assert.Contains("comes twice", Assert.Throws<VolumeAssemblyException>(() => VolumeAssembler.Assemble(clash)).Message);
    }

    [Fact]
    public void RealChestCt_WithALocalizerADuplicateAndAMissingSlice_IsAssembledWithNotes()
    {
        var paths = Directory.GetFiles(TestData.Path_("ct", "lidc-idri-0001-chest"), "*.dcm").Order(StringComparer.Ordinal).ToList();
        var all = paths.Select(p => DicomFile.Open(p)).ToList();
        var clean = VolumeAssembler.Assemble(all);
        Assert.False(clean.Resampled);
        Assert.DoesNotContain(clean.Notes, n => n.Contains("Missing") || n.Contains("Dropped") || n.Contains("more than once"));
        var n = clean.Frames.Count;
        // Remove one slice from the middle of the stack, add the same file again under its own path, and a localizer.
        var middle = clean.Frames[n / 2].File;
        var files = all.Where(f => !ReferenceEquals(f, middle)).ToList();
        files.Add(DicomFile.Open(clean.Frames[10].File.Path!));
        var first = clean.Frames[0];
        var localizer = Synthetic.Slice(first.Position, new Vec3(1, 0, 0), new Vec3(0, 0, -1), 1, 64, 64, _ => 0,
            "1.2.3", 9999, ["ORIGINAL", "PRIMARY", "LOCALIZER"]);
        localizer.Dataset.Set(DicomTags.SeriesInstanceUID, first.File.Dataset.GetString(DicomTags.SeriesInstanceUID)!);
        files.Insert(0, localizer);
        var a = VolumeAssembler.Assemble(files);
        Assert.Equal(n - 1, a.Frames.Count);
        Assert.True(a.Resampled);
        Assert.Equal(clean.Volume.Dims, a.Volume.Dims); // the gap is bridged onto the same grid
        Assert.Contains(a.Notes, x => x.Contains("Dropped 1 localizer image(s)") && x.Contains("instance 9999"));
        Assert.Contains(a.Notes, x => x.Contains("received more than once"));
        var missing = Assert.Single(a.Notes, x => x.StartsWith("Missing slice"));
        Assert.Contains(FormattableString.Invariant($"between slices {n / 2} and {n / 2 + 1} of {n - 1}"), missing);
        Assert.Contains(FormattableString.Invariant($"{clean.Frames[n / 2 - 1].Position.Z:0.##} to {clean.Frames[n / 2 + 1].Position.Z:0.##} mm"), missing);
        var selection = SeriesSelector.Select(files, new SeriesSelectionRules { MaxSliceThicknessMm = 5 });
        Assert.Equal(n - 1, selection.Chosen!.SliceCount);
    }

    [Fact]
    public void MixedSizesAndDuplicatePositions_AreRejected()
    {
        var (row, col) = Synthetic.Oblique(0, 0, 0);
        var files = Synthetic.Stack(new Vec3(0, 0, 0), row, col, new Vec3(0, 0, 1), [0, 1, 2], 1, 8, _ => 0);
        files.Add(Synthetic.Slice(new Vec3(0, 0, 3), row, col, 1, 8, 10, _ => 0, instance: 9));
        Assert.Contains("Mixed image sizes", Assert.Throws<VolumeAssemblyException>(() => VolumeAssembler.Assemble(files)).Message);
        var dup = Synthetic.Stack(new Vec3(0, 0, 0), row, col, new Vec3(0, 0, 1), [0, 1, 1, 2], 1, 8, _ => 0);
        Assert.Contains("share one position", Assert.Throws<VolumeAssemblyException>(() => VolumeAssembler.Assemble(dup)).Message);
    }
}

public class SourceSliceProjectionTests
{
    [Fact]
    public void LabelsProjectBackOntoEachSourceImage_ExactlyOnARegularSeries()
    {
        var files = Directory.GetFiles(TestData.Path_("ct", "philips-phantom-5mm"), "*.dcm").Select(p => DicomFile.Open(p)).ToList();
        var vol = VolumeAssembler.Assemble(files).Volume;
        var labels = LabelVolume.Like(vol);
        for (var i = 0; i < vol.Data.Length; i++) labels.Data[i] = vol.Data[i] > 0 ? (byte)1 : (byte)0;
        foreach (var s in vol.Slices.Where((_, k) => k % 7 == 0))
        {
            var mask = SourceSliceProjection.Sample(labels, s);
            var file = files.Single(f => f.Path == s.SourcePath);
            var frame = InstanceGeometry.Frames(file).Single();
            var hu = new float[frame.Rows * frame.Columns];
            VolumeAssembler.DecodeInto(frame, hu);
            for (var p = 0; p < hu.Length; p++) Assert.Equal(hu[p] > 0 ? 1 : 0, mask[p]);
            Assert.True((s.PixelToPatient(10, 20) - frame.PixelToPatient(10, 20)).Length < 1e-9);
        }
    }

    [Fact]
    public void OnTheTiltedUnevenSeries_EverySourcePixelLandsWithinHalfAVoxel()
    {
        var files = Directory.GetFiles(TestData.Path_("ct", "ge-head-tilt-varspacing"), "*.dcm").Select(p => DicomFile.Open(p)).ToList();
        var vol = VolumeAssembler.Assemble(files).Volume;
        foreach (var s in vol.Slices)
        {
            var idx = vol.PatientToIndex(s.PixelToPatient(s.Columns - 1, s.Rows - 1));
            Assert.Equal(s.Columns - 1, idx.X, 4);
            Assert.Equal(s.Rows - 1, idx.Y, 4);
            Assert.Equal(s.VolumeZ, idx.Z, 4);
            Assert.Equal(s.Rows * s.Columns, SourceSliceProjection.Sample(LabelVolume.Like(vol), s).Length);
        }
    }
}
