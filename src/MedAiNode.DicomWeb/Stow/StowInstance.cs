using MedAiNode.Dicom.IO;
using MedAiNode.DicomWeb.Multipart;

namespace MedAiNode.DicomWeb.Stow;

/// <summary>An instance to store: its identity (for matching the response) and its Part 10 bytes, on disk or in memory.</summary>
public sealed class StowInstance
{
    private StowInstance(MultipartPart part, string? sopInstanceUid, string? sopClassUid, string? studyInstanceUid, string? sourcePath)
    {
        Part = part;
        SopInstanceUid = sopInstanceUid;
        SopClassUid = sopClassUid;
        StudyInstanceUid = studyInstanceUid;
        SourcePath = sourcePath;
    }

    public string? SopInstanceUid { get; }
    public string? SopClassUid { get; }
    public string? StudyInstanceUid { get; }
    public string? SourcePath { get; }
    public long Length => Part.Length;
    internal MultipartPart Part { get; }

    /// <summary>
    /// A Part 10 file, streamed from disk when sent. Only its header is read here (up to Pixel Data). A bare dataset
    /// without File Meta is wrapped into Part 10 in memory, as STOW-RS requires. Throws DicomFormatException for a file
    /// that is not DICOM.
    /// </summary>
    public static StowInstance FromFile(string path)
    {
        var file = DicomFile.Open(path, new DicomReadOptions { StopBeforePixelData = true });
        var (sop, cls, study) = Identity(file);
        if (file.FileMetaInfo.Count == 0 || file.Preamble is null)
        {
            var full = DicomFile.Open(path);
            return new StowInstance(MultipartPart.FromBytes(full.ToBytes()), sop, cls, study, path);
        }
        return new StowInstance(MultipartPart.FromFile(path), sop, cls, study, path);
    }

    /// <summary>A dataset built in memory (a SEG or SR the worker produced), encoded now in its transfer syntax.</summary>
    public static StowInstance FromDicomFile(DicomFile file)
    {
        var (sop, cls, study) = Identity(file);
        return new StowInstance(MultipartPart.FromBytes(file.ToBytes()), sop, cls, study, file.Path);
    }

    /// <summary>Raw bytes sent as they are; the identity is whatever the caller knows (used to send data a PACS should refuse).</summary>
    public static StowInstance FromBytes(ReadOnlyMemory<byte> part10, string? sopInstanceUid = null, string? sopClassUid = null) =>
        new(MultipartPart.FromBytes(part10), sopInstanceUid, sopClassUid, null, null);

    private static (string? Sop, string? Class, string? Study) Identity(DicomFile f)
    {
        // Some writers leave the dataset's UIDs empty and keep them only in the File Meta (seen in the wild).
        static string? Pick(string? a, string? b) => !string.IsNullOrEmpty(a) ? a : !string.IsNullOrEmpty(b) ? b : null;
        return (Pick(f.Dataset.GetString(DicomTags.SOPInstanceUID), f.FileMetaInfo.GetString(DicomTags.MediaStorageSOPInstanceUID)),
                Pick(f.Dataset.GetString(DicomTags.SOPClassUID), f.FileMetaInfo.GetString(DicomTags.MediaStorageSOPClassUID)),
                Pick(f.Dataset.GetString(DicomTags.StudyInstanceUID), null));
    }
}
