using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Imaging.Series;
using MedAiNode.Inference.Manifests;

namespace MedAiNode.Inference.Pipeline;

/// <summary>The DICOM side of a model's input: which files open, and which series the model's rules choose.</summary>
public static class DicomSeriesInput
{
    /// <summary>Opens every readable file (pixel data stays in the file until used); the rest are counted, not fatal.</summary>
    public static List<DicomFile> Open(IEnumerable<string> paths, out int unreadable)
    {
        var files = new List<DicomFile>();
        unreadable = 0;
        foreach (var path in paths)
        {
            try { files.Add(DicomFile.Open(path)); }
            catch (Exception e) when (e is DicomFormatException or IOException or InvalidDataException or EndOfStreamException) { unreadable++; }
        }
        return files;
    }

    public static SeriesSelectionResult Select(IEnumerable<DicomFile> files, ModelManifest manifest) =>
        SeriesSelector.Select(files, manifest.SeriesSelection ?? new SeriesSelectionRules { Modalities = manifest.Modalities });
}
