using MedAiNode.Dicom.IO;
using MedAiNode.Dicom.Json;

namespace MedAiNode.Worker.Commands;

/// <summary>`medainode dump FILE [--json]`: a file's dataset as a dcmdump-like tree or as DICOM JSON.</summary>
internal static class DumpCommand
{
    public static Command Create()
    {
        var file = new Argument<FileInfo>("file") { Description = "A DICOM file (Part 10, or a bare dataset)." };
        var json = new Option<bool>("--json") { Description = "Print DICOM JSON (PS3.18 F.2); Pixel Data as a BulkDataURI." };
        var all = new Option<bool>("--full") { Description = "Do not shorten long values in the tree." };
        var cmd = new Command("dump", "Print a DICOM file's contents.") { file, json, all };
        cmd.SetAction(parse =>
        {
            var f = parse.GetValue(file)!;
            try
            {
                var dcm = DicomFile.Open(f.FullName);
                if (parse.GetValue(json))
                {
                    var uri = new Uri(f.FullName).AbsoluteUri;
                    Console.Out.WriteLine(DicomJson.Serialize(dcm.Dataset, new DicomJsonOptions
                    {
                        Indented = true,
                        BulkDataUri = (path, a) => path.Count == 1 && a.Tag == DicomTags.PixelData ? uri + "#7FE00010" : null,
                    }));
                }
                else Console.Out.Write(DicomDump.Format(dcm, parse.GetValue(all) ? int.MaxValue : 72));
                return 0;
            }
            catch (Exception e) when (e is DicomFormatException or IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"medainode dump: {f.Name}: {e.Message}");
                return 2;
            }
        });
        return cmd;
    }
}
