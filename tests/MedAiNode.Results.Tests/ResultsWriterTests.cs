using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Results;
using MedAiNode.Results.Segmentation;

namespace MedAiNode.Results.Tests;

public class ResultsWriterTests
{
    private const string Table = """
        {
          // shipped beside the model
          "algorithm": { "name": "Organ model", "version": "2.0", "modelSha256": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" },
          "segments": [
            { "number": 1, "label": "Liver", "category": { "value": "123037004", "scheme": "SCT", "meaning": "Anatomical Structure" },
              "type": { "value": "10200004", "scheme": "SCT", "meaning": "Liver" }, "color": [221, 130, 101] },
            { "number": 2, "label": "Nodule", "category": { "value": "49755003", "scheme": "SCT", "meaning": "Morphologically Altered Structure" },
              "type": { "value": "27925004", "scheme": "SCT", "meaning": "Nodule" },
              "anatomicRegion": { "value": "39607008", "scheme": "SCT", "meaning": "Lung" } },
          ]
        }
        """;

    [Fact]
    public void Label_table_json_is_parsed()
    {
        var t = LabelTable.Parse(Table);
        Assert.Equal("Organ model", t.Algorithm.Name);
        Assert.Equal(2, t.Segments.Count);
        Assert.Equal("Lung", t.Segments[1].AnatomicRegion!.Meaning);
        Assert.Equal(DicomCieLab.FromRgb(221, 130, 101), t.Segments[0].Color);
        Assert.Null(t.Segments[1].Color);
    }

    [Theory]
    [InlineData("{", "not valid JSON")]
    [InlineData("""{"segments":[]}""", "'algorithm' is missing")]
    [InlineData("""{"algorithm":{"name":"a","version":"1","modelSha256":"xyz"},"segments":[]}""", "algorithm.modelSha256")]
    [InlineData("""{"algorithm":{"name":"a","version":"1"},"segments":[{"number":300,"label":"x"}]}""", "segments[0].number")]
    [InlineData("""{"algorithm":{"name":"a","version":"1"},"segments":[{"number":1,"label":"x","category":{"value":"1","scheme":"SCT","meaning":"c"}}]}""", "segments[0].type")]
    [InlineData("""{"algorithm":{"name":"a","version":"1"},"segments":[{"number":1,"label":"x","category":{"value":"1","scheme":"SCT"},"type":{"value":"1","scheme":"SCT","meaning":"t"}}]}""", "segments[0].category.meaning")]
    public void Label_table_errors_name_the_json_path(string json, string expected)
    {
        var e = Assert.Throws<ResultsInputException>(() => LabelTable.Parse(json, "model.json"));
        Assert.Contains(expected, e.Message);
        Assert.Contains("model.json", e.Message);
    }

    [Fact]
    public void A_retried_job_writes_the_same_uids_and_file_names()
    {
        var table = LabelTable.Parse(Table);
        var images = Fixtures.SyntheticSeries(6, 24, 24);
        var source = SourceSeries.Create(images);
        var labels = Fixtures.SyntheticLabels(images, 2);
        var measurements = new List<SegmentMeasurement> { new() { SegmentNumber = 1, VolumeMl = 12 }, new() { SegmentNumber = 2, LesionNumber = 1, CentroidMm = [0, 0, 0] } };
        var dir = TestData.TempDir("results-writer");
        var first = ResultsWriter.Write(source, table, labels, measurements.ToGroups(), "job-7", dir);
        var retry = ResultsWriter.Write(source, table, labels, measurements.ToGroups(), "job-7", dir);
        Assert.Equal(first.SegPath, retry.SegPath);
        Assert.Equal(first.SrPath, retry.SrPath);
        Assert.Equal(2, Directory.GetFiles(dir).Length); // the retry replaced, not added
        Assert.DoesNotContain("Müller", first.SegPath);
        var other = ResultsWriter.Write(source, table, labels, measurements.ToGroups(), "job-8", dir);
        Assert.NotEqual(first.SegPath, other.SegPath);
        Dciodvfy.Check(first.SegPath);
        Dciodvfy.Check(first.SrPath);
        var back = SegmentationReader.Read(first.SegPath);
        Assert.Equal("Organ model", back.Segments[0].AlgorithmName);
        Assert.Equal("model-sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", back.Segments[0].AlgorithmParameters);
        Assert.Equal(first.Report.SopInstanceUid, DicomFile.Open(first.SrPath).Dataset.GetString(MedAiNode.Dicom.DicomTags.SOPInstanceUID));
    }
}
