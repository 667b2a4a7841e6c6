using System.Diagnostics;

namespace MedAiNode.DicomWeb.Http;

/// <summary>What a response body may take: at most so many bytes, so long in all, so long silent, and no slower than a
/// floor rate averaged over each idle-timeout window (a 1-byte-per-2-s trickle never goes silent, so the idle timeout
/// alone does not end it). Each limit names the configuration key that sets it, for the error message.</summary>
public sealed record BodyLimits(
    long? MaxBytes, string MaxBytesKey,
    TimeSpan Total, string TotalKey,
    TimeSpan Idle, string IdleKey,
    long MinBytesPerSecond, string MinRateKey);

/// <summary>The body broke a size limit of <see cref="BodyLimits"/>: the PACS is sending more than any sane answer.</summary>
public sealed class ResponseTooLargeException(string message) : Exception(message);

/// <summary>
/// Wraps a response body so that reading it ends, with a clear error, when the PACS sends too much, too slowly or not at
/// all: a whole-response deadline, an idle deadline per read, a minimum rate over each idle window, and a byte cap.
/// Timeouts are <see cref="TimeoutException"/> (a broken stream, which a WADO retrieve resumes); the cap is
/// <see cref="ResponseTooLargeException"/>. A caller's own cancellation stays an <see cref="OperationCanceledException"/>.
/// </summary>
public sealed class GuardedBodyStream : Stream
{
    private readonly Stream _inner;
    private readonly BodyLimits _limits;
    private readonly string _what;
    private readonly long _start = Stopwatch.GetTimestamp();
    private long _windowStart;
    private long _windowBytes;

    public GuardedBodyStream(Stream inner, BodyLimits limits, string what)
    {
        _inner = inner;
        _limits = limits;
        _what = what;
        _windowStart = _start;
    }

    /// <summary>Bytes read so far.</summary>
    public long BytesRead { get; private set; }

    /// <summary>Refuses a body whose declared length is already over the cap, before reading any of it.</summary>
    public static void CheckDeclaredLength(long? contentLength, BodyLimits limits, string what)
    {
        if (contentLength is { } n && limits.MaxBytes is { } max && n > max)
            throw new ResponseTooLargeException($"{what}: the response declares {n} bytes, more than the {max} allowed ({limits.MaxBytesKey})");
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var elapsed = Stopwatch.GetElapsedTime(_start);
        var left = _limits.Total - elapsed;
        if (left <= TimeSpan.Zero) throw WholeTimeout();
        var wait = left < _limits.Idle ? left : _limits.Idle;
        // Never ask for more than the cap allows plus one byte, so an endless body stops at the cap, not a buffer later.
        if (_limits.MaxBytes is { } max && buffer.Length > max - BytesRead + 1)
            buffer = buffer[..(int)Math.Max(1, max - BytesRead + 1)];
        int n;
        using (var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            cts.CancelAfter(wait);
            try
            {
                n = await _inner.ReadAsync(buffer, cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                throw wait < _limits.Idle ? WholeTimeout(e)
                    : new TimeoutException($"{_what}: no data received for {_limits.Idle.TotalSeconds:0.#} s ({_limits.IdleKey})", e);
            }
        }
        BytesRead += n;
        if (_limits.MaxBytes is { } cap && BytesRead > cap)
            throw new ResponseTooLargeException($"{_what}: the response is larger than the {cap} bytes allowed ({_limits.MaxBytesKey}); reading stopped there");
        if (_limits.MinBytesPerSecond > 0 && n > 0)
        {
            _windowBytes += n;
            var window = Stopwatch.GetElapsedTime(_windowStart);
            if (window >= _limits.Idle)
            {
                var floor = _limits.MinBytesPerSecond * window.TotalSeconds;
                if (_windowBytes < floor)
                    throw new TimeoutException($"{_what}: only {_windowBytes} bytes in {window.TotalSeconds:0.#} s, below the {_limits.MinBytesPerSecond} bytes/s floor ({_limits.MinRateKey})");
                _windowStart = Stopwatch.GetTimestamp();
                _windowBytes = 0;
            }
        }
        return n;
    }

    private TimeoutException WholeTimeout(Exception? inner = null) =>
        new($"{_what}: the response took longer than {_limits.Total.TotalSeconds:0.#} s ({_limits.TotalKey})", inner);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) _inner.Dispose();
        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync() => _inner.DisposeAsync();
}
