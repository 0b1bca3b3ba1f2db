using Microsoft.FSharp.Core;
using Qmix.Tensors;
using F = Qmix.Functional;

namespace Qmix;

/// <summary>Adapts mutable <see cref="IMultiAgentEnvironment"/> instances to the F# core's pure
/// <c>Env&lt;'S&gt;</c> contract. A state is an immutable <see cref="Snapshot"/>: the episode's seed, its actions so
/// far and what the environment showed after them. Stepping a snapshot steps the instance that stands at it; when
/// none does (several episodes at once, or an old state), an instance is brought there by resetting it with the
/// seed and replaying the actions, which is exact for environments that are deterministic given the seed.</summary>
internal sealed class UserEnvironment
{
    /// <summary>One step of an episode, frozen: what the environment showed, and how it got there.</summary>
    internal sealed class Snapshot(ulong seed, ActionNode? history, int step, float[] obs, float[] state, bool[] avail, bool ended)
    {
        public ulong Seed { get; } = seed;
        public ActionNode? History { get; } = history;
        public int StepCount { get; } = step;
        public float[] Obs { get; } = obs;
        public float[] State { get; } = state;
        public bool[] Avail { get; } = avail;
        public bool Ended { get; } = ended;
    }

    /// <summary>The episode's joint actions, newest first.</summary>
    internal sealed record ActionNode(int[] Actions, ActionNode? Parent);

    sealed class Slot(IMultiAgentEnvironment env)
    {
        public IMultiAgentEnvironment Env { get; } = env;
        public Snapshot? At { get; set; }
        public long LastUsed { get; set; }
    }

    readonly Func<IMultiAgentEnvironment>? factory;
    readonly List<Slot> slots = [];
    readonly object gate = new();
    readonly EnvironmentSpec spec;
    long clock;

    /// <summary>The most instances a factory is asked for; beyond it, instances are shared by replaying.</summary>
    const int MaxInstances = 256;

    UserEnvironment(IMultiAgentEnvironment first, Func<IMultiAgentEnvironment>? factory, string paramName)
    {
        spec = first.Spec ?? throw new ArgumentException("the environment's Spec is null", paramName);
        this.factory = factory;
        slots.Add(new Slot(first));
    }

    public static MultiAgentEnvironment Wrap(IMultiAgentEnvironment env, Func<IMultiAgentEnvironment>? factory, string paramName)
    {
        var user = new UserEnvironment(env, factory, paramName);
        var name = user.spec.Name;
        return new MultiAgentEnvironment(
            name, $"custom environment ({env.GetType().Name})", user.ToCore(),
            s => s is Snapshot snap ? Describe(name, snap) : name);
    }

    static string Describe(string name, Snapshot s) =>
        $"{name} at step {s.StepCount}{(s.Ended ? " (ended)" : "")}" + System.Environment.NewLine +
        $"  state [{string.Join(", ", s.State)}]";

    F.Env<object> ToCore() => new(
        spec.ToCore(),
        FuncConvert.FromFunc<Key, object>(Reset),
        FuncConvert.FromFunc<object, int[], Key, Tuple<object, F.Transition>>(Step),
        FuncConvert.FromFunc<object, float[]>(s => ((Snapshot)s).Obs),
        FuncConvert.FromFunc<object, float[]>(s => ((Snapshot)s).State),
        FuncConvert.FromFunc<object, bool[]>(s => ((Snapshot)s).Avail));

    object Reset(Key key)
    {
        var seed = Rng.bits(key, 0UL);
        lock (gate)
        {
            var slot = Acquire();
            slot.Env.Reset(seed);
            return Stand(slot, Capture(slot.Env, seed, null, 0, false));
        }
    }

    Tuple<object, F.Transition> Step(object state, int[] actions, Key key)
    {
        var s = (Snapshot)state;
        lock (gate)
        {
            var slot = slots.Find(x => ReferenceEquals(x.At, s)) ?? Replay(s);
            var copy = (int[])actions.Clone();
            var r = slot.Env.Step((int[])copy.Clone());
            if (!float.IsFinite(r.Reward))
                throw new InvalidOperationException($"{spec.Name}: Step returned a non-finite reward {r.Reward}");
            if (r.DeadAllies.HasValue != r.DeadEnemies.HasValue || r.DeadAllies < 0 || r.DeadEnemies < 0)
                throw new InvalidOperationException(
                    $"{spec.Name}: Step returned DeadAllies {r.DeadAllies?.ToString() ?? "null"} and DeadEnemies " +
                    $"{r.DeadEnemies?.ToString() ?? "null"}; set both (never negative) or neither");
            var t = s.StepCount + 1;
            var ended = r.Terminated || r.Truncated || t >= spec.EpisodeLimit;
            var next = Stand(slot, Capture(slot.Env, s.Seed, new ActionNode(copy, s.History), t, ended));
            var won = r.Won is { } w ? FSharpOption<bool>.Some(w) : FSharpOption<bool>.None;
            var casualties = r.DeadAllies is { } allies && r.DeadEnemies is { } enemies
                ? FSharpOption<F.Casualties>.Some(new F.Casualties(allies, enemies))
                : FSharpOption<F.Casualties>.None;
            var info = new F.StepInfo(won, FSharpOption<float[]>.None, casualties);
            return Tuple.Create<object, F.Transition>(next, new F.Transition(r.Reward, r.Terminated, r.Truncated, info));
        }
    }

    Snapshot Stand(Slot slot, Snapshot s)
    {
        slot.At = s;
        slot.LastUsed = ++clock;
        return s;
    }

    /// <summary>An instance to play a new episode on: an idle one (no episode, or its episode ended), a new one
    /// from the factory, or else the least recently used one.</summary>
    Slot Acquire()
    {
        Slot? idle = null;
        foreach (var s in slots)
            if ((s.At is null || s.At.Ended) && (idle is null || s.LastUsed < idle.LastUsed))
                idle = s;
        if (idle is not null) return idle;
        if (factory is not null && slots.Count < MaxInstances)
        {
            var env = factory() ?? throw new InvalidOperationException($"{spec.Name}: the factory returned null");
            if (!spec.Equals(env.Spec))
                throw new InvalidOperationException($"{spec.Name}: the factory made an environment with spec {env.Spec}, expected {spec}");
            var slot = new Slot(env);
            slots.Add(slot);
            return slot;
        }
        return slots.MinBy(s => s.LastUsed)!;
    }

    /// <summary>Brings an instance to a snapshot: reset with its seed, then its actions again.</summary>
    Slot Replay(Snapshot target)
    {
        var slot = Acquire();
        var path = new List<int[]>(target.StepCount);
        for (var n = target.History; n is not null; n = n.Parent) path.Add(n.Actions);
        path.Reverse();
        slot.Env.Reset(target.Seed);
        foreach (var a in path) slot.Env.Step((int[])a.Clone());
        slot.At = target;
        return slot;
    }

    Snapshot Capture(IMultiAgentEnvironment env, ulong seed, ActionNode? history, int step, bool ended)
    {
        var obs = Checked(env.Observations, spec.Agents * spec.ObservationSize, "Observations");
        var state = Checked(env.State, spec.StateSize, "State");
        var avail = Checked(env.AvailableActions, spec.Agents * spec.Actions, "AvailableActions");
        for (var agent = 0; agent < spec.Agents; agent++)
            if (!avail.AsSpan(agent * spec.Actions, spec.Actions).Contains(true))
                throw new InvalidOperationException($"{spec.Name}: agent {agent} has no available action at step {step}");
        return new Snapshot(seed, history, step, obs, state, avail, ended);
    }

    T[] Checked<T>(T[]? values, int expected, string what) =>
        values is null
            ? throw new InvalidOperationException($"{spec.Name}: {what} is null")
            : values.Length != expected
                ? throw new InvalidOperationException($"{spec.Name}: {what} has {values.Length} values, expected {expected}")
                : (T[])values.Clone();
}
