using System.CommandLine;
using System.Globalization;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Results.Segmentation;

namespace MedAiNode.Results.Cli;

/// <summary>
/// `medainode seg-info SEG [--source DIR]`: what a BINARY SEG holds — its segments, and per segment the frames, source
/// slices and voxels (with --source, volumes in mL on the source grid). UIDs only: no patient data is printed.
/// </summary>
public static class SegInfoVerb
{
    public static Command Create()
    {
        var file = new Argument<FileInfo>("seg") { Description = "A DICOM Segmentation (BINARY, uncompressed)." };
        var sourceDir = new Option<DirectoryInfo?>("--source") { Description = "Folder of the source series: frames are checked against it and volumes given in mL." };
        var cmd = new Command("seg-info", "Summarise a DICOM SEG: segments, frames and voxel counts.") { file, sourceDir };
        cmd.SetAction(parse =>
        {
            var f = parse.GetValue(file)!;
            try
            {
                Console.Out.Write(Describe(f.FullName, parse.GetValue(sourceDir)?.FullName));
                return 0;
            }
            catch (Exception e) when (e is ResultsInputException or DicomFormatException or IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"medainode seg-info: {f.Name}: {e.Message}");
                return 2;
            }
        });
        return cmd;
    }

    /// <summary>The text the verb prints.</summary>
    public static string Describe(string segPath, string? sourceDirectory = null)
    {
        var ci = CultureInfo.InvariantCulture;
        var file = DicomFile.Open(segPath);
        SourceSeries? source = null;
        if (sourceDirectory is not null) source = SourceSeries.Open(sourceDirectory);
        var mask = SegmentationReader.Read(file, source);
        var ds = file.Dataset;
        var w = new StringWriter(ci);
        w.WriteLine($"SEG {ds.GetString(DicomTags.SOPInstanceUID)}");
        w.WriteLine($"  series {ds.GetString(DicomTags.SeriesInstanceUID)} #{ds.GetString(DicomTags.SeriesNumber)} \"{ds.GetString(DicomTags.SeriesDescription)}\"");
        w.WriteLine($"  frame of reference {ds.GetString(DicomTags.FrameOfReferenceUID)}");
        w.WriteLine($"  {ds.GetString(DicomTags.NumberOfFrames)} frames of {mask.Columns}x{mask.Rows}, on {mask.Instances.Count} source instances");
        var counts = new long[256];
        var slices = new int[256];
        var volume = new double[256];
        foreach (var uid in mask.Instances)
        {
            var labels = mask.GetLabels(uid);
            var seen = new bool[256];
            var img = source?.Images.FirstOrDefault(i => i.SopInstanceUid == uid);
            var voxelMl = img is null ? 0 : img.PixelSpacing[0] * img.PixelSpacing[1] * (img.SliceThickness ?? 0) / 1000.0;
            foreach (var b in labels)
            {
                if (b == 0) continue;
                counts[b]++;
                volume[b] += voxelMl;
                seen[b] = true;
            }
            for (var s = 1; s < 256; s++) if (seen[s]) slices[s]++;
        }
        foreach (var s in mask.Segments)
        {
            w.Write($"  segment {s.Number} \"{s.Label}\" type {s.Type} category {s.Category}");
            if (s.AnatomicRegion is not null) w.Write($" region {s.AnatomicRegion}");
            w.WriteLine();
            w.Write($"    {counts[s.Number]} voxels on {slices[s.Number]} slices");
            if (source is not null) w.Write($", {volume[s.Number].ToString("F3", ci)} mL (pixel spacing x slice thickness)");
            w.WriteLine();
            if (s.AlgorithmName is not null) w.WriteLine($"    algorithm {s.AlgorithmName} {s.AlgorithmVersion} {s.AlgorithmParameters}".TrimEnd());
        }
        return w.ToString();
    }
}
