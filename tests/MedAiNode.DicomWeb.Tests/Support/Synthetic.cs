using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.DicomWeb.Configuration;

namespace MedAiNode.DicomWeb.Tests.Support;

/// <summary>Small synthetic instances the tests make themselves (the real CT data stays in shared/).</summary>
public static class Synthetic
{
    public const string SecondaryCapture = "1.2.840.10008.5.1.4.1.1.7";

    public static DicomFile Instance(string studyUid, string seriesUid, string? sopUid = null, string patientId = "SYNTH001",
        DateOnly? studyDate = null, int instanceNumber = 1, int size = 8)
    {
        var ds = new DicomDataset();
        ds.Set(DicomTags.SpecificCharacterSet, "ISO_IR 100");
        ds.Set(DicomTags.SOPClassUID, SecondaryCapture);
        ds.Set(DicomTags.SOPInstanceUID, sopUid ?? DicomUidGenerator.Default.Generate());
        ds.SetDate(DicomTags.StudyDate, studyDate ?? new DateOnly(2024, 3, 1));
        ds.Set(DicomTags.StudyTime, "101500");
        ds.Set(DicomTags.AccessionNumber, "");
        ds.Set(DicomTags.Modality, "OT");
        ds.Set(DicomTags.ConversionType, "WSD");
        ds.Set(DicomTags.PatientName, "Test^Synthetic");
        ds.Set(DicomTags.PatientID, patientId);
        ds.Set(DicomTags.PatientBirthDate, "");
        ds.Set(DicomTags.PatientSex, "O");
        ds.Set(DicomTags.StudyInstanceUID, studyUid);
        ds.Set(DicomTags.SeriesInstanceUID, seriesUid);
        ds.Set(DicomTags.StudyID, "1");
        ds.Set<int>(DicomTags.SeriesNumber, 1);
        ds.Set<int>(DicomTags.InstanceNumber, instanceNumber);
        ds.Set<ushort>(DicomTags.SamplesPerPixel, 1);
        ds.Set(DicomTags.PhotometricInterpretation, "MONOCHROME2");
        ds.Set<ushort>(DicomTags.Rows, (ushort)size);
        ds.Set<ushort>(DicomTags.Columns, (ushort)size);
        ds.Set<ushort>(DicomTags.BitsAllocated, 16);
        ds.Set<ushort>(DicomTags.BitsStored, 12);
        ds.Set<ushort>(DicomTags.HighBit, 11);
        ds.Set<ushort>(DicomTags.PixelRepresentation, 0);
        var pixels = new byte[size * size * 2];
        for (var i = 0; i < pixels.Length; i += 2) pixels[i] = (byte)(i + instanceNumber);
        ds.SetBytes(DicomTags.PixelData, DicomVR.OW, pixels);
        return new DicomFile(ds);
    }

    public static string Save(DicomFile f, string dir)
    {
        var path = Path.Combine(dir, f.Dataset.GetString(DicomTags.SOPInstanceUID) + ".dcm");
        f.Save(path);
        return path;
    }

    public static DicomWebPacsOptions Pacs(string url, string name = "orthanc") => new()
    {
        Name = name,
        BaseUrl = url,
        AttemptTimeout = TimeSpan.FromSeconds(30),
        TotalTimeout = TimeSpan.FromSeconds(90),
        RetryBaseDelay = TimeSpan.FromMilliseconds(100),
        MaxRetryDelay = TimeSpan.FromSeconds(2),
        MaxRetries = 5,
    };

    public static string PhantomDir => Path.Combine(TestData.SharedData, "ct", "philips-phantom-5mm");
    public static string[] PhantomFiles => Directory.GetFiles(PhantomDir, "*.dcm").OrderBy(p => p, StringComparer.Ordinal).ToArray();
}
