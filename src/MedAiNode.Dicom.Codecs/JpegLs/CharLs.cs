using System.Runtime.InteropServices;
using MedAiNode.Dicom.Codecs.Native;
using MedAiNode.Dicom.Codecs.Pixels;

namespace MedAiNode.Dicom.Codecs.JpegLs;

/// <summary>JPEG-LS lossless and near-lossless decoding through CharLS 2.x's C API (charls_jpegls_decoder_*).</summary>
internal sealed unsafe class CharLs
{
    public static readonly NativeCodecLibrary DefaultLibrary =
        new("CharLS (JPEG-LS)", "libcharls2", "libcharls.so.2", "libCharLS.so.2", "libcharls.so", "charls");

    /// <summary>The instance bound to the system's library (see <see cref="Native.NativeCodecs.Installed"/>).</summary>
    internal static CharLs Default { get; } = new(DefaultLibrary);

    private readonly Lazy<Api> _api;

    public CharLs(NativeCodecLibrary library)
    {
        Library = library;
        _api = new Lazy<Api>(() => new Api(library));
    }

    public NativeCodecLibrary Library { get; }

    public bool IsAvailable
    {
        get
        {
            try { _ = _api.Value; return true; }
            catch (DicomCodecException) { return false; }
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct FrameInfo
    {
        public uint Width;
        public uint Height;
        public int BitsPerSample;
        public int ComponentCount;
    }

    private sealed class Api
    {
        public readonly delegate* unmanaged[Cdecl]<void*> Create;
        public readonly delegate* unmanaged[Cdecl]<void*, void> Destroy;
        public readonly delegate* unmanaged[Cdecl]<void*, void*, nuint, int> SetSource;
        public readonly delegate* unmanaged[Cdecl]<void*, int> ReadHeader;
        public readonly delegate* unmanaged[Cdecl]<void*, FrameInfo*, int> GetFrameInfo;
        public readonly delegate* unmanaged[Cdecl]<void*, int, int*, int> GetNearLossless;
        public readonly delegate* unmanaged[Cdecl]<void*, int*, int> GetInterleaveMode;
        public readonly delegate* unmanaged[Cdecl]<void*, uint, nuint*, int> GetDestinationSize;
        public readonly delegate* unmanaged[Cdecl]<void*, void*, nuint, uint, int> DecodeToBuffer;
        public readonly delegate* unmanaged[Cdecl]<int, byte*> GetErrorMessage;
        public readonly delegate* unmanaged[Cdecl]<void*> EncoderCreate;
        public readonly delegate* unmanaged[Cdecl]<void*, void> EncoderDestroy;
        public readonly delegate* unmanaged[Cdecl]<void*, FrameInfo*, int> EncoderSetFrameInfo;
        public readonly delegate* unmanaged[Cdecl]<void*, int, int> EncoderSetNearLossless;
        public readonly delegate* unmanaged[Cdecl]<void*, int, int> EncoderSetInterleaveMode;
        public readonly delegate* unmanaged[Cdecl]<void*, nuint*, int> EncoderGetEstimatedSize;
        public readonly delegate* unmanaged[Cdecl]<void*, void*, nuint, int> EncoderSetDestination;
        public readonly delegate* unmanaged[Cdecl]<void*, void*, nuint, uint, int> EncoderEncode;
        public readonly delegate* unmanaged[Cdecl]<void*, nuint*, int> EncoderGetBytesWritten;

        public Api(NativeCodecLibrary lib)
        {
            Create = (delegate* unmanaged[Cdecl]<void*>)lib.Export("charls_jpegls_decoder_create");
            Destroy = (delegate* unmanaged[Cdecl]<void*, void>)lib.Export("charls_jpegls_decoder_destroy");
            SetSource = (delegate* unmanaged[Cdecl]<void*, void*, nuint, int>)lib.Export("charls_jpegls_decoder_set_source_buffer");
            ReadHeader = (delegate* unmanaged[Cdecl]<void*, int>)lib.Export("charls_jpegls_decoder_read_header");
            GetFrameInfo = (delegate* unmanaged[Cdecl]<void*, FrameInfo*, int>)lib.Export("charls_jpegls_decoder_get_frame_info");
            GetNearLossless = (delegate* unmanaged[Cdecl]<void*, int, int*, int>)lib.Export("charls_jpegls_decoder_get_near_lossless");
            GetInterleaveMode = (delegate* unmanaged[Cdecl]<void*, int*, int>)lib.Export("charls_jpegls_decoder_get_interleave_mode");
            GetDestinationSize = (delegate* unmanaged[Cdecl]<void*, uint, nuint*, int>)lib.Export("charls_jpegls_decoder_get_destination_size");
            DecodeToBuffer = (delegate* unmanaged[Cdecl]<void*, void*, nuint, uint, int>)lib.Export("charls_jpegls_decoder_decode_to_buffer");
            GetErrorMessage = (delegate* unmanaged[Cdecl]<int, byte*>)lib.Export("charls_get_error_message");
            EncoderCreate = (delegate* unmanaged[Cdecl]<void*>)lib.Export("charls_jpegls_encoder_create");
            EncoderDestroy = (delegate* unmanaged[Cdecl]<void*, void>)lib.Export("charls_jpegls_encoder_destroy");
            EncoderSetFrameInfo = (delegate* unmanaged[Cdecl]<void*, FrameInfo*, int>)lib.Export("charls_jpegls_encoder_set_frame_info");
            EncoderSetNearLossless = (delegate* unmanaged[Cdecl]<void*, int, int>)lib.Export("charls_jpegls_encoder_set_near_lossless");
            EncoderSetInterleaveMode = (delegate* unmanaged[Cdecl]<void*, int, int>)lib.Export("charls_jpegls_encoder_set_interleave_mode");
            EncoderGetEstimatedSize = (delegate* unmanaged[Cdecl]<void*, nuint*, int>)lib.Export("charls_jpegls_encoder_get_estimated_destination_size");
            EncoderSetDestination = (delegate* unmanaged[Cdecl]<void*, void*, nuint, int>)lib.Export("charls_jpegls_encoder_set_destination_buffer");
            EncoderEncode = (delegate* unmanaged[Cdecl]<void*, void*, nuint, uint, int>)lib.Export("charls_jpegls_encoder_encode_from_buffer");
            EncoderGetBytesWritten = (delegate* unmanaged[Cdecl]<void*, nuint*, int>)lib.Export("charls_jpegls_encoder_get_bytes_written");
        }
    }

    /// <summary>Decodes into native little-endian pixel-interleaved samples; returns the NEAR parameter of the scan.</summary>
    public int Decode(ReadOnlySpan<byte> data, Span<byte> dest, in FrameLayout layout)
    {
        var api = _api.Value;
        var decoder = api.Create();
        if (decoder == null) throw new DicomCodecException("CharLS could not create a decoder.");
        try
        {
            fixed (byte* src = data)
            {
                Check(api, api.SetSource(decoder, src, (nuint)data.Length), "set the source");
                Check(api, api.ReadHeader(decoder), "read the JPEG-LS header");
                FrameInfo fi;
                Check(api, api.GetFrameInfo(decoder, &fi), "read the frame info");
                if (fi.Width != layout.Columns || fi.Height != layout.Rows || fi.ComponentCount != layout.SamplesPerPixel)
                    throw new DicomCodecException($"JPEG-LS frame is {fi.Width}x{fi.Height}x{fi.ComponentCount}; the dataset says {layout.Columns}x{layout.Rows}x{layout.SamplesPerPixel}.");
                var bytesPerSample = fi.BitsPerSample <= 8 ? 1 : 2;
                if (bytesPerSample > layout.BytesPerSample || layout.BytesPerSample > 2)
                    throw new DicomCodecException($"JPEG-LS samples are {fi.BitsPerSample} bits; they do not fit BitsAllocated {layout.BitsAllocated}.");
                int near, mode;
                Check(api, api.GetNearLossless(decoder, 0, &near), "read the NEAR parameter");
                Check(api, api.GetInterleaveMode(decoder, &mode), "read the interleave mode");
                nuint size;
                Check(api, api.GetDestinationSize(decoder, 0, &size), "size the output");
                var samples = layout.PixelCount * layout.SamplesPerPixel;
                if ((long)size != (long)samples * bytesPerSample) throw new DicomCodecException($"JPEG-LS frame decodes to {size} bytes; the dataset needs {samples * bytesPerSample}.");
                var planar = mode == 0 && layout.SamplesPerPixel > 1;
                var widen = bytesPerSample < layout.BytesPerSample; // 8-bit samples in 16-bit pixel data
                var tmp = planar || widen ? new byte[(int)size] : null;
                fixed (byte* d = tmp ?? dest)
                    Check(api, api.DecodeToBuffer(decoder, d, size, 0), "decode the frame");
                if (planar && !widen) SampleOps.Interleave(tmp, dest, layout.PixelCount, layout.SamplesPerPixel, bytesPerSample);
                else if (widen)
                {
                    var d16 = MemoryMarshal.Cast<byte, ushort>(dest);
                    var plane = layout.PixelCount;
                    for (var i = 0; i < samples; i++)
                        d16[i] = planar ? tmp![i % layout.SamplesPerPixel * plane + i / layout.SamplesPerPixel] : tmp![i];
                }
                SampleOps.SignExtend(dest[..layout.FrameSize], layout, Math.Min(fi.BitsPerSample, layout.BitsStored));
                return near;
            }
        }
        finally
        {
            api.Destroy(decoder);
        }
    }

    /// <summary>Encodes one native frame as lossless JPEG-LS, BitsStored deep. Signed samples stored in fewer bits than
    /// allocated are coded at the allocated depth as their sign-extended two's complement, as DCMTK does: decoders differ
    /// on whether to sign-extend a shallower codestream (GDCM does not), and a full-width one needs no extension at all.</summary>
    public byte[] EncodeLossless(ReadOnlySpan<byte> native, in FrameLayout layout)
    {
        var api = _api.Value;
        var precision = layout.Signed && layout.BitsStored < layout.BitsAllocated ? layout.BitsAllocated : layout.BitsStored;
        if (precision > 16 || precision < 2) throw new DicomCodecException($"JPEG-LS codes 2 to 16 bits per sample, not {precision}.");
        if (native.Length < layout.FrameSize) throw new DicomCodecException($"Frame has {native.Length} bytes; {layout.FrameSize} expected.");
        var samples = layout.PixelCount * layout.SamplesPerPixel;
        var outBytes = precision <= 8 ? 1 : 2;
        var mask = (1 << precision) - 1;
        var shift = 32 - layout.BitsStored;
        var source = new byte[samples * outBytes];
        for (var i = 0; i < samples; i++)
        {
            var v = layout.BytesPerSample == 1 ? native[i] : native[2 * i] | native[2 * i + 1] << 8;
            if (layout.BytesPerSample == 4) v = MemoryMarshal.Read<int>(native.Slice(4 * i, 4));
            if (layout.Signed) v = (v << shift) >> shift; // sign-extend from the stored bits first
            v &= mask;
            if (outBytes == 1) source[i] = (byte)v;
            else { source[2 * i] = (byte)v; source[2 * i + 1] = (byte)(v >> 8); }
        }
        var encoder = api.EncoderCreate();
        if (encoder == null) throw new DicomCodecException("CharLS could not create an encoder.");
        try
        {
            var fi = new FrameInfo { Width = (uint)layout.Columns, Height = (uint)layout.Rows, BitsPerSample = precision, ComponentCount = layout.SamplesPerPixel };
            Check(api, api.EncoderSetFrameInfo(encoder, &fi), "set the frame info");
            Check(api, api.EncoderSetNearLossless(encoder, 0), "select lossless coding");
            if (layout.SamplesPerPixel > 1) Check(api, api.EncoderSetInterleaveMode(encoder, 2), "select sample interleaving");
            nuint capacity;
            Check(api, api.EncoderGetEstimatedSize(encoder, &capacity), "size the output");
            var output = new byte[(int)capacity];
            fixed (byte* o = output)
            fixed (byte* src = source)
            {
                Check(api, api.EncoderSetDestination(encoder, o, capacity), "set the destination");
                Check(api, api.EncoderEncode(encoder, src, (nuint)source.Length, 0), "encode the frame");
            }
            nuint written;
            Check(api, api.EncoderGetBytesWritten(encoder, &written), "count the bytes written");
            return output.AsSpan(0, (int)written).ToArray();
        }
        finally
        {
            api.EncoderDestroy(encoder);
        }
    }

    private static void Check(Api api, int errc, string what)
    {
        if (errc == 0) return;
        var msg = Marshal.PtrToStringUTF8((IntPtr)api.GetErrorMessage(errc));
        throw new DicomCodecException($"CharLS could not {what}: {msg} (error {errc}).");
    }
}
