using System.Text.Json.Nodes;

namespace MedAiNode.Export;

/// <summary>
/// A triage alert waiting for delivery: one JSON document in the study's outbox (outbox/&lt;StudyUID&gt;/alerts/&lt;AlertId&gt;.json),
/// addressed to named alert destinations. The alert id is its idempotency key: every attempt, before and after a
/// restart, sends the same id and the same body, so a receiver that keeps the ids it has seen shows it once.
/// </summary>
public sealed record AlertItem(string StudyInstanceUid, string AlertId, IReadOnlyList<string> Destinations, string Path)
{
    /// <summary>The request body: the alert exactly as stored (UTF-8 JSON).</summary>
    public byte[] ReadBody()
    {
        var envelope = JsonNode.Parse(File.ReadAllBytes(Path)) ?? throw new InvalidDataException($"alert file {Path} is empty");
        var alert = envelope[Outbox.AlertProperty] ?? throw new InvalidDataException($"alert file {Path} has no '{Outbox.AlertProperty}'");
        return System.Text.Encoding.UTF8.GetBytes(alert.ToJsonString());
    }
}

/// <summary>A receiver of triage alerts (a webhook). Sends one alert; returns when the receiver accepted it.</summary>
public interface IAlertDestination
{
    /// <summary>The name alerts are addressed to (e.g. "webhook:stroke-team").</summary>
    string Name { get; }
    /// <summary>Throws <see cref="AlertRejectedException"/> when the receiver refused the alert (sending it again cannot
    /// help); any other exception is transient and the delivery is tried again later.</summary>
    Task SendAsync(AlertItem alert, byte[] body, CancellationToken ct);
}

/// <summary>The receiver refused the alert itself (an HTTP 4xx other than 408/429, or a redirect): a permanent failure.</summary>
public sealed class AlertRejectedException(string message) : Exception(message);
