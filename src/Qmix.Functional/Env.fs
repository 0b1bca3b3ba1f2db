namespace Qmix.Functional

open Qmix.Tensors

/// <summary>The sizes of an environment, named as in PyMARL's <c>env_info</c>.</summary>
type EnvSpec =
    {
        /// <summary>The environment's registered name, e.g. <c>two-step</c>.</summary>
        Name: string
        /// <summary>The number of agents N.</summary>
        NAgents: int
        /// <summary>The number of actions A per agent (the same for every agent).</summary>
        NActions: int
        /// <summary>The width of one agent's observation.</summary>
        ObsDim: int
        /// <summary>The width of the global state.</summary>
        StateDim: int
        /// <summary>The most steps an episode may take; the episode is truncated (not terminated) there.</summary>
        EpisodeLimit: int
    }

/// <summary>The units lost so far in an episode, for environments with two armies (the combat maps).</summary>
type Casualties =
    {
        /// <summary>The team's dead units (agents).</summary>
        DeadAllies: int
        /// <summary>The opponents' dead units.</summary>
        DeadEnemies: int
    }

/// <summary>What one step reports besides the next state.</summary>
type StepInfo =
    {
        /// <summary>Whether the team won, for environments that have a notion of winning.</summary>
        Won: bool option
        /// <summary>Per-agent rewards, where the environment has them.</summary>
        AgentRewards: float32[] option
        /// <summary>The units dead after the step, for environments with two armies; <c>None</c> elsewhere.</summary>
        Casualties: Casualties option
    }

/// <summary>The outcome of one joint action.</summary>
type Transition =
    {
        /// <summary>The team reward for the transition.</summary>
        Reward: float32
        /// <summary>A true end of the episode: the learner does not bootstrap through it.</summary>
        Terminated: bool
        /// <summary>The episode reached its limit: it ends, but the learner bootstraps through it.</summary>
        Truncated: bool
        /// <summary>Extra information (win flag, per-agent rewards).</summary>
        Info: StepInfo
    }

/// <summary>An environment as a record of pure functions over an immutable state <c>'S</c>. The same state,
/// actions and key always give the same result, and nothing is mutated. Users bring their own environment by
/// filling this record.</summary>
type Env<'S> =
    {
        /// <summary>The environment's sizes.</summary>
        Spec: EnvSpec
        /// <summary>A fresh episode's first state.</summary>
        Reset: Key -> 'S
        /// <summary>The next state and the transition for a joint action (one action index per agent).</summary>
        Step: 'S -> int[] -> Key -> 'S * Transition
        /// <summary>Every agent's observation, flattened to [N·obs_dim].</summary>
        Observations: 'S -> float32[]
        /// <summary>The global state, [state_dim].</summary>
        GlobalState: 'S -> float32[]
        /// <summary>The available-action mask, flattened to [N·A] (true = available).</summary>
        AvailableActions: 'S -> bool[]
    }

/// <summary>Helpers over environment records.</summary>
[<RequireQualifiedAccess>]
module Env =
    /// A boxed state as the environment's own state type; an ArgumentException naming both types otherwise.
    let internal unboxState<'S> (name: string) (state: obj) : 'S =
        match state with
        | :? 'S as s -> s
        | null when not typeof<'S>.IsValueType -> Unchecked.defaultof<'S>
        | _ ->
            invalidArg
                (nameof state)
                (sprintf
                    "%s: expected a state of type %s, got %s"
                    name
                    typeof<'S>.FullName
                    (if isNull state then "null" else state.GetType().FullName))

    /// <summary>The environment over boxed states, so that environments of different state types can sit in one
    /// list (e.g. the registry). Every function behaves exactly as the original's; the states it returns are the
    /// original's, boxed.</summary>
    /// <param name="env">The environment.</param>
    /// <returns>The same environment with <c>obj</c> states; an environment that already has <c>obj</c> states is
    /// returned as it is.</returns>
    /// <remarks>A state of another type passed to the boxed environment raises an
    /// <see cref="T:System.ArgumentException"/> naming the expected and the actual type.</remarks>
    let boxed (env: Env<'S>) : Env<obj> =
        match box env with
        | :? Env<obj> as same -> same
        | _ ->
            let name = env.Spec.Name
            let state (s: obj) = unboxState<'S> name s

            {
                Spec = env.Spec
                Reset = fun key -> box (env.Reset key)
                Step =
                    fun s actions key ->
                        let s', tr = env.Step (state s) actions key
                        box s', tr
                Observations = fun s -> env.Observations(state s)
                GlobalState = fun s -> env.GlobalState(state s)
                AvailableActions = fun s -> env.AvailableActions(state s)
            }

    /// <summary>A transition with no extra information.</summary>
    let transition (reward: float32) (terminated: bool) (truncated: bool) : Transition =
        {
            Reward = reward
            Terminated = terminated
            Truncated = truncated
            Info =
                {
                    Won = None
                    AgentRewards = None
                    Casualties = None
                }
        }

    /// <summary>Checks a joint action against the spec and the state's available actions.</summary>
    /// <exception cref="System.ArgumentException">The joint action has the wrong length, or an action is out of
    /// range or unavailable; the message names the agent and the action.</exception>
    let validateActions (env: Env<'S>) (state: 'S) (actions: int[]) : unit =
        let spec = env.Spec

        if isNull actions then
            nullArg (nameof actions)

        if actions.Length <> spec.NAgents then
            invalidArg
                (nameof actions)
                (sprintf
                    "%s: a joint action needs %d actions (one per agent), got %d"
                    spec.Name
                    spec.NAgents
                    actions.Length)

        let avail = env.AvailableActions state

        for a in 0 .. spec.NAgents - 1 do
            let u = actions[a]

            if u < 0 || u >= spec.NActions then
                invalidArg
                    (nameof actions)
                    (sprintf "%s: agent %d chose action %d, outside 0..%d" spec.Name a u (spec.NActions - 1))

            if not avail[a * spec.NActions + u] then
                invalidArg
                    (nameof actions)
                    (sprintf "%s: agent %d chose action %d, which is not available" spec.Name a u)
