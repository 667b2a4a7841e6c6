using System.Globalization;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Imaging.Geometry;

namespace MedAiNode.Imaging.Tests;

/// <summary>Builds synthetic CT slices whose pixel values are a known function of patient position.</summary>
internal static class Synthetic
{
    public static string F(double v) => v.ToString("0.######", CultureInfo.InvariantCulture);

    public static DicomFile Slice(Vec3 ipp, Vec3 row, Vec3 col, double spacing, int rows, int cols, Func<Vec3, double> hu,
        string series = "1.2.3.4", int instance = 1, string[]? imageType = null, string modality = "CT", string? kernel = null, double thickness = 1.0)
    {
        var ds = new DicomDataset();
        ds.Set(DicomTags.SOPClassUID, "1.2.840.10008.5.1.4.1.1.2");
        ds.Set(DicomTags.SOPInstanceUID, $"{series}.{instance}");
        ds.Set(DicomTags.SeriesInstanceUID, series);
        ds.Set(DicomTags.Modality, modality);
        ds.Set(DicomTags.ImageType, imageType ?? ["ORIGINAL", "PRIMARY", "AXIAL"]);
        if (kernel is not null) ds.Set(DicomTags.ConvolutionKernel, kernel);
        ds.Set(DicomTags.InstanceNumber, instance.ToString(CultureInfo.InvariantCulture));
        ds.Set(DicomTags.ImagePositionPatient, F(ipp.X), F(ipp.Y), F(ipp.Z));
        ds.Set(DicomTags.ImageOrientationPatient, F(row.X), F(row.Y), F(row.Z), F(col.X), F(col.Y), F(col.Z));
        ds.Set(DicomTags.PixelSpacing, F(spacing), F(spacing));
        ds.Set(DicomTags.SliceThickness, F(thickness));
        ds.Set(DicomTags.RescaleIntercept, "-1024");
        ds.Set(DicomTags.RescaleSlope, "0.5");
        ds.Set<ushort>(DicomTags.Rows, DicomVR.US, (ushort)rows);
        ds.Set<ushort>(DicomTags.Columns, DicomVR.US, (ushort)cols);
        ds.Set<ushort>(DicomTags.SamplesPerPixel, DicomVR.US, 1);
        ds.Set(DicomTags.PhotometricInterpretation, "MONOCHROME2");
        ds.Set<ushort>(DicomTags.BitsAllocated, DicomVR.US, 16);
        ds.Set<ushort>(DicomTags.BitsStored, DicomVR.US, 16);
        ds.Set<ushort>(DicomTags.HighBit, DicomVR.US, 15);
        ds.Set<ushort>(DicomTags.PixelRepresentation, DicomVR.US, 1);
        var px = new byte[rows * cols * 2];
        for (var r = 0; r < rows; r++)
        for (var c = 0; c < cols; c++)
        {
            var p = ipp + row * (c * spacing) + col * (r * spacing);
            var stored = (short)Math.Round((hu(p) + 1024) / 0.5);
            BitConverter.TryWriteBytes(px.AsSpan(2 * (r * cols + c)), stored);
        }
        ds.SetBytes(DicomTags.PixelData, DicomVR.OW, px);
        return new DicomFile(ds, DicomTransferSyntax.ExplicitVRLittleEndian);
    }

    /// <summary>A stack of slices along <paramref name="stackDir"/> at distances <paramref name="t"/> from <paramref name="origin"/>.</summary>
    public static List<DicomFile> Stack(Vec3 origin, Vec3 row, Vec3 col, Vec3 stackDir, double[] t, double spacing, int size, Func<Vec3, double> hu, string series = "1.2.3.4") =>
        t.Select((d, i) => Slice(origin + stackDir * d, row, col, spacing, size, size, hu, series, i + 1)).ToList();

    /// <summary>Rotation of the identity axes by angles (degrees) about x, then y, then z.</summary>
    public static (Vec3 Row, Vec3 Col) Oblique(double ax, double ay, double az)
    {
        Vec3 Rot(Vec3 v)
        {
            double a = ax * Math.PI / 180, b = ay * Math.PI / 180, c = az * Math.PI / 180;
            v = new Vec3(v.X, v.Y * Math.Cos(a) - v.Z * Math.Sin(a), v.Y * Math.Sin(a) + v.Z * Math.Cos(a));
            v = new Vec3(v.X * Math.Cos(b) + v.Z * Math.Sin(b), v.Y, -v.X * Math.Sin(b) + v.Z * Math.Cos(b));
            return new Vec3(v.X * Math.Cos(c) - v.Y * Math.Sin(c), v.X * Math.Sin(c) + v.Y * Math.Cos(c), v.Z);
        }
        return (Rot(new Vec3(1, 0, 0)), Rot(new Vec3(0, 1, 0)));
    }
}
