using System.Buffers.Binary;

namespace MedAiNode.Dicom.IO;

/// <summary>
/// A forward reader over a stream with its own buffer and absolute position, so the parser can name offsets in errors
/// and skip large values without reading them. Never allocates more than the bytes that are actually there.
/// </summary>
internal sealed class DicomInput : IDisposable
{
    private readonly Stream _stream;
    private byte[] _buf;
    private int _pos, _len;
    private long _bufStart;
    private readonly long _length; // -1 when unknown (deflate)
    private byte[]? _pooled;

    public void Dispose()
    {
        if (_pooled is null) return;
        System.Buffers.ArrayPool<byte>.Shared.Return(_pooled);
        _pooled = null;
    }

    public DicomInput(Stream stream, long startPosition = 0, int bufferSize = 16 * 1024)
    {
        _stream = stream;
        // Pooled: a series read opens hundreds of files, and a fresh zeroed buffer for each shows in profiles.
        _buf = System.Buffers.ArrayPool<byte>.Shared.Rent(bufferSize);
        _pooled = _buf;
        _bufStart = startPosition;
        _length = stream.CanSeek ? stream.Length : -1;
    }

    public bool BigEndian { get; set; }
    public long Position => _bufStart + _pos;
    public long Length => _length;
    public bool CanSeek => _stream.CanSeek;
    /// <summary>Bytes left when the length is known; long.MaxValue otherwise.</summary>
    public long Remaining => _length < 0 ? long.MaxValue : _length - Position;

    /// <summary>Makes <paramref name="n"/> bytes available in the buffer; false at end of stream.</summary>
    public bool Ensure(int n)
    {
        if (_len - _pos >= n) return true;
        if (n > _buf.Length)
        {
            var bigger = new byte[Math.Max(n, _buf.Length * 2)];
            Buffer.BlockCopy(_buf, _pos, bigger, 0, _len - _pos);
            _len -= _pos; _bufStart += _pos; _pos = 0; _buf = bigger;
        }
        else if (_pos > 0)
        {
            Buffer.BlockCopy(_buf, _pos, _buf, 0, _len - _pos);
            _len -= _pos; _bufStart += _pos; _pos = 0;
        }
        while (_len < n)
        {
            int read;
            try { read = _stream.Read(_buf, _len, _buf.Length - _len); }
            catch (InvalidDataException e) { throw new DicomFormatException("Corrupt deflated data: " + e.Message, Position, null, e); }
            if (read == 0) return false;
            _len += read;
        }
        return true;
    }

    public bool AtEnd => !Ensure(1);

    public ReadOnlySpan<byte> Peek(int n) => Ensure(n) ? _buf.AsSpan(_pos, n) : ReadOnlySpan<byte>.Empty;

    private void Need(int n, DicomTag? tag)
    {
        if (!Ensure(n)) throw new DicomFormatException($"Unexpected end of data: {n} more bytes needed", Position, tag);
    }

    public ushort ReadUInt16(DicomTag? tag = null)
    {
        Need(2, tag);
        var v = BigEndian ? BinaryPrimitives.ReadUInt16BigEndian(_buf.AsSpan(_pos)) : BinaryPrimitives.ReadUInt16LittleEndian(_buf.AsSpan(_pos));
        _pos += 2;
        return v;
    }

    public uint ReadUInt32(DicomTag? tag = null)
    {
        Need(4, tag);
        var v = BigEndian ? BinaryPrimitives.ReadUInt32BigEndian(_buf.AsSpan(_pos)) : BinaryPrimitives.ReadUInt32LittleEndian(_buf.AsSpan(_pos));
        _pos += 4;
        return v;
    }

    public (byte, byte) ReadTwoBytes(DicomTag? tag)
    {
        Need(2, tag);
        var r = (_buf[_pos], _buf[_pos + 1]);
        _pos += 2;
        return r;
    }

    /// <summary>Reads a value. The length was checked against what is left, or (unknown length) is read in bounded chunks.</summary>
    public byte[] ReadBytes(long length, DicomTag? tag)
    {
        if (length > Array.MaxLength) throw new DicomFormatException($"Value length {length} is larger than this reader supports", Position, tag);
        var n = (int)length;
        if (_length >= 0)
        {
            if (n > Remaining) throw new DicomFormatException($"Value length {n} runs past the end of the data ({Remaining} bytes left)", Position, tag);
            var result = GC.AllocateUninitializedArray<byte>(n);
            ReadInto(result, tag);
            return result;
        }
        // Unknown length: grow as data arrives so a lying length cannot make us allocate gigabytes.
        using var ms = new MemoryStream();
        var chunk = new byte[Math.Min(n, 1 << 20)];
        var left = n;
        while (left > 0)
        {
            var take = Math.Min(left, chunk.Length);
            ReadInto(chunk.AsSpan(0, take), tag);
            ms.Write(chunk, 0, take);
            left -= take;
        }
        return ms.ToArray();
    }

    private void ReadInto(Span<byte> dest, DicomTag? tag)
    {
        var have = Math.Min(_len - _pos, dest.Length);
        _buf.AsSpan(_pos, have).CopyTo(dest);
        _pos += have;
        var done = have;
        if (done < dest.Length)
        {
            // Buffer exhausted: read the rest straight into the destination.
            _bufStart += _pos;
            _pos = _len = 0;
        }
        while (done < dest.Length)
        {
            int read;
            try { read = _stream.Read(dest[done..]); }
            catch (InvalidDataException e) { throw new DicomFormatException("Corrupt deflated data: " + e.Message, Position, tag, e); }
            if (read == 0) throw new DicomFormatException($"Unexpected end of data: value needs {dest.Length - done} more bytes", Position, tag);
            done += read;
            _bufStart += read;
        }
    }

    /// <summary>Everything not yet consumed, buffered bytes first.</summary>
    public byte[] ReadToEnd()
    {
        using var ms = new MemoryStream();
        ms.Write(_buf, _pos, _len - _pos);
        _bufStart += _pos;
        _pos = _len = 0;
        _stream.CopyTo(ms);
        _bufStart += ms.Length;
        return ms.ToArray();
    }

    /// <summary>The next <paramref name="length"/> bytes as a slice of the source's own array, skipped, when the source
    /// is a <see cref="MemoryStream"/> that exposes its buffer; false (nothing read) otherwise.</summary>
    public bool TrySlice(long length, DicomTag? tag, out ReadOnlyMemory<byte> slice)
    {
        slice = default;
        if (_stream is not MemoryStream ms || !ms.TryGetBuffer(out var source) || _length < 0) return false;
        if (length > Remaining) throw new DicomFormatException($"Value length {length} runs past the end of the data ({Remaining} bytes left)", Position, tag);
        slice = source.AsMemory((int)Position, (int)length);
        Skip(length, tag);
        return true;
    }

    public void Skip(long length, DicomTag? tag)
    {
        if (length > Remaining) throw new DicomFormatException($"Value length {length} runs past the end of the data ({Remaining} bytes left)", Position, tag);
        var inBuf = Math.Min(_len - _pos, length);
        _pos += (int)inBuf;
        var rest = length - inBuf;
        if (rest == 0) return;
        if (_stream.CanSeek)
        {
            _stream.Seek(rest, SeekOrigin.Current);
            _bufStart = Position + rest;
            _pos = _len = 0;
            return;
        }
        var scratch = new byte[Math.Min(rest, 64 * 1024)];
        while (rest > 0)
        {
            var read = _stream.Read(scratch, 0, (int)Math.Min(rest, scratch.Length));
            if (read == 0) throw new DicomFormatException("Unexpected end of data while skipping a value", Position, tag);
            rest -= read;
            _bufStart += read;
        }
    }
}
