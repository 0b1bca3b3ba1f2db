using Xunit;

namespace Qmix.Tests;

/// <summary>A checkpoint that cannot be written (here: a directory in the way of the staged file, an I/O failure that
/// no permission can lift) is reported, the previous checkpoint stays loadable, and training goes on or stops as
/// <see cref="TrainingOptions.OnCheckpointFailure"/> says.</summary>
public class CheckpointFailureTests
{
    /// <summary>A run of 200 steps with its checkpoint written, and the way of its next save blocked.</summary>
    static (string Dir, string Stem) Blocked(TempDir tmp)
    {
        var dir = Path.Combine(tmp.Path, "ckpt");
        using (var first = new Trainer(Environments.TwoStep(), Settings.Short with { TotalSteps = 200, CheckpointDirectory = dir }))
            first.Train();
        var stem = Path.Combine(dir, "model");
        Directory.CreateDirectory(stem + ".train.safetensors.new");
        return (dir, stem);
    }

    static int CheckpointStep(string stem)
    {
        using var t = new Trainer(Environments.TwoStep(), Settings.Short);
        t.Resume(stem);
        return t.Step;
    }

    [Fact]
    public void Stop_ends_training_with_a_clear_error_and_keeps_the_previous_checkpoint()
    {
        using var tmp = new TempDir();
        var (dir, stem) = Blocked(tmp);
        using var trainer = new Trainer(Environments.TwoStep(),
            Settings.Short with { CheckpointDirectory = dir, SaveInterval = 200, OnCheckpointFailure = CheckpointFailure.Stop });
        trainer.Resume(stem);
        var e = Assert.Throws<CheckpointFailedException>(() => trainer.Train());
        Assert.StartsWith(CheckpointFailedException.Prefix, e.Message);
        Assert.Contains(stem + ".train.safetensors", e.Message);
        Assert.Contains("the previous checkpoint, if any, is kept", e.Message);
        Assert.Contains("training stopped at step", e.Message);
        Assert.InRange(e.Step, 400, 401);
        Assert.Equal(e.Step, trainer.Step); // the trainer keeps the iteration whose checkpoint failed
        Assert.Equal(200, CheckpointStep(stem));

        // once the way is clear, the run continues from the kept checkpoint and saves again
        Directory.Delete(stem + ".train.safetensors.new");
        trainer.Train();
        Assert.Equal(600, CheckpointStep(stem));
    }

    [Fact]
    public void Continue_trains_on_with_a_warning_and_keeps_the_previous_checkpoint()
    {
        using var tmp = new TempDir();
        var (dir, stem) = Blocked(tmp);
        using var trainer = new Trainer(Environments.TwoStep(),
            Settings.Short with { CheckpointDirectory = dir, SaveInterval = 200 });
        Assert.Equal(CheckpointFailure.Continue, trainer.Options.OnCheckpointFailure); // the default
        trainer.Resume(stem);
        var result = trainer.Train();
        Assert.Equal(600, result.Steps);
        Assert.Contains(result.Warnings, w => w.Quantity == "checkpoint" && w.Message.Contains(stem + ".train.safetensors"));
        Assert.Equal(200, CheckpointStep(stem));
    }

    [Fact]
    public void Qmix_train_stops_on_a_failed_checkpoint_when_asked_and_resumes_later()
    {
        using var tmp = new TempDir();
        var dir = Path.Combine(tmp.Path, "run");
        string[] args = ["train", "--env", "two-step", "--steps", "2000", "--save-interval", "500", "--set", "on_checkpoint_failure=stop", "--out", dir];
        var (code, output, error) = CliTests.Qmix([.. args.Select(a => a == "2000" ? "500" : a)]);
        Assert.True(code == 0, output + error);
        var blocked = Path.Combine(dir, "checkpoints", "model.train.safetensors.new");
        Directory.CreateDirectory(blocked);

        (code, output, error) = CliTests.Qmix([.. args, "--resume"]);
        Assert.True(code == 1, output + error);
        Assert.Contains("checkpoint not written", output);
        Assert.Equal(500, RunDirectory.Load(dir).CheckpointStep());

        // not a failed run: once the way is clear it continues from its checkpoint
        Directory.Delete(blocked);
        (code, output, error) = CliTests.Qmix("train", "--resume", dir, "--steps", "2000");
        Assert.True(code == 0, output + error);
        Assert.Contains("from step 500", output);
        Assert.True(RunDirectory.Load(dir).Summary!.Completed);
    }
}
