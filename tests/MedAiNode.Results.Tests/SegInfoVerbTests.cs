using System.CommandLine;
using System.Globalization;
using MedAiNode.Results.Segmentation;
using MedAiNode.Worker.Commands;

namespace MedAiNode.Results.Tests;

public class SegInfoVerbTests
{
    [Fact]
    public void Describes_segments_voxels_and_volumes_without_patient_data()
    {
        var dir = TestData.TempDir("seg-info");
        var w = RealSeriesTests.WriteFor("philips-phantom-5mm", true, dir);
        var text = SegmentationSummary.Describe(w.SegPath, Fixtures.CtDir("philips-phantom-5mm"));
        Assert.Contains(w.Seg.SopInstanceUid, text);
        foreach (var s in w.Segments)
        {
            long count = 0;
            double ml = 0;
            foreach (var img in w.Source.Images)
            {
                if (!w.Labels.TryGet(img.SopInstanceUid, out var l)) continue;
                var n = l.ToArray().Count(b => b == s.Number);
                count += n;
                ml += n * img.PixelSpacing[0] * img.PixelSpacing[1] * img.SliceThickness!.Value / 1000.0;
            }
            Assert.Contains($"segment {s.Number} \"{s.Label}\"", text);
            Assert.Contains($"{count} voxels", text);
            Assert.Contains($"{ml.ToString("F3", CultureInfo.InvariantCulture)} mL", text);
        }
        var patientName = w.Source.First.Dataset.GetString(MedAiNode.Dicom.DicomTags.PatientName);
        if (!string.IsNullOrEmpty(patientName)) Assert.DoesNotContain(patientName, text);
    }

    [Fact]
    public void Verb_returns_2_with_a_message_for_a_file_that_is_not_a_seg()
    {
        var root = new RootCommand { SegInfoCommand.Create() };
        var err = new StringWriter();
        var rc = root.Parse(["seg-info", TestData.Path_("seg-sr", "highdicom", "ct_image.dcm")]).Invoke(new InvocationConfiguration { Output = TextWriter.Null, Error = err });
        Assert.Equal(2, rc);
        Assert.Contains("Not a Segmentation", err.ToString());
    }
}
