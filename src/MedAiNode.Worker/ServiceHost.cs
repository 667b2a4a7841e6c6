using MedAiNode.Worker.Configuration;
using Microsoft.Extensions.Options;

namespace MedAiNode.Worker;

/// <summary>Builds and runs the service host. The intake, job and export services join here as their layers land.</summary>
internal static class ServiceHost
{
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });
        // appsettings.json beside the binary, then the working directory's, then MedAiNode__Section__Key, then --Section:Key=value.
        builder.Configuration.AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json"), optional: true);
        builder.Configuration.AddEnvironmentVariables("MedAiNode__");
        builder.Configuration.AddCommandLine(args);

        builder.Services.AddSingleton<NodeOptionsValidator>();
        builder.Services.AddSingleton<IValidateOptions<DicomOptions>>(sp => sp.GetRequiredService<NodeOptionsValidator>());
        builder.Services.AddSingleton<IValidateOptions<HttpOptions>>(sp => sp.GetRequiredService<NodeOptionsValidator>());
        builder.Services.AddOptions<DicomOptions>().Bind(builder.Configuration.GetSection(DicomOptions.Section)).ValidateOnStart();
        builder.Services.AddOptions<HttpOptions>().Bind(builder.Configuration.GetSection(HttpOptions.Section)).ValidateOnStart();

        var http = builder.Configuration.GetSection(HttpOptions.Section).Get<HttpOptions>() ?? new HttpOptions();
        builder.WebHost.UseUrls(http.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

        var app = builder.Build();
        app.MapGet("/health/live", () => Results.Ok(new { status = "live" }));
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
        await app.WaitForShutdownAsync(ct);
        return 0;
    }
}
