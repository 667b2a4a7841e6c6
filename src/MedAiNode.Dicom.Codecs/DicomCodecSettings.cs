namespace MedAiNode.Dicom.Codecs;

/// <summary>Process-wide codec tuning.</summary>
public static class DicomCodecSettings
{
    private static int _jpeg2000Threads = Math.Min(Environment.ProcessorCount, 4);

    /// <summary>Threads OpenJPEG may use for one JPEG 2000 frame (code-blocks in parallel). Defaults to the cores, at most 4,
    /// as GDCM does; set 1 where many frames are already decoded in parallel.</summary>
    public static int Jpeg2000Threads
    {
        get => _jpeg2000Threads;
        set => _jpeg2000Threads = value is >= 1 and <= 64
            ? value
            : throw new ArgumentOutOfRangeException(nameof(Jpeg2000Threads), value, "Jpeg2000Threads must be between 1 and 64.");
    }
}
