using MedAiNode.Dicom.IO;

namespace MedAiNode.Dicom.Codecs.Tests;

/// <summary>Layouts of JPEG lossless that DCMTK's encoder does not make, checked against DCMTK's decoder.</summary>
public class JpegLosslessTests
{
    public static TheoryData<int, int, int, int, bool> Cases() => new()
    {
        // components, precision, predictor, restart interval (MCUs; whole rows, as T.81 H.1.1 requires), interleaved
        { 1, 16, 1, 96, true },      // restart every second row
        { 1, 12, 7, 48, true },      // restart every row
        { 1, 16, 4, 0, true },       // differences of 32768 (SSSS 16) appear below
        { 3, 8, 6, 96, true },       // interleaved colour with restarts
        { 3, 8, 5, 0, false },       // one scan per component
        { 3, 16, 2, 48, false },     // one scan per component with restarts
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Hand_made_codestreams_decode_like_dcmdjpeg_and_to_the_original(int components, int precision, int predictor, int restart, bool interleaved)
    {
        const int width = 48, height = 20;
        var rng = new Random(components * 100 + predictor);
        var max = (1 << precision) - 1;
        var samples = new ushort[width * height * components];
        for (var i = 0; i < samples.Length; i++)
            samples[i] = (ushort)(i % 97 == 0 ? (i % 2 == 0 ? 0 : max) : Math.Clamp(i * 13 % (max + 1) / 2 + rng.Next(-50, 50), 0, max));
        if (precision == 16) { samples[width * 3] = 0; samples[width * 3 + 1] = 32768; samples[width * 3 + 2] = 0; } // differences of +-32768

        var codestream = LosslessJpegWriter.Encode(samples, width, height, components, precision, predictor, restart, interleaved);
        var file = Synthetic.Create(height, width, spp: components, bitsAllocated: precision > 8 ? 16 : 8, bitsStored: precision);
        var ds = file.Dataset;
        var seq = new DicomFragmentSequence(DicomTags.PixelData, DicomVR.OB);
        seq.Fragments.Add(new MemoryByteBuffer(codestream.Length % 2 == 0 ? codestream : [.. codestream, 0]));
        ds.Add(seq);
        var jpeg = new DicomFile(ds, DicomTransferSyntax.JPEGLossless);
        var ours = DicomPixelDecoder.DecodeFrame(ds, DicomTransferSyntax.JPEGLossless, 0);

        var expected = precision > 8 ? samples.SelectMany(v => new[] { (byte)v, (byte)(v >> 8) }).ToArray() : samples.Select(v => (byte)v).ToArray();
        Assert.Equal(expected, ours);

        var dir = TestData.TempDir("jpll-handmade");
        var path = Synthetic.Save(jpeg, dir, "in.dcm");
        var dcmtk = Peers.Convert("dcmdjpeg", path, Path.Combine(dir, "out.dcm"), "+cn");
        Assert.Equal(expected, Peers.AllFrames(dcmtk));
    }
}
