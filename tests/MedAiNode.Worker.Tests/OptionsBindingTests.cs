using MedAiNode.Worker.Analysis;
using MedAiNode.Worker.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace MedAiNode.Worker.Tests;

/// <summary>Lists set in configuration replace the option's default list; unset ones keep it.</summary>
public class OptionsBindingTests
{
    private static IConfiguration Config(params string[] args) => new ConfigurationBuilder().AddCommandLine(args).Build();

    [Fact]
    public void A_configured_model_list_replaces_the_default_model()
    {
        var o = new ModelsOptions();
        OptionsRegistration.BindReplacingLists(Config("--Models:Enabled:0=ct-body", "--Models:SearchPaths:0=/opt/models").GetSection("Models"), o);
        Assert.Equal(["ct-body"], o.Enabled);
        Assert.Equal(["/opt/models"], o.SearchPaths);
    }

    [Fact]
    public void An_unconfigured_list_keeps_its_default_and_other_keys_still_bind()
    {
        var o = new ModelsOptions();
        OptionsRegistration.BindReplacingLists(Config("--Models:Other=1").GetSection("Models"), o);
        Assert.Equal(["ct-lung-quant", "blast-ct-v1"], o.Enabled);

        var inference = new MedAiNode.Inference.Runtime.InferenceOptions();
        OptionsRegistration.BindReplacingLists(Config("--Inference:ExecutionProviders:0=CPU", "--Inference:IntraOpThreads=2").GetSection("Inference"), inference);
        Assert.Equal(["CPU"], inference.ExecutionProviders);
        Assert.Equal(2, inference.IntraOpThreads);

        var store = new MedAiNode.Store.StudyStoreOptions();
        OptionsRegistration.BindReplacingLists(Config("--Store:QuietPeriod=00:00:05").GetSection("Store"), store);
        Assert.Equal(["HIGH"], store.StatStudyPriorities);
        Assert.Equal(TimeSpan.FromSeconds(5), store.QuietPeriod);
    }

    /// <summary>Builds the service host's registrations (the real ServiceHost.Build) and stops right after them, before
    /// anything is resolved or started: the override hook runs once every section is bound.</summary>
    private static IServiceCollection Registrations(params string[] args)
    {
        IServiceCollection? captured = null;
        var e = Assert.Throws<RegistrationsTaken>(() => ServiceHost.Build(args, services =>
        {
            captured = services;
            throw new RegistrationsTaken();
        }));
        Assert.NotNull(e);
        return captured!;
    }

    private sealed class RegistrationsTaken : Exception;

    private static List<BoundSection> Bound(IServiceCollection services) =>
        services.Where(d => d.ServiceType == typeof(BoundSection)).Select(d => (BoundSection)d.ImplementationInstance!).ToList();

    private static IEnumerable<System.Reflection.PropertyInfo> ListProperties(Type t) =>
        t.GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance)
            .Where(p => p.CanWrite && (p.PropertyType.IsArray || p.PropertyType.IsGenericType && p.PropertyType.GetGenericTypeDefinition() == typeof(List<>)));

    [Fact]
    public void Every_section_the_host_binds_replaces_a_list_set_on_the_command_line()
    {
        var lists = Bound(Registrations())
            .SelectMany(b => ListProperties(b.Options.GetType()).Select(p => (b.Section, Type: b.Options.GetType(), Property: p)))
            .ToList();
        // The sections with lists today; a new one is covered without touching this test.
        foreach (var known in new[] { "Store:StatStudyPriorities", "Store:StatCallingAeTitles", "Models:Enabled", "Models:SearchPaths", "Intake:Modalities", "Dicom:AllowedPeerAddresses", "Export:StowTo" })
            Assert.Contains(lists, l => $"{l.Section}:{l.Property.Name}" == known);

        var services = Registrations(lists.Select(l => $"--{l.Section}:{l.Property.Name}:0=7").ToArray());

        var bound = Bound(services);
        foreach (var (section, type, property) in lists)
        {
            var instance = Assert.Single(bound, b => b.Section == section && b.Options.GetType() == type).Options;
            var values = ((System.Collections.IEnumerable)property.GetValue(instance)!).Cast<object>().Select(v => v.ToString()).ToList();
            Assert.True(values.SequenceEqual(["7"]), $"{section}:{property.Name} ({type.Name}) is [{string.Join(", ", values)}], not [7]");
        }
        // What the services get through IOptions<T> is that same instance, not a second binding with other list rules.
        using var provider = services.BuildServiceProvider();
        var store = provider.GetRequiredService<Microsoft.Extensions.Options.IOptions<MedAiNode.Store.StudyStoreOptions>>().Value;
        Assert.Same(Assert.Single(bound, b => b.Options is MedAiNode.Store.StudyStoreOptions).Options, store);
        Assert.Equal(["7"], store.StatStudyPriorities);
    }

    [Fact]
    public void A_value_the_binder_cannot_convert_is_a_start_up_error_naming_the_key()
    {
        using var provider = Registrations("--Jobs:IoWorkers=many", "--Store:MaxFillPercent=250", "--Store:JournalSizeMiB=-1", "--Dicom:MaxAssociations=0").BuildServiceProvider();
        var jobs = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => provider.GetRequiredService<Microsoft.Extensions.Options.IOptions<JobsOptions>>().Value);
        Assert.Contains("Jobs:IoWorkers", jobs.Message);
        var store = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => provider.GetRequiredService<Microsoft.Extensions.Options.IOptions<MedAiNode.Store.StudyStoreOptions>>().Value);
        Assert.Contains("Store:MaxFillPercent must be in (0, 100]", store.Message);
        Assert.Contains("Store:JournalSizeMiB must be 0 (off) or between 1 and", store.Message);
        // The network library names the option only; the host names it under its own section.
        var dicom = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => provider.GetRequiredService<Microsoft.Extensions.Options.IOptions<MedAiNode.Dicom.Network.Services.DicomServerOptions>>().Value);
        Assert.Contains("Dicom:MaxAssociations: must be at least 1", dicom.Message);
    }

    [Fact]
    public void The_plain_binder_appends_which_is_why_this_exists()
    {
        var o = new ModelsOptions();
        Config("--Models:Enabled:0=ct-body").GetSection("Models").Bind(o);
        Assert.Equal(["ct-lung-quant", "blast-ct-v1", "ct-body"], o.Enabled);
    }

    /// <summary>Each source beats the ones before it: working directory's file, Section__Key, MedAiNode__Section__Key,
    /// --Section:Key. The variables use a section no option reads, so tests running beside this one see nothing.</summary>
    [Fact]
    public void A_plain_variable_beats_the_working_directory_file_and_the_prefixed_one_and_arguments_beat_it()
    {
        var dir = TestData.TempDir("config-order");
        File.WriteAllText(Path.Combine(dir, "appsettings.json"), """{ "OrderProbe": { "A": "file", "B": "file", "C": "file", "D": "file" } }""");
        string? Read(string key, params string[] args)
        {
            var builder = new ConfigurationBuilder();
            ServiceHost.AddNodeSources(builder, dir, args);
            return builder.Build()[$"OrderProbe:{key}"];
        }
        try
        {
            Environment.SetEnvironmentVariable("OrderProbe__B", "plain");
            Environment.SetEnvironmentVariable("OrderProbe__C", "plain");
            Environment.SetEnvironmentVariable("MedAiNode__OrderProbe__C", "prefixed");
            Environment.SetEnvironmentVariable("MedAiNode__OrderProbe__D", "prefixed");
            Assert.Equal("file", Read("A"));
            Assert.Equal("plain", Read("B"));
            Assert.Equal("prefixed", Read("C"));
            Assert.Equal("argument", Read("D", "--OrderProbe:D=argument"));
        }
        finally
        {
            foreach (var v in new[] { "OrderProbe__B", "OrderProbe__C", "MedAiNode__OrderProbe__C", "MedAiNode__OrderProbe__D" })
                Environment.SetEnvironmentVariable(v, null);
        }
    }
}
