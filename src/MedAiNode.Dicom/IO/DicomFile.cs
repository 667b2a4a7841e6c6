using System.Text;

namespace MedAiNode.Dicom.IO;

/// <summary>A DICOM Part 10 file: preamble, File Meta Information (group 0002) and the dataset.</summary>
public sealed class DicomFile
{
    public const string ImplementationClassUid = "2.25.294563084977871492866196575750261651776";
    public const string ImplementationVersionName = "MEDAINODE_01";

    public DicomFile(DicomDataset dataset, DicomTransferSyntax? transferSyntax = null)
    {
        Dataset = dataset;
        TransferSyntax = transferSyntax ?? DicomTransferSyntax.ExplicitVRLittleEndian;
    }

    public DicomDataset FileMetaInfo { get; private set; } = new();
    public DicomDataset Dataset { get; }
    public DicomTransferSyntax TransferSyntax { get; set; }
    /// <summary>The 128-byte preamble as read (kept for byte-identical re-writes); null when the file had none.</summary>
    public byte[]? Preamble { get; set; }
    public string? Path { get; private set; }

    public static DicomFile Open(string path, DicomReadOptions? options = null)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
        return Read(fs, options, path);
    }

    public static Task<DicomFile> OpenAsync(string path, DicomReadOptions? options = null, CancellationToken ct = default) =>
        Task.Run(() => Open(path, options), ct);

    /// <summary>Reads a Part 10 file, or a bare dataset with no File Meta (its transfer syntax guessed from the bytes).</summary>
    public static DicomFile Read(Stream stream, DicomReadOptions? options = null, string? path = null)
    {
        options ??= DicomReadOptions.Default;
        try
        {
            return ReadCore(stream, options, path);
        }
        catch (DicomFormatException) { throw; }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException or OverflowException or ArgumentException or NotSupportedException)
        {
            throw new DicomFormatException("Malformed DICOM data: " + e.Message, -1, null, e);
        }
    }

    private static DicomFile ReadCore(Stream stream, DicomReadOptions options, string? path)
    {
        var start = stream.CanSeek ? stream.Position : 0;
        using var input = new DicomInput(stream, start);
        byte[]? preamble = null;
        var head = input.Peek(132);
        if (head.Length == 132 && head[128] == 'D' && head[129] == 'I' && head[130] == 'C' && head[131] == 'M')
        {
            preamble = head[..128].ToArray();
            input.Skip(132, null);
        }
        else if (input.Peek(4) is { Length: 4 } p4 && p4[0] == 'D' && p4[1] == 'I' && p4[2] == 'C' && p4[3] == 'M')
        {
            input.Skip(4, null); // "DICM" without the 128-byte preamble
        }

        var meta = new DicomDataset();
        var first = input.Peek(2);
        if (first.Length == 2 && first[0] == 0x02 && first[1] == 0x00)
        {
            var metaReader = new DicomReader(input, true, options, null);
            metaReader.DetectVRFromData();
            metaReader.ReadDataset(meta, -1, 0, false, t => t.Group != 0x0002);
        }
        else if (preamble is not null)
            throw new DicomFormatException("File has a DICM prefix but no File Meta Information", input.Position);

        DicomTransferSyntax ts;
        var tsUid = meta.GetString(DicomTags.TransferSyntaxUID);
        if (!string.IsNullOrEmpty(tsUid)) ts = DicomTransferSyntax.Get(tsUid);
        else ts = GuessTransferSyntax(input);
        if (input.AtEnd && meta.Count == 0) throw new DicomFormatException("Empty input: no DICOM data", input.Position);

        var file = new DicomFile(new DicomDataset(), ts) { Preamble = preamble, Path = path };
        file.FileMetaInfo = meta;

        var dataInput = input;
        string? lazyPath = path;
        if (ts.IsDeflated)
        {
            // The inflater reads from the stream's current position, which the buffered input has run ahead of.
            var rest = new MemoryStream(input.ReadToEnd());
            dataInput = new DicomInput(DicomReader.Inflate(rest), 0); // not pooled: lives only for this read
            lazyPath = null;
        }
        dataInput.BigEndian = ts.IsBigEndian;
        // The version of the file the lazy values belong to, checked again whenever one is read (a replaced file must
        // not give another file's bytes at this file's offsets).
        FileStamp? stamp = lazyPath is null ? null
            : stream is FileStream fs ? FileStamp.Of(fs.SafeFileHandle)
            : new FileStamp(new FileInfo(lazyPath).Length, File.GetLastWriteTimeUtc(lazyPath));
        var reader = new DicomReader(dataInput, ts.IsExplicitVR, options, lazyPath, stamp);
        reader.DetectVRFromData();
        Func<DicomTag, bool>? stop = options.StopBeforePixelData ? t => t.Value >= DicomTags.PixelData.Value : null;
        try
        {
            reader.ReadDataset(file.Dataset, -1, 0, false, stop);
        }
        finally
        {
            if (!ReferenceEquals(dataInput, input)) dataInput.Dispose();
        }
        return file;
    }

    private static DicomTransferSyntax GuessTransferSyntax(DicomInput input)
    {
        var p = input.Peek(6);
        if (p.Length < 6) return DicomTransferSyntax.ImplicitVRLittleEndian;
        var explicitVR = DicomVR.TryGet(p[4], p[5], out _);
        if (p[0] == 0 && p[1] != 0 && explicitVR) return DicomTransferSyntax.ExplicitVRBigEndian;
        return explicitVR ? DicomTransferSyntax.ExplicitVRLittleEndian : DicomTransferSyntax.ImplicitVRLittleEndian;
    }

    /// <summary>Builds the File Meta Information for writing: keeps what was read, sets the transfer syntax and SOP identity,
    /// and fills in this implementation's identity for a file we create.</summary>
    public DicomDataset BuildFileMeta(DicomTransferSyntax ts)
    {
        var meta = FileMetaInfo.Clone();
        meta.Remove(DicomTags.FileMetaInformationGroupLength);
        if (!meta.Contains(DicomTags.FileMetaInformationVersion))
            meta.SetBytes(DicomTags.FileMetaInformationVersion, DicomVR.OB, new byte[] { 0, 1 });
        var sopClass = Dataset.GetString(DicomTags.SOPClassUID);
        var sopInstance = Dataset.GetString(DicomTags.SOPInstanceUID);
        if (!string.IsNullOrEmpty(sopClass)) meta.Set(DicomTags.MediaStorageSOPClassUID, sopClass);
        if (!string.IsNullOrEmpty(sopInstance)) meta.Set(DicomTags.MediaStorageSOPInstanceUID, sopInstance);
        if (meta.GetString(DicomTags.TransferSyntaxUID) != ts.Uid) meta.Set(DicomTags.TransferSyntaxUID, ts.Uid);
        if (!meta.Contains(DicomTags.ImplementationClassUID))
        {
            meta.Set(DicomTags.ImplementationClassUID, ImplementationClassUid);
            meta.Set(DicomTags.ImplementationVersionName, ImplementationVersionName);
        }
        return meta;
    }

    public void Save(string path, DicomTransferSyntax? transferSyntax = null, DicomWriteOptions? options = null)
    {
        var tmp = path + ".tmp-" + Environment.ProcessId;
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 64 * 1024))
        {
            Write(fs, transferSyntax, options);
            fs.Flush(flushToDisk: options?.FlushToDisk ?? false);
        }
        File.Move(tmp, path, overwrite: true);
    }

    public void Write(Stream stream, DicomTransferSyntax? transferSyntax = null, DicomWriteOptions? options = null)
    {
        var ts = transferSyntax ?? TransferSyntax;
        if (ts.IsEncapsulated != TransferSyntax.IsEncapsulated || ts.IsEncapsulated && ts.Uid != TransferSyntax.Uid)
        {
            if (Dataset.Contains(DicomTags.PixelData))
                throw new InvalidOperationException(
                    $"Writing {TransferSyntax.Name} pixel data as {ts.Name} needs a transcoder; this writer only changes the dataset encoding.");
        }
        var buffered = new BufferedStream(stream, 64 * 1024);
        buffered.Write(Preamble ?? new byte[128]);
        buffered.Write("DICM"u8);
        var meta = BuildFileMeta(ts);
        DicomWriter.WriteFileMeta(buffered, meta);
        if (ts.IsDeflated)
        {
            buffered.Flush();
            using var deflate = new System.IO.Compression.DeflateStream(stream, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true);
            var inner = new BufferedStream(deflate, 64 * 1024);
            new DicomWriter(inner, ts, options).WriteDataset(Dataset);
            inner.Flush();
        }
        else
        {
            new DicomWriter(buffered, ts, options).WriteDataset(Dataset);
            buffered.Flush();
        }
    }

    public byte[] ToBytes(DicomTransferSyntax? transferSyntax = null)
    {
        using var ms = new MemoryStream();
        Write(ms, transferSyntax);
        return ms.ToArray();
    }
}
