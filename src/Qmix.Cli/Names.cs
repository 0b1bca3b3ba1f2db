using System.Globalization;
using System.Text.Json.Nodes;

namespace Qmix.Cli;

/// <summary>Names on the command line: algorithms, environments, seeds, training presets.</summary>
internal static class Names
{
    /// <summary>The algorithms by their command-line names (qmix, vdn, iql, qmix-ns, qmix-lin, vdn-s, cw-qmix,
    /// ow-qmix).</summary>
    public static IReadOnlyList<string> Algorithms { get; } =
        Enum.GetValues<Algorithm>().Select(RunDirectory.AlgorithmName).ToArray();

    public static Algorithm Algorithm(string name)
    {
        foreach (var a in Enum.GetValues<Algorithm>())
            if (RunDirectory.AlgorithmName(a) == name.ToLowerInvariant()) return a;
        throw new UsageException($"unknown algorithm '{name}'; known: {string.Join(", ", Algorithms)}");
    }

    /// <summary>A built-in environment by name; an unknown name is a usage error naming it and listing the
    /// known ones.</summary>
    public static MultiAgentEnvironment Environment(string name)
    {
        if (!Environments.Names.Contains(name) && !name.StartsWith("combat:", StringComparison.Ordinal))
            throw new UsageException($"unknown environment '{name}'; known: {string.Join(", ", Environments.Names)} (see 'qmix envs')");
        try
        {
            return Environments.Create(name);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"unknown environment '{name}': {Cli.Plain(e)}");
        }
    }

    /// <summary>The registered name of a spec's environment (a spec name is its registered name, except
    /// non-monotonic).</summary>
    public static string? RegisteredName(string specName) =>
        Environments.Names.Contains(specName) ? specName
        : Environments.Names.Contains("matrix:" + specName) ? "matrix:" + specName
        : null;

    public static bool IsMatrixGame(string env) => env == "two-step" || env.StartsWith("matrix:", StringComparison.Ordinal);

    /// <summary>The presets by their command-line names (pymarl, pymarl2, paper-matrix-games).</summary>
    public static IReadOnlyList<string> Presets { get; } =
        Enum.GetValues<TrainingPreset>().Select(PresetName).ToArray();

    /// <summary>A preset's command-line name.</summary>
    public static string PresetName(TrainingPreset preset) =>
        System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(preset.ToString()).Replace("py-marl", "pymarl");

    /// <summary>The preset a run uses when none is named: the QMIX paper's §5 matrix-game settings for the matrix games
    /// (uniform exploration, small networks, 10,000 steps), pymarl2's fine-tuned QMIX otherwise (it learns the combat
    /// maps in a fraction of the steps and wall-clock time that the paper's settings take; see the docs'
    /// "Reproducing the paper" page).</summary>
    public static TrainingPreset DefaultPreset(string env) =>
        IsMatrixGame(env) ? TrainingPreset.PaperMatrixGames : TrainingPreset.PyMarl2;

    /// <summary>A preset by its command-line name; an unknown name is a usage error listing the known ones.</summary>
    public static TrainingPreset Preset(string name)
    {
        foreach (var p in Enum.GetValues<TrainingPreset>())
            if (PresetName(p) == name.ToLowerInvariant()) return p;
        throw new UsageException($"unknown preset '{name}'; known: {string.Join(", ", Presets)}");
    }

    /// <summary>Seeds from "a..b" (inclusive), "a,b,c" or "a".</summary>
    public static IReadOnlyList<ulong> Seeds(string text)
    {
        try
        {
            var range = text.Split("..");
            if (range.Length == 2)
            {
                ulong a = ulong.Parse(range[0], CultureInfo.InvariantCulture), b = ulong.Parse(range[1], CultureInfo.InvariantCulture);
                if (b < a) throw new UsageException($"--seeds {text}: the range is empty");
                if (b - a >= 1000) throw new UsageException($"--seeds {text}: more than 1000 seeds");
                var seeds = new List<ulong>();
                for (var s = a; s <= b; s++) seeds.Add(s);
                return seeds;
            }
            return text.Split(',').Select(s => ulong.Parse(s.Trim(), CultureInfo.InvariantCulture)).Distinct().ToArray();
        }
        catch (FormatException)
        {
            throw new UsageException($"--seeds {text}: expected a range like 1..5 or a list like 1,2,3");
        }
        catch (OverflowException)
        {
            throw new UsageException($"--seeds {text}: a seed is out of range");
        }
    }

    /// <summary>A config file: a JSON object of training options, or a run's config.json (whose environment is
    /// taken too). Returns the environment it names (or null) and the options JSON.</summary>
    public static (string? Environment, string OptionsJson) ReadConfig(string path)
    {
        if (!File.Exists(path)) throw new UsageException($"--config {path}: no such file");
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new UsageException($"--config {path}: not valid JSON: {e.Message}");
        }
        if (node is not JsonObject obj) throw new UsageException($"--config {path}: expected a JSON object");
        if (obj["format"]?.GetValue<string>() == RunConfig.FormatName)
        {
            var options = obj["options"] as JsonObject ?? throw new UsageException($"--config {path}: no \"options\"");
            return (obj["environment"]?.GetValue<string>(), options.ToJsonString());
        }
        return (null, obj.ToJsonString());
    }

    public static string Duration(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}" : $"{t.Minutes}:{t.Seconds:00}";
}
