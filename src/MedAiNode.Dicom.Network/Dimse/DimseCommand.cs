namespace MedAiNode.Dicom.Network.Dimse;

/// <summary>PS3.7 E.1 command field values.</summary>
public enum CommandField : ushort
{
    CStoreRequest = 0x0001, CStoreResponse = 0x8001,
    CGetRequest = 0x0010, CGetResponse = 0x8010,
    CFindRequest = 0x0020, CFindResponse = 0x8020,
    CMoveRequest = 0x0021, CMoveResponse = 0x8021,
    CEchoRequest = 0x0030, CEchoResponse = 0x8030,
    CCancelRequest = 0x0FFF,
}

/// <summary>DIMSE status codes used here (PS3.7 Annex C, PS3.4 B.2.3 / C.4).</summary>
public static class DimseStatus
{
    // Grouped by outcome, as the tables of PS3.7 C and PS3.4 C.4 list them.
    public const ushort Success = 0x0000, Cancel = 0xFE00, Pending = 0xFF00, PendingWarning = 0xFF01;
    public const ushort SopClassNotSupported = 0x0122, UnrecognizedOperation = 0x0211, ProcessingFailure = 0x0110;
    public const ushort OutOfResources = 0xA700, OutOfResourcesSubOperations = 0xA702, MoveDestinationUnknown = 0xA801;
    public const ushort DataSetDoesNotMatchSopClass = 0xA900, CannotUnderstand = 0xC000;
    /// <summary>C-STORE error of this SCP (in the 0xCxxx "cannot understand" range PS3.4 B.2.3 leaves to the
    /// implementation): the data could not be written or synced for a reason other than space. See conformance/network.md.</summary>
    public const ushort StorageIoError = 0xC002;
    public const ushort WarningSubOperations = 0xB000;

    public static bool IsPending(ushort s) => s is Pending or PendingWarning;
    public static bool IsSuccess(ushort s) => s == Success;
    public static bool IsWarning(ushort s) => s == 0x0001 || (s & 0xF000) == 0xB000 || s == 0x0107 || s == 0x0116;
    public static bool IsFailure(ushort s) => !IsSuccess(s) && !IsPending(s) && !IsWarning(s) && s != Cancel;

    public static string Describe(ushort s) => s switch
    {
        Success => "Success",
        Cancel => "Cancel",
        Pending or PendingWarning => "Pending",
        SopClassNotSupported => "Refused: SOP class not supported",
        UnrecognizedOperation => "Refused: unrecognized operation",
        OutOfResources => "Refused: out of resources",
        OutOfResourcesSubOperations => "Refused: out of resources, unable to perform sub-operations",
        MoveDestinationUnknown => "Refused: move destination unknown",
        DataSetDoesNotMatchSopClass => "Error: data set does not match SOP class",
        StorageIoError => "Error: storage I/O error (0xC002)",
        ProcessingFailure => "Failure: processing failure",
        WarningSubOperations => "Warning: sub-operations complete, one or more failures",
        >= 0xC000 and <= 0xCFFF => $"Error: cannot understand (0x{s:X4})",
        >= 0xA700 and <= 0xA7FF => $"Refused: out of resources (0x{s:X4})",
        _ => $"0x{s:X4}",
    };
}

public enum DimsePriority : ushort { Medium = 0, High = 1, Low = 2 }

/// <summary>A DIMSE command set (group 0000, always Implicit VR Little Endian on the wire) with typed access.</summary>
public sealed class DimseCommand
{
    public const ushort NoDataSet = 0x0101;

    public DimseCommand(DicomDataset dataset) => Dataset = dataset;

    public DicomDataset Dataset { get; }
    public CommandField Field => (CommandField)Dataset.GetValueOrDefault<ushort>(DicomTags.CommandField, 0);
    public ushort MessageId => Dataset.GetValueOrDefault<ushort>(DicomTags.MessageID, 0);
    public ushort MessageIdBeingRespondedTo => Dataset.GetValueOrDefault<ushort>(DicomTags.MessageIDBeingRespondedTo, 0);
    public bool HasDataSet => Dataset.GetValueOrDefault<ushort>(DicomTags.CommandDataSetType, NoDataSet) != NoDataSet;
    public ushort Status => Dataset.GetValueOrDefault<ushort>(DicomTags.Status, 0);
    public string AffectedSopClassUid => Dataset.GetStringOrDefault(DicomTags.AffectedSOPClassUID);
    public string AffectedSopInstanceUid => Dataset.GetStringOrDefault(DicomTags.AffectedSOPInstanceUID);
    public string? ErrorComment => Dataset.GetString(DicomTags.ErrorComment);
    public bool IsRequest => ((ushort)Field & 0x8000) == 0;

    public static DimseCommand Request(CommandField field, ushort messageId, string sopClassUid, bool hasDataSet, DimsePriority priority = DimsePriority.Medium)
    {
        var ds = new DicomDataset();
        ds.Set<uint>(DicomTags.CommandGroupLength, DicomVR.UL, 0);
        ds.Set(DicomTags.AffectedSOPClassUID, sopClassUid);
        ds.Set<ushort>(DicomTags.CommandField, DicomVR.US, (ushort)field);
        ds.Set<ushort>(DicomTags.MessageID, DicomVR.US, messageId);
        if (field != CommandField.CEchoRequest) ds.Set<ushort>(DicomTags.Priority, DicomVR.US, (ushort)priority);
        ds.Set<ushort>(DicomTags.CommandDataSetType, DicomVR.US, hasDataSet ? (ushort)0x0000 : NoDataSet);
        return new DimseCommand(ds);
    }

    public static DimseCommand Response(DimseCommand request, ushort status, bool hasDataSet = false, string? errorComment = null)
    {
        var ds = new DicomDataset();
        ds.Set<uint>(DicomTags.CommandGroupLength, DicomVR.UL, 0);
        if (request.Dataset[DicomTags.AffectedSOPClassUID] is DicomElement sopClass) ds.Add(sopClass);
        ds.Set<ushort>(DicomTags.CommandField, DicomVR.US, (ushort)((ushort)request.Field | 0x8000));
        ds.Set<ushort>(DicomTags.MessageIDBeingRespondedTo, DicomVR.US, request.MessageId);
        ds.Set<ushort>(DicomTags.CommandDataSetType, DicomVR.US, hasDataSet ? (ushort)0x0000 : NoDataSet);
        ds.Set<ushort>(DicomTags.Status, DicomVR.US, status);
        // Echo the peer's UID bytes as sent: a malformed UID must still get its (error) response.
        if (request.Field == CommandField.CStoreRequest && request.Dataset[DicomTags.AffectedSOPInstanceUID] is DicomElement sop) ds.Add(sop);
        if (!string.IsNullOrEmpty(errorComment) && status != DimseStatus.Success)
            ds.Set(DicomTags.ErrorComment, DicomVR.LO, Truncate(SafeText(errorComment), 64));
        return new DimseCommand(ds);
    }

    private static string Truncate(string s, int n) => s.Length <= n ? s : s[..n];

    // LO allows no backslash or control characters; error texts come from exceptions.
    private static string SafeText(string s) => new(s.Select(c => c is '\\' || char.IsControl(c) || c > 0x7E ? ' ' : c).ToArray());

    public byte[] Encode()
    {
        using var ms = new MemoryStream(256);
        new DicomWriter(ms, DicomTransferSyntax.ImplicitVRLittleEndian).WriteDataset(Dataset);
        return ms.ToArray();
    }

    public static DimseCommand Decode(ReadOnlySpan<byte> bytes)
    {
        var ds = DicomFile.Read(new MemoryStream(bytes.ToArray())).Dataset;
        foreach (var a in ds)
            if (a.Tag.Group != 0) throw new DicomFormatException($"Command set holds {a.Tag}, outside group 0000");
        if (!ds.Contains(DicomTags.CommandField)) throw new DicomFormatException("Command set has no Command Field (0000,0100)");
        return new DimseCommand(ds);
    }

    public override string ToString() => $"{Field} id={(IsRequest ? MessageId : MessageIdBeingRespondedTo)}{(IsRequest ? "" : $" status=0x{Status:X4}")}";
}
