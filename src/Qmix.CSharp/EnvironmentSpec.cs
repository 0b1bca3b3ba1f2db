using F = Qmix.Functional;

namespace Qmix;

/// <summary>The sizes of a multi-agent environment (PyMARL's <c>env_info</c>): how many agents, how many actions
/// each, the widths of one agent's observation and of the global state, and the longest episode.</summary>
/// <remarks>Two specs are equal when every property is equal. A policy can only act in, and be evaluated on, an
/// environment whose spec equals the one it was trained for.</remarks>
public sealed class EnvironmentSpec : IEquatable<EnvironmentSpec>
{
    /// <summary>Creates a spec, checking every size.</summary>
    /// <param name="name">The environment's name, e.g. <c>two-step</c> (not empty).</param>
    /// <param name="agents">The number of agents N (at least 1).</param>
    /// <param name="actions">The number of actions A of every agent (at least 1).</param>
    /// <param name="observationSize">The width of one agent's observation (at least 1).</param>
    /// <param name="stateSize">The width of the global state (at least 1).</param>
    /// <param name="episodeLimit">The most steps an episode may take (at least 1); an episode that reaches it is
    /// truncated.</param>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A size is below 1; the exception names it.</exception>
    public EnvironmentSpec(string name, int agents, int actions, int observationSize, int stateSize, int episodeLimit)
    {
        Name = Guard.NotEmpty(name, nameof(name));
        Agents = Guard.AtLeast(agents, 1, nameof(agents));
        Actions = Guard.AtLeast(actions, 1, nameof(actions));
        ObservationSize = Guard.AtLeast(observationSize, 1, nameof(observationSize));
        StateSize = Guard.AtLeast(stateSize, 1, nameof(stateSize));
        EpisodeLimit = Guard.AtLeast(episodeLimit, 1, nameof(episodeLimit));
    }

    /// <summary>The environment's name.</summary>
    public string Name { get; }

    /// <summary>The number of agents N.</summary>
    public int Agents { get; }

    /// <summary>The number of actions A of every agent.</summary>
    public int Actions { get; }

    /// <summary>The width of one agent's observation; the observations of all agents are
    /// <c>Agents × ObservationSize</c> values, agent by agent.</summary>
    public int ObservationSize { get; }

    /// <summary>The width of the global state.</summary>
    public int StateSize { get; }

    /// <summary>The most steps an episode may take.</summary>
    public int EpisodeLimit { get; }

    /// <summary>Whether another spec has the same name and sizes.</summary>
    /// <param name="other">The other spec, or null.</param>
    /// <returns>True when every property is equal.</returns>
    public bool Equals(EnvironmentSpec? other) =>
        other is not null && Name == other.Name && Agents == other.Agents && Actions == other.Actions
        && ObservationSize == other.ObservationSize && StateSize == other.StateSize && EpisodeLimit == other.EpisodeLimit;

    /// <summary>Whether an object is an equal spec.</summary>
    /// <param name="obj">The object, or null.</param>
    /// <returns>True when it is an <see cref="EnvironmentSpec"/> with the same name and sizes.</returns>
    public override bool Equals(object? obj) => Equals(obj as EnvironmentSpec);

    /// <summary>A hash of the name and sizes.</summary>
    /// <returns>The hash code.</returns>
    public override int GetHashCode() => HashCode.Combine(Name, Agents, Actions, ObservationSize, StateSize, EpisodeLimit);

    /// <summary>The spec on one line, e.g. <c>two-step: 2 agents × 2 actions, observation 3, state 3, limit 2</c>.</summary>
    /// <returns>The description.</returns>
    public override string ToString() =>
        $"{Name}: {Agents} agents × {Actions} actions, observation {ObservationSize}, state {StateSize}, limit {EpisodeLimit}";

    internal F.EnvSpec ToCore() => new(Name, Agents, Actions, ObservationSize, StateSize, EpisodeLimit);

    internal static EnvironmentSpec FromCore(F.EnvSpec s) =>
        new(s.Name, s.NAgents, s.NActions, s.ObsDim, s.StateDim, s.EpisodeLimit);
}
