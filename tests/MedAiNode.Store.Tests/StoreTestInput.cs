using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Dicom.Network.Client;
using MedAiNode.Dicom.Network.Dimse;

namespace MedAiNode.Store.Tests;

/// <summary>What the store tests receive: slices of the real Philips phantom series, sent by a real association.</summary>
internal static class StoreTestInput
{
    /// <summary>The <paramref name="n"/>th of the series' slices as the shared data names them (I10.dcm, I20.dcm, ...).</summary>
    public static string Philips(int n) => TestData.Path_("ct", "philips-phantom-5mm", $"I{n * 10}.dcm");

    /// <summary>One association from CT_SCANNER to MEDAI on <paramref name="port"/>: each file by C-STORE, then release.</summary>
    public static async Task<List<StoreResult>> SendAsync(int port, params string[] files)
    {
        var heads = files.Select(f => DicomFile.Open(f, new DicomReadOptions { StopBeforePixelData = true })).ToList();
        var proposals = DicomClient.StorageProposals(heads.Select(h => (h.Dataset.GetString(DicomTags.SOPClassUID)!, h.TransferSyntax.Uid)));
        var results = new List<StoreResult>();
        await using var a = await DicomClient.ConnectAsync(new DicomClientOptions { Port = port, CalledAE = "MEDAI", CallingAE = "CT_SCANNER" }, proposals);
        foreach (var f in files) results.Add(await a.StoreAsync(f));
        await a.ReleaseAsync();
        return results;
    }
}
