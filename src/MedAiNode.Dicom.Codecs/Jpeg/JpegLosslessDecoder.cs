using System.Runtime.CompilerServices;

namespace MedAiNode.Dicom.Codecs.Jpeg;

/// <summary>
/// JPEG lossless, Huffman coded, process 14 (ITU-T T.81 Annex H), any predictor 1 to 7, point transform, restart
/// intervals, 2 to 16 bits, interleaved or one scan per component. Samples come back as unsigned P-bit values.
/// </summary>
internal sealed class JpegLosslessDecoder
{
    public int Width { get; private set; }
    public int Height { get; private set; }
    public int Precision { get; private set; }
    public int Components { get; private set; }

    private readonly HuffmanTable?[] _tables = new HuffmanTable?[4];
    private int[] _componentIds = [];
    private int _restartInterval;
    private ushort[] _samples = [];

    private (int Width, int Height, int Components)? _expected;

    /// <summary>Decodes a whole codestream; the result holds Components values per pixel, pixel-interleaved. With
    /// <paramref name="expected"/>, a frame header that disagrees is refused before anything is allocated.</summary>
    public ushort[] Decode(ReadOnlySpan<byte> data, (int Width, int Height, int Components)? expected = null)
    {
        _expected = expected;
        if (data.Length < 4 || data[0] != 0xFF || data[1] != 0xD8) throw new DicomCodecException("JPEG Lossless frame does not start with SOI (FFD8).");
        var pos = 2;
        var scans = 0;
        while (pos < data.Length)
        {
            if (data[pos] != 0xFF) { pos++; continue; }
            if (pos + 1 >= data.Length) break;
            var marker = data[pos + 1];
            pos += 2;
            if (marker == 0xFF) { pos--; continue; }
            if (marker == 0xD9) break; // EOI
            if (marker is 0xD8 or 0x01 or (>= 0xD0 and <= 0xD7)) continue;
            if (pos + 2 > data.Length) throw new DicomCodecException("JPEG Lossless segment is cut short.");
            var len = data[pos] << 8 | data[pos + 1];
            if (len < 2 || pos + len > data.Length) throw new DicomCodecException($"JPEG segment FF{marker:X2} has length {len}, past the end of the {data.Length}-byte frame.");
            var seg = data.Slice(pos + 2, len - 2);
            switch (marker)
            {
                case 0xC3: ReadFrameHeader(seg); break;
                case 0xC4: ReadHuffmanTables(seg); break;
                case 0xDD: _restartInterval = seg.Length >= 2 ? seg[0] << 8 | seg[1] : 0; break;
                case 0xDA:
                    pos += len;
                    pos = DecodeScan(data, seg, pos);
                    scans++;
                    continue;
                case 0xC0 or 0xC1 or 0xC2 or 0xC5 or 0xC6 or 0xC7 or 0xC9 or 0xCA or 0xCB or 0xCD or 0xCE or 0xCF:
                    throw new DicomCodecException($"JPEG frame uses SOF marker FF{marker:X2}; the lossless decoder handles process 14 (FFC3) only.");
            }
            pos += len;
        }
        if (scans == 0) throw new DicomCodecException("JPEG Lossless frame holds no scan (SOS).");
        return _samples;
    }

    private void ReadFrameHeader(ReadOnlySpan<byte> s)
    {
        if (s.Length < 6) throw new DicomCodecException("JPEG frame header is too short.");
        Precision = s[0];
        Height = s[1] << 8 | s[2];
        Width = s[3] << 8 | s[4];
        Components = s[5];
        if (Precision is < 2 or > 16) throw new DicomCodecException($"JPEG Lossless precision {Precision} is outside 2..16.");
        if (Width == 0 || Height == 0) throw new DicomCodecException("JPEG Lossless frame with zero width or height (DNL marker) is not supported.");
        if (Components is < 1 or > 4 || s.Length < 6 + 3 * Components) throw new DicomCodecException($"JPEG frame header lists {Components} components.");
        if (_expected is { } e && (e.Width != Width || e.Height != Height || e.Components != Components))
            throw new DicomCodecException($"JPEG Lossless frame is {Width}x{Height}x{Components}; the dataset says {e.Width}x{e.Height}x{e.Components}.");
        _componentIds = new int[Components];
        for (var c = 0; c < Components; c++)
        {
            _componentIds[c] = s[6 + 3 * c];
            var hv = s[7 + 3 * c];
            if (hv != 0x11) throw new DicomCodecException($"JPEG Lossless component {c + 1} is subsampled (H/V {hv >> 4}/{hv & 15}); only 1/1 is supported.");
        }
        _samples = new ushort[(long)Width * Height * Components > int.MaxValue ? throw new DicomCodecException("JPEG frame too large.") : Width * Height * Components];
    }

    private void ReadHuffmanTables(ReadOnlySpan<byte> s)
    {
        var i = 0;
        while (i < s.Length)
        {
            var tcth = s[i++];
            var th = tcth & 15;
            if (th > 3 || i + 16 > s.Length) throw new DicomCodecException("JPEG Huffman table segment is malformed.");
            var counts = s.Slice(i, 16);
            i += 16;
            var total = 0;
            foreach (var c in counts) total += c;
            if (i + total > s.Length || total > 256) throw new DicomCodecException("JPEG Huffman table lists more values than its segment holds.");
            _tables[th] = new HuffmanTable(counts, s.Slice(i, total));
            i += total;
        }
    }

    private int DecodeScan(ReadOnlySpan<byte> data, ReadOnlySpan<byte> sos, int pos)
    {
        if (_samples.Length == 0) throw new DicomCodecException("JPEG scan comes before the frame header.");
        if (sos.Length < 1) throw new DicomCodecException("JPEG scan header is empty.");
        var ns = sos[0];
        if (ns < 1 || ns > Components || sos.Length < 1 + 2 * ns + 3) throw new DicomCodecException("JPEG scan header is malformed.");
        var comps = new int[ns];
        var tables = new HuffmanTable[ns];
        for (var k = 0; k < ns; k++)
        {
            var id = sos[1 + 2 * k];
            var idx = Array.IndexOf(_componentIds, (int)id);
            if (idx < 0) throw new DicomCodecException($"JPEG scan refers to component {id}, which the frame does not declare.");
            comps[k] = idx;
            var td = sos[2 + 2 * k] >> 4;
            tables[k] = (td < _tables.Length ? _tables[td] : null) ?? throw new DicomCodecException($"JPEG scan uses Huffman table {td}, which was never defined.");
        }
        var predictor = sos[1 + 2 * ns];
        var pt = sos[3 + 2 * ns] & 15;
        if (predictor is < 1 or > 7) throw new DicomCodecException($"JPEG Lossless predictor {predictor} is outside 1..7.");
        if (pt >= Precision) throw new DicomCodecException($"JPEG point transform {pt} is not below the precision {Precision}.");

        var reader = new BitReader(data, pos);
        var width = Width;
        var nc = Components;
        var samples = _samples;
        var initial = 1 << (Precision - pt - 1);
        var mcusLeft = _restartInterval;
        var resetRow = 0;
        var resetPending = true;
        var totalMcus = (long)Width * Height;
        if (ns == 1 && nc == 1 && _restartInterval == 0)
        {
            DecodeSingleComponent(ref reader, tables[0], samples, width, Height, predictor, initial);
            totalMcus = 0; // done
        }
        for (long mcu = 0; mcu < totalMcus; mcu++)
        {
            if (_restartInterval > 0)
            {
                if (mcusLeft == 0)
                {
                    reader.Restart();
                    mcusLeft = _restartInterval;
                    resetPending = true;
                    resetRow = (int)(mcu / width);
                }
                mcusLeft--;
            }
            var y = (int)(mcu / width);
            var x = (int)(mcu - (long)y * width);
            var rowBase = y * width;
            for (var k = 0; k < ns; k++)
            {
                var c = comps[k];
                var diff = reader.DecodeDifference(tables[k]);
                int pred;
                var at = (rowBase + x) * nc + c;
                if (resetPending) pred = initial;
                else if (y == resetRow) pred = x > 0 ? samples[at - nc] : samples[at - width * nc];
                else if (x == 0) pred = samples[at - width * nc];
                else
                {
                    int a = samples[at - nc], b = samples[at - width * nc], cc = samples[at - width * nc - nc];
                    pred = predictor switch
                    {
                        1 => a,
                        2 => b,
                        3 => cc,
                        4 => a + b - cc,
                        5 => a + ((b - cc) >> 1),
                        6 => b + ((a - cc) >> 1),
                        _ => (a + b) >> 1,
                    };
                }
                samples[at] = (ushort)(pred + diff);
            }
            resetPending = false;
        }
        if (reader.Overrun) throw new DicomCodecException("JPEG Lossless scan ends before all samples were decoded (truncated codestream).");
        if (pt > 0)
        {
            foreach (var k in comps)
                for (var i = k; i < samples.Length; i += nc) samples[i] = (ushort)(samples[i] << pt);
        }
        return reader.EndPosition();
    }

    /// <summary>The common case (one component, no restarts) with the predictor chosen once per row, not per sample.</summary>
    private static void DecodeSingleComponent(ref BitReader reader, HuffmanTable table, Span<ushort> s, int width, int height, int predictor, int initial)
    {
        int a = (ushort)(initial + reader.DecodeDifference(table));
        s[0] = (ushort)a;
        for (var x = 1; x < width; x++) s[x] = (ushort)(a = (ushort)(a + reader.DecodeDifference(table)));
        for (var y = 1; y < height; y++)
        {
            var row = s.Slice(y * width, width);
            var up = s.Slice((y - 1) * width, width);
            a = (ushort)(up[0] + reader.DecodeDifference(table));
            row[0] = (ushort)a;
            switch (predictor)
            {
                case 1:
                    for (var x = 1; x < row.Length; x++) row[x] = (ushort)(a = (ushort)(a + reader.DecodeDifference(table)));
                    break;
                case 2:
                    for (var x = 1; x < row.Length; x++) row[x] = (ushort)(up[x] + reader.DecodeDifference(table));
                    break;
                case 3:
                    for (var x = 1; x < row.Length; x++) row[x] = (ushort)(up[x - 1] + reader.DecodeDifference(table));
                    break;
                default:
                    for (var x = 1; x < row.Length; x++)
                    {
                        int b = up[x], c = up[x - 1];
                        var pred = predictor switch
                        {
                            4 => a + b - c,
                            5 => a + ((b - c) >> 1),
                            6 => b + ((a - c) >> 1),
                            _ => (a + b) >> 1,
                        };
                        row[x] = (ushort)(a = (ushort)(pred + reader.DecodeDifference(table)));
                    }
                    break;
            }
        }
    }

    internal sealed class HuffmanTable
    {
        public const int LookupBits = 9;
        // (length << 8) | value for codes up to LookupBits long; 0 when longer.
        public readonly ushort[] Lookup = new ushort[1 << LookupBits];
        public readonly int[] MaxCode = new int[18];
        public readonly int[] ValOffset = new int[18];
        public readonly byte[] Values;

        public HuffmanTable(ReadOnlySpan<byte> counts, ReadOnlySpan<byte> values)
        {
            Values = values.ToArray();
            var code = 0;
            var k = 0;
            for (var len = 1; len <= 16; len++)
            {
                ValOffset[len] = k - code;
                for (var i = 0; i < counts[len - 1]; i++)
                {
                    if (len <= LookupBits)
                    {
                        var shift = LookupBits - len;
                        var first = code << shift;
                        for (var j = 0; j < 1 << shift; j++)
                            if (first + j < Lookup.Length) Lookup[first + j] = (ushort)(len << 8 | values[k]);
                    }
                    code++;
                    k++;
                }
                MaxCode[len] = counts[len - 1] > 0 ? code - 1 : -1;
                code <<= 1;
            }
            MaxCode[17] = int.MaxValue;
        }
    }

    private ref struct BitReader
    {
        private readonly ReadOnlySpan<byte> _data;
        private int _pos;
        private ulong _bits;
        private int _count;
        private bool _atMarker;
        private int _fakeBits; // zero bits fed past the end of the scan data
        public bool Overrun => _fakeBits > _count;

        public BitReader(ReadOnlySpan<byte> data, int pos)
        {
            _data = data;
            _pos = pos;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Fill()
        {
            while (_count <= 56)
            {
                int b;
                if (_atMarker || _pos >= _data.Length) { b = 0; _atMarker = true; _fakeBits += 8; }
                else
                {
                    b = _data[_pos];
                    if (b == 0xFF)
                    {
                        var next = _pos + 1 < _data.Length ? _data[_pos + 1] : 0xD9;
                        if (next == 0x00) _pos += 2;
                        else if (next == 0xFF) { _pos++; continue; } // fill bytes
                        else { _atMarker = true; b = 0; _fakeBits += 8; }
                    }
                    else _pos++;
                }
                _bits |= (ulong)b << (56 - _count);
                _count += 8;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private int GetBits(int n)
        {
            if (n == 0) return 0;
            if (_count < n) Fill();
            var v = (int)(_bits >> (64 - n));
            _bits <<= n;
            _count -= n;
            return v;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int DecodeDifference(HuffmanTable t)
        {
            if (_count < 32) Fill();
            var peek = (int)(_bits >> (64 - HuffmanTable.LookupBits));
            var e = t.Lookup[peek];
            int ssss;
            if (e != 0)
            {
                var len = e >> 8;
                _bits <<= len;
                _count -= len;
                ssss = e & 0xFF;
            }
            else
            {
                var code = GetBits(HuffmanTable.LookupBits);
                var len = HuffmanTable.LookupBits;
                while (code > t.MaxCode[len])
                {
                    code = code << 1 | GetBits(1);
                    len++;
                    if (len > 16) throw new DicomCodecException("JPEG Lossless data holds an invalid Huffman code.");
                }
                var idx = code + t.ValOffset[len];
                if ((uint)idx >= (uint)t.Values.Length) throw new DicomCodecException("JPEG Lossless data holds an invalid Huffman code.");
                ssss = t.Values[idx];
            }
            if (ssss == 0) return 0;
            if (ssss == 16) return 32768;
            if (ssss > 16) throw new DicomCodecException($"JPEG Lossless difference category {ssss} is above 16.");
            var bits = GetBits(ssss);
            return bits < 1 << (ssss - 1) ? bits - (1 << ssss) + 1 : bits;
        }

        /// <summary>Skips to the RSTn marker that ends a restart interval and resets the bit buffer.</summary>
        public void Restart()
        {
            if (Overrun) throw new DicomCodecException("JPEG Lossless restart interval ends before its samples were decoded (truncated codestream).");
            _fakeBits = 0;
            _bits = 0;
            _count = 0;
            _atMarker = false;
            while (_pos + 1 < _data.Length && !(_data[_pos] == 0xFF && _data[_pos + 1] is >= 0xD0 and <= 0xD7)) _pos++;
            if (_pos + 1 < _data.Length) _pos += 2;
        }

        /// <summary>Where the next marker after this scan begins.</summary>
        public int EndPosition()
        {
            var p = _pos;
            while (p + 1 < _data.Length && !(_data[p] == 0xFF && _data[p + 1] != 0x00 && _data[p + 1] is not (>= 0xD0 and <= 0xD7) && _data[p + 1] != 0xFF)) p++;
            return p;
        }
    }
}
