using HttpResults = Microsoft.AspNetCore.Http.Results;
using Hangfire;
using Hangfire.Common;
using Hangfire.InMemory;
using Hangfire.PostgreSql;
using MedAiNode.Export;
using MedAiNode.Store;
using MedAiNode.Worker.Configuration;
using MedAiNode.Worker.Intake;
using MedAiNode.Worker.Jobs;
using MedAiNode.Worker.Observability;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace MedAiNode.Worker;

/// <summary>Builds and runs the service host: store, job queues, intake, delivery, health, metrics and the small API.</summary>
internal static class ServiceHost
{
    /// <summary>
    /// The node's sources over the builder's own (appsettings.json beside the binary, Section__Key variables, arguments),
    /// lowest first: the working directory's appsettings.json, Section__Key variables again (so a plain variable beats
    /// both files, as .NET's defaults promise, instead of losing to the working directory's file), MedAiNode__Section__Key,
    /// then --Section:Key=value.
    /// </summary>
    internal static void AddNodeSources(IConfigurationBuilder config, string workingDirectory, string[] args)
    {
        config.AddJsonFile(Path.Combine(workingDirectory, "appsettings.json"), optional: true);
        config.AddEnvironmentVariables();
        config.AddEnvironmentVariables("MedAiNode__");
        config.AddCommandLine(args);
    }

    public static WebApplication Build(string[] args, Action<IServiceCollection>? overrides = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });
        AddNodeSources(builder.Configuration, Directory.GetCurrentDirectory(), args);
        var config = builder.Configuration;
        var services = builder.Services;

        services.AddSingleton<NodeOptionsValidator>();
        services.AddSingleton<IValidateOptions<DicomOptions>>(sp => sp.GetRequiredService<NodeOptionsValidator>());
        services.AddSingleton<IValidateOptions<HttpOptions>>(sp => sp.GetRequiredService<NodeOptionsValidator>());
        // Each section is bound once; the instances below are the ones IOptions<T> hands the services.
        services.AddValidatedOptions<DicomOptions>(config, DicomOptions.Section);
        var http = services.AddValidatedOptions<HttpOptions>(config, HttpOptions.Section);
        // Kestrel binds Kestrel:Endpoints instead of Http:Urls when they are set: the start-up checks must see them.
        http.SetKestrelEndpointUrls(config.GetSection("Kestrel:Endpoints").GetChildren().Select(e => e["Url"]).OfType<string>());
        var storeOptions = services.AddValidatedOptions<StudyStoreOptions>(config, StudyStoreOptions.Section, o => o.Validate());
        var jobs = services.AddValidatedOptions<JobsOptions>(config, JobsOptions.Section, o => o.Validate());
        var outboxOptions = services.AddValidatedOptions<OutboxOptions>(config, OutboxOptions.Section);
        services.AddValidatedOptions<MedAiNode.Dicom.Network.Services.DicomServerOptions>(config, DicomOptions.Section, o =>
        {
            if (o.Port == -1 && o.TlsPort == 0) return []; // DIMSE intake switched off (Port -1 with TlsPort set: TLS only)
            try { o.Validate(DicomOptions.Section); return []; }
            catch (MedAiNode.Dicom.Network.Services.NetworkOptionsException e) { return [e.Message]; }
        });

        services.AddSingleton(TimeProvider.System);
        // Store:Root made absolute once, here: empty or relative is under the data home (NodeDataHome), never the working
        // directory, and every service (store, outbox, results folder, QIDO ledger) sees the same absolute folder. When it
        // cannot be resolved the start-up validation says so, naming the key.
        var storeRoot = storeOptions.TryResolveRoot(out var resolvedRoot, out _) ? storeOptions.Root = resolvedRoot : Path.GetFullPath(".");
        // One node per root: the lock is taken before the store replays its journal or the outbox looks at its folder, and
        // given back when the host is disposed (or by the kernel when the process dies).
        services.AddSingleton(_ => StoreRootLock.Acquire(storeOptions.ResolveRoot()));
        services.AddSingleton(sp =>
        {
            sp.GetRequiredService<StoreRootLock>();
            return new StudyStore(sp.GetRequiredService<IOptions<StudyStoreOptions>>().Value, sp.GetRequiredService<ILogger<StudyStore>>(),
                sp.GetRequiredService<TimeProvider>());
        });
        services.AddSingleton(sp =>
        {
            sp.GetRequiredService<StoreRootLock>();
            return new Outbox(Path.Combine(storeRoot, outboxOptions.Folder), sp.GetRequiredService<ILogger<Outbox>>());
        });
        if (!string.IsNullOrWhiteSpace(outboxOptions.ResultsFolder))
            services.AddSingleton<IResultDestination>(new FolderDestination("results-folder", Path.Combine(storeRoot, outboxOptions.ResultsFolder)));
        services.AddSingleton<NodeMetrics>();
        services.AddSingleton<StudyJobs>();
        services.AddSingleton<StudyFailures>();
        services.AddSingleton(sp => new StudyLedger(sp.GetRequiredService<JobStorage>(), jobs.EffectiveNodeName, jobs.PostgresConnectionString));
        services.AddSingleton<StudyFetcher>();
        services.AddSingleton<DicomIntakeService>();
        services.AddHostedService(sp => sp.GetRequiredService<DicomIntakeService>());
        services.AddSingleton<CompletionMonitor>();
        services.AddHostedService(sp => sp.GetRequiredService<CompletionMonitor>());
        PipelineRegistration.Add(services, config);
        overrides?.Invoke(services);

        var node = jobs.EffectiveNodeName;
        // The job storage, the filters and the activator are this host's services, not Hangfire's globals (JobStorage.Current,
        // GlobalJobFilters): AddHangfire only adds what is not registered yet, and the servers, the client, the ledger and
        // the dashboard all take them from here. Hangfire's global AutomaticRetry is not among the filters: StudyRetryFilter
        // decides retries, and fails the study when they run out.
        services.AddSingleton<JobStorage>(sp =>
        {
            // Hangfire's own logging is process-wide: configure it for this host before the storage logs anything.
            sp.GetRequiredService<IGlobalConfiguration>();
            return string.IsNullOrWhiteSpace(jobs.PostgresConnectionString)
                ? new InMemoryStorage()
                : new PostgreSqlStorage(new Hangfire.PostgreSql.Factories.NpgsqlConnectionFactory(jobs.PostgresConnectionString, new PostgreSqlStorageOptions()),
                    new PostgreSqlStorageOptions());
        });
        services.AddSingleton<JobActivator>(sp => new Hangfire.AspNetCore.AspNetCoreJobActivator(sp.GetRequiredService<IServiceScopeFactory>()));
        services.AddSingleton<IJobFilterProvider>(sp => new JobFilterProviderCollection(
            new JobFilterCollection
            {
                new CaptureCultureAttribute(), new StatisticsHistoryAttribute(), new ContinuationsSupportAttribute(),
                new StudyRetryFilter(jobs, sp.GetRequiredService<StudyFailures>()),
            },
            new JobFilterAttributeFilterProvider()));
        services.AddHangfire(h =>
            // Serialisation settings are process-wide in Hangfire (no per-host setting exists).
            h.SetDataCompatibilityLevel(CompatibilityLevel.Version_180).UseSimpleAssemblyNameTypeSerializer().UseRecommendedSerializerSettings());
        // Inference and I/O run on separate workers, so a slow PACS never holds an inference slot. Analyses are shared
        // by every node on the database; a node's own queue takes studies handed to it; deliveries stay with the outbox.
        if (jobs.InferenceSlots > 0)
            services.AddHangfireServer(o =>
            {
                o.ServerName = $"{node}-{Environment.ProcessId}-inference";
                o.Queues = [StudyJobs.StatQueue, StudyJobs.NodeQueue(node), StudyJobs.RoutineQueue];
                o.WorkerCount = jobs.InferenceSlots;
                o.SchedulePollingInterval = TimeSpan.FromSeconds(1);
                o.ShutdownTimeout = jobs.ShutdownTimeout;
            });
        services.AddHangfireServer(o =>
        {
            o.ServerName = $"{node}-{Environment.ProcessId}-io";
            o.Queues = [StudyJobs.ExportQueue(node)];
            o.WorkerCount = jobs.IoWorkers;
            o.SchedulePollingInterval = TimeSpan.FromSeconds(1);
            o.ShutdownTimeout = jobs.ShutdownTimeout;
        });
        services.Configure<HostOptions>(o => o.ShutdownTimeout = jobs.ShutdownTimeout + TimeSpan.FromSeconds(15));

        // System.Runtime: the runtime's own meter (GC heap and committed memory, working set), so an operator sees memory next
        // to the node's stages.
        services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(NodeMetrics.MeterName, "System.Runtime").AddPrometheusExporter());
        services.AddHealthChecks()
            .AddCheck<StoreWritableCheck>("store", tags: ["ready"])
            .AddCheck<ScpListeningCheck>("scp", tags: ["ready"])
            .AddCheck<ModelsReadyCheck>("models", tags: ["ready"])
            .AddCheck<PacsReachableCheck>("pacs", tags: ["ready"]);

        builder.WebHost.UseUrls(http.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

        var app = builder.Build();
        var metrics = app.Services.GetRequiredService<NodeMetrics>();
        var storage = app.Services.GetRequiredService<JobStorage>();
        metrics.QueueDepthProvider = () => storage.GetMonitoringApi().Queues().Sum(q => q.Length);
        var studyStore = app.Services.GetRequiredService<StudyStore>();
        metrics.StudiesByStateProvider = studyStore.CountByState;
        studyStore.InstanceStored += _ => metrics.InstancesReceived.Add(1);
        app.Services.GetRequiredService<Outbox>().AlertDelivered = destination => metrics.AlertsDelivered.Add(1, new KeyValuePair<string, object?>("destination", destination));
        _ = app.Services.GetRequiredService<MedAiNode.Worker.Analysis.ModelRegistry>(); // models load and warm up before the node reports ready
        if (!string.IsNullOrWhiteSpace(outboxOptions.ResultsFolder))
            app.Logger.LogInformation("Results (SEG, SR, summary) are copied to {Results}", Path.Combine(storeRoot, outboxOptions.ResultsFolder));

        app.MapGet("/health/live", () => HttpResults.Ok(new { status = "live" }));
        app.MapHealthChecks("/health/ready", new Microsoft.AspNetCore.Diagnostics.HealthChecks.HealthCheckOptions
        {
            Predicate = c => c.Tags.Contains("ready"),
            ResponseWriter = (ctx, report) => ctx.Response.WriteAsJsonAsync(new
            {
                status = report.Status.ToString(),
                checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), e.Value.Description }),
            }),
        });
        app.MapPrometheusScrapingEndpoint("/metrics");
        HttpAccess.Use(app, http);
        DashboardMenu.AddOurPages();
        app.UseHangfireDashboard("/hangfire", new DashboardOptions { Authorization = [new HttpAccess.AdmittedFilter()], DashboardTitle = "MedAiNode jobs" }, storage);
        StudyApi.Map(app);
        return app;
    }

    public static async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        WebApplication app;
        try
        {
            app = Build(args);
            await app.StartAsync(ct);
        }
        catch (OptionsValidationException e)
        {
            foreach (var failure in e.Failures) Console.Error.WriteLine($"medainode: configuration error: {failure}");
            return 3;
        }
        catch (StoreInUseException e)
        {
            Console.Error.WriteLine($"medainode: {e.Message}");
            return 3;
        }
        await app.WaitForShutdownAsync(ct);
        return 0;
    }
}
