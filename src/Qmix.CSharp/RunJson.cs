using System.Text.Json;
using System.Text.Json.Serialization;

namespace Qmix;

/// <summary>The JSON settings of run directories and option files: snake_case names (as PyMARL's), enum values in
/// kebab-case (<c>cw-qmix</c>, <c>rms-prop</c>), NaN and infinities as strings.</summary>
internal static class RunJson
{
    static JsonSerializerOptions Make(bool indented) => new()
    {
        WriteIndented = indented,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false) },
    };

    /// <summary>Indented, for config.json and summary.json.</summary>
    public static readonly JsonSerializerOptions Indented = Make(true);

    /// <summary>One line, for metrics.jsonl.</summary>
    public static readonly JsonSerializerOptions Line = Make(false);

    /// <summary>A key as the files spell it: <c>BatchSize</c>, <c>batchSize</c> and <c>batch_size</c> all give
    /// <c>batch_size</c>.</summary>
    public static string Key(string name) => JsonNamingPolicy.SnakeCaseLower.ConvertName(name.Replace("-", "_"));

    /// <summary>Writes a file atomically (a temporary file renamed over it).</summary>
    public static void WriteFile(string path, string text)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var tmp = full + ".tmp";
        File.WriteAllText(tmp, text);
        File.Move(tmp, full, overwrite: true);
    }
}
