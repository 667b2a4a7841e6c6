using MedAiNode.Dicom.Codecs.Jpeg2000;
using MedAiNode.Dicom.Codecs.JpegLs;

namespace MedAiNode.Dicom.Codecs.Native;

/// <summary>The native codec libraries one registry (and the transcoding through it) uses. <see cref="Installed"/> binds
/// the system's libraries; a test builds a registry over instances bound to absent ones instead of swapping shared state.</summary>
internal sealed record NativeCodecs(OpenJpeg Jpeg2000, CharLs JpegLs)
{
    public static NativeCodecs Installed { get; } = new(OpenJpeg.Default, CharLs.Default);
}
