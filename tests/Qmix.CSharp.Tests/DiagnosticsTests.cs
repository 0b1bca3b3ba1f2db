using System.Globalization;
using System.Text.Json;
using System.Xml.Linq;
using Xunit;

namespace Qmix.Tests;

/// <summary>A skirmish written in C# whose outcome does not depend on the actions: every episode lasts 3 steps and pays
/// 1 a step; after step t, t enemies and t / 3 allies are dead, so an episode ends with 1 dead ally and 3 dead
/// enemies, and is won.</summary>
sealed class Skirmish : IMultiAgentEnvironment
{
    int step;

    /// <summary>Whether a step reports only the allies (a broken contract).</summary>
    public bool HalfReport { get; init; }

    public EnvironmentSpec Spec { get; } = new("skirmish", agents: 2, actions: 2, observationSize: 2, stateSize: 2, episodeLimit: 5);

    public void Reset(ulong seed) => step = 0;

    public StepResult Step(int[] actions)
    {
        step++;
        var last = step == 3;
        return new StepResult(1f, Terminated: last, Won: last ? true : null, DeadAllies: step / 3, DeadEnemies: HalfReport ? null : step);
    }

    float[] Own => [step / 3f, 1];

    public float[] Observations => [.. Own, .. Own];

    public float[] State => Own;

    public bool[] AvailableActions => [true, true, true, true];
}

/// <summary>Learner diagnostics through the facade: the new metrics in progress reports, evaluations, the metrics
/// files and the curves; warnings when the Q-values leave their plausible range, and none on a healthy run.</summary>
public class DiagnosticsTests
{
    static readonly TrainingOptions shortRun = Settings.Short with { TotalSteps = 300, TestInterval = 100 };

    static IEnumerable<JsonElement> Lines(string dir) =>
        File.ReadAllLines(Path.Combine(dir, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement);

    static double? Number(JsonElement record, string key) =>
        record.GetProperty(key).ValueKind == JsonValueKind.Null ? null : record.GetProperty(key).GetDouble();

    [Fact]
    public void Progress_and_the_metrics_files_carry_the_learner_diagnostics_and_episode_lengths()
    {
        using var tmp = new TempDir();
        var reports = new List<TrainingProgress>();
        using (var run = RunRecorder.Create(tmp.Path, Environments.TwoStep(), shortRun))
        {
            run.Trainer.ProgressInterval = TimeSpan.Zero;
            run.Train(new SyncProgress(reports.Add));
        }

        // the progress reports: the last update's diagnostics, the episodes' lengths (the two-step game: always 2)
        var last = reports[^1];
        Assert.NotNull(last.QTakenMean);
        Assert.NotNull(last.TargetMean);
        Assert.True(last.MeanAbsoluteTDError >= 0);
        Assert.True(last.GradientNorm >= 0);
        Assert.Equal(2.0, last.TrainEpisodeLength);
        Assert.Equal(2.0, last.TestEpisodeLength);
        Assert.Null(last.TrainDeadAllies);
        Assert.Null(last.TestDeadEnemies);
        Assert.Empty(last.Warnings);
        Assert.Contains(reports, p => p.QTakenMean is null); // before the first update

        // metrics.jsonl holds each report's numbers under PyMARL's names (float32 values at float32's 7 significant digits)
        var progress = Lines(tmp.Path).Where(r => r.GetProperty("kind").GetString() == "progress").ToList();
        Assert.Equal(reports.Count, progress.Count);
        for (var i = 0; i < reports.Count; i++)
        {
            static double? F32(double? v) => v is { } x ? double.Parse(((float)x).ToString("G7", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) : null;
            Assert.Equal(F32(reports[i].QTakenMean), Number(progress[i], "q_taken_mean"));
            Assert.Equal(F32(reports[i].TargetMean), Number(progress[i], "target_mean"));
            Assert.Equal(F32(reports[i].MeanAbsoluteTDError), Number(progress[i], "td_error_abs"));
            Assert.Equal(F32(reports[i].GradientNorm), Number(progress[i], "grad_norm"));
            Assert.Equal(2.0, Number(progress[i], "train_episode_length"));
            Assert.Null(Number(progress[i], "train_dead_allies"));
            Assert.True(progress[i].GetProperty("warning").ValueKind == JsonValueKind.Null);
        }
        var evaluations = Lines(tmp.Path).Where(r => r.GetProperty("kind").GetString() == "evaluation").ToList();
        Assert.NotEmpty(evaluations);
        Assert.All(evaluations, e => Assert.Equal(2.0, Number(e, "test_episode_length")));

        // metrics.csv: the same numbers in the named columns
        var csv = File.ReadAllLines(Path.Combine(tmp.Path, "metrics.csv"));
        var columns = csv[0].Split(',').ToList();
        foreach (var c in new[] { "q_taken_mean", "target_mean", "td_error_abs", "grad_norm", "train_episode_length", "test_episode_length",
                     "train_dead_allies", "train_dead_enemies", "test_dead_allies", "test_dead_enemies", "warning" })
            Assert.Contains(c, columns);
        var lastRow = csv[^1].Split(',');
        Assert.Equal("progress", lastRow[0]);
        Assert.Equal(((float)last.QTakenMean!.Value).ToString("G7", CultureInfo.InvariantCulture), lastRow[columns.IndexOf("q_taken_mean")]);
        Assert.Equal(((float)last.GradientNorm!.Value).ToString("G7", CultureInfo.InvariantCulture), lastRow[columns.IndexOf("grad_norm")]);
        Assert.Equal("2", lastRow[columns.IndexOf("test_episode_length")]);
        Assert.Equal("", lastRow[columns.IndexOf("test_dead_allies")]);

        // curves.svg: a diagnostics panel (Q taken and target beside the largest return, TD error and gradient norm),
        // and the episode lengths; no dead-units panel for a game without armies
        var svg = XDocument.Parse(File.ReadAllText(Path.Combine(tmp.Path, "curves.svg")));
        var series = svg.Descendants().Select(e => (string?)e.Attribute("data-series")).Where(s => s is not null).ToList();
        foreach (var s in new[] { "Q taken", "target", "TD |error|", "grad norm", "test episodes", "largest |return| recorded" })
            Assert.Contains(s, series);
        Assert.DoesNotContain(series, s => s!.Contains("dead", StringComparison.Ordinal));
        var reference = svg.Descendants().Single(e => (string?)e.Attribute("class") == "reference");
        Assert.Equal("6 4", (string?)reference.Attribute("stroke-dasharray"));

        var loaded = RunDirectory.Load(tmp.Path);
        // one point per step (the final report repeats the last step)
        Assert.Equal(progress.Where(p => Number(p, "q_taken_mean") is not null).Select(p => p.GetProperty("step").GetInt32()).Distinct().Count(),
            loaded.Curve(RunMetric.QTakenMean).Count);
        Assert.Equal(evaluations.Count, loaded.Curve(RunMetric.TestEpisodeLength).Count);
        Assert.Empty(loaded.Curve(RunMetric.TestDeadAllies));
        Assert.Null(loaded.Summary!.Warnings);
    }

    [Fact]
    public void A_CSharp_environment_with_two_armies_reports_its_dead_units_in_every_record()
    {
        using var tmp = new TempDir();
        var options = shortRun with { TotalSteps = 150, TestInterval = 60, TestEpisodes = 3 };
        var reports = new List<TrainingProgress>();
        using (var run = RunRecorder.Create(tmp.Path, new Skirmish(), options))
        {
            run.Trainer.ProgressInterval = TimeSpan.Zero;
            var evaluated = new List<TrainingEvaluation>();
            run.Trainer.Evaluated += (_, e) => evaluated.Add(e);
            run.Train(new SyncProgress(reports.Add));
            Assert.NotEmpty(evaluated);
            Assert.All(evaluated, e => Assert.Equal((3.0, 1.0, 3.0), (e.MeanEpisodeLength, e.DeadAllies, e.DeadEnemies)));
        }
        // every episode ends after 3 steps with 1 dead ally and 3 dead enemies
        var last = reports[^1];
        Assert.Equal((3.0, 1.0, 3.0), (last.TrainEpisodeLength, last.TrainDeadAllies, last.TrainDeadEnemies));
        Assert.Equal((3.0, 1.0, 3.0), (last.TestEpisodeLength, last.TestDeadAllies, last.TestDeadEnemies));

        foreach (var r in Lines(tmp.Path))
        {
            var (length, allies, enemies) = r.GetProperty("kind").GetString() == "evaluation"
                ? ("test_episode_length", "test_dead_allies", "test_dead_enemies")
                : ("train_episode_length", "train_dead_allies", "train_dead_enemies");
            Assert.Equal((3.0, 1.0, 3.0), (Number(r, length), Number(r, allies), Number(r, enemies)));
        }
        var csv = File.ReadAllLines(Path.Combine(tmp.Path, "metrics.csv"));
        var columns = csv[0].Split(',').ToList();
        var row = csv[^1].Split(',');
        Assert.Equal(["1", "3", "1", "3"], new[] { "train_dead_allies", "train_dead_enemies", "test_dead_allies", "test_dead_enemies" }
            .Select(c => row[columns.IndexOf(c)]));

        // the curves have a dead-units panel
        var svg = XDocument.Parse(File.ReadAllText(Path.Combine(tmp.Path, "curves.svg")));
        var series = svg.Descendants().Select(e => (string?)e.Attribute("data-series")).ToList();
        Assert.Contains("test dead allies", series);
        Assert.Contains("test dead enemies", series);
        Assert.Equal(3.0, RunDirectory.Load(tmp.Path).Curve(RunMetric.TestDeadEnemies)[^1].Y);

        // a hand-stepped built-in handle passes the casualties on too
        var env = Environments.Custom(new Skirmish());
        env.Reset(1);
        var first = env.Step([0, 0]);
        env.Step([1, 1]);
        var third = env.Step([0, 1]);
        Assert.Equal((0, 1), (first.DeadAllies, first.DeadEnemies));
        Assert.Equal((1, 3), (third.DeadAllies, third.DeadEnemies));
    }

    [Fact]
    public void A_step_that_reports_only_half_of_its_casualties_breaks_the_contract()
    {
        using var trainer = new Trainer(new Skirmish { HalfReport = true }, shortRun with { TotalSteps = 30 });
        var e = Assert.Throws<InvalidOperationException>(() => trainer.Train());
        Assert.Contains("DeadEnemies", e.Message);
    }

    [Fact]
    public void Q_values_beyond_a_configured_bound_are_warned_about_once_each_and_recorded()
    {
        // the two-step game's Q-values approach its returns (7 or 8): a bound of 1 is soon exceeded
        using var tmp = new TempDir();
        var warned = new List<TrainingWarning>();
        RunSummary summary;
        using (var run = RunRecorder.Create(tmp.Path, Environments.TwoStep(), shortRun with { QValueBound = 1 }))
        {
            run.Trainer.Warned += (_, w) => warned.Add(w);
            summary = run.Train();
            Assert.Equal(warned, run.Warnings);
        }
        Assert.Equal(["q_taken_mean", "target_mean"], warned.Select(w => w.Quantity).Order());
        Assert.All(warned, w =>
        {
            Assert.Equal(1.0, w.Bound);
            Assert.True(Math.Abs(w.Value) > 1, w.Message);
            Assert.Contains(w.Quantity, w.Message);
            Assert.Contains("the bound set in the configuration (1)", w.Message);
        });

        // metrics.jsonl: one warning record each, with the message and the value in the quantity's column
        var records = Lines(tmp.Path).Where(r => r.GetProperty("kind").GetString() == "warning").ToList();
        Assert.Equal(warned.Count, records.Count);
        foreach (var (w, r) in warned.Zip(records))
        {
            Assert.Equal(w.Message, r.GetProperty("warning").GetString());
            Assert.Equal(w.Step, r.GetProperty("step").GetInt32());
            // at float32's 7 significant digits, as every metric
            Assert.Equal(double.Parse(((float)w.Value).ToString("G7", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture), Number(r, w.Quantity));
        }
        // metrics.csv quotes the message, commas and all
        var csv = File.ReadAllLines(Path.Combine(tmp.Path, "metrics.csv"));
        Assert.Equal(warned.Count, csv.Count(l => l.StartsWith("warning,", StringComparison.Ordinal)));
        Assert.Contains(csv, l => l.EndsWith("\"" + warned[0].Message + "\"", StringComparison.Ordinal));

        // summary.json lists them; the run still completes
        Assert.True(summary.Completed);
        Assert.Equal(warned, summary.Warnings);
        var loaded = RunDirectory.Load(tmp.Path).Summary!;
        Assert.Equal(warned, loaded.Warnings);
    }

    [Fact]
    public void An_absurd_learning_rate_with_gamma_1_is_warned_about_and_PyMARLs_is_not()
    {
        // RMSprop's first steps move each weight by about 10 × lr: with lr 0.1 the Q-values leap far above the
        // game's largest return (8); the derived bound is then 100
        var diverging = Settings.TwoStep with { TotalSteps = 200, Gamma = 1, LearningRate = 0.1 };
        using (var trainer = new Trainer(Environments.TwoStep(), diverging))
        {
            var result = trainer.Train();
            var w = Assert.Single(result.Warnings, x => x.Quantity == "q_taken_mean");
            Assert.Equal(100.0, w.Bound);
            Assert.True(double.IsFinite(w.Value) && Math.Abs(w.Value) > 100, w.Message);
            Assert.Contains("far above any plausible return", w.Message);
        }
        // negative control: the same run at PyMARL's learning rate stays quiet
        using (var trainer = new Trainer(Environments.TwoStep(), diverging with { LearningRate = 5e-4 }))
            Assert.Empty(trainer.Train().Warnings);
    }

    [Fact]
    public void A_configured_bound_must_be_positive_and_finite_and_reaches_the_core()
    {
        Assert.Equal("QValueBound", Assert.Throws<ArgumentOutOfRangeException>(() => new TrainingOptions { QValueBound = 0 }).ParamName);
        Assert.Equal("QValueBound", Assert.Throws<ArgumentOutOfRangeException>(() => new TrainingOptions { QValueBound = double.NaN }).ParamName);
        Assert.Equal(25f, new TrainingOptions { QValueBound = 25 }.ToConfig(null).Diagnostics.QValueBound.Value);
        Assert.Null(new TrainingOptions().ToConfig(null).Diagnostics.QValueBound);
        Assert.Equal(new TrainingOptions { QValueBound = 25 }, TrainingOptions.FromJson("""{"q_value_bound": 25}"""));
    }

    [Fact]
    public void A_chart_draws_reference_lines_dashed_and_rejects_a_line_at_no_height()
    {
        var points = Enumerable.Range(0, 5).Select(i => new ChartPoint(i, i)).ToArray();
        var svg = Charts.Line("", "step", "Q", [new ChartSeries("Q taken", points)],
            new ChartOptions { ReferenceLines = [new ChartReferenceLine("largest return", 20)] });
        var line = XDocument.Parse(svg).Descendants().Single(e => (string?)e.Attribute("class") == "reference");
        Assert.Equal("largest return", (string?)line.Attribute("data-series"));
        Assert.Equal("6 4", (string?)line.Attribute("stroke-dasharray"));
        // the y axis reaches 20 although the data stop at 4
        Assert.Contains(XDocument.Parse(svg).Descendants(), e => e.Name.LocalName == "text" && e.Value == "20");
        Assert.Equal("ReferenceLines", Assert.Throws<ArgumentOutOfRangeException>(
            () => new ChartOptions { ReferenceLines = [new ChartReferenceLine("nowhere", double.PositiveInfinity)] }).ParamName);
    }
}
