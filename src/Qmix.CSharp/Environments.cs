using Microsoft.FSharp.Collections;
using Qmix.Functional.Envs;

namespace Qmix;

/// <summary>The built-in environments, by name (<see cref="Create"/>) and by a typed factory for each family: the
/// QMIX paper's matrix games, ma-gym's grid worlds (Checkers, Switch, PredatorPrey), Level-Based Foraging and a
/// SMAX-style combat simulator with the StarCraft maps of the QMIX paper.</summary>
/// <remarks>Every call makes a new handle; built-in environments are pure, so handles are cheap and independent.
/// </remarks>
public static class Environments
{
    static readonly string[] names = ListModule.ToArray(Registry.names);
    static readonly Lazy<IReadOnlyList<EnvironmentInfo>> catalogue = new(() =>
        ListModule.ToArray(Registry.all)
            .Select(e => new EnvironmentInfo(e.Name, e.Description, EnvironmentSpec.FromCore(e.Make.Invoke(null!).Spec)))
            .ToArray());

    /// <summary>The registered names, by family: the matrix games (<c>two-step</c>, <c>matrix:…</c>), the grid worlds
    /// (<c>checkers</c>, <c>switch2</c>, …), Level-Based Foraging (<c>lbf:…</c>) and combat (<c>combat:…</c>).</summary>
    public static IReadOnlyList<string> Names => names;

    /// <summary>Every built-in environment with its description and sizes, in the order of <see cref="Names"/>.</summary>
    public static IReadOnlyList<EnvironmentInfo> Catalogue => catalogue.Value;

    /// <summary>The combat maps (<c>3m</c>, <c>2s3z</c>, …), the QMIX paper's six first; pass one to
    /// <see cref="Combat"/>.</summary>
    public static IReadOnlyList<string> CombatMaps { get; } = Family("combat:");

    /// <summary>The Level-Based Foraging tasks (<c>8x8-2p-2f-coop</c>, <c>10x10-3p-3f</c>, …); pass one to
    /// <see cref="Lbf"/>.</summary>
    public static IReadOnlyList<string> LbfTasks { get; } = Family("lbf:");

    /// <summary>Makes the environment registered under a name.</summary>
    /// <param name="name">A name from <see cref="Names"/> (in any case), or a combat map with rules
    /// appended: <c>combat:2s3z,reward=smax</c>, <c>combat:3m,state=raw</c>, <c>combat:3m,walls=lethal</c>,
    /// <c>combat:3m,cooldown=fixed</c> (no cooldown jitter), or <c>combat:3m,smax</c> for all of SMAX's rules (the registered combat names play SMAC's).</param>
    /// <returns>A new handle.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    /// <exception cref="ArgumentException">No environment has that name; the message lists the known names.</exception>
    public static MultiAgentEnvironment Create(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var entry = Find(name);
        if (entry is null)
        {
            if (name.StartsWith("combat:", StringComparison.Ordinal) && name.Contains(','))
                throw new ArgumentException(Registry.combatNameError(name), nameof(name));
            throw new ArgumentException(
                $"no environment is registered as '{name}'; known names: {string.Join(", ", names)}", nameof(name));
        }
        return Make(entry.Value);
    }

    /// <summary>The QMIX paper's two-step game (§5): 2 agents, 2 actions, 2 steps; the optimal return is 8, which
    /// VDN cannot represent and QMIX can.</summary>
    /// <returns>A new handle.</returns>
    public static MultiAgentEnvironment TwoStep() => Create("two-step");

    /// <summary>The non-monotonic 3×3 matrix game of QTRAN and Weighted QMIX: one step, optimum (0, 0) = 8.</summary>
    /// <returns>A new handle.</returns>
    public static MultiAgentEnvironment NonMonotonic() => Create("matrix:non-monotonic");

    /// <summary>Claus and Boutilier's climbing game: one step, optimum (0, 0) = 11.</summary>
    /// <param name="repeated">Play it for 25 rounds with constant observations (best return 275) instead of
    /// once.</param>
    /// <returns>A new handle.</returns>
    public static MultiAgentEnvironment Climbing(bool repeated = false) =>
        Create(repeated ? "matrix:climbing-repeated" : "matrix:climbing");

    /// <summary>Claus and Boutilier's penalty game with k = −100: one step, optima (0, 0) and (2, 2) = 10.</summary>
    /// <param name="repeated">Play it for 25 rounds with constant observations (best return 250) instead of
    /// once.</param>
    /// <returns>A new handle.</returns>
    public static MultiAgentEnvironment Penalty(bool repeated = false) =>
        Create(repeated ? "matrix:penalty-repeated" : "matrix:penalty");

    /// <summary>ma-gym's Checkers (the VDN paper's): 2 agents collect apples and avoid lemons on a 3×8 board.</summary>
    /// <returns>A new handle.</returns>
    public static MultiAgentEnvironment Checkers() => Create("checkers");

    /// <summary>ma-gym's Switch: agents share a one-cell corridor to reach their goals.</summary>
    /// <param name="agents">2 (Switch2) or 4 (Switch4).</param>
    /// <returns>A new handle.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="agents"/> is not 2 or 4.</exception>
    public static MultiAgentEnvironment Switch(int agents) => agents is 2 or 4
        ? Create($"switch{agents}")
        : throw new ArgumentOutOfRangeException(nameof(agents), agents, "Switch has 2 or 4 agents");

    /// <summary>ma-gym's PredatorPrey: predators capture prey together (5×5: 2 predators, 1 prey; 7×7: 4 predators,
    /// 2 prey).</summary>
    /// <param name="gridSize">5 or 7.</param>
    /// <returns>A new handle.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="gridSize"/> is not 5 or 7.</exception>
    public static MultiAgentEnvironment PredatorPrey(int gridSize) => gridSize is 5 or 7
        ? Create($"predator-prey-{gridSize}x{gridSize}")
        : throw new ArgumentOutOfRangeException(nameof(gridSize), gridSize, "PredatorPrey comes in 5x5 and 7x7");

    /// <summary>A Level-Based Foraging task (lb-foraging v3, the EPyMARL benchmark's tasks).</summary>
    /// <param name="task">A task from <see cref="LbfTasks"/>, e.g. <c>10x10-3p-3f</c>.</param>
    /// <returns>A new handle.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="task"/> is null.</exception>
    /// <exception cref="ArgumentException">An unknown task; the message lists the known ones.</exception>
    public static MultiAgentEnvironment Lbf(string task) => FromFamily("lbf:", task, LbfTasks, nameof(task));

    /// <summary>A map of the SMAX-style combat simulator: the allies are the agents, the enemies follow a built-in
    /// heuristic.</summary>
    /// <param name="map">A map from <see cref="CombatMaps"/>, e.g. <c>3m</c> or <c>3s5z</c> (or its full name,
    /// <c>combat:3m</c>).</param>
    /// <returns>A new handle.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="map"/> is null.</exception>
    /// <exception cref="ArgumentException">An unknown map; the message lists the known ones.</exception>
    public static MultiAgentEnvironment Combat(string map) => FromFamily("combat:", map, CombatMaps, nameof(map));

    /// <summary>Wraps a user's environment so that it can be trained on, evaluated in and stepped like a built-in
    /// one. One instance plays every episode; when several must run at once
    /// (<see cref="TrainingOptions.ParallelEnvironments"/> above 1), episodes are replayed from their seeds (see
    /// <see cref="IMultiAgentEnvironment"/>). <see cref="Trainer"/> and <see cref="Evaluation"/> accept an
    /// <see cref="IMultiAgentEnvironment"/> directly and wrap it themselves.</summary>
    /// <param name="environment">The environment; it must be deterministic given the seed of each episode.</param>
    /// <returns>A handle; an environment that is already a handle is returned as it is.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="environment"/> is null.</exception>
    /// <exception cref="ArgumentException">Its <see cref="IMultiAgentEnvironment.Spec"/> is null.</exception>
    public static MultiAgentEnvironment Custom(IMultiAgentEnvironment environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        return MultiAgentEnvironment.From(environment, nameof(environment));
    }

    /// <summary>Wraps a factory of a user's environment: one instance is made for each episode that runs at the same
    /// time as others (<see cref="TrainingOptions.ParallelEnvironments"/>), so no episode is ever replayed. Instances are
    /// reused from one batch of episodes to the next.</summary>
    /// <param name="factory">Makes a new, independent instance; every instance must have the same spec.</param>
    /// <returns>A handle.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="factory"/> is null.</exception>
    /// <exception cref="ArgumentException">The factory returned null, or an environment whose spec is null.</exception>
    public static MultiAgentEnvironment Custom(Func<IMultiAgentEnvironment> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        var first = factory() ?? throw new ArgumentException("the factory returned null", nameof(factory));
        return UserEnvironment.Wrap(first, factory, nameof(factory));
    }

    static MultiAgentEnvironment FromFamily(string prefix, string? variant, IReadOnlyList<string> known, string param)
    {
        ArgumentNullException.ThrowIfNull(variant, param);
        // "3m" and "combat:3m" name the same map
        var full = variant.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? variant : prefix + variant;
        var entry = Find(full);
        if (entry is null)
            throw new ArgumentException($"unknown {param} '{variant}'; known: {string.Join(", ", known)}", param);
        return Make(entry.Value);
    }

    /// <summary>The registry's entry for a name, its case ignored (every registered name is lower-case).</summary>
    static Microsoft.FSharp.Core.FSharpOption<EnvEntry>? Find(string name) =>
        Registry.tryFind(name) ?? Registry.tryFind(name.ToLowerInvariant());

    static MultiAgentEnvironment Make(EnvEntry entry) =>
        new(entry.Name, entry.Description, entry.Make.Invoke(null!), s => entry.RenderText.Invoke(s),
            entry.RenderSvg is { } svg ? s => svg.Value.Invoke(s) : null);

    static string[] Family(string prefix) =>
        names.Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).Select(n => n[prefix.Length..]).ToArray();
}
