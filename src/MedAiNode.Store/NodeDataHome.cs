namespace MedAiNode.Store;

/// <summary>
/// Where the node keeps its data when Store:Root does not name an absolute folder, chosen the same way however the
/// service is started (systemd, scripts/run.sh, another working directory), first match wins:
/// <list type="number">
/// <item>$STATE_DIRECTORY, which systemd sets for a unit with <c>StateDirectory=medainode</c> (/var/lib/medainode);</item>
/// <item>/var/lib/medainode when that folder exists and this user can write to it (an installation made it);</item>
/// <item>$XDG_DATA_HOME/medainode, by default ~/.local/share/medainode (a person running the node as themselves).</item>
/// </list>
/// </summary>
public static class NodeDataHome
{
    public const string SystemFolder = "/var/lib/medainode";
    public const string StateDirectoryVariable = "STATE_DIRECTORY";

    /// <param name="environment">Reads an environment variable (tests pass their own).</param>
    /// <param name="systemFolder">The system-wide folder looked for second (tests pass their own).</param>
    public static bool TryResolve(out string home, out string? why, Func<string, string?>? environment = null, string systemFolder = SystemFolder)
    {
        environment ??= Environment.GetEnvironmentVariable;
        why = null;
        // systemd joins several state directories with ':'; the first is this unit's.
        if (environment(StateDirectoryVariable) is { Length: > 0 } state && state.Split(':')[0] is var first && Path.IsPathRooted(first))
        {
            home = Path.GetFullPath(first);
            return true;
        }
        if (IsWritableFolder(systemFolder))
        {
            home = systemFolder;
            return true;
        }
        if (environment("XDG_DATA_HOME") is { Length: > 0 } xdg && Path.IsPathRooted(xdg))
        {
            home = Path.GetFullPath(Path.Combine(xdg, "medainode"));
            return true;
        }
        if (environment("HOME") is { Length: > 0 } userHome && Path.IsPathRooted(userHome))
        {
            home = Path.GetFullPath(Path.Combine(userHome, ".local", "share", "medainode"));
            return true;
        }
        home = "";
        why = $"no data folder: neither ${StateDirectoryVariable}, a writable {systemFolder}, $XDG_DATA_HOME nor $HOME is there; set it to an absolute path";
        return false;
    }

    private static bool IsWritableFolder(string folder)
    {
        if (!Directory.Exists(folder)) return false;
        try
        {
            using var probe = new FileStream(Path.Combine(folder, $".medainode-probe-{Environment.ProcessId}"), FileMode.CreateNew, FileAccess.Write,
                FileShare.None, 1, FileOptions.DeleteOnClose);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }
}
