using System.Net.Http.Headers;
using MedAiNode.DicomWeb.Resilience;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;

namespace MedAiNode.Export;

/// <summary>Section "Triage:Webhooks:&lt;name&gt;": an HTTP(S) endpoint that receives triage alerts as JSON (POST).</summary>
public sealed class WebhookOptions
{
    /// <summary>Absolute http or https URL the alert is POSTed to.</summary>
    public string Url { get; set; } = "";
    /// <summary>Extra request headers (e.g. Authorization: Bearer TOKEN; set secrets by environment variable).</summary>
    public Dictionary<string, string> Headers { get; set; } = new();
    /// <summary>Retries within one delivery attempt (Polly, jittered exponential backoff) before the delivery job
    /// itself is retried later (Jobs:DeliveryRetries).</summary>
    public int MaxRetries { get; set; } = 3;
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>One request's limit (connect, send, answer).</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>The limit of one delivery attempt, retries included.</summary>
    public TimeSpan TotalTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Problems, each naming its key (<paramref name="key"/> is e.g. "Triage:Webhooks:stroke").</summary>
    public IEnumerable<string> Validate(string key)
    {
        if (!Uri.TryCreate(Url, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https") || string.IsNullOrEmpty(u.Host))
            yield return $"{key}:{nameof(Url)}: '{Url}' is not an absolute http or https URL";
        else if (!string.IsNullOrEmpty(u.UserInfo))
            yield return $"{key}:{nameof(Url)}: credentials in the URL are not allowed (they would be logged); use {key}:{nameof(Headers)}:Authorization";
        if (MaxRetries is < 0 or > 20) yield return $"{key}:{nameof(MaxRetries)} must be 0..20 (was {MaxRetries})";
        if (RetryBaseDelay <= TimeSpan.Zero) yield return $"{key}:{nameof(RetryBaseDelay)} must be positive";
        if (MaxRetryDelay < RetryBaseDelay) yield return $"{key}:{nameof(MaxRetryDelay)} must be at least {key}:{nameof(RetryBaseDelay)}";
        if (AttemptTimeout <= TimeSpan.Zero || AttemptTimeout > TimeSpan.FromHours(1)) yield return $"{key}:{nameof(AttemptTimeout)} must be more than 0 and at most 1 h";
        if (TotalTimeout < AttemptTimeout || TotalTimeout > TimeSpan.FromHours(24)) yield return $"{key}:{nameof(TotalTimeout)} must be at least {key}:{nameof(AttemptTimeout)} and at most 24 h";
        foreach (var (name, value) in Headers)
        {
            if (name.Length == 0 || name.Any(c => c <= ' ' || c >= 127 || c == ':'))
                yield return $"{key}:{nameof(Headers)}: '{name}' is not a valid header name";
            else if (value.Any(c => c is '\r' or '\n'))
                yield return $"{key}:{nameof(Headers)}:{name}: a header value cannot hold a line break";
            else if (string.Equals(name, WebhookDestination.IdempotencyHeader, StringComparison.OrdinalIgnoreCase) || string.Equals(name, "Content-Type", StringComparison.OrdinalIgnoreCase))
                yield return $"{key}:{nameof(Headers)}:{name}: set by the node, not configurable";
        }
    }
}

/// <summary>
/// Webhook resilience: total timeout, retry (jittered exponential backoff; Retry-After honoured up to MaxRetryDelay),
/// attempt timeout. Retried: connection failures, attempt timeouts, 408, 429 and 5xx but 501/505 (the same rule as
/// for a PACS, <see cref="DicomWebResilience.ShouldRetry"/>); any other answer is final for this attempt.
/// </summary>
public static class WebhookResilience
{
    public static void Configure(ResiliencePipelineBuilder<HttpResponseMessage> builder, string name, WebhookOptions options, ILogger? logger = null, TimeProvider? time = null)
    {
        var clock = time ?? TimeProvider.System;
        builder.AddTimeout(new HttpTimeoutStrategyOptions { Name = "total", Timeout = options.TotalTimeout });
        if (options.MaxRetries > 0)
            builder.AddRetry(new HttpRetryStrategyOptions
            {
                Name = "retry",
                MaxRetryAttempts = options.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryBaseDelay,
                MaxDelay = options.MaxRetryDelay,
                ShouldRetryAfterHeader = false, // read below, with a cap
                ShouldHandle = args => ValueTask.FromResult(DicomWebResilience.ShouldRetry(args.Outcome)),
                DelayGenerator = args => ValueTask.FromResult(args.Outcome.Result is { } r && DicomWebResilience.GetRetryAfter(r, clock.GetUtcNow()) is { } ra
                    ? (TimeSpan?)(ra > options.MaxRetryDelay ? options.MaxRetryDelay : ra) : null),
                OnRetry = args =>
                {
                    logger?.LogWarning("Webhook {Webhook}: attempt {Attempt} failed ({Reason}); retrying in {Delay} ms",
                        name, args.AttemptNumber + 1, Describe(args.Outcome), (long)args.RetryDelay.TotalMilliseconds);
                    return ValueTask.CompletedTask;
                },
            });
        builder.AddTimeout(new HttpTimeoutStrategyOptions { Name = "attempt", Timeout = options.AttemptTimeout });
    }

    private static string Describe(Outcome<HttpResponseMessage> o) =>
        o.Exception is { } e ? e.GetType().Name + ": " + e.Message : $"HTTP {(int)o.Result!.StatusCode} {o.Result.ReasonPhrase}";
}

/// <summary>
/// POSTs an alert's JSON to a webhook through an HttpClient whose handler is the Polly resilience pipeline
/// (Microsoft.Extensions.Http.Resilience). Each request carries the alert id as <c>Idempotency-Key</c> (it is also
/// the body's "alertId"): the node delivers at least once, with the same id every time, and a receiver that keeps the
/// ids it has seen handles each alert once. 2xx: accepted. Still failing after the retries (connection, timeout, 408,
/// 429, 5xx): an exception the delivery job retries later. Any other answer (4xx, a redirect, 501, 505): the alert is
/// refused (<see cref="AlertRejectedException"/>, permanent). Redirects are not followed (a POST must not turn into a GET
/// elsewhere). Neither the body nor the answer's content is logged.
/// </summary>
public sealed class WebhookDestination : IAlertDestination, IDisposable
{
    public const string IdempotencyHeader = "Idempotency-Key";
    public const string Prefix = "webhook:";

    private readonly HttpClient _http;
    private readonly WebhookOptions _options;
    private readonly string _webhook;

    public WebhookDestination(string name, WebhookOptions options, ILogger? logger = null, HttpMessageHandler? primaryHandler = null)
    {
        _webhook = name;
        _options = options;
        Name = Prefix + name;
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>();
        WebhookResilience.Configure(pipeline, name, options, logger ?? NullLogger.Instance);
        var primary = primaryHandler ?? new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            ConnectTimeout = options.AttemptTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        };
        _http = new HttpClient(new ResilienceHandler(pipeline.Build()) { InnerHandler = primary })
        {
            Timeout = Timeout.InfiniteTimeSpan, // the pipeline times attempts and the whole delivery
        };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("MedAiNode-Triage/1.0");
    }

    public string Name { get; }

    public async Task SendAsync(AlertItem alert, byte[] body, CancellationToken ct)
    {
        if (!Uri.TryCreate(_options.Url, UriKind.Absolute, out var url))
            throw new AlertRejectedException($"webhook {_webhook}: '{_options.Url}' is not a URL");
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        request.Headers.TryAddWithoutValidation(IdempotencyHeader, alert.AlertId);
        foreach (var (name, value) in _options.Headers) request.Headers.TryAddWithoutValidation(name, value);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        if (response.IsSuccessStatusCode) return;
        var status = $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}";
        if (DicomWebResilience.IsTransientStatus(response.StatusCode))
            throw new HttpRequestException($"webhook {_webhook} answered {status} to alert {alert.AlertId} (after {_options.MaxRetries} retries)", null, response.StatusCode);
        throw new AlertRejectedException($"webhook {_webhook} refused alert {alert.AlertId}: {status}" +
            ((int)response.StatusCode is >= 300 and < 400 ? " (redirects are not followed: configure the final URL)" : ""));
    }

    public void Dispose() => _http.Dispose();
}
