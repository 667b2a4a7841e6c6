using MedAiNode.Dicom.Network.UpperLayer;

namespace MedAiNode.Dicom.Network.Tests;

public class PduTests
{
    private static AssociationParameters FullRequest()
    {
        var rq = RawPeer.Request("MEDAI",
            new PresentationContext(1, DicomUids.CTImageStorage, [DicomUids.JPEG2000Lossless, DicomUids.ExplicitVRLittleEndian]),
            new PresentationContext(3, DicomUids.Verification, [DicomUids.ImplicitVRLittleEndian]));
        rq.AsyncOperationsWindow = (5, 3);
        rq.ImplementationVersionName = "RAW_1";
        rq.RoleSelections.Add(new RoleSelection(DicomUids.CTImageStorage, true, false));
        rq.UserIdentity = UserIdentity.UsernamePassword("alice", "pw");
        return rq;
    }

    [Fact]
    public void AssociateRequest_RoundTrips_EveryItem()
    {
        var bytes = PduCodec.EncodeAssociateRequest(FullRequest());
        Assert.Equal(1, bytes[0]);
        Assert.Equal((uint)(bytes.Length - 6), System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(2)));
        var back = PduCodec.DecodeAssociate(bytes.AsSpan(6), request: true);
        Assert.Equal("MEDAI", back.CalledAE);
        Assert.Equal("RAW", back.CallingAE);
        Assert.Equal(16384u, back.MaxPduLength);
        Assert.Equal(((ushort)5, (ushort)3), back.AsyncOperationsWindow);
        Assert.Equal("RAW_1", back.ImplementationVersionName);
        Assert.Equal("1.2.3.4", back.ImplementationClassUid);
        Assert.Equal([DicomUids.JPEG2000Lossless, DicomUids.ExplicitVRLittleEndian], back.PresentationContexts[0].TransferSyntaxes);
        Assert.Equal(DicomUids.Verification, back.PresentationContexts[1].AbstractSyntax);
        Assert.Equal(new RoleSelection(DicomUids.CTImageStorage, true, false), Assert.Single(back.RoleSelections));
        Assert.Equal("alice", back.UserIdentity!.PrimaryText);
        Assert.Equal("pw", back.UserIdentity.SecondaryText);
        Assert.True(back.UserIdentity.PositiveResponseRequested);
    }

    [Fact]
    public void Negotiation_AnswersAsyncWindowOneOne_AndUserIdentity()
    {
        var opts = new Services.DicomServerOptions { AETitle = "MEDAI", UserIdentity = Services.UserIdentityMode.Optional, Users = new() { ["alice"] = "pw" } };
        var result = new Services.AssociationNegotiator(opts).Negotiate(FullRequest(), System.Net.IPAddress.Loopback, overLimit: false);
        var ac = result.Accept!;
        Assert.Equal(((ushort)1, (ushort)1), ac.AsyncOperationsWindow);
        Assert.NotNull(ac.UserIdentityResponse);
        var bytes = PduCodec.EncodeAssociateAccept(ac);
        var back = PduCodec.DecodeAssociate(bytes.AsSpan(6), request: false);
        Assert.Equal(DicomUids.JPEG2000Lossless, back.PresentationContexts[0].AcceptedTransferSyntax);
        Assert.Equal(PresentationContextResult.Acceptance, back.PresentationContexts[1].Result);
        Assert.Equal(((ushort)1, (ushort)1), back.AsyncOperationsWindow);
        Assert.Empty(back.UserIdentityResponse!);
        Assert.Equal(Dicom.IO.DicomFile.ImplementationClassUid, back.ImplementationClassUid);
        Assert.Equal(Dicom.IO.DicomFile.ImplementationVersionName, back.ImplementationVersionName);
    }

    [Fact]
    public void Negotiation_OverLimit_IsTransientLocalLimitExceeded()
    {
        var r = new Services.AssociationNegotiator(new Services.DicomServerOptions { AETitle = "MEDAI" }).Negotiate(FullRequest(), null, overLimit: true);
        Assert.Equal(new AssociateReject(RejectResult.Transient, RejectSource.ServiceProviderPresentation, 2), r.Reject);
        var bytes = PduCodec.EncodeAssociateReject(r.Reject!.Value);
        Assert.Equal([3, 0, 0, 0, 0, 4, 0, 2, 3, 2], bytes);
    }

    [Fact]
    public void Negotiation_ProtocolVersionAndApplicationContext_AreChecked()
    {
        var n = new Services.AssociationNegotiator(new Services.DicomServerOptions { AETitle = "MEDAI" });
        var rq = FullRequest();
        rq.ProtocolVersion = 2;
        Assert.Equal(AssociateReject.ProtocolVersionNotSupported, n.Negotiate(rq, null, false).Reject);
        rq = FullRequest();
        rq.ApplicationContext = "1.2.3";
        Assert.Equal(AssociateReject.ApplicationContextNotSupported, n.Negotiate(rq, null, false).Reject);
    }

    public static IEnumerable<object[]> Malformed()
    {
        var good = PduCodec.EncodeAssociateRequest(FullRequest());
        byte[] Mutate(Action<byte[]> m) { var b = (byte[])good.Clone(); m(b); return b[6..]; }
        // application context item (first item at body offset 68) claims more bytes than the PDU holds
        yield return ["item length past end", Mutate(b => { b[6 + 68 + 2] = 0xFF; b[6 + 68 + 3] = 0xFF; })];
        yield return ["even context id", Mutate(b => b[6 + 68 + 4 + 21 + 4] = 2)];
        yield return ["truncated fixed part", good[6..40]];
        yield return ["bad AE byte", Mutate(b => b[6 + 4] = 0x01)];
        yield return ["unknown item type", Mutate(b => b[6 + 68] = 0x33)];
        yield return ["UID with a letter", Mutate(b => b[6 + 68 + 4] = (byte)'x')];
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void MalformedAssociateRequest_Throws(string why, byte[] body)
    {
        var e = Assert.Throws<PduException>(() => PduCodec.DecodeAssociate(body, request: true));
        Assert.False(string.IsNullOrEmpty(e.Message), why);
    }

    [Theory]
    [InlineData(new byte[] { 0, 0, 0, 1, 1, 3 })] // PDV length 1 < 2
    [InlineData(new byte[] { 0, 0, 0, 9, 1, 3, 0, 0 })] // runs past the PDU
    [InlineData(new byte[] { 0, 0, 0, 2, 1 })] // header cut
    public void MalformedPData_Throws(byte[] body) => Assert.Throws<PduException>(() => PduCodec.CountPdvs(body));

    [Fact]
    public void PData_TwoPdvs_Counted() => Assert.Equal(2, PduCodec.CountPdvs(new byte[] { 0, 0, 0, 3, 1, 3, 9, 0, 0, 0, 2, 1, 2 }));

    [Fact]
    public void RejectAbortRelease_HaveExactLengths()
    {
        Assert.Throws<PduException>(() => PduCodec.DecodeReject(new byte[5]));
        Assert.Throws<PduException>(() => PduCodec.DecodeReject(new byte[] { 0, 9, 1, 1 }));
        Assert.Throws<PduException>(() => PduCodec.DecodeAbort(new byte[3]));
        Assert.Equal(new AbortInfo(2, 6), PduCodec.DecodeAbort(new byte[] { 0, 0, 2, 6 }));
        Assert.Equal([5, 0, 0, 0, 0, 4, 0, 0, 0, 0], PduCodec.EncodeReleaseRequest());
    }

    [Fact]
    public void Options_NameTheKey()
    {
        // The caller names its configuration section; the library alone names only the option.
        var e = Assert.Throws<Services.NetworkOptionsException>(() => new Services.DicomServerOptions { AETitle = "WAY-TOO-LONG-AE-TITLE" }.Validate("Dicom"));
        Assert.Equal("Dicom:AETitle", e.Key);
        e = Assert.Throws<Services.NetworkOptionsException>(() => new Services.DicomServerOptions { AllowedPeerAddresses = ["10.0.0.0/33"] }.Validate());
        Assert.Equal("AllowedPeerAddresses", e.Key);
        Assert.True(Services.PeerAddressRule.TryParse("10.1.0.0/16", out var r) && r.Matches(System.Net.IPAddress.Parse("10.1.200.3")) && !r.Matches(System.Net.IPAddress.Parse("10.2.0.1")));
        Assert.True(Services.PeerAddressRule.TryParse("127.0.0.1", out r) && r.Matches(System.Net.IPAddress.Parse("::ffff:127.0.0.1")));
    }
}
