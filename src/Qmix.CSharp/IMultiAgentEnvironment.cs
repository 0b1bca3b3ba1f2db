namespace Qmix;

/// <summary>A cooperative multi-agent environment written by a user: N agents act together, the team gets one
/// reward. Implement it to train on (<see cref="Trainer"/>) and evaluate in (<see cref="Evaluation"/>) an
/// environment of one's own; the runner treats it like a built-in one. The built-in
/// <see cref="MultiAgentEnvironment"/> implements it too.</summary>
/// <remarks>
/// <para>The environment may be mutable: <see cref="Reset"/> starts an episode, <see cref="Step"/> advances it, and
/// the three array properties describe the current step. The facade steps it sequentially, from one thread at a
/// time, and never between a <see cref="Reset"/> and the end of the episode from elsewhere; do not step it yourself
/// while a trainer or an evaluation is using it.</para>
/// <para>For reproducible runs, an episode must be a deterministic function of the seed given to
/// <see cref="Reset"/> and the actions taken (draw any randomness from a generator seeded in <see cref="Reset"/>).
/// The facade relies on it when one instance has to play several episodes at once (with
/// <see cref="TrainingOptions.ParallelEnvironments"/> above 1): it then replays an episode's actions from its seed to get
/// back to it. <see cref="Environments.Custom(Func{IMultiAgentEnvironment})"/> avoids the replays by making one
/// instance per parallel episode.</para>
/// <para>An episode ends when <see cref="Step"/> reports it terminated or truncated, or after
/// <see cref="EnvironmentSpec.EpisodeLimit"/> steps; it is not stepped further. Every agent must always have at
/// least one available action.</para>
/// </remarks>
public interface IMultiAgentEnvironment
{
    /// <summary>The environment's sizes; the same value for the environment's whole life.</summary>
    EnvironmentSpec Spec { get; }

    /// <summary>Starts a new episode.</summary>
    /// <param name="seed">The episode's seed: the same seed and actions must give the same episode.</param>
    void Reset(ulong seed);

    /// <summary>Takes one joint action.</summary>
    /// <param name="actions">One action index per agent (<c>Spec.Agents</c> values), each available.</param>
    /// <returns>The team reward and whether the episode ended.</returns>
    StepResult Step(int[] actions);

    /// <summary>Every agent's observation of the current step, agent by agent (<c>Spec.Agents ×
    /// Spec.ObservationSize</c> values).</summary>
    float[] Observations { get; }

    /// <summary>The global state of the current step (<c>Spec.StateSize</c> values), seen by the mixer during
    /// training only.</summary>
    float[] State { get; }

    /// <summary>Which actions each agent may take at the current step, agent by agent (<c>Spec.Agents ×
    /// Spec.Actions</c> flags, true = available).</summary>
    bool[] AvailableActions { get; }
}
