using System.Globalization;
using System.Text;
using System.Text.Json;

namespace MedAiNode.Dicom.Json;

public sealed class DicomJsonOptions
{
    /// <summary>Binary values longer than this are written as BulkDataURI when <see cref="BulkDataUri"/> gives one, else InlineBinary.</summary>
    public int InlineBinaryThreshold { get; init; } = int.MaxValue;
    /// <summary>Returns the BulkDataURI for an attribute (tag path from the top), or null to inline it or leave it out.</summary>
    public Func<IReadOnlyList<DicomTag>, DicomAttribute, string?>? BulkDataUri { get; init; }
    /// <summary>Leave Pixel Data out entirely (no BulkDataURI given).</summary>
    public bool OmitPixelData { get; init; }
    public bool Indented { get; init; }
    /// <summary>Resolves a BulkDataURI met when reading; null leaves the element empty with its URI remembered.</summary>
    public Func<string, byte[]?>? ResolveBulkData { get; init; }
}

/// <summary>The DICOM JSON Model of PS3.18 Annex F.2: writes and reads datasets.</summary>
public static class DicomJson
{
    public static string Serialize(DicomDataset ds, DicomJsonOptions? options = null)
    {
        options ??= new DicomJsonOptions();
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = options.Indented, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            Write(w, ds, options);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>Writes an array of datasets, as QIDO-RS and WADO-RS metadata responses carry.</summary>
    public static string SerializeArray(IEnumerable<DicomDataset> datasets, DicomJsonOptions? options = null)
    {
        options ??= new DicomJsonOptions();
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = options.Indented }))
        {
            w.WriteStartArray();
            foreach (var ds in datasets) Write(w, ds, options);
            w.WriteEndArray();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    public static void Write(Utf8JsonWriter w, DicomDataset ds, DicomJsonOptions options) => WriteDataset(w, ds, options, new List<DicomTag>());

    private static void WriteDataset(Utf8JsonWriter w, DicomDataset ds, DicomJsonOptions options, List<DicomTag> path)
    {
        w.WriteStartObject();
        foreach (var a in ds)
        {
            if (a.Tag.Element == 0) continue; // group lengths are encoding details, not part of the JSON model
            if (options.OmitPixelData && a.Tag == DicomTags.PixelData && path.Count == 0) continue;
            path.Add(a.Tag);
            w.WritePropertyName(a.Tag.ToJsonKey());
            w.WriteStartObject();
            w.WriteString("vr", a.VR.Code);
            WriteValue(w, ds, a, options, path);
            w.WriteEndObject();
            path.RemoveAt(path.Count - 1);
        }
        w.WriteEndObject();
    }

    private static void WriteValue(Utf8JsonWriter w, DicomDataset ds, DicomAttribute a, DicomJsonOptions options, List<DicomTag> path)
    {
        switch (a)
        {
            case DicomSequence s:
                if (s.Items.Count == 0) return;
                w.WriteStartArray("Value");
                foreach (var item in s.Items) WriteDataset(w, item, options, path);
                w.WriteEndArray();
                return;
            case DicomFragmentSequence f:
            {
                var uri = options.BulkDataUri?.Invoke(path, f);
                if (uri is not null) { w.WriteString("BulkDataURI", uri); return; }
                // Inline: fragments are concatenated as PS3.18 F.2.7 describes for encapsulated data.
                using var ms = new MemoryStream();
                foreach (var frag in f.Fragments) ms.Write(frag.GetData().Span);
                w.WriteBase64String("InlineBinary", ms.ToArray());
                return;
            }
        }
        var e = (DicomElement)a;
        if (e.Tag == DicomTags.SpecificCharacterSet)
        {
            // JSON text is Unicode; values are written decoded, so the JSON declares UTF-8 (as DCMTK does).
            w.WriteStartArray("Value");
            w.WriteStringValue("ISO_IR 192");
            w.WriteEndArray();
            return;
        }
        if (e.Length == 0) return;
        var vr = e.VR;
        if (vr.IsBulk)
        {
            var uri = e.Length > options.InlineBinaryThreshold || e.Tag == DicomTags.PixelData ? options.BulkDataUri?.Invoke(path, e) : null;
            if (uri is not null) w.WriteString("BulkDataURI", uri);
            else w.WriteBase64String("InlineBinary", e.Buffer.GetData().Span);
            return;
        }
        var ci = CultureInfo.InvariantCulture;
        w.WriteStartArray("Value");
        switch (vr.Code)
        {
            case "PN":
                foreach (var v in ds.GetStrings(e.Tag))
                {
                    if (v.Length == 0) { w.WriteNullValue(); continue; }
                    var pn = DicomPersonName.Parse(v);
                    w.WriteStartObject();
                    if (pn.Alphabetic.Length > 0) w.WriteString("Alphabetic", pn.Alphabetic);
                    if (pn.Ideographic.Length > 0) w.WriteString("Ideographic", pn.Ideographic);
                    if (pn.Phonetic.Length > 0) w.WriteString("Phonetic", pn.Phonetic);
                    w.WriteEndObject();
                }
                break;
            case "IS":
                foreach (var v in ds.GetStrings(e.Tag))
                {
                    if (long.TryParse(v, NumberStyles.AllowLeadingSign, ci, out var l)) w.WriteNumberValue(l);
                    else if (v.Length == 0) w.WriteNullValue();
                    else w.WriteStringValue(v);
                }
                break;
            case "DS":
                foreach (var v in ds.GetStrings(e.Tag))
                {
                    if (double.TryParse(v, NumberStyles.Float, ci, out var d) && double.IsFinite(d)) w.WriteRawValue(NormalizeNumber(v, d));
                    else if (v.Length == 0) w.WriteNullValue();
                    else w.WriteStringValue(v);
                }
                break;
            case "US" or "SS" or "UL" or "SL":
                foreach (var v in ds.GetValues<long>(e.Tag)) w.WriteNumberValue(v);
                break;
            case "UV":
                foreach (var v in ds.GetValues<ulong>(e.Tag))
                    if (v <= 1UL << 53) w.WriteNumberValue(v); else w.WriteStringValue(v.ToString(ci));
                break;
            case "SV":
                foreach (var v in ds.GetValues<long>(e.Tag))
                    if (Math.Abs(v) <= 1L << 53) w.WriteNumberValue(v); else w.WriteStringValue(v.ToString(ci));
                break;
            case "FL" or "FD":
                foreach (var v in ds.GetValues<double>(e.Tag))
                    if (double.IsFinite(v)) w.WriteNumberValue(vr == DicomVR.FL ? double.Parse(((float)v).ToString("R", ci), ci) : v);
                    else w.WriteStringValue(v.ToString(ci));
                break;
            case "AT":
                foreach (var t in ds.GetTags(e.Tag)) w.WriteStringValue(t.ToJsonKey());
                break;
            default:
                foreach (var v in ds.GetStrings(e.Tag))
                    if (v.Length == 0) w.WriteNullValue(); else w.WriteStringValue(v);
                break;
        }
        w.WriteEndArray();
    }

    private static string NormalizeNumber(string text, double value)
    {
        // Keep the sender's digits when they already form a valid JSON number; otherwise print the double.
        var t = text.Trim();
        if (t.StartsWith('+')) t = t[1..];
        if (t.StartsWith('.')) t = "0" + t;
        if (t.StartsWith("-.")) t = "-0" + t[1..];
        if (t.EndsWith('.')) t += "0";
        var ok = t.Length > 0 && (char.IsDigit(t[0]) || t[0] == '-') && !t.Contains(".e", StringComparison.OrdinalIgnoreCase)
                 && !(t.Length > 1 && t[0] == '0' && char.IsDigit(t[1])) && !(t.StartsWith("-0") && t.Length > 2 && char.IsDigit(t[2]));
        return ok ? t : value.ToString("R", CultureInfo.InvariantCulture);
    }

    // ---------------------------------------------------------------- reading

    public static DicomDataset Deserialize(string json, DicomJsonOptions? options = null)
    {
        using var doc = JsonDocument.Parse(json);
        return ReadDataset(doc.RootElement, options ?? new DicomJsonOptions(), null);
    }

    public static List<DicomDataset> DeserializeArray(string json, DicomJsonOptions? options = null)
    {
        using var doc = JsonDocument.Parse(json);
        if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new FormatException("DICOM JSON: expected an array of datasets.");
        return doc.RootElement.EnumerateArray().Select(e => ReadDataset(e, options ?? new DicomJsonOptions(), null)).ToList();
    }

    public static DicomDataset ReadDataset(JsonElement obj, DicomJsonOptions options, DicomDataset? parent)
    {
        if (obj.ValueKind != JsonValueKind.Object) throw new FormatException("DICOM JSON: a dataset must be an object.");
        var ds = new DicomDataset { Parent = parent };
        // Specific Character Set first, so text values that follow are encoded with it.
        var props = obj.EnumerateObject().OrderBy(p => p.Name == "00080005" ? 0 : 1).ToList();
        foreach (var p in props)
        {
            if (!DicomTag.TryParse(p.Name, out var tag) || p.Name.Length != 8)
                throw new FormatException($"DICOM JSON: '{p.Name}' is not an 8-digit tag key.");
            if (!p.Value.TryGetProperty("vr", out var vrProp))
                throw new FormatException($"DICOM JSON: {tag} has no \"vr\".");
            var vr = DicomVR.Parse(vrProp.GetString() ?? "");
            try
            {
                ReadAttribute(ds, tag, vr, p.Value, options);
            }
            catch (Exception e) when (e is not FormatException)
            {
                throw new FormatException($"DICOM JSON: {tag} ({vr}): {e.Message}", e);
            }
        }
        return ds;
    }

    private static void ReadAttribute(DicomDataset ds, DicomTag tag, DicomVR vr, JsonElement attr, DicomJsonOptions options)
    {
        if (attr.TryGetProperty("InlineBinary", out var inline))
        {
            ds.SetBytes(tag, vr, inline.GetBytesFromBase64());
            return;
        }
        if (attr.TryGetProperty("BulkDataURI", out var uri))
        {
            var bytes = options.ResolveBulkData?.Invoke(uri.GetString() ?? "");
            if (bytes is not null) ds.SetBytes(tag, vr, bytes);
            else ds.SetEmpty(tag, vr);
            return;
        }
        if (!attr.TryGetProperty("Value", out var value) || value.GetArrayLength() == 0)
        {
            ds.SetEmpty(tag, vr);
            return;
        }
        var ci = CultureInfo.InvariantCulture;
        switch (vr.Code)
        {
            case "SQ":
                var seq = ds.SetSequence(tag);
                foreach (var item in value.EnumerateArray())
                {
                    var child = ReadDataset(item, options, ds);
                    seq.Items.Add(child);
                }
                return;
            case "PN":
                ds.Set(tag, vr, value.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Null ? "" : new DicomPersonName(
                    v.TryGetProperty("Alphabetic", out var a) ? a.GetString() ?? "" : "",
                    v.TryGetProperty("Ideographic", out var i) ? i.GetString() ?? "" : "",
                    v.TryGetProperty("Phonetic", out var ph) ? ph.GetString() ?? "" : "").ToString()).ToArray());
                return;
            case "AT":
                ds.SetTags(tag, value.EnumerateArray().Select(v => DicomTag.Parse(v.GetString() ?? "")).ToArray());
                return;
        }
        var texts = value.EnumerateArray().Select(v => v.ValueKind switch
        {
            JsonValueKind.Null => "",
            JsonValueKind.Number => v.GetRawText(),
            JsonValueKind.String => v.GetString() ?? "",
            _ => throw new FormatException($"unexpected JSON {v.ValueKind} in a value"),
        }).ToArray();
        if (vr == DicomVR.DS) texts = texts.Select(t => t.Length <= 16 ? t : DicomDataset.FormatDecimal(double.Parse(t, ci))).ToArray();
        ds.Set(tag, vr, texts);
    }
}
