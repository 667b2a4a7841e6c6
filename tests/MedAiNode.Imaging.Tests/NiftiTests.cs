using System.Globalization;
using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Nifti;
using MedAiNode.Imaging.Resampling;
using MedAiNode.Imaging.Volumes;

namespace MedAiNode.Imaging.Tests;

public class NiftiTests
{
    private const string NibabelInfo = """
import sys, nibabel as nib, numpy as np
img = nib.load(sys.argv[1])
a = np.asarray(img.dataobj, dtype=np.float64)
print(' '.join(repr(float(x)) for x in img.affine[:3, :].ravel()))
print(' '.join(str(x) for x in img.shape[:3]))
print(repr(float(a.sum())), repr(float(a[3, 5, 7])), repr(float(a[-1, -2, -3])))
""";

    private static double[] Numbers(string line) => line.Trim().Split(' ').Select(x => double.Parse(x, CultureInfo.InvariantCulture)).ToArray();

    private static void AssertMatchesNibabel(string path, Volume v)
    {
        var r = Tool.Python(NibabelInfo, path);
        Assert.True(r.ExitCode == 0, "nibabel (apt python3-nibabel) failed: " + r.StdErr);
        var lines = r.StdOut.Trim().Split('\n');
        var ras = Numbers(lines[0]);
        var m = v.Affine.ToMatrix();
        for (var row = 0; row < 3; row++)
        for (var c = 0; c < 4; c++)
        {
            var expected = row < 2 ? -ras[4 * row + c] : ras[4 * row + c]; // RAS -> LPS
            Assert.Equal(expected, m[row, c], 3);
        }
        var shape = Numbers(lines[1]);
        Assert.Equal(new Dims((int)shape[0], (int)shape[1], (int)shape[2]), v.Dims);
        var stats = Numbers(lines[2]);
        double sum = 0;
        foreach (var x in v.Data) sum += x;
        Assert.Equal(stats[0], sum, Math.Abs(stats[0]) * 1e-6 + 1e-3);
        Assert.Equal(stats[1], v[3, 5, 7], 3);
        Assert.Equal(stats[2], v[v.Dims.X - 1, v.Dims.Y - 2, v.Dims.Z - 3], 3);
    }

    [Theory]
    [InlineData("nifti/example_ct.nii.gz")]
    [InlineData("nifti/example_ct_sm.nii.gz")]
    [InlineData("nifti/example_seg.nii.gz")]
    [InlineData("nifti/example_mr_sm.nii.gz")]
    [InlineData("models/t1_crop.nii.gz")]
    public void ReadsRealFiles_LikeNibabel(string rel)
    {
        var path = TestData.Path_(rel.Split('/'));
        var v = NiftiIO.Read(path);
        AssertMatchesNibabel(path, v);
    }

    [Theory]
    [InlineData(".nii")]
    [InlineData(".nii.gz")]
    public void WrittenFiles_ReadBackAndNibabelAgrees_ObliqueAndSheared(string ext)
    {
        var (row, col) = Synthetic.Oblique(12, -30, 55);
        var n = row.Cross(col);
        var affine = new Affine(new Vec3(-40, 12.5, 300), row * 0.8, col * 0.9, n * 2.5);
        var v = new Volume(new Dims(9, 11, 13), affine);
        for (var i = 0; i < v.Data.Length; i++) v.Data[i] = (float)Math.Sin(i * 0.37) * 1000;
        var dir = TestData.TempDir("nifti");
        var path = Path.Combine(dir, "oblique" + ext);
        NiftiIO.Write(path, v);
        var back = NiftiIO.Read(path, out var info);
        Assert.Equal(1, info.QformCode);
        Assert.Equal(v.Data, back.Data);
        for (var k = 0; k < 13; k += 6) Assert.True((back.IndexToPatient(1, 2, k) - v.IndexToPatient(1, 2, k)).Length < 1e-3);
        AssertMatchesNibabel(path, back);
        // The qform alone must give the same geometry (readers that ignore the sform).
        var q = Tool.Python("import sys, nibabel as nib, numpy as np; i = nib.load(sys.argv[1]); print(float(np.abs(i.get_qform() - i.get_sform()).max()))", path);
        Assert.True(q.ExitCode == 0, q.StdErr);
        Assert.True(double.Parse(q.StdOut.Trim(), CultureInfo.InvariantCulture) < 1e-3);

        // A gantry-tilt grid cannot be a qform: only the sform carries it.
        var sheared = new Volume(new Dims(4, 4, 4), new Affine(new Vec3(0, 0, 0), new Vec3(1, 0, 0), new Vec3(0, 1, 0), new Vec3(0, 0.3, 1)));
        var sp = Path.Combine(dir, "sheared" + ext);
        NiftiIO.Write(sp, sheared);
        var sb = NiftiIO.Read(sp, out var sinfo);
        Assert.Equal(0, sinfo.QformCode);
        Assert.True((sb.Affine.Col2 - sheared.Affine.Col2).Length < 1e-6);
    }

    [Fact]
    public void LabelMaps_RoundTripAsUint8()
    {
        var seg = NiftiIO.ReadLabels(TestData.Path_("nifti", "example_seg.nii.gz"));
        var dir = TestData.TempDir("nifti-labels");
        var path = Path.Combine(dir, "seg.nii.gz");
        NiftiIO.Write(path, seg);
        var back = NiftiIO.ReadLabels(path);
        Assert.Equal(seg.Data, back.Data);
        var r = Tool.Python("import sys, nibabel as nib; print(nib.load(sys.argv[1]).get_data_dtype())", path);
        Assert.Equal("uint8", r.StdOut.Trim());
    }

    [Fact]
    public void Reorient_ToRasAndBack_PreservesEveryVoxelsPatientPosition()
    {
        var v = NiftiIO.Read(TestData.Path_("nifti", "example_ct_sm.nii.gz"));
        var lps = Reorientation.Reorient(v, "LPS");
        Assert.Equal("LPS", Reorientation.OrientationCode(lps.Affine));
        var ras = Reorientation.Reorient(lps, "RAS");
        Assert.Equal("RAS", Reorientation.OrientationCode(ras.Affine));
        var rng = new Random(3);
        for (var t = 0; t < 200; t++)
        {
            int i = rng.Next(v.Dims.X), j = rng.Next(v.Dims.Y), k = rng.Next(v.Dims.Z);
            var p = v.IndexToPatient(i, j, k);
            foreach (var o in new[] { lps, ras })
            {
                var idx = o.PatientToIndex(p);
                var (x, y, z) = ((int)Math.Round(idx.X), (int)Math.Round(idx.Y), (int)Math.Round(idx.Z));
                Assert.True(Math.Abs(idx.X - x) < 1e-6 && Math.Abs(idx.Y - y) < 1e-6 && Math.Abs(idx.Z - z) < 1e-6);
                Assert.Equal(v[i, j, k], o[x, y, z]);
            }
        }
        Assert.Throws<ArgumentException>(() => Reorientation.Reorient(v, "LLS"));
    }

    [Fact]
    public void IsOriented_ExactlyWhenReorientWouldOnlyCopy()
    {
        var v = NiftiIO.Read(TestData.Path_("nifti", "example_ct_sm.nii.gz"));
        foreach (var from in new[] { "LPS", "RAS", "LAI", "PLS", "SRA" })
        {
            var o = Reorientation.Reorient(v, from);
            foreach (var code in new[] { "LPS", "RAS", "LAI", "PLS", "SRA", "lps" })
            {
                var r = Reorientation.Reorient(o, code);
                var copyOnly = r.Dims == o.Dims && r.Affine == o.Affine && r.Data.AsSpan().SequenceEqual(o.Data);
                Assert.Equal(copyOnly, Reorientation.IsOriented(o.Affine, code));
                Assert.Equal(string.Equals(from, code, StringComparison.OrdinalIgnoreCase), copyOnly);
            }
        }
        Assert.Throws<ArgumentException>(() => Reorientation.IsOriented(v.Affine, "LLS"));
    }

    [Fact]
    public void BrokenFiles_GiveClearErrors()
    {
        var dir = TestData.TempDir("nifti-bad");
        var p = Path.Combine(dir, "bad.nii");
        File.WriteAllBytes(p, new byte[400]);
        Assert.Contains("sizeof_hdr", Assert.Throws<NiftiFormatException>(() => NiftiIO.Read(p)).Message);
        var good = File.ReadAllBytes(TestData.Path_("nifti", "example_ct_sm.nii.gz"));
        var truncated = Path.Combine(dir, "trunc.nii.gz");
        File.WriteAllBytes(truncated, good[..(good.Length / 3)]);
        Assert.Contains("ends inside", Assert.ThrowsAny<Exception>(() => NiftiIO.Read(truncated)).Message);
    }
}
