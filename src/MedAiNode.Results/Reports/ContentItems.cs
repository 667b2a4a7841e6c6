using MedAiNode.Dicom;

namespace MedAiNode.Results.Reports;

/// <summary>Builders for SR content items (PS3.3 C.17.3), one per value type we write.</summary>
internal static class ContentItems
{
    // The Relationship Type values (PS3.3 C.17.3.2.4) we write.
    public const string Contains = "CONTAINS", HasConceptMod = "HAS CONCEPT MOD", HasObsContext = "HAS OBS CONTEXT", HasAcqContext = "HAS ACQ CONTEXT",
        InferredFrom = "INFERRED FROM", SelectedFrom = "SELECTED FROM";

    private static DicomDataset Item(string relationship, string valueType, CodedConcept? concept)
    {
        var item = new DicomDataset();
        item.Set(DicomTags.RelationshipType, relationship);
        item.Set(DicomTags.ValueType, valueType);
        if (concept is not null) item.SetSequence(DicomTags.ConceptNameCodeSequence, concept.ToItem());
        return item;
    }

    public static DicomDataset Container(string relationship, CodedConcept concept, string? templateId = null)
    {
        var item = Item(relationship, "CONTAINER", concept);
        item.Set(DicomTags.ContinuityOfContent, "SEPARATE");
        if (templateId is not null) item.SetSequence(DicomTags.ContentTemplateSequence, Template(templateId));
        return item;
    }

    public static DicomDataset Template(string templateId) => new DicomDataset()
        .Set(DicomTags.MappingResource, "DCMR")
        .Set(DicomTags.TemplateIdentifier, templateId);

    public static DicomDataset Code(string relationship, CodedConcept concept, CodedConcept value)
    {
        var item = Item(relationship, "CODE", concept);
        item.SetSequence(DicomTags.ConceptCodeSequence, value.ToItem());
        return item;
    }

    public static DicomDataset Text(string relationship, CodedConcept concept, string text)
    {
        var item = Item(relationship, "TEXT", concept);
        item.Set(DicomTags.TextValue, text);
        return item;
    }

    public static DicomDataset UidRef(string relationship, CodedConcept concept, string uid)
    {
        var item = Item(relationship, "UIDREF", concept);
        item.Set(DicomTags.UID, uid);
        return item;
    }

    /// <summary>A NUM item: <paramref name="reported"/> (rounded to the unit's precision) as the DS Numeric Value, and the
    /// measured <paramref name="value"/> at full precision beside it as Floating Point Value.</summary>
    public static DicomDataset Num(string relationship, CodedConcept concept, double value, CodedConcept unit, double reported)
    {
        var item = Item(relationship, "NUM", concept);
        var mv = new DicomDataset();
        mv.SetSequence(DicomTags.MeasurementUnitsCodeSequence, unit.ToItem());
        mv.Set(DicomTags.NumericValue, DicomVR.DS, DicomDataset.FormatDecimal(reported));
        mv.Set(DicomTags.FloatingPointValue, DicomVR.FD, value); // full precision beside the 16-character DS
        item.SetSequence(DicomTags.MeasuredValueSequence, mv);
        return item;
    }

    public static DicomDataset Image(string relationship, CodedConcept? concept, string sopClass, string sopInstance, int? segmentNumber = null)
    {
        var item = Item(relationship, "IMAGE", concept);
        var r = new DicomDataset().Set(DicomTags.ReferencedSOPClassUID, sopClass).Set(DicomTags.ReferencedSOPInstanceUID, sopInstance);
        if (segmentNumber is { } n) r.Set<ushort>(DicomTags.ReferencedSegmentNumber, DicomVR.US, (ushort)n);
        item.SetSequence(DicomTags.ReferencedSOPSequence, r);
        return item;
    }

    public static DicomDataset Point3D(string relationship, CodedConcept concept, double[] xyz, string frameOfReferenceUid) =>
        Scoord3D(relationship, concept, SpatialCoordinates.Point(xyz[0], xyz[1], xyz[2]), frameOfReferenceUid);

    /// <summary>A SCOORD3D item (PS3.3 C.18.9): Graphic Type, Graphic Data (FL, x,y,z per point, patient mm) and the
    /// Frame of Reference the coordinates are in.</summary>
    public static DicomDataset Scoord3D(string relationship, CodedConcept? concept, SpatialCoordinates where, string frameOfReferenceUid)
    {
        var item = Item(relationship, "SCOORD3D", concept);
        item.Set(DicomTags.GraphicType, where.GraphicType);
        item.Set(DicomTags.GraphicData, DicomVR.FL, where.PointsMm.Select(v => (float)v).ToArray());
        item.Set(DicomTags.ReferencedFrameOfReferenceUID, frameOfReferenceUid);
        return item;
    }

    /// <summary>A SCOORD item (PS3.3 C.18.6): Graphic Type and Graphic Data (FL, column,row per point, image coordinates
    /// with 0,0 the top left corner of the top left pixel); the caller adds the SELECTED FROM IMAGE it is on.</summary>
    public static DicomDataset Scoord(string relationship, string graphicType, double[] columnRowPairs)
    {
        var item = Item(relationship, "SCOORD", null);
        item.Set(DicomTags.GraphicType, graphicType);
        item.Set(DicomTags.GraphicData, DicomVR.FL, columnRowPairs.Select(v => (float)v).ToArray());
        return item;
    }

    public static DicomDataset AddContent(this DicomDataset parent, DicomDataset child)
    {
        parent.AddItem(DicomTags.ContentSequence, child);
        return child;
    }
}
