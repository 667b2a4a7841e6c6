using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;

namespace MedAiNode.Dicom.Codecs.Tests;

/// <summary>Deterministic synthetic images (gradients, edges and noise) in native Explicit VR Little Endian.</summary>
internal static class Synthetic
{
    public static DicomFile Create(int rows, int cols, int spp = 1, int bitsAllocated = 16, int bitsStored = 16, bool signed = false,
        int frames = 1, string? photometric = null, int seed = 1)
    {
        var ds = new DicomDataset();
        ds.Set(DicomTags.SOPClassUID, spp == 1 ? "1.2.840.10008.5.1.4.1.1.7" : "1.2.840.10008.5.1.4.1.1.7"); // Secondary Capture
        ds.Set(DicomTags.SOPInstanceUID, DicomUidGenerator.Default.Generate());
        ds.Set(DicomTags.StudyInstanceUID, DicomUidGenerator.Default.Generate());
        ds.Set(DicomTags.SeriesInstanceUID, DicomUidGenerator.Default.Generate());
        ds.Set(DicomTags.Modality, "OT");
        ds.SetEmpty(DicomTags.PatientName);
        ds.SetEmpty(DicomTags.PatientID);
        ds.Set(DicomTags.ConversionType, "SYN");
        ds.Set<ushort>(DicomTags.SamplesPerPixel, DicomVR.US, (ushort)spp);
        ds.Set(DicomTags.PhotometricInterpretation, photometric ?? (spp == 1 ? "MONOCHROME2" : "RGB"));
        if (spp > 1) ds.Set<ushort>(DicomTags.PlanarConfiguration, DicomVR.US, 0);
        if (frames > 1) ds.Set(DicomTags.NumberOfFrames, frames.ToString(System.Globalization.CultureInfo.InvariantCulture));
        ds.Set<ushort>(DicomTags.Rows, DicomVR.US, (ushort)rows);
        ds.Set<ushort>(DicomTags.Columns, DicomVR.US, (ushort)cols);
        ds.Set<ushort>(DicomTags.BitsAllocated, DicomVR.US, (ushort)bitsAllocated);
        ds.Set<ushort>(DicomTags.BitsStored, DicomVR.US, (ushort)bitsStored);
        ds.Set<ushort>(DicomTags.HighBit, DicomVR.US, (ushort)(bitsStored - 1));
        ds.Set<ushort>(DicomTags.PixelRepresentation, DicomVR.US, (ushort)(signed ? 1 : 0));
        var bps = bitsAllocated / 8;
        var data = new byte[rows * cols * spp * bps * frames];
        var rng = new Random(seed);
        long min = signed ? -(1L << (bitsStored - 1)) : 0;
        long max = signed ? (1L << (bitsStored - 1)) - 1 : (1L << bitsStored) - 1;
        var i = 0;
        for (var f = 0; f < frames; f++)
            for (var y = 0; y < rows; y++)
                for (var x = 0; x < cols; x++)
                    for (var s = 0; s < spp; s++)
                    {
                        // Smooth ramp, a bright disc, a flat band (long runs for RLE) and noise.
                        double t = (double)(x + y + 7 * s + 3 * f) / (rows + cols + 10);
                        var v = min + (long)(t * (max - min));
                        if ((x - cols / 2) * (x - cols / 2) + (y - rows / 2) * (y - rows / 2) < rows * cols / 16) v = max - (max - min) / 8;
                        if (y % 16 < 4) v = min + (max - min) / 3;
                        else v += rng.Next(-20, 21) * Math.Max(1, (max - min) >> 12);
                        v = Math.Clamp(v, min, max);
                        var raw = (ulong)v;
                        for (var b = 0; b < bps; b++) data[i++] = (byte)(raw >> (8 * b)); // two's complement, sign-extended
                    }
        ds.Add(new DicomElement(DicomTags.PixelData, bitsAllocated > 8 ? DicomVR.OW : DicomVR.OB, data));
        return new DicomFile(ds, DicomTransferSyntax.ExplicitVRLittleEndian);
    }

    public static string Save(DicomFile file, string dir, string name)
    {
        var path = Path.Combine(dir, name);
        file.Save(path);
        return path;
    }
}
