using System.Net;
using System.Security.Cryptography;
using System.Text;
using Hangfire.Dashboard;
using MedAiNode.Worker.Configuration;
using Microsoft.AspNetCore.HttpOverrides;

namespace MedAiNode.Worker;

/// <summary>
/// Who may use the dashboard and the API. With Http:ApiKey set, every caller presents it (Bearer token for scripts,
/// HTTP Basic password for browsers), loopback callers included: behind a TLS proxy on the same machine every request
/// comes from loopback. Without a key (allowed only when every listening URL is loopback), only direct loopback
/// callers get in, never a request a proxy forwarded. Every request's Host must be a loopback name or one of
/// Http:AllowedHosts (DNS rebinding), and a state-changing request from another origin is refused (CSRF from a browser).
/// Health and metrics stay open to probes and scrapers; they carry no patient data.
/// </summary>
internal static partial class HttpAccess
{
    public static readonly string[] ProtectedPaths = ["/hangfire", "/api"];
    private static readonly string[] ForwardingHeaders = ["X-Forwarded-For", "Forwarded", "X-Real-IP", "X-Original-For", "X-Forwarded-Host"];

    /// <summary>Every URL the node will listen on: Http:Urls, or Kestrel:Endpoints when configured (Kestrel prefers those).</summary>
    public static IEnumerable<string> ListenUrls(HttpOptions o) =>
        o.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Concat(o.KestrelEndpointUrls);

    public static bool IsLoopbackOnly(HttpOptions o) => ListenUrls(o).All(u => TryParseListenUrl(u, out var uri) && IsLoopbackHost(uri.Host));

    /// <summary>Kestrel's URL forms: http://host:port, with host a name, an address, '*' or '+' (any address).</summary>
    public static bool TryParseListenUrl(string url, out Uri uri)
    {
        var normalised = url.Replace("://*", "://any-address.invalid").Replace("://+", "://any-address.invalid");
        if (Uri.TryCreate(normalised, UriKind.Absolute, out uri!) && uri.Scheme is "http" or "https") return true;
        uri = null!;
        return false;
    }

    public static IEnumerable<Uri> Urls(HttpOptions o) => ListenUrls(o).Select(u => TryParseListenUrl(u, out var uri) ? uri : null).OfType<Uri>();

    private static bool IsLoopbackHost(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);

    /// <summary>The Host header (without port) is a loopback name or address, or a configured name.</summary>
    public static bool HostAllowed(string? hostHeader, IReadOnlyCollection<string> allowed)
    {
        if (string.IsNullOrEmpty(hostHeader)) return false;
        var host = HostString.FromUriComponent(hostHeader).Host;
        return IsLoopbackHost(host) || allowed.Any(a => string.Equals(a.Trim(), host, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>A browser's cross-origin request: Origin names another scheme/host/port than the request's Host, or
    /// Sec-Fetch-Site says cross-site / same-site. Requests without either (scripts, curl) are not browsers' and pass.</summary>
    public static bool IsCrossOrigin(HttpRequest request)
    {
        var origin = request.Headers.Origin.ToString();
        if (origin.Length > 0)
        {
            if (origin == "null" || !Uri.TryCreate(origin, UriKind.Absolute, out var o)) return true;
            var host = request.Host;
            var port = host.Port ?? (request.IsHttps ? 443 : 80);
            return !string.Equals(o.Host, host.Host.Trim('[', ']'), StringComparison.OrdinalIgnoreCase) && !string.Equals(o.IdnHost, host.Host, StringComparison.OrdinalIgnoreCase)
                   || o.Port != port;
        }
        var site = request.Headers["Sec-Fetch-Site"].ToString();
        return site is "cross-site" or "same-site";
    }

    private static bool IsStateChanging(string method) => !(HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method));

    public static bool IsForwarded(HttpRequest request) => ForwardingHeaders.Any(h => request.Headers.ContainsKey(h));

    public static void Use(WebApplication app, HttpOptions options)
    {
        var keyRequired = options.ApiKey.Length > 0;
        var key = Encoding.UTF8.GetBytes(options.ApiKey);
        var allowedHosts = options.AllowedHosts.Where(h => h.Trim().Length > 0).ToList();
        var checkHost = !keyRequired || allowedHosts.Count > 0;
        if (!IsLoopbackOnly(options) && Urls(options).Any(u => u.Scheme == "http"))
            Log.PlainHttp(app.Logger);
        if (options.TrustedProxies.Count > 0)
        {
            // Only the configured proxies are believed; ASP.NET's defaults (any loopback proxy) are cleared.
            var fh = new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto, ForwardLimit = 1 };
            fh.KnownIPNetworks.Clear();
            fh.KnownProxies.Clear();
            foreach (var p in options.TrustedProxies) fh.KnownProxies.Add(IPAddress.Parse(p));
            app.UseForwardedHeaders(fh);
        }
        app.Use(async (ctx, next) =>
        {
            if (checkHost && !HostAllowed(ctx.Request.Headers.Host, allowedHosts))
            {
                Log.HostRefused(app.Logger, ctx.Request.Host.Host.Length > 100 ? ctx.Request.Host.Host[..100] : ctx.Request.Host.Host);
                ctx.Response.StatusCode = StatusCodes.Status421MisdirectedRequest;
                return;
            }
            await next(ctx);
        });
        app.UseWhen(ctx => ProtectedPaths.Any(p => ctx.Request.Path.StartsWithSegments(p)), branch => branch.Use(async (ctx, next) =>
        {
            if (IsStateChanging(ctx.Request.Method) && IsCrossOrigin(ctx.Request))
            {
                ctx.Response.StatusCode = StatusCodes.Status403Forbidden;
                return;
            }
            if (keyRequired)
            {
                if (!Presents(ctx.Request.Headers.Authorization.ToString(), key))
                {
                    ctx.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    ctx.Response.Headers.WWWAuthenticate = "Basic realm=\"MedAiNode\", charset=\"UTF-8\"";
                    return;
                }
            }
            else
            {
                // No key: only this machine's own direct callers. A proxy forwarding for someone else is not local.
                var remote = ctx.Connection.RemoteIpAddress;
                if (remote is null || !IPAddress.IsLoopback(remote) || IsForwarded(ctx.Request))
                {
                    ctx.Response.StatusCode = StatusCodes.Status403Forbidden;
                    return;
                }
            }
            await next(ctx);
        }));
    }

    /// <summary>Bearer KEY, or Basic with any user name and KEY as the password; compared in constant time.</summary>
    public static bool Presents(string authorization, byte[] key)
    {
        string? secret = null;
        if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) secret = authorization[7..].Trim();
        else if (authorization.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(authorization[6..].Trim()));
                var colon = decoded.IndexOf(':');
                if (colon >= 0) secret = decoded[(colon + 1)..];
            }
            catch (FormatException) { }
        }
        return secret is not null && key.Length > 0 && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(secret), key);
    }

    /// <summary>The dashboard's own check, after the middleware above has admitted the request.</summary>
    public sealed class AdmittedFilter : IDashboardAuthorizationFilter
    {
        public bool Authorize(DashboardContext context) => true;
    }

    private static partial class Log
    {
        [LoggerMessage(LogLevel.Warning, "The node listens beyond loopback over plain http: the API key travels in clear; use https or a TLS proxy")]
        public static partial void PlainHttp(ILogger log);
        [LoggerMessage(LogLevel.Warning, "Refused a request for host '{Host}': not a loopback name and not in Http:AllowedHosts")]
        public static partial void HostRefused(ILogger log, string host);
    }
}
