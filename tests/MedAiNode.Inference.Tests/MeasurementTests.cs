using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Pipeline;

namespace MedAiNode.Inference.Tests;

public class MeasurementTests
{
    /// <summary>The pass per measurement that the one-pass version replaced.</summary>
    private static List<Measurement> Reference(ModelManifest m, LabelVolume labels, Volume values)
    {
        var result = new List<Measurement>();
        foreach (var spec in m.Measurements)
        {
            var set = new bool[256];
            foreach (var l in spec.Labels) set[l] = true;
            long n = 0, below = 0; double sum = 0;
            for (var i = 0; i < labels.Data.Length; i++)
            {
                if (!set[labels.Data[i]]) continue;
                n++;
                var v = values.Data[i];
                sum += v;
                if (v < spec.Threshold) below++;
            }
            var value = spec.Kind switch
            {
                MeasurementKind.Volume => n * labels.VoxelVolumeMm3 / 1000.0,
                MeasurementKind.MeanValue => n == 0 ? double.NaN : sum / n,
                MeasurementKind.PercentBelow => n == 0 ? double.NaN : 100.0 * below / n,
                _ => double.NaN,
            };
            result.Add(new Measurement(spec.Id, spec.Name, value, spec.Unit, spec.Concept));
        }
        return result;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void OnePass_EqualsAPassPerMeasurement_BitForBit(int seed)
    {
        var rng = new Random(seed);
        var d = new Dims(67, 45, 23);
        var affine = new Affine(new Vec3(-10, 5, 3), new Vec3(0.7, 0, 0), new Vec3(0, 0.7, 0.1), new Vec3(0, 0, 2.5));
        var labels = new LabelVolume(d, affine);
        var values = new Volume(d, affine);
        for (var i = 0; i < labels.Data.Length; i++)
        {
            // Mostly background, runs of labels, values of mixed magnitude so the summation order shows.
            labels.Data[i] = rng.NextDouble() < 0.6 ? (byte)0 : (byte)rng.Next(1, 7);
            values.Data[i] = (float)((rng.NextDouble() - 0.8) * Math.Pow(10, rng.Next(-2, 4)));
        }
        var m = Fixtures.Manifest();
        m.Measurements =
        [
            new MeasurementSpec { Id = "both", Kind = MeasurementKind.Volume, Labels = [2, 3], Unit = "mL" },
            new MeasurementSpec { Id = "left", Kind = MeasurementKind.Volume, Labels = [2] },
            new MeasurementSpec { Id = "mean", Kind = MeasurementKind.MeanValue, Labels = [2, 3] },
            new MeasurementSpec { Id = "below", Kind = MeasurementKind.PercentBelow, Labels = [3, 2], Threshold = -95.5f },
            new MeasurementSpec { Id = "twice", Kind = MeasurementKind.MeanValue, Labels = [5, 5, 1] },
            new MeasurementSpec { Id = "background", Kind = MeasurementKind.MeanValue, Labels = [0] },
            new MeasurementSpec { Id = "absent", Kind = MeasurementKind.MeanValue, Labels = [9] },
            new MeasurementSpec { Id = "none", Kind = MeasurementKind.PercentBelow, Labels = [] },
        ];
        var expected = Reference(m, labels, values);
        var actual = SegmentationPipeline.Measure(m, labels, values);
        Assert.Equal(expected, actual);
        Assert.True(double.IsNaN(actual.Single(x => x.Id == "absent").Value));
    }

    [Fact]
    public void PercentBelow_per_label_counts_each_label_on_its_own_with_its_measurement_threshold()
    {
        var rng = new Random(3);
        var d = new Dims(41, 37, 19);
        var affine = new Affine(new Vec3(0, 0, 0), new Vec3(1, 0, 0), new Vec3(0, 1, 0), new Vec3(0, 0, 1));
        var labels = new LabelVolume(d, affine);
        var values = new Volume(d, affine);
        for (var i = 0; i < labels.Data.Length; i++)
        {
            labels.Data[i] = rng.NextDouble() < 0.5 ? (byte)0 : (byte)rng.Next(1, 5);
            values.Data[i] = (float)rng.Next(-1100, 200);
        }
        var m = Fixtures.Manifest();
        m.Measurements =
        [
            new MeasurementSpec { Id = "laa", Kind = MeasurementKind.PercentBelow, Labels = [2, 3], Threshold = -950 },
            new MeasurementSpec { Id = "other", Kind = MeasurementKind.PercentBelow, Labels = [4], Threshold = -100 },
            new MeasurementSpec { Id = "volume", Kind = MeasurementKind.Volume, Labels = [1] },
        ];
        var actual = SegmentationPipeline.PercentBelowPerLabel(m, labels, values, [1, 2, 3, 4, 7]);
        Assert.Equal([2, 3, 4], actual.Keys.Order());
        foreach (var (label, threshold) in new[] { (2, -950.0), (3, -950.0), (4, -100.0) })
        {
            long n = 0, below = 0;
            for (var i = 0; i < labels.Data.Length; i++)
                if (labels.Data[i] == label) { n++; if (values.Data[i] < threshold) below++; }
            Assert.Equal(100.0 * below / n, actual[label]);
        }
        Assert.Empty(SegmentationPipeline.PercentBelowPerLabel(m, labels, values, [1]));
    }
}
