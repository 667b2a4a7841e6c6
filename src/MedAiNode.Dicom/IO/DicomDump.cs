using System.Text;

namespace MedAiNode.Dicom.IO;

/// <summary>A readable listing of a dataset in the style of DCMTK's dcmdump.</summary>
public static class DicomDump
{
    public static string Format(DicomFile file, int maxValueChars = 64)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# File Meta Information");
        Append(sb, file.FileMetaInfo, 0, maxValueChars);
        sb.AppendLine($"# Dataset ({file.TransferSyntax.Name})");
        Append(sb, file.Dataset, 0, maxValueChars);
        return sb.ToString();
    }

    public static void Append(StringBuilder sb, DicomDataset ds, int depth, int maxValueChars)
    {
        var indent = new string(' ', depth * 2);
        foreach (var a in ds)
        {
            var keyword = DicomDictionary.GetKeyword(a.Tag);
            switch (a)
            {
                case DicomSequence s:
                    sb.AppendLine($"{indent}{a.Tag} SQ ({s.Items.Count} item{(s.Items.Count == 1 ? "" : "s")})  # {keyword}");
                    for (var i = 0; i < s.Items.Count; i++)
                    {
                        sb.AppendLine($"{indent}  (FFFE,E000) item {i + 1}");
                        Append(sb, s.Items[i], depth + 2, maxValueChars);
                    }
                    break;
                case DicomFragmentSequence f:
                    sb.AppendLine($"{indent}{a.Tag} {a.VR} (encapsulated: offset table {f.OffsetTable.Length / 4} entries, {f.Fragments.Count} fragments, {f.Fragments.Sum(x => (long)x.Length)} bytes)  # {keyword}");
                    break;
                case DicomElement e:
                    string value;
                    if (e.VR.IsBulk) value = $"({e.Length} bytes)";
                    else
                    {
                        try
                        {
                            var vm = ds.GetStrings(e.Tag);
                            value = "[" + string.Join('\\', vm) + "]";
                        }
                        catch (Exception ex) when (ex is ArgumentException or FormatException or NotSupportedException)
                        {
                            value = $"(undecodable: {ex.Message})";
                        }
                    }
                    if (value.Length > maxValueChars) value = value[..(maxValueChars - 3)] + "...";
                    sb.AppendLine($"{indent}{a.Tag} {a.VR} {value}  # {e.Length}, {keyword}");
                    break;
            }
        }
    }
}
