using System.Net;
using System.Security.Cryptography;
using System.Text;
using Hangfire.Dashboard;
using MedAiNode.Worker.Configuration;

namespace MedAiNode.Worker;

/// <summary>
/// Who may use the dashboard and the API. Bound to loopback only: local callers, no credentials (the embedded default).
/// Bound beyond loopback: every caller presents Http:ApiKey, as a Bearer token (scripts) or as the password of HTTP
/// Basic (browsers). Health and metrics stay open for probes and scrapers; they carry no patient data.
/// </summary>
internal static class HttpAccess
{
    public static readonly string[] ProtectedPaths = ["/hangfire", "/api"];

    public static bool IsLoopbackOnly(HttpOptions o) => Urls(o).All(u => IsLoopbackHost(u.Host));

    public static IEnumerable<Uri> Urls(HttpOptions o) =>
        o.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(u => Uri.TryCreate(u, UriKind.Absolute, out var uri) ? uri : null).OfType<Uri>();

    private static bool IsLoopbackHost(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);

    public static void Use(WebApplication app, HttpOptions options)
    {
        var loopbackOnly = IsLoopbackOnly(options);
        var key = Encoding.UTF8.GetBytes(options.ApiKey);
        if (!loopbackOnly && Urls(options).Any(u => u.Scheme == "http"))
            app.Logger.LogWarning("Http:Urls listens beyond loopback over plain http: the API key travels in clear; use https or a TLS proxy");
        app.UseWhen(ctx => ProtectedPaths.Any(p => ctx.Request.Path.StartsWithSegments(p)), branch => branch.Use(async (ctx, next) =>
        {
            if (loopbackOnly)
            {
                var remote = ctx.Connection.RemoteIpAddress;
                if (remote is not null && !IPAddress.IsLoopback(remote))
                {
                    ctx.Response.StatusCode = StatusCodes.Status403Forbidden;
                    return;
                }
            }
            else if (!Presents(ctx.Request.Headers.Authorization.ToString(), key))
            {
                ctx.Response.StatusCode = StatusCodes.Status401Unauthorized;
                ctx.Response.Headers.WWWAuthenticate = "Basic realm=\"MedAiNode\", charset=\"UTF-8\"";
                return;
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
}
