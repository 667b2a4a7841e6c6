using MedAiNode.Dicom;

namespace MedAiNode.Results;

/// <summary>A coded concept (PS3.3 Table 8.8-1 Code Sequence Macro): value, coding scheme designator and meaning.</summary>
public sealed record CodedConcept(string Value, string Scheme, string Meaning)
{
    /// <summary>A sequence item holding this code; long URN/URL values go to LongCodeValue/URNCodeValue as PS3.3 8.8 asks.</summary>
    public DicomDataset ToItem()
    {
        if (string.IsNullOrWhiteSpace(Value) || string.IsNullOrWhiteSpace(Scheme) || string.IsNullOrWhiteSpace(Meaning))
            throw new ArgumentException($"Code ({Value}, {Scheme}, \"{Meaning}\") needs a value, a scheme and a meaning.");
        var item = new DicomDataset();
        if (Value.Length <= 16) item.Set(DicomTags.CodeValue, Value);
        else if (Value.Contains(':')) item.Set(DicomTags.URNCodeValue, Value);
        else item.Set(DicomTags.LongCodeValue, Value);
        item.Set(DicomTags.CodingSchemeDesignator, Scheme);
        item.Set(DicomTags.CodeMeaning, Meaning.Length > 64 ? Meaning[..64] : Meaning);
        return item;
    }

    public static CodedConcept? FromItem(DicomDataset? item)
    {
        if (item is null) return null;
        var value = item.GetString(DicomTags.CodeValue) ?? item.GetString(DicomTags.LongCodeValue) ?? item.GetString(DicomTags.URNCodeValue);
        if (string.IsNullOrEmpty(value)) return null;
        return new CodedConcept(value, item.GetStringOrDefault(DicomTags.CodingSchemeDesignator), item.GetStringOrDefault(DicomTags.CodeMeaning));
    }

    public static CodedConcept? FromSequence(DicomDataset ds, DicomTag tag) =>
        ds.GetSequence(tag) is { Items.Count: > 0 } s ? FromItem(s.Items[0]) : null;

    public override string ToString() => $"({Value}, {Scheme}, \"{Meaning}\")";
}

/// <summary>Codes used by the objects we write, from PS3.16 (DCM, SCT, UCUM).</summary>
public static class Codes
{
    // DICOM SEG
    public static readonly CodedConcept SourceImageForProcessing = new("121322", "DCM", "Source image for image processing operation");
    public static readonly CodedConcept Segmentation = new("113076", "DCM", "Segmentation");
    public static readonly CodedConcept ArtificialIntelligence = new("123110", "DCM", "Artificial Intelligence");

    // TID 1500 / 1411 / 1419
    public static readonly CodedConcept ImagingMeasurementReport = new("126000", "DCM", "Imaging Measurement Report");
    public static readonly CodedConcept LanguageOfContent = new("121049", "DCM", "Language of Content Item and Descendants");
    public static readonly CodedConcept EnglishUS = new("en-US", "RFC5646", "English (United States)");
    public static readonly CodedConcept ObserverType = new("121005", "DCM", "Observer Type");
    public static readonly CodedConcept Device = new("121007", "DCM", "Device");
    public static readonly CodedConcept DeviceObserverUid = new("121012", "DCM", "Device Observer UID");
    public static readonly CodedConcept DeviceObserverName = new("121013", "DCM", "Device Observer Name");
    public static readonly CodedConcept DeviceObserverManufacturer = new("121014", "DCM", "Device Observer Manufacturer");
    public static readonly CodedConcept DeviceObserverModelName = new("121015", "DCM", "Device Observer Model Name");
    public static readonly CodedConcept ProcedureReported = new("121058", "DCM", "Procedure reported");
    public static readonly CodedConcept CtUnspecifiedBodyRegion = new("25045-6", "LN", "CT unspecified body region");
    public static readonly CodedConcept ImageLibrary = new("111028", "DCM", "Image Library");
    public static readonly CodedConcept ImageLibraryGroup = new("126200", "DCM", "Image Library Group");
    public static readonly CodedConcept Modality = new("121139", "DCM", "Modality");
    public static readonly CodedConcept ComputedTomography = new("CT", "DCM", "Computed Tomography");
    public static readonly CodedConcept FrameOfReferenceUid = new("112227", "DCM", "Frame of Reference UID");
    public static readonly CodedConcept StudyDate = new("111060", "DCM", "Study Date");
    public static readonly CodedConcept ImagingMeasurements = new("126010", "DCM", "Imaging Measurements");
    public static readonly CodedConcept MeasurementGroup = new("125007", "DCM", "Measurement Group");
    public static readonly CodedConcept TrackingIdentifier = new("112039", "DCM", "Tracking Identifier");
    public static readonly CodedConcept TrackingUniqueIdentifier = new("112040", "DCM", "Tracking Unique Identifier");
    public static readonly CodedConcept FindingCategory = new("276214006", "SCT", "Finding category");
    public static readonly CodedConcept Finding = new("121071", "DCM", "Finding");
    public static readonly CodedConcept FindingSite = new("363698007", "SCT", "Finding Site");
    public static readonly CodedConcept ReferencedSegment = new("121191", "DCM", "Referenced Segment");
    public static readonly CodedConcept SourceSeriesForSegmentation = new("121232", "DCM", "Source series for segmentation");
    public static readonly CodedConcept AlgorithmName = new("111001", "DCM", "Algorithm Name");
    public static readonly CodedConcept AlgorithmVersion = new("111003", "DCM", "Algorithm Version");
    public static readonly CodedConcept AlgorithmParameters = new("111002", "DCM", "Algorithm Parameters");
    public static readonly CodedConcept MeasurementMethod = new("370129005", "SCT", "Measurement Method");
    public static readonly CodedConcept SumOfSegmentedVoxelVolumes = new("126030", "DCM", "Sum of segmented voxel volumes");
    public static readonly CodedConcept Derivation = new("121401", "DCM", "Derivation");
    public static readonly CodedConcept Mean = new("373098007", "SCT", "Mean");
    public static readonly CodedConcept CenterOfMass = new("128138", "DCM", "Center of Mass");

    // Measurement concepts
    public static readonly CodedConcept Volume = new("118565006", "SCT", "Volume");
    public static readonly CodedConcept AttenuationCoefficient = new("112031", "DCM", "Attenuation Coefficient");
    public static readonly CodedConcept LongAxis = new("103339001", "SCT", "Long axis");
    /// <summary>No PS3.16 concept names LAA-950, so it is a local code under our own 99-prefixed scheme (PS3.3 8.2).</summary>
    public static readonly CodedConcept LowAttenuationArea950 = new("LAA950", "99MEDAI", "Lung volume below -950 HU (LAA-950)");
    public const string LocalSchemeDesignator = "99MEDAI";
    public const string LocalSchemeName = "MedAiNode local codes";

    // UCUM units as PS3.16 writes them
    public static readonly CodedConcept Milliliter = new("ml", "UCUM", "milliliter");
    public static readonly CodedConcept HounsfieldUnit = new("[hnsf'U]", "UCUM", "Hounsfield unit");
    public static readonly CodedConcept Millimeter = new("mm", "UCUM", "millimeter");
    public static readonly CodedConcept Percent = new("%", "UCUM", "Percent");
}
