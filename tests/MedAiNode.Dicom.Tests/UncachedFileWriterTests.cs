using MedAiNode.Dicom.IO;

namespace MedAiNode.Dicom.Tests;

/// <summary>Files written around the page cache are byte for byte what was given, of its exact length (the write is
/// whole blocks, cut back after), whatever the length; an existing file is an error and is left as it was.</summary>
public class UncachedFileWriterTests
{
    [Fact]
    public void Files_of_any_length_are_written_whole_and_exact_through_one_writer()
    {
        if (!OperatingSystem.IsLinux()) return;
        var dir = TestData.TempDir("uncached");
        using var writer = new UncachedFileWriter();
        var random = new Random(7);
        // Below, at and past a block; a CT slice; past the first pooled buffer (a larger one is taken); small again
        // after a large one (the pooled buffer's earlier bytes must not reach the file).
        foreach (var length in new[] { 1, 4095, 4096, 4097, 525_034, 3 << 20, 10 })
        {
            var content = new byte[length];
            random.NextBytes(content);
            var path = Path.Combine(dir, $"{length}.dcm");
            Assert.True(writer.TryWriteNew(path, content), $"the test folder's file system ({dir}) refused O_DIRECT");
            var back = File.ReadAllBytes(path);
            Assert.Equal(length, back.Length);
            Assert.True(content.AsSpan().SequenceEqual(back), $"{length} bytes differ");
        }
        Assert.True(writer.Supported);
    }

    [Fact]
    public void An_existing_file_is_an_error_and_keeps_its_content()
    {
        if (!OperatingSystem.IsLinux()) return;
        var path = Path.Combine(TestData.TempDir("uncached-exists"), "a.dcm");
        File.WriteAllBytes(path, [1, 2, 3]);
        using var writer = new UncachedFileWriter();
        var e = Assert.Throws<IOException>(() => writer.TryWriteNew(path, new byte[8192]));
        Assert.Equal(17, e.HResult); // EEXIST
        Assert.Equal([1, 2, 3], File.ReadAllBytes(path));
        Assert.True(writer.Supported);
    }

    [Fact]
    public void Without_O_DIRECT_nothing_is_written_and_the_caller_is_told()
    {
        var path = Path.Combine(TestData.TempDir("uncached-off"), "a.dcm");
        using var writer = new UncachedFileWriter(0);
        Assert.False(writer.Supported);
        Assert.False(writer.TryWriteNew(path, new byte[100]));
        Assert.False(File.Exists(path));
    }
}
