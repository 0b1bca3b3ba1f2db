using System.Text;
using Xunit;

namespace Qmix.Tests;

/// <summary>No silent NaN: a NaN parameter planted in a saved model stops acting, evaluation and training with an
/// error naming the agent and the step, instead of an arbitrary action.</summary>
public class NonFiniteQValueTests
{
    /// <summary>Writes a value into one tensor of a safetensors file and rewrites that tensor's recorded checksum to
    /// match, so that the file is a consistent (not a damaged) file holding the planted value.</summary>
    internal static void Plant(string file, string tensor, int index, float value)
    {
        var bytes = File.ReadAllBytes(file);
        var headerLength = (int)BitConverter.ToUInt64(bytes, 0);
        long begin, end;
        using (var r = Qmix.Tensors.Safetensors.openRead(file))
        {
            var e = r.TryFindEntry(tensor).Value;
            (begin, end) = (e.Begin, e.End);
        }
        var start = 8 + headerLength;
        BitConverter.GetBytes(value).CopyTo(bytes, start + begin + 4 * index);
        var crc = Qmix.Tensors.Crc32c.format(Qmix.Tensors.Crc32c.ofBytes(bytes.AsSpan((int)(start + begin), (int)(end - begin))));
        var header = Encoding.Latin1.GetString(bytes, 8, headerLength);
        var key = $"\"{Qmix.Tensors.Safetensors.ChecksumKey(tensor)}\":\"";
        var at = header.IndexOf(key, StringComparison.Ordinal);
        Assert.True(at >= 0, $"{file} records no checksum of {tensor}");
        Encoding.ASCII.GetBytes(crc).CopyTo(bytes, 8 + at + key.Length);
        File.WriteAllBytes(file, bytes);
    }

    [Fact]
    public void A_NaN_parameter_stops_acting_and_evaluation_naming_the_agent_and_the_step()
    {
        using var dir = new TempDir();
        var env = Environments.TwoStep();
        using var trainer = new Trainer(env, Settings.Short);
        var path = Path.Combine(dir.Path, "policy");
        trainer.Train().Policy.Save(path);
        var good = Policy.Load(path);
        // negative control: the same model without the planted value acts and evaluates
        env.Reset(0);
        good.Reset();
        Assert.Equal(2, good.Act(env.Observations, env.AvailableActions).Length);
        Assert.Equal(3, Evaluation.Run(good, env, 3).Returns.Count);

        Plant(path + ".safetensors", "agent.fc2.bias", 1, float.NaN);
        var bad = Policy.Load(path);
        env.Reset(0);
        bad.Reset();
        var e = Assert.Throws<NonFiniteQValueException>(() => bad.Act(env.Observations, env.AvailableActions));
        Assert.Equal(0, e.Agent);
        Assert.Equal(0, e.Step);
        Assert.Contains("agent 0 at step 0", e.Message);
        Assert.Contains("NaN", e.Message);

        var ev = Assert.Throws<NonFiniteQValueException>(() => Evaluation.Run(bad, env, 3));
        Assert.Contains("episode 0", ev.Message);
        Assert.Contains("agent 0 at step 0", ev.Message);
    }

    [Fact]
    public void A_NaN_parameter_stops_training_through_the_divergence_stop()
    {
        using var dir = new TempDir();
        var env = Environments.TwoStep();
        var options = Settings.Short with { CheckpointDirectory = dir.Path };
        using (var first = new Trainer(env, options)) first.Train();
        var stem = Path.Combine(dir.Path, "model");
        var copy = Path.Combine(dir.Path, "copy");
        foreach (var suffix in new[] { ".safetensors", ".train.safetensors", ".json", ".options.json" })
            File.Copy(stem + suffix, copy + suffix);

        // negative control: the unplanted checkpoint continues
        using (var control = new Trainer(env, options with { TotalSteps = 800, CheckpointDirectory = null }))
        {
            control.Resume(copy);
            Assert.Equal(800, control.Train().Steps);
        }

        Plant(stem + ".safetensors", "agent.fc2.bias", 0, float.PositiveInfinity);
        using var resumed = new Trainer(env, options with { TotalSteps = 800, CheckpointDirectory = null });
        resumed.Resume(stem);
        var e = Assert.Throws<TrainingDivergedException>(() => resumed.Train());
        Assert.Equal(600, e.Step);
        Assert.Contains("training diverged at step 600", e.Message);
        Assert.Contains("agent 0", e.Message);
        Assert.Contains("at step 0", e.Message);
        Assert.Equal(600, resumed.Step); // the state before the iteration is kept
    }
}
