using MedAiNode.Dicom;
using MedAiNode.Results;
using MedAiNode.Results.Reports;
using MedAiNode.Results.Segmentation;

namespace MedAiNode.Results.Tests;

/// <summary>SEG and SR content date/time: the clock at the content time's own offset, with (0008,0201) naming that
/// offset, so the time is one instant; the same content time gives the same bytes.</summary>
public class ContentDateTimeTests
{
    private static (SegmentationResult Seg, MeasurementReportResult Sr) Write(DateTimeOffset? when, string seed = "tz-job")
    {
        var images = Fixtures.SyntheticSeries(5, 16, 16);
        var source = SourceSeries.Create(images);
        var segments = Fixtures.Segments(2);
        var seg = SegmentationWriter.Create(source, segments, Fixtures.SyntheticLabels(images, 2), Fixtures.Algorithm,
            new SegmentationOptions { UidSeed = seed, ContentDateTime = when });
        var sr = MeasurementReportWriter.Create(source, seg, segments, new SegmentMeasurement[] { new() { SegmentNumber = 1, VolumeMl = 1.5 } }.ToGroups(),
            Fixtures.Algorithm, new MeasurementReportOptions { UidSeed = seed, ContentDateTime = when });
        return (seg, sr);
    }

    [Theory]
    [InlineData(-300, "20251231", "235958.250000", "-0500")]
    [InlineData(60, "20260101", "055958.250000", "+0100")]
    [InlineData(0, "20260101", "045958.250000", "+0000")]
    [InlineData(330, "20260101", "102958.250000", "+0530")]
    public void Content_time_is_local_clock_with_its_utc_offset(int offsetMinutes, string date, string time, string tz)
    {
        var instant = new DateTimeOffset(2026, 1, 1, 4, 59, 58, 250, TimeSpan.Zero);
        var when = instant.ToOffset(TimeSpan.FromMinutes(offsetMinutes));
        var (seg, sr) = Write(when);
        foreach (var ds in new[] { seg.Dataset, sr.Dataset })
        {
            Assert.Equal(date, ds.GetString(DicomTags.ContentDate));
            Assert.Equal(time, ds.GetString(DicomTags.ContentTime));
            Assert.Equal(date, ds.GetString(DicomTags.SeriesDate));
            Assert.Equal(time, ds.GetString(DicomTags.SeriesTime));
            Assert.Equal(tz, ds.GetString(DicomTags.TimezoneOffsetFromUTC));
            // Read back as one instant, whatever the writer's zone was.
            Assert.Equal(instant, ds.GetDateTimeOffset(DicomTags.ContentDate, DicomTags.ContentTime));
        }
    }

    [Fact]
    public void The_same_instant_written_twice_gives_the_same_bytes()
    {
        var when = new DateTimeOffset(2025, 6, 7, 8, 9, 10, TimeSpan.FromHours(2));
        var a = Write(when);
        var b = Write(when);
        Assert.Equal(a.Seg.File.ToBytes(), b.Seg.File.ToBytes());
        Assert.Equal(a.Sr.File.ToBytes(), b.Sr.File.ToBytes());
    }

    [Fact]
    public void Without_a_content_time_the_node_clock_and_its_offset_are_written()
    {
        var before = DateTimeOffset.Now;
        var (seg, _) = Write(null);
        var after = DateTimeOffset.Now;
        var written = seg.Dataset.GetDateTimeOffset(DicomTags.ContentDate, DicomTags.ContentTime)!.Value;
        Assert.InRange(written, before.AddSeconds(-1), after.AddSeconds(1));
        Assert.Equal(DicomDateTime.FormatUtcOffset(written.Offset), seg.Dataset.GetString(DicomTags.TimezoneOffsetFromUTC));
    }

    [Fact]
    public void Seg_and_sr_with_a_timezone_offset_pass_dciodvfy()
    {
        var (seg, sr) = Write(new DateTimeOffset(2025, 6, 7, 8, 9, 10, TimeSpan.FromHours(-5)));
        var dir = TestData.TempDir("tz-dciodvfy");
        var segPath = Path.Combine(dir, "seg.dcm");
        var srPath = Path.Combine(dir, "sr.dcm");
        seg.File.Save(segPath);
        sr.File.Save(srPath);
        Dciodvfy.Check(segPath, SegmentationWriterTests.ExplainedSegWarnings);
        Dciodvfy.Check(srPath, MeasurementReportWriterTests.ExplainedSrWarnings);
    }
}
