using System.Net;
using System.Security.Cryptography;
using System.Text;
using MedAiNode.Dicom.IO;
using MedAiNode.Dicom.Network.UpperLayer;

namespace MedAiNode.Dicom.Network.Services;

/// <summary>The acceptor's answer to an A-ASSOCIATE-RQ: an A-ASSOCIATE-AC, or an A-ASSOCIATE-RJ with its reason.</summary>
public sealed record NegotiationResult(AssociationParameters? Accept, AssociateReject? Reject, string Why);

/// <summary>Decides on an association request: AE titles, peer address, user identity, capacity, and each presentation context.</summary>
public sealed class AssociationNegotiator
{
    private readonly DicomServerOptions _options;
    private readonly HashSet<string> _abstractSyntaxes;
    private readonly HashSet<string> _transferSyntaxes;
    private readonly PeerAddressRule[] _peers;

    public AssociationNegotiator(DicomServerOptions options)
    {
        _options = options;
        _abstractSyntaxes = new HashSet<string>(options.AcceptedAbstractSyntaxes.Count > 0 ? options.AcceptedAbstractSyntaxes : AcceptedSopClasses.Default, StringComparer.Ordinal);
        // Every syntax the data layer parses; pixel data stays as received, so compressed syntaxes are accepted too.
        _transferSyntaxes = DicomTransferSyntax.All.Select(t => t.Uid).ToHashSet(StringComparer.Ordinal);
        _peers = options.AllowedPeerAddresses.Select(a => PeerAddressRule.TryParse(a, out var r) ? r : throw new NetworkOptionsException(nameof(DicomServerOptions.AllowedPeerAddresses), a)).ToArray();
    }

    public NegotiationResult Negotiate(AssociationParameters rq, IPAddress? peer, bool overLimit)
    {
        if ((rq.ProtocolVersion & 1) == 0)
            return Reject(AssociateReject.ProtocolVersionNotSupported, $"protocol version 0x{rq.ProtocolVersion:X4}");
        if (rq.ApplicationContext != AssociationParameters.DicomApplicationContext)
            return Reject(AssociateReject.ApplicationContextNotSupported, $"application context {rq.ApplicationContext}");
        if (!string.Equals(rq.CalledAE, _options.AETitle.Trim(), StringComparison.Ordinal))
            return Reject(AssociateReject.CalledAENotRecognized, $"called AE '{rq.CalledAE}' is not this node ('{_options.AETitle}')");
        if (_options.AllowedCallingAETitles.Count > 0 && !_options.AllowedCallingAETitles.Any(a => string.Equals(a.Trim(), rq.CallingAE, StringComparison.Ordinal)))
            return Reject(AssociateReject.CallingAENotRecognized, $"calling AE '{rq.CallingAE}' is not configured");
        if (_peers.Length > 0 && (peer is null || !_peers.Any(p => p.Matches(peer))))
            return Reject(AssociateReject.CallingAENotRecognized, $"peer address {peer} is not allowed");
        byte[]? identityResponse = null;
        if (_options.UserIdentity != UserIdentityMode.Ignore)
        {
            var id = rq.UserIdentity;
            if (id is null)
            {
                if (_options.UserIdentity == UserIdentityMode.Required) return Reject(AssociateReject.NoReasonGiven, "no user identity sent");
            }
            else
            {
                if (!CheckIdentity(id)) return Reject(AssociateReject.NoReasonGiven, $"user identity (type {id.Type}) refused");
                if (id.PositiveResponseRequested) identityResponse = [];
            }
        }
        if (overLimit) return Reject(AssociateReject.LocalLimitExceeded, $"{_options.MaxAssociations} associations already open");

        var ac = new AssociationParameters
        {
            ProtocolVersion = 1,
            CalledAE = rq.CalledAE,
            CallingAE = rq.CallingAE,
            MaxPduLength = _options.MaxPduLength,
            ImplementationClassUid = DicomFile.ImplementationClassUid,
            ImplementationVersionName = DicomFile.ImplementationVersionName,
            // Operations are performed one at a time: the window is answered 1/1 (PS3.7 D.3.3.3).
            AsyncOperationsWindow = rq.AsyncOperationsWindow is null ? null : ((ushort)1, (ushort)1),
            UserIdentityResponse = identityResponse,
        };
        foreach (var pc in rq.PresentationContexts)
        {
            var answer = new PresentationContext(pc.Id, pc.AbstractSyntax, pc.TransferSyntaxes);
            if (!_abstractSyntaxes.Contains(pc.AbstractSyntax)) answer.Result = PresentationContextResult.AbstractSyntaxNotSupported;
            else if (ChooseTransferSyntax(pc.TransferSyntaxes) is { } ts)
            {
                answer.Result = PresentationContextResult.Acceptance;
                answer.AcceptedTransferSyntax = ts;
            }
            else answer.Result = PresentationContextResult.TransferSyntaxesNotSupported;
            ac.PresentationContexts.Add(answer);
        }
        var accepted = ac.PresentationContexts.Count(p => p.IsAccepted);
        return new NegotiationResult(ac, null, $"{accepted} of {ac.PresentationContexts.Count} presentation contexts accepted");
    }

    private string? ChooseTransferSyntax(List<string> proposed)
    {
        foreach (var preferred in _options.TransferSyntaxPreference)
            if (proposed.Contains(preferred)) return preferred;
        return proposed.FirstOrDefault(_transferSyntaxes.Contains);
    }

    private bool CheckIdentity(UserIdentity id)
    {
        if (id.Type is not (1 or 2)) return false; // Kerberos, SAML and JWT are not supported
        if (!_options.Users.TryGetValue(id.PrimaryText, out var password)) return false;
        if (id.Type == 1) return false; // a username without a passcode proves nothing
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(password), id.SecondaryField);
    }

    private static NegotiationResult Reject(AssociateReject rj, string why) => new(null, rj, why);
}
