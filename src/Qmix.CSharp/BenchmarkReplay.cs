using System.Diagnostics;
using Microsoft.FSharp.Core;
using Qmix.Tensors;
using F = Qmix.Functional;

namespace Qmix;

/// <summary>The memory a full replay buffer holds and the time to sample a batch from it.</summary>
public sealed record ReplayBenchmarkResult
{
    /// <summary>The number of episodes held.</summary>
    public required int Episodes { get; init; }

    /// <summary>The sizes of one episode, e.g. <c>T+1=151 n=8 A=14 O=80 S=120</c>.</summary>
    public required string Sizes { get; init; }

    /// <summary>The GC heap the full buffer holds, in bytes: the drop of <see cref="GC.GetTotalMemory(bool)"/> (after
    /// full collections) when the buffer is released, so garbage made or freed elsewhere does not count. It is the
    /// episodes' arrays, their headers and records, and the buffer's tree.</summary>
    public required long HeapBytes { get; init; }

    /// <summary>The bytes of the episodes' array elements as the buffer stores them (<c>Replay.bytes</c>: the
    /// recorded steps only, masks as bits; observations, states, actions and rewards as float32 and int32).</summary>
    public required long PayloadBytes { get; init; }

    /// <summary>The bytes the same episodes take in the padded float32 layout of an episode (every step up to the
    /// limit; masks as floats): what the buffer held before it kept episodes compactly.</summary>
    public required long PaddedBytes { get; init; }

    /// <summary>The time it took to make the episodes and fill the buffer, in seconds.</summary>
    public required double BuildSeconds { get; init; }

    /// <summary>The time of <c>Replay.sampleInto</c> drawing one batch from the full buffer into reused memory, as
    /// the training loop samples (per sample, with the allocation per sample).</summary>
    public required BenchmarkResult Sample { get; init; }

    /// <summary>The median time, in milliseconds, of <c>Replay.sample</c> drawing the same batches into new memory
    /// (truncated to the longest episode): what a sample costs when every batch is a fresh array.</summary>
    public required double AllocatingMilliseconds { get; init; }
}

public static partial class Benchmarks
{
    /// <summary>Fills a replay buffer with distinct random episodes of a learner benchmark's sizes (lengths in
    /// [limit/2, limit], 70% of actions available), measures the GC heap it holds, then times
    /// <c>Replay.sample</c> drawing batches from it. At the 3s5z-like sizes 5000 episodes hold about 2.7 GB; the
    /// buffer is garbage when the method returns.</summary>
    /// <param name="size">The sizes of the episodes.</param>
    /// <param name="episodes">The episodes held (at least <paramref name="batchSize"/>; PyMARL's buffer holds
    /// 5000).</param>
    /// <param name="batchSize">The episodes per sampled batch (at least 1).</param>
    /// <param name="samples">Timed samples (at least 1), each with its own key.</param>
    /// <returns>The memory held and the sampling time.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A count is out of range, or <paramref name="size"/> is not a
    /// <see cref="BenchmarkSize"/>.</exception>
    public static ReplayBenchmarkResult ReplayBuffer(BenchmarkSize size = BenchmarkSize.ThreeS5Z, int episodes = 5000, int batchSize = 32, int samples = 50)
    {
        Guard.AtLeast(batchSize, 1, nameof(batchSize));
        Guard.AtLeast(episodes, batchSize, nameof(episodes));
        Guard.AtLeast(samples, 1, nameof(samples));
        var (_, t, n, a, o, s) = Dimensions(size);
        var spec = new F.EnvSpec(size == BenchmarkSize.ThreeM ? "3m-like" : "3s5z-like", n, a, o, s, t);
        var t1 = t + 1;
        var padded = (long)episodes * (t1 * n * o + t1 * s + t1 * n + t1 * n * a + t1) * sizeof(float);

        var clock = Stopwatch.StartNew();
        var replay = F.ReplayModule.empty(episodes);
        for (var e = 0; e < episodes; e++) replay = F.ReplayModule.add(RandomEpisode(spec, e), replay);
        var buildSeconds = clock.Elapsed.TotalSeconds;
        var payload = F.ReplayModule.bytes(replay);

        var key = Rng.key(3);
        var target = new F.BatchBuffer();
        for (var i = 0; i < Math.Min(samples, 5); i++) F.ReplayModule.sampleInto(target, Rng.foldIn(-1 - i, key), batchSize, replay);
        var draw = 0;
        var sample = Time($"replay sample ({batchSize} of {episodes})",
            $"B={batchSize} of {episodes} episodes, T+1={t1} n={n} A={a} O={o} S={s}", samples,
            () => F.ReplayModule.sampleInto(target, Rng.foldIn(draw++, key), batchSize, replay));
        var allocating = Allocating(replay, key, batchSize, samples);
        // the heap the buffer holds: the heap with it, less the heap once it is released (the batch buffer stays)
        var held = GC.GetTotalMemory(forceFullCollection: true);
        GC.KeepAlive(replay);
        replay = F.ReplayModule.empty(1);
        var heap = held - GC.GetTotalMemory(forceFullCollection: true);
        GC.KeepAlive(target);
        return new ReplayBenchmarkResult
        {
            Episodes = episodes,
            Sizes = $"T+1={t1} n={n} A={a} O={o} S={s}",
            HeapBytes = heap,
            PayloadBytes = payload,
            PaddedBytes = padded,
            BuildSeconds = buildSeconds,
            Sample = sample,
            AllocatingMilliseconds = allocating,
        };
    }

    /// <summary>The median time of <c>Replay.sample</c> drawing the same batches (same keys) into new memory.</summary>
    static double Allocating(F.Replay replay, Key key, int batchSize, int samples)
    {
        var times = new double[samples];
        for (var draw = 0; draw < samples; draw++)
        {
            var clock = Stopwatch.StartNew();
            F.ReplayModule.sample(Rng.foldIn(draw, key), batchSize, replay);
            times[draw] = clock.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return times[samples / 2];
    }

    /// <summary>A random episode like a runner's: length in [limit/2, limit], steps 0..length filled with
    /// observations and states in [−1, 1), 70% of actions available (action 0 always) and an available action taken,
    /// zero padding after; distinct for distinct <paramref name="index"/>.</summary>
    static F.Episode RandomEpisode(F.EnvSpec spec, int index)
    {
        var (n, a, o, s, t) = (spec.NAgents, spec.NActions, spec.ObsDim, spec.StateDim, spec.EpisodeLimit);
        var t1 = t + 1;
        // xorshift64*: fast, and distinct streams for distinct episodes
        var x = 0x9E3779B97F4A7C15UL * (ulong)(index + 1) | 1UL;
        ulong Next()
        {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            return x * 0x2545F4914F6CDD1DUL;
        }
        float Uniform() => (Next() >> 40) * (2f / (1 << 24)) - 1f;
        var length = t / 2 + (int)(Next() % (ulong)(t - t / 2 + 1));
        var obs = new float[t1 * n * o];
        var state = new float[t1 * s];
        var actions = new int[t1 * n];
        var avail = new float[t1 * n * a];
        var reward = new float[t1];
        for (var i = 0; i < (length + 1) * n * o; i++) obs[i] = Uniform();
        for (var i = 0; i < (length + 1) * s; i++) state[i] = Uniform();
        for (var row = 0; row < (length + 1) * n; row++)
        {
            for (var u = 0; u < a; u++) avail[row * a + u] = u == 0 || Uniform() < 0.4f ? 1f : 0f;
            if (row >= length * n) continue;
            int choice;
            do choice = (int)(Next() % (ulong)a); while (avail[row * a + choice] == 0f);
            actions[row] = choice;
        }
        for (var i = 0; i < length; i++) reward[i] = Uniform();
        return new F.Episode(spec, length, obs, state, actions, avail, reward, index % 2 == 0, FSharpOption<bool>.None);
    }
}
