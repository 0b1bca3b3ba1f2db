using System.Text.Json;
using Xunit;

namespace Qmix.Tests;

/// <summary>`qmix train`'s option flags: each reaches the run's options, `--set` reaches any option, and what does
/// not fit is refused by name.</summary>
public class TrainingFlagsTests
{
    static (int Code, string Out, string Err) Qmix(params string[] args) => CliTests.Qmix(args);

    static JsonElement Options(string dir) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "config.json"))).RootElement.GetProperty("options");

    [Fact]
    public void Named_flags_and_set_reach_the_run_options()
    {
        using var tmp = new TempDir();
        var dir = Path.Combine(tmp.Path, "run");
        var (code, output, error) = Qmix("train", "-e", "two-step", "-a", "vdn", "--lr", "0.01", "--batch-size", "8", "--buffer-size", "40",
            "--epsilon-anneal", "150", "--td-lambda", "0.5", "--optimizer", "adam", "--target-update", "50", "--test-episodes", "2",
            "--set", "obs_agent_id=false", "--set", "grad_norm_clip=5", "--steps", "300", "-o", dir);
        Assert.True(code == 0, output + error);
        var o = Options(dir);
        Assert.Equal("vdn", o.GetProperty("algorithm").GetString());
        Assert.Equal(0.01, o.GetProperty("lr").GetDouble(), 6);
        Assert.Equal(8, o.GetProperty("batch_size").GetInt32());
        Assert.Equal(40, o.GetProperty("buffer_size").GetInt32());
        Assert.Equal(150, o.GetProperty("epsilon_anneal_steps").GetInt32());
        Assert.Equal(0.5, o.GetProperty("td_lambda").GetDouble(), 6);
        Assert.Equal("adam", o.GetProperty("optimizer").GetString());
        Assert.Equal(50, o.GetProperty("target_update_interval").GetInt32());
        Assert.Equal(2, o.GetProperty("test_episodes").GetInt32());
        Assert.False(o.GetProperty("obs_agent_id").GetBoolean());
        Assert.Equal(5, o.GetProperty("grad_norm_clip").GetDouble(), 6);
        // the preset's values where no flag was given (paper-matrix-games on two-step: rmsprop, one-step targets)
        using var tmp2 = new TempDir();
        var plain = Path.Combine(tmp2.Path, "run");
        (code, output, error) = Qmix("train", "--steps", "300", "-o", plain);
        Assert.True(code == 0, output + error);
        Assert.Equal("rms-prop", Options(plain).GetProperty("optimizer").GetString());
        Assert.Equal(JsonValueKind.Null, Options(plain).GetProperty("td_lambda").ValueKind);
        Assert.Equal("state", Options(plain).GetProperty("mixer_input").GetString());
        // --hypernet-input is the name of --mixer-input: both reach mixer_input
        foreach (var flag in new[] { "--mixer-input", "--hypernet-input" })
        {
            using var tmp3 = new TempDir();
            var alias = Path.Combine(tmp3.Path, "run");
            (code, output, error) = Qmix("train", flag, "all-observations", "--steps", "100", "-o", alias);
            Assert.True(code == 0, output + error);
            Assert.Equal("all-observations", Options(alias).GetProperty("mixer_input").GetString());
        }
    }

    [Fact]
    public void Flags_that_do_not_fit_are_refused_by_name()
    {
        using var tmp = new TempDir();
        var dir = Path.Combine(tmp.Path, "run");
        var (code, _, error) = Qmix("train", "--set", "lerning_rate=0.1", "--steps", "10", "-o", dir);
        Assert.Equal(2, code);
        Assert.Contains("'lerning_rate' is not a training option", error);
        (code, _, error) = Qmix("train", "--set", "lr", "--steps", "10", "-o", dir);
        Assert.Equal(2, code);
        Assert.Contains("KEY=VALUE", error);
        (code, _, error) = Qmix("train", "--lr", "-1", "--steps", "10", "-o", dir);
        Assert.Equal(2, code);
        Assert.Contains("-1", error);
        Assert.DoesNotContain("Parameter '", error);
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public void A_run_shorter_than_the_epsilon_annealing_is_warned_about()
    {
        using var tmp = new TempDir();
        string[] Args(string dir, string anneal) =>
            ["train", "--set", "epsilon_finish=0.05", "--epsilon-anneal", anneal, "--steps", "200", "-o", Path.Combine(tmp.Path, dir)];
        var (code, output, error) = Qmix(Args("long", "1000"));
        Assert.True(code == 0, output + error);
        Assert.Contains("ε anneals over 1,000 steps, longer than the run's 200: it ends at ε 0.81", output);
        (code, output, error) = Qmix(Args("short", "100"));
        Assert.True(code == 0, output + error);
        Assert.DoesNotContain("ε anneals over", output);
    }
}
