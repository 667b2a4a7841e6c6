using Microsoft.Win32.SafeHandles;

namespace MedAiNode.Dicom;

/// <summary>The bytes of one value, always held in little-endian order. May live in memory or in a file.</summary>
public interface IByteBuffer
{
    int Length { get; }
    /// <summary>True when the bytes are already in memory; false for a lazily read file range.</summary>
    bool IsMemory { get; }
    /// <summary>The bytes; a file-backed buffer reads them on each call, so callers keep the result.</summary>
    ReadOnlyMemory<byte> GetData();
    /// <summary>Copies bytes starting at <paramref name="offset"/> into <paramref name="destination"/>.</summary>
    void CopyTo(Span<byte> destination, int offset = 0);
}

public sealed class MemoryByteBuffer : IByteBuffer
{
    public static readonly MemoryByteBuffer Empty = new(ReadOnlyMemory<byte>.Empty);
    private readonly ReadOnlyMemory<byte> _data;

    public MemoryByteBuffer(ReadOnlyMemory<byte> data) => _data = data;
    public int Length => _data.Length;
    public bool IsMemory => true;
    public ReadOnlyMemory<byte> GetData() => _data;
    public void CopyTo(Span<byte> destination, int offset = 0) => _data.Span.Slice(offset, destination.Length).CopyTo(destination);
}

/// <summary>A range of a file read on demand, so opening many large files to sort them does not load their pixels.</summary>
public sealed class FileByteBuffer(string path, long offset, int length, int swapUnit = 1) : IByteBuffer
{
    private readonly int _swapUnit = swapUnit;

    public string Path { get; } = path;
    public long Offset { get; } = offset;
    public int Length { get; } = length;
    public bool IsMemory => false;

    public ReadOnlyMemory<byte> GetData()
    {
        var data = GC.AllocateUninitializedArray<byte>(Length);
        CopyTo(data);
        return data;
    }

    public void CopyTo(Span<byte> destination, int offset = 0)
    {
        if (offset < 0 || offset + destination.Length > Length) throw new ArgumentOutOfRangeException(nameof(offset));
        using SafeFileHandle h = File.OpenHandle(Path, FileMode.Open, FileAccess.Read, FileShare.Read);
        var done = 0;
        while (done < destination.Length)
        {
            var n = RandomAccess.Read(h, destination[done..], Offset + offset + done);
            if (n == 0) throw new DicomFormatException($"File '{Path}' ended before the value's {Length} bytes", Offset + offset + done);
            done += n;
        }
        if (_swapUnit > 1)
        {
            if (offset % _swapUnit != 0) throw new ArgumentException("Offset must be aligned to the value unit.", nameof(offset));
            ByteOrder.Swap(destination, _swapUnit);
        }
    }
}

internal static class ByteOrder
{
    public static void Swap(Span<byte> data, int unit)
    {
        switch (unit)
        {
            case 2:
                for (var i = 0; i + 1 < data.Length; i += 2) (data[i], data[i + 1]) = (data[i + 1], data[i]);
                break;
            case 4:
            case 8:
                for (var i = 0; i + unit <= data.Length; i += unit) data.Slice(i, unit).Reverse();
                break;
        }
    }
}
