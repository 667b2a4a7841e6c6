namespace MedAiNode.Dicom.Tests;

/// <summary>DA/TM/DT per PS3.5 6.2: truncated forms, fractions, UTC offsets kept, empty is "no value", bad input named.</summary>
public class DateTimeParsingTests
{
    [Theory]
    [InlineData("", null)]
    [InlineData("   ", null)]
    [InlineData("07", "07:00:00")]
    [InlineData("0709", "07:09:00")]
    [InlineData("070907", "07:09:07")]
    [InlineData("070907.1", "07:09:07.1")]
    [InlineData("070907.0705", "07:09:07.0705")]
    [InlineData("070907.123456 ", "07:09:07.123456")] // padded to even length
    [InlineData("235960", "23:59:59")] // leap second
    [InlineData("07:09:07", "07:09:07")] // ACR-NEMA form, still seen
    public void Time_forms_of_PS3_5(string value, string? expected)
    {
        var t = DicomDateTime.ParseTime(value);
        Assert.Equal(expected is null ? null : TimeOnly.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), t);
    }

    [Theory]
    [InlineData("7")]
    [InlineData("070")]
    [InlineData("2460")]
    [InlineData("1261")]
    [InlineData("07a9")]
    [InlineData("0709.5")] // a fraction only after seconds
    [InlineData("070907.")]
    [InlineData("070907.1234567")]
    public void Malformed_time_is_a_format_error_that_does_not_echo_the_value(string value)
    {
        var e = Assert.Throws<DicomFormatException>(() => DicomDateTime.ParseTime(value));
        Assert.Contains("Invalid TM value", e.Message);
        Assert.DoesNotContain(value.Trim(), e.Message); // dates can be birth dates: never quoted into logs
    }

    [Fact]
    public void Empty_datetime_is_no_value()
    {
        Assert.Null(DicomDateTime.ParseDateTime(""));
        Assert.Null(DicomDateTime.ParseDateTime("  "));
        Assert.Null(DicomDateTime.ParseDateTime(null));
    }

    public static TheoryData<string, DateTime, int?> DateTimes => new()
    {
        // PS3.5 6.2 examples and each truncation
        { "2007", new DateTime(2007, 1, 1), null },
        { "200703", new DateTime(2007, 3, 1), null },
        { "20070315", new DateTime(2007, 3, 15), null },
        { "2007031510", new DateTime(2007, 3, 15, 10, 0, 0), null },
        { "200703151030", new DateTime(2007, 3, 15, 10, 30, 0), null },
        { "20070315103045", new DateTime(2007, 3, 15, 10, 30, 45), null },
        { "20070315103045.5", new DateTime(2007, 3, 15, 10, 30, 45, 500), null },
        { "20070315103045.123456", new DateTime(2007, 3, 15, 10, 30, 45).AddTicks(1234560), null },
        { "20070315103045.123456+0100", new DateTime(2007, 3, 15, 10, 30, 45).AddTicks(1234560), 60 },
        { "20070315-0500", new DateTime(2007, 3, 15), -300 },
        { "2007+0000", new DateTime(2007, 1, 1), 0 },
        { "200703151030+0530", new DateTime(2007, 3, 15, 10, 30, 0), 330 },
        { "20070315103045-1200", new DateTime(2007, 3, 15, 10, 30, 45), -720 },
        { "20070315103045+1400", new DateTime(2007, 3, 15, 10, 30, 45), 840 },
        { "20070315103045 ", new DateTime(2007, 3, 15, 10, 30, 45), null },
    };

    [Theory]
    [MemberData(nameof(DateTimes))]
    public void Datetime_forms_keep_their_offset(string value, DateTime expected, int? offsetMinutes)
    {
        var dt = DicomDateTime.ParseDateTime(value)!.Value;
        Assert.Equal(expected, dt.DateTime);
        Assert.Equal(offsetMinutes is { } m ? TimeSpan.FromMinutes(m) : null, dt.Offset);
        if (offsetMinutes is { } mm)
            Assert.Equal(new DateTimeOffset(expected, TimeSpan.FromMinutes(mm)), dt.AsDateTimeOffset);
        else
        {
            Assert.Null(dt.AsDateTimeOffset);
            Assert.Equal(new DateTimeOffset(expected, TimeSpan.FromHours(2)), dt.ToDateTimeOffset(TimeSpan.FromHours(2)));
        }
    }

    [Fact]
    public void Offsets_name_the_same_instant()
    {
        var a = DicomDateTime.ParseDateTime("20070315103045+0100")!.Value.AsDateTimeOffset;
        var b = DicomDateTime.ParseDateTime("20070315043045-0500")!.Value.AsDateTimeOffset;
        Assert.Equal(a!.Value.UtcDateTime, b!.Value.UtcDateTime);
    }

    [Theory]
    [InlineData("200")]
    [InlineData("20071")]
    [InlineData("2007031")]
    [InlineData("20070230")] // no 30 February
    [InlineData("20071315")]
    [InlineData("0000")]
    [InlineData("2007031524")]
    [InlineData("20070315106")]
    [InlineData("2007031510304.5")]
    [InlineData("200703151030.5")] // a fraction only after seconds
    [InlineData("20070315103045.1234567")]
    [InlineData("20070315+01")]
    [InlineData("20070315+1500")]
    [InlineData("20070315-1300")]
    [InlineData("20070315+0160")]
    [InlineData("-0500")]
    [InlineData("2007-03-15")]
    [InlineData("20070315-20070316")] // a range matching key is no DT value
    [InlineData("2007031510:30")]
    [InlineData("2OO7")]
    public void Malformed_datetime_is_a_format_error_that_does_not_echo_the_value(string value)
    {
        var e = Assert.Throws<DicomFormatException>(() => DicomDateTime.ParseDateTime(value));
        Assert.Contains("Invalid DT value", e.Message);
        Assert.DoesNotContain(value, e.Message);
    }

    [Theory]
    [InlineData("+0000", 0)]
    [InlineData("+0100", 60)]
    [InlineData("-0500", -300)]
    [InlineData("+0545", 345)]
    public void Utc_offsets_round_trip(string value, int minutes)
    {
        Assert.Equal(TimeSpan.FromMinutes(minutes), DicomDateTime.ParseUtcOffset(value));
        Assert.Equal(value, DicomDateTime.FormatUtcOffset(TimeSpan.FromMinutes(minutes)));
    }

    [Fact]
    public void Dataset_getters_keep_the_offset_and_name_the_tag_of_a_bad_value()
    {
        var ds = new DicomDataset()
            .Set(DicomTags.AcquisitionDateTime, "20261125083015.25-0500")
            .Set(DicomTags.StudyDate, "20261125").Set(DicomTags.StudyTime, "083015")
            .SetEmpty(DicomTags.FrameAcquisitionDateTime)
            .Set(DicomTags.SeriesTime, "25");
        Assert.Equal(new DateTime(2026, 11, 25, 8, 30, 15, 250), ds.GetDateTime(DicomTags.AcquisitionDateTime));
        Assert.Equal(new DateTimeOffset(2026, 11, 25, 8, 30, 15, 250, TimeSpan.FromHours(-5)), ds.GetDateTimeOffset(DicomTags.AcquisitionDateTime));
        Assert.Null(ds.GetDateTime(DicomTags.FrameAcquisitionDateTime));
        Assert.Null(ds.GetDateTimeOffset(DicomTags.FrameAcquisitionDateTime));
        // DA + TM carry no offset: none known gives null, (0008,0201) names it.
        Assert.Null(ds.GetDateTimeOffset(DicomTags.StudyDate, DicomTags.StudyTime));
        ds.Set(DicomTags.TimezoneOffsetFromUTC, "+0100");
        Assert.Equal(new DateTimeOffset(2026, 11, 25, 8, 30, 15, TimeSpan.FromHours(1)), ds.GetDateTimeOffset(DicomTags.StudyDate, DicomTags.StudyTime));
        // The value's own offset wins over (0008,0201).
        Assert.Equal(TimeSpan.FromHours(-5), ds.GetDateTimeOffset(DicomTags.AcquisitionDateTime)!.Value.Offset);
        var e = Assert.Throws<DicomFormatException>(() => ds.GetTime(DicomTags.SeriesTime));
        Assert.Equal(DicomTags.SeriesTime, e.Tag);
        Assert.DoesNotContain("'25'", e.Message);
    }

    [Fact]
    public void SetDateTime_writes_the_offset_that_parsing_reads_back()
    {
        var when = new DateTimeOffset(2026, 3, 1, 23, 59, 58, TimeSpan.FromMinutes(-210)).AddTicks(1234560);
        var ds = new DicomDataset().SetDateTime(DicomTags.AcquisitionDateTime, when);
        Assert.Equal("20260301235958.123456-0330", ds.GetString(DicomTags.AcquisitionDateTime));
        Assert.Equal(when, ds.GetDateTimeOffset(DicomTags.AcquisitionDateTime));
    }
}
