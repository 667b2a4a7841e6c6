using Microsoft.Extensions.Options;

namespace MedAiNode.DicomWeb.Configuration;

/// <summary>Checks a PACS's options; each message names the configuration key to fix.</summary>
public sealed class DicomWebPacsOptionsValidator : IValidateOptions<DicomWebPacsOptions>
{
    public ValidateOptionsResult Validate(string? name, DicomWebPacsOptions options)
    {
        var errors = Validate(options, $"{DicomWebPacsOptions.SectionName}:{(string.IsNullOrEmpty(options.Name) ? name ?? "?" : options.Name)}");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>All problems with <paramref name="o"/>; <paramref name="prefix"/> is the configuration path of the section.</summary>
    public static List<string> Validate(DicomWebPacsOptions o, string prefix)
    {
        var errors = new List<string>();
        void Err(string key, string message) => errors.Add($"{prefix}:{key}: {message}");

        if (string.IsNullOrWhiteSpace(o.Name)) Err(nameof(o.Name), "is required (a short name for this PACS).");
        else if (!o.Name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            Err(nameof(o.Name), $"'{o.Name}' may hold only letters, digits, '-', '_' and '.'.");

        if (string.IsNullOrWhiteSpace(o.BaseUrl)) Err(nameof(o.BaseUrl), "is required, e.g. https://pacs.example.org/dicom-web.");
        else if (!Uri.TryCreate(o.BaseUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            Err(nameof(o.BaseUrl), $"'{o.BaseUrl}' is not an absolute http or https URL.");
        else
        {
            if (!string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment))
                Err(nameof(o.BaseUrl), "must not carry a query or fragment.");
            if (!string.IsNullOrEmpty(uri.UserInfo))
                Err(nameof(o.BaseUrl), $"must not carry credentials; use {nameof(o.Auth)}=Basic with {nameof(o.Username)} and {nameof(o.Password)}.");
            if (!string.IsNullOrEmpty(o.ClientCertificatePath) && uri.Scheme != "https")
                Err(nameof(o.BaseUrl), "must be https when a client certificate is configured.");
            if (o.Auth is DicomWebAuthMode.Basic or DicomWebAuthMode.Bearer && uri.Scheme != "https" && !uri.IsLoopback)
                Err(nameof(o.BaseUrl), $"must be https when Auth is {o.Auth}: credentials would cross the network in clear text.");
        }

        switch (o.Auth)
        {
            case DicomWebAuthMode.Basic:
                if (string.IsNullOrEmpty(o.Username)) Err(nameof(o.Username), "is required when Auth is Basic.");
                else if (o.Username.Contains(':')) Err(nameof(o.Username), "must not contain ':' (Basic authentication joins user and password with it).");
                if (o.Password is null) Err(nameof(o.Password), "is required when Auth is Basic.");
                break;
            case DicomWebAuthMode.Bearer:
                if (string.IsNullOrEmpty(o.BearerToken) == string.IsNullOrEmpty(o.BearerTokenFile))
                    Err(nameof(o.BearerToken), $"give exactly one of {nameof(o.BearerToken)} or {nameof(o.BearerTokenFile)} when Auth is Bearer.");
                else if (!string.IsNullOrEmpty(o.BearerTokenFile) && !File.Exists(o.BearerTokenFile))
                    Err(nameof(o.BearerTokenFile), $"file '{o.BearerTokenFile}' does not exist.");
                break;
            case DicomWebAuthMode.ClientCertificate:
                if (string.IsNullOrEmpty(o.ClientCertificatePath)) Err(nameof(o.ClientCertificatePath), "is required when Auth is ClientCertificate.");
                break;
        }
        // A client certificate may also be combined with Basic or Bearer (mutual TLS in front of an authenticating PACS).
        if (!string.IsNullOrEmpty(o.ClientCertificatePath))
        {
            if (!File.Exists(o.ClientCertificatePath)) Err(nameof(o.ClientCertificatePath), $"file '{o.ClientCertificatePath}' does not exist.");
            if (!string.IsNullOrEmpty(o.ClientCertificateKeyPath) && !File.Exists(o.ClientCertificateKeyPath))
                Err(nameof(o.ClientCertificateKeyPath), $"file '{o.ClientCertificateKeyPath}' does not exist.");
        }
        if (!string.IsNullOrEmpty(o.CaBundlePath) && !File.Exists(o.CaBundlePath))
            Err(nameof(o.CaBundlePath), $"file '{o.CaBundlePath}' does not exist.");

        void Positive(string key, TimeSpan value)
        {
            if (value <= TimeSpan.Zero) Err(key, $"must be positive (got {value}).");
        }
        Positive(nameof(o.AttemptTimeout), o.AttemptTimeout);
        Positive(nameof(o.TotalTimeout), o.TotalTimeout);
        Positive(nameof(o.ReadIdleTimeout), o.ReadIdleTimeout);
        Positive(nameof(o.JsonResponseTimeout), o.JsonResponseTimeout);
        Positive(nameof(o.WadoResponseTimeout), o.WadoResponseTimeout);
        if (o.MinReadBytesPerSecond < 0) Err(nameof(o.MinReadBytesPerSecond), $"must be 0 (off) or more (got {o.MinReadBytesPerSecond}).");
        if (o.MaxJsonResponseBytes < 1024) Err(nameof(o.MaxJsonResponseBytes), $"must be at least 1024 (got {o.MaxJsonResponseBytes}).");
        Positive(nameof(o.RetryBaseDelay), o.RetryBaseDelay);
        Positive(nameof(o.MaxRetryDelay), o.MaxRetryDelay);
        Positive(nameof(o.MaxRetryAfter), o.MaxRetryAfter);
        Positive(nameof(o.CircuitBreakerBreakDuration), o.CircuitBreakerBreakDuration);
        if (o.AttemptTimeout > TimeSpan.Zero && o.TotalTimeout > TimeSpan.Zero && o.TotalTimeout < o.AttemptTimeout)
            Err(nameof(o.TotalTimeout), $"({o.TotalTimeout}) must be at least {nameof(o.AttemptTimeout)} ({o.AttemptTimeout}).");
        if (o.MaxRetries is < 0 or > 100) Err(nameof(o.MaxRetries), $"must be 0 to 100 (got {o.MaxRetries}).");
        if (o.CircuitBreakerFailureRatio is <= 0 or > 1) Err(nameof(o.CircuitBreakerFailureRatio), $"must be above 0 and at most 1 (got {o.CircuitBreakerFailureRatio}).");
        if (o.CircuitBreakerMinimumThroughput < 2) Err(nameof(o.CircuitBreakerMinimumThroughput), $"must be at least 2 (got {o.CircuitBreakerMinimumThroughput}).");
        // Polly's own lower bound: the sampling window must be at least half a second.
        if (o.CircuitBreakerSamplingDuration < TimeSpan.FromMilliseconds(500))
            Err(nameof(o.CircuitBreakerSamplingDuration), $"must be at least 0.5 s (got {o.CircuitBreakerSamplingDuration}).");
        if (o.CircuitBreakerBreakDuration > TimeSpan.Zero && o.CircuitBreakerBreakDuration < TimeSpan.FromMilliseconds(500))
            Err(nameof(o.CircuitBreakerBreakDuration), $"must be at least 0.5 s (got {o.CircuitBreakerBreakDuration}).");
        if (o.StowMaxInstances < 1) Err(nameof(o.StowMaxInstances), $"must be at least 1 (got {o.StowMaxInstances}).");
        if (o.StowMaxBytes < 1) Err(nameof(o.StowMaxBytes), $"must be at least 1 (got {o.StowMaxBytes}).");
        if (o.QidoPageSize is < 1 or > 100_000) Err(nameof(o.QidoPageSize), $"must be 1 to 100000 (got {o.QidoPageSize}).");
        if (o.WadoTransferSyntax != "*" && !UidSyntax.IsValid(o.WadoTransferSyntax))
            Err(nameof(o.WadoTransferSyntax), $"'{o.WadoTransferSyntax}' is not a transfer syntax UID (or \"*\").");
        else if (o.WadoTransferSyntax != "*")
        {
            try
            {
                var ts = DicomTransferSyntax.Get(o.WadoTransferSyntax);
                if (ts.IsDeflated) Err(nameof(o.WadoTransferSyntax), "Deflated transfer syntax is not useful over HTTP; ask for Explicit VR Little Endian.");
            }
            catch (Exception e) when (e is DicomFormatException or ArgumentException or KeyNotFoundException)
            {
                Err(nameof(o.WadoTransferSyntax), $"'{o.WadoTransferSyntax}' is not a transfer syntax UID (or \"*\").");
            }
        }
        return errors;
    }
}
