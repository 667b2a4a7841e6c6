namespace MedAiNode.Dicom.Codecs.Jpeg;

/// <summary>Finds the frame header (SOFn) of a JPEG codestream to tell lossless (process 14) from DCT processes.</summary>
internal static class JpegMarkers
{
    public static int FindSofMarker(ReadOnlySpan<byte> data)
    {
        if (data.Length < 4 || data[0] != 0xFF || data[1] != 0xD8) throw new DicomCodecException("JPEG frame does not start with an SOI marker (FFD8).");
        var i = 2;
        while (i + 4 <= data.Length)
        {
            if (data[i] != 0xFF) { i++; continue; } // tolerate stray fill bytes between segments
            var m = data[i + 1];
            if (m == 0xFF) { i++; continue; }
            if (m is >= 0xC0 and <= 0xCF && m is not (0xC4 or 0xC8 or 0xCC)) return m;
            if (m is 0xD8 or 0x01 or (>= 0xD0 and <= 0xD7)) { i += 2; continue; }
            if (m == 0xD9) break;
            var len = data[i + 2] << 8 | data[i + 3];
            i += 2 + len;
        }
        throw new DicomCodecException("JPEG frame has no frame header (SOF marker).");
    }
}
