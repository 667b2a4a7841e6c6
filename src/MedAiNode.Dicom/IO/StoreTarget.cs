namespace MedAiNode.Dicom.IO;

// Why this lives in the DICOM layer and not beside the SCP in MedAiNode.Dicom.Network: two intakes file instances,
// C-STORE (Dicom.Network) and WADO-RS fetches (DicomWeb, driven by the worker), and both hand the study store the same
// parsed instance. The store (MedAiNode.Store) implements the target; keeping the contract here lets it depend on the
// DICOM layer only, not on the DIMSE stack, and lets the DICOMweb path use it without referencing the network library.

/// <summary>
/// An instance complete on disk in a temporary file (in <see cref="IDicomStoreTarget.TempDirectory"/>), or held in memory
/// (<see cref="TempPath"/> empty, handed over with <see cref="IDicomStoreTarget.CommitBufferedAsync"/>), parsed once by
/// whoever received it. The target files it from <see cref="Dataset"/> and never opens <see cref="TempPath"/> to parse
/// it again. Values of 64 KiB or more may have been left in the file (read on demand): read them before the commit
/// moves it.
/// </summary>
public sealed record ReceivedInstance(
    string TempPath,
    DicomDataset Dataset,
    DicomTransferSyntax TransferSyntax,
    string CallingAE,
    string CalledAE,
    long Length)
{
    public string SopClassUid => Dataset.GetStringOrDefault(DicomTags.SOPClassUID);
    public string SopInstanceUid => Dataset.GetStringOrDefault(DicomTags.SOPInstanceUID);
    public string StudyInstanceUid => Dataset.GetStringOrDefault(DicomTags.StudyInstanceUID);
    public string SeriesInstanceUid => Dataset.GetStringOrDefault(DicomTags.SeriesInstanceUID);
    public string Modality => Dataset.GetStringOrDefault(DicomTags.Modality);
    /// <summary>Study Priority ID (0032,000C), one of the inputs that make a study "stat".</summary>
    public string StudyPriorityId => Dataset.GetStringOrDefault(DicomTags.StudyPriorityID);

    /// <summary>True when the receiver did not sync <see cref="TempPath"/> because its target said it makes the content
    /// durable in the commit (<see cref="IDicomStoreTarget.SyncsOnCommit"/>): the commit must not return before the
    /// content is on disk (the study store's intake journal, or an fdatasync of the file). False: the receiver synced it
    /// as <see cref="IDicomStoreTarget.Fsync"/> said.</summary>
    public bool SyncLeftToTarget { get; init; }

    /// <summary>The one UID rule of intake: 1-64 characters, digits and dots, no empty component or leading zero
    /// (PS3.5 9.1). Anything else from the network never becomes a path.</summary>
    public static bool IsValidUid(string? uid) => uid is { Length: > 0 } && DicomValueRules.Check(DicomVR.UI, uid) is null;

    /// <summary>Null when the Study, Series and SOP Instance UIDs a store files by are all valid; else why not.</summary>
    public string? IdentityProblem()
    {
        if (!IsValidUid(StudyInstanceUid)) return "StudyInstanceUID is missing or not a valid UID";
        if (!IsValidUid(SeriesInstanceUid)) return "SeriesInstanceUID is missing or not a valid UID";
        if (!IsValidUid(SopInstanceUid)) return "SOPInstanceUID is missing or not a valid UID";
        return null;
    }

    /// <summary>The patient and study attributes whose values the node copies into its results (SEG, SR, summary) and
    /// that a PACS files them by: checked at intake by <see cref="InvalidPatientValues"/>.</summary>
    public static readonly DicomTag[] PatientAndStudyAttributes =
    [
        DicomTags.PatientName, DicomTags.PatientID, DicomTags.IssuerOfPatientID, DicomTags.PatientBirthDate, DicomTags.PatientSex,
        DicomTags.PatientAge, DicomTags.PatientSize, DicomTags.PatientWeight,
        DicomTags.StudyDate, DicomTags.StudyTime, DicomTags.AccessionNumber, DicomTags.ReferringPhysicianName,
        DicomTags.StudyDescription, DicomTags.StudyID,
    ];

    /// <summary>
    /// Which of <see cref="PatientAndStudyAttributes"/> break their VR's rules (PS3.5 6.2: length, form, repertoire,
    /// value multiplicity): one line each, naming the attribute and the rule, never the value (it is patient data).
    /// Empty when all are valid. Such an instance is still stored as received (conformance/network.md 2.3).
    /// </summary>
    public IReadOnlyList<string> InvalidPatientValues()
    {
        List<string>? problems = null;
        foreach (var tag in PatientAndStudyAttributes)
        {
            if (Dataset[tag] is not DicomElement e || e.Length == 0 || !e.VR.IsString) continue;
            string? problem = null;
            string[] values;
            try { values = Dataset.GetStrings(tag); }
            catch (Exception ex) when (ex is ArgumentException or DicomFormatException or System.Text.DecoderFallbackException)
            {
                values = [];
                problem = "cannot be decoded in the dataset's character set";
            }
            if (problem is null && values.Length > 1 && DicomDictionary.Find(tag)?.ValueMultiplicity == "1")
                problem = $"has {values.Length} values (a backslash in the value) where one is allowed";
            foreach (var v in values)
            {
                if (problem is not null) break;
                problem = DicomValueRules.Check(e.VR, v);
            }
            if (problem is not null) (problems ??= new()).Add($"{tag} {DicomDictionary.GetKeyword(tag)} ({e.VR}): {problem}");
        }
        return problems ?? (IReadOnlyList<string>)[];
    }

    /// <summary>Parses a complete Part 10 file that did not come through the SCP (a test, a file copied in), up to its
    /// pixel data. Throws <see cref="DicomFormatException"/> when it is not readable DICOM.</summary>
    public static ReceivedInstance Read(string path, string callingAE, string calledAE = "")
    {
        var file = DicomFile.Open(path, new DicomReadOptions { StopBeforePixelData = true });
        return new ReceivedInstance(path, file.Dataset, file.TransferSyntax, callingAE, calledAE, new FileInfo(path).Length);
    }
}

/// <summary>
/// Where received instances are filed. The study store implements it; the SCP and the DICOMweb fetch hand it instances
/// they parsed. One set of checks lives behind it: capacity (<see cref="CheckCapacity"/>), identity (the UIDs, see
/// <see cref="ReceivedInstance.IdentityProblem"/>) and durability (<see cref="Fsync"/>).
/// </summary>
public interface IDicomStoreTarget
{
    /// <summary>A folder on the same file system as the final location, so the commit is a rename.</summary>
    string TempDirectory { get; }
    /// <summary>Whether a writer fsyncs the temporary file's data before <see cref="CommitAsync"/> (the commit then
    /// syncs the folder as the target's own options say).</summary>
    bool Fsync { get; }
    /// <summary>When true (with <see cref="Fsync"/>), a receiver does not sync the temporary file itself: it closes it
    /// unsynced and hands it over with <see cref="ReceivedInstance.SyncLeftToTarget"/>, and <see cref="CommitAsync"/>
    /// makes the content durable before it returns (the study store appends it to its intake journal: one flush of
    /// preallocated space instead of the file's and its folder's). A wrapper that does not forward it gets the plain path.</summary>
    bool SyncsOnCommit => false;
    /// <summary>Null when there is room for another instance; else why not, naming the limit (answered as 0xA700).</summary>
    string? CheckCapacity();
    /// <summary>Moves the temporary file into place, replacing an earlier copy of the same SOP Instance UID, and
    /// returns the final path; when the instance has <see cref="ReceivedInstance.SyncLeftToTarget"/>, its content is
    /// durable (it survives kill -9 and a power cut) when this returns. Throws <see cref="InvalidDataException"/> when the content cannot be filed (answered
    /// 0xC000; the target keeps or removes the file as its policy says), an IOException when it cannot be written.</summary>
    ValueTask<string> CommitAsync(ReceivedInstance instance, CancellationToken ct);

    /// <summary>The largest instance (a whole Part 10 file) a receiver may hold in memory and hand over with
    /// <see cref="CommitBufferedAsync"/> instead of writing a temporary file; 0 (the default): never.</summary>
    int BufferedCommitLimit => 0;

    /// <summary>
    /// For an instance received whole into memory (<see cref="ReceivedInstance.TempPath"/> empty, its dataset parsed
    /// from <paramref name="content"/>): makes the content durable before it returns (the study store's intake journal)
    /// and returns where it will be filed and the filing itself, which the receiver runs after it answered, before its
    /// association's next filing and before the association ends. The receiver keeps <paramref name="content"/> unchanged
    /// until the filing has run (the dataset's large values may be slices of it) and disposes it then; the target does
    /// not keep it. Throws as <see cref="CommitAsync"/> does.
    /// </summary>
    ValueTask<BufferedCommit> CommitBufferedAsync(ReceivedInstance instance, PooledContent content, CancellationToken ct) =>
        throw new NotSupportedException("this target files instances from temporary files only");

    /// <summary>Creates the temporary file a receiver writes an instance into (<paramref name="path"/> is in
    /// <see cref="TempDirectory"/>): unbuffered, so a sync sees every byte. Every write and sync error on it must reach
    /// the receiver, which then answers a failure, never Success. Overridden by tests to inject such errors.</summary>
    FileStream CreateTempFile(string path) => new(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0, FileOptions.None);
}

/// <summary>Bytes in an array rented from <see cref="System.Buffers.ArrayPool{T}.Shared"/>, given back once when disposed.</summary>
public sealed class PooledContent : IDisposable
{
    private byte[]? _array;
    private readonly Action? _released;

    /// <param name="released">Called once after the array went back (the receiver's count of memory held).</param>
    public PooledContent(byte[] rented, int length, Action? released = null)
    {
        _array = rented;
        Length = length;
        _released = released;
    }

    public int Length { get; }
    public byte[] Array => _array ?? throw new ObjectDisposedException(nameof(PooledContent));
    public ReadOnlyMemory<byte> Memory => Array.AsMemory(0, Length);

    public void Dispose()
    {
        var a = Interlocked.Exchange(ref _array, null);
        if (a is null) return;
        System.Buffers.ArrayPool<byte>.Shared.Return(a);
        _released?.Invoke();
    }
}

/// <summary>What <see cref="IDicomStoreTarget.CommitBufferedAsync"/> returns: the instance is durable; <see cref="File"/>
/// moves it into <see cref="Path"/> (null: already filed). The filing never throws; a failure is the target's to report
/// and to recover (the study store files it from its journal at the next start).</summary>
public sealed record BufferedCommit(string Path, Action? File);
