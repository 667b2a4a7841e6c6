using Microsoft.Extensions.Options;

namespace MedAiNode.Worker.Configuration;

/// <summary>Section "Dicom": identity of the objects this node creates.</summary>
public sealed class DicomOptions
{
    public const string Section = "Dicom";
    /// <summary>Root for the UIDs of SEG/SR we create; empty gives 2.25 UUID-derived UIDs.</summary>
    public string UidRoot { get; set; } = "";
}

/// <summary>Section "Http": where the dashboard, health, metrics and API listen.</summary>
public sealed class HttpOptions
{
    public const string Section = "Http";
    public string Urls { get; set; } = "http://127.0.0.1:8080";
    /// <summary>Required when Urls listens beyond loopback: the dashboard and API then ask every caller for it
    /// (Authorization: Bearer KEY, or Basic with KEY as the password). Set it by environment: MedAiNode__Http__ApiKey.</summary>
    public string ApiKey { get; set; } = "";
    /// <summary>Host names (besides localhost and loopback addresses) the node answers to: the name a TLS proxy or the
    /// users reach it by. Any other Host header is refused (DNS rebinding).</summary>
    public List<string> AllowedHosts { get; set; } = new();
    /// <summary>Addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto headers are believed; from
    /// anyone else they are ignored. A forwarded request is never treated as a local one.</summary>
    public List<string> TrustedProxies { get; set; } = new();

    private IReadOnlyList<string> _kestrelEndpointUrls = [];
    /// <summary>Kestrel:Endpoints:*:Url: Kestrel binds these instead of <see cref="Urls"/> when they are configured, so
    /// the loopback check must see them too.</summary>
    public IReadOnlyList<string> KestrelEndpointUrls => _kestrelEndpointUrls;
    internal void SetKestrelEndpointUrls(IEnumerable<string> urls) => _kestrelEndpointUrls = urls.ToList();
}

/// <summary>Checks options at start so a mistake is reported with the key that holds it, before anything listens.</summary>
internal sealed class NodeOptionsValidator : IValidateOptions<DicomOptions>, IValidateOptions<HttpOptions>
{
    public ValidateOptionsResult Validate(string? name, DicomOptions o)
    {
        if (string.IsNullOrWhiteSpace(o.UidRoot)) return ValidateOptionsResult.Success;
        try
        {
            _ = new DicomUidGenerator(o.UidRoot);
            return ValidateOptionsResult.Success;
        }
        catch (ArgumentException e)
        {
            return ValidateOptionsResult.Fail($"{DicomOptions.Section}:{nameof(DicomOptions.UidRoot)}: {e.Message} (value '{o.UidRoot}')");
        }
    }

    public ValidateOptionsResult Validate(string? name, HttpOptions o)
    {
        var failures = new List<string>();
        foreach (var url in o.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            if (!Uri.TryCreate(url, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https"))
                failures.Add($"{HttpOptions.Section}:{nameof(HttpOptions.Urls)}: '{url}' is not an http(s) URL");
        foreach (var url in o.KestrelEndpointUrls)
            if (!HttpAccess.TryParseListenUrl(url, out _))
                failures.Add($"Kestrel:Endpoints: '{url}' is not an http(s) URL");
        foreach (var p in o.TrustedProxies)
            if (!System.Net.IPAddress.TryParse(p, out _))
                failures.Add($"{HttpOptions.Section}:{nameof(HttpOptions.TrustedProxies)}: '{p}' is not an IP address");
        if (failures.Count == 0 && !HttpAccess.IsLoopbackOnly(o) && o.ApiKey.Length < 16)
            failures.Add($"{HttpOptions.Section}:{nameof(HttpOptions.ApiKey)} must be set (16 characters or more) when the node listens beyond loopback " +
                         $"({string.Join(", ", HttpAccess.ListenUrls(o))}, from {HttpOptions.Section}:{nameof(HttpOptions.Urls)}{(o.KestrelEndpointUrls.Count > 0 ? " and Kestrel:Endpoints" : "")}): the dashboard and API then require it");
        if (failures.Count == 0 && o.ApiKey.Length is > 0 and < 16)
            failures.Add($"{HttpOptions.Section}:{nameof(HttpOptions.ApiKey)} must be 16 characters or more");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
