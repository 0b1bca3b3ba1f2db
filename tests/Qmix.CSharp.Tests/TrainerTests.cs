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
    public void An_action_receives_every_report_in_step_order_on_the_training_thread_before_Train_returns()
    {
        using var trainer = new Trainer(Environments.TwoStep(), Settings.Short) { ProgressInterval = TimeSpan.Zero };
        var reports = new List<(int Step, int Thread)>();
        var returned = false;
        var late = 0;
        var result = trainer.Train(p =>
        {
            if (Volatile.Read(ref returned)) late++;
            reports.Add((p.Step, Environment.CurrentManagedThreadId));
        });
        Volatile.Write(ref returned, true);

        // one report per iteration (an episode of 2 steps) and one at the end: all of them, in order, on this thread
        Assert.Equal(result.Steps / 2 + 1, reports.Count);
        Assert.Equal(result.Steps, reports[^1].Step);
        Assert.True(reports.Zip(reports.Skip(1)).All(p => p.First.Step <= p.Second.Step));
        Assert.True(reports.SkipLast(1).Zip(reports.Skip(1).SkipLast(1)).All(p => p.First.Step < p.Second.Step));
        Assert.All(reports, r => Assert.Equal(Environment.CurrentManagedThreadId, r.Thread));
        Assert.Equal(0, late);
        // null is no progress (and binds to the IProgress overload)
        using var other = new Trainer(Environments.TwoStep(), Settings.Short);
        Assert.Equal(600, other.Train(null).Steps);
    }

    [Fact]
    public void Progress_of_T_delivers_after_Train_returns_where_the_action_overload_does_not()
    {
        // Negative control of the ordering check: Progress<T> posts each report to the synchronisation context it was
        // made on (here one that queues posts, as a UI thread busy in Train would), so none has arrived at return.
        var queue = new QueueContext();
        var before = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(queue);
        var received = new List<int>();
        Progress<TrainingProgress> posted;
        try
        {
            posted = new Progress<TrainingProgress>(p => received.Add(p.Step));
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(before);
        }
        using var trainer = new Trainer(Environments.TwoStep(), Settings.Short) { ProgressInterval = TimeSpan.Zero };
        trainer.Train(posted);
        Assert.Empty(received);
        Assert.Equal(301, queue.Pump());
        Assert.Equal(301, received.Count);

        // the action overload, on the same context, has delivered everything when Train returns
        SynchronizationContext.SetSynchronizationContext(queue);
        try
        {
            var direct = new List<int>();
            using var again = new Trainer(Environments.TwoStep(), Settings.Short) { ProgressInterval = TimeSpan.Zero };
            again.Train(p => direct.Add(p.Step));
            Assert.Equal(301, direct.Count);
            Assert.Equal(0, queue.Pump());
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(before);
        }
    }

    [Fact]
    public void An_exception_in_the_progress_action_ends_training_and_propagates()
    {
        using var trainer = new Trainer(Environments.TwoStep(), Settings.Short) { ProgressInterval = TimeSpan.Zero };
        var e = Assert.Throws<InvalidDataException>(() => trainer.Train(p =>
        {
            if (p.Step >= 100) throw new InvalidDataException("stop here");
        }));
        Assert.Equal("stop here", e.Message);
        Assert.InRange(trainer.Step, 100, 102);
        // the trainer is not left running: a later call continues to the end
        Assert.Equal(600, trainer.Train(_ => { }).Steps);
    }

    /// <summary>A synchronisation context that queues what is posted to it until it is pumped.</summary>
    sealed class QueueContext : SynchronizationContext
    {
        readonly Queue<(SendOrPostCallback Callback, object? State)> posted = new();

        public override void Post(SendOrPostCallback d, object? state)
        {
            lock (posted) posted.Enqueue((d, state));
        }

        /// <summary>Runs what was posted, in order; returns how many callbacks ran.</summary>
        public int Pump()
        {
            var n = 0;
            while (true)
            {
                (SendOrPostCallback Callback, object? State) next;
                lock (posted)
                {
                    if (posted.Count == 0) return n;
                    next = posted.Dequeue();
                }
                next.Callback(next.State);
                n++;
            }
        }
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
