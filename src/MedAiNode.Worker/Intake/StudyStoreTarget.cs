using MedAiNode.Dicom.Network.Services;
using MedAiNode.Store;

namespace MedAiNode.Worker.Intake;

/// <summary>Connects the C-STORE SCP to the study store: partial files go to the store's incoming folder, complete ones are filed.</summary>
internal sealed class StudyStoreTarget(StudyStore store, StudyStoreOptions options) : IDicomStoreTarget
{
    public string TempDirectory => store.IncomingRoot;

    public string? CheckCapacity()
    {
        var fill = MedAiNode.Dicom.IO.DurableFile.FillPercent(store.Root);
        return fill > options.MaxFillPercent ? $"storage is {fill:0.#}% full (limit {options.MaxFillPercent:0.#}%, Store:MaxFillPercent)" : null;
    }

    public ValueTask<string> CommitAsync(ReceivedInstance instance, CancellationToken ct)
    {
        try
        {
            return ValueTask.FromResult(store.Store(instance.TempPath, instance.CallingAE).Path);
        }
        catch (StoreRejectedException e)
        {
            // Quarantined with its reason; the sender gets 0xC000 (cannot understand) rather than Success.
            throw new InvalidDataException("instance refused by the store: " + e.Message, e);
        }
    }
}

/// <summary>The DICOM SCP as a hosted service: listens at start, stops accepting first at shutdown and lets running transfers end.</summary>
public sealed class DicomIntakeService : IHostedService, IAsyncDisposable
{
    private readonly DicomServerOptions _options;
    private readonly StudyStore _store;
    private readonly StudyStoreOptions _storeOptions;
    private readonly ILogger<DicomServer> _log;
    private readonly IHostApplicationLifetime? _lifetime;
    private DicomServer? _server;
    private Task? _stopping;

    public DicomIntakeService(Microsoft.Extensions.Options.IOptions<DicomServerOptions> options, StudyStore store,
        Microsoft.Extensions.Options.IOptions<StudyStoreOptions> storeOptions, ILogger<DicomServer> log, IHostApplicationLifetime? lifetime = null)
    {
        _options = options.Value;
        _store = store;
        _storeOptions = storeOptions.Value;
        _log = log;
        _lifetime = lifetime;
    }

    public int Port => _server?.Port ?? 0;
    public bool IsListening => _server is not null && _server.Port != 0;
    /// <summary>Dicom:Port -1: this node takes studies only by polling.</summary>
    public bool Disabled => _options.Port < 0;

    public Task StartAsync(CancellationToken ct)
    {
        if (_options.Port < 0) return Task.CompletedTask; // intake over DIMSE switched off
        _server = new DicomServer(_options, new StudyStoreTarget(_store, _storeOptions), _log);
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
