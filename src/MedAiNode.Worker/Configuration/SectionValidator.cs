using Microsoft.Extensions.Options;

namespace MedAiNode.Worker.Configuration;

/// <summary>Adapts an options class's own Validate() (messages that name the key) to start-up validation.</summary>
internal sealed class SectionValidator<T>(Func<T, IEnumerable<string>> validate) : IValidateOptions<T> where T : class
{
    public ValidateOptionsResult Validate(string? name, T options)
    {
        var failures = validate(options).ToList();
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

internal static class OptionsRegistration
{
    /// <summary>
    /// Binds like ConfigurationBinder.Bind, except that a list or array the configuration sets replaces the default
    /// instead of being appended to it (the binder's own behaviour, which turned "--Models:Enabled:0=ct-body" into
    /// ct-lung-quant plus ct-body). A list the configuration does not mention keeps its default.
    /// </summary>
    public static void BindReplacingLists(IConfiguration section, object target)
    {
        foreach (var p in target.GetType().GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance))
        {
            if (!p.CanWrite || p.GetIndexParameters().Length > 0 || !section.GetSection(p.Name).GetChildren().Any()) continue;
            var t = p.PropertyType;
            if (t.IsArray) p.SetValue(target, Array.CreateInstance(t.GetElementType()!, 0));
            else if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(List<>)) p.SetValue(target, Activator.CreateInstance(t));
        }
        section.Bind(target);
    }

    public static void AddValidatedOptions<T>(this IServiceCollection services, IConfiguration config, string section, Func<T, IEnumerable<string>>? validate = null)
        where T : class
    {
        services.AddOptions<T>().Configure(o => BindReplacingLists(config.GetSection(section), o)).ValidateOnStart();
        if (validate is not null) services.AddSingleton<IValidateOptions<T>>(new SectionValidator<T>(validate));
    }
}
