using Xunit;

namespace Qmix.Tests;

/// <summary>What a checkpoint holds of the replay buffer (<see cref="TrainingOptions.CheckpointReplay"/>), and the size
/// of every checkpoint written, reported as it is written.</summary>
public class CheckpointReplayTests
{
    static (CheckpointWritten Written, Trainer Trainer) Train(string dir, CheckpointReplay replay)
    {
        var trainer = new Trainer(Environments.TwoStep(), Settings.Short with { CheckpointDirectory = dir, CheckpointReplay = replay });
        CheckpointWritten? written = null;
        trainer.CheckpointWritten += (_, c) => written = c;
        trainer.Train();
        return (written!, trainer);
    }

    [Fact]
    public void A_checkpoint_without_the_replay_is_small_reported_and_resumes_with_an_empty_buffer()
    {
        using var tmp = new TempDir();
        var fullDir = Path.Combine(tmp.Path, "full");
        var noneDir = Path.Combine(tmp.Path, "none");
        var (full, fullTrainer) = Train(fullDir, CheckpointReplay.Full);
        var (none, noneTrainer) = Train(noneDir, CheckpointReplay.None);
        using (fullTrainer)
        using (noneTrainer)
        {
            // the report: the step, the model file, every file's bytes, the episodes of replay
            Assert.Equal(600, full.Step);
            Assert.Equal(Path.Combine(fullDir, "model.safetensors"), full.ModelPath);
            Assert.Equal(Directory.GetFiles(fullDir).Sum(f => new FileInfo(f).Length), full.Bytes);
            Assert.Equal(Directory.GetFiles(noneDir).Sum(f => new FileInfo(f).Length), none.Bytes);
            Assert.Equal(50, full.ReplayEpisodes); // the full buffer (negative control of the empty one)
            Assert.Equal(0, none.ReplayEpisodes);
            Assert.True(none.Bytes < full.Bytes, $"{none.Bytes} bytes without the replay, {full.Bytes} with it");
            static int ReplayTensors(string dir)
            {
                using var r = Qmix.Tensors.Safetensors.openRead(Path.Combine(dir, "model.train.safetensors"));
                return r.Entries.Count(e => e.Name.StartsWith("replay.", StringComparison.Ordinal));
            }
            Assert.True(ReplayTensors(fullDir) > 0);
            Assert.Equal(0, ReplayTensors(noneDir));
            // the parameters are the same either way
            Assert.Equal(File.ReadAllBytes(Path.Combine(fullDir, "model.safetensors")).Length,
                File.ReadAllBytes(Path.Combine(noneDir, "model.safetensors")).Length);
        }

        // a resumed run continues from the step with an empty buffer, and trains on
        using var resumed = new Trainer(Environments.TwoStep(), Settings.Short with { TotalSteps = 800 });
        resumed.Resume(Path.Combine(noneDir, "model"));
        Assert.Equal(600, resumed.Step);
        var updates = resumed.Updates;
        Assert.Equal(800, resumed.Train().Steps);
        Assert.True(resumed.Updates > updates);
    }

    [Fact]
    public void Qmix_train_reports_each_checkpoint_with_its_size()
    {
        using var tmp = new TempDir();
        var dir = Path.Combine(tmp.Path, "run");
        var (code, output, error) = CliTests.Qmix("train", "--env", "two-step", "--steps", "600", "--save-interval", "200", "--checkpoint-replay", "none", "--out", dir);
        Assert.True(code == 0, output + error);
        Assert.Contains("checkpoint at step 200: ", output);
        Assert.Contains("no replay, written in", output);
        Assert.Contains("none", File.ReadAllText(Path.Combine(dir, "config.json")));
        (code, output, error) = CliTests.Qmix("train", "--env", "two-step", "--steps", "600", "--save-interval", "200", "--out", Path.Combine(tmp.Path, "full"));
        Assert.True(code == 0, output + error);
        Assert.Contains("episodes of replay, written in", output);
    }
}
