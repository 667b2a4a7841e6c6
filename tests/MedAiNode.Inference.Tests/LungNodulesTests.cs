using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Postprocessing;

namespace MedAiNode.Inference.Tests;

/// <summary>
/// The nodule search computes its dot response and finds its seeds slab by slab in z, so that no response volume of the
/// whole 1 mm crop is held (issue 16, memory). Slabs must not change what it finds: a phantom with textured lung and
/// solid spheres, some centred on slab boundaries, gives the same candidates whatever the slab depth, down to the bit.
/// </summary>
public class LungNodulesTests
{
    private const byte Left = 2, Right = 3;

    /// <summary>
    /// 1 mm grid, 70 x 60 x 130 voxels; lungs (label 3 for x &lt; 35, 2 beyond) at -700 HU with +-150 HU of texture (dense
    /// enough for the dot filter, so hundreds of seeds), air around them; spheres of 40 HU. The crop adds 6 mm around the lungs, so crop plane p is volume plane p - 4 and the
    /// default slabs (48 planes from crop plane 1) meet at volume planes 45 and 93.
    /// </summary>
    private static (Volume Hu, LabelVolume Labels, (Vec3 Centre, double Radius)[] Spheres) Phantom()
    {
        var d = new Dims(70, 60, 130);
        var affine = Affine.FromDirections(new Vec3(-35, -30, 0), new Vec3(1, 1, 1), new Vec3(1, 0, 0), new Vec3(0, 1, 0), new Vec3(0, 0, 1));
        var hu = new Volume(d, affine);
        var labels = new LabelVolume(d, affine);
        var random = new Random(16);
        (Vec3, double)[] spheres =
        [
            (new Vec3(15, 20, 45), 4.0), (new Vec3(50, 35, 45.5), 3.0), (new Vec3(30, 15, 93), 5.0), (new Vec3(55, 20, 70), 2.5),
            (new Vec3(20, 42, 20), 6.0), (new Vec3(45, 45, 110), 3.5), (new Vec3(28, 30, 48), 2.0),
        ];
        for (var z = 0; z < d.Z; z++)
        for (var y = 0; y < d.Y; y++)
        for (var x = 0; x < d.X; x++)
        {
            var i = d.Index(x, y, z);
            var inLung = x is >= 4 and < 66 && y is >= 4 and < 56 && z is >= 2 and < 128;
            hu.Data[i] = inLung ? -700f + (float)(random.NextDouble() * 300 - 150) : -1000f;
            if (inLung) labels.Data[i] = x < 35 ? Right : Left;
            foreach (var (c, r) in spheres)
                if ((new Vec3(x, y, z) - c).Length <= r) hu.Data[i] = 40f;
        }
        return (hu, labels, spheres);
    }

    [Fact]
    public void The_seeds_do_not_depend_on_the_slab_depth()
    {
        var (hu, labels, _) = Phantom();
        // The search's own input: the phantom is on a 1 mm grid already, so the crop is a plain copy of its voxels.
        var side = new byte[hu.Data.Length];
        for (var i = 0; i < side.Length; i++) side[i] = labels.Data[i] == Left ? (byte)1 : labels.Data[i] == Right ? (byte)2 : (byte)0;
        var whole = LungNodules.Seeds(hu.Data, hu.Dims, side, 20, slabDepth: 1000);
        Assert.True(whole.Count > 200, $"{whole.Count} seeds: the texture should give hundreds");
        foreach (var depth in new[] { 48, 17, 5, 1 })
        {
            var slabbed = LungNodules.Seeds(hu.Data, hu.Dims, side, 20, slabDepth: depth);
            Assert.Equal(whole.Count, slabbed.Count);
            for (var k = 0; k < whole.Count; k++)
                Assert.True(whole[k] == slabbed[k], $"slab depth {depth}: seed {k} is {slabbed[k]}, {whole[k]} with the whole crop");
        }
    }

    [Fact]
    public void The_candidates_do_not_depend_on_the_slab_depth()
    {
        var (hu, labels, spheres) = Phantom();
        var spec = new NoduleSpec { Label = 6, MaxCandidates = 50 };
        var whole = LungNodules.Detect(hu, labels, Left, Right, spec, slabDepth: 1000);
        // Each sphere of 3 mm and more across is found once, where it is (the crop grid is the volume's, shifted).
        foreach (var (centre, radius) in spheres)
        {
            var at = hu.Affine.IndexToPatient(centre);
            var hits = whole.Candidates.Where(c => (c.CentroidMm - at).Length < 1.5).ToList();
            Assert.True(hits.Count == 1, $"sphere of radius {radius} at {centre}: {hits.Count} candidates there; all: {Describe(whole)}");
            Assert.InRange(hits[0].EquivalentDiameterMm, 2 * radius * 0.85, 2 * radius * 1.15);
        }
        foreach (var depth in new[] { 48, 17, 5, 1 })
        {
            var slabbed = LungNodules.Detect(hu, labels, Left, Right, spec, slabDepth: depth);
            Assert.True(Describe(whole) == Describe(slabbed), $"slab depth {depth}:\n{Describe(slabbed)}\nwhole crop:\n{Describe(whole)}");
            Assert.Equal(whole.Candidates.Select(c => c.GridVoxels.Order().ToArray()), slabbed.Candidates.Select(c => c.GridVoxels.Order().ToArray()));
        }
    }

    /// <summary>
    /// The search reads the CT only within the box of its grid around the lungs (a slab of its planes at a time for the
    /// seeds, then the box once for the growing), so that an analysis that let its input go reads back only that box. On the phantom placed in a larger volume (air around it, as a chest lies in its field of
    /// view, and an oblique grid: rows not along x), the box is a fraction of the volume and the candidates found from it
    /// alone are those found from the whole volume, down to each voxel.
    /// </summary>
    [Fact]
    public void The_candidates_from_the_box_around_the_lungs_alone_are_those_from_the_whole_volume()
    {
        var (phantom, phantomLabels, _) = Phantom();
        var p = phantom.Dims;
        var d = new Dims(p.X + 60, p.Y + 50, p.Z + 40);
        (int X, int Y, int Z) at = (35, 20, 25);
        // Voxels of 0.8 x 0.8 x 1.25 mm, turned in the plane: the 1 mm crop grid then cuts the voxels obliquely.
        var t = 0.2;
        var affine = new Affine(new Vec3(-60, -40, 10), new Vec3(Math.Cos(t), Math.Sin(t), 0) * 0.8, new Vec3(-Math.Sin(t), Math.Cos(t), 0) * 0.8, new Vec3(0, 0, 1.25));
        var hu = new HuVolume(d, affine);
        Array.Fill(hu.Data, (short)-1000);
        var labels = new LabelVolume(d, affine);
        for (var z = 0; z < p.Z; z++)
        for (var y = 0; y < p.Y; y++)
        for (var x = 0; x < p.X; x++)
        {
            hu[at.X + x, at.Y + y, at.Z + z] = (short)Math.Round(phantom[x, y, z]);
            labels[at.X + x, at.Y + y, at.Z + z] = phantomLabels[x, y, z];
        }
        var spec = new NoduleSpec { Label = 6, MaxCandidates = 50 };
        var whole = LungNodules.Detect(hu, labels, Left, Right, spec);
        Assert.True(whole.Candidates.Count >= 5, Describe(whole));

        var reader = new BoxOnlyReader(hu);
        var fromBox = LungNodules.Detect(reader, labels, Left, Right, spec);
        var only = Assert.Single(reader.Boxes);
        Assert.True(only.Size.Count < d.Count * 6 / 10, $"box {only} of {d}");
        Assert.True(Describe(whole) == Describe(fromBox), $"from the box:\n{Describe(fromBox)}\nwhole volume:\n{Describe(whole)}");
        Assert.Equal(whole.Candidates.Select(c => c.GridVoxels.Order().ToArray()), fromBox.Candidates.Select(c => c.GridVoxels.Order().ToArray()));
        // The seed search read its planes a slab at a time, each within the box, all of them together covering it.
        Assert.NotEmpty(reader.Slabs);
        Assert.All(reader.Slabs, s => Assert.True(s.X == only.X && s.Y == only.Y && s.Size.X == only.Size.X && s.Size.Y == only.Size.Y
            && s.Z >= only.Z && s.Z + s.Size.Z <= only.Z + only.Size.Z, $"slab {s} outside the box {only}"));
        Assert.Equal(only.Z, reader.Slabs.Min(s => s.Z));
        Assert.Equal(only.Z + only.Size.Z, reader.Slabs.Max(s => s.Z + s.Size.Z));

        // With slabs of 5 planes, no read holds more than a fraction of the box, and the candidates are still the same.
        var small = new BoxOnlyReader(hu);
        var fromSlabs = LungNodules.Detect(small, labels, Left, Right, spec, slabDepth: 5);
        Assert.True(Describe(whole) == Describe(fromSlabs), $"slabs of 5:\n{Describe(fromSlabs)}\nwhole volume:\n{Describe(whole)}");
        Assert.Equal(whole.Candidates.Select(c => c.GridVoxels.Order().ToArray()), fromSlabs.Candidates.Select(c => c.GridVoxels.Order().ToArray()));
        var largest = small.Slabs.Max(s => s.Size.Z);
        Assert.True(largest * 2 < only.Size.Z, $"the largest slab read holds {largest} of the box's {only.Size.Z} planes");
    }

    /// <summary>A reader that holds only the boxes asked for: a read outside them indexes the wrong voxel or fails. Buffers
    /// filled by <see cref="IVoxelReader{T}.Read(VoxelBox, T[])"/> get a poison value past the box.</summary>
    private sealed class BoxOnlyReader(HuVolume hu) : IVoxelReader<short>
    {
        public List<VoxelBox> Boxes { get; } = [];
        public List<VoxelBox> Slabs { get; } = [];

        public VoxelWindow<short> Read(VoxelBox box)
        {
            Boxes.Add(box);
            var held = new HuVolume(box.Size, hu.Affine);
            HeldVolumeReader<short>.CopyBox(hu, box, held.Data);
            return new VoxelWindow<short>(held, box);
        }

        public void Read(VoxelBox box, short[] into)
        {
            Slabs.Add(box);
            Array.Fill(into, (short)3000);
            HeldVolumeReader<short>.CopyBox(hu, box, into);
        }
    }

    /// <summary>The region growing reuses one set of scratch collections from seed to seed (hundreds of seeds here, many
    /// grown through the texture and rejected): each candidate must keep its own voxels, exactly its sphere's, none of
    /// another seed's, as when every seed had fresh sets.</summary>
    [Fact]
    public void Each_candidate_keeps_its_own_voxels_while_the_growing_reuses_its_sets()
    {
        var (hu, labels, spheres) = Phantom();
        var detection = LungNodules.Detect(hu, labels, Left, Right, new NoduleSpec { Label = 6, MaxCandidates = 50 });
        var seen = new HashSet<int>();
        foreach (var c in detection.Candidates)
        {
            var (centre, radius) = spheres.MinBy(s => (hu.Affine.IndexToPatient(s.Centre) - c.CentroidMm).Length);
            var at = hu.Affine.IndexToPatient(centre);
            Assert.Equal(c.VolumeMl * 1000, c.GridVoxels.Count, 6);
            // Every voxel on the sphere (the phantom is on the crop's 1 mm grid, so its spheres' voxels are whole), none of another's.
            foreach (var i in c.GridVoxels)
            {
                var p = detection.Grid.IndexToPatient(i % detection.Dims.X, i / detection.Dims.X % detection.Dims.Y, i / (detection.Dims.X * detection.Dims.Y));
                Assert.True((p - at).Length <= radius + 1e-6, $"candidate at {c.CentroidMm} holds a voxel {(p - at).Length:0.0} mm from its sphere's centre (radius {radius})");
                Assert.True(seen.Add(i), $"voxel {i} belongs to two candidates");
            }
        }
        Assert.True(detection.Candidates.Count >= spheres.Length - 1, $"{detection.Candidates.Count} candidates for {spheres.Length} spheres");
    }

    private static string Describe(NoduleDetection d) => string.Join("\n", d.Candidates.Select(c =>
        $"{c.CentroidMm.X:R} {c.CentroidMm.Y:R} {c.CentroidMm.Z:R} vol {c.VolumeMl:R} conf {c.Confidence:R} mean {c.MeanHu:R} shell {c.AeratedShell:R} side {c.Side}"));
}
