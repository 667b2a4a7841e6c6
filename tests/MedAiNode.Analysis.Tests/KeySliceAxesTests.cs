using MedAiNode.Imaging.Geometry;
using MedAiNode.Inference.Postprocessing;
using MedAiNode.Results;

namespace MedAiNode.Analysis.Tests;

/// <summary>The long axis of each segment and lesion on one source image, which the SR writes as a 2D SCOORD for viewers
/// (OHIF's measurement panel) that list only image coordinates.</summary>
public class KeySliceAxesTests
{
    private const int Size = 24;
    private const double Pixel = 0.7;

    /// <summary>Five axial 24x24 slices of 0.7 mm pixels, 2 mm apart.</summary>
    private static SourceSeries Series() =>
        SyntheticSeries.Axial(new Vec3(0, 0, 0), new Vec3(1, 0, 0), new Vec3(0, 1, 0), [0, 2, 4, 6, 8], Pixel, Size, "1.2.826.0.1.3680043.10.543.7");

    private static void Paint(byte[] slice, int label, int r0, int r1, int c0, int c1)
    {
        for (var r = r0; r <= r1; r++) for (var c = c0; c <= c1; c++) slice[r * Size + c] = (byte)label;
    }

    [Fact]
    public void A_segment_is_measured_on_its_largest_slice_and_a_lesion_on_its_own_voxels_where_its_axis_is_longest()
    {
        var source = Series();
        var slices = Enumerable.Range(0, 5).Select(_ => new byte[Size * Size]).ToArray();
        // Segment 1: largest on slice 1 (4 x 10 pixels), smaller on slice 3.
        Paint(slices[1], 1, 2, 5, 1, 10);
        Paint(slices[3], 1, 2, 3, 1, 4);
        // Lesion 1 of label 2 over slices 2-4, longest in plane on slice 3 (3 x 8 pixels) ...
        Paint(slices[2], 2, 14, 16, 14, 16);
        Paint(slices[3], 2, 14, 16, 12, 19);
        Paint(slices[4], 2, 14, 16, 14, 16);
        // ... and, within its diameter of its centroid but not touching it, more of label 2 that is longer still: not its.
        Paint(slices[3], 2, 20, 22, 0, 12);
        var labels = new LabelMap();
        for (var z = 0; z < 5; z++) labels.Set(source.Images[z].SopInstanceUid, slices[z]);
        var lesion = new LesionCandidate(2, 1, 42, 0.04, new Vec3(15.5 * Pixel, 15 * Pixel, 6), 5, 0.9);
        MeasurementGroup[] groups = [new() { SegmentNumber = 1 }, new() { SegmentNumber = 2, LesionNumber = 1 }, new() { Segments = [1, 2] }, new() { SegmentNumber = 2, LesionNumber = 2 }];

        var result = KeySliceAxes.Add(groups, labels, source, [lesion]);

        var segment = result[0].KeySliceLongAxis!;
        Assert.Equal(source.Images[1].SopInstanceUid, segment.SopInstanceUid);
        Assert.Equal(Pixel * Math.Sqrt(9 * 9 + 3 * 3), segment.LengthMm, 9);
        // Image coordinates of two opposite corner pixels' centres (0,0 is the top left corner of the top left pixel).
        Assert.Equal([1.5, 10.5], new[] { segment.Column1, segment.Column2 }.Order());
        Assert.Equal([2.5, 5.5], new[] { segment.Row1, segment.Row2 }.Order());

        var axis = result[1].KeySliceLongAxis!;
        Assert.Equal(source.Images[3].SopInstanceUid, axis.SopInstanceUid);
        Assert.Equal(Pixel * Math.Sqrt(7 * 7 + 2 * 2), axis.LengthMm, 9);
        Assert.Equal([12.5, 19.5], new[] { axis.Column1, axis.Column2 }.Order());
        Assert.Equal([14.5, 16.5], new[] { axis.Row1, axis.Row2 }.Order());

        Assert.Null(result[2].KeySliceLongAxis); // a group over several segments has no one region to draw
        Assert.Null(result[3].KeySliceLongAxis); // no such lesion
    }

    [Fact]
    public void A_region_of_one_pixel_has_no_axis()
    {
        var source = Series();
        var slice = new byte[Size * Size];
        slice[5 * Size + 5] = 1;
        var labels = new LabelMap().Set(source.Images[0].SopInstanceUid, slice);
        Assert.Null(KeySliceAxes.Add([new MeasurementGroup { SegmentNumber = 1 }], labels, source, [])[0].KeySliceLongAxis);
    }
}
