using System.Runtime.InteropServices;

namespace MedAiNode.Dicom.Codecs.Native;

/// <summary>
/// A native codec library loaded on first use by its soname. Failing to load, or missing an export, becomes a
/// <see cref="DicomCodecException"/> naming the Debian package, so one absent library only disables its own syntaxes.
/// </summary>
internal sealed class NativeCodecLibrary
{
    private readonly string[] _names;
    private readonly Lazy<IntPtr> _handle;

    public NativeCodecLibrary(string displayName, string aptPackage, params string[] names)
    {
        DisplayName = displayName;
        AptPackage = aptPackage;
        _names = names;
        _handle = new Lazy<IntPtr>(Load, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public string DisplayName { get; }
    public string AptPackage { get; }

    public bool IsAvailable
    {
        get
        {
            try { return _handle.Value != IntPtr.Zero; }
            catch (DicomCodecException) { return false; }
        }
    }

    private IntPtr Load()
    {
        foreach (var name in _names)
            if (NativeLibrary.TryLoad(name, typeof(NativeCodecLibrary).Assembly, DllImportSearchPath.SafeDirectories | DllImportSearchPath.AssemblyDirectory, out var h))
                return h;
        throw Missing($"none of {string.Join(", ", _names)} could be loaded");
    }

    /// <summary>The address of an exported function; throws when the library or the symbol is missing.</summary>
    public IntPtr Export(string symbol)
    {
        var h = _handle.Value; // Lazy caches the exception, so a missing library costs one probe
        if (NativeLibrary.TryGetExport(h, symbol, out var p)) return p;
        throw Missing($"the installed version lacks {symbol}");
    }

    private DicomCodecException Missing(string why) =>
        new($"The {DisplayName} native library is not available ({why}). Install it with: apt-get install {AptPackage}") { AptPackage = AptPackage };
}
