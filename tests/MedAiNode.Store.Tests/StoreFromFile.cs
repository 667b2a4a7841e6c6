using MedAiNode.Dicom.IO;

namespace MedAiNode.Store.Tests;

internal static class StoreFromFile
{
    /// <summary>Files a Part 10 file the test wrote, parsed the way a receiver would (once) before the store sees it.</summary>
    public static StoredInstance Store(this StudyStore store, string file, string callingAe) => store.Store(ReceivedInstance.Read(file, callingAe));
}
