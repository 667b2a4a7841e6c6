using System.Text.Json;
using System.Text.Json.Nodes;
using MedAiNode.Dicom.IO;
using MedAiNode.Dicom.Json;

namespace MedAiNode.Dicom.Tests;

/// <summary>DICOM JSON (PS3.18 F.2): our output re-reads to the same dataset, and DCMTK's JSON reads to what we parsed.</summary>
public class JsonTests
{
    public static IEnumerable<object[]> Files => TestData.AllDicomFilesData();

    [Theory]
    [MemberData(nameof(Files))]
    public void Json_round_trip_and_dcmtk_json_read_back(string relativePath)
    {
        var path = Path.Combine(TestData.SharedData, relativePath);
        var ds = DicomFile.Open(path).Dataset;
        var options = new DicomJsonOptions { OmitPixelData = true };
        var json = DicomJson.Serialize(ds, options);
        var again = DicomJson.Serialize(DicomJson.Deserialize(json), options);
        Assert.Equal(json, again);

        // DCMTK's JSON (UTF-8, its own number formatting) read by us equals our own view of the file.
        var dcmtk = Tool.Run("dcm2json", new[] { path });
        if (dcmtk.ExitCode != 0) return; // encapsulated pixel data: dcm2json cannot write it; the parity test covers those files
        var fromDcmtk = DicomJson.Deserialize(dcmtk.StdOut);
        var expected = DcmtkParityTests.Canonical(JsonNode.Parse(json)!.AsObject());
        var actual = DcmtkParityTests.Canonical(JsonNode.Parse(DicomJson.Serialize(fromDcmtk, options))!.AsObject());
        Assert.Equal(JsonSerializer.Serialize(expected), JsonSerializer.Serialize(actual));
    }

    [Fact]
    public void Model_follows_ps3_18_f2_for_each_kind_of_value()
    {
        var ds = new DicomDataset()
            .Set(DicomTags.SpecificCharacterSet, "ISO_IR 192")
            .Set(DicomTags.PatientName, "Wang^XiaoDong=王^小东")
            .Set(DicomTags.InstanceNumber, DicomVR.IS, 7)
            .Set(DicomTags.SliceThickness, DicomVR.DS, 2.5)
            .Set(DicomTags.Rows, (ushort)512)
            .SetTags(DicomTags.FrameIncrementPointer, DicomTags.FrameTime)
            .SetEmpty(DicomTags.AccessionNumber)
            .SetBytes(DicomTags.EncapsulatedDocument, DicomVR.OB, new byte[] { 1, 2, 3, 4 })
            .SetBytes(DicomTags.PixelData, DicomVR.OW, new byte[] { 5, 6 });
        ds.AddItem(DicomTags.ReferencedSeriesSequence, new DicomDataset().Set(DicomTags.SeriesInstanceUID, "1.2.3"));
        var json = DicomJson.Serialize(ds, new DicomJsonOptions
        {
            BulkDataUri = (path, a) => a.Tag == DicomTags.PixelData ? "https://node/bulk/7FE00010" : null,
        });
        var root = JsonNode.Parse(json)!;
        Assert.Equal("Wang^XiaoDong", root["00100010"]!["Value"]![0]!["Alphabetic"]!.GetValue<string>());
        Assert.Equal("王^小东", root["00100010"]!["Value"]![0]!["Ideographic"]!.GetValue<string>());
        Assert.Equal(7, root["00200013"]!["Value"]![0]!.GetValue<int>());
        Assert.Equal(2.5, root["00180050"]!["Value"]![0]!.GetValue<double>());
        Assert.Equal(512, root["00280010"]!["Value"]![0]!.GetValue<int>());
        Assert.Equal("00181063", root["00280009"]!["Value"]![0]!.GetValue<string>());
        Assert.Equal("SH", root["00080050"]!["vr"]!.GetValue<string>());
        Assert.Null(root["00080050"]!["Value"]);
        Assert.Equal("AQIDBA==", root["00420011"]!["InlineBinary"]!.GetValue<string>());
        Assert.Equal("https://node/bulk/7FE00010", root["7FE00010"]!["BulkDataURI"]!.GetValue<string>());
        Assert.Equal("1.2.3", root["00081115"]!["Value"]![0]!["0020000E"]!["Value"]![0]!.GetValue<string>());

        var back = DicomJson.Deserialize(json, new DicomJsonOptions { ResolveBulkData = uri => uri.EndsWith("7FE00010") ? new byte[] { 5, 6 } : null });
        Assert.Equal("Wang^XiaoDong=王^小东", back.GetString(DicomTags.PatientName));
        Assert.Equal(new byte[] { 5, 6 }, back.GetBytes(DicomTags.PixelData).ToArray());
        Assert.Equal(DicomTags.FrameTime, back.GetTags(DicomTags.FrameIncrementPointer)[0]);
        Assert.True(back.Contains(DicomTags.AccessionNumber));
    }

    [Fact]
    public void Malformed_json_gives_a_format_error_naming_the_attribute()
    {
        Assert.Throws<FormatException>(() => DicomJson.Deserialize("""{"0010001":{"vr":"PN"}}"""));
        var e = Assert.Throws<FormatException>(() => DicomJson.Deserialize("""{"00100010":{"Value":["x"]}}"""));
        Assert.Contains("(0010,0010)", e.Message);
        var bad = Assert.Throws<FormatException>(() => DicomJson.Deserialize("""{"00080020":{"vr":"DA","Value":["not a date"]}}"""));
        Assert.Contains("StudyDate", bad.Message);
    }
}
