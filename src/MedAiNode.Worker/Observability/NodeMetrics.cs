using System.Diagnostics.Metrics;

namespace MedAiNode.Worker.Observability;

/// <summary>The node's counters and histograms, exported at /metrics in Prometheus format.</summary>
public sealed class NodeMetrics
{
    public const string MeterName = "MedAiNode";

    public NodeMetrics(IMeterFactory factory)
    {
        var meter = factory.Create(MeterName);
        InstancesReceived = meter.CreateCounter<long>("medainode.instances.received", description: "DICOM instances filed in the store");
        StudiesCompleted = meter.CreateCounter<long>("medainode.studies.completed", description: "Studies analysed and delivered");
        StudiesFailed = meter.CreateCounter<long>("medainode.studies.failed",
            description: "Studies that ended Failed; tags: stage (analysis, delivery), kind (permanent, retries_exhausted), category (the exception type)");
        TriagePositive = meter.CreateCounter<long>("medainode.triage.positive", description: "Studies an analysis found positive by a Triage rule");
        AlertsDelivered = meter.CreateCounter<long>("medainode.alerts.delivered", description: "Triage alerts a webhook accepted; tag: destination");
        ExportFailures = meter.CreateCounter<long>("medainode.export.failures", description: "Delivery attempts that failed");
        StageDuration = meter.CreateHistogram<double>("medainode.stage.duration", unit: "s", description: "Time per pipeline stage");
        QueueDepth = meter.CreateObservableGauge("medainode.queue.depth", () => QueueDepthProvider?.Invoke() ?? 0, description: "Jobs waiting in the queues");
        StudiesByState = meter.CreateObservableGauge("medainode.studies", () => (StudiesByStateProvider?.Invoke() ?? new Dictionary<MedAiNode.Store.StudyState, int>())
            .Select(kv => new Measurement<long>(kv.Value, new KeyValuePair<string, object?>("state", kv.Key.ToString()))),
            description: "Studies in this node's store, per lifecycle state");
    }

    public Counter<long> InstancesReceived { get; }
    public Counter<long> StudiesCompleted { get; }
    public Counter<long> StudiesFailed { get; }
    public Counter<long> ExportFailures { get; }
    public Counter<long> TriagePositive { get; }
    public Counter<long> AlertsDelivered { get; }
    public Histogram<double> StageDuration { get; }
    public ObservableGauge<long> QueueDepth { get; }
    public Func<long>? QueueDepthProvider { get; set; }
    public ObservableGauge<long> StudiesByState { get; }
    public Func<IReadOnlyDictionary<MedAiNode.Store.StudyState, int>>? StudiesByStateProvider { get; set; }
}
