namespace MedAiNode.Inference.SlidingWindow;

/// <summary>
/// A volume-sized float map whose pages (64 Ki values, 256 KiB) are allocated on their first write: the probabilities of
/// a head CT's lesion classes touch a few pages of the 32 MiB a whole map would hold. An unwritten value reads as absent,
/// not as 0.
/// </summary>
public sealed class PagedFloats(long length)
{
    private const int Shift = 16;
    private const long Mask = (1L << Shift) - 1;
    private readonly float[]?[] _pages = new float[]?[(length + Mask) >> Shift];

    public long Length => length;

    /// <summary>Pages allocated so far (each <see cref="PageLength"/> values).</summary>
    public int PagesAllocated => _pages.Count(p => p is not null);

    public const int PageLength = 1 << Shift;

    public float this[long i]
    {
        set
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((ulong)i, (ulong)length, nameof(i));
            (_pages[i >> Shift] ??= new float[PageLength])[i & Mask] = value;
        }
    }

    /// <summary>The value at <paramref name="i"/> when its page was written to (a value never set on a written page reads 0).</summary>
    public bool TryGet(long i, out float value)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((ulong)i, (ulong)length, nameof(i));
        var page = _pages[i >> Shift];
        value = page is null ? 0 : page[i & Mask];
        return page is not null;
    }
}
