namespace MedAiNode.Dicom;

/// <summary>A concept modifier of a measurement (PS3.16 TID 1419 rows), e.g. (Measurement Method, Sum of segmented voxel volumes).</summary>
public sealed record ConceptModifier(CodedConcept Name, CodedConcept Value);

/// <summary>
/// One number a model's analysis measured, as data: what it is (a coded concept), its value and UCUM unit, and the
/// region it was measured on. An SR NUM item is written from exactly this, whatever model produced it.
/// </summary>
public sealed record Measurement(CodedConcept Concept, double Value, CodedConcept Unit)
{
    /// <summary>The manifest's id for it (e.g. "laa950"), for measurements.json and logs.</summary>
    public string Id { get; init; } = "";
    /// <summary>A person's name for it (e.g. "Lung volume"); the concept's meaning when empty.</summary>
    public string Name { get; init; } = "";
    /// <summary>The label values (segments) the region is made of: one for a per-segment measurement, several for their union.</summary>
    public IReadOnlyList<int> Labels { get; init; } = [];
    /// <summary>1, 2, ... when the region is one lesion (connected component) of <see cref="Labels"/>; null for the whole region.</summary>
    public int? Lesion { get; init; }
    public IReadOnlyList<ConceptModifier> Modifiers { get; init; } = [];

    public string DisplayName => Name.Length > 0 ? Name : Concept.Meaning;
}
