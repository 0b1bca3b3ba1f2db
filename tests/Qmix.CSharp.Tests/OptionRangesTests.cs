using System.Text.Json;
using Xunit;

namespace Qmix.Tests;

/// <summary>Every training option, one bad value each: refused with a message naming the option (as config files and
/// --set spell it), the value, and what is allowed; through the facade (<see cref="TrainingOptions.WithJson"/>) and
/// through <c>qmix train --set</c>.</summary>
public class OptionRangesTests
{
    /// <summary>One bad value per option (JSON), and the text the message must show of it.</summary>
    static readonly Dictionary<string, (string Json, string Shown)> Bad = new()
    {
        ["algorithm"] = ("\"nope\"", "nope"),
        ["total_steps"] = ("-1", "-1"),
        ["seed"] = ("-1", "-1"),
        ["batch_size"] = ("0", "0"),
        ["buffer_size"] = ("0", "0"),
        ["replay_precision"] = ("\"float8\"", "float8"),
        ["lr"] = ("0", "0"),
        ["optimizer"] = ("\"sgd\"", "sgd"),
        ["rms_prop_alpha"] = ("1", "1"),
        ["adam_beta1"] = ("1", "1"),
        ["adam_beta2"] = ("-0.5", "-0.5"),
        ["optimizer_eps"] = ("-1e-5", "-1E-05"),
        ["gamma"] = ("1.5", "1.5"),
        ["double_q"] = ("\"yes\"", "yes"),
        ["td_lambda"] = ("-0.1", "-0.1"),
        ["loss_scale"] = ("0", "0"),
        ["grad_norm_clip"] = ("-10", "-10"),
        ["learner_threads"] = ("-1", "-1"),
        ["target_update_interval"] = ("0", "0"),
        ["tau"] = ("2", "2"),
        ["epsilon_start"] = ("2", "2"),
        ["epsilon_finish"] = ("-1", "-1"),
        ["epsilon_anneal_steps"] = ("-1", "-1"),
        ["parallel_envs"] = ("0", "0"),
        ["test_interval"] = ("0", "0"),
        ["test_episodes"] = ("-1", "-1"),
        ["save_interval"] = ("-1", "-1"),
        ["on_checkpoint_failure"] = ("\"ignore\"", "ignore"),
        ["checkpoint_replay"] = ("\"some\"", "some"),
        ["checkpoint_directory"] = ("\" \"", "must not be empty"),
        ["agent_network"] = ("\"cnn\"", "cnn"),
        ["rnn_hidden"] = ("0", "0"),
        ["obs_last_action"] = ("1", "1"),
        ["obs_agent_id"] = ("\"no\"", "no"),
        ["share_agent_parameters"] = ("0", "0"),
        ["mixer_input"] = ("\"obs\"", "obs"),
        ["mixing_embed"] = ("0", "0"),
        ["hypernet_layers"] = ("3", "3"),
        ["hypernet_embed"] = ("0", "0"),
        ["non_negative_weights"] = ("\"relu\"", "relu"),
        ["weighted_alpha"] = ("0", "0"),
        ["central_mixing_embed"] = ("0", "0"),
        ["qmix_loss_weight"] = ("-1", "-1"),
        ["central_loss_weight"] = ("-1", "-1"),
        ["q_value_bound"] = ("0", "0"),
    };

    /// <summary>What every message says about the allowed values, in one of these words.</summary>
    static readonly string[] Ranges = ["must be", "must not be", "takes "];

    static IEnumerable<string> Keys()
    {
        using var doc = JsonDocument.Parse(new TrainingOptions().ToJson());
        return doc.RootElement.EnumerateObject().Select(p => p.Name).ToList();
    }

    [Fact]
    public void Every_option_has_a_bad_value_here()
    {
        // an option added later fails this until it gets one
        Assert.Equal(Keys().Order(StringComparer.Ordinal), Bad.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Every_option_out_of_range_is_refused_naming_it_its_value_and_the_range()
    {
        foreach (var key in Keys())
        {
            var (json, shown) = Bad[key];
            // negative control: the option's own default goes through
            using (var doc = JsonDocument.Parse(new TrainingOptions().ToJson()))
                new TrainingOptions().WithJson($"{{\"{key}\": {doc.RootElement.GetProperty(key).GetRawText()}}}");
            var e = Assert.ThrowsAny<ArgumentException>(() => new TrainingOptions().WithJson($"{{\"{key}\": {json}}}"));
            // a value out of range: "gamma: Gamma must be in [0, 1], got 1.5"; of the wrong kind: "'optimizer' takes one of ..."
            Assert.True(e.Message.StartsWith(key + ": ", StringComparison.Ordinal) || e.Message.StartsWith($"'{key}' takes ", StringComparison.Ordinal),
                $"{key}: the message does not start with the option: {e.Message}");
            Assert.Contains(shown, e.Message);
            Assert.True(Ranges.Any(r => e.Message.Contains(r, StringComparison.Ordinal)), $"{key}: no allowed range in \"{e.Message}\"");
        }
    }

    [Fact]
    public void Qmix_train_refuses_every_option_out_of_range_by_name_before_writing_anything()
    {
        using var tmp = new TempDir();
        var dir = Path.Combine(tmp.Path, "run");
        foreach (var key in Keys())
        {
            var (json, shown) = Bad[key];
            var value = json.StartsWith('"') ? json[1..^1] : json;
            var (code, _, error) = CliTests.Qmix("train", "--env", "two-step", "--steps", "10", "--set", $"{key}={value}", "-o", dir);
            Assert.True(code == 2, $"{key}={value}: exit code {code}, {error}");
            Assert.Contains(key, error);
            Assert.Contains(shown, error);
            Assert.DoesNotContain("Parameter '", error);
            Assert.False(Directory.Exists(dir), $"{key}={value} left a run directory");
        }
        // the command's own options too
        foreach (var (flag, value, says) in new[]
                 {
                     ("--buffer-size", "0", "--buffer-size must be at least 1, got 0"),
                     ("--save-interval", "-1", "--save-interval must be at least 0, got -1"),
                     ("--parallel", "0", "--parallel 0: at least 1"),
                     ("--steps", "-1", "--steps -1: at least 0"),
                 })
        {
            string[] steps = flag == "--steps" ? [] : ["--steps", "10"];
            var (code, _, error) = CliTests.Qmix(["train", "--env", "two-step", .. steps, flag, value, "-o", dir]);
            Assert.Equal(2, code);
            Assert.Contains(says, error);
        }
    }
}
