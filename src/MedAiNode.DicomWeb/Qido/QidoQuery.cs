using System.Globalization;
using System.Text;

namespace MedAiNode.DicomWeb.Qido;

public enum QidoLevel
{
    Studies,
    Series,
    Instances,
}

/// <summary>
/// A QIDO-RS search (PS3.18 10.6): the level, the study/series it is scoped to, match keys (keyword or 8-digit tag),
/// includefield, fuzzy matching, and how many results to return at most. Paging is done by the client.
/// </summary>
public sealed class QidoQuery
{
    private readonly List<KeyValuePair<string, string>> _match = new();
    private readonly List<string> _include = new();

    public QidoQuery(QidoLevel level = QidoLevel.Studies) => Level = level;

    public QidoLevel Level { get; set; }
    /// <summary>Scopes a series or instance search to one study (/studies/{uid}/series).</summary>
    public string? StudyInstanceUid { get; set; }
    /// <summary>Scopes an instance search to one series (/studies/{s}/series/{uid}/instances).</summary>
    public string? SeriesInstanceUid { get; set; }
    public bool FuzzyMatching { get; set; }
    /// <summary>Most results to return in all (null: every match, paging through them).</summary>
    public int? Limit { get; set; }
    /// <summary>Results to skip before the first returned.</summary>
    public int Offset { get; set; }

    public IReadOnlyList<KeyValuePair<string, string>> MatchKeys => _match;
    public IReadOnlyList<string> IncludeFields => _include;

    /// <summary>Adds a match key: a keyword (PatientID, ModalitiesInStudy, ...), an 8-digit tag, or a dotted sequence path.</summary>
    public QidoQuery Match(string key, string value)
    {
        _match.Add(new(NormalizeKey(key), value));
        return this;
    }

    public QidoQuery Match(DicomTag tag, string value) => Match(tag.ToJsonKey(), value);

    /// <summary>A DA range, either end open: 20240101-, -20241231, 20240101-20241231.</summary>
    public QidoQuery MatchDateRange(DicomTag tag, DateOnly? from, DateOnly? to)
    {
        if (from is null && to is null) throw new ArgumentException("A date range needs at least one end.");
        if (from > to) throw new ArgumentException($"Date range {from:yyyy-MM-dd} to {to:yyyy-MM-dd} is reversed.");
        var ci = CultureInfo.InvariantCulture;
        return Match(tag, $"{from?.ToString("yyyyMMdd", ci)}-{to?.ToString("yyyyMMdd", ci)}");
    }

    public QidoQuery Include(string field)
    {
        _include.Add(field == "all" ? field : NormalizeKey(field));
        return this;
    }

    public QidoQuery Include(DicomTag tag) => Include(tag.ToJsonKey());

    private static string NormalizeKey(string key)
    {
        key = key.Trim();
        foreach (var part in key.Split('.'))
        {
            if (part.Length == 8 && part.All(char.IsAsciiHexDigit)) continue;
            if (DicomDictionary.FindByKeyword(part) is null)
                throw new ArgumentException($"QIDO key '{key}': '{part}' is neither a DICOM keyword nor an 8-digit tag.");
        }
        return key;
    }

    /// <summary>The relative resource path for this level and scope.</summary>
    public string ResourcePath()
    {
        var sb = new StringBuilder();
        if (StudyInstanceUid is not null)
        {
            if (Level == QidoLevel.Studies) throw new InvalidOperationException("A study-level search cannot be scoped to a study; match StudyInstanceUID instead.");
            sb.Append("studies/").Append(UidSyntax.Require(StudyInstanceUid, "StudyInstanceUID")).Append('/');
            if (SeriesInstanceUid is not null)
            {
                if (Level != QidoLevel.Instances) throw new InvalidOperationException("Only an instance search can be scoped to a series.");
                sb.Append("series/").Append(UidSyntax.Require(SeriesInstanceUid, "SeriesInstanceUID")).Append('/');
            }
        }
        else if (SeriesInstanceUid is not null) throw new InvalidOperationException("A series scope needs the study too.");
        sb.Append(Level switch { QidoLevel.Studies => "studies", QidoLevel.Series => "series", _ => "instances" });
        return sb.ToString();
    }

    /// <summary>The relative URL for one page: resource path and query string.</summary>
    public string ToRelativeUrl(int offset, int? limit)
    {
        var q = new List<string>();
        foreach (var (k, v) in _match) q.Add(Uri.EscapeDataString(k) + "=" + Uri.EscapeDataString(v));
        foreach (var f in _include) q.Add("includefield=" + Uri.EscapeDataString(f));
        if (FuzzyMatching) q.Add("fuzzymatching=true");
        if (limit is { } l) q.Add("limit=" + l.ToString(CultureInfo.InvariantCulture));
        if (offset > 0) q.Add("offset=" + offset.ToString(CultureInfo.InvariantCulture));
        return q.Count == 0 ? ResourcePath() : ResourcePath() + "?" + string.Join('&', q);
    }
}
