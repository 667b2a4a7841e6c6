using MedAiNode.Dicom.Network.Services;
using MedAiNode.Store;

namespace MedAiNode.Worker.Intake;

/// <summary>The DICOM SCP as a hosted service: listens at start, stops accepting first at shutdown and lets running transfers end.</summary>
public sealed class DicomIntakeService : IHostedService, IAsyncDisposable
{
    private readonly DicomServerOptions _options;
    private readonly StudyStore _store;
    private readonly ILogger<DicomServer> _log;
    private readonly IHostApplicationLifetime? _lifetime;
    private DicomServer? _server;
    private Task? _stopping;

    public DicomIntakeService(Microsoft.Extensions.Options.IOptions<DicomServerOptions> options, StudyStore store,
        ILogger<DicomServer> log, IHostApplicationLifetime? lifetime = null)
    {
        _options = options.Value;
        _store = store;
        _log = log;
        _lifetime = lifetime;
    }

    public int Port => _server?.Port ?? 0;
    public int TlsPort => _server?.TlsPort ?? 0;
    public bool IsListening => _server is not null && _server.IsListening;
    /// <summary>Dicom:Port -1 and no Dicom:TlsPort: this node takes studies only by polling. Port -1 with TlsPort set
    /// listens on the TLS port only.</summary>
    public bool Disabled => _options.Port < 0 && _options.TlsPort == 0;

    public Task StartAsync(CancellationToken ct)
    {
        if (Disabled)
        {
            _log.LogInformation("DIMSE intake off (Dicom:Port -1, no Dicom:TlsPort): studies arrive by polling only");
            return Task.CompletedTask;
        }
        try
        {
            // The study store is the SCP's target: it gets each instance as the SCP parsed it, and its checks apply.
            _server = new DicomServer(_options, _store, _log);
        }
        catch (NetworkOptionsException e)
        {
            // The network library names the option; the key in this node's configuration is under the Dicom section.
            throw new Microsoft.Extensions.Options.OptionsValidationException(MedAiNode.Worker.Configuration.DicomOptions.Section, typeof(DicomServerOptions),
                [$"{MedAiNode.Worker.Configuration.DicomOptions.Section}:{e.Message}"]);
        }
        _server.Start();
        // Hosted services stop in reverse order, the job servers first; the SCP must refuse new associations at once.
        _lifetime?.ApplicationStopping.Register(() => BeginStop());
        return Task.CompletedTask;
    }

    private Task BeginStop()
    {
        lock (this)
        {
            if (_stopping is null && _server is not null)
            {
                _log.LogInformation("Shutting down: no new associations; transfers in progress may finish");
                _stopping = _server.StopAsync(TimeSpan.FromSeconds(10));
            }
            return _stopping ?? Task.CompletedTask;
        }
    }

    public Task StopAsync(CancellationToken ct) => BeginStop();

    public async ValueTask DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
    }
}
