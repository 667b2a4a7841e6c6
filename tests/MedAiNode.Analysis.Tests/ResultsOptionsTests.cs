using MedAiNode.Dicom;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;
using MedAiNode.Results;
using MedAiNode.Results.Reports;
using MedAiNode.Results.Segmentation;

namespace MedAiNode.Analysis.Tests;

/// <summary>The SEG's and SR's own options (Results:Segmentation, Results:Report) reach the objects the pipeline writes.</summary>
public class ResultsOptionsTests
{
    [Fact]
    public void Series_content_label_equipment_and_key_slice_lengths_follow_the_options()
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var body = ModelCatalog.LoadAll([Fixtures.ModelsDir]).Single(m => m.Id == "ct-body");
        var files = Directory.GetFiles(TestData.Path_("ct", "philips-phantom-5mm"), "*.dcm").Order(StringComparer.Ordinal).ToList();
        var pipeline = new AnalysisPipeline(cache);
        var summaryOff = new MedAiNode.Results.Summary.SummaryOptions { Enabled = false };

        var plain = pipeline.Run(files, body, new AnalysisOptions { Summary = summaryOff });
        var plainSr = Assert.IsType<MedAiNode.Dicom.IO.DicomFile>(plain.Sr).Dataset;
        Assert.Equal(9901, Assert.IsType<MedAiNode.Dicom.IO.DicomFile>(plain.Seg).Dataset.GetValue<int>(DicomTags.SeriesNumber));
        Assert.Contains(MeasurementReportOptions.CornerstoneLengthTrackingIdentifier, TrackingIdentifiers(plainSr));

        var equipment = new EquipmentOptions { Manufacturer = "Hospital AI Service" };
        var configured = pipeline.Run(files, body, new AnalysisOptions
        {
            Summary = summaryOff,
            Segmentation = new SegmentationOptions { SeriesNumber = 77, SeriesDescription = "Body AI", ContentLabel = "BODY_AI", Equipment = equipment },
            Report = new MeasurementReportOptions { SeriesNumber = 78, KeySliceLengths = false, Equipment = equipment },
        });
        var seg = Assert.IsType<MedAiNode.Dicom.IO.DicomFile>(configured.Seg).Dataset;
        var sr = Assert.IsType<MedAiNode.Dicom.IO.DicomFile>(configured.Sr).Dataset;
        Assert.Equal(77, seg.GetValue<int>(DicomTags.SeriesNumber));
        Assert.Equal("Body AI", seg.GetString(DicomTags.SeriesDescription));
        Assert.Equal("BODY_AI", seg.GetString(DicomTags.ContentLabel));
        Assert.Equal(78, sr.GetValue<int>(DicomTags.SeriesNumber));
        Assert.Equal("Hospital AI Service", seg.GetString(DicomTags.Manufacturer));
        Assert.Equal("Hospital AI Service", sr.GetString(DicomTags.Manufacturer));
        // Without the key-slice lengths the SR keeps every other group: the volumetric ones are still there.
        Assert.DoesNotContain(MeasurementReportOptions.CornerstoneLengthTrackingIdentifier, TrackingIdentifiers(sr));
        Assert.NotEmpty(TrackingIdentifiers(sr));
    }

    /// <summary>Every Tracking Identifier TEXT value anywhere in the SR's content tree.</summary>
    private static List<string> TrackingIdentifiers(DicomDataset sr)
    {
        var found = new List<string>();
        void Walk(DicomDataset item)
        {
            if (item.GetSequence(DicomTags.ConceptNameCodeSequence)?.Items.FirstOrDefault()?.GetString(DicomTags.CodeValue) == "112039"
                && item.GetString(DicomTags.TextValue) is { } text)
                found.Add(text);
            foreach (var child in item.GetSequence(DicomTags.ContentSequence)?.Items ?? []) Walk(child);
        }
        Walk(sr);
        return found;
    }
}
