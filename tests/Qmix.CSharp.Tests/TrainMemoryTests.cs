using Qmix.Cli;
using Xunit;
using Xunit.Abstractions;

namespace Qmix.Tests;

/// <summary>qmix train's memory check: a replay buffer that cannot fit is refused before anything is written, with the
/// bytes needed, the bytes available and the buffer size that fits.</summary>
public class TrainMemoryTests(ITestOutputHelper output)
{
    const long GB = 1L << 30;

    static TrainingOptions Pymarl2 => TrainingOptions.Preset(TrainingPreset.PyMarl2);

    [Fact]
    public void The_default_buffer_of_27m_vs_30m_is_refused_on_24_GB_with_the_buffer_that_fits()
    {
        var spec = Environments.Combat("27m_vs_30m").Spec;
        var e = TrainMemory.Check("combat:27m_vs_30m", spec, Pymarl2, 1, 24 * GB);
        Assert.NotNull(e);
        Assert.Contains("5,000 episodes", e.Message);
        Assert.Contains("21.6 GB training may use (90% of the 24.0 GB available)", e.Message);
        var fits = int.Parse(e.Message[(e.Message.IndexOf("--buffer-size ", StringComparison.Ordinal) + 14)..].Split(' ')[0]);
        // the suggested buffer fits, and one episode more would not
        Assert.Null(TrainMemory.Check("combat:27m_vs_30m", spec, Pymarl2 with { BufferSize = fits }, 1, 24 * GB));
        Assert.NotNull(TrainMemory.Check("combat:27m_vs_30m", spec, Pymarl2 with { BufferSize = fits + 1 }, 1, 24 * GB));
        output.WriteLine(e.Message);
    }

    [Fact]
    public void Runs_in_parallel_count_together_and_a_machine_too_small_says_so()
    {
        var spec = Environments.Combat("3s5z").Spec;
        // negative control: one run of 3s5z's default buffer fits in 24 GB
        Assert.Null(TrainMemory.Check("combat:3s5z", spec, Pymarl2, 1, 24 * GB));
        var e = TrainMemory.Check("combat:3s5z", spec, Pymarl2, 8, 24 * GB);
        Assert.NotNull(e);
        Assert.Contains("× 8 runs at once", e.Message);
        Assert.Contains("--parallel", e.Message);
        var tiny = TrainMemory.Check("combat:3s5z", spec, Pymarl2, 1, 200L << 20);
        Assert.NotNull(tiny);
        Assert.Contains($"even a buffer of one batch ({Pymarl2.BatchSize} episodes) does not fit", tiny.Message);
    }

    [Fact]
    public void Bytes_per_episode_of_the_paper_maps()
    {
        // (limit + 1) × (N·obs + state + N·A + N + 1) × 4 bytes, float32 throughout
        foreach (var map in new[] { "3m", "3s5z", "27m_vs_30m" })
        {
            var spec = Environments.Combat(map).Spec;
            var bytes = Grid.EpisodeBytes(spec);
            long t1 = spec.EpisodeLimit + 1, n = spec.Agents;
            Assert.Equal(t1 * (n * spec.ObservationSize + spec.StateSize + n * spec.Actions + n + 1) * 4, bytes);
            output.WriteLine($"{map}: {bytes:N0} bytes per episode ({TrainMemory.Size(bytes)}), buffer of 5000: {Grid.Bytes(5000 * bytes)}, estimate {Grid.Bytes(Grid.MemoryEstimate(spec, Pymarl2))}");
        }
    }

    [Fact]
    public void Qmix_train_refuses_a_buffer_that_cannot_fit_before_writing_anything()
    {
        using var tmp = new TempDir();
        var dir = Path.Combine(tmp.Path, "run");
        var (code, _, error) = CliTests.Qmix("train", "--env", "combat:27m_vs_30m", "--buffer-size", "2000000", "--steps", "10", "-o", dir);
        Assert.Equal(2, code);
        Assert.Contains("2,000,000 episodes", error);
        Assert.Contains("use --buffer-size", error);
        Assert.False(Directory.Exists(dir));
    }
}
