namespace Qmix.Functional.Envs

open System.Text
open Qmix.Tensors
open Qmix.Functional

/// <summary>The options of ma-gym's PredatorPrey (<c>PredatorPrey5x5-v0</c> … <c>PredatorPrey7x7-v3</c>).</summary>
type PredatorPreyConfig =
    {
        /// <summary>Grid height H.</summary>
        GridRows: int
        /// <summary>Grid width W.</summary>
        GridCols: int
        /// <summary>The number of predators (the agents).</summary>
        Predators: int
        /// <summary>The number of prey.</summary>
        Prey: int
        /// <summary>The prey's move distribution over (down, left, up, right, stay); default
        /// (0.175, 0.175, 0.175, 0.175, 0.3). Stationary prey (ma-gym <c>-v2</c>/<c>-v3</c>): (0, 0, 0, 0, 1).</summary>
        PreyMoveProbs: float32 list
        /// <summary>Every agent observes all agents' vectors (ma-gym <c>-v1</c>/<c>-v3</c>); default false.</summary>
        FullObservable: bool
        /// <summary>Added to every agent's reward for each prey with exactly one predator next to it; default −0.5.</summary>
        Penalty: float32
        /// <summary>Every agent's reward each step; default −0.01.</summary>
        StepCost: float32
        /// <summary>Added to every agent's reward for each prey captured (two or more predators next to it);
        /// default 5.</summary>
        CaptureReward: float32
        /// <summary>The episode limit; default 100.</summary>
        MaxSteps: int
    }

/// <summary>A PredatorPrey state: the step count, the grid size, every predator's and prey's cell and which
/// prey are still free. Immutable: a step returns a new state and never changes its input.</summary>
type PredatorPreyState =
    {
        /// <summary>Steps taken in this episode.</summary>
        Steps: int
        /// <summary>Grid height H.</summary>
        GridRows: int
        /// <summary>Grid width W.</summary>
        GridCols: int
        /// <summary>Each predator's row.</summary>
        Rows: int[]
        /// <summary>Each predator's column.</summary>
        Cols: int[]
        /// <summary>Each prey's row (its last cell once captured).</summary>
        PreyRows: int[]
        /// <summary>Each prey's column (its last cell once captured).</summary>
        PreyCols: int[]
        /// <summary>Whether each prey is still free; captured prey leave the grid.</summary>
        PreyAlive: bool[]
        /// <summary>The episode is over (every prey captured or the limit reached); it cannot be stepped.</summary>
        Ended: bool
    }

/// <summary>ma-gym's PredatorPrey (koulanurag/ma-gym, <c>predator_prey.py</c>): predators (the agents) must
/// surround prey together; a lone predator next to a prey costs the team.</summary>
/// <remarks>
/// <para><b>Reset</b> (random): each predator in turn on a uniformly random vacant cell with row &lt; H−1 and
/// column &lt; W−1, then each prey on a uniformly random vacant cell in the same range with no predator
/// orthogonally next to it. ma-gym draws by rejection (<c>randint(0, H−1)</c>); drawing uniformly among the
/// acceptable cells gives the same distribution.</para>
/// <para><b>Actions</b> (5, all always available): 0 = down, 1 = left, 2 = up, 3 = right, 4 = no-op. Predators
/// move in index order; a move succeeds only into an empty cell on the grid (prey and other predators block).</para>
/// <para><b>Prey</b>, in index order, after all predators have moved: with c predators orthogonally next to it,
/// c = 1 adds <c>Penalty</c> to every agent's reward and the prey stays free; c ≥ 2 adds <c>CaptureReward</c>
/// to every agent's reward and the prey is captured (removed from the grid). A free prey then draws up to five
/// moves from <c>PreyMoveProbs</c> and takes the first whose destination has no predator orthogonally next to
/// it (else it stays); it moves only if that destination is an empty cell on the grid. Randomness comes from the
/// step's key only.</para>
/// <para><b>Reward</b>: every agent gets <c>StepCost</c> plus the penalties and captures above (all agents get
/// the same); the team reward is their sum (N times one agent's). The episode terminates when every prey is
/// captured and is truncated at <c>MaxSteps</c>.</para>
/// <para><b>Observation</b> per agent (28): [row / (H−1), col / (W−1)], the 5 × 5 window centred on the agent
/// (row-major) with 1 where a free prey is (cells off the grid 0), then steps / MaxSteps. Full observability
/// gives every agent all vectors (56 for 5 × 5, 112 for 7 × 7). The global state is the concatenation of all
/// agents' vectors.</para>
/// <para><b>Upstream quirks kept</b>: reset never uses the last row or column (ma-gym's exclusive bound); a
/// prey's candidate move is judged by the predators next to its destination even when the destination is off
/// the grid or occupied (the move then fails and the prey stays), and a "stay" candidate is judged by the
/// predators next to the prey itself. <b>Dropped</b>: stepping after the end raises an
/// <see cref="T:System.ArgumentException"/>.</para>
/// </remarks>
[<RequireQualifiedAccess>]
module PredatorPrey =
    let private stationary = [ 0.0f; 0.0f; 0.0f; 0.0f; 1.0f ]

    /// <summary><c>PredatorPrey5x5-v0</c>: 5 × 5 grid, 2 predators, 1 prey moving with probabilities
    /// (0.175, 0.175, 0.175, 0.175, 0.3), partial observability, penalty −0.5, step cost −0.01, capture
    /// reward 5, 100 steps.</summary>
    let config5x5: PredatorPreyConfig =
        {
            GridRows = 5
            GridCols = 5
            Predators = 2
            Prey = 1
            PreyMoveProbs = [ 0.175f; 0.175f; 0.175f; 0.175f; 0.3f ]
            FullObservable = false
            Penalty = -0.5f
            StepCost = -0.01f
            CaptureReward = 5.0f
            MaxSteps = 100
        }

    /// <summary><c>PredatorPrey7x7-v0</c>: <c>config5x5</c> on a 7 × 7 grid with 4 predators and 2 prey.</summary>
    let config7x7: PredatorPreyConfig =
        { config5x5 with
            GridRows = 7
            GridCols = 7
            Predators = 4
            Prey = 2
        }

    /// <summary>Turns a configuration into ma-gym's stationary-prey variant (<c>-v2</c>, or <c>-v3</c> with full
    /// observability): prey never move.</summary>
    /// <param name="config">The configuration.</param>
    let withStationaryPrey (config: PredatorPreyConfig) : PredatorPreyConfig =
        { config with
            PreyMoveProbs = stationary
        }

    /// <summary>The name a configuration is reported under: <c>predator-prey-5x5</c> / <c>predator-prey-7x7</c>
    /// for ma-gym's <c>-v0</c>, with <c>-v1</c> (full observability), <c>-v2</c> (stationary prey) or <c>-v3</c>
    /// (both) appended otherwise.</summary>
    /// <param name="config">The configuration.</param>
    let name (config: PredatorPreyConfig) : string =
        let version =
            match config.FullObservable, config.PreyMoveProbs = stationary with
            | false, false -> ""
            | true, false -> "-v1"
            | false, true -> "-v2"
            | true, true -> "-v3"

        sprintf "predator-prey-%dx%d%s" config.GridRows config.GridCols version

    /// Grid codes: 0 empty, 1 + i predator i, −(1 + j) free prey j.
    let private grid (s: PredatorPreyState) =
        let g = Array.zeroCreate (s.GridRows * s.GridCols)

        for i in 0 .. s.Rows.Length - 1 do
            g[s.Rows[i] * s.GridCols + s.Cols[i]] <- 1 + i

        for j in 0 .. s.PreyRows.Length - 1 do
            if s.PreyAlive[j] then
                g[s.PreyRows[j] * s.GridCols + s.PreyCols[j]] <- -(1 + j)

        g

    /// Predators orthogonally next to (r, c), counting only neighbours on the grid ((r, c) itself may be off it).
    let private predatorsNextTo (h: int) (w: int) (g: int[]) (r: int) (c: int) =
        let at rr cc =
            if rr >= 0 && rr < h && cc >= 0 && cc < w && g[rr * w + cc] > 0 then
                1
            else
                0

        at (r + 1) c + at (r - 1) c + at r (c + 1) + at r (c - 1)

    /// A draw from the move distribution (cumulative probabilities) with one uniform number.
    let private sampleMove (cumulative: float32[]) (key: Key) =
        let u = Rng.float32 key
        let mutable m = 0

        while m < 4 && u >= cumulative[m] do
            m <- m + 1

        m

    let private reset (config: PredatorPreyConfig) (key: Key) : PredatorPreyState =
        let h, w = config.GridRows, config.GridCols
        let kPred, kPrey = Rng.split key
        let g = Array.zeroCreate (h * w)

        let pick (k: Key) (ok: int -> int -> bool) =
            let cells =
                [|
                    for r in 0 .. h - 2 do
                        for c in 0 .. w - 2 do
                            if g[r * w + c] = 0 && ok r c then
                                r, c
                |]

            if cells.Length = 0 then
                invalidOp (sprintf "%s: no vacant cell left at reset" (name config))

            cells[Rng.intBelow k cells.Length]

        let rows, cols =
            Array.zeroCreate config.Predators, Array.zeroCreate config.Predators

        for i in 0 .. config.Predators - 1 do
            let r, c = pick (Rng.foldIn i kPred) (fun _ _ -> true)
            rows[i] <- r
            cols[i] <- c
            g[r * w + c] <- 1 + i

        let preyRows, preyCols = Array.zeroCreate config.Prey, Array.zeroCreate config.Prey

        for j in 0 .. config.Prey - 1 do
            let r, c = pick (Rng.foldIn j kPrey) (fun r c -> predatorsNextTo h w g r c = 0)
            preyRows[j] <- r
            preyCols[j] <- c
            g[r * w + c] <- -(1 + j)

        {
            Steps = 0
            GridRows = h
            GridCols = w
            Rows = rows
            Cols = cols
            PreyRows = preyRows
            PreyCols = preyCols
            PreyAlive = Array.create config.Prey true
            Ended = false
        }

    let private step
        (config: PredatorPreyConfig)
        (cumulative: float32[])
        (s: PredatorPreyState)
        (actions: int[])
        (key: Key)
        : PredatorPreyState * Transition =
        let h, w = s.GridRows, s.GridCols
        let n = s.Rows.Length
        let g = grid s
        let rows, cols = Array.copy s.Rows, Array.copy s.Cols

        let preyRows, preyCols, alive =
            Array.copy s.PreyRows, Array.copy s.PreyCols, Array.copy s.PreyAlive

        let rewards = Array.create n config.StepCost

        // predators move in index order into empty cells
        for i in 0 .. n - 1 do
            let struct (r, c) = GridWorld.maGymTarget actions[i] rows[i] cols[i]

            if
                (r <> rows[i] || c <> cols[i])
                && r >= 0
                && r < h
                && c >= 0
                && c < w
                && g[r * w + c] = 0
            then
                g[rows[i] * w + cols[i]] <- 0
                g[r * w + c] <- 1 + i
                rows[i] <- r
                cols[i] <- c

        // then each free prey: penalty or capture, then a cautious random move
        for j in 0 .. alive.Length - 1 do
            if alive[j] then
                let pr, pc = preyRows[j], preyCols[j]
                let count = predatorsNextTo h w g pr pc

                if count >= 1 then
                    let reward = if count = 1 then config.Penalty else config.CaptureReward

                    for i in 0 .. n - 1 do
                        rewards[i] <- rewards[i] + reward

                    alive[j] <- (count = 1)

                if alive[j] then
                    let kPrey = Rng.foldIn j key
                    let mutable move = 4
                    let mutable tries = 0

                    while tries < 5 do
                        let m = sampleMove cumulative (Rng.foldIn tries kPrey)
                        let struct (r, c) = GridWorld.maGymTarget m pr pc

                        if predatorsNextTo h w g r c = 0 then
                            move <- m
                            tries <- 5
                        else
                            tries <- tries + 1

                    let struct (r, c) = GridWorld.maGymTarget move pr pc

                    if move <> 4 && r >= 0 && r < h && c >= 0 && c < w && g[r * w + c] = 0 then
                        g[pr * w + pc] <- 0
                        g[r * w + c] <- -(1 + j)
                        preyRows[j] <- r
                        preyCols[j] <- c
                else
                    g[pr * w + pc] <- 0

        let steps = s.Steps + 1
        let terminated = not (Array.exists id alive)
        let truncated = not terminated && steps >= config.MaxSteps

        {
            Steps = steps
            GridRows = h
            GridCols = w
            Rows = rows
            Cols = cols
            PreyRows = preyRows
            PreyCols = preyCols
            PreyAlive = alive
            Ended = terminated || truncated
        },
        GridWorld.transition rewards terminated truncated

    let private agentObs (config: PredatorPreyConfig) (s: PredatorPreyState) (i: int) =
        let o = Array.zeroCreate 28
        let r0, c0 = s.Rows[i], s.Cols[i]
        o[0] <- float32 r0 / float32 (s.GridRows - 1)
        o[1] <- float32 c0 / float32 (s.GridCols - 1)

        for j in 0 .. s.PreyRows.Length - 1 do
            let dr, dc = s.PreyRows[j] - r0, s.PreyCols[j] - c0

            if s.PreyAlive[j] && abs dr <= 2 && abs dc <= 2 then
                o[2 + (dr + 2) * 5 + (dc + 2)] <- 1.0f

        o[27] <- float32 s.Steps / float32 config.MaxSteps
        o

    /// <summary>PredatorPrey as a pure environment: <c>Predators</c> agents, 5 actions, obs_dim 28 (28·N when
    /// fully observable), state_dim 28·N, episode limit <c>MaxSteps</c>.</summary>
    /// <param name="config">The options; <c>PredatorPrey.config5x5</c> and <c>PredatorPrey.config7x7</c> are
    /// ma-gym's <c>-v0</c> variants.</param>
    /// <exception cref="System.ArgumentException">A size or count is not positive, (H−1)·(W−1) &lt; 5·Predators +
    /// Prey (reset might find no cell), the move distribution is not five non-negative numbers summing to 1, a
    /// reward is not finite, or <c>MaxSteps</c> is not positive.</exception>
    let make (config: PredatorPreyConfig) : Env<PredatorPreyState> =
        let fail fmt =
            Printf.kprintf (fun msg -> invalidArg (nameof config) (sprintf "predator-prey: %s" msg)) fmt

        if config.GridRows < 2 || config.GridCols < 2 then
            fail "the grid must be at least 2 x 2, got %d x %d" config.GridRows config.GridCols

        if config.Predators < 1 || config.Prey < 1 then
            fail "Predators and Prey must be positive, got %d and %d" config.Predators config.Prey

        if (config.GridRows - 1) * (config.GridCols - 1) < 5 * config.Predators + config.Prey then
            fail
                "a %d x %d grid is too small for %d predators and %d prey"
                config.GridRows
                config.GridCols
                config.Predators
                config.Prey

        let probs = Array.ofList config.PreyMoveProbs

        if
            probs.Length <> 5
            || probs |> Array.exists (fun p -> not (p >= 0.0f))
            || abs (Array.sum probs - 1.0f) > 1e-4f
        then
            fail "PreyMoveProbs must be 5 non-negative probabilities summing to 1, got %A" config.PreyMoveProbs

        if
            not (
                System.Single.IsFinite config.Penalty
                && System.Single.IsFinite config.StepCost
                && System.Single.IsFinite config.CaptureReward
            )
        then
            fail "rewards must be finite"

        if config.MaxSteps < 1 then
            fail "MaxSteps must be positive, got %d" config.MaxSteps

        // cumulative probabilities; the last entry covers rounding (moves of probability 0 are never drawn)
        let cumulative = Array.scan (+) 0.0f probs |> Array.tail
        let lastPositive = Array.findIndexBack (fun p -> p > 0.0f) probs

        for m in lastPositive..4 do
            cumulative[m] <- System.Single.PositiveInfinity

        let n = config.Predators

        let spec =
            {
                Name = name config
                NAgents = n
                NActions = 5
                ObsDim = (if config.FullObservable then 28 * n else 28)
                StateDim = 28 * n
                EpisodeLimit = config.MaxSteps
            }

        let perAgent s = Array.init n (agentObs config s)

        GridWorld.validated
            (fun s -> s.Ended)
            {
                Spec = spec
                Reset = reset config
                Step = step config cumulative
                Observations = fun s -> GridWorld.observations config.FullObservable (perAgent s)
                GlobalState = fun s -> Array.concat (perAgent s)
                AvailableActions = fun _ -> Array.create (n * 5) true
            }

    /// <summary><c>PredatorPrey5x5-v0</c>: <c>make config5x5</c>.</summary>
    let predatorPrey5x5: Env<PredatorPreyState> = make config5x5

    /// <summary><c>PredatorPrey7x7-v0</c>: <c>make config7x7</c>.</summary>
    let predatorPrey7x7: Env<PredatorPreyState> = make config7x7

    /// <summary>A frame as text: a caption line, then one line per row — <c>.</c> empty, a digit the predator
    /// with that index, <c>P</c> a free prey.</summary>
    /// <param name="state">The state to draw.</param>
    let render (state: PredatorPreyState) : string =
        let g = grid state
        let sb = StringBuilder()

        sb.AppendLine(
            sprintf
                "predator-prey step %d, prey free %d/%d%s"
                state.Steps
                (state.PreyAlive |> Array.filter id |> Array.length)
                state.PreyAlive.Length
                (if state.Ended then " (ended)" else "")
        )
        |> ignore

        for r in 0 .. state.GridRows - 1 do
            let line =
                Array.init state.GridCols (fun c ->
                    match g[r * state.GridCols + c] with
                    | 0 -> "."
                    | v when v > 0 -> string (v - 1)
                    | _ -> "P")

            sb.AppendLine(String.concat " " line) |> ignore

        sb.ToString()

    /// <summary>A frame as an SVG document: each predator's neighbourhood shaded, predators as numbered blue
    /// discs, free prey as red discs.</summary>
    /// <param name="state">The state to draw.</param>
    let renderSvg (state: PredatorPreyState) : string =
        let h, w = state.GridRows, state.GridCols

        let svg =
            GridWorld.Svg(
                h,
                w,
                sprintf
                    "predator-prey step %d, prey free %d"
                    state.Steps
                    (state.PreyAlive |> Array.filter id |> Array.length)
            )

        for i in 0 .. state.Rows.Length - 1 do
            for dr, dc in [ 0, 0; 1, 0; -1, 0; 0, 1; 0, -1 ] do
                let r, c = state.Rows[i] + dr, state.Cols[i] + dc

                if r >= 0 && r < h && c >= 0 && c < w then
                    svg.Fill(r, c, "#baeef7", 0.1)

        for i in 0 .. state.Rows.Length - 1 do
            svg.Disc(state.Rows[i], state.Cols[i], "#1f5fd6", 0.35, string i, 0.0, 0.0)

        for j in 0 .. state.PreyRows.Length - 1 do
            if state.PreyAlive[j] then
                svg.Disc(state.PreyRows[j], state.PreyCols[j], "#d62728", 0.35, "P", 0.0, 0.0)

        string svg
