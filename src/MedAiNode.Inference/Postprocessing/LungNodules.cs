using System.Numerics;
using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Morphology;
using MedAiNode.Imaging.Resampling;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;

namespace MedAiNode.Inference.Postprocessing;

/// <summary>A nodule candidate: where, how big, how dense, which lung, and how blob-like (the confidence it is ordered by).</summary>
public sealed record NoduleCandidate(Vec3 CentroidMm, double VolumeMl, double EquivalentDiameterMm, double LongestDiameterMm, double MeanHu,
    int Side, double Confidence, double AeratedShell, IReadOnlySet<int> GridVoxels)
{
    public string SideName => Side == 1 ? "left lung" : "right lung";
}

/// <summary>The candidates and the 1 mm grid their voxels are indices of.</summary>
public sealed record NoduleDetection(Affine Grid, Dims Dims, IReadOnlyList<NoduleCandidate> Candidates)
{
    /// <summary>
    /// Paints each candidate onto <paramref name="labels"/> (any grid) as <paramref name="label"/>: the voxels whose centre
    /// falls in one of its 1 mm voxels. Returns each candidate's voxel indices on that grid (empty when it is smaller than them).
    /// </summary>
    public List<List<long>> Paint(LabelVolume labels, byte label)
    {
        var result = new List<List<long>>();
        var inverse = Grid.Inverse();
        foreach (var c in Candidates)
        {
            var mine = new List<long>();
            // The candidate's bounding box on the target grid, from its voxels' corners.
            double x0 = double.MaxValue, y0 = double.MaxValue, z0 = double.MaxValue, x1 = double.MinValue, y1 = double.MinValue, z1 = double.MinValue;
            foreach (var i in c.GridVoxels)
            {
                var p = labels.Affine.PatientToIndex(Grid.IndexToPatient(i % Dims.X, i / Dims.X % Dims.Y, i / (Dims.X * Dims.Y)));
                x0 = Math.Min(x0, p.X); y0 = Math.Min(y0, p.Y); z0 = Math.Min(z0, p.Z);
                x1 = Math.Max(x1, p.X); y1 = Math.Max(y1, p.Y); z1 = Math.Max(z1, p.Z);
            }
            var d = labels.Dims;
            for (var k = Math.Max(0, (int)Math.Floor(z0) - 1); k <= Math.Min(d.Z - 1, (int)Math.Ceiling(z1) + 1); k++)
            for (var j = Math.Max(0, (int)Math.Floor(y0) - 1); j <= Math.Min(d.Y - 1, (int)Math.Ceiling(y1) + 1); j++)
            for (var i = Math.Max(0, (int)Math.Floor(x0) - 1); i <= Math.Min(d.X - 1, (int)Math.Ceiling(x1) + 1); i++)
            {
                var g = inverse.Apply(labels.Affine.IndexToPatient(i, j, k));
                int gx = (int)Math.Round(g.X), gy = (int)Math.Round(g.Y), gz = (int)Math.Round(g.Z);
                if (!Dims.Contains(gx, gy, gz) || !c.GridVoxels.Contains((int)Dims.Index(gx, gy, gz))) continue;
                var index = d.Index(i, j, k);
                labels.Data[index] = label;
                mine.Add(index);
            }
            result.Add(mine);
        }
        return result;
    }
}

/// <summary>
/// Lung nodule candidates from 3 to 30 mm inside the lungs, the classic CAD way (Li, Sone and Doi, Med Phys 2003):
/// the CT resampled to 1 mm around the lungs; at several Gaussian scales the Hessian's eigenvalues
/// (l1 &lt;= l2 &lt;= l3) give the dot enhancement s^2 * l3^2 / |l1| where all three are negative (a blob; a vessel
/// has l3 near 0 and a wall l2 and l3); local maxima of the best scale are seeds. Each seed is grown through solid
/// tissue (above -400 HU) within a sphere a little larger than its scale, and kept when it is compact (longest
/// diameter at most 2.5 times its equivalent sphere's: a vessel is long), 3 to 30 mm across, and has aerated lung
/// around at least a fifth of its shell (a hilar vessel or the mediastinum has none; a juxta-pleural nodule has half).
/// Confidence is the dot response mapped to [0, 1): R / (R + 50 HU).
/// </summary>
public static class LungNodules
{
    private static readonly double[] Scales = [1.0, 1.5, 2.2, 3.2, 4.6, 6.5];
    private const float SolidHu = -400f;
    private const float AeratedHu = -600f;

    /// <summary>The candidates in the two lungs of <paramref name="labels"/>, from CT values in HU (float, or int16 as an
    /// <see cref="HuVolume"/> holds them: the same values give the same candidates).</summary>
    public static NoduleDetection Detect<T>(VoxelVolume<T> hu, LabelVolume labels, byte leftLung, byte rightLung, NoduleSpec spec, CancellationToken ct = default)
        where T : unmanaged, INumberBase<T> =>
        Detect(hu, labels, leftLung, rightLung, spec, SlabPlanes, ct);

    /// <summary>As above, the CT read through <paramref name="values"/> (on the grid of <paramref name="labels"/>), so a
    /// caller that let the volume go reads back only the box around the lungs (about a third of a chest CT): a few dozen
    /// of its planes at a time while seeds are searched, then the box once for the growing.</summary>
    public static NoduleDetection Detect<T>(IVoxelReader<T> values, LabelVolume labels, byte leftLung, byte rightLung, NoduleSpec spec, CancellationToken ct = default)
        where T : unmanaged, INumberBase<T> =>
        Detect(values, labels, leftLung, rightLung, spec, SlabPlanes, ct);

    /// <summary>As the public overload, with the slab depth of the response and seed search chosen (tests show the
    /// candidates do not depend on it).</summary>
    internal static NoduleDetection Detect<T>(VoxelVolume<T> hu, LabelVolume labels, byte leftLung, byte rightLung, NoduleSpec spec, int slabDepth, CancellationToken ct = default)
        where T : unmanaged, INumberBase<T>
    {
        if (hu.Dims != labels.Dims) throw new ArgumentException($"CT of {hu.Dims}, labels of {labels.Dims}: the labels must be on the CT's grid.", nameof(labels));
        return Detect(new HeldVolumeReader<T>(hu), labels, leftLung, rightLung, spec, slabDepth, ct);
    }

    internal static NoduleDetection Detect<T>(IVoxelReader<T> values, LabelVolume labels, byte leftLung, byte rightLung, NoduleSpec spec, int slabDepth, CancellationToken ct = default)
        where T : unmanaged, INumberBase<T>
    {
        var lungLabels = new[] { leftLung, rightLung };
        var (grid, dims) = CropGrid(labels, lungLabels, margin: 6);
        if (dims.Count == 0) return new NoduleDetection(grid, dims, []);
        var box = Resampler.SourceBox(labels.Dims, labels.Affine, dims, grid);
        var side = LungSides(labels, dims, grid, leftLung, rightLung);
        // The CT on the 1 mm crop is never stored whole (4 bytes per crop voxel, more than the int16 input itself): the
        // seed search resamples the planes each slab needs from a few dozen source planes read into one buffer; only
        // then, with the search's scratch garbage, is the box read for the growing and the shell, which read single voxels.
        var seeds = Seeds(new SlabSource<T>(values, box, labels, dims, grid).FillPlanes, dims, side, spec.MinResponse, slabDepth, ct);
        var v = new Resampler.ResampledView<T>(values.Read(box), labels.Dims, labels.Affine, dims, grid, -1024f);
        int nx = dims.X, ny = dims.Y, nz = dims.Z, plane = nx * ny;

        var taken = new HashSet<int>(); // the accepted candidates' voxels: a few thousand of millions
        var found = new List<NoduleCandidate>();
        var growth = new GrowScratch();
        foreach (var (seed, r, scale) in seeds)
        {
            if (found.Count >= spec.MaxCandidates) break;
            if (taken.Contains(seed)) continue;
            // One nodule, one candidate: a seed near an accepted candidate is another peak of the same lump.
            var at = grid.IndexToPatient(seed % nx, seed / nx % ny, seed / plane);
            if (found.Any(f => (f.CentroidMm - at).Length < f.EquivalentDiameterMm / 2 + 5)) continue;
            var c = Grow(v, dims, grid, seed, (float)Scales[scale], taken, growth);
            if (c is null) continue;
            var (voxels, centroid) = c.Value;
            var volumeMl = voxels.Count / 1000.0; // 1 mm voxels
            var eq = Math.Cbrt(6 * voxels.Count / Math.PI);
            if (eq < spec.MinDiameterMm || eq > spec.MaxDiameterMm) continue;
            var points = growth.Points; // reused: every seed of a nodule's size builds one, up to 14,000 points
            points.Clear();
            foreach (var i in voxels) points.Add(grid.IndexToPatient(i % nx, i / nx % ny, i / plane));
            var longest = RegionMeasurements.LongestDiameter(points);
            if (longest > spec.MaxDiameterMm || longest > 2.5 * Math.Max(eq, 3)) continue;
            if (Elongation(voxels, dims) > spec.MaxElongation) continue; // a vessel segment: long one way, thin the others
            var shell = AeratedShell(v, dims, grid, centroid, eq / 2);
            if (shell < spec.MinAeratedShell) continue;
            var centreIndex = grid.PatientToIndex(centroid);
            var ci = dims.Index(Math.Clamp((int)Math.Round(centreIndex.X), 0, nx - 1), Math.Clamp((int)Math.Round(centreIndex.Y), 0, ny - 1), Math.Clamp((int)Math.Round(centreIndex.Z), 0, nz - 1));
            int lung = side[ci];
            if (lung == 0) continue; // its centre is not in a lung
            taken.UnionWith(voxels);
            var mean = voxels.Average(i => (double)v[i]);
            if (mean > spec.MaxMeanHu) continue; // bone or metal, not a nodule
            found.Add(new NoduleCandidate(centroid, volumeMl, eq, longest, mean, lung, r / (r + 50.0), shell, voxels.ToHashSet()));
        }
        return new NoduleDetection(grid, dims, found.OrderByDescending(f => f.Confidence).ToList());
    }

    /// <summary>
    /// Seeds: local maxima (3x3x3) of the dot response inside the lungs, at least <paramref name="minResponse"/>, strongest
    /// first, each with the index of its best scale. Found slab by slab in z (<paramref name="slabDepth"/> planes): each
    /// slab's response (every fine scale's best, then the coarse scales' where strictly stronger, the order one
    /// volume-wide pass merged them in) is computed with one plane beyond it on each side, which the maximum reads; those
    /// planes are computed again by the next slab with the same sums, so every value and the scan order are as for the
    /// whole crop, without a response volume of the whole crop.
    /// </summary>
    internal static List<(int Index, float R, byte Scale)> Seeds(float[] v, Dims dims, byte[] side, float minResponse, int slabDepth, CancellationToken ct = default) =>
        Seeds((first, count, dst) => Array.Copy(v, (long)first * dims.X * dims.Y, dst, 0, (long)count * dims.X * dims.Y), dims, side, minResponse, slabDepth, ct);

    /// <summary>As above, the CT given as planes on demand: <paramref name="fillPlanes"/>(first, count, buffer) writes
    /// planes first..first+count-1 at the buffer's start.</summary>
    private static List<(int Index, float R, byte Scale)> Seeds(Action<int, int, float[]> fillPlanes, Dims dims, byte[] side, float minResponse, int slabDepth, CancellationToken ct)
    {
        // Larger scales first, on a 2 mm grid (each voxel the mean of 2x2x2): an eighth of the voxels, half the kernel.
        // They do not depend on the fine scales; done first, only their response and scale (5/8 byte per 1 mm voxel) wait
        // for the merge, and the fine scales never need a response volume of the full crop.
        var (coarse, cd) = Halve(fillPlanes, dims);
        var coarseLung = new byte[coarse.Length];
        for (var i = 0; i < side.Length; i++) if (side[i] != 0) coarseLung[cd.Index(i % dims.X / 2, i / dims.X % dims.Y / 2, i / (dims.X * dims.Y) / 2)] = 1;
        var coarseResponse = new float[coarse.Length];
        var coarseScale = new byte[coarse.Length];
        var coarseScratch = (new float[coarse.Length], new float[coarse.Length]);
        for (var k = 0; k < Scales.Length; k++)
        {
            if (Scales[k] < 3) continue;
            ct.ThrowIfCancellationRequested();
            Dot(Gaussian(coarse, cd, Scales[k] / 2, coarseScratch), 0, cd, 1, cd.Z - 1, coarseLung, (float)Scales[k], 2, (byte)k, coarseResponse, 0, coarseScale);
        }
        // Explicit: the first (unoptimised) compilation of a method keeps every local alive until it returns.
        coarse = null; coarseLung = null; coarseScratch = default;

        var seeds = new List<(int Index, float R, byte Scale)>();
        int nx = dims.X, ny = dims.Y, nz = dims.Z, plane = nx * ny;
        var fine = Scales.Select((s, k) => (Sigma: s, Index: k)).Where(s => s.Sigma < 3).ToArray();
        var maxR = fine.Max(s => (int)Math.Ceiling(3 * s.Sigma));
        var slabPlanes = Math.Clamp(slabDepth, 1, nz);
        // The fine scales blur slab by slab too (with the halo each kernel needs): scratch of a few dozen planes.
        var slab = new SlabScratch(dims, slabPlanes + 2, maxR);
        var response = new float[(long)(slabPlanes + 2) * plane];
        var bestScale = new byte[response.Length]; // index into Scales of the best scale so far, with response > 0
        for (var zs = 1; zs < nz - 1; zs += slabPlanes)
        {
            var ze = Math.Min(nz - 1, zs + slabPlanes); // seeds in planes zs..ze-1; response in zs-1..ze
            var rFirst = zs - 1;
            Array.Clear(response);
            Array.Clear(bestScale);
            int fa = Math.Max(1, zs - 1), fb = Math.Min(nz - 2, ze); // the planes the fine scales answer for
            // The CT planes every fine kernel reads for this slab, resampled once for all of them.
            int srcFirst = Math.Max(0, fa - 1 - maxR), srcLast = Math.Min(nz - 1, fb + 1 + maxR);
            fillPlanes(srcFirst, srcLast - srcFirst + 1, slab.Source);
            foreach (var (sigma, index) in fine)
            {
                ct.ThrowIfCancellationRequested();
                var (g, first) = GaussianPlanes(slab.Source, srcFirst, dims, sigma, fa - 1, fb + 1, slab);
                Dot(g, first, dims, fa, fb + 1, side, (float)sigma, 1, (byte)index, response, rFirst, bestScale);
            }
            for (var z = rFirst; z <= ze; z++)
            for (var j = 0; j < plane; j++)
            {
                var i = z * plane + j;
                if (side[i] == 0) continue;
                var c = cd.Index(j % nx / 2, j / nx / 2, z / 2);
                var at = (z - rFirst) * plane + j;
                if (coarseResponse[c] > response[at]) { response[at] = coarseResponse[c]; bestScale[at] = coarseScale[c]; }
            }
            for (var z = zs; z < ze; z++)
            for (var y = 1; y < ny - 1; y++)
            for (var x = 1; x < nx - 1; x++)
            {
                var i = z * plane + y * nx + x;
                var at = (z - rFirst) * plane + y * nx + x;
                var r = response[at];
                if (r < minResponse || side[i] == 0) continue;
                var max = true;
                for (var dz = -1; dz <= 1 && max; dz++)
                for (var dy = -1; dy <= 1 && max; dy++)
                for (var dx = -1; dx <= 1 && max; dx++)
                    if (response[at + dz * plane + dy * nx + dx] > r) max = false;
                if (max) seeds.Add((i, r, bestScale[at]));
            }
        }
        seeds.Sort((a, b) => b.R.CompareTo(a.R));
        return seeds;

    }

    /// <summary>
    /// Which lung each voxel of the 1 mm grid is in (0 none, 1 left, 2 right): one byte, instead of the resampled label
    /// volume and a separate in-lung mask. Its own method so the resampled labels are garbage once it returns.
    /// </summary>
    private static byte[] LungSides(LabelVolume labels, Dims dims, Affine grid, byte leftLung, byte rightLung)
    {
        // In place: the resampled labels are this method's own array, and a second crop-sized one would only be garbage.
        var side = Resampler.Resample(labels, dims, grid).Data;
        for (var i = 0; i < side.Length; i++) side[i] = side[i] == leftLung ? (byte)1 : side[i] == rightLung ? (byte)2 : (byte)0;
        return side;
    }

    /// <summary>A 1 mm grid with the input's row and column directions around the lungs' voxels (plus a margin).</summary>
    private static (Affine Grid, Dims Dims) CropGrid(LabelVolume labels, byte[] lung, int margin)
    {
        var d = labels.Dims;
        int x0 = int.MaxValue, y0 = int.MaxValue, z0 = int.MaxValue, x1 = -1, y1 = -1, z1 = -1;
        for (var z = 0; z < d.Z; z++)
        for (var y = 0; y < d.Y; y++)
        {
            var row = labels.Data.AsSpan((int)d.Index(0, y, z), d.X);
            var first = row.IndexOfAny(lung[0], lung[1]);
            if (first < 0) continue;
            var last = row.LastIndexOfAny(lung[0], lung[1]);
            x0 = Math.Min(x0, first); x1 = Math.Max(x1, last);
            y0 = Math.Min(y0, y); y1 = Math.Max(y1, y);
            z0 = Math.Min(z0, z); z1 = Math.Max(z1, z);
        }
        if (x1 < 0) return (labels.Affine, new Dims(0, 0, 0));
        var a = labels.Affine;
        var ex = a.DirectionX; var ey = a.DirectionY; var ez = ex.Cross(ey).Normalized();
        var corners = new List<Vec3>();
        foreach (var i in new[] { x0, x1 }) foreach (var j in new[] { y0, y1 }) foreach (var k in new[] { z0, z1 }) corners.Add(a.IndexToPatient(i, j, k));
        double Min(Vec3 axis) => corners.Min(c => c.Dot(axis)) - margin;
        double Max(Vec3 axis) => corners.Max(c => c.Dot(axis)) + margin;
        var origin = ex * Min(ex) + ey * Min(ey) + ez * Min(ez);
        var dims = new Dims((int)Math.Ceiling(Max(ex) - Min(ex)) + 1, (int)Math.Ceiling(Max(ey) - Min(ey)) + 1, (int)Math.Ceiling(Max(ez) - Min(ez)) + 1);
        return (new Affine(origin, ex, ey, ez), dims);
    }

    /// <summary>Separable Gaussian blur (sigma in voxels of 1 mm), edges replicated. The three passes ping-pong between
    /// the two scratch volumes (src, then A, B, A); the result is A, valid until the next call with the same scratch.</summary>
    private static float[] Gaussian(float[] src, Dims d, double sigma, (float[] A, float[] B) scratch)
    {
        var r = (int)Math.Ceiling(3 * sigma);
        var k = Kernel(sigma, r);
        var a = src;
        for (var axis = 0; axis < 3; axis++)
        {
            var dst = axis == 1 ? scratch.B : scratch.A;
            int len = d[axis], stride = axis == 0 ? 1 : axis == 1 ? d.X : d.X * d.Y, lines = a.Length / len;
            var from = a;
            Parallel.For(0, lines, line =>
            {
                var start = axis switch { 0 => line * d.X, 1 => line / d.X * d.X * d.Y + line % d.X, _ => line };
                Line1D(from, start, stride, len, k, r, dst);
            });
            a = dst;
        }
        return a;
    }

    /// <summary>The 1 mm crop's planes resampled from the source planes they need alone (<see cref="Resampler.SourceBox(Dims, Affine, Dims, Affine, int, int)"/>),
    /// read into one buffer reused from call to call; each value is the one a view of the whole box gives.</summary>
    private sealed class SlabSource<T>(IVoxelReader<T> values, VoxelBox box, LabelVolume labels, Dims dims, Affine grid)
        where T : unmanaged, INumberBase<T>
    {
        private T[] _buffer = [];

        public void FillPlanes(int first, int count, float[] destination)
        {
            var needed = Resampler.SourceBox(labels.Dims, labels.Affine, dims, grid, first, count);
            // The box's rows and columns (the planes' own are a subset), its planes limited to those these target planes read.
            var z0 = Math.Clamp(needed.Z, box.Z, box.Z + box.Size.Z - 1);
            var z1 = Math.Clamp(needed.Z + needed.Size.Z, z0 + 1, box.Z + box.Size.Z);
            var slab = new VoxelBox(box.X, box.Y, z0, new Dims(box.Size.X, box.Size.Y, z1 - z0));
            if (_buffer.LongLength < slab.Size.Count) _buffer = new T[slab.Size.Count];
            values.Read(slab, _buffer);
            new Resampler.ResampledView<T>(_buffer, slab, labels.Dims, labels.Affine, dims, grid, -1024f).FillPlanes(first, count, destination);
        }
    }

    /// <summary>Planes per slab of the fine-scale blur and the seed search: their scratch is about (this + 2 x the largest
    /// kernel radius) planes. 24, not 48, since the input is let go during the network run and this search became the
    /// analysis' peak (a 300-slice chest: about 490 MiB instead of 515; the halo is blurred more often, within the
    /// run-to-run spread of the search's time).</summary>
    private const int SlabPlanes = 24;

    /// <summary>Reused buffers of the slab-wise blur: the CT planes of the slab and its halo, the planes after the x and y
    /// passes, and the planes after the z pass (slab plus one on each side, which the Hessian reads).</summary>
    private sealed class SlabScratch(Dims d, int planes, int maxRadius)
    {
        public readonly float[] Source = new float[(long)(planes + 2 + 2 * maxRadius) * d.X * d.Y];
        public readonly float[] XY = new float[(long)(planes + 2 + 2 * maxRadius) * d.X * d.Y];
        public readonly float[] Z = new float[(long)(planes + 2) * d.X * d.Y];
    }

    /// <summary>
    /// <see cref="Gaussian"/> for planes <paramref name="za"/> to <paramref name="zb"/> only (inclusive, clamped to the
    /// volume): the same kernel, edge replication and order of summation, so each value equals the whole-volume blur's.
    /// Returns the buffer and the global index of its first plane.
    /// </summary>
    private static (float[] G, int FirstPlane) GaussianPlanes(float[] src, int srcFirstPlane, Dims d, double sigma, int za, int zb, SlabScratch scratch)
    {
        var r = (int)Math.Ceiling(3 * sigma);
        var k = Kernel(sigma, r);
        int nx = d.X, ny = d.Y, nz = d.Z, plane = nx * ny;
        za = Math.Max(0, za); zb = Math.Min(nz - 1, zb);
        int ha = Math.Max(0, za - r), hb = Math.Min(nz - 1, zb + r);
        var xy = scratch.XY;
        // x then y within each plane the z pass reads.
        Parallel.For(ha, hb + 1, () => new float[plane], (z, _, tmp) =>
        {
            var srcPlane = src.AsSpan((z - srcFirstPlane) * plane, plane); // src holds planes from srcFirstPlane
            for (var y = 0; y < ny; y++) Line1D(srcPlane, y * nx, 1, nx, k, r, tmp);
            var dst = xy.AsSpan((z - ha) * plane, plane);
            for (var x = 0; x < nx; x++) Line1D(tmp, x, nx, ny, k, r, dst);
            return tmp;
        }, _ => { });
        var g = scratch.Z;
        Parallel.For(0, ny, y =>
        {
            for (var x = 0; x < nx; x++)
            {
                var at = y * nx + x;
                for (var q = za; q <= zb; q++)
                {
                    float acc = 0;
                    if (q >= r && q + r < nz)
                    {
                        var from = (q - r - ha) * plane + at;
                        for (var t = 0; t < k.Length; t++, from += plane) acc += k[t] * xy[from];
                    }
                    else
                    {
                        for (var t = -r; t <= r; t++) acc += k[t + r] * xy[(Math.Clamp(q + t, 0, nz - 1) - ha) * plane + at];
                    }
                    g[(q - za) * plane + at] = acc;
                }
            }
        });
        return (g, za);
    }

    /// <summary>One line of a separable blur, as <see cref="Gaussian"/> sums it (same branches, same order).</summary>
    private static void Line1D(ReadOnlySpan<float> from, int start, int stride, int len, float[] k, int r, Span<float> dst)
    {
        for (var q = 0; q < len; q++)
        {
            float acc = 0;
            if (q >= r && q + r < len)
            {
                var at = start + (q - r) * stride;
                for (var t = 0; t < k.Length; t++, at += stride) acc += k[t] * from[at];
            }
            else
            {
                for (var t = -r; t <= r; t++) acc += k[t + r] * from[start + Math.Clamp(q + t, 0, len - 1) * stride];
            }
            dst[start + q * stride] = acc;
        }
    }

    private static float[] Kernel(double sigma, int r)
    {
        var k = new float[2 * r + 1];
        double sum = 0;
        for (var i = -r; i <= r; i++) sum += k[i + r] = (float)Math.Exp(-i * i / (2 * sigma * sigma));
        for (var i = 0; i < k.Length; i++) k[i] /= (float)sum;
        return k;
    }

    /// <summary>Each 2x2x2 block's mean (odd edges: the blocks that fit, plus the last voxel repeated), reading the
    /// source a few planes at a time.</summary>
    private static (float[] Data, Dims Dims) Halve(Action<int, int, float[]> fillPlanes, Dims d)
    {
        var h = new Dims((d.X + 1) / 2, (d.Y + 1) / 2, (d.Z + 1) / 2);
        var dst = new float[h.Count];
        const int chunk = 16; // coarse planes per read: 32 source planes
        var plane = d.X * d.Y;
        var src = new float[2L * chunk * plane];
        for (var z0 = 0; z0 < h.Z; z0 += chunk)
        {
            var z1 = Math.Min(h.Z, z0 + chunk);
            int first = 2 * z0, last = Math.Min(2 * z1 - 1, d.Z - 1);
            fillPlanes(first, last - first + 1, src);
            Parallel.For(z0, z1, z =>
            {
                for (var y = 0; y < h.Y; y++)
                for (var x = 0; x < h.X; x++)
                {
                    float sum = 0;
                    for (var k = 0; k < 2; k++)
                    for (var j = 0; j < 2; j++)
                    for (var i = 0; i < 2; i++)
                        sum += src[d.Index(Math.Min(2 * x + i, d.X - 1), Math.Min(2 * y + j, d.Y - 1), Math.Min(2 * z + k, d.Z - 1) - first)];
                    dst[h.Index(x, y, z)] = sum / 8;
                }
            });
        }
        return (dst, h);
    }

    /// <summary>
    /// Dot enhancement at one scale (sigma in mm, on a grid of <paramref name="voxelMm"/> voxels) where the lungs hold
    /// something denser than parenchyma; keeps the best scale per voxel.
    /// </summary>
    private static void Dot(float[] g, int gFirstPlane, Dims d, int z0, int z1, byte[] inLung, float sigma, float voxelMm, byte scale, float[] response, int responseFirstPlane, byte[] bestScale)
    {
        int nx = d.X, ny = d.Y, plane = nx * ny;
        // Scale-normalised (sigma^2), in HU per mm^2: differences over voxels are divided by the voxel size squared.
        var s2 = sigma * sigma / (voxelMm * voxelMm);
        Parallel.For(z0, z1, z =>
        {
            for (var y = 1; y < ny - 1; y++)
            for (var x = 1; x < nx - 1; x++)
            {
                var i = z * plane + y * nx + x;
                if (inLung[i] == 0) continue;
                var j = (z - gFirstPlane) * plane + y * nx + x; // the same voxel in g, which may hold only some planes
                if (g[j] < -750f) continue;
                var c = g[j];
                double hxx = g[j + 1] - 2 * c + g[j - 1];
                double hyy = g[j + nx] - 2 * c + g[j - nx];
                double hzz = g[j + plane] - 2 * c + g[j - plane];
                double hxy = (g[j + nx + 1] - g[j + nx - 1] - g[j - nx + 1] + g[j - nx - 1]) / 4;
                double hxz = (g[j + plane + 1] - g[j + plane - 1] - g[j - plane + 1] + g[j - plane - 1]) / 4;
                double hyz = (g[j + plane + nx] - g[j + plane - nx] - g[j - plane + nx] + g[j - plane - nx]) / 4;
                var (l1, _, l3) = Eigen(hxx, hyy, hzz, hxy, hxz, hyz);
                if (l3 >= 0) continue;
                var r = (float)(s2 * l3 * l3 / -l1);
                var o = i - responseFirstPlane * plane; // the same voxel in response, which may hold only some planes
                if (r > response[o]) { response[o] = r; bestScale[o] = scale; }
            }
        });
    }

    /// <summary>Eigenvalues of a symmetric 3x3 matrix, ascending (the trigonometric closed form).</summary>
    public static (double L1, double L2, double L3) Eigen(double a, double b, double c, double d, double e, double f)
    {
        // [[a d e] [d b f] [e f c]]
        var p1 = d * d + e * e + f * f;
        if (p1 < 1e-12)
        {
            Span<double> diag = [a, b, c];
            diag.Sort();
            return (diag[0], diag[1], diag[2]);
        }
        var q = (a + b + c) / 3;
        var p2 = (a - q) * (a - q) + (b - q) * (b - q) + (c - q) * (c - q) + 2 * p1;
        var p = Math.Sqrt(p2 / 6);
        double ba = (a - q) / p, bb = (b - q) / p, bc = (c - q) / p, bd = d / p, be = e / p, bf = f / p;
        var det = ba * (bb * bc - bf * bf) - bd * (bd * bc - bf * be) + be * (bd * bf - bb * be);
        var rr = Math.Clamp(det / 2, -1, 1);
        var phi = Math.Acos(rr) / 3;
        var e1 = q + 2 * p * Math.Cos(phi);
        var e3 = q + 2 * p * Math.Cos(phi + 2 * Math.PI / 3);
        var e2 = 3 * q - e1 - e3;
        return (e3, e2, e1);
    }

    /// <summary>
    /// The seed's solid tissue within a sphere a little larger than its scale: the connected voxels above -400 HU
    /// (from the densest voxel next to the seed), cut at the sphere so an attached vessel does not run on.
    /// </summary>
    private static (List<int> Voxels, Vec3 Centroid)? Grow<T>(Resampler.ResampledView<T> v, Dims d, Affine grid, int seed, float sigma, HashSet<int> taken, GrowScratch scratch)
        where T : unmanaged, INumberBase<T>
    {
        var grown = GrowRegion(v, d, grid, seed, sigma, taken, scratch, out var touchesTaken);
        // A fragment of a lump already taken (the rest of a large nodule beyond the first one's sphere) is not a second nodule.
        return touchesTaken ? null : grown;
    }

    /// <summary>The region growing's sets, reused from seed to seed: a seed at the lung's edge can grow through the chest
    /// wall up to its sphere's cap (161,000 voxels at the largest scale) before it is rejected, and every seed's sets
    /// were garbage. The voxel list returned is this scratch's, valid until the next seed.</summary>
    private sealed class GrowScratch
    {
        public readonly HashSet<int> Visited = [];
        public readonly Queue<int> Queue = new();
        public readonly List<int> Voxels = [];
        public readonly List<Vec3> Points = [];
    }

    private static (List<int> Voxels, Vec3 Centroid)? GrowRegion<T>(Resampler.ResampledView<T> v, Dims d, Affine grid, int seed, float sigma, HashSet<int> taken, GrowScratch scratch, out bool touchesTaken)
        where T : unmanaged, INumberBase<T>
    {
        int nx = d.X, ny = d.Y, plane = nx * ny;
        var best = seed;
        var bestValue = v[seed];
        for (var dz = -1; dz <= 1; dz++)
        for (var dy = -1; dy <= 1; dy++)
        for (var dx = -1; dx <= 1; dx++)
        {
            var j = seed + dz * plane + dy * nx + dx;
            if (j < 0 || j >= d.Count) continue;
            var value = v[j];
            if (value > bestValue) { best = j; bestValue = value; }
        }
        touchesTaken = false;
        if (bestValue < SolidHu || taken.Contains(best)) return null;
        var limit = Math.Max(4.0, 3 * sigma * Math.Sqrt(3));
        int sx = seed % nx, sy = seed / nx % ny, sz = seed / plane;
        var visited = scratch.Visited;
        var queue = scratch.Queue;
        var voxels = scratch.Voxels;
        visited.Clear(); queue.Clear(); voxels.Clear();
        visited.Add(best);
        queue.Enqueue(best);
        var cap = (int)(4.0 / 3 * Math.PI * limit * limit * limit) + 1;
        while (queue.Count > 0)
        {
            var i = queue.Dequeue();
            voxels.Add(i);
            if (voxels.Count > cap) break;
            int x = i % nx, y = i / nx % ny, z = i / plane;
            foreach (var (ox, oy, oz) in Faces)
            {
                int X = x + ox, Y = y + oy, Z = z + oz;
                if (!d.Contains(X, Y, Z)) continue;
                if ((X - sx) * (X - sx) + (Y - sy) * (Y - sy) + (Z - sz) * (Z - sz) > limit * limit) continue;
                var j = (int)d.Index(X, Y, Z);
                if (visited.Contains(j)) continue; // before the value: each one is a trilinear sample now
                if (v[j] < SolidHu) continue;
                if (taken.Contains(j)) { touchesTaken = true; continue; }
                visited.Add(j);
                queue.Enqueue(j);
            }
        }
        double cx = 0, cy = 0, cz = 0;
        foreach (var i in voxels) { cx += i % nx; cy += i / nx % ny; cz += i / plane; }
        var c = voxels.Count;
        return (voxels, grid.IndexToPatient(cx / c, cy / c, cz / c));
    }

    /// <summary>Square root of the largest over the smallest variance of the voxel positions (1 for a ball; a cylinder of length 4 diameters about 3.5).</summary>
    private static double Elongation(List<int> voxels, Dims d)
    {
        int nx = d.X, plane = d.X * d.Y;
        double mx = 0, my = 0, mz = 0;
        foreach (var i in voxels) { mx += i % nx; my += i / nx % d.Y; mz += i / plane; }
        var n = voxels.Count;
        mx /= n; my /= n; mz /= n;
        double xx = 0, yy = 0, zz = 0, xy = 0, xz = 0, yz = 0;
        foreach (var i in voxels)
        {
            double x = i % nx - mx, y = i / nx % d.Y - my, z = i / plane - mz;
            xx += x * x; yy += y * y; zz += z * z; xy += x * y; xz += x * z; yz += y * z;
        }
        var (l1, _, l3) = Eigen(xx / n, yy / n, zz / n, xy / n, xz / n, yz / n);
        return Math.Sqrt(l3 / Math.Max(l1, 1e-6));
    }

    private static readonly (int, int, int)[] Faces = [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)];

    /// <summary>Share of aerated lung (below -600 HU) in a shell 2 to 5 mm outside a sphere of the candidate's size.</summary>
    private static double AeratedShell<T>(Resampler.ResampledView<T> v, Dims d, Affine grid, Vec3 centre, double radius)
        where T : unmanaged, INumberBase<T>
    {
        var c = grid.PatientToIndex(centre);
        double inner = radius + 2, outer = radius + 5;
        var o = (int)Math.Ceiling(outer);
        long total = 0, aerated = 0;
        for (var dz = -o; dz <= o; dz++)
        for (var dy = -o; dy <= o; dy++)
        for (var dx = -o; dx <= o; dx++)
        {
            var r = Math.Sqrt(dx * dx + dy * dy + dz * dz);
            if (r < inner || r > outer) continue;
            int x = (int)Math.Round(c.X) + dx, y = (int)Math.Round(c.Y) + dy, z = (int)Math.Round(c.Z) + dz;
            if (!d.Contains(x, y, z)) continue;
            total++;
            if (v[d.Index(x, y, z)] < AeratedHu) aerated++;
        }
        return total == 0 ? 0 : (double)aerated / total;
    }
}
