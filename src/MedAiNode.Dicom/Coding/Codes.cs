namespace MedAiNode.Dicom;

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
    /// <summary>TID 1500's container for findings without a measurement ("nothing found" is one).</summary>
    public static readonly CodedConcept QualitativeEvaluations = new("C0034375", "UMLS", "Qualitative Evaluations");
    public static readonly CodedConcept Absent = new("2667000", "SCT", "Absent");
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
    public static readonly CodedConcept Comment = new("121106", "DCM", "Comment");

    // Measurement concepts
    public static readonly CodedConcept Volume = new("118565006", "SCT", "Volume");
    public static readonly CodedConcept AttenuationCoefficient = new("112031", "DCM", "Attenuation Coefficient");
    public static readonly CodedConcept LongAxis = new("103339001", "SCT", "Long axis");
    /// <summary>
    /// No PS3.16 concept names "the share of a region below a threshold" (e.g. LAA-950, the emphysema index), so it is a
    /// local code under our own 99-prefixed scheme (PS3.3 8.2); the threshold is part of the code, so -950 and -910 differ.
    /// </summary>
    public static CodedConcept PercentBelow(double threshold, CodedConcept unit)
    {
        var t = threshold.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);
        return new CodedConcept("PCTBELOW" + t, LocalSchemeDesignator, $"Percent of region below {t} {unit.Meaning}");
    }
    public const string LocalSchemeDesignator = "99MEDAI";
    public const string LocalSchemeName = "MedAiNode local codes";

    // UCUM units as PS3.16 writes them
    public static readonly CodedConcept Milliliter = new("ml", "UCUM", "milliliter");
    public static readonly CodedConcept HounsfieldUnit = new("[hnsf'U]", "UCUM", "Hounsfield unit");
    public static readonly CodedConcept Millimeter = new("mm", "UCUM", "millimeter");
    public static readonly CodedConcept Percent = new("%", "UCUM", "Percent");

    /// <summary>A UCUM unit by its code, with the meaning PS3.16 gives the common ones (the code itself otherwise, as UCUM allows).</summary>
    public static CodedConcept Ucum(string code) => code switch
    {
        "ml" or "mL" => Milliliter,
        "mm" => Millimeter,
        "%" => Percent,
        "[hnsf'U]" => HounsfieldUnit,
        "cm3" => new("cm3", "UCUM", "cubic centimeter"),
        "mm3" => new("mm3", "UCUM", "cubic millimeter"),
        "mm2" => new("mm2", "UCUM", "square millimeter"),
        "1" => new("1", "UCUM", "no units"),
        _ => new(code, "UCUM", code),
    };
}
