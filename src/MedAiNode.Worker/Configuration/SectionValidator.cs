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
    public static void AddValidatedOptions<T>(this IServiceCollection services, IConfiguration config, string section, Func<T, IEnumerable<string>>? validate = null)
        where T : class
    {
        services.AddOptions<T>().Bind(config.GetSection(section)).ValidateOnStart();
        if (validate is not null) services.AddSingleton<IValidateOptions<T>>(new SectionValidator<T>(validate));
    }
}
