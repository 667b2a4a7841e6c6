using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace MedAiNode.Worker.Tests;

/// <summary>
/// The layering, read from every src/*/*.csproj: which project may reference which, that only the host carries
/// System.CommandLine, and that no project reference is unused.
/// </summary>
public class ArchitectureTests
{
    private const string Dicom = "MedAiNode.Dicom", Codecs = "MedAiNode.Dicom.Codecs", Network = "MedAiNode.Dicom.Network",
        DicomWeb = "MedAiNode.DicomWeb", Imaging = "MedAiNode.Imaging", Inference = "MedAiNode.Inference", Results = "MedAiNode.Results",
        Store = "MedAiNode.Store", Export = "MedAiNode.Export", Analysis = "MedAiNode.Analysis", Host = "MedAiNode.Worker";

    /// <summary>Each project and the projects it may reference: lower layers never reference higher ones. A new project is one line
    /// here; a project missing from the table fails <see cref="Every_project_reference_is_allowed_by_the_layering"/>.</summary>
    internal static readonly Dictionary<string, string[]> Allowed = new()
    {
        [Dicom] = [],
        [Codecs] = [Dicom],
        [Network] = [Dicom],
        [DicomWeb] = [Dicom],
        [Imaging] = [Dicom],
        [Inference] = [Dicom, Imaging],
        [Results] = [Dicom, Imaging],
        [Store] = [Dicom],
        [Export] = [Dicom, Network, DicomWeb],
        [Analysis] = [Dicom, Imaging, Inference, Results],
        [Host] = [Dicom, Codecs, Network, DicomWeb, Imaging, Inference, Results, Store, Export, Analysis],
    };

    /// <summary>Libraries that still carry System.CommandLine, each with the reason; a line that is no longer needed fails the test.</summary>
    private static readonly Dictionary<string, string> CommandLineExceptions = new();

    private sealed record Project(string Name, string Directory, IReadOnlyList<string> ProjectReferences, IReadOnlyList<string> Packages);

    private static List<Project> Projects()
    {
        var list = new List<Project>();
        foreach (var csproj in Directory.GetFiles(Path.Combine(TestData.RepoRoot, "src"), "*.csproj", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var xml = XDocument.Load(csproj);
            var refs = xml.Descendants("ProjectReference").Select(e => Path.GetFileNameWithoutExtension(e.Attribute("Include")!.Value.Replace('\\', '/'))).ToList();
            var packages = xml.Descendants("PackageReference").Select(e => e.Attribute("Include")!.Value).ToList();
            list.Add(new Project(Path.GetFileNameWithoutExtension(csproj), Path.GetDirectoryName(csproj)!, refs, packages));
        }
        Assert.True(list.Count >= 10, $"only {list.Count} projects found under src/");
        return list;
    }

    [Fact]
    public void Every_project_reference_is_allowed_by_the_layering()
    {
        var problems = new List<string>();
        foreach (var p in Projects())
        {
            if (!Allowed.TryGetValue(p.Name, out var allowed))
            {
                problems.Add($"{p.Name} is not in the layering table (ArchitectureTests.Allowed): add one line saying what it may reference");
                continue;
            }
            foreach (var r in p.ProjectReferences.Where(r => !allowed.Contains(r)))
                problems.Add($"{p.Name} references {r}; it may reference only {(allowed.Length == 0 ? "nothing" : string.Join(", ", allowed))}");
        }
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void The_layering_table_has_no_cycle()
    {
        // Depth-first over the allowed edges: a cycle would let a low layer depend on a high one through a third.
        var state = new Dictionary<string, int>();
        void Visit(string n, Stack<string> path)
        {
            if (state.GetValueOrDefault(n) == 2) return;
            Assert.True(state.GetValueOrDefault(n) != 1, "cycle: " + string.Join(" -> ", path.Reverse().Append(n)));
            state[n] = 1;
            path.Push(n);
            foreach (var m in Allowed.GetValueOrDefault(n) ?? []) Visit(m, path);
            path.Pop();
            state[n] = 2;
        }
        foreach (var n in Allowed.Keys) Visit(n, new Stack<string>());
    }

    [Fact]
    public void Only_the_host_references_System_CommandLine()
    {
        var problems = new List<string>();
        var projects = Projects();
        foreach (var p in projects.Where(p => p.Name != Host))
        {
            var has = p.Packages.Contains("System.CommandLine");
            if (has && !CommandLineExceptions.ContainsKey(p.Name)) problems.Add($"{p.Name} references System.CommandLine: verbs belong in {Host}/Commands");
            if (!has && CommandLineExceptions.ContainsKey(p.Name)) problems.Add($"{p.Name} no longer references System.CommandLine: remove its line from CommandLineExceptions");
        }
        Assert.Contains("System.CommandLine", projects.Single(p => p.Name == Host).Packages);
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    /// <summary>Line comments out, so a namespace named only in a comment does not count as a use.</summary>
    private static readonly Regex LineComment = new(@"//.*$", RegexOptions.Multiline | RegexOptions.Compiled);
    private static readonly Regex DottedName = new(@"\bMedAiNode(?:\.[A-Za-z_][A-Za-z0-9_]*)+", RegexOptions.Compiled);

    /// <summary>The project whose root namespace is the longest prefix of <paramref name="name"/> (MedAiNode.Dicom.Codecs.X
    /// belongs to Dicom.Codecs, not to Dicom).</summary>
    internal static string? OwnerOf(string name, IEnumerable<string> projects) =>
        projects.Where(p => name == p || name.StartsWith(p + ".", StringComparison.Ordinal)).MaxBy(p => p.Length);

    [Fact]
    public void No_project_reference_is_unused()
    {
        var projects = Projects();
        var names = projects.Select(p => p.Name).ToList();
        var problems = new List<string>();
        foreach (var p in projects)
        {
            var used = new HashSet<string>(StringComparer.Ordinal);
            foreach (var cs in Directory.EnumerateFiles(p.Directory, "*.cs", SearchOption.AllDirectories))
            {
                var rel = Path.GetRelativePath(p.Directory, cs).Replace('\\', '/');
                if (rel.StartsWith("obj/", StringComparison.Ordinal) || rel.StartsWith("bin/", StringComparison.Ordinal)) continue;
                var code = LineComment.Replace(File.ReadAllText(cs), "");
                foreach (Match m in DottedName.Matches(code))
                    if (OwnerOf(m.Value, names) is { } owner) used.Add(owner);
            }
            foreach (var r in p.ProjectReferences.Where(r => !used.Contains(r)))
                problems.Add($"{p.Name} references {r} but no .cs file of it names the {r} namespace (using or fully qualified): remove the reference");
        }
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void Namespace_owner_is_the_longest_matching_project()
    {
        string[] names = [Dicom, Codecs, DicomWeb];
        Assert.Equal(Codecs, OwnerOf("MedAiNode.Dicom.Codecs.DicomCodecRegistry", names));
        Assert.Equal(Dicom, OwnerOf("MedAiNode.Dicom.IO", names));
        Assert.Equal(DicomWeb, OwnerOf("MedAiNode.DicomWeb.Qido", names));
        Assert.Null(OwnerOf("MedAiNode.Worker", names));
    }
}
