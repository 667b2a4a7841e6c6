using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MedAiNode.Dicom.Network.Client;
using MedAiNode.Dicom.Network.Dimse;

namespace MedAiNode.Dicom.Network.Tests;

/// <summary>A throwaway CA with server and client certificates, written as PEM files DCMTK reads.</summary>
public sealed class TestPki
{
    public TestPki(string name)
    {
        Dir = TestData.TempDir(name);
        using var caKey = RSA.Create(2048);
        var caReq = new CertificateRequest("CN=MedAiNode Test CA " + name, caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caReq.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caReq.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        Ca = caReq.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(2));
        CaPath = Write("ca.crt", Ca.ExportCertificatePem());
        (ServerCert, ServerCertPath, ServerKeyPath) = Issue("server", serverAuth: true);
        (ClientCert, ClientCertPath, ClientKeyPath) = Issue("client", serverAuth: false);
    }

    public string Dir { get; }
    public X509Certificate2 Ca { get; }
    public string CaPath { get; }
    public X509Certificate2 ServerCert { get; }
    public string ServerCertPath { get; }
    public string ServerKeyPath { get; }
    public X509Certificate2 ClientCert { get; }
    public string ClientCertPath { get; }
    public string ClientKeyPath { get; }

    private (X509Certificate2, string, string) Issue(string cn, bool serverAuth)
    {
        var key = RSA.Create(2048);
        var req = new CertificateRequest("CN=" + cn, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(serverAuth ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        if (serverAuth)
        {
            var san = new SubjectAlternativeNameBuilder();
            san.AddIpAddress(IPAddress.Loopback);
            san.AddDnsName("localhost");
            req.CertificateExtensions.Add(san.Build());
        }
        var serial = RandomNumberGenerator.GetBytes(12);
        using var issued = req.Create(Ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1), serial);
        var withKey = issued.CopyWithPrivateKey(key);
        var certPath = Write(cn + ".crt", withKey.ExportCertificatePem());
        var keyPath = Write(cn + ".key", key.ExportPkcs8PrivateKeyPem());
        return (withKey, certPath, keyPath);
    }

    private string Write(string file, string text)
    {
        var p = Path.Combine(Dir, file);
        File.WriteAllText(p, text);
        return p;
    }
}

public class TlsTests
{
    private static string PhantomFile => Directory.GetFiles(TestData.Path_("ct", "philips-phantom-5mm"), "*.dcm").Order().First();

    private static Action<Services.DicomServerOptions> Tls(TestPki pki, bool requireClient) => o =>
    {
        o.TlsPort = PeerProcess.FreePort();
        o.TlsCertificatePath = pki.ServerCertPath;
        o.TlsKeyPath = pki.ServerKeyPath;
        if (requireClient)
        {
            o.TlsRequireClientCertificate = true;
            o.TlsClientCaPath = pki.CaPath;
        }
    };

    [Fact]
    public async Task StorescuTls_StoresOverTlsPort_PlainPortStillWorks()
    {
        var pki = new TestPki("tls");
        await using var scp = new TestScp(Tls(pki, requireClient: true));
        var r = Tool.Run("storescu", ["+tls", pki.ClientKeyPath, pki.ClientCertPath, "+cf", pki.CaPath, "-aec", "MEDAI", "127.0.0.1", scp.Server.TlsPort.ToString(), PhantomFile]);
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        Assert.Single(scp.StoredFiles());
        var e = Tool.Run("echoscu", ["-aec", "MEDAI", "127.0.0.1", scp.PortText]);
        Assert.True(e.ExitCode == 0, e.StdErr);
    }

    /// <summary>What the conformance statement says is offered on TLS 1.2: ECDHE with AES-GCM; no DHE, no CBC.</summary>
    [Theory]
    [InlineData("ECDHE-RSA-AES128-GCM-SHA256", true)]
    [InlineData("ECDHE-RSA-AES256-GCM-SHA384", true)]
    [InlineData("DHE-RSA-AES128-GCM-SHA256", false)]
    [InlineData("DHE-RSA-AES256-GCM-SHA384", false)]
    [InlineData("ECDHE-RSA-AES128-SHA256", false)]
    public async Task Tls12_offers_only_ecdhe_aes_gcm(string cipher, bool offered)
    {
        var pki = new TestPki("tls-ciphers");
        await using var scp = new TestScp(Tls(pki, requireClient: false));
        var r = Tool.Run("openssl", ["s_client", "-connect", $"127.0.0.1:{scp.Server.TlsPort}", "-tls1_2", "-cipher", cipher, "-CAfile", pki.CaPath], stdin: "");
        var output = r.StdOut + r.StdErr;
        if (offered) Assert.Contains("Cipher is " + cipher, output);
        else Assert.DoesNotContain("Cipher is " + cipher, output);
    }

    [Fact]
    public async Task StorescuTls_ClientCertFromAnotherCa_IsRefused()
    {
        var pki = new TestPki("tls-ok");
        var other = new TestPki("tls-other");
        await using var scp = new TestScp(Tls(pki, requireClient: true));
        var r = Tool.Run("storescu", ["+tls", other.ClientKeyPath, other.ClientCertPath, "+cf", pki.CaPath, "-aec", "MEDAI", "127.0.0.1", scp.Server.TlsPort.ToString(), PhantomFile]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Empty(scp.StoredFiles());
    }

    [Fact]
    public async Task StorescuPlainTcp_OnTlsPort_Fails_ServerKeepsRunning()
    {
        var pki = new TestPki("tls-plain");
        await using var scp = new TestScp(Tls(pki, requireClient: false));
        var r = Tool.Run("echoscu", ["-to", "5", "-aec", "MEDAI", "127.0.0.1", scp.Server.TlsPort.ToString()]);
        Assert.NotEqual(0, r.ExitCode);
        var ok = Tool.Run("echoscu", ["+tls", pki.ClientKeyPath, pki.ClientCertPath, "+cf", pki.CaPath, "-aec", "MEDAI", "127.0.0.1", scp.Server.TlsPort.ToString()]);
        Assert.True(ok.ExitCode == 0, ok.StdErr);
    }

    [Fact]
    public async Task OurScuTls_ToOurScp_WithClientCertificate_Tls13()
    {
        var pki = new TestPki("tls-own");
        await using var scp = new TestScp(Tls(pki, requireClient: true));
        var opts = new DicomClientOptions
        {
            Port = scp.Server.TlsPort, CalledAE = "MEDAI", UseTls = true,
            TlsTrustedCa = [pki.Ca], TlsClientCertificate = pki.ClientCert,
        };
        await using var a = await DicomClient.ConnectAsync(opts, [DicomClient.Context(1, DicomUids.Verification)]);
        Assert.Equal(DimseStatus.Success, await a.EchoAsync());
        var ssl = Assert.IsType<System.Net.Security.SslStream>(a.Association.Connection.Stream);
        Assert.Equal(System.Security.Authentication.SslProtocols.Tls13, ssl.SslProtocol);

        // A server certificate from an untrusted CA is refused by our SCU.
        var other = new TestPki("tls-own-other");
        opts.TlsTrustedCa = [other.Ca];
        await Assert.ThrowsAsync<System.Security.Authentication.AuthenticationException>(() => DicomClient.ConnectAsync(opts, [DicomClient.Context(1, DicomUids.Verification)]));
    }
}
