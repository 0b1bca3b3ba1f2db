using Qmix.Tensors;
using F = Qmix.Functional;

namespace Qmix;

/// <summary>An environment the facade can train on and evaluate in: a built-in one from
/// <see cref="Environments"/>, or a user's own one wrapped by <see cref="Environments.Custom(IMultiAgentEnvironment)"/>.
/// It can also be stepped by hand (<see cref="Reset"/>, <see cref="Step"/>), e.g. to run
/// a <see cref="Policy"/> in a loop of one's own.</summary>
/// <remarks>Training and evaluation never use the hand-stepped episode: they run their own episodes, so a handle can be
/// shared by several trainers one after the other, and stepping it by hand does not disturb them. The hand-stepped
/// episode itself is not thread-safe.</remarks>
public sealed class MultiAgentEnvironment : IMultiAgentEnvironment
{
    readonly Func<object, string> render;
    readonly Func<object, string>? renderSvg;
    object? state;
    bool started;
    Key stepKey;
    bool done;

    internal MultiAgentEnvironment(
        string name, string description, F.Env<object> core, Func<object, string> render, Func<object, string>? renderSvg = null)
    {
        Name = name;
        Description = description;
        Core = core;
        Spec = EnvironmentSpec.FromCore(core.Spec);
        this.render = render;
        this.renderSvg = renderSvg;
    }

    /// <summary>The handle of any environment: a handle as it is, a user's environment wrapped.</summary>
    internal static MultiAgentEnvironment From(IMultiAgentEnvironment environment, string paramName) =>
        environment as MultiAgentEnvironment ?? UserEnvironment.Wrap(environment, null, paramName);

    /// <summary>The environment as the F# core sees it: pure functions over boxed states.</summary>
    internal F.Env<object> Core { get; }

    /// <summary>The name it was created under, e.g. <c>combat:3m</c> (for a custom environment, its spec's
    /// name).</summary>
    public string Name { get; }

    /// <summary>One line on what the environment is.</summary>
    public string Description { get; }

    /// <summary>The environment's sizes.</summary>
    public EnvironmentSpec Spec { get; }

    /// <summary>The steps taken in the current hand-stepped episode.</summary>
    public int StepCount { get; private set; }

    /// <summary>Whether the current hand-stepped episode is over (terminated, truncated, or at the episode
    /// limit).</summary>
    public bool IsDone => done;

    /// <summary>Starts a new hand-stepped episode.</summary>
    /// <param name="seed">The seed of the episode: the same seed and actions give the same episode.</param>
    public void Reset(ulong seed)
    {
        var keys = Rng.splitN(2, Rng.key(seed));
        state = Core.Reset.Invoke(keys[0]);
        stepKey = keys[1];
        started = true;
        StepCount = 0;
        done = false;
    }

    /// <summary>Takes one joint action in the hand-stepped episode.</summary>
    /// <param name="actions">One action index per agent, each available (see <see cref="AvailableActions"/>).</param>
    /// <returns>The reward and whether the episode ended. An episode that reaches <see cref="EnvironmentSpec.EpisodeLimit"/>
    /// steps without terminating is reported as truncated, as training treats it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="actions"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="actions"/> has the wrong length, or an action is out of
    /// range or unavailable.</exception>
    /// <exception cref="InvalidOperationException">No episode was started, or the episode is over.</exception>
    public StepResult Step(int[] actions)
    {
        ArgumentNullException.ThrowIfNull(actions);
        var s = Current();
        if (done) throw new InvalidOperationException($"{Name}: the episode is over; call Reset to start another");
        F.Env.validateActions(Core, s, actions);
        var result = Core.Step.Invoke(s).Invoke((int[])actions.Clone()).Invoke(Rng.foldIn(StepCount, stepKey));
        var tr = result.Item2;
        state = result.Item1;
        StepCount++;
        var truncated = tr.Truncated || (!tr.Terminated && StepCount >= Spec.EpisodeLimit);
        done = tr.Terminated || truncated;
        bool? won = tr.Info.Won is { } w ? w.Value : null;
        var casualties = tr.Info.Casualties is { } c ? c.Value : null;
        return new StepResult(tr.Reward, tr.Terminated, truncated, won, casualties?.DeadAllies, casualties?.DeadEnemies);
    }

    /// <summary>Every agent's observation in the hand-stepped episode, agent by agent
    /// (<c>Agents × ObservationSize</c> values); a copy.</summary>
    /// <exception cref="InvalidOperationException">No episode was started.</exception>
    public float[] Observations => (float[])Core.Observations.Invoke(Current()).Clone();

    /// <summary>The global state of the hand-stepped episode (<c>StateSize</c> values); a copy.</summary>
    /// <exception cref="InvalidOperationException">No episode was started.</exception>
    public float[] State => (float[])Core.GlobalState.Invoke(Current()).Clone();

    /// <summary>Which actions each agent may take now, agent by agent (<c>Agents × Actions</c> flags, true =
    /// available); a copy.</summary>
    /// <exception cref="InvalidOperationException">No episode was started.</exception>
    public bool[] AvailableActions => (bool[])Core.AvailableActions.Invoke(Current()).Clone();

    /// <summary>A text frame of the hand-stepped episode's current state (a few lines).</summary>
    /// <returns>The frame.</returns>
    /// <exception cref="InvalidOperationException">No episode was started.</exception>
    public string Render() => render(Current());

    /// <summary>Whether the environment has a graphical renderer (<see cref="RenderSvg"/>): every built-in
    /// environment except the matrix games; a custom environment has none.</summary>
    public bool SupportsSvg => renderSvg is not null;

    /// <summary>A graphical frame of the hand-stepped episode's current state, as a standalone SVG document (for
    /// combat: the arena with every unit, its health bar and its last attack). Frames of an episode make a sheet with
    /// <see cref="Charts.FrameSheet"/>.</summary>
    /// <returns>The SVG document.</returns>
    /// <exception cref="NotSupportedException">The environment has no graphical renderer (see
    /// <see cref="SupportsSvg"/>); the message names it.</exception>
    /// <exception cref="InvalidOperationException">No episode was started.</exception>
    public string RenderSvg() => renderSvg is { } svg
        ? svg(Current())
        : throw new NotSupportedException($"{Name} has no graphical (SVG) renderer; Render() gives a text frame");

    /// <summary>The name and sizes.</summary>
    /// <returns>The spec on one line.</returns>
    public override string ToString() => Spec.ToString();

    object Current() =>
        started ? state! : throw new InvalidOperationException($"{Name}: no episode has started; call Reset first");
}
