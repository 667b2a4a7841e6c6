using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Results;

namespace MedAiNode.Results.Tests;

/// <summary>Source series and label tables for the tests: synthetic ones built here, real ones from ../shared/data/ct.</summary>
internal static class Fixtures
{
    public static readonly AlgorithmInfo Algorithm = new("MedAiNode Test Model", "1.2.3", new string('a', 64));

    public static readonly CodedConcept Tissue = new("85756007", "SCT", "Tissue");
    public static readonly CodedConcept AnatomicalStructure = new("123037004", "SCT", "Anatomical Structure");
    public static readonly CodedConcept MorphologicallyAbnormal = new("49755003", "SCT", "Morphologically Altered Structure");

    public static SegmentDescription[] Segments(int count)
    {
        (string label, CodedConcept cat, CodedConcept type, CodedConcept? region, byte r, byte g, byte b)[] table =
        [
            ("Liver", AnatomicalStructure, new("10200004", "SCT", "Liver"), null, 221, 130, 101),
            ("Spleen", AnatomicalStructure, new("78961009", "SCT", "Spleen"), null, 157, 108, 162),
            ("Lung", AnatomicalStructure, new("39607008", "SCT", "Lung"), null, 197, 165, 145),
            ("Nodule", MorphologicallyAbnormal, new("27925004", "SCT", "Nodule"), new("39607008", "SCT", "Lung"), 255, 0, 0),
            ("Bone", Tissue, new("272673000", "SCT", "Bone"), null, 241, 214, 145),
            ("Kidney", AnatomicalStructure, new("64033007", "SCT", "Kidney"), null, 185, 102, 83),
            ("Brain", AnatomicalStructure, new("12738006", "SCT", "Brain"), null, 250, 250, 225),
        ];
        return Enumerable.Range(0, count).Select(i => new SegmentDescription
        {
            Number = i + 1,
            Label = table[i % table.Length].label,
            Category = table[i % table.Length].cat,
            Type = table[i % table.Length].type,
            AnatomicRegion = table[i % table.Length].region,
            Color = DicomCieLab.FromRgb(table[i % table.Length].r, table[i % table.Length].g, table[i % table.Length].b),
        }).ToArray();
    }

    /// <summary>A synthetic CT series: <paramref name="slices"/> planes of rows x cols with the given orientation, spacing and tilt.</summary>
    public static List<SourceImage> SyntheticSeries(int slices, int rows, int cols, double[]? iop = null, double spacing = 2.5,
        double[]? stepDirection = null, string seed = "synthetic")
    {
        iop ??= [1, 0, 0, 0, 1, 0];
        var gen = new DicomUidGenerator();
        var study = gen.FromName(seed + "|study");
        var series = gen.FromName(seed + "|series");
        var frame = gen.FromName(seed + "|for");
        var normal = new[] { iop[1] * iop[5] - iop[2] * iop[4], iop[2] * iop[3] - iop[0] * iop[5], iop[0] * iop[4] - iop[1] * iop[3] };
        var step = stepDirection ?? normal;
        var list = new List<SourceImage>();
        for (var z = 0; z < slices; z++)
        {
            var ds = new DicomDataset();
            ds.Set(DicomTags.SpecificCharacterSet, "ISO_IR 100");
            ds.Set(DicomTags.SOPClassUID, DicomUids.CTImageStorage);
            ds.Set(DicomTags.SOPInstanceUID, gen.FromName(seed + "|sop|" + z));
            ds.Set(DicomTags.StudyDate, "20240102");
            ds.Set(DicomTags.StudyTime, "101500");
            ds.Set(DicomTags.AccessionNumber, "ACC123");
            ds.Set(DicomTags.Modality, "CT");
            ds.Set(DicomTags.ReferringPhysicianName, "Referrer^Rita");
            ds.Set(DicomTags.PatientName, "Müller^Jürgen");
            ds.Set(DicomTags.PatientID, "PID-42");
            ds.Set(DicomTags.PatientBirthDate, "19600101");
            ds.Set(DicomTags.PatientSex, "M");
            ds.Set(DicomTags.SliceThickness, DicomVR.DS, "2.5");
            ds.Set(DicomTags.StudyInstanceUID, study);
            ds.Set(DicomTags.SeriesInstanceUID, series);
            ds.Set(DicomTags.StudyID, "S1");
            ds.Set(DicomTags.SeriesNumber, DicomVR.IS, "3");
            ds.Set(DicomTags.InstanceNumber, DicomVR.IS, (z + 1).ToString());
            var ipp = new[] { -100.0 + z * spacing * step[0], -120.0 + z * spacing * step[1], 50.0 + z * spacing * step[2] };
            ds.Set(DicomTags.ImagePositionPatient, DicomVR.DS, ipp.Select(v => DicomDataset.FormatDecimal(v)).ToArray());
            ds.Set(DicomTags.ImageOrientationPatient, DicomVR.DS, iop.Select(v => DicomDataset.FormatDecimal(v)).ToArray());
            ds.Set(DicomTags.FrameOfReferenceUID, frame);
            ds.Set(DicomTags.PositionReferenceIndicator, "");
            ds.Set<ushort>(DicomTags.Rows, DicomVR.US, (ushort)rows);
            ds.Set<ushort>(DicomTags.Columns, DicomVR.US, (ushort)cols);
            ds.Set(DicomTags.PixelSpacing, DicomVR.DS, "0.75", "0.8");
            list.Add(SourceImage.FromDataset(ds));
        }
        return list;
    }

    /// <summary>A label map of spheres and boxes (label n in region n), reproducible from the seed.</summary>
    public static LabelMap SyntheticLabels(IReadOnlyList<SourceImage> images, int segments, int seed = 7)
    {
        var rng = new Random(seed);
        var map = new LabelMap();
        var rows = images[0].Rows;
        var cols = images[0].Columns;
        var shapes = Enumerable.Range(1, segments).Select(n => (n, cz: rng.Next(images.Count), cr: rng.Next(rows), cc: rng.Next(cols),
            rad: 2 + rng.Next(Math.Max(3, Math.Min(rows, cols) / 4)))).ToArray();
        for (var z = 0; z < images.Count; z++)
        {
            var slice = new byte[rows * cols];
            var any = false;
            foreach (var (n, cz, cr, cc, rad) in shapes)
            {
                var dz = Math.Abs(z - cz);
                if (dz > 3) continue;
                var r = rad - dz;
                for (var y = Math.Max(0, cr - r); y < Math.Min(rows, cr + r + 1); y++)
                    for (var x = Math.Max(0, cc - r); x < Math.Min(cols, cc + r + 1); x++)
                        if ((y - cr) * (y - cr) + (x - cc) * (x - cc) <= r * r) { slice[y * cols + x] = (byte)n; any = true; }
            }
            // a few scattered voxels exercise odd bit positions
            for (var k = 0; k < 5; k++) { slice[rng.Next(slice.Length)] = (byte)(1 + rng.Next(segments)); any = true; }
            if (any) map.Set(images[z].SopInstanceUid, slice);
        }
        return map;
    }

    public static string CtDir(string name) => TestData.Path_("ct", name);

    public static List<(DicomFile File, SourceImage Image)> OpenSeries(string name, bool withPixels)
    {
        var opts = withPixels ? DicomReadOptions.Default : new DicomReadOptions { StopBeforePixelData = true };
        return Directory.EnumerateFiles(CtDir(name), "*.dcm").Order(StringComparer.Ordinal)
            .Select(p => DicomFile.Open(p, opts)).Select(f => (f, SourceImage.FromFile(f))).ToList();
    }

    /// <summary>Label map from thresholding stored pixel values (native pixel data only): label 1 above +300 HU (bone),
    /// label 2 between -100 and +100 HU (soft tissue), label 3 below -500 HU inside the image (air/lung).</summary>
    public static LabelMap ThresholdLabels(List<(DicomFile File, SourceImage Image)> series)
    {
        var map = new LabelMap();
        foreach (var (file, img) in series)
        {
            var px = new DicomPixelData(file.Dataset, file.TransferSyntax);
            var frame = px.GetFrame(0).Span;
            var slope = file.Dataset.GetValueOrDefault(DicomTags.RescaleSlope, 1.0);
            var intercept = file.Dataset.GetValueOrDefault(DicomTags.RescaleIntercept, 0.0);
            var labels = new byte[img.Rows * img.Columns];
            for (var i = 0; i < labels.Length; i++)
            {
                double stored = px.BitsAllocated == 16
                    ? (px.IsSigned ? BitConverter.ToInt16(frame.Slice(2 * i, 2)) : BitConverter.ToUInt16(frame.Slice(2 * i, 2)))
                    : frame[i];
                var hu = stored * slope + intercept;
                labels[i] = hu > 300 ? (byte)1 : hu is > -100 and < 100 ? (byte)2 : hu is < -500 and > -1010 ? (byte)3 : (byte)0;
            }
            map.Set(img.SopInstanceUid, labels);
        }
        return map;
    }

    /// <summary>A label map that ignores pixels: a disc of radius 60 px per label, drifting across slices.</summary>
    public static LabelMap GeometricLabels(IReadOnlyList<SourceImage> images, int segments)
    {
        var map = new LabelMap();
        var rows = images[0].Rows;
        var cols = images[0].Columns;
        for (var z = 0; z < images.Count; z++)
        {
            var slice = new byte[rows * cols];
            for (var n = 1; n <= segments; n++)
            {
                if ((z + n) % 4 == 0) continue; // some empty (segment, slice) frames
                int cr = rows / 2 + (n - 2) * 70, cc = cols / 3 + z * 4, r = 40 + 3 * n;
                for (var y = Math.Max(0, cr - r); y < Math.Min(rows, cr + r); y++)
                    for (var x = Math.Max(0, cc - r); x < Math.Min(cols, cc + r); x++)
                        if ((y - cr) * (y - cr) + (x - cc) * (x - cc) <= r * r) slice[y * cols + x] = (byte)n;
            }
            map.Set(images[z].SopInstanceUid, slice);
        }
        return map;
    }
}
