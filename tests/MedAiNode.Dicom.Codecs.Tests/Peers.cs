using MedAiNode.Dicom.IO;

namespace MedAiNode.Dicom.Codecs.Tests;

/// <summary>Runs DCMTK and GDCM on files and reads back what they wrote.</summary>
internal static class Peers
{
    public static DicomFile Convert(string program, string input, string output, params string[] options)
    {
        var r = Tool.Run(program, [.. options, input, output]);
        Assert.True(r.ExitCode == 0, $"{program} {string.Join(' ', options)} failed ({r.ExitCode}): {r.StdErr}{r.StdOut}");
        return DicomFile.Open(output);
    }

    /// <summary>pydicom's decoding of a file (its own RLE handler; numpy), as little-endian bytes of all frames.</summary>
    public static byte[] Pydicom(string path, string dir)
    {
        var output = Path.Combine(dir, "pydicom.raw");
        const string script = """
            import sys, pydicom
            a = pydicom.dcmread(sys.argv[1]).pixel_array
            open(sys.argv[2], 'wb').write(a.astype(a.dtype.newbyteorder('<')).tobytes())
            """;
        var r = Tool.Python(script, path, output);
        Assert.True(r.ExitCode == 0, "pydicom failed: " + r.StdErr);
        return File.ReadAllBytes(output);
    }

    /// <summary>All frames of a file, decoded by us, concatenated.</summary>
    public static byte[] AllFrames(DicomFile f)
    {
        var pd = new DicomPixelData(f.Dataset, f.TransferSyntax);
        using var ms = new MemoryStream();
        for (var i = 0; i < pd.NumberOfFrames; i++) ms.Write(DicomPixelDecoder.DecodeFrame(f.Dataset, f.TransferSyntax, i));
        return ms.ToArray();
    }

    /// <summary>Named test images: real CT from the shared data and synthetic layouts that real data lacks.</summary>
    public static DicomFile Source(string name) => name switch
    {
        "wg04-ct1" => DicomFile.Open(PixelCompare.Wg04("CT1_UNC")),
        "ct-small" => DicomFile.Open(PixelCompare.Other("pydicom_CT_small.dcm")),
        "enhanced-ct-2frames" => DicomFile.Open(PixelCompare.Other("pydicomdata_eCT_Supplemental_EnhancedCT.dcm")),
        "rgb8" => Synthetic.Create(64, 80, spp: 3, bitsAllocated: 8, bitsStored: 8),
        "mono8-odd" => Synthetic.Create(33, 17, bitsAllocated: 8, bitsStored: 8),
        "signed12" => Synthetic.Create(40, 48, bitsStored: 12, signed: true),
        "unsigned12" => Synthetic.Create(40, 48, bitsStored: 12),
        "unsigned16-3frames" => Synthetic.Create(30, 20, bitsStored: 16, frames: 3),
        "signed16-rgb" => Synthetic.Create(16, 24, spp: 3, bitsStored: 16, signed: true),
        _ => throw new ArgumentException(name),
    };
}
