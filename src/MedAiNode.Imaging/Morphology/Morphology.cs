using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Volumes;

namespace MedAiNode.Imaging.Morphology;

public enum Connectivity { Faces6 = 6, Full26 = 26 }

/// <summary>Result of connected-component labelling: component id per voxel (0 = background) and the size of each.</summary>
public sealed record Components(int[] Labels, long[] Sizes, Dims Dims)
{
    /// <summary>Number of components; ids run 1..Count, largest first.</summary>
    public int Count => Sizes.Length - 1;
}

/// <summary>Components of one label (<see cref="BinaryMorphology.ComponentsOf"/>): component c's voxel indices are
/// <c>Voxels[Starts[c]..Starts[c + 1]]</c>.</summary>
public sealed record LabelComponents(int[] Voxels, int[] Starts)
{
    public int Count => Starts.Length - 1;
    public int Size(int c) => Starts[c + 1] - Starts[c];
    public ReadOnlySpan<int> Of(int c) => Voxels.AsSpan(Starts[c], Size(c));
}

/// <summary>Binary morphology and connected components on masks (any non-zero byte is foreground).</summary>
public static class BinaryMorphology
{
    private static readonly (int, int, int)[] N6 = [(-1, 0, 0), (1, 0, 0), (0, -1, 0), (0, 1, 0), (0, 0, -1), (0, 0, 1)];
    private static readonly (int, int, int)[] N26 = Enumerable.Range(0, 27).Select(i => (i % 3 - 1, i / 3 % 3 - 1, i / 9 - 1)).Where(o => o != (0, 0, 0)).ToArray();

    private static (int, int, int)[] Offsets(Connectivity c) => c == Connectivity.Faces6 ? N6 : N26;

    /// <summary>Labels connected foreground components, numbered by decreasing size.</summary>
    public static Components Label(ReadOnlySpan<byte> mask, Dims d, Connectivity connectivity = Connectivity.Full26)
    {
        var labels = new int[d.Count];
        var sizes = new List<long> { 0 };
        var queue = new Queue<long>();
        var offs = Offsets(connectivity);
        var next = 0;
        for (long start = 0; start < mask.Length; start++)
        {
            if (mask[(int)start] == 0 || labels[start] != 0) continue;
            next++;
            long size = 0;
            labels[start] = next;
            queue.Enqueue(start);
            while (queue.Count > 0)
            {
                var v = queue.Dequeue();
                size++;
                var z = (int)(v / ((long)d.X * d.Y)); var rem = v - (long)z * d.X * d.Y; var y = (int)(rem / d.X); var x = (int)(rem - (long)y * d.X);
                foreach (var (ox, oy, oz) in offs)
                {
                    int nx = x + ox, ny = y + oy, nz = z + oz;
                    if (!d.Contains(nx, ny, nz)) continue;
                    var ni = d.Index(nx, ny, nz);
                    if (mask[(int)ni] == 0 || labels[ni] != 0) continue;
                    labels[ni] = next;
                    queue.Enqueue(ni);
                }
            }
            sizes.Add(size);
        }
        // Renumber by size so component 1 is the largest.
        var order = Enumerable.Range(1, next).OrderByDescending(i => sizes[i]).ToArray();
        var remap = new int[next + 1];
        for (var r = 0; r < order.Length; r++) remap[order[r]] = r + 1;
        for (long i = 0; i < labels.LongLength; i++) labels[i] = remap[labels[i]];
        var sorted = new long[next + 1];
        for (var r = 0; r < order.Length; r++) sorted[r + 1] = sizes[order[r]];
        return new Components(labels, sorted, d);
    }

    public static byte[] Dilate(ReadOnlySpan<byte> mask, Dims d, Connectivity c = Connectivity.Faces6, int iterations = 1)
    {
        var cur = mask.ToArray();
        for (var it = 0; it < iterations; it++) cur = Step(cur, d, c, dilate: true);
        return cur;
    }

    public static byte[] Erode(ReadOnlySpan<byte> mask, Dims d, Connectivity c = Connectivity.Faces6, int iterations = 1)
    {
        var cur = mask.ToArray();
        for (var it = 0; it < iterations; it++) cur = Step(cur, d, c, dilate: false);
        return cur;
    }

    public static byte[] Open(ReadOnlySpan<byte> mask, Dims d, Connectivity c = Connectivity.Faces6, int iterations = 1) =>
        Dilate(Erode(mask, d, c, iterations), d, c, iterations);

    public static byte[] Close(ReadOnlySpan<byte> mask, Dims d, Connectivity c = Connectivity.Faces6, int iterations = 1) =>
        Erode(Dilate(mask, d, c, iterations), d, c, iterations);

    private static byte[] Step(byte[] src, Dims d, Connectivity c, bool dilate)
    {
        var dst = new byte[src.Length];
        var offs = Offsets(c);
        // Outside the grid counts as background: erosion eats into the border, as in scipy.ndimage with border_value=0.
        Parallel.For(0, d.Z, z =>
        {
            for (var y = 0; y < d.Y; y++)
            for (var x = 0; x < d.X; x++)
            {
                var i = d.Index(x, y, z);
                var on = src[i] != 0;
                if (dilate != on)
                {
                    foreach (var (ox, oy, oz) in offs)
                    {
                        int nx = x + ox, ny = y + oy, nz = z + oz;
                        var nOn = d.Contains(nx, ny, nz) && src[d.Index(nx, ny, nz)] != 0;
                        if (nOn == dilate) { on = dilate; break; }
                    }
                }
                dst[i] = on ? (byte)1 : (byte)0;
            }
        });
        return dst;
    }

    /// <summary>Keeps only the largest component.</summary>
    public static byte[] KeepLargest(ReadOnlySpan<byte> mask, Dims d, Connectivity c = Connectivity.Full26)
    {
        var comps = Label(mask, d, c);
        var result = new byte[mask.Length];
        if (comps.Count == 0) return result;
        for (var i = 0; i < result.Length; i++) result[i] = comps.Labels[i] == 1 ? (byte)1 : (byte)0;
        return result;
    }

    /// <summary>Removes components smaller than <paramref name="minVoxels"/>.</summary>
    public static byte[] RemoveSmall(ReadOnlySpan<byte> mask, Dims d, long minVoxels, Connectivity c = Connectivity.Full26)
    {
        var comps = Label(mask, d, c);
        var result = new byte[mask.Length];
        for (var i = 0; i < result.Length; i++) result[i] = comps.Labels[i] != 0 && comps.Sizes[comps.Labels[i]] >= minVoxels ? (byte)1 : (byte)0;
        return result;
    }

    /// <summary>
    /// Clears the voxels of <paramref name="label"/> that lie outside the kept components: with
    /// <paramref name="largestOnly"/> only the largest is kept (the first found, in index order, among equally large
    /// ones), and with <paramref name="minVoxels"/> &gt; 0 only components of at least that many voxels. Gives the same
    /// label map as <see cref="KeepLargest"/> then <see cref="RemoveSmall"/> on <see cref="MaskOf"/>, without the three
    /// full-size masks and the int component map: one visited map and one voxel list. Returns how many
    /// voxels were cleared.
    /// </summary>
    public static long FilterComponents(LabelVolume labels, byte label, bool largestOnly, long minVoxels, Connectivity connectivity = Connectivity.Full26)
    {
        var components = ComponentsOf(labels, label, connectivity);
        var data = labels.Data;
        var voxels = components.Voxels;
        var starts = components.Starts;
        var count = components.Count;
        if (count == 0) return 0;
        long Size(int c) => components.Size(c);
        var keep = new bool[count];
        if (largestOnly)
        {
            var largest = 0;
            for (var c = 1; c < count; c++) if (Size(c) > Size(largest)) largest = c;
            keep[largest] = Size(largest) >= minVoxels;
        }
        else
        {
            for (var c = 0; c < count; c++) keep[c] = Size(c) >= minVoxels;
        }
        long cleared = 0;
        for (var c = 0; c < count; c++)
        {
            if (keep[c]) continue;
            for (var j = starts[c]; j < starts[c + 1]; j++) data[voxels[j]] = 0;
            cleared += Size(c);
        }
        return cleared;
    }

    /// <summary>
    /// The connected components of the voxels holding <paramref name="label"/>, in the order a scan in index order finds
    /// them (the order <see cref="Label"/> numbers them in before it sorts by size), each component's voxels together in
    /// the order the flood fill reached them. Scratch: one bit per voxel and one int per voxel of the label, not the
    /// volume-sized mask and int map of <see cref="Label"/> over <see cref="MaskOf"/> (45 MB each for a 1 mm head).
    /// </summary>
    public static LabelComponents ComponentsOf(LabelVolume labels, byte label, Connectivity connectivity = Connectivity.Full26)
    {
        var d = labels.Dims;
        var data = labels.Data;
        var n = data.Length;
        var voxels = GC.AllocateUninitializedArray<int>(data.AsSpan().Count(label));
        var visited = new ulong[(n + 63) / 64];
        bool Visit(int u)
        {
            ref var word = ref visited[u >> 6];
            var bit = 1UL << (u & 63);
            if ((word & bit) != 0) return false;
            word |= bit;
            return true;
        }
        var offs = Offsets(connectivity);
        int nx = d.X, ny = d.Y, nz = d.Z, plane = nx * ny;
        var flat = offs.Select(o => o.Item1 + o.Item2 * nx + o.Item3 * plane).ToArray();
        var starts = new List<int> { 0 };
        var tail = 0;
        for (var start = 0; start < n; start++)
        {
            var next = data.AsSpan(start).IndexOf(label);
            if (next < 0) break;
            start += next;
            if (!Visit(start)) continue;
            voxels[tail++] = start;
            for (var head = starts[^1]; head < tail; head++)
            {
                var v = voxels[head];
                var z = v / plane; var rem = v - z * plane; var y = rem / nx; var x = rem - y * nx;
                if (x > 0 && y > 0 && z > 0 && x < nx - 1 && y < ny - 1 && z < nz - 1)
                {
                    // Away from the border every neighbour is a fixed index offset.
                    foreach (var o in flat)
                    {
                        var u = v + o;
                        if (data[u] == label && Visit(u)) voxels[tail++] = u;
                    }
                }
                else
                {
                    foreach (var (ox, oy, oz) in offs)
                    {
                        if (!d.Contains(x + ox, y + oy, z + oz)) continue;
                        var u = v + ox + oy * nx + oz * plane;
                        if (data[u] == label && Visit(u)) voxels[tail++] = u;
                    }
                }
            }
            starts.Add(tail);
        }
        return new LabelComponents(voxels, starts.ToArray());
    }

    public static byte[] MaskOf(LabelVolume v, byte label)
    {
        var m = new byte[v.Data.Length];
        for (var i = 0; i < m.Length; i++) m[i] = v.Data[i] == label ? (byte)1 : (byte)0;
        return m;
    }
}
