using Xunit;

namespace Qmix.Tests;

/// <summary>RunRecorder.Resume: a run directory continued from its checkpoint ends as if it had never stopped.</summary>
public class RunRecorderResumeTests
{
    static readonly TrainingOptions options = Settings.Short with { TotalSteps = 600, TestInterval = 100, SaveInterval = 200 };

    /// <summary>The greedy evaluations of a run: (step, test return), which a continued run must repeat exactly.</summary>
    static List<(int Step, double? Return)> Evaluations(string dir) =>
        RunDirectory.Load(dir).Metrics.Where(m => m.Kind == MetricsKind.Evaluation).Select(m => (m.Step, m.TestReturn)).ToList();

    static string Uninterrupted(string root)
    {
        var dir = Path.Combine(root, "whole");
        using var run = RunRecorder.Create(dir, Environments.TwoStep(), options);
        run.Train();
        return dir;
    }

    static void CopyDirectory(string from, string to)
    {
        foreach (var d in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(d.Replace(from, to));
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(f, f.Replace(from, to));
    }

    [Fact]
    public void A_killed_run_continues_from_its_last_periodic_checkpoint_and_ends_as_an_uninterrupted_one()
    {
        using var tmp = new TempDir();
        var whole = Uninterrupted(tmp.Path);

        // a copy of a run directory taken mid-run is what a killed process leaves: a periodic checkpoint at step 200,
        // metrics past it, no summary
        var killed = Path.Combine(tmp.Path, "killed");
        var source = Path.Combine(tmp.Path, "source");
        using (var run = RunRecorder.Create(source, Environments.TwoStep(), options))
        {
            run.Trainer.ProgressInterval = TimeSpan.Zero;
            var copied = false;
            run.Train(new SyncProgress(p =>
            {
                if (copied || p.Step < 300) return;
                CopyDirectory(source, killed);
                copied = true;
            }));
        }
        File.Delete(Path.Combine(killed, "summary.json"));
        File.AppendAllText(Path.Combine(killed, "metrics.jsonl"), "{\"kind\": \"progr"); // a torn last line
        var before = RunDirectory.Load(killed);
        Assert.Equal(200, before.CheckpointStep());
        Assert.Contains(before.Metrics, m => m.Step > 200);

        RunSummary summary;
        using (var resumed = RunRecorder.Resume(killed))
        {
            Assert.Equal(200, resumed.Trainer.Step);
            Assert.All(resumed.Records, r => Assert.True(r.Step <= 200));
            Assert.False(File.Exists(Path.Combine(killed, "summary.json")));
            summary = resumed.Train();
        }
        Assert.True(summary.Completed);
        Assert.Equal(600, summary.Steps);
        Assert.Equal(RunDirectory.Load(whole).Summary!.Episodes, summary.Episodes);
        Assert.Equal(Evaluations(whole), Evaluations(killed));
        Assert.Equal(RunDirectory.Load(whole).Summary!.FinalTestReturn, summary.FinalTestReturn);

        // the files are whole: one record per line, steps never going back except at nothing, csv in step with jsonl
        var after = RunDirectory.Load(killed);
        var steps = after.Metrics.Select(m => m.Step).ToList();
        Assert.Equal(steps.OrderBy(s => s), steps);
        Assert.Equal(after.Metrics.Count + 1, File.ReadAllLines(Path.Combine(killed, "metrics.csv")).Length);
        Assert.True(after.Metrics.Zip(after.Metrics.Skip(1)).All(p => p.Second.ElapsedSeconds >= p.First.ElapsedSeconds));
    }

    [Fact]
    public void A_cancelled_run_continues_where_it_stopped()
    {
        using var tmp = new TempDir();
        var whole = Uninterrupted(tmp.Path);
        var dir = Path.Combine(tmp.Path, "cancelled");
        using (var cts = new CancellationTokenSource())
        using (var run = RunRecorder.Create(dir, Environments.TwoStep(), options))
        {
            run.Trainer.ProgressInterval = TimeSpan.Zero;
            Assert.ThrowsAny<OperationCanceledException>(() =>
                run.Train(new SyncProgress(p => { if (p.Step >= 350) cts.Cancel(); }), cts.Token));
        }
        var stopped = RunDirectory.Load(dir);
        Assert.False(stopped.Summary!.Completed);
        Assert.Equal(stopped.Summary.Steps, stopped.CheckpointStep());

        using (var resumed = RunRecorder.Resume(dir, Environments.TwoStep()))
        {
            Assert.Equal(stopped.Summary.Steps, resumed.Trainer.Step);
            var summary = resumed.Train();
            Assert.True(summary.Completed);
            Assert.Equal(600, summary.Steps);
            Assert.True(summary.Seconds >= stopped.Summary.Seconds);
        }
        Assert.Equal(Evaluations(whole), Evaluations(dir));
    }

    [Fact]
    public void A_run_killed_before_its_first_checkpoint_starts_over()
    {
        using var tmp = new TempDir();
        var whole = Uninterrupted(tmp.Path);
        var dir = Path.Combine(tmp.Path, "early");
        using (var run = RunRecorder.Create(dir, Environments.TwoStep(), options)) { }
        File.AppendAllText(Path.Combine(dir, "metrics.jsonl"), "{\"kind\":\"progress\",\"step\":40,\"episode\":20}\n");
        Assert.Null(RunDirectory.Load(dir).CheckpointStep());
        using (var resumed = RunRecorder.Resume(dir))
        {
            Assert.Equal(0, resumed.Trainer.Step);
            Assert.Empty(resumed.Records);
            Assert.True(resumed.Train().Completed);
        }
        Assert.Equal(Evaluations(whole), Evaluations(dir));
    }

    [Fact]
    public void Resume_refuses_another_environment_and_a_directory_without_a_run()
    {
        using var tmp = new TempDir();
        using (RunRecorder.Create(tmp.Path, Environments.TwoStep(), options)) { }
        Assert.Throws<ArgumentException>(() => RunRecorder.Resume(tmp.Path, Environments.NonMonotonic()));
        var empty = Directory.CreateDirectory(Path.Combine(tmp.Path, "empty")).FullName;
        Assert.Throws<FileNotFoundException>(() => RunRecorder.Resume(empty));
    }
}
