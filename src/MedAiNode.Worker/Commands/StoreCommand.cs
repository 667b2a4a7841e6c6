using System.Diagnostics;
using MedAiNode.Dicom.Codecs;
using MedAiNode.Dicom.IO;
using MedAiNode.Dicom.Network.Client;
using MedAiNode.Dicom.Network.Dimse;

namespace MedAiNode.Worker.Commands;

/// <summary>`medainode store FILES... --host --port --called --calling`: sends files (folders are searched) with C-STORE.</summary>
public static class StoreCommand
{
    /// <param name="codecs">Decodes frames when an SCP refuses a file's compressed syntax and it must be transcoded
    /// (the host's codec registry); null sends files only in syntaxes the SCP accepts as they are.</param>
    public static Command Create(IDicomFrameDecoder? codecs = null)
    {
        Func<DicomFile, DicomTransferSyntax, DicomFile>? transcoder = codecs is null ? null : (file, ts) => DicomTranscoder.Transcode(file, ts, codecs);
        var net = new NetworkCommandOptions();
        var files = new Argument<string[]>("files") { Description = "DICOM files or folders (searched recursively).", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("store", "Send DICOM files to an SCP (C-STORE).") { files };
        net.AddTo(cmd);
        cmd.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var paths = new List<string>();
            foreach (var f in parse.GetValue(files)!)
            {
                if (Directory.Exists(f)) paths.AddRange(Directory.EnumerateFiles(f, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal));
                else if (File.Exists(f)) paths.Add(f);
                else
                {
                    error.WriteLine($"medainode store: {f}: no such file or folder");
                    return 2;
                }
            }
            // Headers only, to choose the presentation contexts; unreadable files are reported and skipped.
            var headers = new List<(string Path, string SopClass, string Ts)>();
            var failed = 0;
            foreach (var p in paths)
            {
                try
                {
                    var h = DicomFile.Open(p, new DicomReadOptions { StopBeforePixelData = true });
                    var sopClass = h.Dataset.GetString(DicomTags.SOPClassUID) is { Length: > 0 } c ? c : h.FileMetaInfo.GetStringOrDefault(DicomTags.MediaStorageSOPClassUID);
                    if (sopClass.Length == 0) throw new DicomFormatException("no SOP Class UID");
                    headers.Add((p, sopClass, h.TransferSyntax.Uid));
                }
                catch (Exception e) when (e is DicomFormatException or IOException or UnauthorizedAccessException)
                {
                    error.WriteLine($"medainode store: {p}: not sent, {e.Message}");
                    failed++;
                }
            }
            if (headers.Count == 0) return failed > 0 ? 1 : 2;
            try
            {
                var o = net.Build(parse);
                var sw = Stopwatch.StartNew();
                long bytes = 0;
                var sent = 0;
                // At most 32 SOP classes per association keeps the proposal under the 128-context limit for ordinary files.
                foreach (var group in headers.GroupBy(h => h.SopClass).Chunk(32))
                {
                    var batch = group.SelectMany(g => g).ToList();
                    await using var a = await DicomClient.ConnectAsync(o, DicomClient.StorageProposals(batch.Select(b => (b.SopClass, b.Ts))), ct);
                    a.Transcoder = transcoder;
                    foreach (var item in batch)
                    {
                        StoreResult r;
                        try { r = await a.StoreAsync(item.Path, ct); }
                        catch (Exception e) when (e is DicomFormatException or InvalidDataException)
                        {
                            error.WriteLine($"medainode store: {item.Path}: not sent, {e.Message}");
                            failed++;
                            continue;
                        }
                        if (r.Success)
                        {
                            sent++;
                            bytes += new FileInfo(item.Path).Length;
                            if (r.Status != DimseStatus.Success) output.WriteLine($"{item.Path}: {DimseStatus.Describe(r.Status)} {r.ErrorComment}");
                        }
                        else
                        {
                            failed++;
                            error.WriteLine($"medainode store: {item.Path}: {DimseStatus.Describe(r.Status)}{(r.ErrorComment is null ? "" : ": " + r.ErrorComment)}");
                        }
                    }
                    await a.ReleaseAsync(ct);
                }
                var s = sw.Elapsed.TotalSeconds;
                output.WriteLine($"Sent {sent} of {paths.Count} files to {o.CalledAE}@{o.Host}:{o.Port} ({bytes / 1e6:0.0} MB in {s:0.00} s, {bytes / 1e6 / Math.Max(s, 1e-6):0.0} MB/s){(failed > 0 ? $"; {failed} failed" : "")}");
                return failed == 0 ? 0 : 1;
            }
            catch (Exception e) when (NetworkCommandOptions.Explain(e) is { } why)
            {
                error.WriteLine($"medainode store: {why}");
                return e is MedAiNode.Dicom.Network.Services.NetworkOptionsException ? 2 : 1;
            }
        });
        return cmd;
    }
}
