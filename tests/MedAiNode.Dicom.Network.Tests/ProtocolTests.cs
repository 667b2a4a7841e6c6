using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using MedAiNode.Dicom.IO;
using MedAiNode.Dicom.Network.Client;
using MedAiNode.Dicom.Network.Dimse;
using MedAiNode.Dicom.Network.UpperLayer;

namespace MedAiNode.Dicom.Network.Tests;

/// <summary>Bad input at the SCP: wrong PDUs, wrong states, silent peers, aborts mid-dataset.</summary>
public class ProtocolTests
{
    private static async Task AssertStillAnswersEcho(TestScp scp)
    {
        await using var a = await DicomClient.ConnectAsync(new DicomClientOptions { Port = scp.Port, CalledAE = "MEDAI" }, [DicomClient.Context(1, DicomUids.Verification)]);
        Assert.Equal(DimseStatus.Success, await a.EchoAsync());
    }

    private static RawPeer Associate(TestScp scp)
    {
        var peer = RawPeer.Connect(scp.Port);
        peer.Send(PduCodec.EncodeAssociateRequest(RawPeer.Request()));
        var ac = peer.Read();
        Assert.Equal(2, ac!.Value.Type);
        return peer;
    }

    [Fact]
    public async Task PDataBeforeAssociation_IsAborted()
    {
        await using var scp = new TestScp();
        using var peer = RawPeer.Connect(scp.Port);
        peer.Send(RawPeer.PData(1, true, true, RawPeer.EchoCommand()));
        var pdu = peer.Read();
        Assert.Equal(7, pdu!.Value.Type); // A-ABORT
        Assert.Equal(2, pdu.Value.Body[2]); // source: service provider
        Assert.True(peer.WaitClosed(3000));
        await AssertStillAnswersEcho(scp);
    }

    [Fact]
    public async Task MalformedAssociateRequest_IsAborted()
    {
        await using var scp = new TestScp();
        using var peer = RawPeer.Connect(scp.Port);
        var rq = PduCodec.EncodeAssociateRequest(RawPeer.Request());
        rq[6 + 68 + 2] = 0x7F; // application context item length past the end
        peer.Send(rq);
        var pdu = peer.Read();
        Assert.Equal(7, pdu!.Value.Type);
        Assert.Equal(6, pdu.Value.Body[3]); // invalid PDU parameter value
        await AssertStillAnswersEcho(scp);
    }

    [Fact]
    public async Task UnknownPduType_IsAbortedAsUnrecognized()
    {
        await using var scp = new TestScp();
        using var peer = Associate(scp);
        peer.Send([0x09, 0, 0, 0, 0, 2, 1, 2]);
        var pdu = peer.Read();
        Assert.Equal(7, pdu!.Value.Type);
        Assert.Equal(1, pdu.Value.Body[3]); // unrecognized PDU
    }

    [Fact]
    public async Task AssociateRequestInDataTransfer_IsAbortedAsUnexpected()
    {
        await using var scp = new TestScp();
        using var peer = Associate(scp);
        peer.Send(PduCodec.EncodeAssociateRequest(RawPeer.Request()));
        var pdu = peer.Read();
        Assert.Equal(7, pdu!.Value.Type);
        Assert.Equal(2, pdu.Value.Body[3]); // unexpected PDU
    }

    [Fact]
    public async Task PDataLargerThanNegotiated_IsAborted()
    {
        await using var scp = new TestScp(o => o.MaxPduLength = 4096);
        using var peer = Associate(scp);
        peer.Send(RawPeer.PData(3, false, false, new byte[8000]));
        var pdu = peer.Read();
        Assert.Equal(7, pdu!.Value.Type);
    }

    [Fact]
    public async Task DataOnUnacceptedContext_IsAborted()
    {
        await using var scp = new TestScp();
        using var peer = Associate(scp);
        peer.Send(RawPeer.PData(9, true, true, RawPeer.EchoCommand()));
        Assert.Equal(7, peer.Read()!.Value.Type);
    }

    [Fact]
    public async Task NoAssociateRequest_ArtimClosesTheConnection()
    {
        await using var scp = new TestScp(o => o.ArtimTimeout = TimeSpan.FromMilliseconds(500));
        using var peer = RawPeer.Connect(scp.Port);
        var sw = Stopwatch.StartNew();
        Assert.True(peer.WaitClosed(5000));
        Assert.InRange(sw.ElapsedMilliseconds, 300, 4000);
    }

    [Fact]
    public async Task PeerStopsMidDataset_TimesOut_PartialFileDiscarded()
    {
        await using var scp = new TestScp(o => o.IdleTimeout = TimeSpan.FromSeconds(2));
        using var peer = Associate(scp);
        peer.Send(RawPeer.PData(3, true, true, RawPeer.StoreCommand("1.2.3.4.5")));
        peer.Send(RawPeer.PData(3, false, false, new byte[1000]));
        peer.Send([4, 0, 0, 0, 0x10, 0]); // and then half a PDU header... and silence
        // Waited for, not a fixed pause: a loaded machine may take a while to read the data (but less than the timeout).
        var sw = Stopwatch.StartNew();
        while (scp.IncomingFiles().Length == 0 && sw.ElapsedMilliseconds < 1500) await Task.Delay(10);
        Assert.Single(scp.IncomingFiles()); // streaming to disk while the data arrives
        var pdu = peer.Read(10000);
        Assert.Equal(7, pdu!.Value.Type);
        Assert.Empty(scp.IncomingFiles());
        Assert.Empty(scp.StoredFiles());
        await AssertStillAnswersEcho(scp);
    }

    [Fact]
    public async Task AbortMidDataset_PartialFileDiscarded()
    {
        await using var scp = new TestScp();
        using var peer = Associate(scp);
        peer.Send(RawPeer.PData(3, true, true, RawPeer.StoreCommand("1.2.3.4.6")));
        peer.Send(RawPeer.PData(3, false, false, new byte[1000]));
        await Task.Delay(100);
        peer.Send(PduCodec.EncodeAbort(0, 0));
        var sw = Stopwatch.StartNew();
        while (scp.IncomingFiles().Length > 0 && sw.ElapsedMilliseconds < 3000) await Task.Delay(20);
        Assert.Empty(scp.IncomingFiles());
        Assert.Empty(scp.StoredFiles());
    }

    [Fact]
    public async Task UndecodableDataset_GetsC000_AndIsNotStored()
    {
        await using var scp = new TestScp();
        using var peer = Associate(scp);
        peer.Send(RawPeer.PData(3, true, true, RawPeer.StoreCommand("1.2.3.4.7")));
        // (0008,0016) with a length running far past the data
        peer.Send(RawPeer.PData(3, false, true, new byte[] { 0x08, 0, 0x16, 0, 0xFF, 0xFF, 0, 0x10, 0x31, 0x32 }));
        var rsp = peer.Read()!.Value;
        Assert.Equal(4, rsp.Type);
        var cmd = DimseCommand.Decode(rsp.Body.AsSpan(6));
        Assert.Equal(CommandField.CStoreResponse, cmd.Field);
        Assert.InRange(cmd.Status, (ushort)0xC000, (ushort)0xCFFF);
        Assert.Contains("cannot be decoded", cmd.ErrorComment);
        Assert.Empty(scp.StoredFiles());
        Assert.Empty(scp.IncomingFiles());
    }

    [Fact]
    public async Task DatasetOfAnotherSopClass_GetsA900()
    {
        await using var scp = new TestScp();
        using var peer = Associate(scp);
        peer.Send(RawPeer.PData(3, true, true, RawPeer.StoreCommand("1.2.3.4.8")));
        var ds = new DicomDataset();
        ds.Set(DicomTags.SOPClassUID, DicomUids.MRImageStorage);
        ds.Set(DicomTags.SOPInstanceUID, "1.2.3.4.8");
        peer.Send(RawPeer.PData(3, false, true, DatasetCodec.Encode(ds, DicomTransferSyntax.ImplicitVRLittleEndian)));
        var cmd = DimseCommand.Decode(peer.Read()!.Value.Body.AsSpan(6));
        Assert.Equal(DimseStatus.DataSetDoesNotMatchSopClass, cmd.Status);
        Assert.Empty(scp.StoredFiles());
    }

    [Fact]
    public async Task PathTraversalUid_IsRefused()
    {
        await using var scp = new TestScp();
        using var peer = Associate(scp);
        peer.Send(RawPeer.PData(3, true, true, RawPeer.StoreCommand("1.2/../../etc")));
        peer.Send(RawPeer.PData(3, false, true, new byte[10]));
        var cmd = DimseCommand.Decode(peer.Read()!.Value.Body.AsSpan(6));
        Assert.Equal(DimseStatus.CannotUnderstand, cmd.Status);
        Assert.Empty(scp.IncomingFiles());
    }

    [Fact]
    public async Task ReleaseCollision_BothSidesRelease_BothClose()
    {
        // Two of our associations face to face; both send A-RELEASE-RQ at once (PS3.8 9.2.3 collision).
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync(IPAddress.Loopback, port);
        var server = await listener.AcceptTcpClientAsync();
        listener.Stop();
        var rq = RawPeer.Request();
        var ac = new Services.AssociationNegotiator(new Services.DicomServerOptions { AETitle = "MEDAI" }).Negotiate(rq, null, false).Accept!;
        var requestor = new DicomAssociation(new UpperLayerConnection(client.GetStream()), rq, ac, isRequestor: true, TimeSpan.FromSeconds(3));
        var acceptor = new DicomAssociation(new UpperLayerConnection(server.GetStream()), RawPeer.Request(), ac, isRequestor: false, TimeSpan.FromSeconds(3));
        var t1 = requestor.ReleaseAsync().AsTask();
        var t2 = acceptor.ReleaseAsync().AsTask();
        await Task.WhenAll(t1, t2).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(AssociationState.Closed, requestor.State);
        Assert.Equal(AssociationState.Closed, acceptor.State);
        await requestor.DisposeAsync();
        await acceptor.DisposeAsync();
    }

    [Fact]
    public async Task ReleaseCollision_WithRawPeer_RequestorAnswersFirst()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var peerTask = Task.Run(async () =>
        {
            using var s = await listener.AcceptTcpClientAsync();
            var st = s.GetStream();
            var buf = new byte[65536];
            var n = await st.ReadAsync(buf); // A-ASSOCIATE-RQ (assumed in one read on loopback)
            var rq = PduCodec.DecodeAssociate(buf.AsSpan(6, n - 6), true);
            var ac = new Services.AssociationNegotiator(new Services.DicomServerOptions { AETitle = rq.CalledAE }).Negotiate(rq, null, false).Accept!;
            await st.WriteAsync(PduCodec.EncodeAssociateAccept(ac));
            n = await st.ReadAsync(buf.AsMemory(0, 10));
            Assert.Equal(5, buf[0]); // their A-RELEASE-RQ
            await st.WriteAsync(PduCodec.EncodeReleaseRequest()); // ours crosses it
            n = await st.ReadAsync(buf.AsMemory(0, 10));
            Assert.Equal(6, buf[0]); // the requestor answers first (Sta9 -> Sta11)
            await st.WriteAsync(PduCodec.EncodeReleaseResponse());
        });
        await using var a = await DicomClient.ConnectAsync(new DicomClientOptions { Port = port, CalledAE = "X" }, [DicomClient.Context(1, DicomUids.Verification)]);
        await a.ReleaseAsync();
        await peerTask.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(AssociationState.Closed, a.Association.State);
        listener.Stop();
    }
}
