using System.Globalization;
using System.Xml.Linq;
using MedAiNode.DicomWeb.Multipart;

namespace MedAiNode.DicomWeb.Stow;

/// <summary>One SOP Instance named by a STOW-RS response.</summary>
public sealed record StowResponseItem(string? SopClassUid, string? SopInstanceUid, ushort? FailureReason, ushort? WarningReason, string? RetrieveUrl);

/// <summary>The parsed STOW-RS response dataset (PS3.18 10.5.3): stored, failed and other failures.</summary>
public sealed record StowResponse(List<StowResponseItem> Referenced, List<StowResponseItem> Failed, List<ushort> OtherFailures, ushort? WarningReason, string? RetrieveUrl)
{
    /// <summary>Reads a response body in DICOM JSON or the Native DICOM Model XML (PS3.19), chosen by the media type.</summary>
    public static StowResponse Parse(string body, string? mediaType)
    {
        if (string.IsNullOrWhiteSpace(body)) throw new DicomWebProtocolException("empty STOW-RS response body.");
        var isXml = mediaType is not null && (mediaType.Contains("xml", StringComparison.OrdinalIgnoreCase))
                    || mediaType is null && body.TrimStart().StartsWith('<');
        DicomDataset ds;
        try
        {
            ds = isXml ? NativeDicomModel.Parse(body) : Dicom.Json.DicomJson.Deserialize(body);
        }
        catch (Exception e) when (e is FormatException or System.Text.Json.JsonException or System.Xml.XmlException or ArgumentException)
        {
            throw new DicomWebProtocolException($"unreadable STOW-RS response ({mediaType ?? "no media type"}): {e.Message}", e);
        }
        return FromDataset(ds);
    }

    public static StowResponse FromDataset(DicomDataset ds)
    {
        static List<StowResponseItem> Items(DicomDataset ds, DicomTag seq) =>
            ds.GetSequence(seq)?.Items.Select(i => new StowResponseItem(
                NullIfEmpty(i.GetString(DicomTags.ReferencedSOPClassUID)),
                NullIfEmpty(i.GetString(DicomTags.ReferencedSOPInstanceUID)),
                i.GetValueOrNull<ushort>(DicomTags.FailureReason),
                i.GetValueOrNull<ushort>(DicomTags.WarningReason),
                NullIfEmpty(i.GetString(DicomTags.RetrieveURL)))).ToList() ?? new();
        var other = ds.GetSequence(DicomTags.OtherFailuresSequence)?.Items
            .Select(i => i.GetValueOrNull<ushort>(DicomTags.FailureReason) ?? 0x0110).ToList() ?? new();
        return new StowResponse(Items(ds, DicomTags.ReferencedSOPSequence), Items(ds, DicomTags.FailedSOPSequence), other,
            ds.GetValueOrNull<ushort>(DicomTags.WarningReason), NullIfEmpty(ds.GetString(DicomTags.RetrieveURL)));
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}

/// <summary>Reads the subset of the PS3.19 Native DICOM Model that STOW-RS responses use (UI, US, UR, CS, LO, SQ ...).</summary>
internal static class NativeDicomModel
{
    public static DicomDataset Parse(string xml)
    {
        var doc = XDocument.Parse(xml, LoadOptions.None);
        var root = doc.Root ?? throw new FormatException("XML without a root element.");
        if (root.Name.LocalName != "NativeDicomModel") throw new FormatException($"expected <NativeDicomModel>, found <{root.Name.LocalName}>.");
        return ReadDataset(root);
    }

    private static DicomDataset ReadDataset(XElement parent)
    {
        var ds = new DicomDataset();
        foreach (var attr in parent.Elements().Where(e => e.Name.LocalName == "DicomAttribute"))
        {
            var tagText = (string?)attr.Attribute("tag") ?? throw new FormatException("<DicomAttribute> without tag.");
            if (!DicomTag.TryParse(tagText, out var tag) || tagText.Length != 8) throw new FormatException($"bad tag '{tagText}'.");
            var vrText = (string?)attr.Attribute("vr") ?? DicomDictionary.GetVR(tag).Code;
            var vr = DicomVR.Parse(vrText);
            if (vr == DicomVR.SQ)
            {
                var seq = ds.SetSequence(tag);
                foreach (var item in attr.Elements().Where(e => e.Name.LocalName == "Item")
                             .OrderBy(e => int.TryParse((string?)e.Attribute("number"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0))
                    ds.AddItem(tag, ReadDataset(item));
                continue;
            }
            var values = attr.Elements().Where(e => e.Name.LocalName == "Value")
                .OrderBy(e => int.TryParse((string?)e.Attribute("number"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0)
                .Select(e => e.Value.Trim()).ToArray();
            if (values.Length == 0) { ds.SetEmpty(tag, vr); continue; }
            switch (vr.Code)
            {
                case "US": ds.Set(tag, vr, values.Select(v => ushort.Parse(v, CultureInfo.InvariantCulture)).ToArray()); break;
                case "SS": ds.Set(tag, vr, values.Select(v => short.Parse(v, CultureInfo.InvariantCulture)).ToArray()); break;
                case "UL": ds.Set(tag, vr, values.Select(v => uint.Parse(v, CultureInfo.InvariantCulture)).ToArray()); break;
                case "SL": ds.Set(tag, vr, values.Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray()); break;
                case "FL": ds.Set(tag, vr, values.Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray()); break;
                case "FD": ds.Set(tag, vr, values.Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()); break;
                case "PN":
                    ds.Set(tag, vr, attr.Elements().Where(e => e.Name.LocalName == "PersonName")
                        .Select(p => p.Elements().FirstOrDefault(e => e.Name.LocalName == "Alphabetic") is { } a
                            ? string.Join('^', a.Elements().Select(c => c.Value)) : "").ToArray());
                    break;
                default: ds.Set(tag, vr, values); break;
            }
        }
        return ds;
    }
}
