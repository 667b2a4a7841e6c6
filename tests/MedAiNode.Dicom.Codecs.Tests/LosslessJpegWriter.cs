namespace MedAiNode.Dicom.Codecs.Tests;

/// <summary>
/// A small JPEG lossless (process 14) encoder for tests, written from T.81 Annex H, for layouts DCMTK does not emit:
/// restart intervals, several components in one interleaved scan or one scan per component.
/// </summary>
internal static class LosslessJpegWriter
{
    public static byte[] Encode(ushort[] samples, int width, int height, int components, int precision, int predictor,
        int restartInterval, bool interleaved)
    {
        var o = new List<byte> { 0xFF, 0xD8 };
        void Segment(byte marker, params byte[] body)
        {
            o.Add(0xFF); o.Add(marker);
            o.Add((byte)((body.Length + 2) >> 8)); o.Add((byte)(body.Length + 2));
            o.AddRange(body);
        }
        var sof = new List<byte> { (byte)precision, (byte)(height >> 8), (byte)height, (byte)(width >> 8), (byte)width, (byte)components };
        for (var c = 0; c < components; c++) sof.AddRange([(byte)(c + 1), 0x11, 0]);
        Segment(0xC3, [.. sof]);
        // Every SSSS category 0..16 gets a 5-bit code.
        var bits = new byte[16];
        bits[4] = 17;
        Segment(0xC4, [0x00, .. bits, .. Enumerable.Range(0, 17).Select(v => (byte)v)]);
        if (restartInterval > 0) Segment(0xDD, (byte)(restartInterval >> 8), (byte)restartInterval);

        var scans = interleaved ? [Enumerable.Range(0, components).ToArray()] : Enumerable.Range(0, components).Select(c => new[] { c }).ToList();
        foreach (var scan in scans)
        {
            var sos = new List<byte> { (byte)scan.Length };
            foreach (var c in scan) sos.AddRange([(byte)(c + 1), 0x00]);
            sos.AddRange([(byte)predictor, 0, 0]);
            Segment(0xDA, [.. sos]);
            var w = new BitWriter(o);
            var restarts = 0;
            var firstLine = 0;
            var reset = true;
            for (var mcu = 0; mcu < width * height; mcu++)
            {
                if (restartInterval > 0 && mcu > 0 && mcu % restartInterval == 0)
                {
                    w.Flush();
                    o.Add(0xFF); o.Add((byte)(0xD0 + restarts++ % 8));
                    reset = true;
                    firstLine = mcu / width;
                }
                int y = mcu / width, x = mcu % width;
                foreach (var c in scan)
                {
                    int At(int xx, int yy) => samples[(yy * width + xx) * components + c];
                    int pred;
                    if (reset) pred = 1 << (precision - 1);
                    else if (y == firstLine) pred = x > 0 ? At(x - 1, y) : At(x, y - 1);
                    else if (x == 0) pred = At(x, y - 1);
                    else
                    {
                        int a = At(x - 1, y), b = At(x, y - 1), cc = At(x - 1, y - 1);
                        pred = predictor switch { 1 => a, 2 => b, 3 => cc, 4 => a + b - cc, 5 => a + ((b - cc) >> 1), 6 => b + ((a - cc) >> 1), _ => (a + b) >> 1 };
                    }
                    var diff = (At(x, y) - pred) & 0xFFFF;
                    if (diff > 32768) diff -= 65536;
                    var ssss = diff == 0 ? 0 : diff == 32768 ? 16 : 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)Math.Abs(diff));
                    w.Write(ssss, 5);
                    if (ssss is > 0 and < 16) w.Write(diff > 0 ? diff : diff + (1 << ssss) - 1, ssss);
                }
                reset = false;
            }
            w.Flush();
        }
        o.Add(0xFF); o.Add(0xD9);
        return [.. o];
    }

    private sealed class BitWriter(List<byte> output)
    {
        private int _acc, _n;

        public void Write(int value, int count)
        {
            for (var i = count - 1; i >= 0; i--)
            {
                _acc = _acc << 1 | (value >> i & 1);
                if (++_n == 8) Emit();
            }
        }

        private void Emit()
        {
            output.Add((byte)_acc);
            if (_acc == 0xFF) output.Add(0);
            _acc = 0; _n = 0;
        }

        public void Flush()
        {
            while (_n != 0) Write(1, 1); // pad with 1-bits
        }
    }
}
