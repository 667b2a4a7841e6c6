namespace MedAiNode.Worker.Tests;

/// <summary>
/// Inference:NativeLibraryPath, as a GPU node uses it to load onnxruntime-gpu's library: the node loads its models through
/// the library named there, and says so. Here the library is a copy of the CPU build in a folder of its own (no GPU in
/// tests); a GPU build is the same mechanism with CUDA/TensorRT then loading.
/// </summary>
public class GpuLibraryTests
{
    [Fact]
    public async Task A_node_pointed_at_another_ONNX_Runtime_library_loads_its_models_through_it_and_names_it()
    {
        var root = TestData.TempDir("gpu-lib");
        var lib = Path.Combine(root, "onnxruntime-other", "lib");
        Directory.CreateDirectory(lib);
        var bundled = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native");
        foreach (var f in Directory.GetFiles(bundled, "libonnxruntime*.so")) File.Copy(f, Path.Combine(lib, Path.GetFileName(f)));
        var path = Path.Combine(lib, "libonnxruntime.so");
        await using var node = new WorkerProcess(Path.Combine(root, "store"), $"--Inference:NativeLibraryPath={path}", "--Inference:ExecutionProviders:0=CUDA", "--Inference:ExecutionProviders:1=CPU");
        Directory.CreateDirectory(node.Root);
        await node.StartAsync();
        string log;
        lock (node.Output) log = node.Output.ToString();
        Assert.Contains($"native library from {path}", log);
        // The model came up on CPU with the reason CUDA was skipped, and the process mapped the copy, not the bundled file.
        Assert.Contains("execution provider CUDA unavailable", log);
        var maps = File.ReadAllText($"/proc/{node.ProcessId}/maps");
        Assert.Contains(path, maps);
        Assert.DoesNotContain(Path.Combine(bundled, "libonnxruntime.so"), maps);
    }

    [Fact]
    public async Task A_wrong_library_path_stops_the_node_at_start_naming_the_key()
    {
        var root = TestData.TempDir("gpu-lib-missing");
        await using var node = new WorkerProcess(root, "--Inference:NativeLibraryPath=/opt/onnxruntime-gpu/lib/libonnxruntime.so");
        var e = await Assert.ThrowsAsync<InvalidOperationException>(node.StartAsync);
        Assert.Contains("Inference:NativeLibraryPath", e.Message);
    }
}
