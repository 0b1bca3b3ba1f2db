using Microsoft.FSharp.Core;
using Qmix.Functional;
using Qmix.Functional.Envs;
using F = Qmix.Functional;

namespace Qmix;

/// <summary>The value-factorisation algorithms the facade can train.</summary>
public enum Algorithm
{
    /// <summary>QMIX: a monotonic mixing network conditioned on the state by hypernetworks.</summary>
    Qmix,
    /// <summary>VDN: the sum of the agents' utilities.</summary>
    Vdn,
    /// <summary>Independent Q-learners on the team reward (no mixer).</summary>
    Iql,
    /// <summary>The QMIX paper's ablation without hypernetworks (state-independent non-negative weights).</summary>
    QmixNs,
    /// <summary>The QMIX paper's ablation without a hidden mixing layer.</summary>
    QmixLin,
    /// <summary>The QMIX paper's ablation: VDN plus a state value V(s).</summary>
    VdnS,
    /// <summary>Centrally-weighted QMIX (Weighted QMIX).</summary>
    CwQmix,
    /// <summary>Optimistically-weighted QMIX (Weighted QMIX).</summary>
    OwQmix,
}

/// <summary>Settings for training on one of the QMIX paper's matrix games, with uniform exploration as in the paper.</summary>
public sealed class MatrixGameOptions
{
    /// <summary>The game: <c>two-step</c> (the QMIX paper's §5) or <c>non-monotonic</c> (the 3×3 game of Weighted QMIX).</summary>
    public string Game { get; init; } = "two-step";

    /// <summary>The algorithm.</summary>
    public Algorithm Algorithm { get; init; } = Algorithm.Qmix;

    /// <summary>Environment steps to train for.</summary>
    public int TotalSteps { get; init; } = 10_000;

    /// <summary>The seed every random choice derives from.</summary>
    public ulong Seed { get; init; } = 1;
}

/// <summary>Progress reported while training.</summary>
/// <param name="Step">Environment steps so far.</param>
/// <param name="Episode">Episodes so far.</param>
/// <param name="Loss">The last update's loss (NaN before the first update).</param>
/// <param name="StepsPerSecond">Throughput so far.</param>
public sealed record TrainingProgress(int Step, int Episode, double Loss, double StepsPerSecond);

/// <summary>The outcome of training on a matrix game.</summary>
/// <param name="Game">The game's name.</param>
/// <param name="Algorithm">The algorithm.</param>
/// <param name="Steps">Environment steps taken.</param>
/// <param name="Episodes">Episodes played.</param>
/// <param name="GreedyReturn">The return of the learned greedy (ε = 0) joint policy.</param>
/// <param name="BestReturn">The best return the game allows.</param>
/// <param name="Seconds">Wall-clock time of the training.</param>
public sealed record MatrixGameResult(
    string Game, Algorithm Algorithm, int Steps, int Episodes, double GreedyReturn, double BestReturn, double Seconds);

/// <summary>Trains the family of QMIX on the paper's matrix games with uniform exploration (ε = 1).</summary>
public static class MatrixGameTraining
{
    static TrainingConfig Config(MatrixGameOptions o)
    {
        var d = TrainingConfig.defaults;
        var learner = LearnerConfig.defaults;
        var agent = new AgentConfig(AgentKind.Rnn, 16, learner.Agent.LastAction, learner.Agent.AgentId, true);
        var qmix = new QmixConfig(8, 1, 64, NonNegative.Abs);
        MixerConfig mixer = o.Algorithm switch
        {
            Algorithm.Vdn => MixerConfig.Vdn,
            Algorithm.Iql => MixerConfig.Independent,
            Algorithm.QmixNs => MixerConfig.NewQmixNs(qmix),
            Algorithm.QmixLin => MixerConfig.NewQmixLin(qmix),
            Algorithm.VdnS => MixerConfig.NewVdnS(qmix),
            _ => MixerConfig.NewQmix(qmix),
        };
        var weighted = o.Algorithm switch
        {
            Algorithm.CwQmix => FSharpOption<WeightedConfig>.Some(new WeightedConfig(Weighting.Centralised, 0.1f, 64, 1f, 1f)),
            Algorithm.OwQmix => FSharpOption<WeightedConfig>.Some(new WeightedConfig(Weighting.Optimistic, 0.1f, 64, 1f, 1f)),
            _ => FSharpOption<WeightedConfig>.None,
        };
        var learnerCfg = new LearnerConfig(
            agent, learner.HyperInput, learner.Gamma, learner.DoubleQ, learner.Target, learner.LossScale,
            learner.GradNormClip, learner.Optimizer, TargetUpdate.NewHardEvery(100), weighted);
        return new TrainingConfig(
            learnerCfg, mixer, o.TotalSteps, 32, 500, new EpsilonSchedule(1f, 1f, 1), 1, d.TestInterval, 0,
            0, FSharpOption<string>.None, o.Seed);
    }

    static MatrixGameResult Run<TState>(
        Env<TState> env, MatrixGameOptions o, double best, IProgress<TrainingProgress>? progress, CancellationToken ct)
    {
        var cfg = Config(o);
        var trainer = Training.create(cfg, env);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var state = Training.init(trainer);
        var loss = double.NaN;
        foreach (var (next, events) in Training.iterations(trainer, state))
        {
            ct.ThrowIfCancellationRequested();
            foreach (var e in events)
            {
                if (e is TrainingEvent.Updated u) loss = u.Item.Metrics.Loss;
            }
            var c = next.Counters;
            if (progress is not null && (c.Episode % 500 == 0))
            {
                progress.Report(new TrainingProgress(c.Step, c.Episode, loss, c.Step / Math.Max(clock.Elapsed.TotalSeconds, 1e-9)));
            }
            state = next;
        }
        var test = Runner.evaluate(env, cfg.Learner.Agent, state.Learner.Params.Agent, 1, 1, Qmix.Tensors.Rng.key(0));
        return new MatrixGameResult(
            env.Spec.Name, o.Algorithm, state.Counters.Step, state.Counters.Episode, test.MeanReturn, best,
            clock.Elapsed.TotalSeconds);
    }

    /// <summary>Trains on a matrix game and evaluates the greedy joint policy.</summary>
    /// <param name="options">The game, algorithm, steps and seed.</param>
    /// <param name="progress">Receives progress every 500 episodes; may be null.</param>
    /// <param name="cancellationToken">Stops training between iterations.</param>
    /// <exception cref="ArgumentException">An unknown game.</exception>
    public static MatrixGameResult Train(
        MatrixGameOptions options, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Game switch
        {
            "two-step" => Run(MatrixGames.twoStep, options, 8.0, progress, cancellationToken),
            "non-monotonic" => Run(MatrixGames.nonMonotonic, options, 8.0, progress, cancellationToken),
            _ => throw new ArgumentException($"unknown game '{options.Game}': expected two-step or non-monotonic", nameof(options)),
        };
    }
}
