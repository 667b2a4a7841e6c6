namespace MedAiNode.Dicom.Codecs.Pixels;

/// <summary>The Image Pixel module values a codec needs, checked once so codecs can trust them.</summary>
internal readonly record struct FrameLayout(int Rows, int Columns, int SamplesPerPixel, int BitsAllocated, int BitsStored,
    bool Signed, int PlanarConfiguration, string Photometric)
{
    public int BytesPerSample => (BitsAllocated + 7) / 8;
    public int PixelCount => Rows * Columns;
    public int FrameSize => PixelCount * SamplesPerPixel * BytesPerSample;

    public static FrameLayout From(DicomDataset ds)
    {
        int Get(DicomTag tag, int fallback, string name)
        {
            try { return ds.GetValueOrDefault<int>(tag, fallback); }
            catch (Exception e) when (e is InvalidCastException or FormatException) { throw new DicomCodecException($"{name} {tag} is not a number: {e.Message}"); }
        }
        var rows = Get(DicomTags.Rows, 0, "Rows");
        var cols = Get(DicomTags.Columns, 0, "Columns");
        var spp = Get(DicomTags.SamplesPerPixel, 1, "SamplesPerPixel");
        var ba = Get(DicomTags.BitsAllocated, 0, "BitsAllocated");
        var bs = Get(DicomTags.BitsStored, ba, "BitsStored");
        var pr = Get(DicomTags.PixelRepresentation, 0, "PixelRepresentation");
        var pc = Get(DicomTags.PlanarConfiguration, 0, "PlanarConfiguration");
        if (rows <= 0 || cols <= 0) throw new DicomCodecException($"Rows ({rows}) and Columns ({cols}) must be positive to decode pixel data.");
        if (spp is < 1 or > 4) throw new DicomCodecException($"SamplesPerPixel {spp} is not supported (1 to 4).");
        if (ba is not (8 or 16 or 32)) throw new DicomCodecException($"BitsAllocated {ba} is not supported by the codecs (8, 16 or 32).");
        if (bs < 1 || bs > ba) bs = ba; // a BitsStored larger than BitsAllocated is a known writer bug; the allocation wins
        if ((long)rows * cols * spp * (ba / 8) > int.MaxValue) throw new DicomCodecException($"A {rows}x{cols}x{spp} frame of {ba}-bit samples is too large.");
        return new FrameLayout(rows, cols, spp, ba, bs, pr == 1, pc, ds.GetString(DicomTags.PhotometricInterpretation) ?? "");
    }
}

internal static class SampleOps
{
    /// <summary>Native signed data with BitsStored &lt; BitsAllocated is read as two's complement of the allocated width,
    /// so the bits above the high bit must repeat the sign bit (codecs hand back the stored bits only).</summary>
    public static void SignExtend(Span<byte> frame, in FrameLayout layout, int fromBits)
    {
        if (!layout.Signed || fromBits >= layout.BitsAllocated || fromBits <= 0) return;
        var shift = 32 - fromBits;
        switch (layout.BytesPerSample)
        {
            case 1:
                foreach (ref var b in frame) b = (byte)((sbyte)(b << (8 - fromBits)) >> (8 - fromBits));
                break;
            case 2:
                var s = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(frame);
                foreach (ref var v in s) v = (ushort)((v << shift) >> shift);
                break;
            case 4:
                var w = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(frame);
                foreach (ref var v in w) v = (v << shift) >> shift;
                break;
        }
    }

    /// <summary>Turns planar configuration 1 (all of sample 0, then sample 1, ...) into pixel-interleaved order.</summary>
    public static void Interleave(ReadOnlySpan<byte> planar, Span<byte> interleaved, int pixels, int samples, int bytesPerSample)
    {
        var plane = pixels * bytesPerSample;
        for (var s = 0; s < samples; s++)
        {
            var src = planar.Slice(s * plane, plane);
            for (var p = 0; p < pixels; p++)
                src.Slice(p * bytesPerSample, bytesPerSample).CopyTo(interleaved.Slice((p * samples + s) * bytesPerSample, bytesPerSample));
        }
    }
}
