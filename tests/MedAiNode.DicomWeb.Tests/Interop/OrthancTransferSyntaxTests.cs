using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.DicomWeb.Tests.Support;

namespace MedAiNode.DicomWeb.Tests.Interop;

/// <summary>WADO-RS asks for a transfer syntax the data layer decodes; the PACS transcodes compressed instances to it.</summary>
public sealed class OrthancTransferSyntaxTests
{
    private static string Wg04(string name) => Path.Combine(TestData.SharedData, "compressed", "wg04", name);

    private static byte[] Pixels(DicomFile f) => ((DicomElement)f.Dataset[DicomTags.PixelData]!).Buffer.GetData().ToArray();

    [Theory]
    [InlineData("CT1_RLE.dcm")]
    [InlineData("CT1_JPLL.dcm")]
    [InlineData("CT1_JLSL.dcm")]
    public async Task A_losslessly_compressed_instance_arrives_as_Explicit_VR_Little_Endian_with_the_original_pixels(string file)
    {
        using var orthanc = new OrthancServer();
        await orthanc.UploadAsync(Wg04(file));
        var src = DicomFile.Open(Wg04(file), new() { StopBeforePixelData = true });
        Assert.True(src.TransferSyntax.IsEncapsulated);
        var study = src.Dataset.GetString(DicomTags.StudyInstanceUID)!;

        using var c = new StandaloneDicomWebClient(Synthetic.Pacs(orthanc.DicomWebUrl));
        var r = await c.Client.RetrieveStudyAsync(study, TestData.TempDir("wado-ts"));
        var got = Assert.Single(r.Instances);
        Assert.Equal(DicomUids.ExplicitVRLittleEndian, got.TransferSyntaxUid);
        var reference = DicomFile.Open(Wg04("CT1_UNC.dcm"));
        Assert.Equal(Pixels(reference), Pixels(DicomFile.Open(got.Path)));
    }

    [Fact]
    public async Task Asking_for_any_transfer_syntax_returns_the_stored_one()
    {
        using var orthanc = new OrthancServer();
        await orthanc.UploadAsync(Wg04("CT1_RLE.dcm"));
        var study = DicomFile.Open(Wg04("CT1_RLE.dcm"), new() { StopBeforePixelData = true }).Dataset.GetString(DicomTags.StudyInstanceUID)!;
        var o = Synthetic.Pacs(orthanc.DicomWebUrl);
        o.WadoTransferSyntax = "*";
        using var c = new StandaloneDicomWebClient(o);
        var r = await c.Client.RetrieveStudyAsync(study, TestData.TempDir("wado-ts-any"));
        Assert.Equal(DicomUids.RLELossless, Assert.Single(r.Instances).TransferSyntaxUid);
    }
}
