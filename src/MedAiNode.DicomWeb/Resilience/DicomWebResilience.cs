using System.Net;
using System.Security.Authentication;
using MedAiNode.DicomWeb.Configuration;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace MedAiNode.DicomWeb.Resilience;

/// <summary>
/// The resilience pipeline every request to a PACS goes through, outermost first: total timeout, retry (jittered
/// exponential backoff, honouring Retry-After), circuit breaker, attempt timeout. Only what may succeed when sent again
/// is retried: 5xx (but 501/505), 408, 429, connection failures and attempt timeouts; a 4xx means the request itself
/// was refused and sending it again changes nothing.
/// </summary>
public static class DicomWebResilience
{
    /// <summary>Whether a response status may succeed when the same request is sent again.</summary>
    public static bool IsTransientStatus(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests
        || (int)status >= 500 && status is not HttpStatusCode.NotImplemented and not HttpStatusCode.HttpVersionNotSupported;

    /// <summary>Whether an exception from sending means the PACS was unreachable or slow rather than refusing the request.</summary>
    public static bool IsTransientException(Exception e) => e switch
    {
        _ when e.InnerException is Multipart.MultipartSourceChangedException || e is Multipart.MultipartSourceChangedException => false,
        // A TLS failure (untrusted or mismatched certificate) will fail the same way next time.
        HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError } => false,
        HttpRequestException h when h.InnerException is AuthenticationException => false,
        HttpRequestException => true,
        TimeoutRejectedException => true,
        BrokenCircuitException and not IsolatedCircuitException => true,
        IOException => true,
        _ => false,
    };

    /// <summary>The retry decision for one attempt's outcome.</summary>
    public static bool ShouldRetry(Outcome<HttpResponseMessage> outcome) =>
        outcome.Exception is { } e ? IsTransientException(e) : outcome.Result is { } r && IsTransientStatus(r.StatusCode);

    /// <summary>What counts as a failure for the circuit breaker (the breaker's own rejection is not fed back to it).</summary>
    public static bool CountsAsFailure(Outcome<HttpResponseMessage> outcome) =>
        outcome.Exception is not BrokenCircuitException && ShouldRetry(outcome);

    /// <summary>The delay a response asks for with Retry-After (seconds or an HTTP date), or null when it asks none.
    /// A date in the past means "now".</summary>
    public static TimeSpan? GetRetryAfter(HttpResponseMessage response, DateTimeOffset now)
    {
        var ra = response.Headers.RetryAfter;
        if (ra is null)
        {
            // HttpClient drops a header it cannot parse; some servers send fractional seconds, which are still meant.
            if (response.Headers.NonValidated.TryGetValues("Retry-After", out var raw)
                && double.TryParse(raw.FirstOrDefault(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var secs)
                && double.IsFinite(secs) && secs >= 0)
                return TimeSpan.FromSeconds(Math.Min(secs, TimeSpan.MaxValue.TotalSeconds / 2));
            return null;
        }
        if (ra.Delta is { } delta) return delta < TimeSpan.Zero ? TimeSpan.Zero : delta;
        if (ra.Date is { } date) return date > now ? date - now : TimeSpan.Zero;
        return null;
    }

    /// <summary>The delay before the next retry: the server's Retry-After (capped), the breaker's remaining break time,
    /// or null to use the jittered exponential backoff.</summary>
    public static TimeSpan? ChooseDelay(Outcome<HttpResponseMessage> outcome, DicomWebPacsOptions options, DateTimeOffset now)
    {
        if (outcome.Result is { } r && GetRetryAfter(r, now) is { } ra)
            return ra > options.MaxRetryAfter ? options.MaxRetryAfter : ra;
        if (outcome.Exception is BrokenCircuitException { RetryAfter: { } wait })
            return wait > options.MaxRetryAfter ? options.MaxRetryAfter : wait;
        return null;
    }

    /// <summary>Adds the PACS's strategies to a pipeline (used by the HttpClient registration and directly by tests).</summary>
    public static void Configure(ResiliencePipelineBuilder<HttpResponseMessage> builder, DicomWebPacsOptions options, ILogger? logger = null, TimeProvider? time = null)
    {
        var clock = time ?? TimeProvider.System;
        var pacs = options.Name;
        builder.AddTimeout(new HttpTimeoutStrategyOptions { Name = "total", Timeout = options.TotalTimeout });
        if (options.MaxRetries > 0) // Polly refuses a retry strategy with no retries
        builder.AddRetry(new HttpRetryStrategyOptions
        {
            Name = "retry",
            MaxRetryAttempts = options.MaxRetries,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = options.RetryBaseDelay,
            MaxDelay = options.MaxRetryDelay,
            ShouldRetryAfterHeader = false, // ChooseDelay reads it, with a cap and the fractional-seconds fallback
            ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args.Outcome)),
            DelayGenerator = args => ValueTask.FromResult(ChooseDelay(args.Outcome, options, clock.GetUtcNow())),
            OnRetry = args =>
            {
                logger?.LogWarning("DICOMweb {Pacs}: attempt {Attempt} failed ({Reason}); retrying in {Delay} ms",
                    pacs, args.AttemptNumber + 1, Describe(args.Outcome), (long)args.RetryDelay.TotalMilliseconds);
                return ValueTask.CompletedTask;
            },
        });
        builder.AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
        {
            Name = "breaker",
            FailureRatio = options.CircuitBreakerFailureRatio,
            MinimumThroughput = options.CircuitBreakerMinimumThroughput,
            SamplingDuration = options.CircuitBreakerSamplingDuration,
            BreakDuration = options.CircuitBreakerBreakDuration,
            ShouldHandle = args => ValueTask.FromResult(CountsAsFailure(args.Outcome)),
            OnOpened = args =>
            {
                logger?.LogError("DICOMweb {Pacs}: circuit opened for {Seconds} s after repeated failures ({Reason})",
                    pacs, args.BreakDuration.TotalSeconds, Describe(args.Outcome));
                return ValueTask.CompletedTask;
            },
            OnClosed = _ =>
            {
                logger?.LogInformation("DICOMweb {Pacs}: circuit closed, PACS answering again", pacs);
                return ValueTask.CompletedTask;
            },
        });
        builder.AddTimeout(new HttpTimeoutStrategyOptions { Name = "attempt", Timeout = options.AttemptTimeout });
    }

    public static ResiliencePipeline<HttpResponseMessage> Build(DicomWebPacsOptions options, ILogger? logger = null, TimeProvider? time = null)
    {
        var b = new ResiliencePipelineBuilder<HttpResponseMessage>();
        if (time is not null) b.TimeProvider = time;
        Configure(b, options, logger, time);
        return b.Build();
    }

    private static string Describe(Outcome<HttpResponseMessage> o) =>
        o.Exception is { } e ? e.GetType().Name + ": " + e.Message : $"HTTP {(int)o.Result!.StatusCode} {o.Result.ReasonPhrase}";
}
