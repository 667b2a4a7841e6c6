using System.Buffers.Binary;
using MedAiNode.Dicom;
using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Volumes;

namespace MedAiNode.Imaging.Series;

public sealed class VolumeAssemblyOptions
{
    /// <summary>Slice steps that differ from the mean by less than this are treated as one regular step (no resampling).</summary>
    public double UniformSpacingToleranceMm { get; set; } = 0.01;
    /// <summary>A gap larger than this multiple of the median step (e.g. missing slices) refuses the series instead of interpolating across it.</summary>
    public double MaxGapFactor { get; set; } = 2.5;
    /// <summary>Optional absolute limit for any gap between neighbouring slices.</summary>
    public double? MaxGapMm { get; set; }
    /// <summary>Step of the regular grid when slices are uneven; default is the median step.</summary>
    public double? ResampleStepMm { get; set; }
    /// <summary>How far slice positions may stray from one straight line (mm).</summary>
    public double CollinearityToleranceMm { get; set; } = 0.1;
    /// <summary>A gap larger than this multiple of the median step and of the steps on either side (but within
    /// <see cref="MaxGapFactor"/>) is a missing slice: bridged for the model, and named in a note.</summary>
    public double MissingSliceFactor { get; set; } = 1.5;

    public void Validate(string section = "VolumeAssembly")
    {
        if (UniformSpacingToleranceMm <= 0) throw new ArgumentException($"{section}:UniformSpacingToleranceMm must be positive.");
        if (MaxGapFactor < 1) throw new ArgumentException($"{section}:MaxGapFactor must be at least 1, got {MaxGapFactor}.");
        if (MaxGapMm is <= 0) throw new ArgumentException($"{section}:MaxGapMm must be positive when set.");
        if (ResampleStepMm is <= 0) throw new ArgumentException($"{section}:ResampleStepMm must be positive when set.");
        if (MissingSliceFactor < 1) throw new ArgumentException($"{section}:MissingSliceFactor must be at least 1, got {MissingSliceFactor}.");
    }
}

public sealed record AssembledVolume
{
    private Volume? _volume;

    public AssembledVolume(Volume volume, IReadOnlyList<string> notes) { _volume = volume; Notes = notes; }

    public AssembledVolume(HuVolume hu, IReadOnlyList<string> notes) { Hu = hu; Notes = notes; }

    /// <summary>The values as float32. When the series was held as int16 (<see cref="Hu"/>), a float copy made on first
    /// use: the analysis pipeline reads <see cref="Hu"/> instead and never makes it.</summary>
    public Volume Volume => LazyInitializer.EnsureInitialized(ref _volume, () => Hu!.ToVolume());

    /// <summary>The values as int16 when every rescaled value of the series is a whole number in the int16 range (almost
    /// every CT: HU with slope 1 and a whole intercept), on a grid of the received slices; else null.</summary>
    public HuVolume? Hu { get; private init; }

    public IReadOnlyList<string> Notes { get; init; }

    /// <summary>Float or int16, whichever the series was assembled as.</summary>
    public Dims Dims => Hu?.Dims ?? Volume.Dims;

    internal AssembledVolume WithSlices(IReadOnlyList<SliceReference> refs) => Hu is { } h
        ? this with { Hu = new HuVolume(h.Dims, h.Affine, h.Data) { Slices = refs } }
        : this with { _volume = new Volume(_volume!.Dims, _volume.Affine, _volume.Data) { Slices = refs } };

    /// <summary>True when the grid is not the received slices one to one (uneven steps or a missing slice were regridded):
    /// then some grid slices are interpolated and the SEG, which lies on the received slices, does not have them.</summary>
    public bool Resampled { get; init; }
    public double GantryTiltDeg { get; init; }
    /// <summary>The frames that made the volume, in stack order: localizers, other orientations and repeated SOP instances dropped.</summary>
    public IReadOnlyList<FrameInfo> Frames { get; init; } = [];
    /// <summary>The files of <see cref="Frames"/>, each once, in stack order: the SEG's and SR's source images.</summary>
    public IReadOnlyList<DicomFile> Files => Frames.Select(f => f.File).Distinct().ToList();
}

/// <summary>
/// Builds a HU volume from the frames of one series: ordered by position along the stack, never by InstanceNumber;
/// tilted stacks keep a sheared affine; uneven stacks are regridded along the stack line.
/// </summary>
public static class VolumeAssembler
{
    /// <param name="decoder">Decodes the frames: the host's codec registry for compressed series; by default
    /// <see cref="NativeFrameDecoder"/>, which reads uncompressed series and names the syntax of any other.</param>
    public static AssembledVolume Assemble(IEnumerable<DicomFile> files, VolumeAssemblyOptions? options = null, IDicomFrameDecoder? decoder = null)
    {
        options ??= new VolumeAssemblyOptions();
        decoder ??= NativeFrameDecoder.Instance;
        options.Validate();
        var notes = new List<string>();
        var frames = VolumeFrames(files.SelectMany(InstanceGeometry.Frames).ToList(), notes);
        var f0 = frames[0];
        foreach (var f in frames)
        {
            if (f.Rows != f0.Rows || f.Columns != f0.Columns)
                throw new VolumeAssemblyException($"Mixed image sizes in one series ({f0.Columns}x{f0.Rows} and {f.Columns}x{f.Rows}, instance {f.SopInstanceUid}); refusing to build a volume.");
            if ((f.RowDirection - f0.RowDirection).Length > 1e-4 || (f.ColumnDirection - f0.ColumnDirection).Length > 1e-4)
                throw new VolumeAssemblyException($"Slices have different orientations (instance {f.SopInstanceUid}); refusing to build a volume.");
            if (Math.Abs(f.RowSpacing - f0.RowSpacing) > 1e-4 || Math.Abs(f.ColumnSpacing - f0.ColumnSpacing) > 1e-4)
                throw new VolumeAssemblyException($"Slices have different pixel spacing (instance {f.SopInstanceUid}); refusing to build a volume.");
        }
        var normal = f0.Normal;
        frames.Sort((a, b) => a.Position.Dot(normal).CompareTo(b.Position.Dot(normal)));
        f0 = frames[0];
        for (var i = 1; i < frames.Count; i++)
            if (Math.Abs((frames[i].Position - frames[i - 1].Position).Dot(normal)) < 1e-3)
                throw new VolumeAssemblyException($"Two slices share one position ({frames[i - 1].SopInstanceUid}, {frames[i].SopInstanceUid}): several acquisitions or phases in one series; refusing to guess.");

        Vec3 stackDir;
        var t = new double[frames.Count];
        double tiltDeg = 0;
        if (frames.Count == 1)
        {
            stackDir = normal;
        }
        else
        {
            stackDir = (frames[^1].Position - frames[0].Position).Normalized();
            for (var i = 0; i < frames.Count; i++)
            {
                var d = frames[i].Position - frames[0].Position;
                t[i] = d.Dot(stackDir);
                var off = (d - stackDir * t[i]).Length;
                if (off > options.CollinearityToleranceMm)
                    throw new VolumeAssemblyException(FormattableString.Invariant($"Slice positions do not lie on one line (instance {frames[i].SopInstanceUid} is {off:0.###} mm off); refusing to build a volume."));
            }
            tiltDeg = Math.Acos(Math.Min(1, Math.Abs(stackDir.Dot(normal)))) * 180 / Math.PI;
            if (tiltDeg > 0.01) notes.Add(FormattableString.Invariant($"Stack is {tiltDeg:0.##} degrees off the slice normal (gantry tilt); kept as a sheared grid."));
        }

        var rows = f0.Rows; var cols = f0.Columns;
        var planeSize = rows * cols;
        var col0 = f0.RowDirection * f0.ColumnSpacing;
        var col1 = f0.ColumnDirection * f0.RowSpacing;

        if (frames.Count == 1)
        {
            var single = new Volume(new Dims(cols, rows, 1), new Affine(f0.Position, col0, col1, normal * (f0.SliceThickness ?? 1.0)));
            DecodeInto(f0, single.Slice(0), decoder);
            return new AssembledVolume(single, notes) { Frames = frames }.WithSlices(frames, [0]);
        }

        var gaps = new double[frames.Count - 1];
        for (var i = 0; i < gaps.Length; i++) gaps[i] = t[i + 1] - t[i];
        var sorted = gaps.OrderBy(g => g).ToArray();
        var median = sorted[sorted.Length / 2];
        var maxGap = sorted[^1];
        var maxAllowed = Math.Min(options.MaxGapFactor * median, options.MaxGapMm ?? double.MaxValue);
        if (maxGap > maxAllowed)
        {
            var at = Array.IndexOf(gaps, maxGap);
            throw new VolumeAssemblyException(FormattableString.Invariant(
                $"Gap of {maxGap:0.###} mm between slices {at + 1} and {at + 2} (instances {frames[at].SopInstanceUid}, {frames[at + 1].SopInstanceUid}) exceeds the allowed {maxAllowed:0.###} mm (median step {median:0.###} mm): missing slices; refusing to interpolate."));
        }
        // A missing slice is a gap that stands out both from the usual step and from the steps beside it; a series that
        // simply changes its step (a run of wider steps) is uneven, not missing slices.
        for (var i = 0; i < gaps.Length; i++)
            if (gaps[i] > options.MissingSliceFactor * median
                && (i == 0 || gaps[i] > options.MissingSliceFactor * gaps[i - 1])
                && (i == gaps.Length - 1 || gaps[i] > options.MissingSliceFactor * gaps[i + 1]))
                notes.Add(FormattableString.Invariant(
                    $"Missing slice: a gap of {gaps[i]:0.###} mm (median step {median:0.###} mm, about {Math.Max(1, (int)Math.Round(gaps[i] / median) - 1)} slice(s) missing) between slices {i + 1} and {i + 2} of {frames.Count}, at patient z {frames[i].Position.Z:0.##} to {frames[i + 1].Position.Z:0.##} mm; the model sees it interpolated, the SEG and the SR's volumes only the received slices."));
        var meanStep = t[^1] / (frames.Count - 1);
        var uniform = true;
        for (var i = 0; i < frames.Count; i++) if (Math.Abs(t[i] - i * meanStep) > options.UniformSpacingToleranceMm) { uniform = false; break; }

        if (uniform)
        {
            var grid = (Dims: new Dims(cols, rows, frames.Count), Affine: new Affine(f0.Position, col0, col1, stackDir * meanStep));
            var each = Enumerable.Range(0, frames.Count).Select(i => (double)i).ToArray();
            // As int16 when every value allows it (half the memory for the rest of the analysis); a frame that does not
            // (a fractional slope, values beyond int16) makes the whole volume float, decoding again only what is needed.
            var hu = new HuVolume(grid.Dims, grid.Affine);
            var exact = new bool[frames.Count];
            var allExact = 1;
            // Once one frame is not exact the rest are decoded once, as floats, below (a slope of 0.5 fails every frame).
            ParallelFor(frames.Count, z =>
            {
                if (Volatile.Read(ref allExact) == 0) return;
                if (!(exact[z] = DecodeInto(frames[z], hu.Slice(z), decoder))) Volatile.Write(ref allExact, 0);
            });
            if (allExact == 1)
                return new AssembledVolume(hu, notes) { GantryTiltDeg = tiltDeg, Frames = frames }.WithSlices(frames, each);
            var vol = new Volume(grid.Dims, grid.Affine);
            ParallelFor(frames.Count, z =>
            {
                if (exact[z]) { var src = hu.Slice(z); var dst = vol.Slice(z); for (var i = 0; i < src.Length; i++) dst[i] = src[i]; }
                else DecodeInto(frames[z], vol.Slice(z), decoder);
            });
            return new AssembledVolume(vol, notes) { GantryTiltDeg = tiltDeg, Frames = frames }.WithSlices(frames, each);
        }

        // Uneven: regrid along the stack line; every output slice is a blend of the two source slices around it.
        var step = options.ResampleStepMm ?? median;
        var count = (int)Math.Round(t[^1] / step) + 1;
        step = t[^1] / (count - 1);
        notes.Add(FormattableString.Invariant($"Uneven slice steps {sorted[0]:0.###}..{maxGap:0.###} mm; resampled onto {count} slices every {step:0.###} mm."));
        var output = new Volume(new Dims(cols, rows, count), new Affine(f0.Position, col0, col1, stackDir * step));
        var decoded = new float[frames.Count][];
        float[] Get(int i)
        {
            var d = Volatile.Read(ref decoded[i]);
            if (d is not null) return d;
            d = new float[planeSize];
            DecodeInto(frames[i], d, decoder);
            return Interlocked.CompareExchange(ref decoded[i], d, null) ?? d;
        }
        ParallelFor(count, z =>
        {
            var pos = z * step;
            var hi = Array.BinarySearch(t, pos);
            var dst = output.Slice(z);
            if (hi >= 0) { Get(hi).AsSpan().CopyTo(dst); return; }
            hi = ~hi;
            if (hi >= t.Length) { Get(t.Length - 1).AsSpan().CopyTo(dst); return; }
            var lo = hi - 1;
            var w = (float)((pos - t[lo]) / (t[hi] - t[lo]));
            var a = Get(lo); var b = Get(hi);
            for (var p = 0; p < planeSize; p++) dst[p] = a[p] + (b[p] - a[p]) * w;
        });
        return new AssembledVolume(output, notes) { Resampled = true, GantryTiltDeg = tiltDeg, Frames = frames }.WithSlices(frames, t.Select(x => x / step).ToArray());
    }

    /// <summary>ImageType values (any position) of images that are not slices of the volume.</summary>
    public static readonly string[] LocalizerImageTypes = ["LOCALIZER", "SCOUT"];

    public static bool IsLocalizer(DicomFile f) =>
        f.Dataset.GetStrings(DicomTags.ImageType).Any(v => LocalizerImageTypes.Contains(v.Trim(), StringComparer.OrdinalIgnoreCase));

    /// <summary>
    /// The frames of a series that belong to its volume, each dropped one counted in a note (instance numbers, never patient data):
    /// a SOP instance received twice (the same file under another path) is one instance; localizers (ImageType LOCALIZER or
    /// SCOUT) are dropped; so are frames in another orientation than the series' main one (the orientation most frames share).
    /// Throws when nothing is left or one SOP instance comes with two different geometries.
    /// </summary>
    public static List<FrameInfo> VolumeFrames(IReadOnlyList<FrameInfo> all, List<string> notes)
    {
        if (all.Count == 0) throw new VolumeAssemblyException("The series has no image frames.");
        static string Number(FrameInfo f) => f.File.Dataset.GetString(DicomTags.InstanceNumber) is { Length: > 0 } n ? n.Trim() : "?";
        static string List(IEnumerable<FrameInfo> fs)
        {
            var numbers = fs.Select(Number).Distinct().ToList();
            return (numbers.Count == 1 ? "instance " : "instances ") + string.Join(", ", numbers.Take(10)) + (numbers.Count > 10 ? $" and {numbers.Count - 10} more" : "");
        }

        var seen = new Dictionary<(string, int), FrameInfo>();
        var unique = new List<FrameInfo>();
        var repeated = new List<FrameInfo>();
        foreach (var f in all)
        {
            if (f.SopInstanceUid.Length == 0) { unique.Add(f); continue; }
            if (seen.TryGetValue((f.SopInstanceUid, f.FrameIndex), out var first))
            {
                if ((first.Position - f.Position).Length > 1e-3 || (first.RowDirection - f.RowDirection).Length > 1e-4 || (first.ColumnDirection - f.ColumnDirection).Length > 1e-4)
                    throw new VolumeAssemblyException($"SOP Instance UID {f.SopInstanceUid} comes twice with different positions or orientations; refusing to guess which is right.");
                repeated.Add(f);
                continue;
            }
            seen[(f.SopInstanceUid, f.FrameIndex)] = f;
            unique.Add(f);
        }
        if (repeated.Count > 0)
            notes.Add($"{repeated.Count} image(s) received more than once with the same SOP Instance UID ({List(repeated)}): each counted once.");

        var localizers = unique.Where(f => IsLocalizer(f.File)).ToList();
        var images = unique.Where(f => !IsLocalizer(f.File)).ToList();
        if (images.Count == 0) throw new VolumeAssemblyException("The series holds only localizer images (ImageType LOCALIZER or SCOUT).");
        if (localizers.Count > 0)
            notes.Add($"Dropped {localizers.Count} localizer image(s) from the volume ({List(localizers)}, ImageType LOCALIZER/SCOUT).");

        // The main orientation: the one most frames share (ties: the one nearest axial).
        bool Same(FrameInfo a, FrameInfo b) => (a.RowDirection - b.RowDirection).Length <= 1e-4 && (a.ColumnDirection - b.ColumnDirection).Length <= 1e-4;
        var groups = new List<List<FrameInfo>>();
        foreach (var f in images)
        {
            var g = groups.FirstOrDefault(g => Same(g[0], f));
            if (g is null) groups.Add([f]); else g.Add(f);
        }
        var main = groups.OrderByDescending(g => g.Count).ThenByDescending(g => Math.Abs(g[0].Normal.Z)).First();
        var kept = new HashSet<FrameInfo>(main, ReferenceEqualityComparer.Instance);
        var other = images.Where(f => !kept.Contains(f)).ToList();
        if (other.Count > 0)
            notes.Add($"Dropped {other.Count} image(s) in another orientation than the series' {main.Count} ({List(other)}).");
        return main;
    }

    /// <summary>
    /// Box <paramref name="box"/> of the int16 values of a stack assembled without regridding (<see cref="AssembledVolume.Hu"/>,
    /// one frame per slice in <see cref="AssembledVolume.Frames"/> order), decoded again: the analysis lets the volume go
    /// while the model runs and reads back the regions its later stages need. Only the box's slices are decoded (whole
    /// planes straight into place, parts of planes through a pooled buffer). A file that changed since throws
    /// (<c>DicomFileChangedException</c>, or an <see cref="IOException"/> for a frame that no longer decodes to whole HU),
    /// so a changed input is never mixed in.
    /// </summary>
    public static VoxelWindow<short> DecodeAgain(IReadOnlyList<FrameInfo> frames, Dims dims, Affine affine, VoxelBox box,
        IDicomFrameDecoder? decoder = null)
    {
        var values = new HuVolume(box.Size, affine with { Origin = affine.IndexToPatient(box.X, box.Y, box.Z) });
        DecodeAgain(frames, dims, box, values.Data, decoder);
        return new VoxelWindow<short>(values, box);
    }

    /// <summary>As above, into the start of <paramref name="into"/> (x fastest, then y, then z), which the caller reuses.</summary>
    public static void DecodeAgain(IReadOnlyList<FrameInfo> frames, Dims dims, VoxelBox box, short[] into, IDicomFrameDecoder? decoder = null)
    {
        if (frames.Count != dims.Z) throw new ArgumentException($"{frames.Count} frames for {dims.Z} slices: only a stack assembled without regridding is decoded again.", nameof(frames));
        var s = box.Size;
        if (!box.Within(dims))
            throw new ArgumentOutOfRangeException(nameof(box), $"Box {box} is not inside a stack of {dims}.");
        if (into.LongLength < s.Count) throw new ArgumentException($"{into.LongLength} values cannot hold a box of {s}.", nameof(into));
        decoder ??= NativeFrameDecoder.Instance;
        var plane = dims.X * dims.Y;
        var wholePlanes = s.X == dims.X && s.Y == dims.Y;
        ParallelFor(s.Z, k =>
        {
            var f = frames[box.Z + k];
            var dst = into.AsSpan(k * s.X * s.Y, s.X * s.Y);
            if (wholePlanes)
            {
                if (!DecodeInto(f, dst, decoder)) throw Changed(f);
                return;
            }
            var buffer = System.Buffers.ArrayPool<short>.Shared.Rent(plane);
            try
            {
                if (!DecodeInto(f, buffer.AsSpan(0, plane), decoder)) throw Changed(f);
                for (var j = 0; j < s.Y; j++)
                    buffer.AsSpan((box.Y + j) * dims.X + box.X, s.X).CopyTo(dst.Slice(j * s.X, s.X));
            }
            finally { System.Buffers.ArrayPool<short>.Shared.Return(buffer); }
        });

        static IOException Changed(FrameInfo f) =>
            new($"Instance {f.SopInstanceUid} no longer decodes to the whole HU values it had when the series was assembled.");
    }

    /// <summary>Parallel loop that surfaces the first real error instead of an AggregateException.</summary>
    private static void ParallelFor(int count, Action<int> body)
    {
        try { Parallel.For(0, count, body); }
        catch (AggregateException e) { System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.Flatten().InnerExceptions[0]).Throw(); }
    }

    private static AssembledVolume WithSlices(this AssembledVolume a, List<FrameInfo> frames, double[] z)
    {
        var refs = frames.Select((f, i) => new SliceReference(f.SopInstanceUid, f.SopClassUid, f.FrameIndex + 1, f.Position, f.RowDirection, f.ColumnDirection, f.File.Path)
        {
            VolumeZ = z[i], Rows = f.Rows, Columns = f.Columns, RowSpacing = f.RowSpacing, ColumnSpacing = f.ColumnSpacing,
        }).ToList();
        return a.WithSlices(refs);
    }

    /// <summary>
    /// Decodes one frame to int16 HU when every value is exactly one (the float <see cref="DecodeInto(FrameInfo, Span{float}, IDicomFrameDecoder?)"/>
    /// computes, whole and within int16); false, with <paramref name="dst"/> undefined, when one is not.
    /// </summary>
    public static bool DecodeInto(FrameInfo f, Span<short> dst, IDicomFrameDecoder? decoder = null)
    {
        var n = f.Rows * f.Columns;
        var buffer = System.Buffers.ArrayPool<float>.Shared.Rent(n);
        try
        {
            var values = buffer.AsSpan(0, n);
            DecodeInto(f, values, decoder);
            for (var i = 0; i < n; i++)
            {
                var v = values[i];
                // Rejects NaN and fractions too: (short)v == v only for whole values in range.
                if (!(v >= short.MinValue && v <= short.MaxValue) || (short)v != v) return false;
                dst[i] = (short)v;
            }
            return true;
        }
        finally { System.Buffers.ArrayPool<float>.Shared.Return(buffer); }
    }

    /// <summary>Decodes one frame to HU (stored value x slope + intercept).</summary>
    public static void DecodeInto(FrameInfo f, Span<float> dst, IDicomFrameDecoder? decoder = null)
    {
        var ds = f.File.Dataset;
        var px = new DicomPixelData(ds, f.File.TransferSyntax);
        if (px.SamplesPerPixel != 1) throw new VolumeAssemblyException($"Instance {f.SopInstanceUid} has {px.SamplesPerPixel} samples per pixel; only greyscale images make a volume.");
        // A native frame is copied into a pooled buffer: through the decoder each frame was an array of its own, garbage
        // of 512 KB per 512x512 slice (130 MiB when the box around a chest's lungs is read back, in one burst).
        var ts = f.File.TransferSyntax;
        byte[]? pooled = null;
        try
        {
            ReadOnlySpan<byte> bytes;
            if (!ts.IsEncapsulated && !ts.IsBigEndian && px.FrameSize <= int.MaxValue
                && px.TryCopyFrame(f.FrameIndex, (pooled = System.Buffers.ArrayPool<byte>.Shared.Rent((int)px.FrameSize)).AsSpan()))
                bytes = pooled.AsSpan(0, (int)px.FrameSize);
            else
                bytes = (decoder ?? NativeFrameDecoder.Instance).DecodeFrame(ds, ts, f.FrameIndex).Span;
            Convert(f, px, bytes, dst);
        }
        finally
        {
            if (pooled is not null) System.Buffers.ArrayPool<byte>.Shared.Return(pooled);
        }
    }

    /// <summary>Native pixels of one frame to HU (stored value x slope + intercept).</summary>
    private static void Convert(FrameInfo f, DicomPixelData px, ReadOnlySpan<byte> bytes, Span<float> dst)
    {
        var n = f.Rows * f.Columns;
        var bpp = (px.BitsAllocated + 7) / 8;
        if (bytes.Length < (long)n * bpp) throw new VolumeAssemblyException($"Instance {f.SopInstanceUid} frame {f.FrameIndex + 1}: {bytes.Length} pixel bytes, {n * bpp} expected.");
        var slope = (float)f.Slope; var intercept = (float)f.Intercept;
        var bits = px.BitsStored;
        var signed = px.IsSigned;
        switch (px.BitsAllocated)
        {
            case 8:
                for (var i = 0; i < n; i++) dst[i] = Stored(bytes[i], bits, signed) * slope + intercept;
                break;
            case 16:
                if (bits == 16)
                {
                    if (signed) for (var i = 0; i < n; i++) dst[i] = BinaryPrimitives.ReadInt16LittleEndian(bytes[(2 * i)..]) * slope + intercept;
                    else for (var i = 0; i < n; i++) dst[i] = BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]) * slope + intercept;
                }
                else for (var i = 0; i < n; i++) dst[i] = Stored(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]), bits, signed) * slope + intercept;
                break;
            case 32:
                for (var i = 0; i < n; i++) dst[i] = Stored(BinaryPrimitives.ReadUInt32LittleEndian(bytes[(4 * i)..]), bits, signed) * slope + intercept;
                break;
            default:
                throw new VolumeAssemblyException($"Instance {f.SopInstanceUid}: Bits Allocated {px.BitsAllocated} is not supported for volumes.");
        }
    }

    /// <summary>Masks to BitsStored and sign-extends, so stray high bits do not corrupt HU.</summary>
    private static long Stored(ulong raw, int bits, bool signed)
    {
        if (bits >= 64) return (long)raw;
        var v = raw & ((1UL << bits) - 1);
        if (signed && (v >> (bits - 1) & 1) != 0) return (long)(v | ~((1UL << bits) - 1));
        return (long)v;
    }
}

/// <summary>An int16 stack assembled without regridding, read again from its frames by box
/// (<see cref="VolumeAssembler.DecodeAgain(IReadOnlyList{FrameInfo}, Dims, Affine, VoxelBox, IDicomFrameDecoder?)"/>).</summary>
public sealed class FrameStackReader(IReadOnlyList<FrameInfo> frames, Dims dims, Affine affine, IDicomFrameDecoder? decoder = null) : IVoxelReader<short>
{
    public VoxelWindow<short> Read(VoxelBox box) => VolumeAssembler.DecodeAgain(frames, dims, affine, box, decoder);
    public void Read(VoxelBox box, short[] into) => VolumeAssembler.DecodeAgain(frames, dims, box, into, decoder);
}
