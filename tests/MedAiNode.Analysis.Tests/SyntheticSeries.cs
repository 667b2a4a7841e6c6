using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Tests;
using MedAiNode.Results;

namespace MedAiNode.Analysis.Tests;

/// <summary>A SEG's source series for tests: square slices stacked along z at <paramref name="at"/> mm, as
/// <see cref="SourceImage"/>s with the study and frame of reference a SEG needs (UIDs under <paramref name="uidRoot"/>).</summary>
internal static class SyntheticSeries
{
    public static SourceSeries Axial(Vec3 origin, Vec3 row, Vec3 col, double[] at, double pixel, int size, string uidRoot) =>
        SourceSeries.Create(Synthetic.Stack(origin, row, col, new Vec3(0, 0, 1), at, pixel, size, _ => 0, uidRoot + ".1").Select(f =>
        {
            f.Dataset.Set(MedAiNode.Dicom.DicomTags.StudyInstanceUID, uidRoot + ".2");
            f.Dataset.Set(MedAiNode.Dicom.DicomTags.FrameOfReferenceUID, uidRoot + ".3");
            return SourceImage.FromFile(f);
        }));
}
