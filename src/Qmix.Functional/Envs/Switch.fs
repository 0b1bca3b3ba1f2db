namespace Qmix.Functional.Envs

open System.Text
open Qmix.Functional

/// <summary>The options of ma-gym's one-corridor Switch (<c>Switch2-v0</c> … <c>Switch4-v3</c>).</summary>
type SwitchConfig =
    {
        /// <summary>The number of agents, 2 to 4 (ma-gym registers 2 and 4).</summary>
        Agents: int
        /// <summary>Every agent observes all agents' vectors (ma-gym <c>-v1</c>/<c>-v3</c>); default false.</summary>
        FullObservable: bool
        /// <summary>Append <c>steps / MaxSteps</c> to each agent's vector (<c>-v2</c>/<c>-v3</c>); default false.</summary>
        Clock: bool
        /// <summary>The reward of an agent that has not reached its goal, each step; default −0.1.</summary>
        StepCost: float32
        /// <summary>The episode limit; default 50.</summary>
        MaxSteps: int
    }

/// <summary>A Switch state: the step count, each agent's cell and which agents have reached their goals.
/// Immutable: a step returns a new state and never changes its input.</summary>
type SwitchState =
    {
        /// <summary>Steps taken in this episode.</summary>
        Steps: int
        /// <summary>Each agent's row (0..2).</summary>
        Rows: int[]
        /// <summary>Each agent's column (0..6).</summary>
        Cols: int[]
        /// <summary>Whether each agent has reached its goal (it then stays there, occupying the cell).</summary>
        Finished: bool[]
        /// <summary>The episode is over (every agent home or the limit reached); it cannot be stepped.</summary>
        Ended: bool
    }

/// <summary>ma-gym's one-corridor Switch (koulanurag/ma-gym, <c>switch_one_corridor.py</c>): 2 or 4 agents on
/// a 3 × 7 grid must cross a one-cell-wide corridor in opposite directions, so some must wait for others.</summary>
/// <remarks>
/// <para><b>Grid.</b> Every cell is a wall except row 1 and columns 0, 1, 5 and 6: the corridor is row 1,
/// columns 2–4. Agents (start → goal): 0: (0, 1) → (0, 6); 1: (0, 5) → (0, 0); 2: (2, 1) → (2, 6);
/// 3: (2, 5) → (2, 0). No randomness: reset and step ignore their keys.</para>
/// <para><b>Actions</b> (5, all always available): 0 = down, 1 = left, 2 = up, 3 = right, 4 = no-op. Agents move
/// in index order; a move succeeds when the target is on the grid, not a wall and not occupied by any agent
/// (finished agents keep their goal cell). Finished agents no longer move.</para>
/// <para><b>Reward</b> per agent: <c>StepCost</c> while not finished, +5 on the step it reaches its goal
/// (instead of the step cost), 0 afterwards; the team reward is the sum. The episode terminates when every
/// agent is home and is truncated at <c>MaxSteps</c>.</para>
/// <para><b>Observation</b> per agent (2, 3 with the clock): [round(row / 2, 2), round(col / 6, 2)], then
/// steps / MaxSteps with the clock. Full observability gives every agent all vectors. The global state is the
/// concatenation of all agents' vectors.</para>
/// <para><b>Upstream notes.</b> ma-gym's <c>Switch</c> class defaults to the clock on, but its registered ids
/// <c>-v0</c>/<c>-v1</c> turn it off; the defaults here follow <c>-v0</c>. <b>Dropped:</b> stepping after the
/// end (ma-gym keeps going) raises an <see cref="T:System.ArgumentException"/>.</para>
/// </remarks>
[<RequireQualifiedAccess>]
module Switch =
    [<Literal>]
    let private H = 3

    [<Literal>]
    let private W = 7

    let private isWall (r: int) (c: int) = r <> 1 && c >= 2 && c <= 4

    let private starts = [| 0, 1; 0, 5; 2, 1; 2, 5 |]
    let private goals = [| 0, 6; 0, 0; 2, 6; 2, 0 |]

    /// <summary>The reward for reaching the goal.</summary>
    [<Literal>]
    let GoalReward = 5.0f

    /// <summary><c>Switch2-v0</c>: 2 agents, partial observability, no clock, step cost −0.1, 50 steps.</summary>
    let config2: SwitchConfig =
        {
            Agents = 2
            FullObservable = false
            Clock = false
            StepCost = -0.1f
            MaxSteps = 50
        }

    /// <summary><c>Switch4-v0</c>: <c>config2</c> with 4 agents.</summary>
    let config4: SwitchConfig = { config2 with Agents = 4 }

    /// <summary>The goal cell (row, col) of agent <paramref name="agent"/> (0..3).</summary>
    let goal (agent: int) : int * int = goals[agent]

    /// <summary>The start of an episode with <paramref name="agents"/> agents (2..4).</summary>
    let initial (agents: int) : SwitchState =
        {
            Steps = 0
            Rows = Array.init agents (fun i -> fst starts[i])
            Cols = Array.init agents (fun i -> snd starts[i])
            Finished = Array.create agents false
            Ended = false
        }

    let private agentObs (config: SwitchConfig) (s: SwitchState) (i: int) =
        let o = Array.zeroCreate (if config.Clock then 3 else 2)
        o[0] <- GridWorld.round2 (float s.Rows[i] / float (H - 1))
        o[1] <- GridWorld.round2 (float s.Cols[i] / float (W - 1))

        if config.Clock then
            o[2] <- float32 s.Steps / float32 config.MaxSteps

        o

    let private step (config: SwitchConfig) (s: SwitchState) (actions: int[]) : SwitchState * Transition =
        let n = s.Rows.Length

        let rows, cols, finished =
            Array.copy s.Rows, Array.copy s.Cols, Array.copy s.Finished

        let rewards = Array.create n config.StepCost

        let occupied r c =
            let mutable hit = false

            for j in 0 .. n - 1 do
                if rows[j] = r && cols[j] = c then
                    hit <- true

            hit

        for i in 0 .. n - 1 do
            if finished[i] then
                rewards[i] <- 0.0f
            else
                let struct (r, c) = GridWorld.maGymTarget actions[i] rows[i] cols[i]

                if r >= 0 && r < H && c >= 0 && c < W && not (isWall r c) && not (occupied r c) then
                    rows[i] <- r
                    cols[i] <- c

                if (rows[i], cols[i]) = goals[i] then
                    finished[i] <- true
                    rewards[i] <- GoalReward

        let steps = s.Steps + 1
        let terminated = Array.forall id finished
        let truncated = not terminated && steps >= config.MaxSteps

        {
            Steps = steps
            Rows = rows
            Cols = cols
            Finished = finished
            Ended = terminated || truncated
        },
        GridWorld.transition rewards terminated truncated

    /// <summary>The name a configuration is reported under: <c>switch2</c> / <c>switch4</c> (<c>switch3</c>) for
    /// ma-gym's <c>-v0</c>, with <c>-v1</c> (full observability), <c>-v2</c> (clock) or <c>-v3</c> (both)
    /// appended otherwise.</summary>
    /// <param name="config">The configuration.</param>
    let name (config: SwitchConfig) : string =
        let version =
            match config.FullObservable, config.Clock with
            | false, false -> ""
            | true, false -> "-v1"
            | false, true -> "-v2"
            | true, true -> "-v3"

        sprintf "switch%d%s" config.Agents version

    /// <summary>Switch as a pure environment: <c>Agents</c> agents, 5 actions, obs_dim 2 (3 with the clock; times
    /// the number of agents when fully observable), state_dim 2·N (3·N with the clock), episode limit
    /// <c>MaxSteps</c>.</summary>
    /// <param name="config">The options; <c>Switch.config2</c> and <c>Switch.config4</c> are
    /// <c>Switch2-v0</c> and <c>Switch4-v0</c>.</param>
    /// <exception cref="System.ArgumentException"><c>Agents</c> is outside 2..4, <c>MaxSteps</c> is not positive
    /// or <c>StepCost</c> is not finite.</exception>
    let make (config: SwitchConfig) : Env<SwitchState> =
        if config.Agents < 2 || config.Agents > 4 then
            invalidArg (nameof config) (sprintf "switch: Agents must be 2, 3 or 4, got %d" config.Agents)

        if config.MaxSteps < 1 then
            invalidArg (nameof config) (sprintf "switch: MaxSteps must be positive, got %d" config.MaxSteps)

        if not (System.Single.IsFinite config.StepCost) then
            invalidArg (nameof config) (sprintf "switch: StepCost must be finite, got %g" config.StepCost)

        let n = config.Agents
        let agentDim = if config.Clock then 3 else 2

        let spec =
            {
                Name = name config
                NAgents = n
                NActions = 5
                ObsDim = (if config.FullObservable then n * agentDim else agentDim)
                StateDim = n * agentDim
                EpisodeLimit = config.MaxSteps
            }

        let perAgent s = Array.init n (agentObs config s)
        let start = initial n

        GridWorld.validated
            (fun s -> s.Ended)
            {
                Spec = spec
                Reset = fun _ -> start
                Step = fun s actions _ -> step config s actions
                Observations = fun s -> GridWorld.observations config.FullObservable (perAgent s)
                GlobalState = fun s -> Array.concat (perAgent s)
                AvailableActions = fun _ -> Array.create (n * 5) true
            }

    /// <summary><c>Switch2-v0</c>: <c>make config2</c>.</summary>
    let switch2: Env<SwitchState> = make config2

    /// <summary><c>Switch4-v0</c>: <c>make config4</c>.</summary>
    let switch4: Env<SwitchState> = make config4

    /// <summary>A frame as text: a caption line, then one line per row — <c>#</c> wall, <c>.</c> free, a digit
    /// the agent with that index (<c>*</c> after it once it is home), a lower-case letter an empty goal
    /// (<c>a</c> for agent 0's, <c>b</c> for agent 1's, …).</summary>
    /// <param name="state">The state to draw.</param>
    let render (state: SwitchState) : string =
        let n = state.Rows.Length
        let sb = StringBuilder()

        sb.AppendLine(
            sprintf
                "switch%d step %d, home %d/%d%s"
                n
                state.Steps
                (state.Finished |> Array.filter id |> Array.length)
                n
                (if state.Ended then " (ended)" else "")
        )
        |> ignore

        for r in 0 .. H - 1 do
            let line =
                Array.init W (fun c ->
                    match Array.tryFindIndex (fun i -> state.Rows[i] = r && state.Cols[i] = c) [| 0 .. n - 1 |] with
                    | Some i ->
                        if state.Finished[i] then
                            sprintf "%d*" i
                        else
                            sprintf "%d " i
                    | None ->
                        match Array.tryFindIndex (fun g -> g = (r, c)) goals[0 .. n - 1] with
                        | Some i -> sprintf "%c " (char (int 'a' + i))
                        | None -> if isWall r c then "# " else ". ")

            sb.AppendLine((String.concat "" line).TrimEnd()) |> ignore

        sb.ToString()

    /// <summary>A frame as an SVG document: walls black, each agent's goal outlined in its colour, agents as
    /// numbered discs.</summary>
    /// <param name="state">The state to draw.</param>
    let renderSvg (state: SwitchState) : string =
        let n = state.Rows.Length

        let svg =
            GridWorld.Svg(
                H,
                W,
                sprintf "switch%d step %d, home %d" n state.Steps (state.Finished |> Array.filter id |> Array.length)
            )

        for r in 0 .. H - 1 do
            for c in 0 .. W - 1 do
                if isWall r c then
                    svg.Fill(r, c, "black", 0.0)

        for i in 0 .. n - 1 do
            let r, c = goals[i]
            svg.Outline(r, c, GridWorld.agentColour i)

        for i in 0 .. n - 1 do
            svg.Disc(state.Rows[i], state.Cols[i], GridWorld.agentColour i, 0.3, string i, 0.0, 0.0)

        string svg
