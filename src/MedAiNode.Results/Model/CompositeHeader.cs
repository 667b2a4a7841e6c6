using System.Globalization;
using MedAiNode.Dicom;

namespace MedAiNode.Results;

/// <summary>The parts of a new instance's header shared by SEG and SR: patient and study copied from the source,
/// our equipment, and the content date/time.</summary>
internal static class CompositeHeader
{
    // Patient, General Study and Patient Study attributes carried over byte for byte (their character set comes along).
    private static readonly DicomTag[] Copied =
    [
        DicomTags.SpecificCharacterSet,
        DicomTags.StudyDate, DicomTags.StudyTime, DicomTags.AccessionNumber, DicomTags.IssuerOfAccessionNumberSequence,
        DicomTags.ReferringPhysicianName, DicomTags.StudyDescription,
        DicomTags.PatientName, DicomTags.PatientID, DicomTags.IssuerOfPatientID, DicomTags.IssuerOfPatientIDQualifiersSequence,
        DicomTags.PatientBirthDate, DicomTags.PatientSex, DicomTags.PatientAge, DicomTags.PatientSize, DicomTags.PatientWeight,
        DicomTags.PatientIdentityRemoved, DicomTags.DeidentificationMethod, DicomTags.DeidentificationMethodCodeSequence,
        DicomTags.StudyID,
    ];

    // Type 2: present even when the source lacks them.
    private static readonly DicomTag[] Type2 =
    [
        DicomTags.PatientName, DicomTags.PatientID, DicomTags.PatientBirthDate, DicomTags.PatientSex,
        DicomTags.StudyDate, DicomTags.StudyTime, DicomTags.ReferringPhysicianName, DicomTags.StudyID, DicomTags.AccessionNumber,
    ];

    public static void CopyPatientAndStudy(DicomDataset source, DicomDataset target, string studyUid)
    {
        foreach (var tag in Copied)
        {
            switch (source[tag])
            {
                case DicomSequence s: target.Add(new DicomSequence(tag, s.Items.Select(i => i.Clone()))); break;
                case DicomElement e: target.Add(new DicomElement(tag, e.VR, e.Buffer.GetData())); break;
            }
        }
        foreach (var tag in Type2)
            if (!target.Contains(tag)) target.SetEmpty(tag);
        // Some de-identifiers set the flag but not the method (Type 1C); keep the flag, which matters for privacy, and say so.
        if (target.GetString(DicomTags.PatientIdentityRemoved) == "YES" && string.IsNullOrEmpty(target.GetString(DicomTags.DeidentificationMethod))
            && target.GetSequence(DicomTags.DeidentificationMethodCodeSequence) is not { Items.Count: > 0 })
            target.Set(DicomTags.DeidentificationMethod, "Not recorded in the source images");
        target.Set(DicomTags.StudyInstanceUID, studyUid);
    }

    public static void SetEquipment(DicomDataset ds, EquipmentOptions eq)
    {
        ds.Set(DicomTags.Manufacturer, eq.Manufacturer);
        ds.Set(DicomTags.ManufacturerModelName, eq.ModelName);
        ds.Set(DicomTags.DeviceSerialNumber, eq.DeviceSerialNumber);
        ds.Set(DicomTags.SoftwareVersions, eq.SoftwareVersions);
    }

    /// <summary>Content and Series Date/Time as the clock read at <paramref name="when"/>'s own offset, and that offset
    /// as (0008,0201) Timezone Offset From UTC, so the local time names one instant. The same input gives the same bytes.</summary>
    public static void SetContentDateTime(DicomDataset ds, DateTimeOffset when)
    {
        var date = when.ToString("yyyyMMdd", CultureInfo.InvariantCulture);
        var time = when.ToString("HHmmss.ffffff", CultureInfo.InvariantCulture);
        ds.Set(DicomTags.ContentDate, date);
        ds.Set(DicomTags.ContentTime, time);
        ds.Set(DicomTags.SeriesDate, date);
        ds.Set(DicomTags.SeriesTime, time);
        ds.Set(DicomTags.TimezoneOffsetFromUTC, DicomDateTime.FormatUtcOffset(when.Offset));
    }

    public static string Ds(double v) => DicomDataset.FormatDecimal(Math.Abs(v) < 1e-9 ? 0 : v);
}

/// <summary>Who made the object (General and Enhanced General Equipment).</summary>
public sealed record EquipmentOptions
{
    public string Manufacturer { get; init; } = "MedAiNode";
    public string ModelName { get; init; } = "MedAiNode";
    public string DeviceSerialNumber { get; init; } = "1";
    public string SoftwareVersions { get; init; } = typeof(EquipmentOptions).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    internal void Validate(string prefix)
    {
        Require(Manufacturer, prefix + "Manufacturer");
        Require(ModelName, prefix + "ModelName");
        Require(DeviceSerialNumber, prefix + "DeviceSerialNumber");
        Require(SoftwareVersions, prefix + "SoftwareVersions");
    }

    internal static void Require(string? value, string key, int max = 64)
    {
        if (string.IsNullOrWhiteSpace(value)) throw new ArgumentException($"{key} must not be empty.", key);
        if (value.Length > max) throw new ArgumentException($"{key} is {value.Length} characters; at most {max} fit.", key);
        if (value.Contains('\\')) throw new ArgumentException($"{key} must not contain a backslash.", key);
    }
}
