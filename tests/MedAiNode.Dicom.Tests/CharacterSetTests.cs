using System.Text.Json;
using MedAiNode.Dicom.IO;

namespace MedAiNode.Dicom.Tests;

/// <summary>The PS3.5 Annex H (Japanese), I (Korean) and J (Chinese) examples, Latin-1 and UTF-8; pydicom as a second reader.</summary>
public class CharacterSetTests
{
    public static IEnumerable<object[]> Examples => new[]
    {
        // Annex H.3.1: ISO 2022 IR 87 (JIS X 0208) with ASCII as G0 default.
        new object[] { @"\ISO 2022 IR 87", "Yamada^Tarou=山田^太郎=やまだ^たろう",
            "59616d6164615e5461726f753d1b24423b3345441b28425e1b244242404f3a1b28423d1b24422464245e24401b28425e1b2442243f246d24261b2842" },
        // Annex H.3.2: ISO 2022 IR 13 (half-width katakana in G1, JIS X 0201 Roman in G0) and IR 87.
        new object[] { @"ISO 2022 IR 13\ISO 2022 IR 87", "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう",
            "d4cfc0de5ec0dbb33d1b24423b3345441b284a5e1b244242404f3a1b284a3d1b24422464245e24401b284a5e1b2442243f246d24261b284a" },
        // Annex I.2: ISO 2022 IR 149 (KS X 1001) in G1, re-designated after each delimiter.
        new object[] { @"\ISO 2022 IR 149", "Hong^Gildong=洪^吉洞=홍^길동",
            "486f6e675e47696c646f6e673d1b242943fbf35e1b242943d1ced4d73d1b242943c8ab5e1b242943b1e6b5bf" },
        // Annex J.1: GB18030.
        new object[] { "GB18030", "Wang^XiaoDong=王^小东=", "57616e675e5869616f446f6e673dcdf55ed0a1b6ab3d" },
        // Annex J.3: ISO 2022 IR 58 (GB 2312) in G1.
        new object[] { @"\ISO 2022 IR 58", "Zhang^XiaoDong=张^小东=", "5a68616e675e5869616f446f6e673d1b242941d5c55e1b242941d0a1b6ab3d" },
        new object[] { "GBK", "Wang^XiaoDong=王^小东=", "57616e675e5869616f446f6e673dcdf55ed0a1b6ab3d" },
        new object[] { "ISO_IR 100", "Buc^Jérôme", "4275635e4ae972f46d65" },
        new object[] { "ISO_IR 192", "Wang^XiaoDong=王^小東=", "57616e675e5869616f446f6e673de78e8b5ee5b08fe69db13d" },
        new object[] { "ISO_IR 144", "Люксембург", "bbeedae1d5dcd1e3e0d3" },
    };

    [Theory]
    [MemberData(nameof(Examples))]
    public void Standard_example_decodes_and_encodes_to_the_same_bytes(string charset, string text, string hex)
    {
        var bytes = Convert.FromHexString(hex);
        var cs = DicomCharacterSet.FromValues(charset.Split('\\'));
        Assert.Equal(text, cs.Decode(bytes, DicomVR.PN));
        Assert.Equal(hex, Convert.ToHexStringLower(cs.Encode(text, DicomVR.PN)));
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public void Our_file_is_read_by_dcmtk_and_pydicom_with_the_same_name(string charset, string text, string hex)
    {
        _ = hex;
        var ds = new DicomDataset()
            .Set(DicomTags.SpecificCharacterSet, charset.Split('\\'))
            .Set(DicomTags.SOPClassUID, DicomUids.SecondaryCaptureImageStorage)
            .Set(DicomTags.SOPInstanceUID, DicomUidGenerator.Default.Generate())
            .Set(DicomTags.PatientName, text)
            .Set(DicomTags.InstitutionName, text.Split('^')[0].Split('=')[^1] is { Length: > 0 } s ? s : "X");
        var path = Path.Combine(TestData.TempDir("charset"), "pn.dcm");
        new DicomFile(ds).Save(path);

        // DCMTK's dcm2json converts to UTF-8 through iconv, which has no JIS X 0208 code-extension support (pydicom checks those).
        var dcmtk = Tool.Run("dcm2json", new[] { path });
        if (!charset.Contains("IR 87"))
        {
            Assert.True(dcmtk.ExitCode == 0, dcmtk.StdErr);
            using var dj = JsonDocument.Parse(dcmtk.StdOut);
            var pn = dj.RootElement.GetProperty("00100010").GetProperty("Value")[0];
            var groups = new[] { "Alphabetic", "Ideographic", "Phonetic" }.Select(k => pn.TryGetProperty(k, out var v) ? v.GetString() : "");
            Assert.Equal(text.TrimEnd('='), string.Join("=", groups).TrimEnd('='));
        }

        var back = DicomFile.Open(path).Dataset;
        Assert.Equal(text, back.GetString(DicomTags.PatientName));
        // pydicom 2.3 leaves the G1 designation "ESC $ ) A" in decoded IR 58 text (our bytes are the Annex J.3 bytes, checked above).
        if (charset.Contains("IR 58")) return;

        var py = Tool.Python("""
import sys, json, pydicom
ds = pydicom.dcmread(sys.argv[1])
print(json.dumps({'pn': str(ds.PatientName), 'inst': ds.InstitutionName}))
""", path);
        Assert.True(py.ExitCode == 0, py.StdErr);
        using var doc = JsonDocument.Parse(py.StdOut);
        Assert.Equal(text.TrimEnd('='), doc.RootElement.GetProperty("pn").GetString()!.TrimEnd('='));
        Assert.Equal(ds.GetString(DicomTags.InstitutionName), doc.RootElement.GetProperty("inst").GetString());
    }

    [Fact]
    public void Multi_valued_text_resets_to_the_initial_set_at_each_backslash()
    {
        var cs = DicomCharacterSet.FromValues(["", "ISO 2022 IR 87"]);
        var bytes = cs.Encode(@"山田\Yamada\太郎", DicomVR.LO);
        Assert.Equal(@"山田\Yamada\太郎", cs.Decode(bytes, DicomVR.LO));
        // ESC ( B comes before each backslash, so a 7-bit reader still sees the delimiters.
        var s = System.Text.Encoding.Latin1.GetString(bytes);
        Assert.Equal(3, s.Split('\\').Length);
    }

    [Fact]
    public void Character_outside_the_declared_sets_is_refused_when_set()
    {
        var ds = new DicomDataset().Set(DicomTags.SpecificCharacterSet, "ISO_IR 100");
        var e = Assert.Throws<DicomValidationException>(() => ds.Set(DicomTags.PatientName, "山田"));
        Assert.Contains("PatientName", e.Message);
        var ascii = new DicomDataset();
        Assert.Throws<DicomValidationException>(() => ascii.Set(DicomTags.PatientName, "Jérôme"));
    }

    [Fact]
    public void Items_inherit_the_character_set_of_their_dataset()
    {
        var ds = new DicomDataset().Set(DicomTags.SpecificCharacterSet, "GB18030");
        var item = ds.AddItem(DicomTags.OtherPatientIDsSequence, new DicomDataset());
        item.Set(DicomTags.PatientName, "王^小东");
        var back = DicomFile.Read(new MemoryStream(new DicomFile(ds.Set(DicomTags.SOPInstanceUID, "1.2.3")).ToBytes())).Dataset;
        Assert.Equal("王^小东", back.GetSequence(DicomTags.OtherPatientIDsSequence)!.Items[0].GetString(DicomTags.PatientName));
        Assert.Equal(Convert.FromHexString("cdf55ed0a1b6ab"), item.GetBytes(DicomTags.PatientName).ToArray()[..7]);
    }

    [Fact]
    public void Undeclared_high_bytes_are_read_as_latin1_not_dropped()
    {
        var ds = new DicomDataset();
        ds.Add(new DicomElement(DicomTags.InstitutionName, DicomVR.LO, System.Text.Encoding.Latin1.GetBytes("Hôpital ")));
        Assert.Equal("Hôpital", ds.GetString(DicomTags.InstitutionName));
    }
}
