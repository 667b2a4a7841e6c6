using MedAiNode.Worker.Analysis;
using MedAiNode.Worker.Configuration;
using Microsoft.Extensions.Configuration;

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
        Assert.Equal(["ct-lung-quant"], o.Enabled);

        var inference = new MedAiNode.Inference.Runtime.InferenceOptions();
        OptionsRegistration.BindReplacingLists(Config("--Inference:ExecutionProviders:0=CPU", "--Inference:IntraOpThreads=2").GetSection("Inference"), inference);
        Assert.Equal(["CPU"], inference.ExecutionProviders);
        Assert.Equal(2, inference.IntraOpThreads);

        var store = new MedAiNode.Store.StudyStoreOptions();
        OptionsRegistration.BindReplacingLists(Config("--Store:QuietPeriod=00:00:05").GetSection("Store"), store);
        Assert.Equal(["HIGH"], store.StatStudyPriorities);
        Assert.Equal(TimeSpan.FromSeconds(5), store.QuietPeriod);
    }

    [Fact]
    public void The_plain_binder_appends_which_is_why_this_exists()
    {
        var o = new ModelsOptions();
        Config("--Models:Enabled:0=ct-body").GetSection("Models").Bind(o);
        Assert.Equal(["ct-lung-quant", "ct-body"], o.Enabled);
    }
}
