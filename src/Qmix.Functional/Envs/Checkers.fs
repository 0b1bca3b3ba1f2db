namespace Qmix.Functional.Envs

open System.Text
open Qmix.Functional

/// <summary>What lies on a Checkers cell (agents are kept apart, in <see cref="T:Qmix.Functional.Envs.CheckersState"/>).</summary>
[<RequireQualifiedAccess>]
type CheckersFruit =
    /// <summary>Nothing (never held fruit, or its fruit was eaten).</summary>
    | Empty
    /// <summary>An apple: +10 for agent 0, +1 for agent 1.</summary>
    | Apple
    /// <summary>A lemon: −10 for agent 0, −1 for agent 1.</summary>
    | Lemon

/// <summary>The options of ma-gym's Checkers (<c>Checkers-v0</c> … <c>-v3</c>).</summary>
type CheckersConfig =
    {
        /// <summary>Every agent observes both agents' vectors (ma-gym <c>-v1</c>/<c>-v3</c>); default false.</summary>
        FullObservable: bool
        /// <summary>Append <c>steps / MaxSteps</c> to each agent's vector (<c>-v2</c>/<c>-v3</c>); default false.</summary>
        Clock: bool
        /// <summary>The reward every agent gets on every step, on top of what it eats; default −0.01.</summary>
        StepCost: float32
        /// <summary>The episode limit; default 100.</summary>
        MaxSteps: int
    }

/// <summary>A Checkers state: the step count, both agents' cells and the fruit left. Immutable: a step returns a
/// new state and never changes its input (the arrays are never written after construction).</summary>
type CheckersState =
    {
        /// <summary>Steps taken in this episode.</summary>
        Steps: int
        /// <summary>Each agent's row (0..2).</summary>
        Rows: int[]
        /// <summary>Each agent's column (0..7).</summary>
        Cols: int[]
        /// <summary>The 3 × 8 grid's fruit, row-major (cell (r, c) at <c>r * 8 + c</c>).</summary>
        Fruit: CheckersFruit[]
        /// <summary>Apples not yet eaten.</summary>
        Apples: int
        /// <summary>Lemons not yet eaten.</summary>
        Lemons: int
        /// <summary>The episode is over (all apples eaten or the limit reached); it cannot be stepped.</summary>
        Ended: bool
    }

/// <summary>ma-gym's Checkers (koulanurag/ma-gym, <c>checkers.py</c>; Sunehag et al., VDN, §4.2): two agents on a
/// 3 × 8 grid of apples and lemons. Agent 0 is sensitive (apple +10, lemon −10), agent 1 is not (apple +1,
/// lemon −1); the team does best when agent 1 clears lemons out of agent 0's way and leaves it the apples.</summary>
/// <remarks>
/// <para><b>Layout.</b> Columns 0–5 hold fruit, columns 6–7 are empty: rows 0 and 2 have apples on even columns
/// and lemons on odd ones, row 1 the other way round (9 apples, 9 lemons). Agent 0 starts at (0, 6), agent 1 at
/// (2, 6). No randomness: reset and step ignore their keys.</para>
/// <para><b>Actions</b> (5, all always available): 0 = down (row+1), 1 = left (col−1), 2 = up (row−1),
/// 3 = right (col+1), 4 = no-op. Agents move in index order: a move succeeds when the target is on the grid
/// and not occupied by the other agent (agent 1 may step into the cell agent 0 has just left). Entering a fruit
/// cell eats it.</para>
/// <para><b>Reward.</b> Each agent gets <c>StepCost</c> every step plus its fruit reward; the team reward is the
/// sum of both (per-agent rewards in <c>Info.AgentRewards</c>). The episode terminates when the last apple is
/// eaten and is truncated at <c>MaxSteps</c>.</para>
/// <para><b>Observation</b> per agent (47, 48 with the clock): [round(row / 3, 2), round(col / 7, 2)], then the
/// 3 × 3 window centred on the agent (row-major), each cell a one-hot over (lemon, apple, agent 0, agent 1,
/// wall) — the centre cell shows the agent itself, cells off the grid are all zero — then, with the clock,
/// steps / MaxSteps. Full observability gives each agent both vectors (94 / 96). The global state is the
/// concatenation of both agents' vectors (94 / 96).</para>
/// <para><b>Upstream quirks kept.</b> The row is divided by 3 although rows run 0..2 (the column by 7); the
/// wall channel exists but is never set. <b>Dropped.</b> ma-gym returns zero rewards when stepped after the
/// end; here stepping an ended state raises an <see cref="T:System.ArgumentException"/>.</para>
/// </remarks>
[<RequireQualifiedAccess>]
module Checkers =
    [<Literal>]
    let private H = 3

    [<Literal>]
    let private W = 8

    /// <summary>ma-gym's defaults (<c>Checkers-v0</c>): partial observability, no clock, step cost −0.01,
    /// 100 steps.</summary>
    let defaults: CheckersConfig =
        {
            FullObservable = false
            Clock = false
            StepCost = -0.01f
            MaxSteps = 100
        }

    /// (apple, lemon) reward for agents 0 and 1.
    let private fruitReward = [| struct (10.0f, -10.0f); struct (1.0f, -1.0f) |]

    let private initialFruit =
        Array.init (H * W) (fun i ->
            let r, c = i / W, i % W

            if c >= W - 2 then CheckersFruit.Empty
            elif (r % 2 = 0) = (c % 2 = 0) then CheckersFruit.Apple
            else CheckersFruit.Lemon)

    /// <summary>The start of every episode: agents at (0, 6) and (2, 6), 9 apples and 9 lemons.</summary>
    let initial: CheckersState =
        {
            Steps = 0
            Rows = [| 0; 2 |]
            Cols = [| 6; 6 |]
            Fruit = initialFruit
            Apples = 9
            Lemons = 9
            Ended = false
        }

    let private agentAt (s: CheckersState) (r: int) (c: int) =
        if s.Rows[0] = r && s.Cols[0] = c then 0
        elif s.Rows[1] = r && s.Cols[1] = c then 1
        else -1

    /// One agent's vector: position, 3 × 3 window of 5-way one-hots, optional clock.
    let private agentObs (config: CheckersConfig) (s: CheckersState) (i: int) =
        let width = 47 + (if config.Clock then 1 else 0)
        let o = Array.zeroCreate width
        let r0, c0 = s.Rows[i], s.Cols[i]
        o[0] <- GridWorld.round2 (float r0 / float H)
        o[1] <- GridWorld.round2 (float c0 / float (W - 1))

        for dr in -1 .. 1 do
            for dc in -1 .. 1 do
                let r, c = r0 + dr, c0 + dc

                if r >= 0 && r < H && c >= 0 && c < W then
                    let cell = 2 + ((dr + 1) * 3 + (dc + 1)) * 5

                    match agentAt s r c with
                    | 0 -> o[cell + 2] <- 1.0f
                    | 1 -> o[cell + 3] <- 1.0f
                    | _ ->
                        match s.Fruit[r * W + c] with
                        | CheckersFruit.Lemon -> o[cell] <- 1.0f
                        | CheckersFruit.Apple -> o[cell + 1] <- 1.0f
                        | CheckersFruit.Empty -> ()

        if config.Clock then
            o[47] <- float32 s.Steps / float32 config.MaxSteps

        o

    let private step (config: CheckersConfig) (s: CheckersState) (actions: int[]) : CheckersState * Transition =
        let rows, cols, fruit = Array.copy s.Rows, Array.copy s.Cols, Array.copy s.Fruit
        let rewards = Array.create 2 config.StepCost
        let mutable apples, lemons = s.Apples, s.Lemons

        // agents move in index order; the other agent's current cell blocks
        for i in 0..1 do
            let struct (r, c) = GridWorld.maGymTarget actions[i] rows[i] cols[i]
            let j = 1 - i

            if
                (r <> rows[i] || c <> cols[i])
                && r >= 0
                && r < H
                && c >= 0
                && c < W
                && not (rows[j] = r && cols[j] = c)
            then
                rows[i] <- r
                cols[i] <- c
                let struct (appleReward, lemonReward) = fruitReward[i]

                match fruit[r * W + c] with
                | CheckersFruit.Apple ->
                    rewards[i] <- rewards[i] + appleReward
                    apples <- apples - 1
                | CheckersFruit.Lemon ->
                    rewards[i] <- rewards[i] + lemonReward
                    lemons <- lemons - 1
                | CheckersFruit.Empty -> ()

                fruit[r * W + c] <- CheckersFruit.Empty

        let steps = s.Steps + 1
        let terminated = apples = 0
        let truncated = not terminated && steps >= config.MaxSteps

        {
            Steps = steps
            Rows = rows
            Cols = cols
            Fruit = fruit
            Apples = apples
            Lemons = lemons
            Ended = terminated || truncated
        },
        GridWorld.transition rewards terminated truncated

    /// <summary>The name a configuration is reported under: <c>checkers</c> for ma-gym's <c>-v0</c>, then
    /// <c>checkers-v1</c> (full observability), <c>-v2</c> (clock), <c>-v3</c> (both).</summary>
    /// <param name="config">The configuration.</param>
    let name (config: CheckersConfig) : string =
        match config.FullObservable, config.Clock with
        | false, false -> "checkers"
        | true, false -> "checkers-v1"
        | false, true -> "checkers-v2"
        | true, true -> "checkers-v3"

    /// <summary>Checkers as a pure environment: 2 agents, 5 actions, obs_dim 47 (48 with the clock; 94 / 96 fully
    /// observable), state_dim 94 (96 with the clock), episode limit <c>MaxSteps</c>.</summary>
    /// <param name="config">The options; <c>Checkers.defaults</c> is
    /// <c>Checkers-v0</c>.</param>
    /// <exception cref="System.ArgumentException"><c>MaxSteps</c> is not positive or <c>StepCost</c> is not
    /// finite.</exception>
    let make (config: CheckersConfig) : Env<CheckersState> =
        if config.MaxSteps < 1 then
            invalidArg (nameof config) (sprintf "checkers: MaxSteps must be positive, got %d" config.MaxSteps)

        if not (System.Single.IsFinite config.StepCost) then
            invalidArg (nameof config) (sprintf "checkers: StepCost must be finite, got %g" config.StepCost)

        let agentDim = 47 + (if config.Clock then 1 else 0)

        let spec =
            {
                Name = name config
                NAgents = 2
                NActions = 5
                ObsDim = (if config.FullObservable then 2 * agentDim else agentDim)
                StateDim = 2 * agentDim
                EpisodeLimit = config.MaxSteps
            }

        let perAgent s =
            [| agentObs config s 0; agentObs config s 1 |]

        GridWorld.validated
            (fun s -> s.Ended)
            {
                Spec = spec
                Reset = fun _ -> initial
                Step = fun s actions _ -> step config s actions
                Observations = fun s -> GridWorld.observations config.FullObservable (perAgent s)
                GlobalState = fun s -> Array.concat (perAgent s)
                AvailableActions = fun _ -> Array.create 10 true
            }

    /// <summary><c>Checkers-v0</c>: <c>make defaults</c>.</summary>
    let env: Env<CheckersState> = make defaults

    /// <summary>A frame as text: a caption line, then one line per row — <c>A</c> apple, <c>L</c> lemon,
    /// <c>.</c> empty, a digit the agent with that index.</summary>
    /// <param name="state">The state to draw.</param>
    let render (state: CheckersState) : string =
        let sb = StringBuilder()

        sb.AppendLine(
            sprintf
                "checkers step %d, apples %d, lemons %d%s"
                state.Steps
                state.Apples
                state.Lemons
                (if state.Ended then " (ended)" else "")
        )
        |> ignore

        for r in 0 .. H - 1 do
            let line =
                Array.init W (fun c ->
                    match agentAt state r c with
                    | -1 ->
                        match state.Fruit[r * W + c] with
                        | CheckersFruit.Apple -> "A"
                        | CheckersFruit.Lemon -> "L"
                        | CheckersFruit.Empty -> "."
                    | i -> string i)

            sb.AppendLine(String.concat " " line) |> ignore

        sb.ToString()

    /// <summary>A frame as an SVG document: apples green, lemons yellow, agents as numbered discs (agent 0
    /// red, agent 1 blue).</summary>
    /// <param name="state">The state to draw.</param>
    let renderSvg (state: CheckersState) : string =
        let svg =
            GridWorld.Svg(H, W, sprintf "checkers step %d, apples %d" state.Steps state.Apples)

        for r in 0 .. H - 1 do
            for c in 0 .. W - 1 do
                match state.Fruit[r * W + c] with
                | CheckersFruit.Apple -> svg.Fill(r, c, "#2ca02c", 0.08)
                | CheckersFruit.Lemon -> svg.Fill(r, c, "#f5d800", 0.08)
                | CheckersFruit.Empty -> ()

        for i in 0..1 do
            svg.Disc(state.Rows[i], state.Cols[i], GridWorld.agentColour i, 0.35, string i, 0.0, 0.0)

        string svg
