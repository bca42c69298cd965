namespace MusicGen.Model;

/// <summary>
/// Bad input, not a bug: a setting of a request or a configuration is out of range or does not fit the model. The
/// library names the setting as the CLI spells its option without the dashes (the web API's field, a C# caller's
/// property, in words); the message reads "bars must be in 1..1000 (got 0)". The CLI prints it as "--bars must be ...".
/// </summary>
public sealed class SettingException(string setting, string problem) : ArgumentException($"{setting} {problem}")
{
    /// <summary>The setting's name: bars, count, primer-bars, temperature ...</summary>
    public string Setting { get; } = setting;
    /// <summary>What is wrong with it, after its name: "must be in 1..1000 (got 0)".</summary>
    public string Problem { get; } = problem;
}
