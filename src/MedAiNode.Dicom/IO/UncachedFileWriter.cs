using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace MedAiNode.Dicom.IO;

/// <summary>
/// Writes new files around the page cache (Linux O_DIRECT), for files written once and read much later: instances
/// already durable in the intake journal, filed after their answer. A buffered write of a new file first takes fresh
/// page-cache pages and copies into them (on a virtual machine whose free pages went back to the host, 3 to 4 ms of CPU
/// for a 512 KiB CT slice, measured in docs/benchmarks.md), then writes them back later; this writes straight from a
/// page-aligned buffer and costs about a tenth of that CPU. The data is on the device (not yet past its cache) when a
/// write returns; the file's name and size are made durable by whoever syncs the folder or the file system.
/// Where the file system refuses O_DIRECT (tmpfs before Linux 6.6, some FUSE) or the platform has none, <see cref="Supported"/> is false
/// and the caller writes as usual.
/// </summary>
public sealed partial class UncachedFileWriter : IDisposable
{
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "pwrite", SetLastError = true)]
    private static partial nint PWrite(int fd, ReadOnlySpan<byte> buffer, nint count, long offset);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    private static partial int FTruncate(int fd, long length);

    // Offsets, lengths and buffers a multiple of this: a 4 KiB-sector device's logical block, and a 512-byte one's too.
    private const int Alignment = 4096;
    private const int O_WRONLY = 0x1, O_CREAT = 0x40, O_EXCL = 0x80, O_CLOEXEC = 0x80000;
    private const int EINTR = 4, EINVAL = 22;
    // Buffers kept for the next file: one per association filing at the same time, up to this many.
    private const int MaxPooled = 4;
    private const int MaxPooledBytes = (2 << 20) + Alignment;

    private readonly int _oDirect;
    private readonly ConcurrentBag<byte[]> _free = new();
    private volatile bool _supported;
    private volatile bool _disposed;

    public UncachedFileWriter() : this(PlatformDirectFlag()) { }

    /// <param name="oDirect">The open flag; 0: none (as on a platform without it; tests of the fallback).</param>
    internal UncachedFileWriter(int oDirect)
    {
        _oDirect = oDirect;
        _supported = oDirect != 0;
    }

    // O_DIRECT's value differs by architecture.
    private static int PlatformDirectFlag() => !OperatingSystem.IsLinux() ? 0 : RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 0x4000,
        Architecture.Arm64 => 0x10000,
        _ => 0,
    };

    /// <summary>False once the file system refused an uncached write (or on a platform without one): callers write
    /// through the page cache from then on.</summary>
    public bool Supported => _supported;

    /// <summary>Writes <paramref name="content"/> as a new file at <paramref name="path"/> (which must not exist).
    /// False, with nothing left behind, when the file system does not take uncached writes; any other failure (disk
    /// full, I/O error) throws an <see cref="IOException"/> whose HResult is the errno, the file removed.</summary>
    public bool TryWriteNew(string path, ReadOnlySpan<byte> content)
    {
        if (!_supported) return false;
        var fd = Open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | _oDirect, 0x1B6 /* 0666, less the umask, as FileStream */);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == EINVAL) return Refused();
            throw DurableFile.Error("creating a file to file an instance in", errno);
        }
        var written = false;
        var buffer = Rent(content.Length, out var span);
        try
        {
            content.CopyTo(span);
            // The padding is written and cut off again; zeroed so no earlier instance's bytes reach the disk.
            span[content.Length..].Clear();
            long offset = 0;
            while (offset < span.Length)
            {
                var n = PWrite(fd, span[(int)offset..], span.Length - (int)offset, offset);
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == EINTR) continue;
                    // Alignment refused (a device with larger blocks), also after a short write: buffered from now on.
                    if (errno == EINVAL) return Refused();
                    throw DurableFile.Error("writing an instance's file", errno);
                }
                offset += n;
            }
            if (FTruncate(fd, content.Length) != 0) throw DurableFile.Error("setting an instance's file length", Marshal.GetLastPInvokeError());
            written = true;
            return true;
        }
        finally
        {
            Return(buffer);
            DurableFile.close(fd);
            if (!written) DurableFile.TryDelete(path);
        }
    }

    private bool Refused()
    {
        _supported = false;
        return false;
    }

    /// <summary>A pinned buffer (it never moves, so its address stays aligned) and, in it, an aligned span of the
    /// content's length rounded up to whole blocks.</summary>
    private byte[] Rent(int length, out Span<byte> span)
    {
        var need = (length + Alignment - 1) / Alignment * Alignment;
        if (!_free.TryTake(out var array) || array.Length < need + Alignment)
            array = GC.AllocateUninitializedArray<byte>(Math.Max(need, 1 << 20) + Alignment, pinned: true);
        var address = Marshal.UnsafeAddrOfPinnedArrayElement(array, 0);
        var skip = (int)((Alignment - (address % Alignment)) % Alignment);
        span = array.AsSpan(skip, need);
        return array;
    }

    private void Return(byte[] array)
    {
        // A buffer for a rare large instance (up to the 8 MiB an SCP holds) is not kept: pinned memory for good.
        if (!_disposed && array.Length <= MaxPooledBytes && _free.Count < MaxPooled) _free.Add(array);
    }

    public void Dispose()
    {
        _disposed = true;
        _free.Clear();
    }
}
