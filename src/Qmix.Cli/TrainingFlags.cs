using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Qmix.Cli;

/// <summary>The training options as command-line flags: one flag for each option users change most, and
/// <c>--set KEY=VALUE</c> for every other, with the snake_case keys of <c>config.json</c> and <c>--config</c>. Each becomes
/// a key of a JSON overlay applied over the preset and the config file (<see cref="TrainingOptions.WithJson"/>), so
/// a flag and the same key in a file mean the same thing and are checked the same way. The run's own flags (environment,
/// algorithm, steps, seeds, output) are <c>qmix train</c>'s.</summary>
internal sealed class TrainingFlags
{
    /// <summary>A flag and the option key it sets.</summary>
    sealed record Flag(Option Option, string Key);

    readonly List<Flag> flags = [];

    /// <summary>How the options given were named on the command line (<c>--lr</c>, <c>--set gamma</c>), by key, for
    /// messages.</summary>
    readonly Dictionary<string, string> givenAs = [];
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
        f.Add<int?>("--buffer-size", "buffer_size", "Episodes the replay buffer keeps (buffer_size); default the preset's", "N", "--buffer");
        f.Add<int?>("--epsilon-anneal", "epsilon_anneal_steps", "Steps over which ε falls from its start to its finish (epsilon_anneal_time)", "N");
        f.Add<double?>("--epsilon-finish", "epsilon_finish", "ε after annealing (epsilon_finish)", "X");
        f.Add<int?>("--test-interval", "test_interval", "Steps between greedy test rounds (test_interval)", "N");
        f.Add<int?>("--test-episodes", "test_episodes", "Greedy episodes per test round (test_nepisode)", "N");
        f.Add<double?>("--td-lambda", "td_lambda", "TD(λ) targets with this λ (td_lambda); one-step targets when not set", "X");
        f.Add<int?>("--target-update", "target_update_interval", "Episodes between target-network copies (target_update_interval)", "N");
        f.Add<int?>("--parallel-envs", "parallel_envs", "Environments stepped together per update (batch_size_run)", "N");
        f.Add<int?>("--save-interval", "save_interval", "Steps between checkpoints (save_interval), so that a killed run loses little; default the preset's (0: at the end and on Ctrl+C only)", "N");
        var optimizer = f.Add<string?>("--optimizer", "optimizer", "The optimiser: adam or rms-prop", "NAME");
        optimizer.AcceptOnlyFromAmong("adam", "rms-prop");
        var mixerInput = f.Add<string?>("--mixer-input", "mixer_input", "What the mixer's hypernetworks read: state or all-observations", "INPUT", "--hypernet-input");
        mixerInput.AcceptOnlyFromAmong("state", "all-observations");
        var replay = f.Add<string?>("--checkpoint-replay", "checkpoint_replay", "What checkpoints hold of the replay buffer: full (the default, for a bit-identical resume) or none (a few MB; a resumed run refills its buffer)", "full|none");
        replay.AcceptOnlyFromAmong("full", "none");
        var precision = f.Add<string?>("--replay-precision", "replay_precision", "How the replay buffer stores observations and states: float32 (the default, exact) or float16 (half their memory)", "float32|float16");
        precision.AcceptOnlyFromAmong("float32", "float16");
        return f;
    }

    Option<T> Add<T>(string name, string key, string description, string helpName, params string[] aliases)
    {
        var option = new Option<T>(name, aliases) { Description = description, HelpName = helpName };
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
            var key = item[..eq].Trim();
            json[key] = Value(item[(eq + 1)..].Trim());
            givenAs[Key(key)] = "--set " + key;
        }
        foreach (var flag in flags)
        {
            if (r.GetResult(flag.Option) is not { Implicit: false } result) continue;
            givenAs[flag.Key] = flag.Option.Name;
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

    /// <summary>The options with the flags' settings applied (<see cref="Json"/> first).</summary>
    /// <exception cref="UsageException">An unknown key, or a value that does not fit its option (named as it was given:
    /// "--buffer-size must be at least 1, got 0").</exception>
    public TrainingOptions Apply(TrainingOptions options, string json)
    {
        try
        {
            return options.WithJson(json);
        }
        catch (ArgumentException e)
        {
            var message = Cli.Plain(e);
            // WithJson names the option by its key first ("buffer_size: BufferSize must be ..."): the command line names
            // it as it was given instead
            if (e.ParamName is { } k && message.StartsWith(k + ": ", StringComparison.Ordinal) && givenAs.TryGetValue(Key(k), out var asGiven))
            {
                var rest = message[(k.Length + 2)..];
                var property = rest.Split(' ')[0];
                throw new UsageException(typeof(TrainingOptions).GetProperty(property) is not null
                    ? asGiven + rest[property.Length..]
                    : $"{asGiven}: {rest}");
            }
            // a range error names the option's C# property (BufferSize): name it as the command line did
            if (e.ParamName is { } p && givenAs.TryGetValue(Key(p), out var given))
                return message.StartsWith(p + " ", StringComparison.Ordinal)
                    ? throw new UsageException(given + message[p.Length..])
                    : throw new UsageException($"{given}: {message}");
            // a value of the wrong type: "'lr' takes a number, not "abc"" reads "--set lr takes a number, not "abc""
            var quoted = System.Text.RegularExpressions.Regex.Match(message, "^'([^']+)' (?=takes )");
            if (quoted.Success && givenAs.TryGetValue(Key(quoted.Groups[1].Value), out var named))
                throw new UsageException(named + " " + message[quoted.Length..]);
            throw new UsageException($"the training flags: {message}");
        }
    }

    /// <summary>An option's key as config.json spells it (BufferSize and buffer-size give buffer_size; a property whose
    /// file key differs, such as LearningRate, gives that key, lr).</summary>
    static string Key(string name) =>
        TrainingOptions.FileKey(name) ?? System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(name.Replace('-', '_'));

    /// <summary>A warning when ε is still annealing when the run ends (it then never reaches its finish); null
    /// otherwise.</summary>
    public static string? EpsilonWarning(TrainingOptions o) =>
        o.EpsilonAnnealSteps > o.TotalSteps && o.EpsilonStart != o.EpsilonFinish
            ? string.Create(CultureInfo.InvariantCulture,
                $"ε anneals over {o.EpsilonAnnealSteps:N0} steps, longer than the run's {o.TotalSteps:N0}: it ends at ε {Format.Number(o.EpsilonStart + (o.EpsilonFinish - o.EpsilonStart) * o.TotalSteps / o.EpsilonAnnealSteps)}, not {Format.Number(o.EpsilonFinish)} (--epsilon-anneal to shorten it)")
            : null;
}
