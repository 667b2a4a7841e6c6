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

    /// <summary>
    /// The one way this host binds an options section: once, into one instance, with the list-replace rule above. That
    /// instance is what <c>IOptions&lt;T&gt;</c> returns and what this method returns, so a value needed while the host
    /// is built (Hangfire storage, queues, URLs) is read from the same object the services get. It is validated at start
    /// (ValidateOnStart) by every <c>IValidateOptions&lt;T&gt;</c> registered, <paramref name="validate"/> included;
    /// a value the binder cannot convert is reported the same way, with the key that holds it.
    /// </summary>
    public static T AddValidatedOptions<T>(this IServiceCollection services, IConfiguration config, string section, Func<T, IEnumerable<string>>? validate = null)
        where T : class, new()
    {
        var options = new T();
        string? bindError = null;
        try { BindReplacingLists(config.GetSection(section), options); }
        catch (InvalidOperationException e) { bindError = e.Message; } // "Failed to convert configuration value at 'Jobs:IoWorkers' to type 'System.Int32'."
        services.AddOptions<T>().ValidateOnStart();
        services.AddSingleton<IOptionsFactory<T>>(sp => new BoundOptionsFactory<T>(options, bindError, sp.GetServices<IValidateOptions<T>>()));
        if (validate is not null) services.AddSingleton<IValidateOptions<T>>(new SectionValidator<T>(validate));
        services.AddSingleton(new BoundSection(section, options));
        return options;
    }
}

/// <summary>A section bound by <see cref="OptionsRegistration.AddValidatedOptions{T}"/> and the instance it was bound into.</summary>
internal sealed record BoundSection(string Section, object Options);

/// <summary>Hands out the one bound instance (no second bind), after the registered validators accept it.</summary>
internal sealed class BoundOptionsFactory<T>(T options, string? bindError, IEnumerable<IValidateOptions<T>> validators) : IOptionsFactory<T>
    where T : class
{
    public T Create(string name)
    {
        var failures = new List<string>();
        if (bindError is not null) failures.Add(bindError);
        foreach (var v in validators)
        {
            var r = v.Validate(name, options);
            if (r.Failed) failures.AddRange(r.Failures ?? [r.FailureMessage]);
        }
        if (failures.Count > 0) throw new OptionsValidationException(name, typeof(T), failures);
        return options;
    }
}
