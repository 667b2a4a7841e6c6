using System.Text;

namespace MedAiNode.Dicom.Network.UpperLayer;

/// <summary>PS3.8 9.3 PDU types.</summary>
public enum PduType : byte
{
    AssociateRequest = 0x01, AssociateAccept = 0x02, AssociateReject = 0x03,
    PData = 0x04,
    ReleaseRequest = 0x05, ReleaseResponse = 0x06,
    Abort = 0x07,
}

/// <summary>PS3.8 9.3.3.2 presentation context result/reason.</summary>
public enum PresentationContextResult : byte
{
    Acceptance = 0,
    // The ways a context is refused.
    UserRejection = 1, NoReason = 2, AbstractSyntaxNotSupported = 3, TransferSyntaxesNotSupported = 4,
}

public sealed class PresentationContext
{
    public PresentationContext(byte id, string abstractSyntax, IEnumerable<string> transferSyntaxes)
    {
        Id = id;
        AbstractSyntax = abstractSyntax;
        TransferSyntaxes = transferSyntaxes.ToList();
    }

    public byte Id { get; }
    public string AbstractSyntax { get; }
    /// <summary>Proposed syntaxes, in the proposer's order of preference.</summary>
    public List<string> TransferSyntaxes { get; }
    public PresentationContextResult Result { get; set; } = PresentationContextResult.NoReason;
    public string? AcceptedTransferSyntax { get; set; }
    public bool IsAccepted => Result == PresentationContextResult.Acceptance && AcceptedTransferSyntax is not null;
    public override string ToString() => $"[{Id}] {DicomUids.NameOf(AbstractSyntax)}: {Result}{(AcceptedTransferSyntax is null ? "" : " " + DicomUids.NameOf(AcceptedTransferSyntax))}";
}

/// <summary>User Identity Negotiation (PS3.7 D.3.3.7). Type 1 username, 2 username+passcode, 3 Kerberos, 4 SAML, 5 JWT.</summary>
public sealed record UserIdentity(byte Type, bool PositiveResponseRequested, byte[] PrimaryField, byte[] SecondaryField)
{
    public static UserIdentity UsernamePassword(string user, string password, bool wantResponse = true) =>
        new(2, wantResponse, Encoding.UTF8.GetBytes(user), Encoding.UTF8.GetBytes(password));
    public string PrimaryText => Encoding.UTF8.GetString(PrimaryField);
    public string SecondaryText => Encoding.UTF8.GetString(SecondaryField);
}

/// <summary>SCP/SCU Role Selection sub-item (PS3.7 D.3.3.4).</summary>
public sealed record RoleSelection(string SopClassUid, bool ScuRole, bool ScpRole);

/// <summary>The content of an A-ASSOCIATE-RQ or A-ASSOCIATE-AC.</summary>
public sealed class AssociationParameters
{
    public const string DicomApplicationContext = "1.2.840.10008.3.1.1.1";

    public ushort ProtocolVersion { get; set; } = 1;
    public string CalledAE { get; set; } = "";
    public string CallingAE { get; set; } = "";
    public string ApplicationContext { get; set; } = DicomApplicationContext;
    public List<PresentationContext> PresentationContexts { get; } = new();
    /// <summary>Largest P-DATA-TF PDU the sender of this PDU can receive (0 = no limit).</summary>
    public uint MaxPduLength { get; set; }
    public string ImplementationClassUid { get; set; } = "";
    public string? ImplementationVersionName { get; set; }
    public (ushort Invoked, ushort Performed)? AsyncOperationsWindow { get; set; }
    public List<RoleSelection> RoleSelections { get; } = new();
    public UserIdentity? UserIdentity { get; set; }
    /// <summary>A-ASSOCIATE-AC only: the server response of user identity negotiation (empty for username/passcode).</summary>
    public byte[]? UserIdentityResponse { get; set; }

    public PresentationContext? FindContext(byte id) => PresentationContexts.FirstOrDefault(p => p.Id == id);
}

/// <summary>A-ASSOCIATE-RJ fields (PS3.8 9.3.4).</summary>
public readonly record struct AssociateReject(RejectResult Result, RejectSource Source, byte Reason)
{
    public override string ToString() => $"{Result}, {Source}, {ReasonText(Source, Reason)}";

    public static string ReasonText(RejectSource source, byte reason) => (source, reason) switch
    {
        (RejectSource.ServiceUser, 1) => "no reason given",
        (RejectSource.ServiceUser, 2) => "application context name not supported",
        (RejectSource.ServiceUser, 3) => "calling AE title not recognized",
        (RejectSource.ServiceUser, 7) => "called AE title not recognized",
        (RejectSource.ServiceProviderAcse, 1) => "no reason given",
        (RejectSource.ServiceProviderAcse, 2) => "protocol version not supported",
        (RejectSource.ServiceProviderPresentation, 1) => "temporary congestion",
        (RejectSource.ServiceProviderPresentation, 2) => "local limit exceeded",
        _ => $"reason {reason}",
    };

    public static readonly AssociateReject CalledAENotRecognized = new(RejectResult.Permanent, RejectSource.ServiceUser, 7);
    public static readonly AssociateReject CallingAENotRecognized = new(RejectResult.Permanent, RejectSource.ServiceUser, 3);
    public static readonly AssociateReject NoReasonGiven = new(RejectResult.Permanent, RejectSource.ServiceUser, 1);
    public static readonly AssociateReject ApplicationContextNotSupported = new(RejectResult.Permanent, RejectSource.ServiceUser, 2);
    public static readonly AssociateReject ProtocolVersionNotSupported = new(RejectResult.Permanent, RejectSource.ServiceProviderAcse, 2);
    public static readonly AssociateReject LocalLimitExceeded = new(RejectResult.Transient, RejectSource.ServiceProviderPresentation, 2);
    public static readonly AssociateReject TemporaryCongestion = new(RejectResult.Transient, RejectSource.ServiceProviderPresentation, 1);
}

public enum RejectResult : byte { Permanent = 1, Transient = 2 }
public enum RejectSource : byte { ServiceUser = 1, ServiceProviderAcse = 2, ServiceProviderPresentation = 3 }

/// <summary>A-ABORT source and reason (PS3.8 9.3.8).</summary>
public readonly record struct AbortInfo(byte Source, byte Reason)
{
    public override string ToString() => Source == 0 ? "aborted by the service user" :
        $"aborted by the service provider: " + Reason switch
        {
            0 => "reason not specified",
            1 => "unrecognized PDU",
            2 => "unexpected PDU",
            4 => "unrecognized PDU parameter",
            5 => "unexpected PDU parameter",
            6 => "invalid PDU parameter value",
            _ => $"reason {Reason}",
        };
}

/// <summary>A PDU that breaks PS3.8; the association is aborted with <see cref="AbortReason"/>.</summary>
public sealed class PduException : Exception
{
    public PduException(string message, byte abortReason = 6) : base(message) => AbortReason = abortReason;
    public byte AbortReason { get; }
}

/// <summary>Encodes and decodes the association PDUs. P-DATA-TF is handled by the association itself, without copies.</summary>
public static class PduCodec
{
    public const int HeaderLength = 6;

    public static byte[] EncodeAssociateRequest(AssociationParameters p) => EncodeAssociate(p, request: true);
    public static byte[] EncodeAssociateAccept(AssociationParameters p) => EncodeAssociate(p, request: false);

    private static byte[] EncodeAssociate(AssociationParameters p, bool request)
    {
        var body = new List<byte>(512);
        AddUInt16(body, p.ProtocolVersion);
        AddUInt16(body, 0);
        AddAE(body, p.CalledAE);
        AddAE(body, p.CallingAE);
        body.AddRange(new byte[32]);
        AddItem(body, 0x10, Ascii(p.ApplicationContext));
        foreach (var pc in p.PresentationContexts)
        {
            var item = new List<byte> { pc.Id, 0, request ? (byte)0 : (byte)pc.Result, 0 };
            if (request)
            {
                AddItem(item, 0x30, Ascii(pc.AbstractSyntax));
                foreach (var ts in pc.TransferSyntaxes) AddItem(item, 0x40, Ascii(ts));
            }
            else
            {
                // PS3.8 9.3.3.2: the transfer syntax sub-item is present but not significant when rejected.
                AddItem(item, 0x40, Ascii(pc.AcceptedTransferSyntax ?? pc.TransferSyntaxes.FirstOrDefault() ?? DicomUids.ImplicitVRLittleEndian));
            }
            AddItem(body, request ? (byte)0x20 : (byte)0x21, item.ToArray());
        }
        var user = new List<byte>();
        var max = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(max, p.MaxPduLength);
        AddItem(user, 0x51, max);
        AddItem(user, 0x52, Ascii(p.ImplementationClassUid));
        if (p.AsyncOperationsWindow is { } w)
        {
            var b = new byte[4];
            BinaryPrimitives.WriteUInt16BigEndian(b, w.Invoked);
            BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), w.Performed);
            AddItem(user, 0x53, b);
        }
        foreach (var r in p.RoleSelections)
        {
            var uid = Ascii(r.SopClassUid);
            var b = new List<byte>();
            AddUInt16(b, (ushort)uid.Length);
            b.AddRange(uid);
            b.Add(r.ScuRole ? (byte)1 : (byte)0);
            b.Add(r.ScpRole ? (byte)1 : (byte)0);
            AddItem(user, 0x54, b.ToArray());
        }
        if (!string.IsNullOrEmpty(p.ImplementationVersionName)) AddItem(user, 0x55, Ascii(p.ImplementationVersionName));
        if (request && p.UserIdentity is { } id)
        {
            var b = new List<byte> { id.Type, id.PositiveResponseRequested ? (byte)1 : (byte)0 };
            AddUInt16(b, (ushort)id.PrimaryField.Length);
            b.AddRange(id.PrimaryField);
            AddUInt16(b, (ushort)id.SecondaryField.Length);
            b.AddRange(id.SecondaryField);
            AddItem(user, 0x58, b.ToArray());
        }
        if (!request && p.UserIdentityResponse is { } resp)
        {
            var b = new List<byte>();
            AddUInt16(b, (ushort)resp.Length);
            b.AddRange(resp);
            AddItem(user, 0x59, b.ToArray());
        }
        AddItem(body, 0x50, user.ToArray());
        return Frame(request ? PduType.AssociateRequest : PduType.AssociateAccept, body.ToArray());
    }

    public static byte[] EncodeAssociateReject(AssociateReject rj) =>
        Frame(PduType.AssociateReject, [0, (byte)rj.Result, (byte)rj.Source, rj.Reason]);

    public static byte[] EncodeReleaseRequest() => Frame(PduType.ReleaseRequest, new byte[4]);
    public static byte[] EncodeReleaseResponse() => Frame(PduType.ReleaseResponse, new byte[4]);
    public static byte[] EncodeAbort(byte source, byte reason) => Frame(PduType.Abort, [0, 0, source, reason]);

    private static byte[] Frame(PduType type, byte[] body)
    {
        var pdu = new byte[HeaderLength + body.Length];
        pdu[0] = (byte)type;
        BinaryPrimitives.WriteUInt32BigEndian(pdu.AsSpan(2), (uint)body.Length);
        body.CopyTo(pdu, HeaderLength);
        return pdu;
    }

    private static void AddUInt16(List<byte> b, ushort v)
    {
        b.Add((byte)(v >> 8));
        b.Add((byte)v);
    }

    private static void AddItem(List<byte> b, byte type, byte[] value)
    {
        if (value.Length > ushort.MaxValue) throw new ArgumentException($"PDU item 0x{type:X2} is longer than 65535 bytes");
        b.Add(type);
        b.Add(0);
        AddUInt16(b, (ushort)value.Length);
        b.AddRange(value);
    }

    private static void AddAE(List<byte> b, string ae)
    {
        var bytes = Encoding.ASCII.GetBytes(ae.PadRight(16));
        if (bytes.Length != 16) throw new ArgumentException($"AE title '{ae}' is longer than 16 characters");
        b.AddRange(bytes);
    }

    private static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    // ------------------------------------------------------------------ decoding

    /// <summary>Decodes an A-ASSOCIATE-RQ or -AC body (the bytes after the 6-byte PDU header).</summary>
    public static AssociationParameters DecodeAssociate(ReadOnlySpan<byte> body, bool request)
    {
        if (body.Length < 68) throw new PduException($"A-ASSOCIATE PDU body of {body.Length} bytes is shorter than its 68-byte fixed part");
        var p = new AssociationParameters
        {
            ProtocolVersion = BinaryPrimitives.ReadUInt16BigEndian(body),
            CalledAE = ReadAE(body.Slice(4, 16)),
            CallingAE = ReadAE(body.Slice(20, 16)),
        };
        var rest = body[68..];
        var sawAppContext = false;
        var sawUser = false;
        while (rest.Length > 0)
        {
            var type = ReadItem(ref rest, out var value, "A-ASSOCIATE item");
            switch (type)
            {
                case 0x10:
                    if (sawAppContext) throw new PduException("Two application context items", 5);
                    sawAppContext = true;
                    p.ApplicationContext = Uid(value, "application context");
                    break;
                case 0x20 when request:
                case 0x21 when !request:
                    p.PresentationContexts.Add(DecodePresentationContext(value, request));
                    break;
                case 0x50:
                    if (sawUser) throw new PduException("Two user information items", 5);
                    sawUser = true;
                    DecodeUserInformation(value, p, request);
                    break;
                default:
                    throw new PduException($"Unexpected item type 0x{type:X2} in A-ASSOCIATE-{(request ? "RQ" : "AC")}", 5);
            }
        }
        if (!sawAppContext) throw new PduException("A-ASSOCIATE without an application context item", 6);
        if (request && p.PresentationContexts.Count == 0) throw new PduException("A-ASSOCIATE-RQ proposes no presentation context", 6);
        if (p.PresentationContexts.Select(c => c.Id).Distinct().Count() != p.PresentationContexts.Count)
            throw new PduException("Presentation context IDs are not unique", 6);
        return p;
    }

    private static PresentationContext DecodePresentationContext(ReadOnlySpan<byte> value, bool request)
    {
        if (value.Length < 4) throw new PduException("Presentation context item shorter than 4 bytes");
        var id = value[0];
        if (id % 2 == 0) throw new PduException($"Presentation context ID {id} is even; IDs are odd numbers 1-255");
        var result = value[2];
        var rest = value[4..];
        string? abstractSyntax = null;
        var syntaxes = new List<string>();
        while (rest.Length > 0)
        {
            var type = ReadItem(ref rest, out var sub, "presentation context sub-item");
            if (type == 0x30 && request)
            {
                if (abstractSyntax is not null) throw new PduException("Two abstract syntaxes in one presentation context", 5);
                abstractSyntax = Uid(sub, "abstract syntax");
            }
            else if (type == 0x40) syntaxes.Add(Uid(sub, "transfer syntax", allowEmpty: !request));
            else throw new PduException($"Unexpected sub-item 0x{type:X2} in a presentation context", 5);
        }
        if (request)
        {
            if (abstractSyntax is null) throw new PduException($"Presentation context {id} has no abstract syntax", 6);
            if (syntaxes.Count == 0) throw new PduException($"Presentation context {id} proposes no transfer syntax", 6);
            return new PresentationContext(id, abstractSyntax, syntaxes);
        }
        if (result > 4) throw new PduException($"Presentation context {id} result {result} is not defined", 6);
        var pc = new PresentationContext(id, "", syntaxes) { Result = (PresentationContextResult)result };
        if (pc.Result == PresentationContextResult.Acceptance)
        {
            if (syntaxes.Count != 1 || syntaxes[0].Length == 0) throw new PduException($"Accepted presentation context {id} does not name exactly one transfer syntax", 6);
            pc.AcceptedTransferSyntax = syntaxes[0];
        }
        return pc;
    }

    private static void DecodeUserInformation(ReadOnlySpan<byte> value, AssociationParameters p, bool request)
    {
        var rest = value;
        while (rest.Length > 0)
        {
            var type = ReadItem(ref rest, out var sub, "user information sub-item");
            switch (type)
            {
                case 0x51:
                    if (sub.Length != 4) throw new PduException($"Maximum length sub-item is {sub.Length} bytes, not 4");
                    p.MaxPduLength = BinaryPrimitives.ReadUInt32BigEndian(sub);
                    break;
                case 0x52:
                    p.ImplementationClassUid = Uid(sub, "implementation class UID");
                    break;
                case 0x53:
                    if (sub.Length != 4) throw new PduException($"Asynchronous operations window sub-item is {sub.Length} bytes, not 4");
                    p.AsyncOperationsWindow = (BinaryPrimitives.ReadUInt16BigEndian(sub), BinaryPrimitives.ReadUInt16BigEndian(sub[2..]));
                    break;
                case 0x54:
                {
                    if (sub.Length < 2) throw new PduException("Role selection sub-item too short");
                    var n = BinaryPrimitives.ReadUInt16BigEndian(sub);
                    if (sub.Length != 2 + n + 2) throw new PduException("Role selection sub-item length does not match its UID length");
                    p.RoleSelections.Add(new RoleSelection(Uid(sub.Slice(2, n), "role selection SOP class"), sub[2 + n] == 1, sub[3 + n] == 1));
                    break;
                }
                case 0x55:
                    if (sub.Length > 16) throw new PduException("Implementation version name longer than 16 characters");
                    p.ImplementationVersionName = Encoding.ASCII.GetString(sub).Trim();
                    break;
                case 0x56: // SOP class extended negotiation: not supported, so not answered (PS3.7 D.3.3.5)
                case 0x57: // SOP class common extended negotiation
                    break;
                case 0x58 when request:
                {
                    if (sub.Length < 6) throw new PduException("User identity sub-item too short");
                    var type1 = sub[0];
                    var want = sub[1] == 1;
                    var n1 = BinaryPrimitives.ReadUInt16BigEndian(sub[2..]);
                    if (sub.Length < 4 + n1 + 2) throw new PduException("User identity primary field runs past its sub-item");
                    var primary = sub.Slice(4, n1).ToArray();
                    var n2 = BinaryPrimitives.ReadUInt16BigEndian(sub[(4 + n1)..]);
                    if (sub.Length != 4 + n1 + 2 + n2) throw new PduException("User identity secondary field length does not match its sub-item");
                    p.UserIdentity = new UserIdentity(type1, want, primary, sub.Slice(6 + n1, n2).ToArray());
                    break;
                }
                case 0x59 when !request:
                {
                    if (sub.Length < 2) throw new PduException("User identity response sub-item too short");
                    var n = BinaryPrimitives.ReadUInt16BigEndian(sub);
                    if (sub.Length != 2 + n) throw new PduException("User identity response length does not match its sub-item");
                    p.UserIdentityResponse = sub.Slice(2, n).ToArray();
                    break;
                }
                default:
                    throw new PduException($"Unexpected user information sub-item 0x{type:X2}", 5);
            }
        }
    }

    /// <summary>Takes one item off the front of <paramref name="data"/>; its declared length must fit in what is left.</summary>
    private static byte ReadItem(ref ReadOnlySpan<byte> data, out ReadOnlySpan<byte> value, string what)
    {
        if (data.Length < 4) throw new PduException($"{what}: {data.Length} trailing bytes are too few for an item header");
        var len = BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
        if (4 + len > data.Length) throw new PduException($"{what} 0x{data[0]:X2} declares {len} bytes but only {data.Length - 4} remain");
        var type = data[0];
        value = data.Slice(4, len);
        data = data[(4 + len)..];
        return type;
    }

    private static string Uid(ReadOnlySpan<byte> v, string what, bool allowEmpty = false)
    {
        if (v.Length > 64) throw new PduException($"The {what} UID is longer than 64 characters");
        foreach (var b in v)
            if (b is not ((>= (byte)'0' and <= (byte)'9') or (byte)'.' or 0 or (byte)' '))
                throw new PduException($"The {what} UID has a character 0x{b:X2} that is not allowed in a UID");
        var s = Encoding.ASCII.GetString(v).TrimEnd('\0', ' ');
        if (s.Length == 0 && !allowEmpty) throw new PduException($"The {what} UID is empty");
        return s;
    }

    private static string ReadAE(ReadOnlySpan<byte> v)
    {
        foreach (var b in v)
            if (b < 0x20 || b > 0x7E) throw new PduException($"AE title has a control or non-ASCII byte 0x{b:X2}");
        return Encoding.ASCII.GetString(v).Trim();
    }

    public static AssociateReject DecodeReject(ReadOnlySpan<byte> body)
    {
        if (body.Length != 4) throw new PduException($"A-ASSOCIATE-RJ body is {body.Length} bytes, not 4");
        if (body[1] is not (1 or 2) || body[2] is not (1 or 2 or 3)) throw new PduException("A-ASSOCIATE-RJ result or source out of range");
        return new AssociateReject((RejectResult)body[1], (RejectSource)body[2], body[3]);
    }

    public static AbortInfo DecodeAbort(ReadOnlySpan<byte> body)
    {
        if (body.Length != 4) throw new PduException($"A-ABORT body is {body.Length} bytes, not 4");
        return new AbortInfo(body[2], body[3]);
    }

    public static void CheckRelease(ReadOnlySpan<byte> body, PduType type)
    {
        if (body.Length != 4) throw new PduException($"{type} body is {body.Length} bytes, not 4");
    }

    /// <summary>Walks the PDVs of a P-DATA-TF body, checking each length (PS3.8 9.3.5).</summary>
    public static int CountPdvs(ReadOnlySpan<byte> body)
    {
        var n = 0;
        while (body.Length > 0)
        {
            if (body.Length < 6) throw new PduException("P-DATA-TF ends inside a PDV header");
            var len = BinaryPrimitives.ReadUInt32BigEndian(body);
            if (len < 2) throw new PduException($"PDV length {len} is shorter than its 2-byte header");
            if (len > body.Length - 4) throw new PduException($"PDV length {len} runs past the end of its P-DATA-TF PDU");
            body = body[(4 + (int)len)..];
            n++;
        }
        if (n == 0) throw new PduException("P-DATA-TF with no PDV");
        return n;
    }
}
