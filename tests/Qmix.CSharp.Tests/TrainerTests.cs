using Xunit;

namespace Qmix.Tests;

/// <summary>Training through the facade, as a C# user would.</summary>
public class TrainerTests
{
    [Fact]
    public void Qmix_learns_the_two_step_optimum_and_reports_progress()
    {
        var reports = new List<TrainingProgress>();
        var evaluated = new List<TrainingEvaluation>();
        using var trainer = new Trainer(Environments.TwoStep(), Settings.TwoStep with { TestInterval = 9_998, TestEpisodes = 1 });
        trainer.Evaluated += (_, e) => evaluated.Add(e);
        var result = trainer.Train(new SyncProgress(reports.Add));

        Assert.Equal(10_000, result.Steps);
        Assert.Equal(5_000, result.Episodes);
        Assert.True(result.Updates > 0);
        Assert.NotNull(result.Loss);
        // tested at the start and at the end
        Assert.Equal(2, result.Evaluations.Count);
        Assert.Equal(result.Evaluations, evaluated);
        Assert.Equal(10_000, result.Evaluations[^1].Step);
        Assert.Equal(8.0, result.TestReturn);
        Assert.Null(result.TestWinRate);
        Assert.True(trainer.IsComplete);
        // the trained policy, evaluated greedily, plays the optimum: B then (B, B)
        var eval = Evaluation.Run(result.Policy, Environments.TwoStep(), episodes: 3, seed: 5);
        Assert.Equal(8.0, eval.MeanReturn);
        Assert.Equal([8.0, 8.0, 8.0], eval.Returns);
        Assert.Equal([2, 2, 2], eval.EpisodeLengths);
        Assert.Null(eval.WinRate);

        Assert.NotEmpty(reports);
        Assert.True(reports.Zip(reports.Skip(1)).All(p => p.First.Step <= p.Second.Step));
        var last = reports[^1];
        Assert.Equal(10_000, last.Step);
        Assert.Equal(1.0, last.Fraction);
        Assert.Equal(1.0, last.Epsilon);
        Assert.Equal(8.0, last.TestReturn);
        Assert.True(last.StepsPerSecond > 0);
    }

    [Fact]
    public void Cancellation_stops_training_and_a_later_call_continues()
    {
        using var trainer = new Trainer(Environments.TwoStep(), Settings.Short) { ProgressInterval = TimeSpan.Zero };
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress(p => { if (p.Step >= 100) cts.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() => trainer.Train(progress, cts.Token));
        Assert.InRange(trainer.Step, 100, 110);
        Assert.False(trainer.IsComplete);

        var result = trainer.Train();
        Assert.Equal(600, result.Steps);
    }

    [Fact]
    public async Task TrainAsync_can_be_cancelled()
    {
        using var trainer = new Trainer(Environments.TwoStep(), Settings.Short with { TotalSteps = 1_000_000 }) { ProgressInterval = TimeSpan.Zero };
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress(p => { if (p.Step >= 50) cts.Cancel(); });
        var task = trainer.TrainAsync(progress, cts.Token);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task);
        Assert.True(task.IsCanceled);
        Assert.True(trainer.Step < 1_000_000);

        using var already = new CancellationTokenSource();
        already.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => trainer.TrainAsync(null, already.Token));
    }

    [Fact]
    public async Task TrainAsync_runs_to_the_end()
    {
        using var trainer = new Trainer(Environments.TwoStep(), Settings.Short);
        var result = await trainer.TrainAsync();
        Assert.Equal(600, result.Steps);
        Assert.Equal(result.Evaluations.Count, result.Evaluations.Select(e => e.Step).Distinct().Count());
    }

    [Fact]
    public void A_cancelled_run_writes_a_checkpoint_that_resumes_exactly()
    {
        using var dir = new TempDir();
        var options = Settings.Short with { CheckpointDirectory = dir.Path };
        using var trainer = new Trainer(Environments.TwoStep(), options) { ProgressInterval = TimeSpan.Zero };
        using var cts = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() =>
            trainer.Train(new SyncProgress(p => { if (p.Step >= 300) cts.Cancel(); }), cts.Token));
        var model = Path.Combine(dir.Path, "model.safetensors");
        Assert.True(File.Exists(model));
        Assert.True(File.Exists(Path.Combine(dir.Path, "model.options.json")));

        using var resumed = new Trainer(Environments.TwoStep(), options);
        resumed.Resume(model);
        Assert.Equal(trainer.Step, resumed.Step);
        Assert.Equal(trainer.Episode, resumed.Episode);
        Assert.Equal(trainer.Updates, resumed.Updates);
        var a = trainer.Train();
        var b = resumed.Train();
        Assert.Equal(a.Steps, b.Steps);
        Assert.Equal(a.Loss, b.Loss);
        Assert.Equal(a.Evaluations, b.Evaluations);
        Assert.Equal(model, b.CheckpointPath);
    }

    [Fact]
    public void Periodic_checkpoints_and_the_final_one_are_written()
    {
        using var dir = new TempDir();
        using var trainer = new Trainer(Environments.TwoStep(), Settings.Short with { CheckpointDirectory = dir.Path, SaveInterval = 200 });
        var result = trainer.Train();
        Assert.Equal(Path.Combine(dir.Path, "model.safetensors"), result.CheckpointPath);
        using var other = new Trainer(Environments.TwoStep(), Settings.Short);
        other.Resume(result.CheckpointPath!);
        Assert.Equal(600, other.Step);
        Assert.True(other.IsComplete);
    }

    [Fact]
    public void A_checkpoint_that_cannot_be_written_is_a_warning_and_the_last_good_one_stays()
    {
        using var dir = new TempDir();
        using var trainer = new Trainer(Environments.TwoStep(), Settings.Short with { CheckpointDirectory = dir.Path, SaveInterval = 200 });
        // after the first checkpoint, a directory takes the name the next one stages its tensors under
        var blocked = false;
        trainer.Evaluated += (_, _) =>
        {
            if (!blocked && File.Exists(Path.Combine(dir.Path, "model.json")))
            {
                blocked = true;
                Directory.CreateDirectory(Path.Combine(dir.Path, "model.train.safetensors.new"));
            }
        };
        var result = trainer.Train();
        Assert.Equal(600, result.Steps);
        var failures = result.Warnings.Where(w => w.Quantity == "checkpoint").ToArray();
        Assert.NotEmpty(failures);
        Assert.All(failures, w => Assert.Contains("cannot save the checkpoint", w.Message));
        // one try per interval, not one per iteration
        Assert.True(failures.Length <= 3, string.Join("; ", failures.Select(f => f.Step)));
        using var other = new Trainer(Environments.TwoStep(), Settings.Short);
        other.Resume(Path.Combine(dir.Path, "model.safetensors"));
        Assert.True(other.Step is > 0 and < 600, $"resumed at step {other.Step}");
        // the negative control: the same run unobstructed warns of nothing
        using var clean = new TempDir();
        using var free = new Trainer(Environments.TwoStep(), Settings.Short with { CheckpointDirectory = clean.Path, SaveInterval = 200 });
        Assert.DoesNotContain(free.Train().Warnings, w => w.Quantity == "checkpoint");
    }

    [Fact]
    public void Every_algorithm_trains_a_few_steps()
    {
        foreach (var algo in Enum.GetValues<Algorithm>())
        {
            using var trainer = new Trainer(Environments.TwoStep(), Settings.Short with { Algorithm = algo, TotalSteps = 100 });
            var r = trainer.Train();
            Assert.Equal(100, r.Steps);
            Assert.True(r.Updates > 0, algo.ToString());
        }
    }

    [Fact]
    public void Bad_arguments_are_rejected_at_the_boundary()
    {
        Assert.Equal("environment", Assert.Throws<ArgumentNullException>(() => new Trainer(null!)).ParamName);
        var bad = new TrainingOptions { BatchSize = 64, BufferSize = 32 };
        var e = Assert.Throws<ArgumentException>(() => new Trainer(Environments.TwoStep(), bad));
        Assert.Equal("options", e.ParamName);
        Assert.Contains("BufferSize", e.Message);

        using var trainer = new Trainer(Environments.TwoStep(), Settings.Short);
        Assert.Equal("path", Assert.Throws<ArgumentNullException>(() => trainer.Save(null!)).ParamName);
        Assert.Equal("path", Assert.Throws<ArgumentException>(() => trainer.Save("")).ParamName);
        Assert.Throws<FileNotFoundException>(() => trainer.Resume(Path.Combine(Path.GetTempPath(), "no-such-qmix-checkpoint")));
        Assert.Equal("value", Assert.Throws<ArgumentOutOfRangeException>(() => trainer.ProgressInterval = TimeSpan.FromSeconds(-1)).ParamName);
    }

    [Fact]
    public void A_checkpoint_of_another_environment_is_refused()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "two-step");
        using var trainer = new Trainer(Environments.TwoStep(), Settings.Short);
        trainer.Save(path);
        using var other = new Trainer(Environments.NonMonotonic(), Settings.Short);
        Assert.Throws<InvalidDataException>(() => other.Resume(path));
    }

    [Fact]
    public async Task Disposing_stops_a_running_trainer()
    {
        var trainer = new Trainer(Environments.TwoStep(), Settings.Short with { TotalSteps = 1_000_000 }) { ProgressInterval = TimeSpan.Zero };
        using var started = new SemaphoreSlim(0);
        var task = trainer.TrainAsync(new SyncProgress(_ => started.Release()));
        await started.WaitAsync();
        trainer.Dispose();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task);
        Assert.True(trainer.Step < 1_000_000);
    }

    [Fact]
    public void A_disposed_trainer_refuses_to_train()
    {
        var trainer = new Trainer(Environments.TwoStep(), Settings.Short);
        trainer.Dispose();
        Assert.Throws<ObjectDisposedException>(() => trainer.Train());
    }
}
