using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace MedAiNode.Dicom.Network.Services;

/// <summary>DICOM TLS (PS3.15 B.9, the BCP 195 profile): TLS 1.2/1.3 with AEAD ECDHE suites only.</summary>
public static class TlsSupport
{
    public const SslProtocols Protocols = SslProtocols.Tls12 | SslProtocols.Tls13;

    /// <summary>BCP 195 (RFC 9325) recommended suites; TLS 1.3 suites are all AEAD. The DHE suites BCP 195 also allows
    /// are left out: .NET gives OpenSSL no DH parameters, so they could never be negotiated (a test checks this).</summary>
    public static readonly TlsCipherSuite[] Bcp195CipherSuites =
    [
        TlsCipherSuite.TLS_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ];

    /// <summary>Cipher suite policies exist on Linux/macOS OpenSSL only; elsewhere the OS defaults apply.</summary>
    public static CipherSuitesPolicy? Policy => OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() ? new CipherSuitesPolicy(Bcp195CipherSuites) : null;

    public static X509Certificate2 LoadCertificate(string certPath, string? keyPath)
    {
        var ext = Path.GetExtension(certPath).ToLowerInvariant();
        if (ext is ".pfx" or ".p12") return X509CertificateLoader.LoadPkcs12FromFile(certPath, null);
        var cert = X509Certificate2.CreateFromPemFile(certPath, string.IsNullOrEmpty(keyPath) ? null : keyPath);
        if (!cert.HasPrivateKey) throw new NetworkOptionsException(nameof(DicomServerOptions.TlsKeyPath), $"the certificate '{certPath}' has no private key");
        return cert;
    }

    public static X509Certificate2Collection LoadCertificates(string pemPath)
    {
        var c = new X509Certificate2Collection();
        c.ImportFromPemFile(pemPath);
        return c;
    }

    public static SslServerAuthenticationOptions ServerOptions(X509Certificate2 cert, bool requireClientCert, X509Certificate2Collection? clientCa) => new()
    {
        ServerCertificate = cert,
        EnabledSslProtocols = Protocols,
        CipherSuitesPolicy = Policy,
        ClientCertificateRequired = requireClientCert || clientCa is not null,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, c, _, errors) =>
        {
            if (c is null) return !requireClientCert;
            if (clientCa is null) return !requireClientCert || errors == SslPolicyErrors.None;
            return ChainsTo(c, clientCa);
        },
    };

    public static SslClientAuthenticationOptions ClientOptions(string host, X509Certificate2? clientCert, X509Certificate2Collection? trustedCa, bool checkHostName = true) => new()
    {
        TargetHost = host,
        EnabledSslProtocols = Protocols,
        CipherSuitesPolicy = Policy,
        ClientCertificates = clientCert is null ? null : new X509CertificateCollection { clientCert },
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, c, _, errors) =>
        {
            if (c is null) return false;
            if (trustedCa is null) return errors == SslPolicyErrors.None;
            if (checkHostName && (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0) return false;
            return ChainsTo(c, trustedCa);
        },
    };

    /// <summary>The peer's certificate chains to one of the configured CAs (and nothing else is trusted).</summary>
    public static bool ChainsTo(X509Certificate cert, X509Certificate2Collection ca)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var c2 = new X509Certificate2(cert);
        return chain.Build(c2);
    }
}
