using System.Security.Cryptography.X509Certificates;
using MedAiNode.Dicom.Network.Client;
using MedAiNode.Dicom.Network.Services;

namespace MedAiNode.Worker.Commands;

/// <summary>The connection options shared by `echo` and `store`.</summary>
internal sealed class NetworkCommandOptions
{
    public readonly Option<string> Host = new("--host") { Description = "The SCP's host name or address.", DefaultValueFactory = _ => "127.0.0.1" };
    public readonly Option<int> Port = new("--port", "-p") { Description = "The SCP's port.", DefaultValueFactory = _ => 104 };
    public readonly Option<string> Called = new("--called", "-aec") { Description = "The SCP's AE title.", DefaultValueFactory = _ => "ANY-SCP" };
    public readonly Option<string> Calling = new("--calling", "-aet") { Description = "This node's AE title.", DefaultValueFactory = _ => "MEDAINODE" };
    public readonly Option<bool> Tls = new("--tls") { Description = "Use DICOM TLS (TLS 1.2/1.3, BCP 195 cipher suites)." };
    public readonly Option<FileInfo?> TlsCa = new("--tls-ca") { Description = "PEM file of the CA that issued the SCP's certificate (default: system trust store)." };
    public readonly Option<FileInfo?> TlsCert = new("--tls-cert") { Description = "PEM client certificate, for SCPs that check clients." };
    public readonly Option<FileInfo?> TlsKey = new("--tls-key") { Description = "PEM private key of --tls-cert." };
    public readonly Option<int> Timeout = new("--timeout") { Description = "Seconds to wait for connection and each response.", DefaultValueFactory = _ => 30 };

    public void AddTo(Command c) { foreach (var o in new Option[] { Host, Port, Called, Calling, Tls, TlsCa, TlsCert, TlsKey, Timeout }) c.Options.Add(o); }

    public DicomClientOptions Build(ParseResult p)
    {
        var t = TimeSpan.FromSeconds(Math.Max(1, p.GetValue(Timeout)));
        var o = new DicomClientOptions
        {
            Host = p.GetValue(Host)!, Port = p.GetValue(Port), CalledAE = p.GetValue(Called)!, CallingAE = p.GetValue(Calling)!,
            ConnectTimeout = t, ArtimTimeout = t, DimseTimeout = t, UseTls = p.GetValue(Tls),
        };
        if (p.GetValue(TlsCa) is { } ca) o.TlsTrustedCa = TlsSupport.LoadCertificates(ca.FullName);
        if (p.GetValue(TlsCert) is { } cert)
            o.TlsClientCertificate = X509Certificate2.CreateFromPemFile(cert.FullName, p.GetValue(TlsKey)?.FullName);
        o.Validate();
        return o;
    }

    /// <summary>Connection failures as one line an operator can act on; null for anything unexpected.</summary>
    public static string? Explain(Exception e) => e switch
    {
        AssociationRejectedException r => r.Message,
        AssociationAbortedException a => a.Message,
        NetworkOptionsException o => "--" + o.Message,
        TimeoutException t => t.Message,
        System.Net.Sockets.SocketException s => $"cannot connect: {s.Message}",
        System.Security.Authentication.AuthenticationException a => $"TLS handshake failed: {a.Message}",
        IOException io => io.Message,
        ArgumentException a => a.Message,
        _ => null,
    };
}
