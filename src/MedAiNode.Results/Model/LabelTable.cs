using System.Text.Json;
using System.Text.Json.Serialization;

namespace MedAiNode.Results;

/// <summary>
/// A model's label table: the algorithm and one row per label value. Loaded from the JSON that ships beside a model:
/// <code>
/// { "algorithm": { "name": "TotalSegmentator", "version": "2.4", "modelSha256": "..." },
///   "segments": [ { "number": 1, "label": "Spleen",
///                   "category": { "value": "123037004", "scheme": "SCT", "meaning": "Anatomical Structure" },
///                   "type": { "value": "78961009", "scheme": "SCT", "meaning": "Spleen" },
///                   "anatomicRegion": null, "color": [157, 108, 162] } ] }
/// </code>
/// </summary>
public sealed record LabelTable(AlgorithmInfo Algorithm, IReadOnlyList<SegmentDescription> Segments)
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNameCaseInsensitive = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    public static LabelTable Load(string path) => Parse(File.ReadAllText(path), path);

    /// <summary>Parses and checks a label table; errors name the JSON path of the offending value.</summary>
    public static LabelTable Parse(string json, string? source = null)
    {
        var where = source is null ? "label table" : $"label table {source}";
        Dto? dto;
        try { dto = JsonSerializer.Deserialize<Dto>(json, Json); }
        catch (JsonException e) { throw new ResultsInputException($"{where}: not valid JSON ({e.Message})."); }
        if (dto is null) throw new ResultsInputException($"{where}: empty.");
        if (dto.Algorithm is null) throw new ResultsInputException($"{where}: 'algorithm' is missing.");
        Require(dto.Algorithm.Name, where, "algorithm.name");
        Require(dto.Algorithm.Version, where, "algorithm.version");
        if (dto.Algorithm.ModelSha256 is { } h && (h.Length != 64 || !h.All(Uri.IsHexDigit)))
            throw new ResultsInputException($"{where}: 'algorithm.modelSha256' must be 64 hex digits.");
        if (dto.Segments is not { Count: > 0 }) throw new ResultsInputException($"{where}: 'segments' is missing or empty.");
        var segments = new List<SegmentDescription>();
        for (var i = 0; i < dto.Segments.Count; i++)
        {
            var s = dto.Segments[i];
            var at = $"segments[{i}]";
            if (s.Number is < 1 or > 255) throw new ResultsInputException($"{where}: '{at}.number' must be 1..255 (was {s.Number}).");
            Require(s.Label, where, at + ".label");
            if (s.Color is not null && (s.Color.Length != 3 || s.Color.Any(v => v is < 0 or > 255)))
                throw new ResultsInputException($"{where}: '{at}.color' must be [r, g, b] with each 0..255.");
            segments.Add(new SegmentDescription
            {
                Number = s.Number,
                Label = s.Label!,
                Category = Code(s.Category, where, at + ".category") ?? throw new ResultsInputException($"{where}: '{at}.category' is missing."),
                Type = Code(s.Type, where, at + ".type") ?? throw new ResultsInputException($"{where}: '{at}.type' is missing."),
                AnatomicRegion = Code(s.AnatomicRegion, where, at + ".anatomicRegion"),
                Color = s.Color is { } c ? DicomCieLab.FromRgb((byte)c[0], (byte)c[1], (byte)c[2]) : null,
                TrackingId = s.TrackingId,
            });
        }
        var dupe = segments.GroupBy(s => s.Number).FirstOrDefault(g => g.Count() > 1);
        if (dupe is not null) throw new ResultsInputException($"{where}: segment number {dupe.Key} appears twice.");
        return new LabelTable(new AlgorithmInfo(dto.Algorithm.Name!, dto.Algorithm.Version!, dto.Algorithm.ModelSha256), segments);
    }

    private static void Require(string? v, string where, string at)
    {
        if (string.IsNullOrWhiteSpace(v)) throw new ResultsInputException($"{where}: '{at}' is missing or empty.");
    }

    private static CodedConcept? Code(CodeDto? c, string where, string at)
    {
        if (c is null) return null;
        Require(c.Value, where, at + ".value");
        Require(c.Scheme, where, at + ".scheme");
        Require(c.Meaning, where, at + ".meaning");
        return new CodedConcept(c.Value!, c.Scheme!, c.Meaning!);
    }

    private sealed class Dto
    {
        public AlgorithmDto? Algorithm { get; set; }
        public List<SegmentDto>? Segments { get; set; }
    }

    private sealed class AlgorithmDto
    {
        public string? Name { get; set; }
        public string? Version { get; set; }
        public string? ModelSha256 { get; set; }
    }

    private sealed class SegmentDto
    {
        public int Number { get; set; }
        public string? Label { get; set; }
        public CodeDto? Category { get; set; }
        public CodeDto? Type { get; set; }
        public CodeDto? AnatomicRegion { get; set; }
        public int[]? Color { get; set; }
        public string? TrackingId { get; set; }
    }

    private sealed class CodeDto
    {
        public string? Value { get; set; }
        public string? Scheme { get; set; }
        public string? Meaning { get; set; }
    }
}
