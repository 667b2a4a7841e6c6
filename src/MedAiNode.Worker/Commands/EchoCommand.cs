using System.Diagnostics;
using MedAiNode.Dicom.Network.Client;
using MedAiNode.Dicom.Network.Dimse;

namespace MedAiNode.Worker.Commands;

/// <summary>`medainode echo --host --port --called --calling`: C-ECHO (Verification) against an SCP.</summary>
public static class EchoCommand
{
    public static Command Create()
    {
        var net = new NetworkCommandOptions();
        var count = new Option<int>("--repeat") { Description = "Number of C-ECHO requests on the association.", DefaultValueFactory = _ => 1 };
        var cmd = new Command("echo", "Check DICOM connectivity with an SCP (C-ECHO).");
        net.AddTo(cmd);
        cmd.Options.Add(count);
        cmd.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            try
            {
                var o = net.Build(parse);
                var sw = Stopwatch.StartNew();
                await using var a = await DicomClient.ConnectAsync(o, [DicomClient.Context(1, DicomUids.Verification)], ct);
                var assocMs = sw.Elapsed.TotalMilliseconds;
                var failed = 0;
                for (var i = 0; i < Math.Max(1, parse.GetValue(count)); i++)
                {
                    sw.Restart();
                    var status = await a.EchoAsync(ct);
                    output.WriteLine($"C-ECHO {o.CalledAE}@{o.Host}:{o.Port}: {DimseStatus.Describe(status)} ({sw.Elapsed.TotalMilliseconds:0.0} ms; association {assocMs:0.0} ms{(o.UseTls ? ", TLS" : "")})");
                    if (status != DimseStatus.Success) failed++;
                }
                await a.ReleaseAsync(ct);
                return failed == 0 ? 0 : 1;
            }
            catch (Exception e) when (NetworkCommandOptions.Explain(e) is { } why)
            {
                error.WriteLine($"medainode echo: {why}");
                return e is MedAiNode.Dicom.Network.Services.NetworkOptionsException ? 2 : 1;
            }
        });
        return cmd;
    }
}
