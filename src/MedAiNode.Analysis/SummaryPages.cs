using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Imaging.Series;
using MedAiNode.Inference.Postprocessing;
using MedAiNode.Results;
using MedAiNode.Results.Summary;

namespace MedAiNode.Analysis;

/// <summary>
/// The "AI summary" series of an analysis: which source slices to show (for each segment the slice where it is largest
/// and the one at its centre; each lesion's centre), decoded to HU, with the SEG's labels, and the page of measurements.
/// </summary>
public static class SummaryPages
{
    /// <summary>Key slices, most telling first (largest area per segment, then lesion centres, then segment centres), at most
    /// <paramref name="max"/>, a slice chosen twice shown once with both reasons; returned in series order.</summary>
    public static List<(int SliceIndex, string Reason)> ChooseKeySlices(SourceSeries source, LabelMap labels, IReadOnlyList<SegmentDescription> segments,
        IReadOnlyList<LesionCandidate> lesions, int max)
    {
        var normal = source.First.Normal;
        var along = source.Images.Select(i => Dot(i.ImagePositionPatient, normal)).ToArray();
        var area = new long[256, source.Images.Count];
        for (var z = 0; z < source.Images.Count; z++)
        {
            if (!labels.TryGet(source.Images[z].SopInstanceUid, out var map)) continue;
            foreach (var l in map.Span) area[l, z]++;
        }
        var picks = new List<(int Z, string Why)>();
        var centres = new List<(int Z, string Why)>();
        foreach (var s in segments.OrderBy(s => s.Number))
        {
            long best = 0, total = 0;
            int bestZ = -1;
            double weighted = 0;
            for (var z = 0; z < along.Length; z++)
            {
                var a = area[s.Number, z];
                if (a == 0) continue;
                if (a > best) (best, bestZ) = (a, z);
                total += a;
                weighted += a * along[z];
            }
            if (bestZ < 0) continue;
            picks.Add((bestZ, $"largest area of {s.Label}"));
            // The centre along the slice normal (area-weighted), shown on the nearest slice that holds the segment.
            var centre = weighted / total;
            var zc = Enumerable.Range(0, along.Length).Where(z => area[s.Number, z] > 0).MinBy(z => Math.Abs(along[z] - centre));
            centres.Add((zc, $"centre of {s.Label}"));
        }
        foreach (var (lesion, n) in lesions.GroupBy(l => l.Label).SelectMany(g => g.Select((l, i) => (l, i + 1))))
        {
            var name = segments.FirstOrDefault(s => s.Number == lesion.Label)?.Label ?? $"label {lesion.Label}";
            var c = lesion.CentroidMm;
            var d = Dot([c.X, c.Y, c.Z], normal);
            picks.Add((Enumerable.Range(0, along.Length).MinBy(z => Math.Abs(along[z] - d)), $"centre of {name} lesion {n}"));
        }
        picks.AddRange(centres);
        var chosen = new List<(int Z, List<string> Why)>();
        foreach (var (z, why) in picks)
        {
            if (chosen.Find(c => c.Z == z) is { Why: { } reasons }) { reasons.Add(why); continue; }
            if (chosen.Count < max) chosen.Add((z, [why]));
        }
        return chosen.OrderBy(c => c.Z).Select(c => (c.Z, string.Join("; ", c.Why))).ToList();
    }

    /// <summary>The summary of an analysis that found segments: the measurement page and the key slices with their overlays.</summary>
    public static SummaryResult ForFindings(SourceSeries source, IReadOnlyList<FrameInfo> frames, IDicomFrameDecoder? decoder, LabelMap labels,
        IReadOnlyList<SegmentDescription> segments, IReadOnlyList<Measurement> measurements, IReadOnlyList<LesionCandidate> lesions,
        AlgorithmInfo algorithm, SummaryOptions options)
    {
        var byUid = frames.Where(f => f.FrameIndex == 0).GroupBy(f => f.SopInstanceUid).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var keySlices = ChooseKeySlices(source, labels, segments, lesions, options.MaxKeySlices).Select(k =>
        {
            var img = source.Images[k.SliceIndex];
            var hu = new float[img.Rows * img.Columns];
            VolumeAssembler.DecodeInto(byUid[img.SopInstanceUid], hu, decoder);
            return new SummaryKeySlice(k.SliceIndex, k.Reason, hu, labels.TryGet(img.SopInstanceUid, out var map) ? map : ReadOnlyMemory<byte>.Empty);
        }).ToList();
        var content = new SummaryContent
        {
            Algorithm = algorithm,
            Outcome = SummaryOutcome.Findings(segments.Count),
            Segments = segments,
            Measurements = measurements,
            KeySlices = keySlices,
            Window = DisplayWindow.Choose(options.Window, source.First.Dataset.GetString(DicomTags.BodyPartExamined), segments.Select(s => s.Label)),
        };
        return SummaryWriter.Create(content, source.First.Dataset, source.StudyInstanceUid, options, source);
    }

    /// <summary>One page saying the study was looked at and what came of it: nothing found, or not analysed and why.
    /// Null when no file carries the study's identity (nothing to file the page under).</summary>
    public static SummaryResult? ForOutcome(IReadOnlyList<DicomFile> files, AlgorithmInfo algorithm, SummaryOutcome outcome, SummaryOptions options)
    {
        var study = files.FirstOrDefault(f => !string.IsNullOrWhiteSpace(f.Dataset.GetString(DicomTags.StudyInstanceUID)));
        if (study is null) return null;
        return SummaryWriter.Create(new SummaryContent { Algorithm = algorithm, Outcome = outcome }, study.Dataset,
            study.Dataset.GetString(DicomTags.StudyInstanceUID)!.Trim(), options);
    }

    private static double Dot(double[] a, double[] b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}
