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
        foreach (var map in new[] { "3m", "3s5z", "27m_vs_30m" })
        {
            var spec = Environments.Combat(map).Spec;
            long t1 = spec.EpisodeLimit + 1, n = spec.Agents;
            // the padded float32 layout of an Episode, and the buffer's: obs and state in its precision, actions as
            // int32, the available-action mask as bits, the reward as float32
            var padded = t1 * (n * spec.ObservationSize + spec.StateSize + n * spec.Actions + n + 1) * 4;
            long Stored(int width) => (long)Math.Ceiling(t1 * (width * (n * spec.ObservationSize + spec.StateSize) + 4.0 * n + n * spec.Actions / 8.0 + 4));
            var single = Grid.EpisodeBytes(spec, Pymarl2);
            var half = Grid.EpisodeBytes(spec, Pymarl2 with { ReplayPrecision = ReplayPrecision.Float16 });
            Assert.Equal(Stored(4), single);
            Assert.Equal(Stored(2), half);
            Assert.True(single < padded && half < 0.55 * padded, $"{map}: {single} and {half} bytes against {padded} padded");
            output.WriteLine($"{map}: at the limit {padded:N0} bytes per episode padded, {single:N0} stored (float32), {half:N0} (float16); buffer of 5000: {Grid.Bytes(5000 * single)} / {Grid.Bytes(5000 * half)}");
        }
    }

    [Fact]
    public void A_run_too_short_to_fill_its_buffer_is_bounded_by_its_steps()
    {
        var spec = Environments.Combat("27m_vs_30m").Spec;
        var full = Pymarl2.ReplayBytes(spec);
        Assert.Equal(5000 * Pymarl2.ReplayEpisodeBytes(spec), full, 5000.0);
        // 30,000 steps (and up to 8 episodes' limit past them) fill at most that many rows plus one row per episode
        // held (at most the 5000 of the buffer), far below 5000 episodes at the limit
        var shortRun = Pymarl2 with { TotalSteps = 30_000 };
        var rows = 30_000 + 8 * spec.EpisodeLimit + 5000;
        Assert.Equal(Math.Ceiling(rows * (Pymarl2.ReplayEpisodeBytes(spec) / (double)(spec.EpisodeLimit + 1))), shortRun.ReplayBytes(spec), 1.0 * rows);
        Assert.Null(TrainMemory.Check("combat:27m_vs_30m", spec, shortRun, 1, 24 * GB));
        // negative control: the default run of 2.05M steps is refused
        Assert.NotNull(TrainMemory.Check("combat:27m_vs_30m", spec, Pymarl2, 1, 24 * GB));
    }

    [Fact]
    public void Qmix_train_refuses_a_buffer_that_cannot_fit_before_writing_anything()
    {
        using var tmp = new TempDir();
        var dir = Path.Combine(tmp.Path, "run");
        var (code, _, error) = CliTests.Qmix("train", "--env", "combat:27m_vs_30m", "--buffer-size", "2000000", "--steps", "1000000", "-o", dir);
        Assert.Equal(2, code);
        Assert.Contains("2,000,000 episodes", error);
        Assert.Contains("use --buffer-size", error);
        Assert.False(Directory.Exists(dir));
    }
}
