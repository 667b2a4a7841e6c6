using System.IO.Compression;

namespace MedAiNode.Dicom.Network.Dimse;

/// <summary>Datasets as DIMSE carries them: no preamble, no File Meta, in the presentation context's transfer syntax.</summary>
public static class DatasetCodec
{
    public static byte[] Encode(DicomDataset ds, DicomTransferSyntax ts)
    {
        using var ms = new MemoryStream();
        if (ts.IsDeflated)
        {
            using (var deflate = new DeflateStream(ms, CompressionLevel.Fastest, leaveOpen: true))
            {
                var buffered = new BufferedStream(deflate, 64 * 1024);
                new DicomWriter(buffered, ts).WriteDataset(ds);
                buffered.Flush();
            }
            return ms.ToArray();
        }
        new DicomWriter(ms, ts).WriteDataset(ds);
        return ms.ToArray();
    }

    public static DicomDataset Decode(byte[] bytes, DicomTransferSyntax ts)
    {
        if (bytes.Length == 0) return new DicomDataset();
        Stream s = new MemoryStream(bytes);
        if (ts.IsDeflated)
        {
            var inflated = new MemoryStream();
            using (var d = new DeflateStream(s, CompressionMode.Decompress)) d.CopyTo(inflated);
            inflated.Position = 0;
            s = inflated;
        }
        // A bare dataset: the reader follows the bytes for VR explicitness, as the transfer syntax says they must be.
        return DicomFile.Read(s).Dataset;
    }
}
