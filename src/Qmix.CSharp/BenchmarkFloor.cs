using System.Diagnostics;
using System.Globalization;
using Qmix.Tensors;
using F = Qmix.Functional;

namespace Qmix;

/// <summary>One term of a learner update's FLOP count.</summary>
/// <param name="Name">What it counts, e.g. <c>online agents: forward + backward, T+1 steps</c>.</param>
/// <param name="Formula">The count with the sizes filled in, e.g. <c>3 × 61 × 2·96·(42·64 + 6·64² + 64·9)</c>.</param>
/// <param name="Flops">The floating-point operations.</param>
public sealed record FlopTerm(string Name, string Formula, double Flops);

/// <summary>The floating-point operations of one PyMARL-default QMIX learner update, counted from the sizes: the
/// matrix products only (a product [m,k]·[k,n] is 2·m·k·n FLOP; its backward pass is twice its forward), since the
/// element-wise work is a few percent of it.</summary>
public sealed record FlopCount
{
    /// <summary>The sizes, as in <see cref="BenchmarkResult.Sizes"/> of the same update.</summary>
    public required string Sizes { get; init; }

    /// <summary>The terms: online agents forward + backward through T+1 steps, target agents forward through T+1
    /// steps, online mixer forward + backward over T steps, target mixer forward over T+1 steps.</summary>
    public required IReadOnlyList<FlopTerm> Terms { get; init; }

    /// <summary>The sum of the terms.</summary>
    public double Total => Terms.Sum(t => t.Flops);

    /// <summary>The time the update would take at the kernel's peak on every core used: FLOPs / (peak × cores), in
    /// milliseconds.</summary>
    /// <param name="peakGflops">The single-thread peak (<see cref="KernelPeakResult.Gflops"/>).</param>
    /// <param name="cores">The cores the update may use (at least 1).</param>
    /// <returns>The floor time in milliseconds.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The peak is not a positive finite number or
    /// <paramref name="cores"/> is below 1.</exception>
    public double FloorMilliseconds(double peakGflops, int cores)
    {
        Guard.Positive(peakGflops, nameof(peakGflops));
        Guard.AtLeast(cores, 1, nameof(cores));
        return Total / (peakGflops * 1e9 * cores) * 1e3;
    }
}

/// <summary>The single-thread peak of the matmul kernel: the ceiling a learner update's GFLOP/s are compared
/// against.</summary>
public sealed record KernelPeakResult
{
    /// <summary>The instruction set the kernel ran on (<c>Kernels.activeIsa</c>: Vector512, Vector256 or
    /// Scalar).</summary>
    public required string Isa { get; init; }

    /// <summary>The product timed, e.g. <c>[96×64]·[64×192] NN</c>.</summary>
    public required string Shape { get; init; }

    /// <summary>The best time of one product, in milliseconds.</summary>
    public required double MinMilliseconds { get; init; }

    /// <summary>Billions of floating-point operations per second at the best time.</summary>
    public required double Gflops { get; init; }
}

public static partial class Benchmarks
{
    /// <summary>The sizes of a learner-update benchmark: batch, episode limit, agents, actions, observation and state
    /// widths.</summary>
    static (int B, int T, int N, int A, int O, int S) Dimensions(BenchmarkSize size) => size switch
    {
        BenchmarkSize.ThreeM => (32, 60, 3, 9, 30, 48),
        BenchmarkSize.ThreeS5Z => (32, 150, 8, 14, 80, 120),
        _ => throw new ArgumentOutOfRangeException(nameof(size), size, $"{size} is not a BenchmarkSize"),
    };

    /// <summary>Counts the FLOPs of one PyMARL-default QMIX learner update at the given sizes (GRU agents of width
    /// 64 with last action and agent id in the input, mixer embedding 32, 2-layer hypernetworks of width 64), as
    /// timed by <see cref="LearnerUpdate"/>.</summary>
    /// <remarks>With H the GRU width, D = obs + A + N the agent input, R = B·N rows, E the mixer embedding and
    /// W the hypernetwork width, one agent step is 2·R·(D·H + 3H·H + 3H·H + H·A) (fc1, the GRU's input and hidden
    /// gates, fc2) and one mixer row is 2·(S·W + W·E·N + S·W + W·E + S·E + S·E + E + N·E + E) (hyper_w_1,
    /// hyper_w_final, hyper_b_1, V, and the two mixing products). The online agents run forward and backward through
    /// all T+1 steps, the target agents forward through T+1; the online mixer runs forward and backward over T steps,
    /// the target mixer forward over T+1.</remarks>
    /// <param name="size">The sizes.</param>
    /// <returns>The count, term by term.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is not a <see cref="BenchmarkSize"/>.</exception>
    public static FlopCount LearnerUpdateFlops(BenchmarkSize size = BenchmarkSize.ThreeM)
    {
        var (b, t, n, a, o, s) = Dimensions(size);
        var agent = F.AgentConfig.defaults;
        var mixer = F.QmixConfig.defaults;
        var h = agent.Hidden;
        var d = F.Agent.inputDim(agent, new F.EnvSpec("flops", n, a, o, s, t));
        var e = mixer.Embed;
        var w = mixer.HypernetEmbed;
        var r = b * n;
        var inv = CultureInfo.InvariantCulture;

        var agentStep = 2.0 * r * ((double)d * h + 6.0 * h * h + (double)h * a);
        var agentText = $"2·{r}·({d}·{h} + 6·{h}² + {h}·{a})";
        // hyper_w_1 and hyper_w_final: S→W→E·N and S→W→E with two layers, S→E·N and S→E with one
        double hyperW1, hyperWFinal;
        string hyperText;
        if (mixer.HypernetLayers == 2)
        {
            hyperW1 = (double)s * w + (double)w * e * n;
            hyperWFinal = (double)s * w + (double)w * e;
            hyperText = $"{s}·{w} + {w}·{e}·{n} + {s}·{w} + {w}·{e}";
        }
        else
        {
            hyperW1 = (double)s * e * n;
            hyperWFinal = (double)s * e;
            hyperText = $"{s}·{e}·{n} + {s}·{e}";
        }
        var mixerRow = 2.0 * (hyperW1 + hyperWFinal + s * e + s * e + e + n * e + e);
        var mixerText = $"2·({hyperText} + {s}·{e} + {s}·{e} + {e} + {n}·{e} + {e})";
        return new FlopCount
        {
            Sizes = $"B={b} T={t} n={n} A={a} O={o} S={s}",
            Terms =
            [
                new FlopTerm($"online agents: forward + backward, T+1 = {t + 1} steps",
                    $"3 × {t + 1} × {agentText}", 3.0 * (t + 1) * agentStep),
                new FlopTerm($"target agents: forward, T+1 = {t + 1} steps",
                    $"{t + 1} × {agentText}", (t + 1) * agentStep),
                new FlopTerm($"online mixer: forward + backward, B·T = {b * t} rows",
                    $"3 × {b}·{t} × {mixerText}", 3.0 * b * t * mixerRow),
                new FlopTerm($"target mixer: forward, B·(T+1) = {b * (t + 1)} rows",
                    $"{b}·{t + 1} × {mixerText}", (double)b * (t + 1) * mixerRow),
            ],
        };
    }

    /// <summary>Measures the single-thread peak of the matmul kernel (<c>Qmix.Tensors.Kernels.matmulNN</c> on the
    /// machine's best instruction set: Vector512 FMA tiles with AVX-512, Vector256 with AVX2) on a product at the agent
    /// network's shapes that stays in cache, [96×64]·[64×192]: the best of five batches, each about a fifth of
    /// <paramref name="seconds"/>, after 0.4 s of warm-up for the JIT.</summary>
    /// <param name="seconds">The time to spend measuring, above 0.</param>
    /// <returns>The peak.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="seconds"/> is not a positive finite
    /// number.</exception>
    public static KernelPeakResult KernelPeak(double seconds = 0.5)
    {
        Guard.Positive(seconds, nameof(seconds));
        const int m = 96, k = 64, n = 192;
        var random = new Random(1);
        var a = Enumerable.Range(0, m * k).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var b = Enumerable.Range(0, k * n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var c = new float[m * n];
        void Once() => Kernels.matmulNN(m, k, n, a, b, c, false);
        // long enough for tiered compilation to replace the kernel's first code by its optimised code (call
        // counting starts 100 ms after the last new method ran), then a batch size from the warm time of a call
        var clock = Stopwatch.StartNew();
        var warm = 0;
        while (warm < 200 || clock.Elapsed.TotalSeconds < 0.4)
        {
            Once();
            warm++;
        }
        clock.Restart();
        for (var i = 0; i < 20; i++) Once();
        var calls = Math.Max(1, (int)(seconds / 5 / Math.Max(clock.Elapsed.TotalSeconds / 20, 1e-7)));
        var best = double.MaxValue;
        for (var batch = 0; batch < 5; batch++)
        {
            clock.Restart();
            for (var i = 0; i < calls; i++) Once();
            best = Math.Min(best, clock.Elapsed.TotalSeconds / calls);
        }
        return new KernelPeakResult
        {
            Isa = Kernels.activeIsa,
            Shape = $"[{m}×{k}]·[{k}×{n}] NN",
            MinMilliseconds = best * 1e3,
            Gflops = 2.0 * m * k * n / best / 1e9,
        };
    }
}
