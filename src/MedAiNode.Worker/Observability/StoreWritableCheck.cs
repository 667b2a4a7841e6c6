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
            : scp.IsListening ? HealthCheckResult.Healthy($"port {scp.Port}") : HealthCheckResult.Unhealthy("DICOM SCP not listening"));
}

/// <summary>Ready only when every enabled model was found, verified and loaded.</summary>
internal sealed class ModelsReadyCheck(MedAiNode.Worker.Analysis.ModelRegistry models) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default) =>
        Task.FromResult(models.Problems.Count == 0 && models.Models.Count > 0
            ? HealthCheckResult.Healthy(string.Join(", ", models.Models.Select(m => m.Id + " " + m.Version)))
            : HealthCheckResult.Unhealthy(string.Join("; ", models.Problems)));
}
