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

/// <summary>Which version of a file a lazily read value came from: its length and last write time when it was parsed.
/// The store replaces a file by renaming another over it (an instance received again), so a path can name different
/// bytes later; a value read through a changed file would come from the wrong offset.</summary>
public readonly record struct FileStamp(long Length, DateTime LastWriteUtc)
{
    public static FileStamp Of(SafeFileHandle handle) => new(RandomAccess.GetLength(handle), File.GetLastWriteTimeUtc(handle));
}

/// <summary>A file read for a value no longer holds the bytes its header was parsed from (the instance was received
/// again and its file replaced, or the file was rewritten): an I/O condition, so a job reading it is retried on the
/// file as it is now, never given the wrong pixels.</summary>
public sealed class DicomFileChangedException(string path) : IOException(
    $"File '{System.IO.Path.GetFileName(path)}' changed after its header was read (received again?); its values must be read from the new file.");

/// <summary>A range of a file read on demand, so opening many large files to sort them does not load their pixels.</summary>
/// <param name="stamp">The file as parsed; a read from a file that no longer matches it fails with
/// <see cref="DicomFileChangedException"/>. Null: not checked.</param>
public sealed class FileByteBuffer(string path, long offset, int length, int swapUnit = 1, FileStamp? stamp = null) : IByteBuffer
{
    private readonly int _swapUnit = swapUnit;

    public string Path { get; } = path;
    public long Offset { get; } = offset;
    public int Length { get; } = length;
    public FileStamp? Stamp { get; } = stamp;
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
        SafeFileHandle h;
        try { h = File.OpenHandle(Path, FileMode.Open, FileAccess.Read, FileShare.Read); }
        catch (FileNotFoundException) when (Stamp is not null) { throw new DicomFileChangedException(Path); }
        using (h)
        {
            // Checked on the handle read from, so a rename between the check and the read cannot slip through.
            if (Stamp is { } expected && FileStamp.Of(h) != expected) throw new DicomFileChangedException(Path);
            var done = 0;
            while (done < destination.Length)
            {
                var n = RandomAccess.Read(h, destination[done..], Offset + offset + done);
                if (n == 0) throw new DicomFormatException($"File '{Path}' ended before the value's {Length} bytes", Offset + offset + done);
                done += n;
            }
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
