using System.Buffers.Binary;
using System.IO.Compression;
using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Volumes;

namespace MedAiNode.Imaging.Nifti;

public sealed class NiftiFormatException(string message) : Exception(message);

/// <summary>Header facts a caller may want besides the voxels.</summary>
public sealed record NiftiInfo(short Datatype, short QformCode, short SformCode, float SclSlope, float SclInter, string Description);

/// <summary>
/// NIfTI-1 (.nii, .nii.gz) reader and writer. NIfTI's world space is RAS; ours is DICOM LPS, so the first two rows of
/// the affine change sign on the way in and out. The sform is used when its code is set, else the qform, else pixdim.
/// </summary>
public static class NiftiIO
{
    public const short DtUInt8 = 2, DtInt16 = 4, DtInt32 = 8, DtFloat32 = 16, DtFloat64 = 64, DtInt8 = 256, DtUInt16 = 512, DtUInt32 = 768, DtInt64 = 1024;

    public static Volume Read(string path) => Read(path, out _);

    public static Volume Read(string path, out NiftiInfo info)
    {
        using var fs = File.OpenRead(path);
        return Read(fs, out info);
    }

    public static Volume Read(Stream input, out NiftiInfo info)
    {
        var buffered = new BufferedStream(input, 1 << 16);
        Span<byte> magic = stackalloc byte[2];
        Stream s = buffered;
        if (buffered.Read(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
        {
            // Put the magic back by re-reading from the start (file streams seek; others are wrapped).
            if (!input.CanSeek) throw new NiftiFormatException("Compressed NIfTI needs a seekable stream.");
            input.Seek(0, SeekOrigin.Begin);
            s = new BufferedStream(new GZipStream(input, CompressionMode.Decompress), 1 << 16);
        }
        else
        {
            if (!input.CanSeek) throw new NiftiFormatException("NIfTI needs a seekable stream.");
            input.Seek(0, SeekOrigin.Begin);
            s = new BufferedStream(input, 1 << 16);
        }
        var h = new byte[348];
        ReadExactly(s, h, "header");
        var le = BinaryPrimitives.ReadInt32LittleEndian(h) == 348;
        if (!le && BinaryPrimitives.ReadInt32BigEndian(h) != 348) throw new NiftiFormatException("Not a NIfTI-1 file: sizeof_hdr is not 348.");
        short I16(int o) => le ? BinaryPrimitives.ReadInt16LittleEndian(h.AsSpan(o)) : BinaryPrimitives.ReadInt16BigEndian(h.AsSpan(o));
        float F32(int o) => le ? BinaryPrimitives.ReadSingleLittleEndian(h.AsSpan(o)) : BinaryPrimitives.ReadSingleBigEndian(h.AsSpan(o));
        var mg = System.Text.Encoding.ASCII.GetString(h, 344, 3);
        if (mg is not ("n+1" or "ni1")) throw new NiftiFormatException($"Not a NIfTI-1 file (magic '{mg}').");
        if (mg == "ni1") throw new NiftiFormatException("Two-file NIfTI (.hdr/.img) is not supported; convert to .nii.");
        var ndim = I16(40);
        var dim = new int[8];
        for (var i = 0; i < 8; i++) dim[i] = I16(40 + 2 * i);
        if (ndim is < 1 or > 7) throw new NiftiFormatException($"dim[0] = {ndim} is out of range.");
        for (var i = ndim + 1; i < 8; i++) dim[i] = 1;
        for (var i = 4; i <= ndim; i++)
            if (dim[i] > 1) throw new NiftiFormatException($"Only 3D NIfTI volumes are supported (dim[{i}] = {dim[i]}).");
        var dims = new Dims(dim[1], ndim >= 2 ? dim[2] : 1, ndim >= 3 ? dim[3] : 1);
        var datatype = I16(70);
        var pixdim = new float[8];
        for (var i = 0; i < 8; i++) pixdim[i] = F32(76 + 4 * i);
        var voxOffset = (long)F32(108);
        var slope = F32(112); var inter = F32(116);
        var qcode = I16(252); var scode = I16(254);
        var affineRas = new double[4, 4];
        if (scode > 0)
        {
            for (var r = 0; r < 3; r++) for (var c = 0; c < 4; c++) affineRas[r, c] = F32(280 + 16 * r + 4 * c);
        }
        else if (qcode > 0)
        {
            double b = F32(256), c = F32(260), d = F32(264);
            var a = Math.Sqrt(Math.Max(0, 1 - (b * b + c * c + d * d)));
            var qfac = pixdim[0] < 0 ? -1.0 : 1.0;
            double[,] R =
            {
                { a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c) },
                { 2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b) },
                { 2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - b * b - c * c },
            };
            double[] sp = [pixdim[1], pixdim[2], pixdim[3] * qfac];
            for (var r = 0; r < 3; r++) for (var k = 0; k < 3; k++) affineRas[r, k] = R[r, k] * sp[k];
            affineRas[0, 3] = F32(268); affineRas[1, 3] = F32(272); affineRas[2, 3] = F32(276);
        }
        else
        {
            affineRas[0, 0] = pixdim[1] == 0 ? 1 : pixdim[1]; affineRas[1, 1] = pixdim[2] == 0 ? 1 : pixdim[2]; affineRas[2, 2] = pixdim[3] == 0 ? 1 : pixdim[3];
        }
        affineRas[3, 3] = 1;
        var lps = (double[,])affineRas.Clone();
        for (var c = 0; c < 4; c++) { lps[0, c] = -lps[0, c]; lps[1, c] = -lps[1, c]; }
        var affine = Affine.FromMatrix(lps);

        // Skip extensions up to vox_offset.
        var skip = voxOffset - 348;
        if (skip < 0) throw new NiftiFormatException($"vox_offset {voxOffset} lies inside the header.");
        var tmp = new byte[Math.Min(skip, 1 << 16)];
        while (skip > 0) { var n = s.Read(tmp, 0, (int)Math.Min(tmp.Length, skip)); if (n <= 0) throw new NiftiFormatException("File ends before the voxel data."); skip -= n; }

        var bpv = datatype switch
        {
            DtUInt8 or DtInt8 => 1, DtInt16 or DtUInt16 => 2, DtInt32 or DtUInt32 or DtFloat32 => 4, DtFloat64 or DtInt64 => 8,
            _ => throw new NiftiFormatException($"NIfTI datatype {datatype} is not supported (use uint8, int8, int16, uint16, int32, uint32, int64, float32 or float64)."),
        };
        var data = new float[dims.Count];
        var useScale = slope != 0 && float.IsFinite(slope) && !(slope == 1 && inter == 0);
        var chunk = new byte[bpv * Math.Max(1, Math.Min(dims.Count, 1 << 18))];
        long done = 0;
        while (done < dims.Count)
        {
            var count = (int)Math.Min(dims.Count - done, chunk.Length / bpv);
            ReadExactly(s, chunk.AsSpan(0, count * bpv), "voxel data");
            var src = chunk.AsSpan(0, count * bpv);
            for (var i = 0; i < count; i++)
            {
                var b = src.Slice(i * bpv, bpv);
                double v = datatype switch
                {
                    DtUInt8 => b[0],
                    DtInt8 => (sbyte)b[0],
                    DtInt16 => le ? BinaryPrimitives.ReadInt16LittleEndian(b) : BinaryPrimitives.ReadInt16BigEndian(b),
                    DtUInt16 => le ? BinaryPrimitives.ReadUInt16LittleEndian(b) : BinaryPrimitives.ReadUInt16BigEndian(b),
                    DtInt32 => le ? BinaryPrimitives.ReadInt32LittleEndian(b) : BinaryPrimitives.ReadInt32BigEndian(b),
                    DtUInt32 => le ? BinaryPrimitives.ReadUInt32LittleEndian(b) : BinaryPrimitives.ReadUInt32BigEndian(b),
                    DtInt64 => le ? BinaryPrimitives.ReadInt64LittleEndian(b) : BinaryPrimitives.ReadInt64BigEndian(b),
                    DtFloat32 => le ? BinaryPrimitives.ReadSingleLittleEndian(b) : BinaryPrimitives.ReadSingleBigEndian(b),
                    _ => le ? BinaryPrimitives.ReadDoubleLittleEndian(b) : BinaryPrimitives.ReadDoubleBigEndian(b),
                };
                data[done + i] = (float)(useScale ? v * slope + inter : v);
            }
            done += count;
        }
        info = new NiftiInfo(datatype, qcode, scode, slope, inter, System.Text.Encoding.ASCII.GetString(h, 148, 80).TrimEnd('\0', ' '));
        return new Volume(dims, affine, data);
    }

    public static LabelVolume ReadLabels(string path)
    {
        var v = Read(path);
        var labels = new LabelVolume(v.Dims, v.Affine);
        for (var i = 0; i < v.Data.Length; i++)
        {
            var x = v.Data[i];
            if (x < 0 || x > 255 || x != MathF.Round(x)) throw new NiftiFormatException($"{Path.GetFileName(path)} is not a label map: voxel value {x} is not an integer 0..255.");
            labels.Data[i] = (byte)x;
        }
        return labels;
    }

    private static void ReadExactly(Stream s, Span<byte> buf, string what)
    {
        try { s.ReadExactly(buf); }
        catch (EndOfStreamException) { throw new NiftiFormatException($"NIfTI file ends inside the {what}."); }
    }

    public static void Write(string path, Volume v, string description = "MedAiNode") =>
        Write(path, v.Dims, v.Affine, DtFloat32, description, (span, start) => { for (var i = 0; i < span.Length / 4; i++) BinaryPrimitives.WriteSingleLittleEndian(span[(4 * i)..], v.Data[start + i]); }, 4);

    public static void Write(string path, LabelVolume v, string description = "MedAiNode labels") =>
        Write(path, v.Dims, v.Affine, DtUInt8, description, (span, start) => v.Data.AsSpan(checked((int)start), span.Length).CopyTo(span), 1);

    private delegate void Fill(Span<byte> dst, long startVoxel);

    private static void Write(string path, Dims dims, Affine affine, short datatype, string description, Fill fill, int bpv)
    {
        var h = new byte[352];
        var sp = h.AsSpan();
        BinaryPrimitives.WriteInt32LittleEndian(sp, 348);
        short[] dim = [3, (short)dims.X, (short)dims.Y, (short)dims.Z, 1, 1, 1, 1];
        if (dims.X > short.MaxValue || dims.Y > short.MaxValue || dims.Z > short.MaxValue) throw new NiftiFormatException($"NIfTI-1 cannot store dimensions {dims} (limit 32767).");
        for (var i = 0; i < 8; i++) BinaryPrimitives.WriteInt16LittleEndian(sp[(40 + 2 * i)..], dim[i]);
        BinaryPrimitives.WriteInt16LittleEndian(sp[70..], datatype);
        BinaryPrimitives.WriteInt16LittleEndian(sp[72..], (short)(bpv * 8));
        var m = affine.ToMatrix();
        for (var c = 0; c < 4; c++) { m[0, c] = -m[0, c]; m[1, c] = -m[1, c]; } // LPS -> RAS
        var spacing = affine.Spacing;
        // qform: rotation of the RAS axes; a left-handed grid is stored with qfac -1 and the third axis negated.
        var cols = new Vec3[3];
        for (var c = 0; c < 3; c++) cols[c] = new Vec3(m[0, c], m[1, c], m[2, c]).Normalized();
        var qfac = cols[0].Cross(cols[1]).Dot(cols[2]) < 0 ? -1f : 1f;
        if (qfac < 0) cols[2] = -cols[2];
        float[] pixdim = [qfac, (float)spacing.X, (float)spacing.Y, (float)spacing.Z, 1, 1, 1, 1];
        for (var i = 0; i < 8; i++) BinaryPrimitives.WriteSingleLittleEndian(sp[(76 + 4 * i)..], pixdim[i]);
        BinaryPrimitives.WriteSingleLittleEndian(sp[108..], 352f);
        BinaryPrimitives.WriteSingleLittleEndian(sp[112..], 1f);
        BinaryPrimitives.WriteSingleLittleEndian(sp[116..], 0f);
        sp[123] = 2 | 8; // xyzt_units: mm, s
        var desc = System.Text.Encoding.ASCII.GetBytes(description.Length > 79 ? description[..79] : description);
        desc.CopyTo(sp[148..]);
        var orthogonal = affine.IsOrthogonal();
        BinaryPrimitives.WriteInt16LittleEndian(sp[252..], orthogonal ? (short)1 : (short)0); // qform cannot express shear
        BinaryPrimitives.WriteInt16LittleEndian(sp[254..], 1);
        if (orthogonal)
        {
            var (b, c, d) = Quaternion(cols);
            BinaryPrimitives.WriteSingleLittleEndian(sp[256..], (float)b);
            BinaryPrimitives.WriteSingleLittleEndian(sp[260..], (float)c);
            BinaryPrimitives.WriteSingleLittleEndian(sp[264..], (float)d);
        }
        BinaryPrimitives.WriteSingleLittleEndian(sp[268..], (float)m[0, 3]);
        BinaryPrimitives.WriteSingleLittleEndian(sp[272..], (float)m[1, 3]);
        BinaryPrimitives.WriteSingleLittleEndian(sp[276..], (float)m[2, 3]);
        for (var r = 0; r < 3; r++) for (var c = 0; c < 4; c++) BinaryPrimitives.WriteSingleLittleEndian(sp[(280 + 16 * r + 4 * c)..], (float)m[r, c]);
        "n+1\0"u8.CopyTo(sp[344..]);

        using var fs = File.Create(path);
        Stream o = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(fs, CompressionLevel.Fastest) : fs;
        using (o == fs ? null : o)
        {
            o.Write(h);
            var chunkVoxels = 1 << 18;
            var buf = new byte[chunkVoxels * bpv];
            for (long start = 0; start < dims.Count; start += chunkVoxels)
            {
                var n = (int)Math.Min(chunkVoxels, dims.Count - start);
                fill(buf.AsSpan(0, n * bpv), start);
                o.Write(buf, 0, n * bpv);
            }
        }
    }

    /// <summary>Quaternion (b, c, d) of a proper rotation whose columns are the given unit vectors (NIfTI-1 nifti_mat44_to_quatern).</summary>
    private static (double B, double C, double D) Quaternion(Vec3[] R)
    {
        double r11 = R[0].X, r12 = R[1].X, r13 = R[2].X, r21 = R[0].Y, r22 = R[1].Y, r23 = R[2].Y, r31 = R[0].Z, r32 = R[1].Z, r33 = R[2].Z;
        double a = r11 + r22 + r33 + 1, b, c, d;
        if (a > 0.5)
        {
            a = 0.5 * Math.Sqrt(a); b = 0.25 * (r32 - r23) / a; c = 0.25 * (r13 - r31) / a; d = 0.25 * (r21 - r12) / a;
        }
        else
        {
            var xd = 1 + r11 - (r22 + r33); var yd = 1 + r22 - (r11 + r33); var zd = 1 + r33 - (r11 + r22);
            if (xd > 1) { b = 0.5 * Math.Sqrt(xd); c = 0.25 * (r12 + r21) / b; d = 0.25 * (r13 + r31) / b; a = 0.25 * (r32 - r23) / b; }
            else if (yd > 1) { c = 0.5 * Math.Sqrt(yd); b = 0.25 * (r12 + r21) / c; d = 0.25 * (r23 + r32) / c; a = 0.25 * (r13 - r31) / c; }
            else { d = 0.5 * Math.Sqrt(zd); b = 0.25 * (r13 + r31) / d; c = 0.25 * (r23 + r32) / d; a = 0.25 * (r21 - r12) / d; }
            if (a < 0) { b = -b; c = -c; d = -d; }
        }
        return (b, c, d);
    }
}
