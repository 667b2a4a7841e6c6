using System.Text.Json;
using System.Text.Json.Serialization;

namespace MedAiNode.Worker.Intake;

/// <summary>What polling knows of one study on one PACS.</summary>
public sealed class PolledStudy
{
    public string Uid { get; set; } = "";
    /// <summary>StudyDate as the PACS gave it (YYYYMMDD), or "" when it gave none; entries dated before every query window are pruned.</summary>
    public string Date { get; set; } = "";
    /// <summary>NumberOfStudyRelatedInstances on the PACS when the study was last fetched whole (or seen, for a baseline
    /// entry); null when unknown. A larger count later means new instances or series arrived: the study is fetched again.</summary>
    public int? Count { get; set; }
    /// <summary>Instances the last successful fetch received.</summary>
    public int Received { get; set; }
    /// <summary>Instances fetched per series of the polled modalities: when the study's count grows, only the series of
    /// those modalities that are new or grew are fetched (our own SEG and SR sent back to the PACS grow it too).</summary>
    public Dictionary<string, int>? Series { get; set; }
    /// <summary>Fetched whole (the count matched); false while it still has to be (again).</summary>
    public bool Done { get; set; }
    /// <summary>Already on the PACS, dated before the first poll's window, when polling started: not fetched unless it grows.</summary>
    public bool Baseline { get; set; }
    /// <summary>Failed fetches since the last success.</summary>
    public int Attempts { get; set; }
    /// <summary>Given up after Intake:MaxFetchAttempts failures; tried again only when its instance count changes.</summary>
    public bool GaveUp { get; set; }
    public DateTimeOffset Seen { get; set; }
}

/// <summary>
/// The polling state of one PACS, kept in Store:Root as an append-only journal (<c>qido-{pacs}.jsonl</c>): each change
/// of a study appends one line, so recording a fetch costs the same however many studies are known (the former cursor
/// rewrote its whole fetched-UID set after every study). Loading replays the lines (the last for a UID wins, a torn last
/// line is ignored); the file is rewritten compactly when it holds far more lines than studies. Entries leave the
/// ledger when they can no longer match any query window (<see cref="Prune"/>), so its size follows the studies dated
/// within the sweep window, not every study ever polled.
/// </summary>
public sealed class PollLedger
{
    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
    private readonly Dictionary<string, PolledStudy> _studies = new(StringComparer.Ordinal);
    private int _lines;

    private PollLedger(string path) => Path = path;

    public string Path { get; }
    public int Count => _studies.Count;
    /// <summary>True when no poll of this PACS ever ran (no journal): the first poll records a baseline.</summary>
    public bool IsNew { get; private set; }
    /// <summary>Lines in the journal file (for tests of compaction).</summary>
    public int Lines => _lines;
    public DateTimeOffset? LastSweep { get; private set; }

    public PolledStudy? Get(string uid) => _studies.TryGetValue(uid, out var s) ? s : null;
    public IEnumerable<PolledStudy> All => _studies.Values;

    public static PollLedger Load(string path, string? legacyCursorPath, Action<string>? warn = null)
    {
        var ledger = new PollLedger(path);
        if (File.Exists(path))
        {
            foreach (var line in File.ReadLines(path))
            {
                ledger._lines++;
                if (line.Length == 0) continue;
                try
                {
                    using var doc = JsonDocument.Parse(line);
                    if (doc.RootElement.TryGetProperty("Sweep", out var sweep)) { ledger.LastSweep = sweep.GetDateTimeOffset(); continue; }
                    var s = doc.RootElement.Deserialize<PolledStudy>(Json);
                    if (s is null || s.Uid.Length == 0) continue;
                    ledger._studies[s.Uid] = s;
                }
                catch (JsonException)
                {
                    warn?.Invoke($"poll journal {System.IO.Path.GetFileName(path)}: line {ledger._lines} unreadable (a write cut short); ignored");
                }
            }
            ledger.Compact(force: false);
            return ledger;
        }
        ledger.IsNew = true;
        if (legacyCursorPath is not null && File.Exists(legacyCursorPath))
        {
            // The former cursor: a date and every UID ever fetched. Those are taken as fetched, with no count to compare.
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(legacyCursorPath));
                if (doc.RootElement.TryGetProperty("Fetched", out var fetched))
                    foreach (var u in fetched.EnumerateArray())
                        if (u.GetString() is { Length: > 0 } uid) ledger._studies[uid] = new PolledStudy { Uid = uid, Done = true, Seen = DateTimeOffset.UtcNow };
                ledger.IsNew = false;
            }
            catch (JsonException e) { warn?.Invoke($"former poll cursor unreadable ({e.Message}); starting over"); }
            ledger.Compact(force: true);
            File.Delete(legacyCursorPath);
        }
        return ledger;
    }

    /// <summary>Records a change of one study: one line appended.</summary>
    public void Put(PolledStudy s)
    {
        _studies[s.Uid] = s;
        Append(JsonSerializer.Serialize(s, Json));
    }

    public void MarkSweep(DateTimeOffset when)
    {
        LastSweep = when;
        Append(JsonSerializer.Serialize(new { Sweep = when }));
        IsNew = false;
    }

    /// <summary>Drops the entries <paramref name="drop"/> selects (they can match no future query) and compacts.</summary>
    public int Prune(Func<PolledStudy, bool> drop)
    {
        var gone = _studies.Values.Where(drop).Select(s => s.Uid).ToList();
        foreach (var uid in gone) _studies.Remove(uid);
        if (gone.Count > 0) Compact(force: true);
        return gone.Count;
    }

    private void Append(string line)
    {
        using (var fs = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read))
        using (var w = new StreamWriter(fs))
            w.Write(line + "\n");
        _lines++;
        Compact(force: false);
    }

    private void Compact(bool force)
    {
        if (!force && _lines <= 2 * _studies.Count + 64) return;
        var tmp = Path + ".tmp";
        using (var w = new StreamWriter(new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None)))
        {
            if (LastSweep is { } ls) w.Write(JsonSerializer.Serialize(new { Sweep = ls }) + "\n");
            foreach (var s in _studies.Values) w.Write(JsonSerializer.Serialize(s, Json) + "\n");
        }
        File.Move(tmp, Path, overwrite: true);
        _lines = _studies.Count + (LastSweep is null ? 0 : 1);
    }
}
