using MedAiNode.Results;
using MedAiNode.Results.Segmentation;

namespace MedAiNode.Worker.Commands;

/// <summary>
/// `medainode seg-info SEG [--source DIR]`: what a BINARY SEG holds — its segments, and per segment the frames, source
/// slices, voxels and volume in mL from the real slice spacing. UIDs only: no patient data is printed.
/// </summary>
public static class SegInfoCommand
{
    public static Command Create()
    {
        var file = new Argument<FileInfo>("seg") { Description = "A DICOM Segmentation (BINARY, uncompressed)." };
        var sourceDir = new Option<DirectoryInfo?>("--source") { Description = "Folder of the source series: frames are placed on it and its slice positions give the volumes." };
        var cmd = new Command("seg-info", "Summarise a DICOM SEG: segments, frames, voxel counts and volumes.") { file, sourceDir };
        cmd.SetAction(parse =>
        {
            var f = parse.GetValue(file)!;
            try
            {
                parse.InvocationConfiguration.Output.Write(SegmentationSummary.Describe(f.FullName, parse.GetValue(sourceDir)?.FullName));
                return 0;
            }
            catch (Exception e) when (e is ResultsInputException or DicomFormatException or IOException or UnauthorizedAccessException)
            {
                parse.InvocationConfiguration.Error.WriteLine($"medainode seg-info: {f.Name}: {e.Message}");
                return 2;
            }
        });
        return cmd;
    }
}
