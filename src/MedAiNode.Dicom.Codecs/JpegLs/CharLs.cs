using System.Runtime.InteropServices;
using MedAiNode.Dicom.Codecs.Native;
using MedAiNode.Dicom.Codecs.Pixels;

namespace MedAiNode.Dicom.Codecs.JpegLs;

/// <summary>JPEG-LS lossless and near-lossless decoding through CharLS 2.x's C API (charls_jpegls_decoder_*).</summary>
internal sealed unsafe class CharLs
{
    public static readonly NativeCodecLibrary DefaultLibrary =
        new("CharLS (JPEG-LS)", "libcharls2", "libcharls.so.2", "libCharLS.so.2", "libcharls.so", "charls");

    public static CharLs Default => _default ??= new CharLs(DefaultLibrary);
    private static CharLs? _default;

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
                if (bytesPerSample != layout.BytesPerSample)
                    throw new DicomCodecException($"JPEG-LS samples are {fi.BitsPerSample} bits; they do not fit BitsAllocated {layout.BitsAllocated}.");
                int near, mode;
                Check(api, api.GetNearLossless(decoder, 0, &near), "read the NEAR parameter");
                Check(api, api.GetInterleaveMode(decoder, &mode), "read the interleave mode");
                nuint size;
                Check(api, api.GetDestinationSize(decoder, 0, &size), "size the output");
                if ((long)size != layout.FrameSize) throw new DicomCodecException($"JPEG-LS frame decodes to {size} bytes; the dataset needs {layout.FrameSize}.");
                var planar = mode == 0 && layout.SamplesPerPixel > 1;
                var tmp = planar ? new byte[layout.FrameSize] : null;
                fixed (byte* d = planar ? tmp : dest)
                    Check(api, api.DecodeToBuffer(decoder, d, size, 0), "decode the frame");
                if (planar) SampleOps.Interleave(tmp, dest, layout.PixelCount, layout.SamplesPerPixel, bytesPerSample);
                SampleOps.SignExtend(dest[..layout.FrameSize], layout, Math.Min(fi.BitsPerSample, layout.BitsStored));
                return near;
            }
        }
        finally
        {
            api.Destroy(decoder);
        }
    }

    private static void Check(Api api, int errc, string what)
    {
        if (errc == 0) return;
        var msg = Marshal.PtrToStringUTF8((IntPtr)api.GetErrorMessage(errc));
        throw new DicomCodecException($"CharLS could not {what}: {msg} (error {errc}).");
    }
}
