using System.Xml.Linq;
using Qmix.Cli;
using Xunit;

namespace Qmix.Tests;

/// <summary>One short two-step run trained by `qmix train`, shared by the tests that read it.</summary>
public sealed class TrainedRun : IDisposable
{
    readonly TempDir tmp = new();

    public TrainedRun()
    {
        Directory = Path.Combine(tmp.Path, "run");
        (ExitCode, Output, Error) = CliTests.Qmix("train", "--env", "two-step", "--steps", "2000", "--out", Directory);
    }

    public string Directory { get; }
    public int ExitCode { get; }
    public string Output { get; }
    public string Error { get; }
    public string Temp => tmp.Path;

    public void Dispose() => tmp.Dispose();
}

/// <summary>The `qmix` command, run in-process through Cli.Run as a user would type it.</summary>
public class CliTests(TrainedRun run) : IClassFixture<TrainedRun>
{
    internal static (int Code, string Out, string Err) Qmix(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = Cli.Cli.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void Train_writes_a_run_directory_and_says_where_it_and_its_plot_are()
    {
        Assert.True(run.ExitCode == 0, run.Output + run.Error);
        foreach (var f in new[] { "config.json", "metrics.jsonl", "metrics.csv", "curves.svg", "summary.json", "checkpoints/model.safetensors" })
            Assert.True(File.Exists(Path.Combine(run.Directory, f)), f);
        Assert.Contains($"run directory: {run.Directory}", run.Output);
        Assert.Contains(Path.Combine(run.Directory, "curves.svg"), run.Output);
        Assert.Contains("step", run.Output);
        // the learner's diagnostics on each line; a healthy run has no warning
        Assert.Matches(@"Q -?\d", run.Output);
        Assert.Contains("TD|err|", run.Output);
        Assert.DoesNotContain("warning", run.Output);
        // two-step's episodes end on the step count: the summary does not claim to have run past it
        Assert.Contains("done: 2,000 steps, ", run.Output);
        Assert.DoesNotContain("finished past", run.Output);
        var loaded = RunDirectory.Load(run.Directory);
        Assert.Equal(2000, loaded.Summary!.Steps);
        Assert.Equal(Algorithm.Qmix, loaded.Config.Options.Algorithm);
        XDocument.Parse(File.ReadAllText(Path.Combine(run.Directory, "curves.svg")));
    }

    [Fact]
    public void Eval_prints_the_greedy_return_of_a_run_and_of_its_checkpoint()
    {
        var (code, output, error) = Qmix("eval", run.Directory, "--episodes", "5");
        Assert.True(code == 0, output + error);
        Assert.Matches(@"return\s+mean \d", output);
        // 3 significant digits, not "mean 1.21933 sd 0.5821 min 0.466667"
        Assert.DoesNotMatch(@"\d\.\d{4,}", output);
        Assert.Contains("episode length", output);

        var model = Path.Combine(run.Directory, "checkpoints", "model.safetensors");
        (code, output, error) = Qmix("eval", model, "--episodes", "2", "--render", "text");
        Assert.True(code == 0, output + error);
        Assert.Contains("t = 2", output);

        var frames = Path.Combine(run.Temp, "episode.svg");
        (code, output, error) = Qmix("eval", run.Directory, "--episodes", "1", "--render", "svg", "--frames", frames);
        Assert.True(code == 0, output + error);
        var sheet = XDocument.Load(frames);
        Assert.Equal(3, sheet.Descendants().Count(e => (string?)e.Attribute("class") == "frame"));
        // the matrix games have no graphical renderer: their frames are text (the control of the combat test below)
        Assert.DoesNotContain(sheet.Descendants(), e => e.Name.LocalName == "circle");
        Assert.Contains("3 text frames", output);
    }

    [Fact]
    public void Eval_draws_combat_as_graphical_frames_titled_with_the_step_and_the_outcome_at_the_end()
    {
        using var tmp = new TempDir();
        var dir = Path.Combine(tmp.Path, "3m");
        var (code, output, error) = Qmix("train", "--env", "combat:3m", "--steps", "200", "--out", dir);
        Assert.True(code == 0, output + error);
        var file = Path.Combine(tmp.Path, "3m.svg");
        (code, output, error) = Qmix("eval", dir, "--episodes", "1", "--render", "svg", "--frames", file);
        Assert.True(code == 0, output + error);
        var cells = XDocument.Load(file).Root!.Elements().Where(e => (string?)e.Attribute("class") == "frame").ToList();
        Assert.Contains($"{cells.Count} graphical frames", output);
        Assert.True(cells.Count >= 2);
        // each frame draws the six units as circles, not text
        Assert.All(cells, c => Assert.Equal(6, c.Descendants().Count(e => e.Name.LocalName == "circle")));
        // titles: t, reward and actions; the outcome on the last frame only
        var titles = cells.Select(c => string.Join("\n", c.Elements().Where(e => e.Name.LocalName == "text").Select(e => e.Value))).ToList();
        Assert.Equal("t = 0", titles[0]);
        Assert.Matches(@"^t = 1: reward -?\d.*\nactions \(\d+, \d+, \d+\)$", titles[1]);
        Assert.Matches(@", (won|lost)\n", titles[^1]);
        Assert.All(titles.SkipLast(1), t => Assert.DoesNotMatch("won|lost", t));

        // the text frames of the same episode name the outcome once, at the end
        (code, output, error) = Qmix("eval", dir, "--episodes", "1", "--render", "text");
        Assert.True(code == 0, output + error);
        Assert.Equal(1, System.Text.RegularExpressions.Regex.Count(output, ", (won|lost)"));
        Assert.Contains($"t = {cells.Count - 1}: actions", output);
    }

    [Fact]
    public void Plot_writes_an_SVG_of_the_runs()
    {
        var file = Path.Combine(run.Temp, "plot.svg");
        var (code, output, error) = Qmix("plot", run.Directory, "--out", file);
        Assert.True(code == 0, output + error);
        var svg = XDocument.Load(file);
        Assert.Contains(svg.Descendants(), e => e.Name.LocalName == "polyline" && (string?)e.Attribute("data-series") == "qmix on two-step");
        Assert.Contains("plot: " + file, output);

        // the learner's diagnostics are curves too
        var q = Path.Combine(run.Temp, "q.svg");
        (code, output, error) = Qmix("plot", run.Directory, "--out", q, "--metric", "q-taken-mean");
        Assert.True(code == 0, output + error);
        Assert.Contains(XDocument.Load(q).Descendants(), e => e.Name.LocalName == "text" && e.Value == "q taken mean");
    }

    [Fact]
    public void Several_seeds_train_in_their_own_directories_and_are_plotted_together()
    {
        using var tmp = new TempDir();
        var (code, output, error) = Qmix("train", "--steps", "600", "--seeds", "1..2", "--out", tmp.Path);
        Assert.True(code == 0, output + error);
        Assert.True(RunDirectory.IsRunDirectory(Path.Combine(tmp.Path, "seed-1")));
        Assert.Equal(2UL, RunDirectory.Load(Path.Combine(tmp.Path, "seed-2")).Config.Seed);
        var svg = XDocument.Load(Path.Combine(tmp.Path, "curves.svg"));
        Assert.Contains(svg.Descendants(), e => (string?)e.Attribute("class") == "band");

        // plot takes the folder of seeds too
        var file = Path.Combine(tmp.Path, "again.svg");
        (code, output, error) = Qmix("plot", tmp.Path, "--out", file);
        Assert.True(code == 0, output + error);
        Assert.Contains("qmix on two-step (2 seeds)", File.ReadAllText(file));
    }

    [Fact]
    public void Verify_passes_qmix_and_fails_the_negative_control_with_a_counterexample()
    {
        var (code, output, _) = Qmix("verify", "--mixer", "qmix", "--trials", "20");
        Assert.Equal(0, code);
        Assert.Contains("PASS", output);
        Assert.DoesNotContain("FAIL", output);

        (code, output, _) = Qmix("verify", "--mixer", "qmix-no-abs", "--trials", "20");
        Assert.Equal(1, code);
        Assert.Contains("FAIL", output);
        Assert.Contains("counterexample", output);
    }

    [Fact]
    public void Envs_lists_the_catalogue_with_sizes()
    {
        var (code, output, _) = Qmix("envs");
        Assert.Equal(0, code);
        Assert.Matches(@"combat:3m\s+3\s+\d+\s+\d+\s+\d+\s+60\s", output);
        Assert.Contains("two-step", output);
    }

    [Fact]
    public void Usage_errors_exit_with_code_2_and_name_the_culprit()
    {
        var (code, _, error) = Qmix("train", "--env", "combat:99z", "--steps", "10");
        Assert.Equal(2, code);
        Assert.Contains("combat:99z", error);

        (code, _, error) = Qmix("train", "--algo", "qmax");
        Assert.Equal(2, code);
        Assert.Contains("qmax", error);

        (code, _, error) = Qmix("eval", Path.Combine(run.Temp, "nowhere"));
        Assert.Equal(2, code);
        Assert.Contains("nowhere", error);

        (code, _, error) = Qmix("frobnicate");
        Assert.Equal(2, code);

        (code, _, error) = Qmix("train", "--env", "combat:3m,walls=soft", "--steps", "10");
        Assert.Equal(2, code);
        Assert.Contains("'walls=soft'", error);

        (code, _, error) = Qmix("train", "--preset", "pymarl3", "--steps", "10");
        Assert.Equal(2, code);
        Assert.Contains("pymarl3", error);

        (code, _, error) = Qmix("train", "--out", run.Directory, "--steps", "10");
        Assert.Equal(2, code);
        Assert.Contains("already holds a run", error);
    }

    [Fact]
    public void Train_takes_a_preset_and_a_combat_map_under_SMAX_rules_and_records_both()
    {
        using var tmp = new TempDir();
        var dir = Path.Combine(tmp.Path, "smax");
        var (code, output, error) = Qmix("train", "--env", "combat:3m,smax", "--preset", "pymarl", "--steps", "200",
            "--out", dir);
        Assert.True(code == 0, output + error);
        Assert.Contains("preset pymarl", output);
        var config = File.ReadAllText(Path.Combine(dir, "config.json"));
        Assert.Contains("combat:3m,reward=smax,state=raw,walls=lethal", config);
        Assert.Contains("\"optimizer\": \"rms-prop\"", config);
        // the default off the matrix games is pymarl2's
        dir = Path.Combine(tmp.Path, "default");
        (code, output, error) = Qmix("train", "--env", "combat:3m", "--steps", "200", "--out", dir);
        Assert.True(code == 0, output + error);
        Assert.Contains("preset pymarl2", output);
        Assert.Contains("\"optimizer\": \"adam\"", File.ReadAllText(Path.Combine(dir, "config.json")));
    }

    [Fact]
    public void A_config_file_sets_options_and_flags_override_it()
    {
        using var tmp = new TempDir();
        var config = Path.Combine(tmp.Path, "options.json");
        File.WriteAllText(config, """{"algorithm": "vdn", "total_steps": 300, "batch_size": 8, "test_interval": 100}""");
        var dir = Path.Combine(tmp.Path, "run");
        var (code, output, error) = Qmix("train", "--config", config, "--seed", "4", "--out", dir);
        Assert.True(code == 0, output + error);
        var loaded = RunDirectory.Load(dir);
        Assert.Equal(Algorithm.Vdn, loaded.Config.Options.Algorithm);
        Assert.Equal(8, loaded.Config.Options.BatchSize);
        Assert.Equal(4UL, loaded.Config.Seed);
        Assert.Equal(300, loaded.Summary!.Steps);

        // a run's config.json repeats it
        var again = Path.Combine(tmp.Path, "again");
        (code, output, error) = Qmix("train", "--config", Path.Combine(dir, "config.json"), "--out", again);
        Assert.True(code == 0, output + error);
        Assert.Equal(loaded.Config.Options, RunDirectory.Load(again).Config.Options);
        Assert.Equal(loaded.Summary.FinalTestReturn, RunDirectory.Load(again).Summary!.FinalTestReturn);

        File.WriteAllText(config, """{"lerning_rate": 0.1}""");
        (code, _, error) = Qmix("train", "--config", config, "--out", Path.Combine(tmp.Path, "bad"));
        Assert.Equal(2, code);
        Assert.Contains("lerning_rate", error);
    }

    [Fact]
    public void Train_prints_a_warning_naming_the_quantity_when_Q_values_leave_their_range()
    {
        using var tmp = new TempDir();
        var config = Path.Combine(tmp.Path, "options.json");
        // the two-step game's Q-values approach 7 or 8: above a bound of 1
        File.WriteAllText(config, """{"total_steps": 400, "test_interval": 200, "q_value_bound": 1}""");
        var dir = Path.Combine(tmp.Path, "run");
        var (code, output, error) = Qmix("train", "--config", config, "--out", dir);
        Assert.True(code == 0, output + error);
        var lines = output.Split('\n').Where(l => l.TrimStart().StartsWith("warning:", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, lines.Count);
        Assert.Contains(lines, l => l.Contains("q_taken_mean", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("target_mean", StringComparison.Ordinal));
        Assert.All(lines, l => Assert.Contains("above the bound set in the configuration (1)", l));
        Assert.Equal(2, RunDirectory.Load(dir).Summary!.Warnings!.Count);
    }

    [Fact]
    public void Bench_times_an_update_an_acting_step_and_environment_steps()
    {
        var (code, output, error) = Qmix("bench", "--quick", "--env", "two-step");
        Assert.True(code == 0, output + error);
        Assert.Contains("learner update (3m-like)", output);
        Assert.Contains("acting step", output);
        Assert.Contains("environment step (two-step)", output);
        Assert.Throws<ArgumentOutOfRangeException>(() => Benchmarks.LearnerUpdate(iterations: 0));
    }

    [Fact]
    public void The_acting_benchmarks_time_the_fused_step_without_allocating()
    {
        var one = Benchmarks.ActingStep(iterations: 20);
        Assert.Equal("acting step (3 agents)", one.Name);
        Assert.Equal(0.0, one.AllocatedBytes);
        var batch = Benchmarks.ActingStepBatch(environments: 4, iterations: 20);
        Assert.Equal("acting step (3 agents × 4 envs, per env)", batch.Name);
        Assert.Equal(0.0, batch.AllocatedBytes);
        Assert.InRange(batch.MedianMilliseconds, 1e-6, 1.0);
        Assert.Throws<ArgumentOutOfRangeException>(() => Benchmarks.ActingStepBatch(environments: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Benchmarks.ActingStepBatch(iterations: 0));
    }

    [Fact]
    public void Info_lists_capabilities()
    {
        var (code, output, _) = Qmix("info");
        Assert.Equal(0, code);
        Assert.Contains("This build provides", output);
    }
}
