using MedAiNode.Dicom;
using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Morphology;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Postprocessing;

namespace MedAiNode.Analysis.Tests;

public class MeasurementTests
{
    /// <summary>The pass per region that the one-pass count replaced.</summary>
    private static double Reference(MeasurementSpec spec, int[] over, LabelVolume labels, Volume values)
    {
        var set = new bool[256];
        foreach (var l in over) set[l] = true;
        long n = 0, below = 0; double sum = 0;
        for (var i = 0; i < labels.Data.Length; i++)
        {
            if (!set[labels.Data[i]]) continue;
            n++;
            var v = values.Data[i];
            sum += v;
            if (v < spec.Threshold) below++;
        }
        return spec.Kind switch
        {
            MeasurementKind.Volume => n * labels.VoxelVolumeMm3 / 1000.0,
            MeasurementKind.MeanValue => n == 0 ? double.NaN : sum / n,
            MeasurementKind.PercentBelow => n == 0 ? double.NaN : 100.0 * below / n,
            _ => double.NaN,
        };
    }

    private static (LabelVolume Labels, Volume Values) Random(int seed, Dims d, Func<Random, float> value)
    {
        var rng = new Random(seed);
        var affine = new Affine(new Vec3(-10, 5, 3), new Vec3(0.7, 0, 0), new Vec3(0, 0.7, 0.1), new Vec3(0, 0, 2.5));
        var labels = new LabelVolume(d, affine);
        var values = new Volume(d, affine);
        for (var i = 0; i < labels.Data.Length; i++)
        {
            // Mostly background, runs of labels, values of mixed magnitude so the summation order shows.
            labels.Data[i] = rng.NextDouble() < 0.6 ? (byte)0 : (byte)rng.Next(1, 7);
            values.Data[i] = value(rng);
        }
        return (labels, values);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void OnePassCount_EqualsAPassPerRegion_BitForBit(int seed)
    {
        var (labels, values) = Random(seed, new Dims(67, 45, 23), rng => (float)((rng.NextDouble() - 0.8) * Math.Pow(10, rng.Next(-2, 4))));
        var regions = new List<(MeasurementSpec, int[])>
        {
            (new MeasurementSpec { Id = "both", Kind = MeasurementKind.Volume }, [2, 3]),
            (new MeasurementSpec { Id = "left", Kind = MeasurementKind.Volume }, [2]),
            (new MeasurementSpec { Id = "mean", Kind = MeasurementKind.MeanValue }, [2, 3]),
            (new MeasurementSpec { Id = "below", Kind = MeasurementKind.PercentBelow, Threshold = -95.5f }, [3, 2]),
            (new MeasurementSpec { Id = "twice", Kind = MeasurementKind.MeanValue }, [5, 5, 1]),
            (new MeasurementSpec { Id = "background", Kind = MeasurementKind.MeanValue }, [0]),
            (new MeasurementSpec { Id = "absent", Kind = MeasurementKind.MeanValue }, [9]),
            (new MeasurementSpec { Id = "none", Kind = MeasurementKind.PercentBelow }, []),
        };
        var actual = Measuring.Count(labels, values, regions);
        for (var r = 0; r < regions.Count; r++)
            Assert.Equal(Reference(regions[r].Item1, regions[r].Item2, labels, values), actual[r]);
        Assert.True(double.IsNaN(actual[6]));
    }

    [Fact]
    public void Manifest_measurements_become_coded_measurements_per_label_and_over_unions()
    {
        var (labels, values) = Random(3, new Dims(41, 37, 19), rng => rng.Next(-1100, 200));
        for (var i = 0; i < labels.Data.Length; i++) if (labels.Data[i] == 5) labels.Data[i] = 0; // label 5 absent
        var m = Fixtures.Manifest(channels: 7);
        m.Labels = Enumerable.Range(1, 6).Select(v => new LabelSpec { Value = v, Name = "L" + v, Category = m.Labels[0].Category, Type = m.Labels[0].Type }).ToArray();
        m.Measurements =
        [
            new MeasurementSpec { Id = "volume", Kind = MeasurementKind.Volume, PerLabel = true },
            new MeasurementSpec { Id = "laa", Kind = MeasurementKind.PercentBelow, Labels = [2, 3], PerLabel = true, Threshold = -950 },
            new MeasurementSpec { Id = "other", Kind = MeasurementKind.PercentBelow, Labels = [4, 5], Threshold = -100 },
            new MeasurementSpec { Id = "mean", Kind = MeasurementKind.MeanValue, Labels = [2, 3], Concept = new CodedConcept("X1", "99TEST", "Test mean") },
        ];
        m.Validate();
        var stats = m.Labels.Select(l => new LabelSummary(l.Value, l.Name, RegionMeasurements.Measure(labels, i => labels.Data[i] == l.Value, values.Data))).ToList();
        var lesion = new LesionCandidate(6, 1, 10, 0.25, new Vec3(1, 2, 3), 4.5, 0.9) { LongestDiameterEndsMm = new DiameterEnds(new Vec3(0, 2, 3), new Vec3(4.5, 2, 3)) };
        var measured = Measuring.Measure(m, labels, values, stats, [lesion]);

        // Per label, in label order: volumes of the present labels (5 has none), each lung's own LAA.
        var volumes = measured.Where(x => x.Id == "volume").ToList();
        Assert.Equal([1, 2, 3, 4, 6], volumes.Select(x => x.Labels.Single()));
        Assert.All(volumes, v => Assert.Equal(Codes.Volume, v.Concept));
        Assert.All(volumes, v => Assert.Equal(Codes.Milliliter, v.Unit));
        Assert.Equal(stats[1].Statistics.VolumeMl, volumes[1].Value);
        foreach (var (label, threshold, id) in new[] { (2, -950.0, "laa"), (3, -950.0, "laa") })
        {
            long n = 0, below = 0;
            for (var i = 0; i < labels.Data.Length; i++)
                if (labels.Data[i] == label) { n++; if (values.Data[i] < threshold) below++; }
            var laa = measured.Single(x => x.Id == id && x.Labels.SequenceEqual([label]));
            Assert.Equal(100.0 * below / n, laa.Value);
            Assert.Equal(new CodedConcept("PCTBELOW-950", Codes.LocalSchemeDesignator, "Percent of region below -950 Hounsfield unit"), laa.Concept);
        }
        // A threshold of its own gets a concept of its own; the union covers only present labels.
        var other = measured.Single(x => x.Id == "other");
        Assert.Equal("PCTBELOW-100", other.Concept.Value);
        Assert.Equal([4], other.Labels);
        // A declared concept wins over the kind's usual one.
        Assert.Equal("Test mean", measured.Single(x => x.Id == "mean").Concept.Meaning);
        Assert.Equal([2, 3], measured.Single(x => x.Id == "mean").Labels);
        // Each lesion: volume, longest diameter and the detector's confidence (no mean: this one has none measured), numbered within its label.
        var lesionValues = measured.Where(x => x.Lesion == 1).ToList();
        Assert.Equal([Codes.Volume, Codes.LongAxis, new CodedConcept("DETCONF", "99MEDAI", "Detection confidence")], lesionValues.Select(x => x.Concept));
        Assert.Equal([0.25, 4.5, 0.9], lesionValues.Select(x => x.Value));
        Assert.Equal("1", lesionValues[2].Unit.Value);
        // A diameter carries the line it measures (its SR SCOORD3D); a volume carries none.
        Assert.Null(lesionValues[0].Geometry);
        Assert.Equal(SpatialCoordinates.PolylineType, lesionValues[1].Geometry!.GraphicType);
        Assert.Equal([0, 2, 3, 4.5, 2, 3], lesionValues[1].Geometry!.PointsMm);
        Assert.Equal(4.5, lesionValues[1].Geometry!.LengthMm);
        Assert.All(volumes, v => Assert.Null(v.Geometry));
    }

    /// <summary>Counting by planes sums each region in index order, so it equals a pass per region for the values the
    /// old slab sums had special paths for: whole HU-like numbers, whole numbers too large to sum exactly in any order,
    /// and a NaN among them.</summary>
    [Theory]
    [InlineData(4, 1f)]
    [InlineData(5, 3e9f)]
    [InlineData(6, float.NaN)]
    public void Counting_by_planes_equals_a_pass_per_region_for_whole_large_and_nan_values(int seed, float scale)
    {
        // 600x500 planes: 6 a read, so two reads over 9 planes.
        var (labels, values) = Random(seed, new Dims(600, 500, 9), rng => MathF.Round((float)(rng.NextDouble() * 4095 - 1024)) * (float.IsNaN(scale) ? 1 : scale));
        if (float.IsNaN(scale)) (values.Data[values.Data.Length / 2], labels.Data[values.Data.Length / 2]) = (float.NaN, 2);
        var regions = Enumerable.Range(1, 6).Select(l => (new MeasurementSpec { Id = "mean" + l, Kind = MeasurementKind.MeanValue }, new[] { l }))
            .Append((new MeasurementSpec { Id = "lungs", Kind = MeasurementKind.MeanValue }, [2, 3]))
            .Append((new MeasurementSpec { Id = "below", Kind = MeasurementKind.PercentBelow, Threshold = -100 }, [1, 4])).ToList();
        var reads = 0;
        var actual = Measuring.Count<float>(labels, (z0, count, into) =>
        {
            reads++;
            Array.Copy(values.Data, z0 * 300_000L, into, 0, count * 300_000L);
        }, regions);
        Assert.Equal(2, reads);
        for (var r = 0; r < regions.Count; r++)
            Assert.Equal(Reference(regions[r].Item1, regions[r].Item2, labels, values), actual[r]);
        Assert.Equal(float.IsNaN(scale), actual.Any(double.IsNaN));
    }

    /// <summary>The analysis measures without holding its input: the geometry from the labels alone, the values read back
    /// a few planes at a time. Every statistic and measurement equals the one measured on the whole volume, to the bit,
    /// for int16 HU and for floats whose sum depends on the order; planes with no label are not read.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Measuring_from_planes_read_back_equals_measuring_the_whole_volume_bit_for_bit(bool floats)
    {
        // 600x500 planes: 6 planes a read (2 M values); planes 6-11 hold no label, so the reads are 0-5, 12-17, 18-19.
        var d = new Dims(600, 500, 20);
        var (labels, f) = Random(7, d, rng => floats ? (float)((rng.NextDouble() - 0.8) * Math.Pow(10, rng.Next(-2, 4))) : rng.Next(-1100, 200));
        Array.Clear(labels.Data, 6 * 300_000, 6 * 300_000);
        for (var i = 0; i < labels.Data.Length; i++) if (labels.Data[i] == 5) labels.Data[i] = 0; // label 5 absent
        var m = Fixtures.Manifest(channels: 7);
        m.Labels = Enumerable.Range(1, 6).Select(v => new LabelSpec { Value = v, Name = "L" + v, Category = m.Labels[0].Category, Type = m.Labels[0].Type }).ToArray();
        var meanHu = new CodedConcept("X2", "99TEST", "Test label mean");
        m.Measurements =
        [
            new MeasurementSpec { Id = "volume", Kind = MeasurementKind.Volume, PerLabel = true },
            new MeasurementSpec { Id = "meanHu", Kind = MeasurementKind.MeanValue, PerLabel = true, Concept = meanHu },
            new MeasurementSpec { Id = "laa", Kind = MeasurementKind.PercentBelow, Labels = [2, 3], PerLabel = true, Threshold = -950 },
            new MeasurementSpec { Id = "other", Kind = MeasurementKind.PercentBelow, Labels = [4, 5], Threshold = -100 },
            new MeasurementSpec { Id = "mean", Kind = MeasurementKind.MeanValue, Labels = [2, 3], Concept = new CodedConcept("X1", "99TEST", "Test mean") },
        ];
        m.Validate();
        var lesion = new LesionCandidate(6, 1, 10, 0.25, new Vec3(1, 2, 3), 4.5, 0.9);
        if (floats) Check(f);
        else
        {
            var hu = new HuVolume(d, f.Affine);
            for (var i = 0; i < hu.Data.Length; i++) hu.Data[i] = (short)f.Data[i];
            Check(hu);
        }

        void Check<T>(VoxelVolume<T> values) where T : unmanaged, System.Numerics.INumberBase<T>
        {
            // The geometry (checked against its per-label reference in RegionMeasurementsTests) with each label's mean
            // summed here voxel by voxel in index order.
            var expectedStats = m.Labels.Select(l =>
            {
                var st = RegionMeasurements.Measure(labels, (byte)l.Value);
                double sum = 0;
                for (var i = 0; i < labels.Data.Length; i++) if (labels.Data[i] == l.Value) sum += double.CreateTruncating(values.Data[i]);
                return new LabelSummary(l.Value, l.Name, st.VoxelCount == 0 ? st : st with { MeanValue = sum / st.VoxelCount });
            }).ToList();
            var expected = Measuring.Measure(m, labels, values, expectedStats, [lesion]);
            var reads = new List<(int Z0, int Count)>();
            var (stats, measured) = Measuring.Measure<T>(m, labels, (z0, count, into) =>
            {
                reads.Add((z0, count));
                Array.Copy(values.Data, z0 * 300_000L, into, 0, count * 300_000L);
            }, [lesion]);
            Assert.Equal([(0, 6), (12, 6), (18, 2)], reads);
            Assert.Equal(expectedStats, stats);
            Assert.All(stats.Where(s => s.Label != 5), s => Assert.NotNull(s.Statistics.MeanValue));
            Assert.Equal(Describe(expected), Describe(measured));
            Assert.Contains(measured, x => x.Id == "meanHu" && x.Concept == meanHu);
        }

        static List<string> Describe(List<Measurement> ms) => ms.Select(x =>
            $"{x.Id} {x.Concept.Value} {x.Value:R} {string.Join(",", x.Labels)} {x.Lesion} {x.Unit.Value}").ToList();
    }

    [Fact]
    public void Manifest_without_measurements_gets_volume_mean_and_diameter_per_label_and_bad_declarations_name_the_key()
    {
        var m = Fixtures.Manifest();
        Assert.Null(m.Measurements);
        Assert.Equal(["volume", "meanHu", "longestDiameter"], m.EffectiveMeasurements.Select(x => x.Id));
        m.Modalities = ["MR"];
        Assert.Equal(["volume", "longestDiameter"], m.EffectiveMeasurements.Select(x => x.Id));
        m.Measurements = [new MeasurementSpec { Id = "mean", Kind = MeasurementKind.MeanValue, PerLabel = true }];
        Assert.Contains("measurements[mean].concept", Assert.Throws<ManifestException>(() => m.Validate()).Message);
        m.Measurements = [new MeasurementSpec { Id = "d", Kind = MeasurementKind.LongestDiameter, Labels = [1] }];
        Assert.Contains("measurements[d].perLabel", Assert.Throws<ManifestException>(() => m.Validate()).Message);
        m.Measurements = [new MeasurementSpec { Id = "v", Kind = MeasurementKind.Volume, Labels = [4] }];
        Assert.Contains("measurements[v].labels", Assert.Throws<ManifestException>(() => m.Validate()).Message);
    }
}
