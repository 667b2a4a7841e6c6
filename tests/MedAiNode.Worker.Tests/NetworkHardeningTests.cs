using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using MedAiNode.Worker.Intake;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace MedAiNode.Worker.Tests;

/// <summary>Issue 16 on the HTTP side and the SCP's start-up: proxies, Host and Origin checks, Kestrel endpoints, TLS-only.</summary>
[Collection(InProcessNodes.Name)]
public class NetworkHardeningTests
{
    private const string Key = "s3cret-key-for-the-tests";

    private static Task<InProcessNode> Node(string name, params string[] args) =>
        InProcessNode.StartAsync(TestData.TempDir(name), new FakeTimeProvider(DateTimeOffset.UtcNow), new ThrowingAnalyzer(() => new InvalidOperationException("not used")), args);

    private static HttpRequestMessage Get(InProcessNode node, string path, params (string Name, string Value)[] headers)
    {
        var m = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{node.HttpPort}{path}");
        foreach (var (n, v) in headers) m.Headers.TryAddWithoutValidation(n, v);
        return m;
    }

    [Fact]
    public async Task Without_a_key_only_direct_loopback_callers_get_in_never_a_proxied_request()
    {
        await using var node = await Node("http-proxy-nokey");
        Assert.Equal(HttpStatusCode.OK, (await node.Http.SendAsync(Get(node, "/api/studies"))).StatusCode);
        // A TLS proxy on this machine connects from loopback: what it forwards is someone else's request.
        foreach (var header in new[] { ("X-Forwarded-For", "203.0.113.9"), ("Forwarded", "for=203.0.113.9;proto=https"), ("X-Real-IP", "203.0.113.9") })
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await node.Http.SendAsync(Get(node, "/api/studies", header))).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await node.Http.SendAsync(Get(node, "/hangfire", header))).StatusCode);
        }
        Assert.Equal(HttpStatusCode.OK, (await node.Http.SendAsync(Get(node, "/health/live", ("X-Forwarded-For", "203.0.113.9")))).StatusCode);
    }

    [Fact]
    public async Task With_a_key_configured_every_caller_needs_it_loopback_and_trusted_proxy_included()
    {
        await using var node = await Node("http-proxy-key", $"--Http:ApiKey={Key}", "--Http:TrustedProxies:0=127.0.0.1", "--Http:AllowedHosts:0=medainode.example.org");
        Assert.Equal(HttpStatusCode.Unauthorized, (await node.Http.SendAsync(Get(node, "/api/studies"))).StatusCode);
        var proxied = Get(node, "/api/studies", ("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", "https"));
        proxied.Headers.Host = "medainode.example.org";
        Assert.Equal(HttpStatusCode.Unauthorized, (await node.Http.SendAsync(proxied)).StatusCode);
        var withKey = Get(node, "/api/studies", ("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", "https"));
        withKey.Headers.Host = "medainode.example.org";
        withKey.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        Assert.Equal(HttpStatusCode.OK, (await node.Http.SendAsync(withKey)).StatusCode);
        var otherHost = Get(node, "/api/studies");
        otherHost.Headers.Host = "attacker.example";
        otherHost.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        Assert.Equal(HttpStatusCode.MisdirectedRequest, (await node.Http.SendAsync(otherHost)).StatusCode);
    }

    [Fact]
    public async Task Loopback_mode_refuses_foreign_host_names_and_cross_origin_posts()
    {
        await using var node = await Node("http-host");
        foreach (var host in new[] { "attacker.example", $"attacker.example:{node.HttpPort}", "127.0.0.1.nip.io" })
        {
            var m = Get(node, "/api/studies");
            m.Headers.Host = host;
            Assert.Equal(HttpStatusCode.MisdirectedRequest, (await node.Http.SendAsync(m)).StatusCode);
        }
        foreach (var host in new[] { $"localhost:{node.HttpPort}", $"127.0.0.1:{node.HttpPort}", $"[::1]:{node.HttpPort}" })
        {
            var m = Get(node, "/api/studies");
            m.Headers.Host = host;
            Assert.Equal(HttpStatusCode.OK, (await node.Http.SendAsync(m)).StatusCode);
        }
        HttpRequestMessage Rerun(params (string, string)[] headers)
        {
            var m = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{node.HttpPort}/api/studies/1.2.3/rerun");
            foreach (var (n, v) in headers) m.Headers.TryAddWithoutValidation(n, v);
            return m;
        }
        Assert.Equal(HttpStatusCode.Forbidden, (await node.Http.SendAsync(Rerun(("Origin", "http://attacker.example")))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await node.Http.SendAsync(Rerun(("Origin", $"http://localhost:{node.HttpPort + 1}")))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await node.Http.SendAsync(Rerun(("Origin", "null")))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await node.Http.SendAsync(Rerun(("Sec-Fetch-Site", "cross-site")))).StatusCode);
        // Same origin (the dashboard's own page) and non-browser callers reach the endpoint: 404, no such study.
        Assert.Equal(HttpStatusCode.NotFound, (await node.Http.SendAsync(Rerun(("Origin", $"http://127.0.0.1:{node.HttpPort}")))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await node.Http.SendAsync(Rerun())).StatusCode);
    }

    [Theory]
    [InlineData("http://0.0.0.0:{0}")]
    [InlineData("http://*:{0}")]
    [InlineData("http://[::]:{0}")]
    public void A_kestrel_endpoint_beyond_loopback_needs_the_key_too(string url)
    {
        var r = Tool.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "medainode.dll"), "serve", $"--Http:Urls=http://127.0.0.1:{TestData.FreePort()}",
            $"--Kestrel:Endpoints:Public:Url={string.Format(url, TestData.FreePort())}", $"--Store:Root={TestData.TempDir("kestrel-nokey")}", "--Dicom:Port=-1"]);
        Assert.Equal(3, r.ExitCode);
        Assert.Contains("Http:ApiKey must be set", r.StdErr);
        Assert.Contains("Kestrel:Endpoints", r.StdErr);
    }

    private static (string Cert, string Key) SelfSigned(string dir)
    {
        using var key = RSA.Create(2048);
        var req = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var certPath = Path.Combine(dir, "scp.crt");
        var keyPath = Path.Combine(dir, "scp.key");
        File.WriteAllText(certPath, cert.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certPath, keyPath);
    }

    [Fact]
    public async Task Tls_only_mode_listens_on_the_tls_port_and_readiness_says_so()
    {
        var dir = TestData.TempDir("tls-only");
        var (cert, key) = SelfSigned(dir);
        var tlsPort = TestData.FreePort();
        await using var node = await Node("tls-only-node", "--Dicom:Port=-1", $"--Dicom:TlsPort={tlsPort}", $"--Dicom:TlsCertificatePath={cert}",
            $"--Dicom:TlsKeyPath={key}", "--Dicom:BindAddress=127.0.0.1");
        var scp = node.App.Services.GetRequiredService<DicomIntakeService>();
        Assert.False(scp.Disabled);
        Assert.True(scp.IsListening);
        Assert.Equal(tlsPort, scp.TlsPort);
        Assert.Equal(0, scp.Port);
        using (var c = new System.Net.Sockets.TcpClient()) await c.ConnectAsync(IPAddress.Loopback, tlsPort);
        var ready = await node.Http.SendAsync(Get(node, "/health/ready"));
        var checks = JsonNode.Parse(await ready.Content.ReadAsStringAsync())!["checks"]!;
        Assert.Equal("Healthy", checks["scp"]!["status"]!.GetValue<string>());
        var description = checks["scp"]!["description"]!.GetValue<string>();
        Assert.Contains($"TLS only, port {tlsPort}", description);
        Assert.DoesNotContain("intake off", description);
    }

    [Fact]
    public void Port_minus_one_without_a_tls_port_is_intake_off_and_tls_only_without_a_certificate_names_the_key()
    {
        var r = Tool.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "medainode.dll"), "serve", $"--Http:Urls=http://127.0.0.1:{TestData.FreePort()}",
            $"--Store:Root={TestData.TempDir("tls-only-nocert")}", "--Dicom:Port=-1", $"--Dicom:TlsPort={TestData.FreePort()}"]);
        Assert.Equal(3, r.ExitCode);
        Assert.Contains("Dicom:TlsCertificatePath", r.StdErr);
    }
}
