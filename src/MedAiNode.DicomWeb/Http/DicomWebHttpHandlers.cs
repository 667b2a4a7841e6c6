using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using MedAiNode.DicomWeb.Configuration;

namespace MedAiNode.DicomWeb.Http;

/// <summary>Builds the socket-level handler for one PACS: TLS trust (system store or the PACS's CA bundle) and the client certificate.</summary>
public static class DicomWebHttpHandlers
{
    public static SocketsHttpHandler CreatePrimary(DicomWebPacsOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            // Short enough to drop connections a PACS has silently closed (Orthanc keeps them 1 s), long enough to reuse them while paging.
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(1),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectTimeout = options.AttemptTimeout < TimeSpan.FromSeconds(15) ? options.AttemptTimeout : TimeSpan.FromSeconds(15),
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            AllowAutoRedirect = false, // a redirect would resend credentials elsewhere and break multipart POSTs
        };
        if (!string.IsNullOrEmpty(options.CaBundlePath))
        {
            var roots = LoadCaBundle(options.CaBundlePath);
            handler.SslOptions.RemoteCertificateValidationCallback = (_, cert, _, errors) => ValidateAgainst(roots, cert, errors);
        }
        if (!string.IsNullOrEmpty(options.ClientCertificatePath))
        {
            var cert = LoadClientCertificate(options);
            handler.SslOptions.ClientCertificates = new X509CertificateCollection { cert };
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => cert;
        }
        return handler;
    }

    public static X509Certificate2Collection LoadCaBundle(string path)
    {
        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPemFile(path);
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"{nameof(DicomWebPacsOptions.CaBundlePath)} '{path}': cannot read PEM certificates: {e.Message}", e);
        }
        if (roots.Count == 0)
            throw new InvalidOperationException($"{nameof(DicomWebPacsOptions.CaBundlePath)} '{path}' holds no PEM certificate.");
        return roots;
    }

    /// <summary>Trusts only the bundle's CAs; the host name must still match.</summary>
    internal static bool ValidateAgainst(X509Certificate2Collection roots, X509Certificate? cert, SslPolicyErrors errors)
    {
        if (cert is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
            return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck; // hospital CAs rarely publish reachable CRLs
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.NoFlag;
        using var c2 = cert as X509Certificate2 is { } x ? new X509Certificate2(x) : X509CertificateLoader.LoadCertificate(cert.GetRawCertData());
        return chain.Build(c2);
    }

    public static X509Certificate2 LoadClientCertificate(DicomWebPacsOptions o)
    {
        var path = o.ClientCertificatePath!;
        try
        {
            var ext = Path.GetExtension(path).ToLowerInvariant();
            if (ext is ".pfx" or ".p12")
                return X509CertificateLoader.LoadPkcs12FromFile(path, o.ClientCertificatePassword);
            var keyPath = string.IsNullOrEmpty(o.ClientCertificateKeyPath) ? path : o.ClientCertificateKeyPath;
            var pem = string.IsNullOrEmpty(o.ClientCertificatePassword)
                ? X509Certificate2.CreateFromPemFile(path, keyPath)
                : X509Certificate2.CreateFromEncryptedPemFile(path, o.ClientCertificatePassword, keyPath);
            // An ephemeral PEM key cannot be used by SslStream on every platform; round-trip through PKCS#12.
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new InvalidOperationException($"{nameof(DicomWebPacsOptions.ClientCertificatePath)} '{path}': cannot load the client certificate and its key: {e.Message}", e);
        }
    }
}

/// <summary>Adds the PACS's credentials to each attempt (inside the retry loop, so a rotated token file is picked up on retry).</summary>
public sealed class DicomWebAuthHandler : DelegatingHandler
{
    private readonly DicomWebPacsOptions _options;
    private readonly AuthenticationHeaderValue? _fixed;
    private string? _tokenFromFile;
    private DateTime _tokenFileStamp;

    public DicomWebAuthHandler(DicomWebPacsOptions options)
    {
        _options = options;
        _fixed = options.Auth switch
        {
            DicomWebAuthMode.Basic => new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes($"{options.Username}:{options.Password}"))),
            DicomWebAuthMode.Bearer when !string.IsNullOrEmpty(options.BearerToken) => new AuthenticationHeaderValue("Bearer", options.BearerToken),
            _ => null,
        };
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var header = _fixed ?? (_options.Auth == DicomWebAuthMode.Bearer ? new AuthenticationHeaderValue("Bearer", ReadTokenFile()) : null);
        if (header is not null) request.Headers.Authorization = header;
        return base.SendAsync(request, cancellationToken);
    }

    private string ReadTokenFile()
    {
        var path = _options.BearerTokenFile!;
        var stamp = File.GetLastWriteTimeUtc(path);
        if (_tokenFromFile is null || stamp != _tokenFileStamp)
        {
            var token = File.ReadAllText(path).Trim();
            if (token.Length == 0) throw new InvalidOperationException($"{nameof(DicomWebPacsOptions.BearerTokenFile)} '{path}' is empty.");
            _tokenFromFile = token;
            _tokenFileStamp = stamp;
        }
        return _tokenFromFile;
    }
}
