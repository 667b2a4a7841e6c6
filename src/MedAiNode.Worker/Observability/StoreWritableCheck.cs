using MedAiNode.Store;
using MedAiNode.Worker.Intake;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MedAiNode.Worker.Observability;

/// <summary>Ready only if the store can take a file right now.</summary>
internal sealed class StoreWritableCheck(StudyStore store) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        try
        {
            var probe = Path.Combine(store.IncomingRoot, ".health-" + Guid.NewGuid().ToString("N"));
            File.WriteAllBytes(probe, [1]);
            File.Delete(probe);
            return Task.FromResult(HealthCheckResult.Healthy());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("store not writable: " + e.Message));
        }
    }
}

/// <summary>Ready only while the DICOM SCP accepts associations.</summary>
internal sealed class ScpListeningCheck(DicomIntakeService scp) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default) =>
        Task.FromResult(scp.Disabled ? HealthCheckResult.Healthy("DIMSE intake off (Dicom:Port -1)")
            : scp.IsListening ? HealthCheckResult.Healthy(scp.Port != 0 && scp.TlsPort != 0 ? $"port {scp.Port}, TLS port {scp.TlsPort}"
                : scp.Port != 0 ? $"port {scp.Port}" : $"TLS only, port {scp.TlsPort}")
            : HealthCheckResult.Unhealthy("DICOM SCP not listening"));
}

/// <summary>Ready only when every enabled model was found, verified and loaded.</summary>
internal sealed class ModelsReadyCheck(MedAiNode.Worker.Analysis.ModelRegistry models) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default) =>
        Task.FromResult(models.Problems.Count == 0 && models.Models.Count > 0
            ? HealthCheckResult.Healthy(string.Join(", ", models.Models.Select(m => m.Id + " " + m.Version)))
            : HealthCheckResult.Unhealthy(string.Join("; ", models.Problems)));
}

/// <summary>
/// Each result destination answers (QIDO-RS for STOW-RS PACS, C-ECHO for C-STORE PACS). An unreachable PACS makes the
/// node Degraded, not unready: intake goes on and results wait in the outbox until the PACS is back.
/// </summary>
internal sealed class PacsReachableCheck(IEnumerable<MedAiNode.Export.IResultDestination> destinations) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        var problems = new List<string>();
        var checkedNames = new List<string>();
        foreach (var d in destinations)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(TimeSpan.FromSeconds(5));
            try
            {
                await d.CheckAsync(cts.Token);
                checkedNames.Add(d.Name);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                problems.Add($"{d.Name}: {(e is OperationCanceledException ? "no answer within 5 s" : e.Message)}");
            }
        }
        return problems.Count == 0
            ? HealthCheckResult.Healthy(checkedNames.Count == 0 ? "no destination configured" : "reachable: " + string.Join(", ", checkedNames))
            : HealthCheckResult.Degraded("unreachable (results wait in the outbox): " + string.Join("; ", problems));
    }
}
