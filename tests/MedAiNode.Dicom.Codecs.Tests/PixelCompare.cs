using System.Runtime.InteropServices;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;

namespace MedAiNode.Dicom.Codecs.Tests;

/// <summary>Helpers to load reference pixels and compare decoded frames.</summary>
internal static class PixelCompare
{
    public static string Wg04(string name) => TestData.Path_("compressed", "wg04", name + ".dcm");
    public static string Other(string name) => TestData.Path_("compressed", "other", name);

    public static byte[] Frame(string path, int frame = 0)
    {
        var f = DicomFile.Open(path);
        return DicomPixelDecoder.DecodeFrame(f.Dataset, f.TransferSyntax, frame);
    }

    /// <summary>Largest absolute difference between two frames of 16-bit samples.</summary>
    public static int MaxDiff16(byte[] a, byte[] b, bool signed)
    {
        Assert.Equal(a.Length, b.Length);
        var max = 0;
        if (signed)
        {
            var x = MemoryMarshal.Cast<byte, short>(a);
            var y = MemoryMarshal.Cast<byte, short>(b);
            for (var i = 0; i < x.Length; i++) max = Math.Max(max, Math.Abs(x[i] - y[i]));
        }
        else
        {
            var x = MemoryMarshal.Cast<byte, ushort>(a);
            var y = MemoryMarshal.Cast<byte, ushort>(b);
            for (var i = 0; i < x.Length; i++) max = Math.Max(max, Math.Abs(x[i] - y[i]));
        }
        return max;
    }

    /// <summary>PSNR in dB of 16-bit signed samples, the peak being the reference's dynamic range.</summary>
    public static double Psnr16(byte[] reference, byte[] test)
    {
        var x = MemoryMarshal.Cast<byte, short>(reference);
        var y = MemoryMarshal.Cast<byte, short>(test);
        double se = 0;
        int min = int.MaxValue, max = int.MinValue;
        for (var i = 0; i < x.Length; i++)
        {
            double d = x[i] - y[i];
            se += d * d;
            min = Math.Min(min, x[i]);
            max = Math.Max(max, x[i]);
        }
        var mse = se / x.Length;
        double peak = max - min;
        return mse == 0 ? double.PositiveInfinity : 10 * Math.Log10(peak * peak / mse);
    }

    /// <summary>Index and values of the first differing byte, for a readable failure.</summary>
    public static string FirstDifference(byte[] a, byte[] b)
    {
        if (a.Length != b.Length) return $"lengths {a.Length} and {b.Length}";
        for (var i = 0; i < a.Length; i++)
            if (a[i] != b[i]) return $"byte {i}: {a[i]} vs {b[i]}";
        return "identical";
    }
}
