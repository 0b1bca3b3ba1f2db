using System.Diagnostics;
using Qmix.Tensors;
using F = Qmix.Functional;

namespace Qmix;

/// <summary>The sizes of a learner-update benchmark, those of the PyTorch reference
/// (<c>qmix_torch.py bench 1</c>).</summary>
public enum BenchmarkSize
{
    /// <summary>3m-like: batches of 32 episodes, limit 60, 3 agents, 9 actions, observation 30, state 48.</summary>
    ThreeM,

    /// <summary>3s5z-like: batches of 32 episodes, limit 150, 8 agents, 14 actions, observation 80, state
    /// 120.</summary>
    ThreeS5Z,
}

/// <summary>The timing of one operation, repeated.</summary>
public sealed record BenchmarkResult
{
    /// <summary>What was timed, e.g. <c>learner update (3m-like)</c>.</summary>
    public required string Name { get; init; }

    /// <summary>The sizes, e.g. <c>B=32 T=60 n=3 A=9 O=30 S=48</c>.</summary>
    public required string Sizes { get; init; }

    /// <summary>How many timed operations.</summary>
    public required int Iterations { get; init; }

    /// <summary>The median time of one operation, in milliseconds (for environment steps: the mean).</summary>
    public required double MedianMilliseconds { get; init; }

    /// <summary>The shortest time of one operation, in milliseconds (for environment steps: the mean).</summary>
    public required double MinMilliseconds { get; init; }

    /// <summary>Operations per second at the median time.</summary>
    public double PerSecond => MedianMilliseconds > 0 ? 1000.0 / MedianMilliseconds : double.PositiveInfinity;

    /// <summary>Bytes allocated per operation on the timing thread.</summary>
    public required double AllocatedBytes { get; init; }

    /// <summary>Bytes allocated per operation by every thread of the process
    /// (<see cref="GC.GetTotalAllocatedBytes(bool)"/>, precise), so that work handed to other threads counts too; null
    /// when the benchmark did not measure it. Other threads' own work in the same interval (the JIT's background
    /// compilation, a timer) counts as well.</summary>
    public double? AllocatedBytesAllThreads { get; init; }
}

/// <summary>Quick timings with a stopwatch (after a warm-up for the JIT): one QMIX learner update at the PyTorch
/// reference's sizes, one greedy acting step, environment steps per second, the replay buffer's memory and sampling
/// time, the FLOPs of a learner update and the matmul kernel's peak (<c>qmix bench</c> prints them all against their
/// targets). For careful measurements use the BenchmarkDotNet project (<c>./build.sh bench bdn</c>).</summary>
/// <remarks>Times drift on shared machines; compare ratios taken on the same machine at the same time.</remarks>
public static partial class Benchmarks
{
    /// <summary>Times one PyMARL-default QMIX learner update (RMSprop, double Q, 2-layer hypernetworks, GRU agents
    /// of width 64) on a random batch of the given sizes, as the PyTorch reference does.</summary>
    /// <param name="size">The sizes.</param>
    /// <param name="iterations">Timed updates (at least 1).</param>
    /// <param name="warmup">Untimed updates first (at least 0).</param>
    /// <returns>The timing.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A count is out of range, or <paramref name="size"/> is not a
    /// <see cref="BenchmarkSize"/>.</exception>
    public static BenchmarkResult LearnerUpdate(BenchmarkSize size = BenchmarkSize.ThreeM, int iterations = 15, int warmup = 5)
        => LearnerUpdate(size, iterations, warmup, 0);

    /// <summary>Times one learner update as <see cref="LearnerUpdate(BenchmarkSize, int, int)"/> does, on the given
    /// number of threads (0: as many as the machine has). The state is carried from update to update on a recycling
    /// workspace, as a training loop carries it, and the warm-up lasts at least a second so that the JIT has
    /// optimised the kernels before timing starts.</summary>
    /// <param name="size">The sizes.</param>
    /// <param name="iterations">Timed updates (at least 1).</param>
    /// <param name="warmup">Untimed updates first (at least 0).</param>
    /// <param name="threads">Threads an update may use (at least 0).</param>
    /// <returns>The timing.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A count is out of range, or <paramref name="size"/> is not a
    /// <see cref="BenchmarkSize"/>.</exception>
    public static BenchmarkResult LearnerUpdate(BenchmarkSize size, int iterations, int warmup, int threads)
    {
        Guard.AtLeast(iterations, 1, nameof(iterations));
        Guard.AtLeast(warmup, 0, nameof(warmup));
        Guard.AtLeast(threads, 0, nameof(threads));
        var (learner, state, batch, sizes) = LearnerCase(size, threads);
        var name = size == BenchmarkSize.ThreeM ? "3m-like" : "3s5z-like";
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < warmup || (warmup > 0 && clock.Elapsed.TotalSeconds < 1.0); i++)
            state = F.Learner.update(learner, 0, batch, state).Item1;
        return Time($"learner update ({name})", sizes, iterations,
            () => state = F.Learner.update(learner, 0, batch, state).Item1);
    }

    /// <summary>How many parameter values differ after <paramref name="updates"/> learner updates on one thread and on
    /// two, from the same start on the same batches (0 when the results are bit-identical).</summary>
    /// <param name="size">The sizes.</param>
    /// <param name="updates">Updates to take (at least 1).</param>
    /// <returns>The number of differing values among the online parameters and the losses.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="updates"/> is below 1, or
    /// <paramref name="size"/> is not a <see cref="BenchmarkSize"/>.</exception>
    public static int LearnerThreadsDiffer(BenchmarkSize size = BenchmarkSize.ThreeM, int updates = 3)
    {
        Guard.AtLeast(updates, 1, nameof(updates));
        (float[] Values, float[] Losses) Run(int threads)
        {
            var (learner, state, batch, _) = LearnerCase(size, threads);
            var losses = new float[updates];
            for (var i = 0; i < updates; i++)
            {
                var (next, metrics) = F.Learner.update(learner, i, batch, state);
                state = next;
                losses[i] = metrics.Loss;
            }
            return (Tree.leaves(state.Params).SelectMany(t => t.ToArray()).ToArray(), losses);
        }
        var one = Run(1);
        var two = Run(2);
        var differ = one.Losses.Zip(two.Losses).Count(p => BitConverter.SingleToInt32Bits(p.First) != BitConverter.SingleToInt32Bits(p.Second));
        return differ + one.Values.Zip(two.Values).Count(p => BitConverter.SingleToInt32Bits(p.First) != BitConverter.SingleToInt32Bits(p.Second));
    }

    static (F.Learner<F.MixerParams> Learner, F.LearnerState<F.MixerParams> State, F.EpisodeBatch Batch, string Sizes)
        LearnerCase(BenchmarkSize size, int threads)
    {
        var (b, t, n, a, o, s) = Dimensions(size);
        var name = size == BenchmarkSize.ThreeM ? "3m-like" : "3s5z-like";
        var spec = new F.EnvSpec(name, n, a, o, s, t);
        var d = F.LearnerConfig.defaults;
        var config = new F.LearnerConfig(d.Agent, d.HyperInput, d.Gamma, d.DoubleQ, d.Target, d.LossScale, d.GradNormClip,
            d.Optimizer, d.TargetUpdate, d.Weighted, d.Engine, threads);
        var learner = F.Learner.builtIn(config, spec, F.MixerConfig.NewQmix(F.QmixConfig.defaults));
        var state = F.Learner.recycling(F.Learner.init(learner, Rng.key(1)));
        return (learner, state, RandomBatch(b, t, n, a, o, s, new Random(7)), $"B={b} T={t} n={n} A={a} O={o} S={s}");
    }

    /// <summary>Times one greedy acting step of 3 PyMARL-default GRU agents (observation 30, 9 actions): the agents'
    /// inputs, the GRU step and the masked argmax, through the allocation-free
    /// <see cref="Policy.Act(ReadOnlySpan{float}, ReadOnlySpan{bool}, Span{int})"/> (the fused acting kernels), after
    /// a warm-up long enough for the JIT's optimised code.</summary>
    /// <param name="iterations">Timed steps (at least 1).</param>
    /// <returns>The timing.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="iterations"/> is below 1.</exception>
    public static BenchmarkResult ActingStep(int iterations = 2000)
    {
        Guard.AtLeast(iterations, 1, nameof(iterations));
        var spec = new EnvironmentSpec("3m-like", 3, 9, 30, 48, 60);
        var options = new TrainingOptions();
        var learner = Policy.CreateLearner(spec, options);
        var policy = new Policy(spec, options, F.Learner.init(learner, Rng.key(1)).Params);
        var random = new Random(2);
        var obs = Enumerable.Range(0, 3 * 30).Select(_ => (float)random.NextDouble()).ToArray();
        var avail = Enumerable.Repeat(true, 3 * 9).ToArray();
        var actions = new int[3];
        // tiered compilation swaps in optimised code only after ~100 ms without new methods: warm up for longer
        var warmup = Stopwatch.StartNew();
        for (var i = 0; i < 200 || warmup.ElapsedMilliseconds < 300; i++) policy.Act(obs, avail, actions);
        return TimeSteps("acting step (3 agents)", "n=3 A=9 O=30, GRU 64", iterations, 1, () => policy.Act(obs, avail, actions));
    }

    /// <summary>Times one greedy acting step of <paramref name="environments"/> environments stepped together, 3
    /// PyMARL-default GRU agents each (observation 30, 9 actions): one fused step over all their agents' rows, the
    /// hidden states carried and the chosen actions fed back as the previous ones. The result is per environment:
    /// the times and the allocated bytes of one step divided by <paramref name="environments"/>.</summary>
    /// <param name="environments">Environments stepped together (at least 1).</param>
    /// <param name="iterations">Timed steps (at least 1).</param>
    /// <returns>The timing, per environment.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A count is below 1.</exception>
    public static BenchmarkResult ActingStepBatch(int environments = 16, int iterations = 2000)
    {
        Guard.AtLeast(environments, 1, nameof(environments));
        Guard.AtLeast(iterations, 1, nameof(iterations));
        const int n = 3, a = 9, o = 30;
        var rows = environments * n;
        var spec = new EnvironmentSpec("3m-like", n, a, o, 48, 60);
        var options = new TrainingOptions();
        var learner = Policy.CreateLearner(spec, options);
        var agent = F.Learner.init(learner, Rng.key(1)).Params.Agent;
        var actor = F.ActorModule.create(options.AgentConfig(), spec.ToCore(), agent, rows);
        var random = new Random(2);
        var obs = Enumerable.Range(0, rows * o).Select(_ => (float)random.NextDouble()).ToArray();
        var avail = Enumerable.Range(0, rows * a).Select(i => i % a == 0 || random.NextDouble() < 0.7).ToArray();
        var hidden = new float[rows * actor.HiddenDim];
        var last = Enumerable.Repeat(-1, rows).ToArray();
        var actions = new int[rows];
        void Step()
        {
            F.ActorModule.greedy(actor, obs, last, hidden, avail, actions);
            actions.CopyTo(last, 0);
        }
        var warmup = Stopwatch.StartNew();
        for (var i = 0; i < 200 || warmup.ElapsedMilliseconds < 300; i++) Step();
        return TimeSteps($"acting step ({n} agents × {environments} envs, per env)",
            $"n={n} A={a} O={o}, GRU 64, {rows} rows a step", iterations, environments, Step);
    }

    /// <summary>Times a step of a few microseconds: like <see cref="Time"/>, with timestamps in place of a new
    /// Stopwatch per step (which would count as allocated bytes), the times and bytes divided by
    /// <paramref name="per"/>.</summary>
    static BenchmarkResult TimeSteps(string name, string sizes, int iterations, int per, Action step)
    {
        var times = new double[iterations];
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < iterations; i++)
        {
            var start = Stopwatch.GetTimestamp();
            step();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds / per;
        }
        var bytes = (GC.GetAllocatedBytesForCurrentThread() - allocated) / (double)iterations / per;
        Array.Sort(times);
        return new BenchmarkResult
        {
            Name = name, Sizes = sizes, Iterations = iterations, MedianMilliseconds = times[iterations / 2],
            MinMilliseconds = times[0], AllocatedBytes = bytes,
        };
    }

    /// <summary>Times steps of a built-in environment with uniformly random available actions on one thread,
    /// resetting finished episodes.</summary>
    /// <param name="environment">A name from <see cref="Environments.Names"/>, e.g. <c>combat:3m</c>.</param>
    /// <param name="steps">Timed steps (at least 1).</param>
    /// <returns>The timing, per step.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="environment"/> is null.</exception>
    /// <exception cref="ArgumentException">An unknown environment.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="steps"/> is below 1.</exception>
    public static BenchmarkResult EnvironmentSteps(string environment = "combat:3m", int steps = 20_000)
    {
        Guard.AtLeast(steps, 1, nameof(steps));
        var env = Environments.Create(environment).Core;
        var spec = env.Spec;
        var actions = new int[spec.NAgents];
        var rng = 12345UL;
        var t = 0UL;
        var state = env.Reset.Invoke(Rng.ofWords(1, 0));
        void Step()
        {
            var mask = env.AvailableActions.Invoke(state);
            for (var i = 0; i < spec.NAgents; i++)
            {
                int u;
                do
                {
                    rng = rng * 6364136223846793005UL + 1442695040888963407UL;
                    u = (int)((rng >> 33) % (ulong)spec.NActions);
                } while (!mask[i * spec.NActions + u]);
                actions[i] = u;
            }
            t++;
            var r = env.Step.Invoke(state).Invoke(actions).Invoke(Rng.ofWords(1, t));
            state = r.Item2.Terminated || r.Item2.Truncated ? env.Reset.Invoke(Rng.ofWords(2, t)) : r.Item1;
        }
        // warm-up: at least 2000 steps (or all of them) and, unless steps is small, 0.5 s, so that tiered compilation
        // has replaced the first code of the step by its optimised code before the clock starts
        var warmup = Stopwatch.StartNew();
        for (var i = 0; i < Math.Min(steps, 2000) || (steps >= 2000 && warmup.Elapsed.TotalSeconds < 0.5); i++) Step();
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < steps; i++) Step();
        var ms = clock.Elapsed.TotalMilliseconds / steps;
        return new BenchmarkResult
        {
            Name = $"environment step ({environment})",
            Sizes = $"n={spec.NAgents} A={spec.NActions} O={spec.ObsDim} S={spec.StateDim}, random actions, one thread",
            Iterations = steps,
            MedianMilliseconds = ms,
            MinMilliseconds = ms,
            AllocatedBytes = (GC.GetAllocatedBytesForCurrentThread() - allocated) / (double)steps,
        };
    }

    static BenchmarkResult Time(string name, string sizes, int iterations, Action op)
    {
        var times = new double[iterations];
        var allocatedAll = GC.GetTotalAllocatedBytes(precise: true);
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < iterations; i++)
        {
            var clock = Stopwatch.StartNew();
            op();
            times[i] = clock.Elapsed.TotalMilliseconds;
        }
        var bytes = (GC.GetAllocatedBytesForCurrentThread() - allocated) / (double)iterations;
        var bytesAll = (GC.GetTotalAllocatedBytes(precise: true) - allocatedAll) / (double)iterations;
        Array.Sort(times);
        return new BenchmarkResult
        {
            Name = name, Sizes = sizes, Iterations = iterations, MedianMilliseconds = times[iterations / 2],
            MinMilliseconds = times[0], AllocatedBytes = bytes, AllocatedBytesAllThreads = bytesAll,
        };
    }

    /// <summary>A random batch like the reference's: 70% of actions available (action 0 always), episode lengths in
    /// [T/2, T], even episodes terminated, odd ones cut by the limit.</summary>
    static F.EpisodeBatch RandomBatch(int b, int t, int n, int a, int o, int s, Random random)
    {
        var t1 = t + 1;
        float Normal() => (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        var avail = new float[b * t1 * n * a];
        for (var i = 0; i < avail.Length; i++) avail[i] = i % a == 0 || random.NextDouble() < 0.7 ? 1f : 0f;
        var actions = new int[b * t1 * n];
        for (var r = 0; r < actions.Length; r++)
        {
            int choice;
            do choice = random.Next(a); while (avail[r * a + choice] == 0f);
            actions[r] = choice;
        }
        var filled = new float[b * t1];
        var terminated = new float[b * t1];
        for (var e = 0; e < b; e++)
        {
            var len = t / 2 + random.Next(t - t / 2 + 1);
            for (var k = 0; k < len; k++) filled[e * t1 + k] = 1f;
            if (e % 2 == 0) terminated[e * t1 + len - 1] = 1f;
        }
        var obs = new float[b * t1 * n * o];
        var state = new float[b * t1 * s];
        var reward = new float[b * t1];
        for (var i = 0; i < obs.Length; i++) obs[i] = Normal();
        for (var i = 0; i < state.Length; i++) state[i] = Normal();
        for (var i = 0; i < reward.Length; i++) reward[i] = Normal();
        return new F.EpisodeBatch(b, t1, n, a, o, s, obs, state, actions, avail, reward, terminated, filled);
    }
}
