namespace MedAiNode.Worker;

/// <summary>Builds and runs the service host. The intake, job and export services are added here as their layers land.</summary>
internal static class ServiceHost
{
    public static async Task<int> RunAsync(string[] args, CancellationToken ct)
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
        var http = builder.Configuration["Http:Urls"] ?? "http://127.0.0.1:8080";
        builder.WebHost.UseUrls(http);

        var app = builder.Build();
        app.MapGet("/health/live", () => Results.Ok(new { status = "live" }));
        await app.RunAsync(ct);
        return 0;
    }
}
