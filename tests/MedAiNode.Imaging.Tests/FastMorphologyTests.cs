using MedAiNode.Imaging.Morphology;
using MedAiNode.Imaging.Volumes;

namespace MedAiNode.Imaging.Tests;

/// <summary>The linear-time morphology used by the anatomy rules, against brute force on random masks.</summary>
public class FastMorphologyTests
{
    private static byte[] RandomMask(Dims d, double density, int seed)
    {
        var rng = new Random(seed);
        var m = new byte[d.Count];
        for (var i = 0; i < m.Length; i++) m[i] = rng.NextDouble() < density ? (byte)1 : (byte)0;
        return m;
    }

    [Fact]
    public void Squared_distance_is_exact_on_an_anisotropic_grid()
    {
        var d = new Dims(13, 11, 7);
        var mask = RandomMask(d, 0.04, 1);
        var spacing = (0.7, 0.9, 2.5);
        var fast = BallMorphology.SquaredDistance(mask, d, spacing, to: 1);
        for (var z = 0; z < d.Z; z++)
        for (var y = 0; y < d.Y; y++)
        for (var x = 0; x < d.X; x++)
        {
            var best = double.MaxValue;
            for (var k = 0; k < d.Z; k++)
            for (var j = 0; j < d.Y; j++)
            for (var i = 0; i < d.X; i++)
                if (mask[d.Index(i, j, k)] != 0)
                    best = Math.Min(best, Math.Pow((x - i) * spacing.Item1, 2) + Math.Pow((y - j) * spacing.Item2, 2) + Math.Pow((z - k) * spacing.Item3, 2));
            Assert.Equal(best, fast[d.Index(x, y, z)], 3);
        }
    }

    [Fact]
    public void Ball_closing_fills_a_round_dent_smaller_than_the_ball_and_keeps_a_wider_bay()
    {
        // A slab with a 6 mm hemispherical dent and a 40 mm wide bay, 1 mm voxels; closing by 10 mm.
        var d = new Dims(80, 40, 30);
        var m = new byte[d.Count];
        for (var z = 0; z < d.Z; z++)
        for (var y = 0; y < 20; y++)
        for (var x = 0; x < d.X; x++)
        {
            var dent = Math.Pow(x - 15, 2) + Math.Pow(y - 19, 2) + Math.Pow(z - 15, 2) < 36;
            var bay = x >= 35 && x < 75 && y >= 5;
            if (!dent && !bay) m[d.Index(x, y, z)] = 1;
        }
        var closed = BallMorphology.Close(m, d, (1, 1, 1), 10);
        Assert.Equal(1, closed[d.Index(15, 17, 15)]); // the dent is filled
        Assert.Equal(0, closed[d.Index(55, 15, 15)]); // the middle of the bay is not
        for (var i = 0; i < m.Length; i++) if (m[i] != 0) Assert.Equal(1, closed[i]); // closing only adds
    }

    [Fact]
    public void Box_dilation_and_erosion_equal_repeated_26_neighbour_steps()
    {
        var d = new Dims(17, 15, 12);
        var mask = RandomMask(d, 0.08, 2);
        Assert.Equal(BinaryMorphology.Dilate(mask, d, Connectivity.Full26, 2), BoxMorphology.Dilate(mask, d, 2));
        // Erosion keeps what touches the grid's edge (outside counts as set), so compare away from the border.
        var dense = RandomMask(d, 0.9, 3);
        var fast = BoxMorphology.Erode(dense, d, 1);
        var slow = BinaryMorphology.Erode(dense, d, Connectivity.Full26, 1);
        for (var z = 1; z < d.Z - 1; z++)
        for (var y = 1; y < d.Y - 1; y++)
        for (var x = 1; x < d.X - 1; x++)
            Assert.Equal(slow[d.Index(x, y, z)], fast[d.Index(x, y, z)]);
    }

    [Fact]
    public void Slice_hole_filling_fills_enclosed_holes_only()
    {
        var d = new Dims(9, 9, 2);
        var m = new byte[d.Count];
        for (var x = 2; x <= 6; x++) { m[d.Index(x, 2, 0)] = 1; m[d.Index(x, 6, 0)] = 1; m[d.Index(2, x, 0)] = 1; m[d.Index(6, x, 0)] = 1; }
        // Slice 1: the same ring with a gap, so its inside is reached from the border.
        for (var x = 2; x <= 6; x++) { m[d.Index(x, 2, 1)] = 1; m[d.Index(x, 6, 1)] = 1; m[d.Index(2, x, 1)] = 1; m[d.Index(6, x, 1)] = 1; }
        m[d.Index(4, 2, 1)] = 0;
        BoxMorphology.FillHoles2D(m, d);
        Assert.Equal(1, m[d.Index(4, 4, 0)]);
        Assert.Equal(0, m[d.Index(4, 4, 1)]);
        Assert.Equal(0, m[d.Index(0, 0, 0)]);
    }
}
