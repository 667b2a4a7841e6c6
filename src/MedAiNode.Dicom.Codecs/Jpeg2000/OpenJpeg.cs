using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using MedAiNode.Dicom.Codecs.Native;
using MedAiNode.Dicom.Codecs.Pixels;

namespace MedAiNode.Dicom.Codecs.Jpeg2000;

/// <summary>
/// JPEG 2000 (and High-Throughput JPEG 2000, which OpenJPEG 2.5 decodes) through libopenjp2 with in-memory stream
/// callbacks. Struct offsets are those of OpenJPEG 2.x on 64-bit Linux (checked against openjpeg.h 2.5.0).
/// </summary>
internal sealed unsafe class OpenJpeg
{
    public static readonly NativeCodecLibrary DefaultLibrary =
        new("OpenJPEG (JPEG 2000)", "libopenjp2-7", "libopenjp2.so.7", "libopenjp2.so", "openjp2");

    /// <summary>The instance bound to the system's library (see <see cref="Native.NativeCodecs.Installed"/>).</summary>
    internal static OpenJpeg Default { get; } = new(DefaultLibrary);

    private const int CodecJ2K = 0, CodecJP2 = 2;
    private const int ClrspcSrgb = 1, ClrspcGray = 2;
    // opj_image_t / opj_image_comp_t
    private const int ImgNumComps = 16, ImgComps = 24, ImgSize = 48;
    private const int CompDx = 0, CompDy = 4, CompW = 8, CompH = 12, CompPrec = 24, CompSgnd = 32, CompData = 48, CompSize = 64;
    // opj_cparameters_t (18720 bytes) / opj_dparameters_t (8252 bytes)
    private const int CpDistoAlloc = 20, CpNumLayers = 4796, CpRates = 4800, CpNumResolution = 5600, CpIrreversible = 5616, CpMct = 18698;
    private const int ParamsBytes = 32 * 1024;

    private readonly NativeCodecLibrary _lib;
    private readonly Lazy<Api> _api;

    public OpenJpeg(NativeCodecLibrary library)
    {
        _lib = library;
        _api = new Lazy<Api>(() => new Api(library));
    }

    public NativeCodecLibrary Library => _lib;
    public bool IsAvailable => _lib.IsAvailable && TryApi();

    private bool TryApi()
    {
        try { _ = _api.Value; return true; }
        catch (DicomCodecException) { return false; }
    }

    public string Version => Marshal.PtrToStringUTF8((IntPtr)_api.Value.Version()) ?? "";

    /// <summary>OpenJPEG decodes High-Throughput JPEG 2000 (Part 15) from version 2.5.</summary>
    public bool DecodesHighThroughput => IsAvailable && System.Version.TryParse(Version.Split('-')[0], out var v) && v >= new System.Version(2, 5);

    private sealed class Api
    {
        public readonly delegate* unmanaged[Cdecl]<byte*> Version;
        public readonly delegate* unmanaged[Cdecl]<int, void*> CreateDecompress;
        public readonly delegate* unmanaged[Cdecl]<int, void*> CreateCompress;
        public readonly delegate* unmanaged[Cdecl]<void*, void> DestroyCodec;
        public readonly delegate* unmanaged[Cdecl]<void*, void> SetDefaultDecoderParameters;
        public readonly delegate* unmanaged[Cdecl]<void*, void> SetDefaultEncoderParameters;
        public readonly delegate* unmanaged[Cdecl]<void*, void*, int> SetupDecoder;
        public readonly delegate* unmanaged[Cdecl]<void*, int, int> SetThreads;
        public readonly delegate* unmanaged[Cdecl]<void*, void*, void*, int> SetupEncoder;
        public readonly delegate* unmanaged[Cdecl]<void*, delegate* unmanaged[Cdecl]<byte*, void*, void>, void*, int> SetErrorHandler;
        public readonly delegate* unmanaged[Cdecl]<void*, void*, void**, int> ReadHeader; // stream, codec, image**
        public readonly delegate* unmanaged[Cdecl]<void*, void*, void*, int> Decode;
        public readonly delegate* unmanaged[Cdecl]<void*, void*, int> EndDecompress;
        public readonly delegate* unmanaged[Cdecl]<void*, void*, void*, int> StartCompress;
        public readonly delegate* unmanaged[Cdecl]<void*, void*, int> Encode;
        public readonly delegate* unmanaged[Cdecl]<void*, void*, int> EndCompress;
        public readonly delegate* unmanaged[Cdecl]<uint, void*, int, void*> ImageCreate;
        public readonly delegate* unmanaged[Cdecl]<void*, void> ImageDestroy;
        public readonly delegate* unmanaged[Cdecl]<nuint, int, void*> StreamCreate;
        public readonly delegate* unmanaged[Cdecl]<void*, void> StreamDestroy;
        public readonly delegate* unmanaged[Cdecl]<void*, delegate* unmanaged[Cdecl]<void*, nuint, void*, nuint>, void> SetRead;
        public readonly delegate* unmanaged[Cdecl]<void*, delegate* unmanaged[Cdecl]<void*, nuint, void*, nuint>, void> SetWrite;
        public readonly delegate* unmanaged[Cdecl]<void*, delegate* unmanaged[Cdecl]<long, void*, long>, void> SetSkip;
        public readonly delegate* unmanaged[Cdecl]<void*, delegate* unmanaged[Cdecl]<long, void*, int>, void> SetSeek;
        public readonly delegate* unmanaged[Cdecl]<void*, void*, void*, void> SetUserData;
        public readonly delegate* unmanaged[Cdecl]<void*, ulong, void> SetUserDataLength;

        public Api(NativeCodecLibrary lib)
        {
            Version = (delegate* unmanaged[Cdecl]<byte*>)lib.Export("opj_version");
            CreateDecompress = (delegate* unmanaged[Cdecl]<int, void*>)lib.Export("opj_create_decompress");
            CreateCompress = (delegate* unmanaged[Cdecl]<int, void*>)lib.Export("opj_create_compress");
            DestroyCodec = (delegate* unmanaged[Cdecl]<void*, void>)lib.Export("opj_destroy_codec");
            SetDefaultDecoderParameters = (delegate* unmanaged[Cdecl]<void*, void>)lib.Export("opj_set_default_decoder_parameters");
            SetDefaultEncoderParameters = (delegate* unmanaged[Cdecl]<void*, void>)lib.Export("opj_set_default_encoder_parameters");
            SetupDecoder = (delegate* unmanaged[Cdecl]<void*, void*, int>)lib.Export("opj_setup_decoder");
            SetThreads = (delegate* unmanaged[Cdecl]<void*, int, int>)lib.Export("opj_codec_set_threads");
            SetupEncoder = (delegate* unmanaged[Cdecl]<void*, void*, void*, int>)lib.Export("opj_setup_encoder");
            SetErrorHandler = (delegate* unmanaged[Cdecl]<void*, delegate* unmanaged[Cdecl]<byte*, void*, void>, void*, int>)lib.Export("opj_set_error_handler");
            ReadHeader = (delegate* unmanaged[Cdecl]<void*, void*, void**, int>)lib.Export("opj_read_header");
            Decode = (delegate* unmanaged[Cdecl]<void*, void*, void*, int>)lib.Export("opj_decode");
            EndDecompress = (delegate* unmanaged[Cdecl]<void*, void*, int>)lib.Export("opj_end_decompress");
            StartCompress = (delegate* unmanaged[Cdecl]<void*, void*, void*, int>)lib.Export("opj_start_compress");
            Encode = (delegate* unmanaged[Cdecl]<void*, void*, int>)lib.Export("opj_encode");
            EndCompress = (delegate* unmanaged[Cdecl]<void*, void*, int>)lib.Export("opj_end_compress");
            ImageCreate = (delegate* unmanaged[Cdecl]<uint, void*, int, void*>)lib.Export("opj_image_create");
            ImageDestroy = (delegate* unmanaged[Cdecl]<void*, void>)lib.Export("opj_image_destroy");
            StreamCreate = (delegate* unmanaged[Cdecl]<nuint, int, void*>)lib.Export("opj_stream_create");
            StreamDestroy = (delegate* unmanaged[Cdecl]<void*, void>)lib.Export("opj_stream_destroy");
            SetRead = (delegate* unmanaged[Cdecl]<void*, delegate* unmanaged[Cdecl]<void*, nuint, void*, nuint>, void>)lib.Export("opj_stream_set_read_function");
            SetWrite = (delegate* unmanaged[Cdecl]<void*, delegate* unmanaged[Cdecl]<void*, nuint, void*, nuint>, void>)lib.Export("opj_stream_set_write_function");
            SetSkip = (delegate* unmanaged[Cdecl]<void*, delegate* unmanaged[Cdecl]<long, void*, long>, void>)lib.Export("opj_stream_set_skip_function");
            SetSeek = (delegate* unmanaged[Cdecl]<void*, delegate* unmanaged[Cdecl]<long, void*, int>, void>)lib.Export("opj_stream_set_seek_function");
            SetUserData = (delegate* unmanaged[Cdecl]<void*, void*, void*, void>)lib.Export("opj_stream_set_user_data");
            SetUserDataLength = (delegate* unmanaged[Cdecl]<void*, ulong, void>)lib.Export("opj_stream_set_user_data_length");
        }
    }

    /// <summary>What the codestream said about its first component, for callers that check it against the dataset.</summary>
    public readonly record struct CodestreamInfo(int Width, int Height, int Components, int Precision, bool Signed);

    // ------------------------------------------------------------------ streams over memory

    private struct MemStream
    {
        public byte* Data;
        public long Length;
        public long Position;
        public long Capacity; // for output streams
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nuint ReadCallback(void* buffer, nuint count, void* user)
    {
        var s = (MemStream*)user;
        var left = s->Length - s->Position;
        if (left <= 0) return unchecked((nuint)(-1));
        var n = (long)Math.Min((ulong)left, count);
        Buffer.MemoryCopy(s->Data + s->Position, buffer, n, n);
        s->Position += n;
        return (nuint)n;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static long SkipCallback(long count, void* user)
    {
        var s = (MemStream*)user;
        var target = Math.Clamp(s->Position + count, 0, s->Length);
        if (count > 0 && s->Position >= s->Length) return -1;
        var moved = target - s->Position;
        s->Position = target;
        return moved;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int SeekCallback(long offset, void* user)
    {
        var s = (MemStream*)user;
        if (offset < 0 || offset > s->Length) return 0;
        s->Position = offset;
        return 1;
    }

    /// <summary>Grows the buffer to <paramref name="capacity"/> when <paramref name="need"/> bytes do not fit.</summary>
    private static void Reserve(MemStream* s, long need, long capacity)
    {
        if (need <= s->Capacity) return;
        s->Data = (byte*)NativeMemory.Realloc(s->Data, (nuint)capacity);
        s->Capacity = capacity;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nuint WriteCallback(void* buffer, nuint count, void* user)
    {
        var s = (MemStream*)user;
        var need = s->Position + (long)count;
        Reserve(s, need, Math.Max(need, s->Capacity * 2));
        Buffer.MemoryCopy(buffer, s->Data + s->Position, count, count);
        s->Position = need;
        if (need > s->Length) s->Length = need;
        return count;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static long WriteSkipCallback(long count, void* user)
    {
        var s = (MemStream*)user;
        var target = s->Position + count;
        if (target < 0) return -1;
        Reserve(s, target, target);
        if (target > s->Length) { new Span<byte>(s->Data + s->Length, (int)(target - s->Length)).Clear(); s->Length = target; }
        s->Position = target;
        return count;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void ErrorCallback(byte* message, void* user)
    {
        if (GCHandle.FromIntPtr((IntPtr)user).Target is StringBuilder sb && sb.Length < 2000)
            sb.Append(Marshal.PtrToStringUTF8((IntPtr)message)?.Trim()).Append("; ");
    }

    // ------------------------------------------------------------------ decode

    /// <summary>Decodes a J2K codestream (or JP2 file) into native little-endian, pixel-interleaved samples.</summary>
    public CodestreamInfo Decode(ReadOnlySpan<byte> data, Span<byte> dest, in FrameLayout layout)
    {
        var api = _api.Value;
        if (data.Length < 12) throw new DicomCodecException($"JPEG 2000 frame is only {data.Length} bytes.");
        var format = data[0] == 0xFF && data[1] == 0x4F ? CodecJ2K
            : data[4] == (byte)'j' && data[5] == (byte)'P' ? CodecJP2
            : throw new DicomCodecException("JPEG 2000 frame starts with neither an SOC marker (FF4F) nor a JP2 signature box.");
        var errors = new StringBuilder();
        var errorsHandle = GCHandle.Alloc(errors);
        void* codec = null, stream = null, image = null, parameters = null;
        try
        {
            fixed (byte* p = data)
            {
                var mem = new MemStream { Data = p, Length = data.Length };
                codec = api.CreateDecompress(format);
                if (codec == null) throw new DicomCodecException("OpenJPEG could not create a decoder.");
                api.SetErrorHandler(codec, &ErrorCallback, (void*)GCHandle.ToIntPtr(errorsHandle));
                parameters = NativeMemory.AllocZeroed(ParamsBytes);
                api.SetDefaultDecoderParameters(parameters);
                if (api.SetupDecoder(codec, parameters) == 0) throw Fail("set up the decoder", errors);
                if (DicomCodecSettings.Jpeg2000Threads > 1) api.SetThreads(codec, DicomCodecSettings.Jpeg2000Threads); // false without thread support: fine
                stream = api.StreamCreate((nuint)Math.Min(data.Length, 1 << 20), 1);
                api.SetRead(stream, &ReadCallback);
                api.SetSkip(stream, &SkipCallback);
                api.SetSeek(stream, &SeekCallback);
                api.SetUserData(stream, &mem, null);
                api.SetUserDataLength(stream, (ulong)data.Length);
                if (api.ReadHeader(stream, codec, &image) == 0) throw Fail("read the codestream header", errors);
                // Refuse a codestream that disagrees with the dataset before OpenJPEG allocates its tiles.
                var img = (uint*)image;
                if (img[2] - img[0] != layout.Columns || img[3] - img[1] != layout.Rows || *(uint*)((byte*)image + ImgNumComps) != layout.SamplesPerPixel)
                    throw new DicomCodecException($"JPEG 2000 codestream is {img[2] - img[0]}x{img[3] - img[1]}x{*(uint*)((byte*)image + ImgNumComps)}; the dataset says {layout.Columns}x{layout.Rows}x{layout.SamplesPerPixel}.");
                if (api.Decode(codec, stream, image) == 0) throw Fail("decode the codestream", errors);
                api.EndDecompress(codec, stream);
                return CopyOut((byte*)image, dest, layout);
            }
        }
        finally
        {
            if (stream != null) api.StreamDestroy(stream);
            if (codec != null) api.DestroyCodec(codec);
            if (image != null) api.ImageDestroy(image);
            if (parameters != null) NativeMemory.Free(parameters);
            errorsHandle.Free();
        }
    }

    private static DicomCodecException Fail(string what, StringBuilder errors) =>
        new($"OpenJPEG could not {what}{(errors.Length > 0 ? ": " + errors.ToString().TrimEnd(' ', ';') : "")}.");

    private static CodestreamInfo CopyOut(byte* image, Span<byte> dest, in FrameLayout layout)
    {
        var numComps = *(uint*)(image + ImgNumComps);
        var comps = *(byte**)(image + ImgComps);
        if (numComps != layout.SamplesPerPixel)
            throw new DicomCodecException($"JPEG 2000 codestream has {numComps} component(s); SamplesPerPixel is {layout.SamplesPerPixel}.");
        var bps = layout.BytesPerSample;
        var spp = layout.SamplesPerPixel;
        var pixels = layout.PixelCount;
        CodestreamInfo info = default;
        for (var c = 0; c < numComps; c++)
        {
            var comp = comps + c * CompSize;
            var w = *(uint*)(comp + CompW);
            var h = *(uint*)(comp + CompH);
            var prec = (int)*(uint*)(comp + CompPrec);
            var sgnd = *(uint*)(comp + CompSgnd) != 0;
            var samples = *(int**)(comp + CompData);
            if (c == 0) info = new CodestreamInfo((int)w, (int)h, (int)numComps, prec, sgnd);
            if (*(uint*)(comp + CompDx) != 1 || *(uint*)(comp + CompDy) != 1)
                throw new DicomCodecException($"JPEG 2000 component {c} is subsampled; DICOM pixel data needs full-resolution components.");
            if (w != layout.Columns || h != layout.Rows)
                throw new DicomCodecException($"JPEG 2000 codestream is {w}x{h}; the dataset says {layout.Columns}x{layout.Rows}.");
            if (prec > layout.BitsAllocated)
                throw new DicomCodecException($"JPEG 2000 precision {prec} does not fit BitsAllocated {layout.BitsAllocated}.");
            if (samples == null) throw new DicomCodecException("OpenJPEG returned no samples.");
            var src = new ReadOnlySpan<int>(samples, pixels);
            switch (bps)
            {
                case 1:
                    for (var i = 0; i < pixels; i++) dest[i * spp + c] = (byte)src[i];
                    break;
                case 2:
                    var d16 = MemoryMarshal.Cast<byte, ushort>(dest);
                    if (spp == 1) for (var i = 0; i < pixels; i++) d16[i] = (ushort)src[i];
                    else for (var i = 0; i < pixels; i++) d16[i * spp + c] = (ushort)src[i];
                    break;
                default:
                    var d32 = MemoryMarshal.Cast<byte, int>(dest);
                    for (var i = 0; i < pixels; i++) d32[i * spp + c] = src[i];
                    break;
            }
            // An unsigned codestream inside signed pixel data holds two's complement bit patterns of its precision.
            if (layout.Signed && !sgnd && c == numComps - 1)
                SampleOps.SignExtend(dest[..layout.FrameSize], layout, Math.Min(prec, layout.BitsStored));
        }
        return info;
    }

    // ------------------------------------------------------------------ encode

    /// <summary>Encodes one native frame as a lossless (reversible 5/3, one layer) J2K codestream, BitsStored bits deep.</summary>
    public byte[] EncodeLossless(ReadOnlySpan<byte> native, in FrameLayout layout)
    {
        var api = _api.Value;
        if (native.Length < layout.FrameSize) throw new DicomCodecException($"Frame has {native.Length} bytes; {layout.FrameSize} expected.");
        if (layout.BitsStored > 31) throw new DicomCodecException("JPEG 2000 encodes at most 31 bits per sample here.");
        var errors = new StringBuilder();
        var errorsHandle = GCHandle.Alloc(errors);
        void* codec = null, stream = null, image = null, parameters = null;
        var mem = new MemStream { Capacity = Math.Max(4096, layout.FrameSize / 2) };
        mem.Data = (byte*)NativeMemory.Alloc((nuint)mem.Capacity);
        try
        {
            var spp = layout.SamplesPerPixel;
            var cmpt = stackalloc uint[9 * 4];
            for (var c = 0; c < spp; c++)
            {
                var p = cmpt + 9 * c;
                p[0] = 1; p[1] = 1; // dx, dy
                p[2] = (uint)layout.Columns; p[3] = (uint)layout.Rows;
                p[4] = 0; p[5] = 0; // x0, y0
                p[6] = (uint)layout.BitsStored; p[7] = (uint)layout.BitsStored; // prec, bpp
                p[8] = layout.Signed ? 1u : 0u;
            }
            image = api.ImageCreate((uint)spp, cmpt, spp == 1 ? ClrspcGray : ClrspcSrgb);
            if (image == null) throw new DicomCodecException("OpenJPEG could not allocate the image.");
            var img = (uint*)image;
            img[0] = 0; img[1] = 0; img[2] = (uint)layout.Columns; img[3] = (uint)layout.Rows;
            FillImage((byte*)image, native, layout);

            parameters = NativeMemory.AllocZeroed(ParamsBytes);
            api.SetDefaultEncoderParameters(parameters);
            var pb = (byte*)parameters;
            *(int*)(pb + CpNumLayers) = 1;
            *(float*)(pb + CpRates) = 0; // 0 = lossless layer
            *(int*)(pb + CpDistoAlloc) = 1;
            *(int*)(pb + CpIrreversible) = 0;
            var minSide = Math.Min(layout.Rows, layout.Columns);
            var levels = 1;
            while (levels < 6 && minSide >> levels > 0) levels++; // 2^(resolutions-1) may not exceed the image side
            *(int*)(pb + CpNumResolution) = levels;
            pb[CpMct] = 0; // no colour transform: keeps Photometric RGB valid for lossless

            codec = api.CreateCompress(CodecJ2K);
            if (codec == null) throw new DicomCodecException("OpenJPEG could not create an encoder.");
            api.SetErrorHandler(codec, &ErrorCallback, (void*)GCHandle.ToIntPtr(errorsHandle));
            if (api.SetupEncoder(codec, parameters, image) == 0) throw Fail("set up the encoder", errors);
            if (DicomCodecSettings.Jpeg2000Threads > 1) api.SetThreads(codec, DicomCodecSettings.Jpeg2000Threads);
            stream = api.StreamCreate(1 << 20, 0);
            api.SetWrite(stream, &WriteCallback);
            api.SetSkip(stream, &WriteSkipCallback);
            api.SetSeek(stream, &SeekCallback); // seeking is the same for reading and writing: within what is there
            api.SetUserData(stream, &mem, null);
            if (api.StartCompress(codec, image, stream) == 0) throw Fail("start compressing", errors);
            if (api.Encode(codec, stream) == 0) throw Fail("encode", errors);
            if (api.EndCompress(codec, stream) == 0) throw Fail("finish the codestream", errors);
            api.StreamDestroy(stream); // flushes its buffer into mem
            stream = null;
            return new ReadOnlySpan<byte>(mem.Data, (int)mem.Length).ToArray();
        }
        finally
        {
            if (stream != null) api.StreamDestroy(stream);
            if (codec != null) api.DestroyCodec(codec);
            if (image != null) api.ImageDestroy(image);
            if (parameters != null) NativeMemory.Free(parameters);
            NativeMemory.Free(mem.Data);
            errorsHandle.Free();
        }
    }

    private static void FillImage(byte* image, ReadOnlySpan<byte> native, in FrameLayout layout)
    {
        var comps = *(byte**)(image + ImgComps);
        var spp = layout.SamplesPerPixel;
        var pixels = layout.PixelCount;
        var shift = 32 - layout.BitsStored;
        var mask = layout.BitsStored >= 32 ? -1 : (int)((1u << layout.BitsStored) - 1);
        for (var c = 0; c < spp; c++)
        {
            var dst = new Span<int>(*(int**)(comps + c * CompSize + CompData), pixels);
            for (var i = 0; i < pixels; i++)
            {
                var at = i * spp + c;
                var v = layout.BytesPerSample switch
                {
                    1 => native[at],
                    2 => native[2 * at] | native[2 * at + 1] << 8,
                    _ => MemoryMarshal.Read<int>(native.Slice(4 * at, 4)),
                };
                // Only the stored bits are image data; sign-extend them for signed data, drop bits above the high bit otherwise.
                dst[i] = layout.Signed ? (v << shift) >> shift : v & mask;
            }
        }
    }
}
