using System.Globalization;
using MedAiNode.Dicom.Json;
using MedAiNode.DicomWeb;
using MedAiNode.DicomWeb.Configuration;
using MedAiNode.DicomWeb.Qido;
using MedAiNode.DicomWeb.Stow;
using Microsoft.Extensions.Options;

namespace MedAiNode.Worker.Commands;

/// <summary>Connection options every DICOMweb verb takes. Secrets come from the environment, not the command line
/// (which other users can see in the process list).</summary>
internal sealed class ConnectionOptions
{
    public readonly Argument<string> Url = new("url") { Description = "DICOMweb root, e.g. http://localhost:8042/dicom-web" };
    public readonly Option<int> Retries = new("--retries") { Description = "Retries on transient failures.", DefaultValueFactory = _ => 5 };
    public readonly Option<string?> User = new("--user") { Description = "Basic authentication user; the password is read from $DICOMWEB_PASSWORD." };
    public readonly Option<bool> Bearer = new("--bearer") { Description = "Send the bearer token in $DICOMWEB_TOKEN." };
    public readonly Option<FileInfo?> Cert = new("--cert") { Description = "Client certificate (.pfx/.p12, or PEM; password in $DICOMWEB_CERT_PASSWORD)." };
    public readonly Option<FileInfo?> CertKey = new("--cert-key") { Description = "PEM private key of --cert when it is a separate file." };
    public readonly Option<FileInfo?> Ca = new("--ca") { Description = "PEM bundle of CA certificates to trust instead of the system store." };
    public readonly Option<double?> ReadTimeout = new("--read-timeout") { Description = "Seconds a response body may stay silent, and the window its minimum rate is averaged over (default 60)." };

    public void AddTo(Command c)
    {
        c.Arguments.Insert(0, Url); // the URL comes first, before any FILES argument
        foreach (var o in new Option[] { User, Bearer, Cert, CertKey, Ca, Retries, ReadTimeout }) c.Options.Add(o);
    }

    public DicomWebPacsOptions Build(ParseResult p)
    {
        var o = new DicomWebPacsOptions
        {
            Name = "cli",
            BaseUrl = p.GetValue(Url)!,
            CaBundlePath = p.GetValue(Ca)?.FullName,
            MaxRetries = p.GetValue(Retries),
        };
        if (p.GetValue(ReadTimeout) is { } rt)
        {
            if (!(rt > 0 && rt < 86400)) throw new ArgumentException($"--read-timeout must be a number of seconds above 0 (got {rt}).");
            o.ReadIdleTimeout = TimeSpan.FromSeconds(rt);
        }
        if (p.GetValue(User) is { } user)
        {
            o.Auth = DicomWebAuthMode.Basic;
            o.Username = user;
            o.Password = Environment.GetEnvironmentVariable("DICOMWEB_PASSWORD") ?? throw new ArgumentException("--user needs the password in $DICOMWEB_PASSWORD.");
        }
        else if (p.GetValue(Bearer))
        {
            o.Auth = DicomWebAuthMode.Bearer;
            o.BearerToken = Environment.GetEnvironmentVariable("DICOMWEB_TOKEN") ?? throw new ArgumentException("--bearer needs the token in $DICOMWEB_TOKEN.");
        }
        else if (p.GetValue(Cert) is { } cert)
        {
            o.Auth = DicomWebAuthMode.ClientCertificate;
            o.ClientCertificatePath = cert.FullName;
            o.ClientCertificateKeyPath = p.GetValue(CertKey)?.FullName;
            o.ClientCertificatePassword = Environment.GetEnvironmentVariable("DICOMWEB_CERT_PASSWORD");
        }
        return o;
    }
}

/// <summary>The DICOMweb verbs: <c>qido</c>, <c>wado</c>, <c>stow</c>. Exit codes: 0 done, 1 done with some instances
/// failed, 2 nothing done (bad arguments, PACS unreachable or refusing).</summary>
public static class DicomWebCommands
{
    public static IEnumerable<Command> CreateAll(TextWriter? stdout = null, TextWriter? stderr = null) =>
        [CreateQido(stdout, stderr), CreateWado(stdout, stderr), CreateStow(stdout, stderr)];

    private static async Task<int> Run(string verb, TextWriter err, Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (Exception e) when (e is DicomWebException or DicomWebProtocolException or ArgumentException or OptionsValidationException
                                      or InvalidOperationException or IOException or UnauthorizedAccessException or DicomFormatException)
        {
            var msg = e is OptionsValidationException ov ? string.Join(Environment.NewLine + "  ", ov.Failures) : e.Message;
            await err.WriteLineAsync($"medainode {verb}: {msg}");
            return 2;
        }
    }

    public static Command CreateQido(TextWriter? stdout = null, TextWriter? stderr = null)
    {
        var conn = new ConnectionOptions();
        var level = new Option<QidoLevel>("--level") { Description = "studies, series or instances.", DefaultValueFactory = _ => QidoLevel.Studies };
        var study = new Option<string?>("--study") { Description = "Only this study (its series or instances with --level)." };
        var series = new Option<string?>("--series") { Description = "Only this series (instances)." };
        var match = new Option<string[]>("--match", "-m") { Description = "Match key KEYWORD=VALUE (repeatable), e.g. -m ModalitiesInStudy=CT -m StudyDate=20240101-", AllowMultipleArgumentsPerToken = false };
        var include = new Option<string[]>("--include") { Description = "Extra attribute to return (keyword or tag; 'all')." };
        var limit = new Option<int?>("--limit") { Description = "Return at most this many results (default: all, paged)." };
        var json = new Option<bool>("--json") { Description = "Print DICOM JSON, one dataset per line, instead of a table." };
        var cmd = new Command("qido", "Search a PACS with QIDO-RS.") { level, study, series, match, include, limit, json };
        conn.AddTo(cmd);
        cmd.SetAction((p, ct) => Run("qido", stderr ?? Console.Error, async () =>
        {
            var o = conn.Build(p);
            var q = new QidoQuery(p.GetValue(level));
            if (p.GetValue(study) is { } s)
            {
                if (q.Level == QidoLevel.Studies) q.Match(DicomTags.StudyInstanceUID, UidSyntax.Require(s, "--study"));
                else q.StudyInstanceUid = s;
            }
            q.SeriesInstanceUid = p.GetValue(series);
            foreach (var m in p.GetValue(match) ?? [])
            {
                var eq = m.IndexOf('=');
                if (eq <= 0) throw new ArgumentException($"--match '{m}' is not KEY=VALUE.");
                q.Match(m[..eq], m[(eq + 1)..]);
            }
            foreach (var f in p.GetValue(include) ?? []) q.Include(f);
            q.Limit = p.GetValue(limit);
            using var client = new StandaloneDicomWebClient(o);
            var output = stdout ?? Console.Out;
            var n = 0;
            var skipped = new List<QidoSkipped>();
            await foreach (var ds in client.Client.SearchAsync(q, skipped.Add, ct))
            {
                n++;
                if (p.GetValue(json)) await output.WriteLineAsync(DicomJson.Serialize(ds));
                else await output.WriteLineAsync(Row(ds, q.Level));
            }
            // A malformed result does not hide the others: it is reported (position and reason, never its values) and the exit code says so.
            foreach (var sk in skipped) await (stderr ?? Console.Error).WriteLineAsync($"warning: result {sk.Index + 1} skipped: {sk.Reason}");
            if (!p.GetValue(json)) await (stderr ?? Console.Error).WriteLineAsync($"{n} {q.Level.ToString().ToLowerInvariant()}{(skipped.Count > 0 ? $", {skipped.Count} skipped" : "")}");
            return skipped.Count == 0 ? 0 : 1;
        }));
        return cmd;
    }

    // A table row without patient names or IDs: the terminal may be shared or logged.
    private static string Row(DicomDataset ds, QidoLevel level)
    {
        string G(DicomTag t) => ds.GetString(t) is { Length: > 0 } v ? v : "-";
        return level switch
        {
            QidoLevel.Studies => $"{G(DicomTags.StudyInstanceUID)}\t{G(DicomTags.StudyDate)}\t{G(DicomTags.ModalitiesInStudy)}\t{G(DicomTags.NumberOfStudyRelatedInstances)}\t{G(DicomTags.StudyDescription)}",
            QidoLevel.Series => $"{G(DicomTags.SeriesInstanceUID)}\t{G(DicomTags.Modality)}\t{G(DicomTags.SeriesNumber)}\t{G(DicomTags.NumberOfSeriesRelatedInstances)}\t{G(DicomTags.SeriesDescription)}",
            _ => $"{G(DicomTags.SOPInstanceUID)}\t{G(DicomTags.SOPClassUID)}\t{G(DicomTags.InstanceNumber)}",
        };
    }

    public static Command CreateWado(TextWriter? stdout = null, TextWriter? stderr = null)
    {
        var conn = new ConnectionOptions();
        var study = new Option<string>("--study") { Description = "Study Instance UID.", Required = true };
        var series = new Option<string?>("--series") { Description = "Only this series." };
        var instance = new Option<string?>("--instance") { Description = "Only this instance (needs --series)." };
        var outDir = new Option<DirectoryInfo>("--out", "-o") { Description = "Folder for SOPInstanceUID.dcm files.", Required = true };
        var ts = new Option<string>("--transfer-syntax") { Description = "Transfer syntax to ask for, or * for as stored.", DefaultValueFactory = _ => DicomUids.ExplicitVRLittleEndian };
        var cmd = new Command("wado", "Download a study, series or instance with WADO-RS.") { study, series, instance, outDir, ts };
        conn.AddTo(cmd);
        cmd.SetAction((p, ct) => Run("wado", stderr ?? Console.Error, async () =>
        {
            var o = conn.Build(p);
            o.WadoTransferSyntax = p.GetValue(ts)!;
            using var client = new StandaloneDicomWebClient(o);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var r = await client.Client.RetrieveAsync(p.GetValue(study)!, p.GetValue(series), p.GetValue(instance), p.GetValue(outDir)!.FullName, ct);
            var output = stdout ?? Console.Out;
            foreach (var i in r.Instances.OrderBy(i => i.Path, StringComparer.Ordinal)) await output.WriteLineAsync(i.Path);
            foreach (var prob in r.Problems) await (stderr ?? Console.Error).WriteLineAsync("warning: " + prob);
            await (stderr ?? Console.Error).WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{r.Instances.Count} instances, {r.BytesReceived / 1e6:F1} MB in {sw.Elapsed.TotalSeconds:F1} s{(r.Resumes > 0 ? $" ({r.Resumes} resumes)" : "")}"));
            return r.Problems.Count == 0 ? 0 : 1;
        }));
        return cmd;
    }

    public static Command CreateStow(TextWriter? stdout = null, TextWriter? stderr = null)
    {
        var conn = new ConnectionOptions();
        var files = new Argument<string[]>("files") { Description = "DICOM files or folders (searched recursively).", Arity = ArgumentArity.OneOrMore };
        var study = new Option<string?>("--study") { Description = "Store into this study (POST /studies/{uid}); others are refused by the PACS." };
        var batch = new Option<int>("--batch") { Description = "Instances per request.", DefaultValueFactory = _ => 50 };
        var cmd = new Command("stow", "Store DICOM files with STOW-RS.") { files, study, batch };
        conn.AddTo(cmd);
        cmd.SetAction((p, ct) => Run("stow", stderr ?? Console.Error, async () =>
        {
            var o = conn.Build(p);
            o.StowMaxInstances = p.GetValue(batch);
            var paths = new List<string>();
            foreach (var f in p.GetValue(files)!)
            {
                if (Directory.Exists(f)) paths.AddRange(Directory.EnumerateFiles(f, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal));
                else if (File.Exists(f)) paths.Add(f);
                else throw new ArgumentException($"'{f}' is neither a file nor a folder.");
            }
            using var client = new StandaloneDicomWebClient(o);
            var r = await client.Client.StoreFilesAsync(paths, p.GetValue(study), null, ct);
            var output = stdout ?? Console.Out;
            foreach (var i in r.Instances)
                await output.WriteLineAsync($"{(i.IsStored ? "stored" : "FAILED")}\t{i.SopInstanceUid ?? "-"}\t{i.SourcePath ?? "-"}{(i.Message is null ? "" : "\t" + i.Message)}");
            await (stderr ?? Console.Error).WriteLineAsync($"{r.StoredCount} of {r.Instances.Count} stored in {r.Requests} requests");
            return r.AllStored ? 0 : 1;
        }));
        return cmd;
    }
}
