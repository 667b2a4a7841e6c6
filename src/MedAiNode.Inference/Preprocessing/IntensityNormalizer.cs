using MedAiNode.Inference.Manifests;

namespace MedAiNode.Inference.Preprocessing;

/// <summary>Intensity normalisation matching the training pipelines the manifests name.</summary>
public static class IntensityNormalizer
{
    public static void Apply(IntensitySpec spec, Span<float> v)
    {
        switch (spec.Kind)
        {
            case IntensityKind.None:
                return;
            case IntensityKind.ScaleIntensityRange:
            {
                // MONAI ScaleIntensityRange: (x - a_min) / (a_max - a_min) * (b_max - b_min) + b_min, then optional clip.
                var scale = (spec.BMax - spec.BMin) / (spec.AMax - spec.AMin);
                float lo = Math.Min(spec.BMin, spec.BMax), hi = Math.Max(spec.BMin, spec.BMax);
                for (var i = 0; i < v.Length; i++)
                {
                    var x = (v[i] - spec.AMin) * scale + spec.BMin;
                    v[i] = spec.Clip ? Math.Clamp(x, lo, hi) : x;
                }
                return;
            }
            case IntensityKind.NnUNetCT:
            {
                // nnU-Net CTNormalization: clip to the dataset's foreground percentiles, subtract mean, divide by std.
                var inv = 1f / Math.Max(spec.Std, 1e-8f);
                for (var i = 0; i < v.Length; i++) v[i] = (Math.Clamp(v[i], spec.PercentileLow, spec.PercentileHigh) - spec.Mean) * inv;
                return;
            }
            case IntensityKind.ZScore:
            {
                double sum = 0, sq = 0; long n = 0;
                foreach (var x in v) if (!spec.NonZero || x != 0) { sum += x; sq += (double)x * x; n++; }
                if (n == 0) return;
                var mean = sum / n;
                var std = Math.Sqrt(Math.Max(0, sq / n - mean * mean));
                var inv = std > 0 ? 1 / std : 1;
                for (var i = 0; i < v.Length; i++) if (!spec.NonZero || v[i] != 0) v[i] = (float)((v[i] - mean) * inv);
                return;
            }
            case IntensityKind.MinMax:
            {
                float min = float.PositiveInfinity, max = float.NegativeInfinity;
                foreach (var x in v) { if (x < min) min = x; if (x > max) max = x; }
                var range = max - min;
                if (range <= 0) { v.Clear(); return; }
                for (var i = 0; i < v.Length; i++) v[i] = (v[i] - min) / range;
                return;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(spec), $"Unknown intensity normalisation {spec.Kind}.");
        }
    }
}
