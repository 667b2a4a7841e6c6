using MedAiNode.Dicom.IO;
using MedAiNode.Dicom.Network.Client;
using MedAiNode.Dicom.Network.Dimse;
using MedAiNode.Dicom.Network.UpperLayer;

namespace MedAiNode.Dicom.Network.Tests;

/// <summary>Our SCU against DCMTK storescp, and against our own SCP.</summary>
public class ScuTests
{
    private static string[] Phantom => Directory.GetFiles(TestData.Path_("ct", "philips-phantom-5mm"), "*.dcm").Order().ToArray();

    private static PeerProcess StartStorescp(string dir, out int port, params string[] extra)
    {
        port = PeerProcess.FreePort();
        var p = new PeerProcess("storescp", ["-aet", "STORESCP", "-od", dir, "-uf", .. extra, port.ToString()]);
        p.WaitForPort(port);
        return p;
    }

    private static DicomClientOptions To(int port, string called = "STORESCP") => new() { Host = "127.0.0.1", Port = port, CalledAE = called, CallingAE = "MEDAISCU" };

    [Fact]
    public async Task Echo_ToStorescp_Succeeds()
    {
        var dir = TestData.TempDir("storescp-echo");
        using var peer = StartStorescp(dir, out var port);
        await using var a = await DicomClient.ConnectAsync(To(port), [DicomClient.Context(1, DicomUids.Verification)]);
        Assert.Equal(DimseStatus.Success, await a.EchoAsync());
        Assert.Equal(AssociationState.Established, a.Association.State);
        await a.ReleaseAsync();
        Assert.Equal(AssociationState.Closed, a.Association.State);
    }

    [Fact]
    public async Task Store_Series_ToStorescp_ArrivesIdentical()
    {
        var dir = TestData.TempDir("storescp-series");
        using var peer = StartStorescp(dir, out var port);
        var files = Phantom;
        var proposals = DicomClient.StorageProposals(files.Select(f => DicomFile.Open(f, new DicomReadOptions { StopBeforePixelData = true }))
            .Select(f => (f.Dataset.GetString(DicomTags.SOPClassUID)!, f.TransferSyntax.Uid)));
        await using (var a = await DicomClient.ConnectAsync(To(port), proposals))
        {
            foreach (var f in files)
            {
                var r = await a.StoreAsync(f);
                Assert.True(r.Success, $"{r.Status:X4} {r.ErrorComment}");
            }
        }
        var received = Directory.GetFiles(dir);
        Assert.Equal(files.Length, received.Length);
        foreach (var f in files)
        {
            var orig = DicomFile.Open(f);
            var sop = orig.Dataset.GetString(DicomTags.SOPInstanceUID)!;
            var got = DicomFile.Open(Assert.Single(received, p => Path.GetFileName(p).Contains(sop)));
            Assert.Equal(orig.Dataset.GetBytes(DicomTags.PixelData).ToArray(), got.Dataset.GetBytes(DicomTags.PixelData).ToArray());
            Assert.Equal(orig.Dataset.GetString(DicomTags.ImagePositionPatient), got.Dataset.GetString(DicomTags.ImagePositionPatient));
        }
    }

    [Fact]
    public async Task Store_CompressedFile_WhenScpAcceptsOnlyUncompressed_ReportsTranscodingNeed()
    {
        var dir = TestData.TempDir("storescp-j2k");
        using var peer = StartStorescp(dir, out var port); // storescp's default accepts uncompressed syntaxes only
        var j2k = Directory.GetFiles(TestData.Path_("compressed", "wg04"), "*", SearchOption.AllDirectories).First(p => p.Contains("J2KR"));
        var file = DicomFile.Open(j2k);
        var proposals = DicomClient.StorageProposals([(file.Dataset.GetString(DicomTags.SOPClassUID)!, file.TransferSyntax.Uid)]);
        await using var a = await DicomClient.ConnectAsync(To(port), proposals);
        Assert.Contains(a.PresentationContexts, p => p.AcceptedTransferSyntax is null && p.TransferSyntaxes[0] == DicomUids.JPEG2000Lossless);
        var r = await a.StoreAsync(file);
        Assert.False(r.Success);
        Assert.Contains("no transcoder", r.ErrorComment);
        Assert.Contains("JPEG 2000", r.ErrorComment);
        Assert.Empty(Directory.GetFiles(dir));
    }

    [Fact]
    public async Task Store_CompressedFile_WhenScpAcceptsIt_IsSentAsIs()
    {
        var dir = TestData.TempDir("storescp-j2k-ok");
        using var peer = StartStorescp(dir, out var port, "+xa");
        var j2k = Directory.GetFiles(TestData.Path_("compressed", "wg04"), "*", SearchOption.AllDirectories).First(p => p.Contains("J2KR"));
        var file = DicomFile.Open(j2k);
        await using (var a = await DicomClient.ConnectAsync(To(port), DicomClient.StorageProposals([(file.Dataset.GetString(DicomTags.SOPClassUID)!, file.TransferSyntax.Uid)])))
        {
            var r = await a.StoreAsync(file);
            Assert.True(r.Success, r.ErrorComment);
            Assert.Equal(DicomTransferSyntax.JPEG2000Lossless, r.SentAs);
        }
        var got = DicomFile.Open(Assert.Single(Directory.GetFiles(dir)));
        Assert.Equal(DicomTransferSyntax.JPEG2000Lossless, got.TransferSyntax);
        var frags = (DicomFragmentSequence)got.Dataset[DicomTags.PixelData]!;
        var origFrags = (DicomFragmentSequence)file.Dataset[DicomTags.PixelData]!;
        Assert.Equal(origFrags.Fragments.Sum(f => f.Length), frags.Fragments.Sum(f => f.Length));
    }

    [Fact]
    public async Task Rejection_IsReportedWithReason()
    {
        await using var scp = new TestScp();
        var ex = await Assert.ThrowsAsync<AssociationRejectedException>(() => DicomClient.ConnectAsync(To(scp.Port, "WRONGAE"), [DicomClient.Context(1, DicomUids.Verification)]));
        Assert.Equal(7, ex.Reject.Reason);
        Assert.Contains("called AE title not recognized", ex.Message);
    }

    [Fact]
    public async Task OurScu_ToOurScp_SmallPdus_UserIdentity_ExplicitToImplicit()
    {
        await using var scp = new TestScp(o =>
        {
            o.MaxPduLength = 4096; // forces fragmentation of every instance into ~128 PDUs
            o.UserIdentity = Services.UserIdentityMode.Required;
            o.Users = new() { ["radiology"] = "s3cret" };
        });
        var opts = To(scp.Port, "MEDAI");
        opts.UserIdentity = UserIdentity.UsernamePassword("radiology", "s3cret");
        opts.MaxPduLength = 8192;
        var files = Phantom.Take(3).ToArray();
        var sopClass = DicomFile.Open(files[0]).Dataset.GetString(DicomTags.SOPClassUID)!;
        await using (var a = await DicomClient.ConnectAsync(opts, [DicomClient.Context(1, DicomUids.Verification), DicomClient.Context(3, sopClass, DicomUids.ImplicitVRLittleEndian)]))
        {
            Assert.NotNull(a.Association.Accept.UserIdentityResponse);
            Assert.Equal(4096 - 6, a.Association.SendPdvMax);
            Assert.Equal(DimseStatus.Success, await a.EchoAsync());
            foreach (var f in files)
            {
                var r = await a.StoreAsync(f);
                Assert.True(r.Success, r.ErrorComment);
                Assert.Equal(DicomTransferSyntax.ImplicitVRLittleEndian, r.SentAs);
            }
        }
        Assert.Equal(3, scp.StoredFiles().Length);
        foreach (var stored in scp.StoredFiles())
        {
            var got = DicomFile.Open(stored);
            Assert.Equal(DicomTransferSyntax.ImplicitVRLittleEndian, got.TransferSyntax);
            var orig = DicomFile.Open(files.Single(f => DicomFile.Open(f).Dataset.GetString(DicomTags.SOPInstanceUID) == got.Dataset.GetString(DicomTags.SOPInstanceUID)));
            Assert.Equal(orig.Dataset.GetBytes(DicomTags.PixelData).ToArray(), got.Dataset.GetBytes(DicomTags.PixelData).ToArray());
        }

        // Wrong password: rejected, no reason given (PS3.7 D.3.3.7).
        opts.UserIdentity = UserIdentity.UsernamePassword("radiology", "guess");
        var ex = await Assert.ThrowsAsync<AssociationRejectedException>(() => DicomClient.ConnectAsync(opts, [DicomClient.Context(1, DicomUids.Verification)]));
        Assert.Equal(RejectSource.ServiceUser, ex.Reject.Source);
        Assert.Equal(1, ex.Reject.Reason);
    }

    [Fact]
    public async Task UnsupportedSopClass_IsRejectedPerContext_NotByAbort()
    {
        await using var scp = new TestScp();
        await using var a = await DicomClient.ConnectAsync(To(scp.Port, "MEDAI"),
        [
            DicomClient.Context(1, DicomUids.Verification),
            DicomClient.Context(3, "1.2.840.10008.5.1.4.1.1.481.1"), // RT Image: not accepted
            DicomClient.Context(5, DicomUids.CTImageStorage, "1.2.3.4.5.6"), // unknown transfer syntax
            DicomClient.Context(7, DicomUids.CTImageStorage, DicomUids.JPEGLSLossless, DicomUids.ExplicitVRLittleEndian),
        ]);
        var pcs = a.PresentationContexts;
        Assert.True(pcs[0].IsAccepted);
        Assert.Equal(PresentationContextResult.AbstractSyntaxNotSupported, pcs[1].Result);
        Assert.Equal(PresentationContextResult.TransferSyntaxesNotSupported, pcs[2].Result);
        Assert.Equal(DicomUids.JPEGLSLossless, pcs[3].AcceptedTransferSyntax); // the proposer's first choice
        Assert.Equal(DimseStatus.Success, await a.EchoAsync());
    }

    [Fact]
    public async Task TransferSyntaxPreference_IsConfigurable()
    {
        await using var scp = new TestScp(o => o.TransferSyntaxPreference = [DicomUids.ExplicitVRLittleEndian]);
        await using var a = await DicomClient.ConnectAsync(To(scp.Port, "MEDAI"),
            [DicomClient.Context(1, DicomUids.CTImageStorage, DicomUids.ImplicitVRLittleEndian, DicomUids.ExplicitVRLittleEndian)]);
        Assert.Equal(DicomUids.ExplicitVRLittleEndian, a.PresentationContexts[0].AcceptedTransferSyntax);
    }
}
