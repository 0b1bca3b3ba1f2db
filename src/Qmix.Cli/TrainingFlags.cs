using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Qmix.Cli;

/// <summary>The training options as command-line flags: one flag for each option users change most, and
/// <c>--set KEY=VALUE</c> for every other, with the snake_case keys of <c>config.json</c> and <c>--config</c>. Each becomes
/// a key of a JSON overlay applied over the preset and the config file (<see cref="TrainingOptions.WithJson"/>), so
/// a flag and the same key in a file mean the same thing and are checked the same way.</summary>
internal sealed class TrainingFlags
{
    /// <summary>A flag and the option key it sets.</summary>
    sealed record Flag(Option Option, string Key);

    readonly List<Flag> flags = [];
    readonly Option<string[]> set = new("--set")
    {
        Description = "Any other training option, as in config.json: --set target_update_interval=100 (repeatable)",
        HelpName = "KEY=VALUE",
        AllowMultipleArgumentsPerToken = false,
    };

    /// <summary>The flags of <c>qmix train</c>.</summary>
    public static TrainingFlags Create()
    {
        var f = new TrainingFlags();
        f.Add<double?>("--lr", "lr", "The learning rate (lr)", "X");
        f.Add<int?>("--batch-size", "batch_size", "Episodes per learner update (batch_size)", "N");
        f.Add<int?>("--epsilon-anneal", "epsilon_anneal_steps", "Steps over which ε falls from its start to its finish (epsilon_anneal_time)", "N");
        f.Add<double?>("--epsilon-finish", "epsilon_finish", "ε after annealing (epsilon_finish)", "X");
        f.Add<int?>("--test-interval", "test_interval", "Steps between greedy test rounds (test_interval)", "N");
        f.Add<int?>("--test-episodes", "test_episodes", "Greedy episodes per test round (test_nepisode)", "N");
        f.Add<double?>("--td-lambda", "td_lambda", "TD(λ) targets with this λ (td_lambda); one-step targets when not set", "X");
        f.Add<int?>("--target-update", "target_update_interval", "Episodes between target-network copies (target_update_interval)", "N");
        f.Add<int?>("--parallel-envs", "parallel_envs", "Environments stepped together per update (batch_size_run)", "N");
        var optimizer = f.Add<string?>("--optimizer", "optimizer", "The optimiser: adam or rms-prop", "NAME");
        optimizer.AcceptOnlyFromAmong("adam", "rms-prop");
        var mixerInput = f.Add<string?>("--mixer-input", "mixer_input", "What the mixer's hypernetworks read: state or all-observations", "INPUT");
        mixerInput.AcceptOnlyFromAmong("state", "all-observations");
        var replay = f.Add<string?>("--checkpoint-replay", "checkpoint_replay", "What checkpoints hold of the replay buffer: full (the default, for a bit-identical resume) or none (a few MB; a resumed run refills its buffer)", "full|none");
        replay.AcceptOnlyFromAmong("full", "none");
        return f;
    }

    Option<T> Add<T>(string name, string key, string description, string helpName)
    {
        var option = new Option<T>(name) { Description = description, HelpName = helpName };
        flags.Add(new Flag(option, key));
        return option;
    }

    /// <summary>Every flag, <c>--set</c> last.</summary>
    public IEnumerable<Option> Options => flags.Select(f => f.Option).Append(set);

    /// <summary>The options the parsed flags give, as a JSON object (<c>--set</c> first, the named flags over it); null
    /// when none is given.</summary>
    /// <exception cref="UsageException">A <c>--set</c> without <c>=</c> or without a key.</exception>
    public string? Json(ParseResult r)
    {
        var json = new JsonObject();
        foreach (var item in r.GetValue(set) ?? [])
        {
            var eq = item.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) throw new UsageException($"--set {item}: give KEY=VALUE, e.g. --set target_update_interval=100");
            json[item[..eq].Trim()] = Value(item[(eq + 1)..].Trim());
        }
        foreach (var flag in flags)
        {
            if (r.GetResult(flag.Option) is not { Implicit: false } result) continue;
            json[flag.Key] = result.GetValueOrDefault<object?>() switch
            {
                double d => JsonValue.Create(d),
                int i => JsonValue.Create(i),
                string s => JsonValue.Create(s),
                _ => null,
            };
        }
        return json.Count == 0 ? null : json.ToJsonString();
    }

    /// <summary>A <c>--set</c> value as JSON: a number, true, false or null as such, anything else as a string.</summary>
    static JsonNode? Value(string text)
    {
        if (text == "null") return null;
        if (bool.TryParse(text, out var b)) return JsonValue.Create(b);
        if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l)) return JsonValue.Create(l);
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) return JsonValue.Create(d);
        return JsonValue.Create(text);
    }

    /// <summary>The options with the flags' settings applied.</summary>
    /// <exception cref="UsageException">An unknown key, or a value that does not fit its option.</exception>
    public static TrainingOptions Apply(TrainingOptions options, string json)
    {
        try
        {
            return options.WithJson(json);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"the training flags: {Plain(e)}");
        }
    }

    /// <summary>An argument error's message without .NET's "(Parameter 'name')" suffix.</summary>
    static string Plain(ArgumentException e)
    {
        var message = e.ParamName is { } p ? e.Message.Replace($" (Parameter '{p}')", "", StringComparison.Ordinal) : e.Message;
        // ArgumentOutOfRangeException adds "Actual value was …" on a line of its own
        return message.Split('\n')[0].Trim();
    }

    /// <summary>A warning when ε is still annealing when the run ends (it then never reaches its finish); null
    /// otherwise.</summary>
    public static string? EpsilonWarning(TrainingOptions o) =>
        o.EpsilonAnnealSteps > o.TotalSteps && o.EpsilonStart != o.EpsilonFinish
            ? string.Create(CultureInfo.InvariantCulture,
                $"ε anneals over {o.EpsilonAnnealSteps:N0} steps, longer than the run's {o.TotalSteps:N0}: it ends at ε {o.EpsilonStart + (o.EpsilonFinish - o.EpsilonStart) * o.TotalSteps / o.EpsilonAnnealSteps:0.00}, not {o.EpsilonFinish:0.00} (--epsilon-anneal to shorten it)")
            : null;
}
