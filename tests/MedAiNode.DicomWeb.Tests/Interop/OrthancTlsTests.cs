using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MedAiNode.DicomWeb.Configuration;
using MedAiNode.DicomWeb.Qido;
using MedAiNode.DicomWeb.Tests.Support;

namespace MedAiNode.DicomWeb.Tests.Interop;

/// <summary>A private CA, a server certificate for localhost and a client certificate, made for the test run.</summary>
public sealed class TestPki
{
    public TestPki(string dir)
    {
        using var caKey = RSA.Create(2048);
        var caReq = new CertificateRequest("CN=MedAiNode Test Hospital CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caReq.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caReq.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caReq.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caReq.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        using var ca = caReq.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));
        CaPem = Path.Combine(dir, "ca.pem");
        File.WriteAllText(CaPem, ca.ExportCertificatePem());

        X509Certificate2 Issue(string cn, bool server, out RSA key)
        {
            key = RSA.Create(2048);
            var req = new CertificateRequest($"CN={cn}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
            req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
            req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
                [new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
            if (server)
            {
                var san = new SubjectAlternativeNameBuilder();
                san.AddDnsName("localhost");
                san.AddIpAddress(IPAddress.Loopback);
                req.CertificateExtensions.Add(san.Build());
            }
            var serial = RandomNumberGenerator.GetBytes(12);
            serial[0] &= 0x7F;
            return req.Create(ca, now.AddDays(-1), now.AddDays(29), serial);
        }

        using var server = Issue("localhost", true, out var serverKey);
        ServerPem = Path.Combine(dir, "server.pem"); // Orthanc wants certificate and key in one file
        File.WriteAllText(ServerPem, server.ExportCertificatePem() + "\n" + serverKey.ExportPkcs8PrivateKeyPem() + "\n");
        using var client = Issue("medainode-worker", false, out var clientKey);
        ClientCertPem = Path.Combine(dir, "client.crt");
        ClientKeyPem = Path.Combine(dir, "client.key");
        File.WriteAllText(ClientCertPem, client.ExportCertificatePem());
        File.WriteAllText(ClientKeyPem, clientKey.ExportPkcs8PrivateKeyPem());
        serverKey.Dispose();
        clientKey.Dispose();
    }

    public string CaPem { get; }
    public string ServerPem { get; }
    public string ClientCertPem { get; }
    public string ClientKeyPem { get; }
}

/// <summary>
/// Orthanc requiring Basic credentials, behind a TLS terminator (stunnel, OpenSSL) that demands a client certificate
/// from the private CA. Orthanc's own HTTPS is not used: Debian bookworm's Orthanc 1.10.1 crashes (SIGSEGV in its
/// civetweb/OpenSSL 3 build) on the first TLS connection.
/// </summary>
public sealed class TlsFixture : IDisposable
{
    private readonly System.Diagnostics.Process _stunnel;

    public TlsFixture()
    {
        var dir = TestData.TempDir("pki");
        Pki = new TestPki(dir);
        Orthanc = new OrthancServer(c =>
        {
            c["AuthenticationEnabled"] = true;
            c["RegisteredUsers"] = new System.Text.Json.Nodes.JsonObject { ["worker"] = "change-me" };
        }, basicAuth: "worker:change-me");
        var l = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        l.Start();
        TlsPort = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        var conf = Path.Combine(dir, "stunnel.conf");
        File.WriteAllText(conf, $"""
            foreground = yes
            pid =
            debug = 4
            socket = l:TCP_NODELAY=1
            socket = r:TCP_NODELAY=1
            [dicomweb]
            accept = 127.0.0.1:{TlsPort}
            connect = 127.0.0.1:{Orthanc.HttpPort}
            cert = {Pki.ServerPem}
            CAfile = {Pki.CaPem}
            verifyChain = yes
            requireCert = yes
            """);
        var psi = new System.Diagnostics.ProcessStartInfo("stunnel", conf) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        psi.Environment["TCP_NODELAY"] = "1";
        try
        {
            _stunnel = System.Diagnostics.Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("stunnel is not installed: apt-get install stunnel4.", e);
        }
        _stunnel.ErrorDataReceived += (_, _) => { };
        _stunnel.OutputDataReceived += (_, _) => { };
        _stunnel.BeginErrorReadLine();
        _stunnel.BeginOutputReadLine();
        for (var i = 0; ; i++)
        {
            try
            {
                using var probe = new System.Net.Sockets.TcpClient();
                probe.Connect(IPAddress.Loopback, TlsPort);
                break;
            }
            catch (System.Net.Sockets.SocketException) when (i < 100 && !_stunnel.HasExited)
            {
                Thread.Sleep(50);
            }
        }
    }

    public TestPki Pki { get; }
    public OrthancServer Orthanc { get; }
    public int TlsPort { get; }

    public DicomWebPacsOptions Options(string? password = "change-me", bool trustCa = true, bool clientCert = true)
    {
        var o = Synthetic.Pacs($"https://localhost:{TlsPort}/dicom-web");
        o.Auth = DicomWebAuthMode.Basic;
        o.Username = "worker";
        o.Password = password;
        o.CaBundlePath = trustCa ? Pki.CaPem : null;
        o.ClientCertificatePath = clientCert ? Pki.ClientCertPem : null;
        o.ClientCertificateKeyPath = clientCert ? Pki.ClientKeyPem : null;
        o.MaxRetries = 2;
        return o;
    }

    public void Dispose()
    {
        try { _stunnel.Kill(); _stunnel.WaitForExit(5000); } catch (InvalidOperationException) { }
        _stunnel.Dispose();
        Orthanc.Dispose();
    }
}

public sealed class OrthancTlsTests(TlsFixture fx) : IClassFixture<TlsFixture>
{
    [Fact]
    public async Task Https_with_the_hospital_CA_a_client_certificate_and_basic_auth_stores_and_finds()
    {
        using var c = new StandaloneDicomWebClient(fx.Options());
        var study = Dicom.DicomUidGenerator.Default.Generate();
        var f = Synthetic.Instance(study, Dicom.DicomUidGenerator.Default.Generate());
        var stored = await c.Client.StoreAsync([Stow.StowInstance.FromDicomFile(f)]);
        Assert.True(stored.AllStored, string.Join("; ", stored.Failures.Select(x => x.Message)));
        var found = await c.Client.SearchAsync(new QidoQuery().Match(Dicom.DicomTags.StudyInstanceUID, study)).ToListAsync();
        Assert.Single(found);
    }

    [Fact]
    public async Task A_server_certificate_outside_the_trusted_CAs_fails_at_once_without_retries()
    {
        var counter = new CountingHandler();
        using var c = new StandaloneDicomWebClient(fx.Options(trustCa: false), customize: b => b.AddHttpMessageHandler(() => counter));
        var e = await Assert.ThrowsAsync<DicomWebException>(() => c.Client.SearchAsync(new QidoQuery()).ToListAsync().AsTask());
        Assert.False(e.IsUnavailable);
        Assert.Single(counter.Attempts);
    }

    [Fact]
    public async Task Wrong_password_is_a_401_and_not_retried()
    {
        var counter = new CountingHandler();
        using var c = new StandaloneDicomWebClient(fx.Options(password: "wrong"), customize: b => b.AddHttpMessageHandler(() => counter));
        var e = await Assert.ThrowsAsync<DicomWebException>(() => c.Client.SearchAsync(new QidoQuery()).ToListAsync().AsTask());
        Assert.Equal(HttpStatusCode.Unauthorized, e.StatusCode);
        Assert.Contains("Auth settings", e.Message);
        Assert.Single(counter.Attempts);
    }

    [Fact]
    public async Task Without_the_client_certificate_the_PACS_refuses_the_connection()
    {
        using var c = new StandaloneDicomWebClient(fx.Options(clientCert: false));
        await Assert.ThrowsAsync<DicomWebException>(() => c.Client.SearchAsync(new QidoQuery()).ToListAsync().AsTask());
    }
}
