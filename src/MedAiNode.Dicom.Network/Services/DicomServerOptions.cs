using System.Net;
using MedAiNode.Dicom.Network.UpperLayer;

namespace MedAiNode.Dicom.Network.Services;

/// <summary>A configuration value that is missing or wrong; the message names the key.</summary>
public sealed class NetworkOptionsException : Exception
{
    public NetworkOptionsException(string key, string message) : base($"{key}: {message}") => Key = key;
    public string Key { get; }
}

public enum UserIdentityMode
{
    /// <summary>User identity items are ignored and never answered.</summary>
    Ignore,
    /// <summary>An identity, when sent, must match a configured user; associations without one are accepted.</summary>
    Optional,
    /// <summary>Every association must carry a username/passcode matching a configured user.</summary>
    Required,
}

/// <summary>The DIMSE service. Errors name the option by its property name, prefixed by the configuration section the
/// caller bound it from (<see cref="Validate(string?)"/>): this library does not know the host's keys.</summary>
public sealed class DicomServerOptions
{
    public string AETitle { get; set; } = "MEDAINODE";
    /// <summary>Loopback until configured: a node is opened to the network on purpose (with an allow-list).</summary>
    public string BindAddress { get; set; } = "127.0.0.1";
    /// <summary>The plain DICOM port; 0 picks a free one; -1 = no plain port (TLS only when <see cref="TlsPort"/> is set).</summary>
    public int Port { get; set; } = 11112;
    /// <summary>DICOM TLS port (PS3.15 B.9 / BCP 195); 0 = off.</summary>
    public int TlsPort { get; set; }
    public string? TlsCertificatePath { get; set; }
    public string? TlsKeyPath { get; set; }
    /// <summary>When set, peers on the TLS port must present a certificate issued by this CA (PEM).</summary>
    public string? TlsClientCaPath { get; set; }
    public bool TlsRequireClientCertificate { get; set; }

    /// <summary>Calling AE titles allowed in; empty = any.</summary>
    public List<string> AllowedCallingAETitles { get; set; } = new();
    /// <summary>Peer addresses allowed in (IP or CIDR, e.g. 10.1.0.0/16); empty = any.</summary>
    public List<string> AllowedPeerAddresses { get; set; } = new();
    public int MaxAssociations { get; set; } = 32;
    /// <summary>Open TCP connections per port, negotiating or not. When all are taken, the oldest one that has not sent
    /// its A-ASSOCIATE-RQ is closed to make room; when none is, new connections wait in the backlog.</summary>
    public int MaxConnections { get; set; } = 128;
    /// <summary>Open TCP connections from one peer address (both ports together).</summary>
    public int MaxConnectionsPerPeer { get; set; } = 16;
    /// <summary>How long a new connection has to complete its TLS handshake and send a whole A-ASSOCIATE-RQ (the
    /// ARTIM in Sta2, kept short: such a connection holds no association slot yet; the shorter of this and ArtimTimeout).</summary>
    public TimeSpan AssociationRequestTimeout { get; set; } = TimeSpan.FromSeconds(10);
    public uint MaxPduLength { get; set; } = 256 * 1024;
    public TimeSpan ArtimTimeout { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>How long an established association may stay silent (or stall mid-PDU) before it is aborted.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(120);
    /// <summary>Transfer syntax choice: empty = the proposer's order (PS3.8 leaves it to the acceptor); else these UIDs first.</summary>
    public List<string> TransferSyntaxPreference { get; set; } = new();
    /// <summary>Abstract syntaxes accepted; empty = <see cref="AcceptedSopClasses.Default"/>.</summary>
    public List<string> AcceptedAbstractSyntaxes { get; set; } = new();

    public UserIdentityMode UserIdentity { get; set; } = UserIdentityMode.Ignore;
    /// <summary>username → passcode for user identity negotiation.</summary>
    public Dictionary<string, string> Users { get; set; } = new();

    /// <param name="section">The configuration section these options came from, named in errors ("Dicom" gives
    /// "Dicom:Port"); null names the bare option ("Port").</param>
    public void Validate(string? section = null)
    {
        string Key(string name) => string.IsNullOrEmpty(section) ? name : $"{section}:{name}";
        if (string.IsNullOrWhiteSpace(AETitle) || AETitle.Trim().Length > 16 || AETitle.Any(c => c < 0x20 || c > 0x7E || c == '\\'))
            throw new NetworkOptionsException(Key("AETitle"), $"'{AETitle}' is not an AE title (1-16 printable ASCII characters, no backslash)");
        if (Port is < -1 or > 65535) throw new NetworkOptionsException(Key("Port"), $"{Port} is not a TCP port (-1: no plain port)");
        if (Port == -1 && TlsPort == 0) throw new NetworkOptionsException(Key("Port"), "is -1 (no plain port) and TlsPort is not set: the SCP would listen nowhere");
        if (TlsPort is < 0 or > 65535) throw new NetworkOptionsException(Key("TlsPort"), $"{TlsPort} is not a TCP port");
        if (TlsPort != 0 && TlsPort == Port) throw new NetworkOptionsException(Key("TlsPort"), "must differ from Port");
        if (TlsPort != 0 && (string.IsNullOrEmpty(TlsCertificatePath) || !File.Exists(TlsCertificatePath)))
            throw new NetworkOptionsException(Key("TlsCertificatePath"), $"TLS is on (TlsPort {TlsPort}) but the certificate '{TlsCertificatePath}' does not exist");
        if (TlsPort != 0 && !string.IsNullOrEmpty(TlsKeyPath) && !File.Exists(TlsKeyPath))
            throw new NetworkOptionsException(Key("TlsKeyPath"), $"'{TlsKeyPath}' does not exist");
        if (TlsRequireClientCertificate && (string.IsNullOrEmpty(TlsClientCaPath) || !File.Exists(TlsClientCaPath)))
            throw new NetworkOptionsException(Key("TlsClientCaPath"), "client certificates are required but no CA file is configured");
        if (!IPAddress.TryParse(BindAddress, out _)) throw new NetworkOptionsException(Key("BindAddress"), $"'{BindAddress}' is not an IP address");
        if (MaxAssociations < 1) throw new NetworkOptionsException(Key("MaxAssociations"), "must be at least 1");
        if (MaxConnections < MaxAssociations) throw new NetworkOptionsException(Key("MaxConnections"), $"must be at least MaxAssociations ({MaxAssociations})");
        if (MaxConnectionsPerPeer < 1) throw new NetworkOptionsException(Key("MaxConnectionsPerPeer"), "must be at least 1");
        if (AssociationRequestTimeout <= TimeSpan.Zero) throw new NetworkOptionsException(Key("AssociationRequestTimeout"), "must be positive");
        if (MaxPduLength is < 4096 or > 16 * 1024 * 1024) throw new NetworkOptionsException(Key("MaxPduLength"), "must be between 4096 and 16777216");
        if (ArtimTimeout <= TimeSpan.Zero) throw new NetworkOptionsException(Key("ArtimTimeout"), "must be positive");
        if (IdleTimeout <= TimeSpan.Zero) throw new NetworkOptionsException(Key("IdleTimeout"), "must be positive");
        foreach (var a in AllowedPeerAddresses)
            if (!PeerAddressRule.TryParse(a, out _)) throw new NetworkOptionsException(Key("AllowedPeerAddresses"), $"'{a}' is not an IP address or CIDR range");
        foreach (var ts in TransferSyntaxPreference)
            if (!DicomTransferSyntax.All.Any(t => t.Uid == ts)) throw new NetworkOptionsException(Key("TransferSyntaxPreference"), $"'{ts}' is not a transfer syntax this node knows");
        if (UserIdentity != UserIdentityMode.Ignore && Users.Count == 0)
            throw new NetworkOptionsException(Key("Users"), $"UserIdentity is {UserIdentity} but no users are configured");
    }
}

/// <summary>An allowed peer: one address or a CIDR range.</summary>
public readonly record struct PeerAddressRule(IPAddress Network, int PrefixLength)
{
    public static bool TryParse(string text, out PeerAddressRule rule)
    {
        rule = default;
        var parts = text.Trim().Split('/');
        if (!IPAddress.TryParse(parts[0], out var ip)) return false;
        var max = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128;
        var prefix = max;
        if (parts.Length == 2 && (!int.TryParse(parts[1], out prefix) || prefix < 0 || prefix > max)) return false;
        if (parts.Length > 2) return false;
        rule = new PeerAddressRule(ip, prefix);
        return true;
    }

    public bool Matches(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        var net = Network.IsIPv4MappedToIPv6 ? Network.MapToIPv4() : Network;
        if (address.AddressFamily != net.AddressFamily) return false;
        var a = address.GetAddressBytes();
        var n = net.GetAddressBytes();
        var bits = PrefixLength;
        for (var i = 0; i < a.Length && bits > 0; i++, bits -= 8)
        {
            var mask = bits >= 8 ? 0xFF : (byte)(0xFF << (8 - bits));
            if ((a[i] & mask) != (n[i] & mask)) return false;
        }
        return true;
    }
}

/// <summary>The SOP classes this node's SCP accepts by default.</summary>
public static class AcceptedSopClasses
{
    public static readonly IReadOnlyList<string> Storage =
    [
        DicomUids.CTImageStorage, DicomUids.EnhancedCTImageStorage, DicomUids.LegacyConvertedEnhancedCTImageStorage,
        DicomUids.MRImageStorage, DicomUids.EnhancedMRImageStorage, DicomUids.LegacyConvertedEnhancedMRImageStorage,
        DicomUids.SecondaryCaptureImageStorage, DicomUids.MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
        DicomUids.MultiFrameGrayscaleWordSecondaryCaptureImageStorage, DicomUids.MultiFrameTrueColorSecondaryCaptureImageStorage,
        DicomUids.SegmentationStorage,
        DicomUids.BasicTextSRStorage, DicomUids.EnhancedSRStorage, DicomUids.ComprehensiveSRStorage, DicomUids.Comprehensive3DSRStorage,
    ];

    public static readonly IReadOnlyList<string> Default = [DicomUids.Verification, .. Storage];
}
