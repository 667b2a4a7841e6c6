using System.Globalization;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Results.Segmentation;
using static MedAiNode.Results.Reports.ContentItems;

namespace MedAiNode.Results.Reports;

/// <summary>
/// The SEG a report points into: its identity, and each segment's Tracking UID so that the SR's group for a segment
/// carries the same one (a viewer then knows they are the same finding).
/// </summary>
public sealed record SegmentationReference(string SopInstanceUid, string SeriesInstanceUid)
{
    public IReadOnlyDictionary<int, string> TrackingUids { get; init; } = new Dictionary<int, string>();

    public static SegmentationReference From(SegmentationResult seg) => new(seg.SopInstanceUid, seg.SeriesInstanceUid)
    {
        TrackingUids = seg.Dataset.GetSequence(DicomTags.SegmentSequence)?.Items
            .Where(i => i.GetString(DicomTags.TrackingUID) is { Length: > 0 })
            .ToDictionary(i => int.Parse(i.GetString(DicomTags.SegmentNumber)!, CultureInfo.InvariantCulture), i => i.GetString(DicomTags.TrackingUID)!)
            ?? new Dictionary<int, string>(),
    };
}

public sealed class MeasurementReportResult : WrittenObject
{
    internal MeasurementReportResult(DicomFile file, IReadOnlyList<string> trackingUids) : base(file) => TrackingUids = trackingUids;

    /// <summary>Tracking Unique Identifier of each measurement group, in the order of the measurements given.</summary>
    public IReadOnlyList<string> TrackingUids { get; }
}

/// <summary>
/// Writes a Comprehensive 3D SR holding a TID 1500 Imaging Measurement Report: the source series in the Image Library,
/// one TID 1411 Volumetric ROI measurement group per segment or lesion, each pointing at its SEG segment, and one TID 1501
/// group for each set of segments measured together. Every NUM is written from a <see cref="Measurement"/> as it is:
/// its concept, unit and modifiers come from the model's manifest, not from this writer.
/// </summary>
public static class MeasurementReportWriter
{
    public static MeasurementReportResult Create(SourceSeries source, SegmentationReference seg, IReadOnlyList<SegmentDescription> segments,
        IReadOnlyList<MeasurementGroup> measurements, AlgorithmInfo algorithm, MeasurementReportOptions? options = null)
    {
        options ??= new MeasurementReportOptions();
        options.Validate();
        var bySegment = segments.ToDictionary(s => s.Number);
        foreach (var m in measurements)
        {
            var named = m.SegmentNumber is { } one ? [one] : m.Segments;
            if (named.Count == 0) throw new ResultsInputException("A measurement group names no segment.");
            if (named.FirstOrDefault(n => !bySegment.ContainsKey(n)) is var missing and > 0)
                throw new ResultsInputException($"A measurement names segment {missing}, which is not in the label table.");
            if (m.CentroidMm is { Length: not 3 }) throw new ResultsInputException($"The centroid of segment {string.Join("+", named)} needs 3 coordinates.");
            if (m.Measurements.FirstOrDefault(x => !double.IsFinite(x.Value)) is { } bad)
                throw new ResultsInputException($"Measurement {bad.DisplayName} of segment {string.Join("+", named)} is not a finite number.");
            if (m.Measurements.FirstOrDefault(x => x.Geometry is { GraphicType: SpatialCoordinates.PolylineType, PointCount: < 2 }) is { } line)
                throw new ResultsInputException($"The coordinates of measurement {line.DisplayName} of segment {string.Join("+", named)} need at least 2 points for a POLYLINE.");
            if (m.KeySliceLongAxis is { } axis)
            {
                var img = source.Images.FirstOrDefault(i => i.SopInstanceUid == axis.SopInstanceUid)
                    ?? throw new ResultsInputException($"The key slice {axis.SopInstanceUid} of segment {string.Join("+", named)} is not a source image.");
                double[] v = [axis.Column1, axis.Row1, axis.Column2, axis.Row2, axis.LengthMm];
                if (v.Any(x => !double.IsFinite(x)) || axis.LengthMm <= 0 || m.SegmentNumber is null
                    || new[] { axis.Column1, axis.Column2 }.Any(c => c < 0 || c > img.Columns) || new[] { axis.Row1, axis.Row2 }.Any(r => r < 0 || r > img.Rows))
                    throw new ResultsInputException($"The key-slice long axis of segment {string.Join("+", named)} is not a line on image {axis.SopInstanceUid} of one segment.");
            }
        }
        var dupe = measurements.GroupBy(m => (m.SegmentNumber, Set: string.Join(",", m.Segments), m.LesionNumber)).FirstOrDefault(g => g.Count() > 1);
        if (dupe is not null)
            throw new ResultsInputException($"Segment {dupe.Key.SegmentNumber?.ToString(CultureInfo.InvariantCulture) ?? dupe.Key.Set} lesion {dupe.Key.LesionNumber?.ToString(CultureInfo.InvariantCulture) ?? "-"} is measured twice.");

        var uids = new UidSource(options.UidRoot, options.UidSeed);
        var ds = Document(source, seg, algorithm, options, uids, measurements.SelectMany(m => m.Measurements).Any(m => m.Concept.Scheme == Codes.LocalSchemeDesignator));

        // Imaging Measurements: TID 1411 per segment / lesion
        var imaging = ds.AddContent(Container(Contains, Codes.ImagingMeasurements));
        var tracking = new List<string>();
        foreach (var m in measurements)
        {
            if (m.SegmentNumber is null)
            {
                tracking.Add(MultiSegmentGroup(imaging, m, bySegment, algorithm, uids, source.FrameOfReferenceUid));
                continue;
            }
            var s = bySegment[m.SegmentNumber.Value];
            var alg = s.Algorithm ?? algorithm;
            var g = imaging.AddContent(Container(Contains, Codes.MeasurementGroup, "1411"));
            var trackingId = m.TrackingId ?? (m.LesionNumber is { } ln ? $"{s.TrackingId ?? s.Label} lesion {ln}" : s.TrackingId ?? s.Label);
            // A whole segment keeps the SEG's Tracking UID; a lesion is a finding of its own.
            var trackingUid = m.LesionNumber is null && seg.TrackingUids.TryGetValue(s.Number, out var segUid) ? segUid : uids.Get($"group|{m.SegmentNumber}|{m.LesionNumber}");
            tracking.Add(trackingUid);
            g.AddContent(Text(HasObsContext, Codes.TrackingIdentifier, SegmentationWriter.Truncate(trackingId, 64)));
            g.AddContent(UidRef(HasObsContext, Codes.TrackingUniqueIdentifier, trackingUid));
            g.AddContent(Code(Contains, Codes.FindingCategory, s.Category));
            g.AddContent(Code(Contains, Codes.Finding, m.Finding ?? s.Type));
            g.AddContent(Image(Contains, Codes.ReferencedSegment, DicomUids.SegmentationStorage, seg.SopInstanceUid, s.Number));
            g.AddContent(UidRef(Contains, Codes.SourceSeriesForSegmentation, source.SeriesInstanceUid));
            if (s.AnatomicRegion is { } site) g.AddContent(Code(HasConceptMod, Codes.FindingSite, site));
            foreach (var x in m.Measurements) Measurement(g, x, alg, source.FrameOfReferenceUid);
            if (m.CentroidMm is { } c)
                g.AddContent(Point3D(Contains, Codes.CenterOfMass, c, source.FrameOfReferenceUid));
            if (options.KeySliceLengths && m.KeySliceLongAxis is { } axis)
                KeySliceLengthGroup(imaging, m, axis, trackingId, m.Finding ?? s.Type, s.AnatomicRegion, alg, uids, source);
        }

        return new MeasurementReportResult(new DicomFile(ds, DicomTransferSyntax.ExplicitVRLittleEndian), tracking);
    }

    /// <summary>The SR document up to and including TID 1500's Image Library: header modules, evidence (the source series
    /// and, when there is one, the SEG), observer context and procedure.</summary>
    private static DicomDataset Document(SourceSeries source, SegmentationReference? seg, AlgorithmInfo algorithm, MeasurementReportOptions options,
        UidSource uids, bool localCodes)
    {
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
        if (localCodes)
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
        var evidenceStudy = new DicomDataset().Set(DicomTags.StudyInstanceUID, source.StudyInstanceUid);
        if (seg is null) evidenceStudy.SetSequence(DicomTags.ReferencedSeriesSequence, evidenceSeries);
        else
        {
            var segSeries = new DicomDataset().Set(DicomTags.SeriesInstanceUID, seg.SeriesInstanceUid);
            segSeries.AddItem(DicomTags.ReferencedSOPSequence, new DicomDataset()
                .Set(DicomTags.ReferencedSOPClassUID, DicomUids.SegmentationStorage).Set(DicomTags.ReferencedSOPInstanceUID, seg.SopInstanceUid));
            evidenceStudy.SetSequence(DicomTags.ReferencedSeriesSequence, evidenceSeries, segSeries);
        }
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

        return ds;
    }

    /// <summary>
    /// A report that the model looked and found none of its labels: TID 1500 with the Image Library and a Qualitative
    /// Evaluations container holding, per label, its finding type coded "Absent" (with its finding site where the label
    /// table gives one). No SEG exists to point at. A negative study is then told apart from one never analysed.
    /// </summary>
    public static MeasurementReportResult CreateNothingFound(SourceSeries source, IReadOnlyList<SegmentDescription> lookedFor, AlgorithmInfo algorithm,
        MeasurementReportOptions? options = null)
    {
        options ??= new MeasurementReportOptions();
        options.Validate();
        if (lookedFor.Count == 0) throw new ResultsInputException("A 'nothing found' report needs the labels that were looked for.");
        var uids = new UidSource(options.UidRoot, options.UidSeed);
        var ds = Document(source, null, algorithm, options, uids, localCodes: false);
        var evaluations = ds.AddContent(Container(Contains, Codes.QualitativeEvaluations));
        foreach (var s in lookedFor)
        {
            var item = evaluations.AddContent(Code(Contains, s.Type, Codes.Absent));
            if (s.AnatomicRegion is { } site) item.AddContent(Code(HasConceptMod, Codes.FindingSite, site));
        }
        return new MeasurementReportResult(new DicomFile(ds, DicomTransferSyntax.ExplicitVRLittleEndian), []);
    }

    public static MeasurementReportResult Create(SourceSeries source, SegmentationResult seg, IReadOnlyList<SegmentDescription> segments,
        IReadOnlyList<MeasurementGroup> measurements, AlgorithmInfo algorithm, MeasurementReportOptions? options = null) =>
        Create(source, SegmentationReference.From(seg), segments, measurements, algorithm, options);

    /// <summary>
    /// A TID 1501 group for measurements over several segments together (e.g. both lungs): no single segment to point
    /// at, so it names them in its Tracking Identifier and lists each as a finding site where the label table gives one.
    /// </summary>
    private static string MultiSegmentGroup(DicomDataset imaging, MeasurementGroup m, Dictionary<int, SegmentDescription> bySegment,
        AlgorithmInfo algorithm, UidSource uids, string frameOfReferenceUid)
    {
        var members = m.Segments.Select(n => bySegment[n]).ToList();
        var g = imaging.AddContent(Container(Contains, Codes.MeasurementGroup, "1501"));
        var trackingUid = uids.Get($"group|{string.Join(",", m.Segments)}|{m.LesionNumber}");
        g.AddContent(Text(HasObsContext, Codes.TrackingIdentifier, SegmentationWriter.Truncate(m.TrackingId ?? string.Join(" + ", members.Select(s => s.Label)), 64)));
        g.AddContent(UidRef(HasObsContext, Codes.TrackingUniqueIdentifier, trackingUid));
        if (m.Finding is { } finding) g.AddContent(Code(Contains, Codes.Finding, finding));
        foreach (var site in members.Select(s => s.AnatomicRegion ?? s.Type).Distinct())
            g.AddContent(Code(HasConceptMod, Codes.FindingSite, site));
        foreach (var x in m.Measurements) Measurement(g, x, algorithm, frameOfReferenceUid);
        // The centroid of the union, like a segment group's: OHIF reads a group's first group-level SCOORD/SCOORD3D as
        // its place and, without one, dereferences the first coordinate of an empty list (issue 14). TID 1501 is
        // extensible; a CONTAINS SCOORD3D under a CONTAINER is within the Comprehensive 3D SR's relationship constraints.
        if (m.CentroidMm is { } c)
            g.AddContent(Point3D(Contains, Codes.CenterOfMass, c, frameOfReferenceUid));
        return trackingUid;
    }

    /// <summary>
    /// The region's long axis on its key slice, as a TID 1501 group of its own (TID 300 style: a NUM inferred from a SCOORD
    /// POLYLINE of two points, selected from the source image): a planar measurement any viewer can draw on that image.
    /// Its Tracking Identifier is the one Cornerstone gives its Length tool, which is how OHIF 3 recognises a group it can
    /// list and edit (by Tracking Identifier only: a graphic alone marks only its Probe and Rectangle tools); the region's
    /// name, and its volume when measured, is the group's Comment, which OHIF shows as the entry's label. Its own Tracking
    /// UID: OHIF merges groups that share one, and the merged group would take the lesion's 3D place, not this image.
    /// </summary>
    private static void KeySliceLengthGroup(DicomDataset imaging, MeasurementGroup m, KeySliceLongAxis axis, string name, CodedConcept finding,
        CodedConcept? site, AlgorithmInfo alg, UidSource uids, SourceSeries source)
    {
        var img = source.Images.First(i => i.SopInstanceUid == axis.SopInstanceUid);
        var g = imaging.AddContent(Container(Contains, Codes.MeasurementGroup, "1501"));
        g.AddContent(Text(HasObsContext, Codes.TrackingIdentifier, MeasurementReportOptions.CornerstoneLengthTrackingIdentifier));
        g.AddContent(UidRef(HasObsContext, Codes.TrackingUniqueIdentifier, uids.Get($"key-slice-length|{m.SegmentNumber}|{m.LesionNumber}")));
        g.AddContent(Code(Contains, Codes.Finding, finding));
        if (site is not null) g.AddContent(Code(HasConceptMod, Codes.FindingSite, site));
        var volume = m.Measurements.FirstOrDefault(x => x.Concept.Value == Codes.Volume.Value && x.Concept.Scheme == Codes.Volume.Scheme);
        var label = volume is null ? name
            : $"{name}, volume {DicomDataset.FormatDecimal(Round(volume.Value, volume.Unit))} {volume.Unit.Value}";
        g.AddContent(Text(Contains, Codes.Comment, label));
        var num = g.AddContent(Num(Contains, Codes.LongAxis, axis.LengthMm, Codes.Millimeter, Round(axis.LengthMm, Codes.Millimeter)));
        num.AddContent(Text(HasConceptMod, Codes.AlgorithmName, SegmentationWriter.Truncate(alg.Name, 1024)));
        num.AddContent(Text(HasConceptMod, Codes.AlgorithmVersion, SegmentationWriter.Truncate(alg.Version, 1024)));
        if (alg.Parameters is { } p) num.AddContent(Text(HasConceptMod, Codes.AlgorithmParameters, p));
        var line = num.AddContent(Scoord(InferredFrom, "POLYLINE", [axis.Column1, axis.Row1, axis.Column2, axis.Row2]));
        line.AddContent(Image(SelectedFrom, null, img.SopClassUid, img.SopInstanceUid));
    }

    /// <summary>
    /// A TID 1419 measurement as the pipeline measured it, with the algorithm that made it (TID 4019) as concept
    /// modifiers and, when it has a spatial extent (a longest diameter), the SCOORD3D it is inferred from (TID 300 / 320
    /// style: INFERRED FROM SCOORD3D POLYLINE of the two end points, in the source's Frame of Reference).
    /// </summary>
    private static void Measurement(DicomDataset group, Measurement m, AlgorithmInfo alg, string frameOfReferenceUid)
    {
        var num = group.AddContent(Num(Contains, m.Concept, m.Value, m.Unit, Round(m.Value, m.Unit)));
        foreach (var mod in m.Modifiers) num.AddContent(Code(HasConceptMod, mod.Name, mod.Value));
        num.AddContent(Text(HasConceptMod, Codes.AlgorithmName, SegmentationWriter.Truncate(alg.Name, 1024)));
        num.AddContent(Text(HasConceptMod, Codes.AlgorithmVersion, SegmentationWriter.Truncate(alg.Version, 1024)));
        if (alg.Parameters is { } p) num.AddContent(Text(HasConceptMod, Codes.AlgorithmParameters, p));
        if (m.Geometry is { } where) num.AddContent(Scoord3D(InferredFrom, null, where, frameOfReferenceUid));
    }

    /// <summary>Reported precision by unit: volumes to 1 µL, HU and mm to a tenth, percentages to a hundredth; others as measured.</summary>
    private static double Round(double value, CodedConcept unit) => unit.Value switch
    {
        "ml" or "mL" => Math.Round(value, 3),
        "[hnsf'U]" or "mm" => Math.Round(value, 1),
        "%" => Math.Round(value, 2),
        _ => value,
    };

    private static CodedConcept ModalityCode(string? modality) => modality switch
    {
        "MR" => new CodedConcept("MR", "DCM", "Magnetic Resonance"),
        "PT" => new CodedConcept("PT", "DCM", "Positron emission tomography"),
        _ => Codes.ComputedTomography,
    };
}
