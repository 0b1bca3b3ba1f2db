using System.Text.Json;
using System.Text.RegularExpressions;
using Qmix.Cli;
using Xunit;

namespace Qmix.Tests;

/// <summary>What the `qmix` commands print: one number format across train, eval and plot (win rates as
/// percentages, other quantities at 3 significant digits), messages without .NET internals, the option flags in one
/// place with their values in the help, and the steps a run took past the steps asked for.</summary>
public class CliOutputTests
{
    static (int Code, string Out, string Err) Qmix(params string[] args) => CliTests.Qmix(args);

    [Fact]
    public void Win_rates_print_as_percentages_and_other_quantities_at_3_significant_digits()
    {
        Assert.Equal("40 %", Format.Percent(0.4));
        Assert.Equal("83.5 %", Format.Percent(0.835));
        Assert.Equal("3.1 %", Format.Percent(0.03125));
        Assert.Equal("0 %", Format.Percent(0));
        Assert.Equal("100 %", Format.Percent(1));
        Assert.Equal("–", Format.Percent(null));
        // eval's "mean 1.21933 sd 0.5821 min 0.466667" reads
        Assert.Equal("1.22", Format.Number(1.21933));
        Assert.Equal("0.582", Format.Number(0.5821));
        Assert.Equal("0.467", Format.Number(0.466667));
        Assert.Equal("60", Format.Number(60));
        Assert.Equal("19.4", Format.Number(19.375));
        Assert.Equal("-0.0523", Format.Number(-0.05234));
        Assert.Equal("12,300", Format.Number(12_345));
        Assert.Equal("1,000", Format.Number(999.6));
        Assert.Equal("1.23e-05", Format.Number(0.0000123));
        Assert.Equal("0", Format.Number(0));
        Assert.Equal("NaN", Format.Number(double.NaN));
        Assert.Equal("–", Format.Number(null));
        // the invariant culture whatever the thread's
        var culture = Thread.CurrentThread.CurrentCulture;
        try
        {
            Thread.CurrentThread.CurrentCulture = new System.Globalization.CultureInfo("de-DE");
            Assert.Equal("83.5 %", Format.Percent(0.835));
            Assert.Equal("12,300", Format.Number(12_345));
        }
        finally
        {
            Thread.CurrentThread.CurrentCulture = culture;
        }
    }

    /// <summary>The win rate each command prints: train's summary line ("test win rate X"), eval's ("win rate X")
    /// and plot's table row (the "final test win rate" column).</summary>
    static (string Train, string Eval, string Plot) WinRates(string train, string eval, string plot) => (
        Regex.Match(train, @"test win rate (\S+ ?%?)(?:\r?\n|$)", RegexOptions.Multiline).Groups[1].Value.Trim(),
        Regex.Match(eval, @"^\s*win rate\s+(.+?)\s*$", RegexOptions.Multiline).Groups[1].Value,
        Regex.Match(plot, @"^\s*qmix on \S+\s+\d+\s+[\d,]+\s+(.+?)\s+–\s*$", RegexOptions.Multiline).Groups[1].Value);

    /// <summary>The check: the three commands print one string for the run's win rate.</summary>
    static void CheckSameWinRate(string train, string eval, string plot, string expected)
    {
        var (t, e, p) = WinRates(train, eval, plot);
        Assert.Equal(expected, t);
        Assert.Equal(expected, e);
        Assert.Equal(expected, p);
    }

    [Fact]
    public void Train_eval_and_plot_print_a_run_s_win_rate_the_same_way()
    {
        using var tmp = new TempDir();
        var dir = Path.Combine(tmp.Path, "run");
        var (code, train, error) = Qmix("train", "--env", "combat:3m", "--steps", "1500", "--test-interval", "500",
            "--test-episodes", "8", "--epsilon-anneal", "1000", "-o", dir);
        Assert.True(code == 0, train + error);
        var summary = RunDirectory.Load(dir).Summary!;
        Assert.NotNull(summary.FinalTestWinRate);
        // eval plays as many greedy episodes as the run's test rounds; the untrained policy's outcome is the same
        (code, var eval, error) = Qmix("eval", dir, "--episodes", "8");
        Assert.True(code == 0, eval + error);
        (code, var plot, error) = Qmix("plot", dir, "--metric", "test-win-rate", "--out", Path.Combine(tmp.Path, "w.svg"));
        Assert.True(code == 0, plot + error);
        var expected = Format.Percent(summary.FinalTestWinRate);
        Assert.EndsWith(" %", expected);
        CheckSameWinRate(train, eval, plot, expected);
        // the other quantities at 3 significant digits: eval's return line has no long decimals
        Assert.Matches(@"return\s+mean -?[\d.]+  sd [\d.]+  min -?[\d.]+  max -?[\d.]+", eval);
        Assert.DoesNotMatch(@"\d\.\d{4,}", eval);
        Assert.DoesNotMatch(@"\d\.\d{4,}", plot);

        // the run ran past 1,500 steps (8 environments finish whole episodes): the summary says so
        Assert.True(summary.Steps > 1500, $"{summary.Steps} steps");
        Assert.Contains($"{summary.Steps:N0} steps (the last batch of episodes finished past 1,500)", train);
    }

    [Fact]
    public void Negative_control_the_win_rate_check_fails_on_the_formats_the_commands_used_to_print()
    {
        // train printed P0 ("40 %"), eval P1 ("40.0 %"), plot G4 ("0.4")
        const string train = "done: 2,088 steps, 112 episodes in 0.6 s; final test return 1.05, test win rate 40 %\n";
        const string eval = "  return        mean 1.21933  sd 0.5821  min 0.466667  max 4\n  win rate      40.0 %\n";
        const string plot = "  qmix on combat:3m       1       2,088                   0.4              –\n";
        Assert.Equal(("40 %", "40.0 %", "0.4"), WinRates(train, eval, plot));
        Assert.ThrowsAny<Exception>(() => CheckSameWinRate(train, eval, plot, "40 %"));
        // and it passes when all three agree
        CheckSameWinRate(train, eval.Replace("40.0 %", "40 %"), plot.Replace("0.4 ", "40 %"), "40 %");
    }

    [Fact]
    public void A_run_that_stops_at_its_step_count_does_not_claim_to_have_run_past_it()
    {
        var exact = new RunSummary
        {
            Environment = "two-step", Algorithm = Algorithm.Qmix, Seed = 1, Completed = true, Steps = 2000, TotalSteps = 2000,
            Episodes = 1000, Updates = 10, Seconds = 1, Evaluations = 0,
        };
        Assert.Equal("2,000 steps", TrainCommand.StepsTaken(exact));
        Assert.Equal("50,013 steps (the last batch of episodes finished past 50,000)",
            TrainCommand.StepsTaken(exact with { Steps = 50_013, TotalSteps = 50_000 }));
    }

    /// <summary>The check on a message: no .NET type names, no ArgumentException parameter suffix.</summary>
    static void CheckPlain(string text)
    {
        Assert.DoesNotContain("System.", text);
        Assert.DoesNotContain("(Parameter '", text);
        Assert.DoesNotContain("Actual value was", text);
        Assert.DoesNotContain("LineNumber", text);
    }

    [Fact]
    public void Bad_input_gives_messages_without_dotnet_internals_naming_the_option()
    {
        using var tmp = new TempDir();
        var dir = Path.Combine(tmp.Path, "run");
        var wrongType = Path.Combine(tmp.Path, "wrong-type.json");
        File.WriteAllText(wrongType, """{"lr": "fast"}""");
        (string[] Args, string Names)[] cases =
        [
            (["train", "--env", "nope"], "'nope'"),
            (["train", "--env", "combat:9z"], "'combat:9z'"),
            (["train", "--steps", "-5"], "--steps -5"),
            (["train", "--steps", "abc"], "--steps abc: expected a whole number"),
            (["train", "--seed", "-1"], "--seed -1: expected a whole number, 0 or more"),
            (["train", "--lr", "fast"], "--lr fast: expected a number"),
            (["train", "--batch-size", "1.5"], "--batch-size 1.5: expected a whole number"),
            (["train", "--buffer", "0"], "--buffer-size must be at least 1, got 0"),
            (["train", "--save-interval", "-1"], "--save-interval must be at least 0, got -1"),
            (["train", "--parallel-envs", "0"], "--parallel-envs must be at least 1, got 0"),
            (["train", "--set", "lr=abc"], "--set lr takes a number, not \"abc\""),
            (["train", "--set", "batch_size=1.5"], "--set batch_size takes a whole number, not 1.5"),
            (["train", "--set", "optimizer=sgd"], "--set optimizer takes one of"),
            (["train", "--set", "double_q=3"], "--set double_q takes true or false"),
            (["train", "--set", "td_lambda=2"], "--set td_lambda must be in [0, 1], got 2"),
            (["train", "--config", wrongType], $"--config {wrongType}: 'lr' takes a number, not \"fast\""),
            (["eval", Path.Combine(tmp.Path, "nonexistent")], "nonexistent: no such run directory or model file"),
            (["eval", dir, "--episodes", "x"], "--episodes x: expected a whole number"),
            (["plot", Path.Combine(tmp.Path, "nonexistent")], "nonexistent: no such directory"),
        ];
        foreach (var (args, names) in cases)
        {
            // a training run that started would write to dir
            string[] full = args[0] == "train" ? [.. args, "-o", dir] : args;
            var (code, output, error) = Qmix(full);
            Assert.True(code == 2, $"{string.Join(' ', args)}: exit {code}\n{output}{error}");
            Assert.Contains(names, error);
            CheckPlain(output + error);
        }
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public void Negative_control_the_message_check_fails_on_the_messages_the_CLI_used_to_print()
    {
        foreach (var old in new[]
                 {
                     "qmix: Cannot parse argument 'abc' for option '--steps' as expected type 'System.Nullable`1[System.Int32]'.",
                     "qmix: TotalSteps must be at least 0, got -5 (Parameter 'TotalSteps')\nActual value was -5.",
                     "qmix: the training flags: the options do not fit: The JSON value could not be converted to System.Double. Path: $.lr | LineNumber: 6 | BytePositionInLine: 13.",
                     "qmix: unknown environment 'combat:9z': no environment is registered as 'combat:9z' (Parameter 'name')",
                 })
            Assert.ThrowsAny<Exception>(() => CheckPlain(old));
        // and the parser's own message is rewritten by the CLI
        Assert.Equal("--steps abc: expected a whole number",
            Cli.Cli.Plain("Cannot parse argument 'abc' for option '--steps' as expected type 'System.Nullable`1[System.Int32]'."));
    }

    [Fact]
    public void Every_training_option_flag_is_in_one_place_and_the_help_lists_the_values()
    {
        var names = TrainingFlags.Create().Options.SelectMany(o => o.Aliases.Prepend(o.Name)).ToHashSet();
        foreach (var flag in new[] { "--lr", "--batch-size", "--buffer-size", "--buffer", "--save-interval", "--epsilon-anneal", "--test-interval", "--test-episodes", "--td-lambda", "--optimizer", "--set" })
            Assert.Contains(flag, names);

        var (code, help, error) = Qmix("train", "--help");
        Assert.True(code == 0, help + error);
        foreach (var algo in Names.Algorithms) Assert.Contains(algo, help);
        foreach (var env in new[] { "two-step", "matrix:climbing", "checkers", "switch2", "lbf:8x8-2p-2f-coop", "combat:3m", "combat:27m_vs_30m" })
            Assert.Contains(env, help);
        Assert.Contains("--save-interval", help);
        Assert.Contains("--buffer-size", help);
        // --steps says that a run can end a few steps past it
        Assert.Matches(@"--steps <N>[\s\S]*?past N", help);
    }
}
