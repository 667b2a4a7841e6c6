namespace MedAiNode.DicomWeb.Configuration;

public enum DicomWebAuthMode
{
    None,
    Basic,
    Bearer,
    ClientCertificate,
}

/// <summary>
/// One PACS reached over DICOMweb. Bound from configuration section <c>DicomWeb:Pacs:N</c>; every PACS gets its own
/// HttpClient, resilience pipeline and circuit breaker, so one PACS being down never trips calls to another.
/// </summary>
public sealed class DicomWebPacsOptions
{
    public const string SectionName = "DicomWeb:Pacs";

    /// <summary>A short name used in logs and to pick the PACS (letters, digits, '-', '_', '.').</summary>
    public string Name { get; set; } = "";
    /// <summary>The DICOMweb root, e.g. <c>https://pacs.example.org/dicom-web</c>; studies are at BaseUrl + "/studies".</summary>
    public string BaseUrl { get; set; } = "";

    public DicomWebAuthMode Auth { get; set; } = DicomWebAuthMode.None;
    public string? Username { get; set; }
    public string? Password { get; set; }
    /// <summary>A fixed bearer token; or use <see cref="BearerTokenFile"/> for a token another process rotates.</summary>
    public string? BearerToken { get; set; }
    /// <summary>A file holding the bearer token, re-read when it changes (e.g. written by a token refresher sidecar).</summary>
    public string? BearerTokenFile { get; set; }
    /// <summary>PKCS#12 (.pfx/.p12) or PEM certificate for mutual TLS; used with any Auth mode (Auth=ClientCertificate means it alone).</summary>
    public string? ClientCertificatePath { get; set; }
    /// <summary>PEM private key when <see cref="ClientCertificatePath"/> is a PEM certificate without its key.</summary>
    public string? ClientCertificateKeyPath { get; set; }
    public string? ClientCertificatePassword { get; set; }
    /// <summary>PEM bundle of CA certificates trusted for this PACS instead of the system store (hospital internal CAs).</summary>
    public string? CaBundlePath { get; set; }

    /// <summary>Longest one HTTP attempt may take until response headers arrive (for STOW: the whole upload of a batch).</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>Longest one operation may take with all its retries (per request, so per QIDO page or STOW batch).</summary>
    public TimeSpan TotalTimeout { get; set; } = TimeSpan.FromMinutes(5);
    /// <summary>Longest a response body (QIDO-RS, WADO-RS) may stay silent before it is abandoned; also the window over
    /// which <see cref="MinReadBytesPerSecond"/> is averaged.</summary>
    public TimeSpan ReadIdleTimeout { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>Slowest a response body may arrive, averaged over each <see cref="ReadIdleTimeout"/> window; a slower one
    /// (a trickle that is never quite silent) is abandoned like a silent one. 0 turns the floor off.</summary>
    public long MinReadBytesPerSecond { get; set; } = 1024;
    /// <summary>Longest the body of one QIDO-RS page or WADO-RS metadata response may take to arrive, from its headers to its end.</summary>
    public TimeSpan JsonResponseTimeout { get; set; } = TimeSpan.FromMinutes(2);
    /// <summary>Largest QIDO-RS page or WADO-RS metadata response read (bytes); it is parsed as it streams, never held
    /// whole beyond this, and a larger one fails with an error naming this key.</summary>
    public long MaxJsonResponseBytes { get; set; } = 64L * 1024 * 1024;
    /// <summary>Longest the body of one WADO-RS retrieve (a study, or one instance when resuming) may take to arrive.</summary>
    public TimeSpan WadoResponseTimeout { get; set; } = TimeSpan.FromHours(1);
    public int MaxRetries { get; set; } = 5;
    /// <summary>First retry delay; later ones grow exponentially with jitter.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(500);
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>A server's Retry-After longer than this is cut to it, so a misconfigured PACS cannot park the worker for hours.</summary>
    public TimeSpan MaxRetryAfter { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Share of failed attempts within <see cref="CircuitBreakerSamplingDuration"/> that opens the breaker.</summary>
    public double CircuitBreakerFailureRatio { get; set; } = 0.5;
    public int CircuitBreakerMinimumThroughput { get; set; } = 10;
    public TimeSpan CircuitBreakerSamplingDuration { get; set; } = TimeSpan.FromSeconds(30);
    public TimeSpan CircuitBreakerBreakDuration { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Most instances in one STOW-RS request.</summary>
    public int StowMaxInstances { get; set; } = 50;
    /// <summary>Most bytes (sum of file sizes) in one STOW-RS request; one larger instance goes alone.</summary>
    public long StowMaxBytes { get; set; } = 256L * 1024 * 1024;
    /// <summary>Results asked for per QIDO-RS request while paging.</summary>
    public int QidoPageSize { get; set; } = 100;
    /// <summary>Transfer syntax asked for in WADO-RS; "*" takes what the PACS stores. Default Explicit VR Little Endian,
    /// which the data layer reads without a codec.</summary>
    public string WadoTransferSyntax { get; set; } = DicomUids.ExplicitVRLittleEndian;
}
