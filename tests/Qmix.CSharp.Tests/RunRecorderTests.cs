using System.Text.Json;
using System.Xml.Linq;
using Xunit;

namespace Qmix.Tests;

/// <summary>Run directories: what RunRecorder writes and RunDirectory reads back; options as JSON.</summary>
public class RunRecorderTests
{
    static readonly TrainingOptions options = Settings.Short with { TotalSteps = 400, TestInterval = 100 };

    [Fact]
    public void A_recorded_run_has_every_file_and_reads_back()
    {
        using var tmp = new TempDir();
        var dir = Path.Combine(tmp.Path, "run");
        var reports = 0;
        RunSummary summary;
        using (var run = RunRecorder.Create(dir, Environments.TwoStep(), options, command: "test"))
        {
            run.Trainer.ProgressInterval = TimeSpan.Zero;
            summary = run.Train(new SyncProgress(_ => reports++));
            Assert.Same(summary, run.Summary);
        }
        Assert.True(reports > 0);
        foreach (var f in new[] { "config.json", "metrics.jsonl", "metrics.csv", "curves.svg", "summary.json", "checkpoints/model.safetensors", "checkpoints/model.options.json" })
            Assert.True(File.Exists(Path.Combine(dir, f)), f);

        // config.json round-trips: environment, every option, seed, version
        var loaded = RunDirectory.Load(dir);
        Assert.Equal("two-step", loaded.Config.Environment);
        Assert.Equal(options, loaded.Config.Options);
        Assert.Equal(options.Seed, loaded.Config.Seed);
        Assert.Equal(LibraryInfo.Version, loaded.Config.LibraryVersion);
        Assert.Equal("test", loaded.Config.Command);
        Assert.Equal(2, loaded.Config.Spec.Agents);
        using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "config.json"))))
        {
            Assert.Equal("qmix", config.RootElement.GetProperty("options").GetProperty("algorithm").GetString());
            Assert.Equal(400, config.RootElement.GetProperty("options").GetProperty("total_steps").GetInt32());
        }

        // metrics.jsonl: every line parses; evaluations and progress reports
        var lines = File.ReadAllLines(Path.Combine(dir, "metrics.jsonl"));
        Assert.Equal(loaded.Metrics.Count, lines.Length);
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            Assert.True(doc.RootElement.GetProperty("step").GetInt32() >= 0);
            Assert.Contains(doc.RootElement.GetProperty("kind").GetString(), new[] { "progress", "evaluation" });
        }
        var evaluations = loaded.Metrics.Count(m => m.Kind == MetricsKind.Evaluation);
        Assert.InRange(evaluations, 4, 5); // after the first collection, then every 100 steps
        Assert.Equal(400, loaded.Metrics[^1].Step);
        Assert.Contains(loaded.Metrics, m => m.Kind == MetricsKind.Progress && m.Loss is not null && m.Epsilon == 1.0);

        // metrics.csv: the header, then one row per record
        var csv = File.ReadAllLines(Path.Combine(dir, "metrics.csv"));
        Assert.Equal(
            "kind,step,episode,updates,epsilon,loss,q_taken_mean,target_mean,td_error_abs,grad_norm," +
            "train_return,train_win_rate,train_episode_length,train_dead_allies,train_dead_enemies," +
            "test_return,test_win_rate,test_episode_length,test_dead_allies,test_dead_enemies," +
            "steps_per_second,elapsed_seconds,warning", csv[0]);
        Assert.Equal(lines.Length + 1, csv.Length);
        // a healthy run has no warning (whose quoted message could hold commas)
        Assert.All(csv.Skip(1), row => Assert.Equal(23, row.Split(',').Length));
        Assert.DoesNotContain(loaded.Metrics, m => m.Kind == MetricsKind.Warning);

        // curves.svg: well-formed, with the test and train return
        var svg = XDocument.Parse(File.ReadAllText(Path.Combine(dir, "curves.svg")));
        var series = svg.Descendants().Where(e => e.Name.LocalName == "polyline").Select(e => (string?)e.Attribute("data-series")).ToList();
        Assert.Contains("test return", series);
        Assert.Contains(series, s => s!.StartsWith("train return", StringComparison.Ordinal));

        // summary.json
        Assert.NotNull(loaded.Summary);
        Assert.Equal(summary, loaded.Summary);
        Assert.True(summary.Completed);
        Assert.Equal(400, summary.Steps);
        Assert.Equal(200, summary.Episodes);
        Assert.Equal(evaluations, summary.Evaluations);
        Assert.Equal(loaded.Curve(RunMetric.TestReturn)[^1].Y, summary.FinalTestReturn);
        Assert.Equal("checkpoints/model.safetensors", summary.Checkpoint);
        Assert.Null(summary.Warnings);

        // the checkpoint loads as a policy for the run's environment
        var policy = loaded.LoadPolicy();
        Assert.Equal(loaded.CreateEnvironment().Spec, policy.Spec);
        Assert.Equal(evaluations, loaded.Curve(RunMetric.TestReturn).Count);
        Assert.Empty(loaded.Curve(RunMetric.TestWinRate));
    }

    [Fact]
    public void A_cancelled_run_writes_its_checkpoint_curves_and_summary()
    {
        using var tmp = new TempDir();
        using var cts = new CancellationTokenSource();
        using var run = RunRecorder.Create(tmp.Path, Environments.TwoStep(), options with { TotalSteps = 1_000_000 });
        run.Trainer.ProgressInterval = TimeSpan.Zero;
        Assert.ThrowsAny<OperationCanceledException>(() => run.Train(new SyncProgress(p => { if (p.Step >= 150) cts.Cancel(); }), cts.Token));
        var loaded = RunDirectory.Load(tmp.Path);
        Assert.NotNull(loaded.Summary);
        Assert.False(loaded.Summary.Completed);
        Assert.Equal("cancelled", loaded.Summary.StoppedBecause);
        Assert.InRange(loaded.Summary.Steps, 150, 160);
        Assert.NotNull(loaded.CheckpointPath);
        XDocument.Parse(File.ReadAllText(Path.Combine(tmp.Path, "curves.svg")));
    }

    [Fact]
    public void A_directory_holding_a_run_is_not_overwritten()
    {
        using var tmp = new TempDir();
        using (RunRecorder.Create(tmp.Path, Environments.TwoStep(), options)) { }
        Assert.Throws<IOException>(() => RunRecorder.Create(tmp.Path, Environments.TwoStep(), options));
        Assert.Throws<FileNotFoundException>(() => RunDirectory.Load(Path.Combine(tmp.Path, "..")));
        Assert.Throws<DirectoryNotFoundException>(() => RunDirectory.Load(Path.Combine(tmp.Path, "missing")));
    }

    [Fact]
    public void Options_round_trip_through_JSON_and_merge_keys_in_any_case()
    {
        var o = new TrainingOptions { Algorithm = Algorithm.CwQmix, TDLambda = 0.6, Optimizer = Optimizer.Adam, Seed = 9 };
        Assert.Equal(o, TrainingOptions.FromJson(o.ToJson()));
        Assert.Contains("\"algorithm\": \"cw-qmix\"", o.ToJson());

        var merged = o.WithJson("""{"rnn_hidden": 32, "batchSize": 8, "LearningRate": 0.001, "algorithm": "vdn"}""");
        Assert.Equal(o with { AgentHiddenSize = 32, BatchSize = 8, LearningRate = 0.001, Algorithm = Algorithm.Vdn }, merged);

        var unknown = Assert.Throws<ArgumentException>(() => o.WithJson("""{"lerning_rate": 0.1}"""));
        Assert.Contains("lerning_rate", unknown.Message);
        Assert.Contains("rnn_hidden", unknown.Message);
        Assert.ThrowsAny<ArgumentException>(() => o.WithJson("""{"gamma": 2}"""));
        Assert.ThrowsAny<ArgumentException>(() => o.WithJson("""{"rnn_hidden": "wide"}"""));
        Assert.ThrowsAny<ArgumentException>(() => o.WithJson("[1, 2]"));
        Assert.ThrowsAny<ArgumentException>(() => o.WithJson("{"));
    }
}
