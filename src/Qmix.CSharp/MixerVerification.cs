using Microsoft.FSharp.Core;
using Qmix.Tensors;
using F = Qmix.Functional;

namespace Qmix;

/// <summary>Property-based verification of the mixers: at states and agent Qs drawn from a seed, QMIX-family mixers
/// must be monotonic in every agent's Q (∂Q_tot/∂Q_a ≥ 0, by autodiff) and must decompose the argmax (the tuple of
/// the agents' greedy actions attains the largest Q_tot over all joint actions). A failing check reports its first
/// counterexample.</summary>
/// <remarks>The mixer's parameters are drawn from the seed too (a fresh, untrained mixer). The negative control,
/// <see cref="CheckNegativeControl"/>, is QMIX's forward pass without the absolute value on the hypernetworks'
/// weights: it is not monotonic, and the check must find a counterexample.</remarks>
public static class MixerVerification
{
    /// <summary>The name of the negative-control mixer for <see cref="Check(string, int, int, int, int, ulong, TrainingOptions?)"/>.</summary>
    public const string NegativeControl = "qmix-no-abs";

    static readonly (string Name, Algorithm Algorithm)[] algorithms =
    [
        ("qmix", Algorithm.Qmix), ("vdn", Algorithm.Vdn), ("iql", Algorithm.Iql), ("qmix-ns", Algorithm.QmixNs),
        ("qmix-lin", Algorithm.QmixLin), ("vdn-s", Algorithm.VdnS), ("cw-qmix", Algorithm.CwQmix),
        ("ow-qmix", Algorithm.OwQmix),
    ];

    /// <summary>The mixers by name: <c>qmix</c>, <c>vdn</c>, <c>iql</c>, <c>qmix-ns</c>, <c>qmix-lin</c>,
    /// <c>vdn-s</c>, <c>cw-qmix</c>, <c>ow-qmix</c> (both use QMIX's mixer) and the negative control
    /// <c>qmix-no-abs</c>.</summary>
    public static IReadOnlyList<string> MixerNames { get; } = [.. algorithms.Select(a => a.Name), NegativeControl];

    /// <summary>The most joint actions (Actions^Agents) the argmax check enumerates.</summary>
    public static int MaxJointActions => F.VerifyConfig.defaults.MaxJointActions;

    /// <summary>Checks the mixer of an algorithm.</summary>
    /// <param name="algorithm">The algorithm whose mixer is checked (Weighted QMIX uses QMIX's).</param>
    /// <param name="agents">The number of agents N (at least 1).</param>
    /// <param name="actions">The number of actions A per agent (at least 1); A^N at most
    /// <see cref="MaxJointActions"/>.</param>
    /// <param name="stateSize">The width of the state the hypernetworks read (at least 1).</param>
    /// <param name="trials">The number of cases, each a batch of 16 points (at least 1).</param>
    /// <param name="seed">The seed of the cases and of the mixer's parameters.</param>
    /// <param name="options">The mixer's settings (<see cref="TrainingOptions.MixingEmbeddingSize"/>,
    /// <see cref="TrainingOptions.HypernetworkLayers"/>, …); null for the defaults.</param>
    /// <returns>Both reports.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A size or <paramref name="trials"/> is below 1, or
    /// <paramref name="algorithm"/> is not an <see cref="Algorithm"/>.</exception>
    /// <exception cref="ArgumentException">A^N is above <see cref="MaxJointActions"/>.</exception>
    public static VerificationResult Check(
        Algorithm algorithm, int agents = 3, int actions = 4, int stateSize = 8, int trials = 100, ulong seed = 1,
        TrainingOptions? options = null)
    {
        if (!Enum.IsDefined(algorithm))
            throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, $"{algorithm} is not an Algorithm");
        var config = Config(agents, actions, stateSize, trials, seed);
        // Weighted QMIX's mixer is QMIX's
        var mixer = ((options ?? new TrainingOptions()) with { Algorithm = algorithm }).MixerConfig();
        var spec = new F.EnvSpec("verify", agents, actions, 1, stateSize, 1);
        var (mono, argmax) = F.Verify.checkBuiltInWith(config, mixer, spec, F.HyperInput.GlobalState, Rng.key(seed));
        var name = algorithms.First(a => a.Algorithm == algorithm).Name;
        return new VerificationResult(name, Report(mono, name), Report(argmax, name));
    }

    /// <summary>Checks a mixer by name, the negative control included.</summary>
    /// <param name="mixer">A name from <see cref="MixerNames"/> (case-insensitive).</param>
    /// <param name="agents">The number of agents N (at least 1).</param>
    /// <param name="actions">The number of actions A per agent (at least 1).</param>
    /// <param name="stateSize">The width of the state (at least 1).</param>
    /// <param name="trials">The number of cases (at least 1).</param>
    /// <param name="seed">The seed of the cases and of the mixer's parameters.</param>
    /// <param name="options">The mixer's settings; null for the defaults.</param>
    /// <returns>Both reports.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="mixer"/> is null.</exception>
    /// <exception cref="ArgumentException">An unknown mixer (the message lists the names), or A^N above
    /// <see cref="MaxJointActions"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A size or <paramref name="trials"/> is below 1.</exception>
    public static VerificationResult Check(
        string mixer, int agents = 3, int actions = 4, int stateSize = 8, int trials = 100, ulong seed = 1,
        TrainingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(mixer);
        if (string.Equals(mixer, NegativeControl, StringComparison.OrdinalIgnoreCase))
            return CheckNegativeControl(agents, actions, stateSize, trials, seed, options);
        foreach (var (name, algorithm) in algorithms)
            if (string.Equals(mixer, name, StringComparison.OrdinalIgnoreCase))
                return Check(algorithm, agents, actions, stateSize, trials, seed, options);
        throw new ArgumentException($"unknown mixer '{mixer}'; known: {string.Join(", ", MixerNames)}", nameof(mixer));
    }

    /// <summary>Checks the negative control: QMIX's mixer with the absolute value left out, so that its weights can
    /// be negative. Both checks are expected to fail with a counterexample (with the default sizes, at the first
    /// case), which shows that the verifier can fail.</summary>
    /// <param name="agents">The number of agents N (at least 1).</param>
    /// <param name="actions">The number of actions A per agent (at least 1).</param>
    /// <param name="stateSize">The width of the state (at least 1).</param>
    /// <param name="trials">The number of cases (at least 1).</param>
    /// <param name="seed">The seed of the cases and of the mixer's parameters.</param>
    /// <param name="options">The mixer's widths and hypernetwork depth; null for the defaults.</param>
    /// <returns>Both reports.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A size or <paramref name="trials"/> is below 1.</exception>
    /// <exception cref="ArgumentException">A^N is above <see cref="MaxJointActions"/>.</exception>
    public static VerificationResult CheckNegativeControl(
        int agents = 3, int actions = 4, int stateSize = 8, int trials = 100, ulong seed = 1,
        TrainingOptions? options = null)
    {
        var config = Config(agents, actions, stateSize, trials, seed);
        var q = (options ?? new TrainingOptions()).QmixConfig();
        var mixer = F.Mixers.qmixWithoutAbs(q, agents, stateSize);
        var p = mixer.Init.Invoke(Rng.key(seed));
        var mono = F.Verify.checkMonotonic(mixer, p, agents, stateSize, config);
        var argmax = F.Verify.checkArgmaxDecomposition(mixer, p, agents, actions, stateSize, config);
        return new VerificationResult(NegativeControl, Report(mono, NegativeControl), Report(argmax, NegativeControl));
    }

    static F.VerifyConfig Config(int agents, int actions, int stateSize, int trials, ulong seed)
    {
        Guard.AtLeast(agents, 1, nameof(agents));
        Guard.AtLeast(actions, 1, nameof(actions));
        Guard.AtLeast(stateSize, 1, nameof(stateSize));
        Guard.AtLeast(trials, 1, nameof(trials));
        var d = F.VerifyConfig.defaults;
        if (Math.Pow(actions, agents) > d.MaxJointActions)
            throw new ArgumentException(
                $"{actions}^{agents} joint actions are more than the {d.MaxJointActions} the argmax check enumerates",
                nameof(actions));
        return new F.VerifyConfig(seed, trials, d.Batch, d.QRange, d.StateRange, d.LargeScale, d.Tolerance,
            d.ValueTolerance, d.MaxJointActions);
    }

    static VerificationReport Report(F.VerifyReport r, string name) => new()
    {
        Property = r.Property,
        Mixer = name,
        Claimed = r.Claimed,
        Passed = r.Passed,
        CasesChecked = r.CasesChecked,
        Seed = r.Seed,
        Counterexample = r.Counterexample?.Value,
        Description = F.Verify.describe(new F.VerifyReport(
            r.Property, name, r.Claimed, r.Passed, r.CasesChecked, r.Seed, r.Counterexample, r.Violation)),
    };
}
