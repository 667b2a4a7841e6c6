using System.Diagnostics;
using MedAiNode.Dicom.IO;

namespace MedAiNode.Dicom.Network.Tests;

/// <summary>DCMTK's echoscu and storescu against our SCP.</summary>
public class DcmtkScuTests
{
    private static string PhantomDir => TestData.Path_("ct", "philips-phantom-5mm");

    [Fact]
    public async Task Echoscu_GetsSuccess()
    {
        await using var scp = new TestScp();
        var r = Tool.Run("echoscu", ["-v", "-aec", "MEDAI", "-aet", "ECHOSCU", "127.0.0.1", scp.PortText]);
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        Assert.Contains("Received Echo Response (Success)", r.StdErr + r.StdOut);
        Assert.Equal(1, scp.Server.AcceptedCount);
    }

    [Fact]
    public async Task Echoscu_WrongCalledAE_IsRejectedWithReason()
    {
        await using var scp = new TestScp();
        var r = Tool.Run("echoscu", ["-aec", "SOMEONEELSE", "127.0.0.1", scp.PortText]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("Called AE Title Not Recognized", r.StdErr + r.StdOut, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Echoscu_UnknownCallingAE_IsRejectedWithReason()
    {
        await using var scp = new TestScp(o => o.AllowedCallingAETitles = ["PACS1"]);
        var r = Tool.Run("echoscu", ["-aec", "MEDAI", "-aet", "INTRUDER", "127.0.0.1", scp.PortText]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("Calling AE Title Not Recognized", r.StdErr + r.StdOut, StringComparison.OrdinalIgnoreCase);
        var ok = Tool.Run("echoscu", ["-aec", "MEDAI", "-aet", "PACS1", "127.0.0.1", scp.PortText]);
        Assert.True(ok.ExitCode == 0, ok.StdErr);
    }

    [Fact]
    public async Task Echoscu_PeerAddressNotAllowed_IsClosedAtOnce()
    {
        await using var scp = new TestScp(o => o.AllowedPeerAddresses = ["10.0.0.0/8"]);
        var r = Tool.Run("echoscu", ["-aec", "MEDAI", "127.0.0.1", scp.PortText]);
        Assert.NotEqual(0, r.ExitCode);
        // Closed at accept, before anything is read: no A-ASSOCIATE-RJ, no association slot.
        Assert.Equal(0, scp.Server.AcceptedCount);
        Assert.Equal(1, scp.Server.RefusedConnectionCount);
    }

    [Fact]
    public async Task Storescu_UserIdentity_CheckedAgainstConfiguration()
    {
        await using var scp = new TestScp(o =>
        {
            o.UserIdentity = Services.UserIdentityMode.Required;
            o.Users = new() { ["radiology"] = "s3cret" };
        });
        var src = Directory.GetFiles(PhantomDir, "*.dcm").Order().First();
        var ok = Tool.Run("storescu", ["-v", "-usr", "radiology", "-pwd", "s3cret", "-rsp", "-aec", "MEDAI", "127.0.0.1", scp.PortText, src]);
        Assert.True(ok.ExitCode == 0, ok.StdErr + ok.StdOut);
        Assert.Single(scp.StoredFiles());
        var wrong = Tool.Run("storescu", ["-usr", "radiology", "-pwd", "guess", "-aec", "MEDAI", "127.0.0.1", scp.PortText, src]);
        Assert.NotEqual(0, wrong.ExitCode);
        Assert.Contains("Association Rejected", wrong.StdErr + wrong.StdOut);
        var none = Tool.Run("storescu", ["-aec", "MEDAI", "127.0.0.1", scp.PortText, src]);
        Assert.NotEqual(0, none.ExitCode);
    }

    [Fact]
    public async Task Shutdown_DuringTransfer_DiscardsPartial_ScpStops()
    {
        var scp = new TestScp();
        try
        {
            using var peer = RawPeer.Connect(scp.Port);
            peer.Send(UpperLayer.PduCodec.EncodeAssociateRequest(RawPeer.Request()));
            Assert.Equal(2, peer.Read()!.Value.Type);
            peer.Send(RawPeer.PData(3, true, true, RawPeer.StoreCommand("1.2.3.4.99")));
            peer.Send(RawPeer.PData(3, false, false, new byte[5000]));
            var sw = Stopwatch.StartNew();
            while (scp.IncomingFiles().Length == 0 && sw.ElapsedMilliseconds < 3000) await Task.Delay(10);
            Assert.Single(scp.IncomingFiles());
            await scp.Server.StopAsync(TimeSpan.FromSeconds(5));
            var pdu = peer.Read(3000);
            Assert.True(pdu is null || pdu.Value.Type == 7, "an A-ABORT or a closed connection");
            Assert.Empty(scp.IncomingFiles());
            Assert.Empty(scp.StoredFiles());
            Assert.Equal(0, scp.Server.ActiveAssociations);
        }
        finally { await scp.DisposeAsync(); }
    }

    [Fact]
    public async Task Storescu_SingleFile_IsStoredAsPart10WithFileMeta()
    {
        await using var scp = new TestScp();
        var src = Directory.GetFiles(PhantomDir, "*.dcm").Order().First();
        var r = Tool.Run("storescu", ["-aec", "MEDAI", "-aet", "MODALITY", "127.0.0.1", scp.PortText, src]);
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        var stored = Assert.Single(scp.StoredFiles());
        var orig = DicomFile.Open(src);
        var got = DicomFile.Open(stored);
        var sop = orig.Dataset.GetString(DicomTags.SOPInstanceUID)!;
        Assert.Equal(Path.Combine(scp.StoreRoot, orig.Dataset.GetString(DicomTags.StudyInstanceUID)!, orig.Dataset.GetString(DicomTags.SeriesInstanceUID)!, sop + ".dcm"), stored);
        Assert.Equal(sop, got.FileMetaInfo.GetString(DicomTags.MediaStorageSOPInstanceUID));
        Assert.Equal("MODALITY", got.FileMetaInfo.GetString(DicomTags.SourceApplicationEntityTitle));
        Assert.Equal(DicomFile.ImplementationClassUid, got.FileMetaInfo.GetString(DicomTags.ImplementationClassUID));
        Assert.Equal(orig.Dataset.GetBytes(DicomTags.PixelData).ToArray(), got.Dataset.GetBytes(DicomTags.PixelData).ToArray());
        // DCMTK reads it back as a valid Part 10 file.
        var dump = Tool.Run("dcmdump", ["-q", stored]);
        Assert.True(dump.ExitCode == 0, dump.StdErr);
        Assert.Contains("(0002,0003) UI [" + sop + "]", dump.StdOut);
        Assert.Empty(scp.IncomingFiles());
    }

    [Fact]
    public async Task StoredEvent_ReportsTheInstance_ForTheStudyStore()
    {
        await using var scp = new TestScp();
        var events = new List<(ReceivedInstance Instance, string Path)>();
        scp.Server.Store.Stored += (i, p) => { lock (events) events.Add((i, p)); };
        var src = Directory.GetFiles(PhantomDir, "*.dcm").Order().Take(2).ToArray();
        var r = Tool.Run("storescu", ["-aec", "MEDAI", "-aet", "CT01", "127.0.0.1", scp.PortText, .. src]);
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.Equal(2, events.Count);
        var ds = DicomFile.Open(src[0]).Dataset;
        var e = events.Single(x => x.Instance.SopInstanceUid == ds.GetString(DicomTags.SOPInstanceUID));
        Assert.Equal(ds.GetString(DicomTags.StudyInstanceUID), e.Instance.StudyInstanceUid);
        Assert.Equal(ds.GetString(DicomTags.SeriesInstanceUID), e.Instance.SeriesInstanceUid);
        Assert.Equal("CT01", e.Instance.CallingAE);
        Assert.Equal("MEDAI", e.Instance.CalledAE);
        Assert.True(File.Exists(e.Path));
        Assert.False(File.Exists(e.Instance.TempPath));
        Assert.Equal(new FileInfo(e.Path).Length, e.Instance.Length + DicomClientAssociationOffset(e.Path));
    }

    private static long DicomClientAssociationOffset(string path) => Client.DicomClientAssociation.DatasetOffset(path)!.Value;

    [Fact]
    public async Task Storescu_ImplicitOnly_FileMetaSaysImplicit()
    {
        await using var scp = new TestScp();
        var src = Directory.GetFiles(PhantomDir, "*.dcm").Order().First();
        var r = Tool.Run("storescu", ["-xi", "-aec", "MEDAI", "127.0.0.1", scp.PortText, src]);
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        var got = DicomFile.Open(Assert.Single(scp.StoredFiles()));
        Assert.Equal(DicomTransferSyntax.ImplicitVRLittleEndian, got.TransferSyntax);
        Assert.Equal(DicomFile.Open(src).Dataset.GetString(DicomTags.PatientID), got.Dataset.GetString(DicomTags.PatientID));
    }

    [Theory]
    [InlineData("-xb", "1.2.840.10008.1.2.2")]
    [InlineData("-xd", "1.2.840.10008.1.2.1.99")]
    public async Task Storescu_BigEndianAndDeflated_StoredInThatSyntax_ValuesIntact(string option, string tsUid)
    {
        await using var scp = new TestScp();
        var src = Directory.GetFiles(PhantomDir, "*.dcm").Order().First();
        var send = src;
        if (option == "-xb")
        {
            // storescu prefers a context needing no conversion, so give it a big endian file to send.
            send = Path.Combine(TestData.TempDir("be"), "be.dcm");
            var conv = Tool.Run("dcmconv", ["+tb", src, send]);
            Assert.True(conv.ExitCode == 0, conv.StdErr);
        }
        var r = Tool.Run("storescu", [option, "-aec", "MEDAI", "127.0.0.1", scp.PortText, send]);
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        var stored = Assert.Single(scp.StoredFiles());
        var got = DicomFile.Open(stored);
        var orig = DicomFile.Open(src);
        Assert.Equal(tsUid, got.TransferSyntax.Uid);
        Assert.Equal(orig.Dataset.GetValues<ushort>(DicomTags.PixelData), got.Dataset.GetValues<ushort>(DicomTags.PixelData));
        Assert.Equal(orig.Dataset.GetString(DicomTags.ImagePositionPatient), got.Dataset.GetString(DicomTags.ImagePositionPatient));
        var dump = Tool.Run("dcmdump", ["-q", stored]);
        Assert.True(dump.ExitCode == 0, dump.StdErr);
    }

    [Fact]
    public async Task Storescu_WholeSeries_AllInstancesStored_DuplicatesReplace()
    {
        await using var scp = new TestScp();
        var files = Directory.GetFiles(PhantomDir, "*.dcm");
        var r = Tool.Run("storescu", ["-aec", "MEDAI", "127.0.0.1", scp.PortText, .. files]);
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        Assert.Equal(files.Length, scp.StoredFiles().Length);
        // Sending again replaces each copy: still one file per SOP Instance UID.
        var again = Tool.Run("storescu", ["-aec", "MEDAI", "127.0.0.1", scp.PortText, files[0], files[1]]);
        Assert.True(again.ExitCode == 0, again.StdErr);
        Assert.Equal(files.Length, scp.StoredFiles().Length);
    }

    [Fact]
    public async Task Storescu_CompressedFile_KeepsItsTransferSyntax()
    {
        await using var scp = new TestScp();
        var src = TestData.Path_("compressed", "wg04");
        var j2k = Directory.GetFiles(src, "*", SearchOption.AllDirectories).First(p => p.Contains("J2KR", StringComparison.OrdinalIgnoreCase));
        var r = Tool.Run("storescu", ["-aec", "MEDAI", "-xv", "127.0.0.1", scp.PortText, j2k]);
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        var got = DicomFile.Open(Assert.Single(scp.StoredFiles()));
        Assert.Equal(DicomTransferSyntax.JPEG2000Lossless, got.TransferSyntax);
    }

    [Fact]
    public async Task Storescu_SeveralAssociationsAtOnce()
    {
        await using var scp = new TestScp();
        var files = Directory.GetFiles(PhantomDir, "*.dcm").Order().ToArray();
        var parts = files.Chunk((files.Length + 3) / 4).ToArray();
        var runs = parts.Select(p => Task.Run(() => Tool.Run("storescu", ["-aec", "MEDAI", "127.0.0.1", scp.PortText, .. p]))).ToArray();
        var results = await Task.WhenAll(runs);
        foreach (var r in results) Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        Assert.Equal(files.Length, scp.StoredFiles().Length);
        Assert.True(scp.Server.AcceptedCount >= parts.Length);
    }

    [Fact]
    public async Task Storescu_OverAssociationLimit_GetsLocalLimitExceeded()
    {
        await using var scp = new TestScp(o => o.MaxAssociations = 1);
        // Hold the only slot with an association (a silent socket takes none: AdmissionTests).
        using var hold = RawPeer.Connect(scp.Port);
        hold.Send(UpperLayer.PduCodec.EncodeAssociateRequest(RawPeer.Request()));
        Assert.Equal(2, hold.Read()!.Value.Type);
        Assert.Equal(1, scp.Server.ActiveAssociations);
        var r = Tool.Run("echoscu", ["-aec", "MEDAI", "127.0.0.1", scp.PortText]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("Local Limit Exceeded", r.StdErr + r.StdOut, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Storescu_DiskOverFillLevel_GetsA700_AndNothingIsKept()
    {
        await using var scp = new TestScp();
        scp.Target.FillPercentProbe = () => 99.5;
        var src = Directory.GetFiles(PhantomDir, "*.dcm").Order().First();
        var r = Tool.Run("storescu", ["-v", "-aec", "MEDAI", "127.0.0.1", scp.PortText, src]);
        Assert.True((r.StdErr + r.StdOut).Contains("Refused: OutOfResources", StringComparison.Ordinal), r.StdErr + r.StdOut);
        Assert.Empty(scp.StoredFiles());
        Assert.Empty(scp.IncomingFiles());
    }
}
