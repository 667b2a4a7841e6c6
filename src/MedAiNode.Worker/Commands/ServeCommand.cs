
namespace MedAiNode.Worker.Commands;

/// <summary>`medainode serve`: the service on its embedded defaults, configured from appsettings.json, environment and --Section:Key=value.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var cmd = new Command("serve", "Run the service (default when no verb is given).");
        cmd.TreatUnmatchedTokensAsErrors = false; // --Section:Key=value overrides go to the configuration
        cmd.SetAction(async (parse, ct) =>
        {
            var overrides = parse.UnmatchedTokens.ToArray();
            return await ServiceHost.RunAsync(overrides, ct);
        });
        return cmd;
    }
}
