using System.Globalization;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;

namespace MedAiNode.Worker.Tests;

/// <summary>Synthetic Enhanced CT: the real Philips phantom slices packed as the frames of one multi-frame instance.</summary>
internal static class EnhancedCt
{
    public const string SopClassUid = "1.2.840.10008.5.1.4.1.1.2.1"; // Enhanced CT Image Storage

    /// <summary>Writes the instance to <paramref name="path"/>: shared orientation, spacing and rescale, one plane
    /// position per frame, pixel data the slices' own (native, little endian) in order along the stack.</summary>
    public static void Write(string path, string studyUid)
    {
        var slices = Directory.GetFiles(TestData.Path_("ct", "philips-phantom-5mm"), "*.dcm").Select(p => DicomFile.Open(p))
            .OrderBy(f => f.Dataset.GetValues<double>(DicomTags.ImagePositionPatient)[2]).ToList();
        var first = slices[0].Dataset;
        var ds = first.Clone();
        foreach (var tag in new[] { DicomTags.ImagePositionPatient, DicomTags.ImageOrientationPatient, DicomTags.PixelSpacing, DicomTags.SliceThickness,
                     DicomTags.RescaleIntercept, DicomTags.RescaleSlope, DicomTags.RescaleType, DicomTags.SliceLocation, DicomTags.PixelData })
            ds.Remove(tag);
        ds.Set(DicomTags.SOPClassUID, SopClassUid);
        ds.Set(DicomTags.SOPInstanceUID, $"{studyUid}.2.1");
        ds.Set(DicomTags.SeriesInstanceUID, $"{studyUid}.2");
        ds.Set(DicomTags.StudyInstanceUID, studyUid);
        ds.Set(DicomTags.ImageType, "ORIGINAL", "PRIMARY", "AXIAL", "NONE");
        ds.Set(DicomTags.NumberOfFrames, slices.Count.ToString(CultureInfo.InvariantCulture));

        string F(double v) => v.ToString("0.######", CultureInfo.InvariantCulture);
        var shared = new DicomDataset();
        shared.SetSequence(DicomTags.PlaneOrientationSequence,
            new DicomDataset().Set(DicomTags.ImageOrientationPatient, first.GetValues<double>(DicomTags.ImageOrientationPatient).Select(F).ToArray()));
        shared.SetSequence(DicomTags.PixelMeasuresSequence, new DicomDataset()
            .Set(DicomTags.PixelSpacing, first.GetValues<double>(DicomTags.PixelSpacing).Select(F).ToArray())
            .Set(DicomTags.SliceThickness, F(first.GetValue<double>(DicomTags.SliceThickness))));
        shared.SetSequence(DicomTags.PixelValueTransformationSequence, new DicomDataset()
            .Set(DicomTags.RescaleIntercept, F(first.GetValueOrDefault(DicomTags.RescaleIntercept, 0.0)))
            .Set(DicomTags.RescaleSlope, F(first.GetValueOrDefault(DicomTags.RescaleSlope, 1.0)))
            .Set(DicomTags.RescaleType, "HU"));
        ds.SetSequence(DicomTags.SharedFunctionalGroupsSequence, shared);
        ds.SetSequence(DicomTags.PerFrameFunctionalGroupsSequence, slices.Select(s => new DicomDataset().Also(item =>
            item.SetSequence(DicomTags.PlanePositionSequence,
                new DicomDataset().Set(DicomTags.ImagePositionPatient, s.Dataset.GetValues<double>(DicomTags.ImagePositionPatient).Select(F).ToArray())))).ToArray());
        var pixels = new MemoryStream();
        foreach (var s in slices) pixels.Write(s.Dataset.GetBytes(DicomTags.PixelData).Span);
        ds.SetBytes(DicomTags.PixelData, DicomVR.OW, pixels.ToArray());
        new DicomFile(ds, DicomTransferSyntax.ExplicitVRLittleEndian).Save(path);
    }

    private static DicomDataset Also(this DicomDataset ds, Action<DicomDataset> edit)
    {
        edit(ds);
        return ds;
    }
}
