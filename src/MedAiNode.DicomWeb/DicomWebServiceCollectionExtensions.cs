using MedAiNode.DicomWeb.Configuration;
using MedAiNode.DicomWeb.Http;
using MedAiNode.DicomWeb.Resilience;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MedAiNode.DicomWeb;

/// <summary>Gives a <see cref="DicomWebClient"/> for a configured PACS by name.</summary>
public interface IDicomWebClientFactory
{
    IReadOnlyCollection<string> PacsNames { get; }
    DicomWebClient Create(string pacsName);
}

internal sealed class DicomWebClientFactory(IHttpClientFactory http, IReadOnlyDictionary<string, DicomWebPacsOptions> pacs, ILoggerFactory? loggers)
    : IDicomWebClientFactory
{
    public IReadOnlyCollection<string> PacsNames => pacs.Keys.ToList();

    public DicomWebClient Create(string pacsName)
    {
        if (!pacs.TryGetValue(pacsName, out var options))
            throw new ArgumentException($"No DICOMweb PACS named '{pacsName}' is configured (known: {string.Join(", ", pacs.Keys)}).");
        return new DicomWebClient(http.CreateClient(DicomWebServiceCollectionExtensions.ClientName(pacsName)), options,
            loggers?.CreateLogger("MedAiNode.DicomWeb." + pacsName));
    }
}

public static class DicomWebServiceCollectionExtensions
{
    public static string ClientName(string pacsName) => "dicomweb:" + pacsName;

    /// <summary>
    /// Registers a named HttpClient per PACS (TLS and client certificate in its primary handler, then its own
    /// resilience pipeline and circuit breaker, then its credentials on each attempt) and <see cref="IDicomWebClientFactory"/>.
    /// Options are validated now; every problem is reported at once, each naming its configuration key.
    /// </summary>
    public static IServiceCollection AddDicomWeb(this IServiceCollection services, IEnumerable<DicomWebPacsOptions> pacsList,
        Action<string, IHttpClientBuilder>? customize = null)
    {
        var list = pacsList.ToList();
        var errors = new List<string>();
        for (var i = 0; i < list.Count; i++)
            errors.AddRange(DicomWebPacsOptionsValidator.Validate(list[i], $"{DicomWebPacsOptions.SectionName}:{i}"));
        foreach (var dup in list.GroupBy(p => p.Name, StringComparer.OrdinalIgnoreCase).Where(g => g.Key.Length > 0 && g.Count() > 1))
            errors.Add($"{DicomWebPacsOptions.SectionName}: Name '{dup.Key}' is used by {dup.Count()} PACS entries; names must be unique.");
        if (errors.Count > 0) throw new OptionsValidationException(DicomWebPacsOptions.SectionName, typeof(DicomWebPacsOptions), errors);

        var byName = list.ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        foreach (var pacs in list)
        {
            var o = pacs;
            var builder = services.AddHttpClient(ClientName(o.Name), c =>
                {
                    c.Timeout = Timeout.InfiniteTimeSpan; // the pipeline times attempts; a WADO body may legitimately stream for long
                    c.DefaultRequestHeaders.UserAgent.ParseAdd("MedAiNode-DICOMweb/1.0");
                })
                .ConfigurePrimaryHttpMessageHandler(() => DicomWebHttpHandlers.CreatePrimary(o));
            builder.AddResilienceHandler("dicomweb", (b, ctx) =>
                DicomWebResilience.Configure(b, o, ctx.ServiceProvider.GetService<ILoggerFactory>()?.CreateLogger("MedAiNode.DicomWeb." + o.Name)));
            builder.AddHttpMessageHandler(() => new DicomWebAuthHandler(o));
            customize?.Invoke(o.Name, builder);
        }
        services.AddSingleton<IDicomWebClientFactory>(sp =>
            new DicomWebClientFactory(sp.GetRequiredService<IHttpClientFactory>(), byName, sp.GetService<ILoggerFactory>()));
        return services;
    }

    /// <summary>Binds the PACS list from <c>DicomWeb:Pacs</c> (an array: DicomWeb:Pacs:0:Name, DicomWeb:Pacs:0:BaseUrl, ...)
    /// and registers it; validation messages name those keys.</summary>
    public static IServiceCollection AddDicomWeb(this IServiceCollection services, Microsoft.Extensions.Configuration.IConfiguration configuration,
        Action<string, IHttpClientBuilder>? customize = null)
    {
        var section = configuration.GetSection(DicomWebPacsOptions.SectionName);
        var list = new List<DicomWebPacsOptions>();
        foreach (var child in section.GetChildren().OrderBy(c => int.TryParse(c.Key, out var n) ? n : int.MaxValue))
        {
            var o = new DicomWebPacsOptions();
            try
            {
                Microsoft.Extensions.Configuration.ConfigurationBinder.Bind(child, o, b => b.ErrorOnUnknownConfiguration = true);
            }
            catch (InvalidOperationException e)
            {
                throw new OptionsValidationException(DicomWebPacsOptions.SectionName, typeof(DicomWebPacsOptions), [$"{child.Path}: {e.Message}"]);
            }
            list.Add(o);
        }
        return AddDicomWeb(services, list, customize);
    }

    public static IServiceCollection AddDicomWeb(this IServiceCollection services, params DicomWebPacsOptions[] pacs) =>
        AddDicomWeb(services, (IEnumerable<DicomWebPacsOptions>)pacs);
}

/// <summary>A client outside a host (the CLI verbs, tests): owns a small service provider with the same registration.</summary>
public sealed class StandaloneDicomWebClient : IDisposable
{
    private readonly ServiceProvider _provider;

    public StandaloneDicomWebClient(DicomWebPacsOptions options, ILoggerFactory? loggers = null, Action<IHttpClientBuilder>? customize = null)
    {
        var services = new ServiceCollection();
        if (loggers is not null) services.AddSingleton(loggers);
        services.AddDicomWeb([options], customize is null ? null : (_, b) => customize(b));
        _provider = services.BuildServiceProvider();
        Client = _provider.GetRequiredService<IDicomWebClientFactory>().Create(options.Name);
    }

    public DicomWebClient Client { get; }
    public void Dispose() => _provider.Dispose();
}
