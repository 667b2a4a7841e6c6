using System.Globalization;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Results.Segmentation;
using static MedAiNode.Results.Reports.ContentItems;

namespace MedAiNode.Results.Reports;

/// <summary>The SEG a report points into: its identity is all the SR needs.</summary>
public sealed record SegmentationReference(string SopInstanceUid, string SeriesInstanceUid)
{
    public static SegmentationReference From(SegmentationResult seg) => new(seg.SopInstanceUid, seg.SeriesInstanceUid);
}

public sealed class MeasurementReportResult
{
    internal MeasurementReportResult(DicomFile file, IReadOnlyList<string> trackingUids)
    {
        File = file;
        TrackingUids = trackingUids;
    }

    public DicomFile File { get; }
    public DicomDataset Dataset => File.Dataset;
    public string SopInstanceUid => Dataset.GetString(DicomTags.SOPInstanceUID)!;
    public string SeriesInstanceUid => Dataset.GetString(DicomTags.SeriesInstanceUID)!;
    /// <summary>Tracking Unique Identifier of each measurement group, in the order of the measurements given.</summary>
    public IReadOnlyList<string> TrackingUids { get; }
}

/// <summary>
/// Writes a Comprehensive 3D SR holding a TID 1500 Imaging Measurement Report: the source series in the Image Library,
/// and one TID 1411 Volumetric ROI measurement group per segment or lesion, each pointing at its SEG segment.
/// </summary>
public static class MeasurementReportWriter
{
    public static MeasurementReportResult Create(SourceSeries source, SegmentationReference seg, IReadOnlyList<SegmentDescription> segments,
        IReadOnlyList<SegmentMeasurement> measurements, AlgorithmInfo algorithm, MeasurementReportOptions? options = null)
    {
        options ??= new MeasurementReportOptions();
        options.Validate();
        var bySegment = segments.ToDictionary(s => s.Number);
        foreach (var m in measurements)
        {
            if (!bySegment.ContainsKey(m.SegmentNumber))
                throw new ResultsInputException($"A measurement names segment {m.SegmentNumber}, which is not in the label table.");
            if (m.CentroidMm is { Length: not 3 }) throw new ResultsInputException($"The centroid of segment {m.SegmentNumber} needs 3 coordinates.");
            foreach (var v in new[] { m.VolumeMl, m.MeanHu, m.LongestDiameterMm, m.Laa950Percent })
                if (v is { } x && !double.IsFinite(x)) throw new ResultsInputException($"A measurement of segment {m.SegmentNumber} is not a finite number.");
        }
        var dupe = measurements.GroupBy(m => (m.SegmentNumber, m.LesionNumber)).FirstOrDefault(g => g.Count() > 1);
        if (dupe is not null) throw new ResultsInputException($"Segment {dupe.Key.SegmentNumber} lesion {dupe.Key.LesionNumber?.ToString() ?? "-"} is measured twice.");

        var uids = new UidSource(options.UidRoot, options.UidSeed);
        var when = options.ContentDateTime ?? DateTimeOffset.Now;
        var first = source.First;
        var ds = new DicomDataset();
        CompositeHeader.CopyPatientAndStudy(first.Dataset, ds, source.StudyInstanceUid);

        // SOP Common, SR Document Series, General Equipment
        ds.Set(DicomTags.SOPClassUID, DicomUids.Comprehensive3DSRStorage);
        ds.Set(DicomTags.SOPInstanceUID, uids.Get("sr-instance"));
        ds.Set(DicomTags.Modality, "SR");
        ds.Set(DicomTags.SeriesInstanceUID, uids.Get("sr-series"));
        ds.Set(DicomTags.SeriesNumber, DicomVR.IS, options.SeriesNumber.ToString(CultureInfo.InvariantCulture));
        ds.Set(DicomTags.SeriesDescription, options.SeriesDescription);
        ds.SetEmpty(DicomTags.ReferencedPerformedProcedureStepSequence);
        CompositeHeader.SetEquipment(ds, options.Equipment);
        CompositeHeader.SetContentDateTime(ds, when);
        if (measurements.Any(m => m.Laa950Percent is not null))
        {
            ds.SetSequence(DicomTags.CodingSchemeIdentificationSequence, new DicomDataset()
                .Set(DicomTags.CodingSchemeDesignator, Codes.LocalSchemeDesignator)
                .Set(DicomTags.CodingSchemeName, Codes.LocalSchemeName)
                .Set(DicomTags.CodingSchemeResponsibleOrganization, options.Equipment.Manufacturer));
        }

        // SR Document General
        ds.Set(DicomTags.InstanceNumber, DicomVR.IS, options.InstanceNumber.ToString(CultureInfo.InvariantCulture));
        ds.Set(DicomTags.CompletionFlag, options.CompletionFlag);
        ds.Set(DicomTags.VerificationFlag, "UNVERIFIED");
        ds.Set(DicomTags.PreliminaryFlag, "PRELIMINARY"); // machine output until a reader confirms it
        ds.SetEmpty(DicomTags.PerformedProcedureCodeSequence);
        var evidenceSeries = new DicomDataset().Set(DicomTags.SeriesInstanceUID, source.SeriesInstanceUid);
        foreach (var img in source.Images)
            evidenceSeries.AddItem(DicomTags.ReferencedSOPSequence, new DicomDataset()
                .Set(DicomTags.ReferencedSOPClassUID, img.SopClassUid).Set(DicomTags.ReferencedSOPInstanceUID, img.SopInstanceUid));
        var segSeries = new DicomDataset().Set(DicomTags.SeriesInstanceUID, seg.SeriesInstanceUid);
        segSeries.AddItem(DicomTags.ReferencedSOPSequence, new DicomDataset()
            .Set(DicomTags.ReferencedSOPClassUID, DicomUids.SegmentationStorage).Set(DicomTags.ReferencedSOPInstanceUID, seg.SopInstanceUid));
        var evidenceStudy = new DicomDataset().Set(DicomTags.StudyInstanceUID, source.StudyInstanceUid);
        evidenceStudy.SetSequence(DicomTags.ReferencedSeriesSequence, evidenceSeries, segSeries);
        ds.SetSequence(DicomTags.CurrentRequestedProcedureEvidenceSequence, evidenceStudy);

        // SR Document Content: TID 1500
        ds.Set(DicomTags.ValueType, "CONTAINER");
        ds.SetSequence(DicomTags.ConceptNameCodeSequence, Codes.ImagingMeasurementReport.ToItem());
        ds.Set(DicomTags.ContinuityOfContent, "SEPARATE");
        ds.SetSequence(DicomTags.ContentTemplateSequence, Template("1500"));
        ds.AddContent(Code(HasConceptMod, Codes.LanguageOfContent, Codes.EnglishUS));
        // TID 1002 observer context: the device that made the findings (TID 1004)
        ds.AddContent(Code(HasObsContext, Codes.ObserverType, Codes.Device));
        var deviceUid = new DicomUidGenerator(options.UidRoot).FromName("device|" + options.Equipment.Manufacturer + "|" + options.Equipment.ModelName + "|" + options.Equipment.DeviceSerialNumber);
        ds.AddContent(UidRef(HasObsContext, Codes.DeviceObserverUid, deviceUid));
        ds.AddContent(Text(HasObsContext, Codes.DeviceObserverName, options.Equipment.ModelName));
        ds.AddContent(Text(HasObsContext, Codes.DeviceObserverManufacturer, options.Equipment.Manufacturer));
        ds.AddContent(Text(HasObsContext, Codes.DeviceObserverModelName, algorithm.Name));
        ds.AddContent(Code(HasConceptMod, Codes.ProcedureReported, options.ProcedureReported));

        // TID 1600 Image Library: one group for the source series
        var library = ds.AddContent(Container(Contains, Codes.ImageLibrary));
        var group = library.AddContent(Container(Contains, Codes.ImageLibraryGroup));
        group.AddContent(Code(HasAcqContext, Codes.Modality, ModalityCode(first.Dataset.GetString(DicomTags.Modality))));
        group.AddContent(UidRef(HasAcqContext, Codes.FrameOfReferenceUid, source.FrameOfReferenceUid));
        foreach (var img in source.Images) group.AddContent(Image(Contains, null, img.SopClassUid, img.SopInstanceUid));

        // Imaging Measurements: TID 1411 per segment / lesion
        var imaging = ds.AddContent(Container(Contains, Codes.ImagingMeasurements));
        var tracking = new List<string>();
        foreach (var m in measurements)
        {
            var s = bySegment[m.SegmentNumber];
            var alg = s.Algorithm ?? algorithm;
            var g = imaging.AddContent(Container(Contains, Codes.MeasurementGroup, "1411"));
            var trackingId = m.LesionNumber is { } ln ? $"{s.TrackingId ?? s.Label} lesion {ln}" : s.TrackingId ?? s.Label;
            var trackingUid = uids.Get($"group|{m.SegmentNumber}|{m.LesionNumber}");
            tracking.Add(trackingUid);
            g.AddContent(Text(HasObsContext, Codes.TrackingIdentifier, SegmentationWriter.Truncate(trackingId, 64)));
            g.AddContent(UidRef(HasObsContext, Codes.TrackingUniqueIdentifier, trackingUid));
            g.AddContent(Code(Contains, Codes.FindingCategory, s.Category));
            g.AddContent(Code(Contains, Codes.Finding, m.Finding ?? s.Type));
            g.AddContent(Image(Contains, Codes.ReferencedSegment, DicomUids.SegmentationStorage, seg.SopInstanceUid, s.Number));
            g.AddContent(UidRef(Contains, Codes.SourceSeriesForSegmentation, source.SeriesInstanceUid));
            if (s.AnatomicRegion is { } site) g.AddContent(Code(HasConceptMod, Codes.FindingSite, site));
            if (m.VolumeMl is { } vol)
                Measurement(g, Codes.Volume, Math.Round(vol, 3), Codes.Milliliter, alg, Code(HasConceptMod, Codes.MeasurementMethod, Codes.SumOfSegmentedVoxelVolumes));
            if (m.MeanHu is { } hu)
                Measurement(g, Codes.AttenuationCoefficient, Math.Round(hu, 1), Codes.HounsfieldUnit, alg, Code(HasConceptMod, Codes.Derivation, Codes.Mean));
            if (m.LongestDiameterMm is { } d)
                Measurement(g, Codes.LongAxis, Math.Round(d, 1), Codes.Millimeter, alg, null);
            if (m.Laa950Percent is { } laa)
                Measurement(g, Codes.LowAttenuationArea950, Math.Round(laa, 2), Codes.Percent, alg, null);
            if (m.CentroidMm is { } c)
                g.AddContent(Point3D(Contains, Codes.CenterOfMass, c, source.FrameOfReferenceUid));
        }

        return new MeasurementReportResult(new DicomFile(ds, DicomTransferSyntax.ExplicitVRLittleEndian), tracking);
    }

    public static MeasurementReportResult Create(SourceSeries source, SegmentationResult seg, IReadOnlyList<SegmentDescription> segments,
        IReadOnlyList<SegmentMeasurement> measurements, AlgorithmInfo algorithm, MeasurementReportOptions? options = null) =>
        Create(source, SegmentationReference.From(seg), segments, measurements, algorithm, options);

    /// <summary>A TID 1419 measurement, with the algorithm that made it (TID 4019) as concept modifiers.</summary>
    private static void Measurement(DicomDataset group, CodedConcept concept, double value, CodedConcept unit, AlgorithmInfo alg, DicomDataset? modifier)
    {
        var num = group.AddContent(Num(Contains, concept, value, unit));
        if (modifier is not null) num.AddContent(modifier);
        num.AddContent(Text(HasConceptMod, Codes.AlgorithmName, SegmentationWriter.Truncate(alg.Name, 1024)));
        num.AddContent(Text(HasConceptMod, Codes.AlgorithmVersion, SegmentationWriter.Truncate(alg.Version, 1024)));
        if (alg.Parameters is { } p) num.AddContent(Text(HasConceptMod, Codes.AlgorithmParameters, p));
    }

    private static CodedConcept ModalityCode(string? modality) => modality switch
    {
        "MR" => new CodedConcept("MR", "DCM", "Magnetic Resonance"),
        "PT" => new CodedConcept("PT", "DCM", "Positron emission tomography"),
        _ => Codes.ComputedTomography,
    };
}
