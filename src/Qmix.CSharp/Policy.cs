using Qmix.Tensors;
using F = Qmix.Functional;
using CoreParams = Qmix.Functional.QParams<Qmix.Functional.MixerParams>;

namespace Qmix;

/// <summary>Trained agents for decentralised execution: each agent picks its greedy action from its own observation
/// and its own recurrent memory (the GRU's hidden state), which <see cref="Act(float[], bool[])"/> carries from one
/// call to the next. The mixer is not needed to act; it is kept so that <see cref="Save"/> writes the whole
/// model.</summary>
/// <remarks>
/// <para>Call <see cref="Reset"/> at the start of every episode, then <see cref="Act(float[], bool[])"/> once per step
/// with what the environment shows (or its overload that writes into a span and allocates nothing). Actions are
/// greedy: the largest Q-value among the available actions, the first on ties, as in training's greedy
/// evaluations.</para>
/// <para>A policy is not thread-safe (it holds the episode's memory); give each thread its own with
/// <see cref="Clone"/>.</para>
/// </remarks>
public sealed class Policy
{
    readonly F.AgentConfig agentConfig;
    // the agents' networks packed for the fused acting step, and the episode's memory: every agent's hidden state
    // and previous action
    readonly F.Actor actor;
    readonly float[] hidden;
    readonly int[] lastActions;
    // the episode's step, for messages
    int step;

    internal Policy(EnvironmentSpec spec, TrainingOptions options, CoreParams parameters)
    {
        Spec = spec;
        Options = options;
        Parameters = parameters;
        agentConfig = options.AgentConfig();
        actor = F.ActorModule.create(agentConfig, spec.ToCore(), parameters.Agent, spec.Agents);
        hidden = new float[spec.Agents * actor.HiddenDim];
        lastActions = new int[spec.Agents];
        Array.Fill(lastActions, -1);
    }

    /// <summary>The online parameters (agents, mixer and, for Weighted QMIX, Q̂*).</summary>
    internal CoreParams Parameters { get; }

    internal F.AgentConfig AgentConfig => agentConfig;

    /// <summary>The sizes of the environment the policy acts in.</summary>
    public EnvironmentSpec Spec { get; }

    /// <summary>The options the policy was trained with (they fix the networks' shapes).</summary>
    public TrainingOptions Options { get; }

    /// <summary>Forgets the episode: every agent's hidden state back to zero and no previous action. Call it at
    /// the start of every episode.</summary>
    public void Reset()
    {
        Array.Clear(hidden);
        Array.Fill(lastActions, -1);
        step = 0;
    }

    /// <summary>Every agent's greedy action for one step, each from its own observation and memory; the memory
    /// moves on to the next step.</summary>
    /// <param name="observations">Every agent's observation, agent by agent (<c>Agents × ObservationSize</c>
    /// values), as <see cref="MultiAgentEnvironment.Observations"/> gives them.</param>
    /// <param name="availableActions">Which actions each agent may take, agent by agent (<c>Agents × Actions</c>
    /// flags, true = available).</param>
    /// <returns>One action per agent, each available (a new array; <see cref="Act(ReadOnlySpan{float},
    /// ReadOnlySpan{bool}, Span{int})"/> writes into the caller's instead).</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">An array has the wrong length (both lengths are in the message), or an
    /// agent has no available action.</exception>
    /// <exception cref="NonFiniteQValueException">An agent's Q-value is NaN or infinite (the message names the agent
    /// and the step since <see cref="Reset"/>).</exception>
    public int[] Act(float[] observations, bool[] availableActions)
    {
        ArgumentNullException.ThrowIfNull(observations);
        ArgumentNullException.ThrowIfNull(availableActions);
        var actions = new int[Spec.Agents];
        Act(observations, availableActions, actions);
        return actions;
    }

    /// <summary>Every agent's greedy action for one step, written into <paramref name="actions"/>: the same step as
    /// <see cref="Act(float[], bool[])"/>, without allocating (a step takes a few microseconds: the agents' networks
    /// were packed for it when the policy was made).</summary>
    /// <param name="observations">Every agent's observation, agent by agent (<c>Agents × ObservationSize</c>
    /// values).</param>
    /// <param name="availableActions">Which actions each agent may take, agent by agent (<c>Agents × Actions</c>
    /// flags, true = available).</param>
    /// <param name="actions">Receives one action per agent (<c>Agents</c> values), each available; an
    /// <c>int[]</c> converts to it.</param>
    /// <exception cref="ArgumentException">A span has the wrong length (both lengths are in the message), or an
    /// agent has no available action. The memory is not changed then.</exception>
    /// <exception cref="NonFiniteQValueException">An agent's Q-value is NaN or infinite.</exception>
    public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> availableActions, Span<int> actions)
    {
        int n = Spec.Agents, a = Spec.Actions;
        if (observations.Length != n * Spec.ObservationSize)
            throw new ArgumentException(
                $"{Spec.Name}: {observations.Length} observation values, expected {n * Spec.ObservationSize} " +
                $"({n} agents × {Spec.ObservationSize})", nameof(observations));
        if (availableActions.Length != n * a)
            throw new ArgumentException(
                $"{Spec.Name}: {availableActions.Length} available-action flags, expected {n * a} ({n} agents × {a} actions)",
                nameof(availableActions));
        if (actions.Length != n)
            throw new ArgumentException($"{Spec.Name}: room for {actions.Length} actions, expected {n} (one per agent)",
                nameof(actions));
        for (var agent = 0; agent < n; agent++)
            if (!availableActions.Slice(agent * a, a).Contains(true))
                throw new ArgumentException($"{Spec.Name}: agent {agent} has no available action", nameof(availableActions));

        // the first largest Q-value among the available actions (as the runner's greedy choice)
        try
        {
            F.ActorModule.greedy(actor, observations, lastActions, hidden, availableActions, actions);
        }
        catch (F.NonFiniteQValueException e)
        {
            throw new NonFiniteQValueException(
                $"{Spec.Name}: agent {e.Agent} at step {step} has Q-value {e.Value} for action {e.Action}: the policy's " +
                "parameters hold NaN or infinite values (diverged training, or a damaged model); no action is chosen",
                e.Agent, step, e);
        }
        actions.CopyTo(lastActions);
        step++;
    }

    /// <summary>A policy with the same parameters and a fresh memory (as after <see cref="Reset"/>).</summary>
    /// <returns>The copy.</returns>
    public Policy Clone() => new(Spec, Options, Parameters);

    /// <summary>Writes the model: <c>NAME.safetensors</c> (the parameters under PyTorch's state_dict names, e.g.
    /// <c>agent.fc1.weight</c>) and <c>NAME.options.json</c> (the spec and the options).</summary>
    /// <param name="path">The model path, with or without <c>.safetensors</c>; directories are created.</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="IOException">The files cannot be written.</exception>
    public void Save(string path)
    {
        Guard.NotEmpty(path, nameof(path));
        var model = ModelFiles.ModelPath(path);
        var dir = Path.GetDirectoryName(Path.GetFullPath(model));
        if (dir is not null) Directory.CreateDirectory(dir);
        F.Checkpoint.saveModel(path, Parameters);
        ModelFiles.WriteSidecar(path, Spec, Options);
    }

    /// <summary>Reads a model written by <see cref="Save"/> or <see cref="Trainer.Save"/>, taking the spec and the
    /// options from its <c>NAME.options.json</c>.</summary>
    /// <param name="path">The model path, with or without <c>.safetensors</c>.</param>
    /// <returns>The policy, with a fresh memory.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="FileNotFoundException">The model or its <c>NAME.options.json</c> is missing (for a model
    /// without one, use <see cref="Load(string, EnvironmentSpec, TrainingOptions?)"/>).</exception>
    /// <exception cref="InvalidDataException">A file is corrupt or does not fit the spec and options.</exception>
    public static Policy Load(string path)
    {
        Guard.NotEmpty(path, nameof(path));
        var sidecar = ModelFiles.ReadSidecar(path)
            ?? throw new FileNotFoundException(
                $"no {ModelFiles.SidecarPath(path)} beside the model; pass the environment's spec and the options",
                ModelFiles.SidecarPath(path));
        return Read(path, sidecar.Spec, sidecar.Options);
    }

    /// <summary>Reads a model's parameters for an environment's spec: a model written by <see cref="Save"/> or
    /// <see cref="Trainer.Save"/>, or a PyTorch state_dict saved with safetensors under PyMARL's names.</summary>
    /// <param name="path">The model path, with or without <c>.safetensors</c>.</param>
    /// <param name="spec">The spec of the environment the policy will act in.</param>
    /// <param name="options">The options the model was trained with (they fix the networks' shapes); null takes
    /// them from the model's <c>NAME.options.json</c> when there is one, and the defaults otherwise.</param>
    /// <returns>The policy, with a fresh memory.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> or <paramref name="spec"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty, or the model's
    /// <c>NAME.options.json</c> names another spec.</exception>
    /// <exception cref="FileNotFoundException">There is no model at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">The file is corrupt, or a tensor is missing, unexpected or of the
    /// wrong shape for the spec and options (the message names it).</exception>
    public static Policy Load(string path, EnvironmentSpec spec, TrainingOptions? options = null)
    {
        Guard.NotEmpty(path, nameof(path));
        ArgumentNullException.ThrowIfNull(spec);
        var sidecar = ModelFiles.ReadSidecar(path);
        if (sidecar is { } s && !s.Spec.Equals(spec))
            throw new ArgumentException($"the model at {path} was trained for {s.Spec}, not {spec}", nameof(spec));
        return Read(path, spec, options ?? sidecar?.Options ?? new TrainingOptions());
    }

    static Policy Read(string path, EnvironmentSpec spec, TrainingOptions options)
    {
        var model = ModelFiles.ModelPath(path);
        if (!File.Exists(model)) throw new FileNotFoundException($"no model at {model}", model);
        var learner = CreateLearner(spec, options);
        try
        {
            return new Policy(spec, options, F.Checkpoint.loadModel(path, learner));
        }
        catch (F.CheckpointException e)
        {
            throw new InvalidDataException(e.Message, e);
        }
    }

    internal static F.Learner<F.MixerParams> CreateLearner(EnvironmentSpec spec, TrainingOptions options) =>
        F.Learner.builtIn(options.LearnerConfig(), spec.ToCore(), options.MixerConfig());

}
