namespace Qmix.Functional.Envs

open System
open System.Text
open System.Text.RegularExpressions
open Qmix.Tensors
open Qmix.Functional

/// <summary>The options of Level-Based Foraging (semitable/lb-foraging v3, <c>ForagingEnv</c>). The registered
/// tasks <c>Foraging[-2s]-{S}x{S}-{P}p-{F}f[-coop]-v3</c> are <c>Lbf.config "{S}x{S}-{P}p-{F}f[-2s][-coop]"</c>.</summary>
type LbfConfig =
    {
        /// <summary>The side S of the square field.</summary>
        FieldSize: int
        /// <summary>The number of players P (the agents).</summary>
        Players: int
        /// <summary>The number of food items F placed at reset (fewer if placement runs out of its 1000
        /// attempts).</summary>
        MaxFood: int
        /// <summary>How far (Chebyshev distance) a player sees: S for full observability, 2 for the <c>-2s</c>
        /// tasks.</summary>
        Sight: int
        /// <summary>Every food gets the highest level allowed, so the lowest-level players must load together
        /// (<c>-coop</c>).</summary>
        ForceCoop: bool
        /// <summary>The episode limit; 50 for every registered task.</summary>
        MaxEpisodeSteps: int
        /// <summary>The lowest player level; 1 for every registered task.</summary>
        MinPlayerLevel: int
        /// <summary>The highest player level; 2 for every registered task.</summary>
        MaxPlayerLevel: int
        /// <summary>The lowest food level; 1 for every registered task.</summary>
        MinFoodLevel: int
        /// <summary>The highest food level; <c>None</c> (every registered task) caps it at the sum of the three
        /// lowest player levels of the episode.</summary>
        MaxFoodLevel: int option
        /// <summary>Subtracted from the reward of every member of a group that fails to load; 0 for the
        /// registered tasks (0.1 for the unregistered <c>-pen</c> ones).</summary>
        Penalty: float32
        /// <summary>Divide rewards by the group's level sum and the episode's total food level (default true), so
        /// that a fully cleared episode pays the team exactly 1.</summary>
        NormaliseReward: bool
        /// <summary>Report only valid actions as available (lb-foraging's <c>_valid_actions</c>). Default false, as
        /// in EPyMARL: every action is available and an invalid one acts as none.</summary>
        MaskInvalidActions: bool
    }

/// <summary>A Level-Based Foraging state: the step count, the players' cells and levels and the food left.
/// Immutable: a step returns a new state and never changes its input.</summary>
type LbfState =
    {
        /// <summary>Steps taken in this episode.</summary>
        Steps: int
        /// <summary>The side S of the square field.</summary>
        FieldSize: int
        /// <summary>Each player's row.</summary>
        Rows: int[]
        /// <summary>Each player's column.</summary>
        Cols: int[]
        /// <summary>Each player's level.</summary>
        Levels: int[]
        /// <summary>The food level on each cell, row-major (cell (r, c) at <c>r * S + c</c>); 0 = no food.</summary>
        Food: int[]
        /// <summary>The sum of the levels of all food placed at reset (the reward normaliser).</summary>
        FoodSpawned: int
        /// <summary>The episode is over (no food left or the limit reached); it cannot be stepped.</summary>
        Ended: bool
    }

/// <summary>Level-Based Foraging (semitable/lb-foraging v3, <c>foraging/environment.py</c>): players with levels
/// collect food with levels on a square grid; a food is loaded when the players loading it next to it have
/// levels summing at least to its level.</summary>
/// <remarks>
/// <para><b>Reset</b> (random): each player on a uniformly random empty cell, level uniform in
/// [<c>MinPlayerLevel</c>, <c>MaxPlayerLevel</c>]. Then up to <c>MaxFood</c> foods by at most 1000 random
/// attempts, each at a row and column in [1, S−2] on a cell without a player, with no food in its 3 × 3
/// neighbourhood nor within distance 2 along its row or column. A food's level is uniform in
/// [<c>MinFoodLevel</c>, cap], where the cap is <c>MaxFoodLevel</c> or, when unset, the sum of the three lowest
/// player levels; with <c>ForceCoop</c> it is the cap.</para>
/// <para><b>Actions</b> (6): 0 = none, 1 = north (row−1), 2 = south (row+1), 3 = west (col−1), 4 = east (col+1),
/// 5 = load. An invalid action (a move off the grid or onto food, a load with no food orthogonally next to the
/// player) acts as none; with <c>MaskInvalidActions</c> it is reported unavailable instead.</para>
/// <para><b>Movement</b> is simultaneous: each player claims its target cell (its own for none and load); a cell
/// claimed by two or more players is entered by none of them, a cell claimed by one is entered.</para>
/// <para><b>Loading</b>: each loading player, taken in index order, picks its adjacent food (checked north,
/// south, west, east); the group is every loading player not yet grouped that is orthogonally next to that food.
/// If the group's levels sum to at least the food's level, the food is removed and each member gets
/// <c>level · food / (group level sum · FoodSpawned)</c> (without normalisation <c>level · food</c>); otherwise
/// each member gets −<c>Penalty</c>. The team reward is the sum of the players' rewards. The episode terminates
/// when no food is left and is truncated at <c>MaxEpisodeSteps</c>.</para>
/// <para><b>Observation</b> per player (3F + 3P): for each food in the player's view window (rows and columns
/// within <c>Sight</c>, clipped to the field) in row-major order, (row, col, level) relative to the window's
/// top-left cell, unused slots (−1, −1, 0); then (row, col, level) of the player itself and of each other
/// visible player in index order, in the same coordinates, unused slots (−1, −1, 0). With full sight the
/// coordinates are absolute. The global state is the concatenation of all players' observations.</para>
/// <para><b>Upstream quirks kept</b>: head-on swaps are not blocked; a player may enter the cell of a player
/// whose own move was blocked, so two players can share a cell; a player counts as visible when its
/// window-relative coordinates lie in [0, 2·Sight], which near the top or left border shows players up to
/// 2·Sight away (foods are clipped to the window); the adjacent-food search tests <c>row &gt; 1</c> and
/// <c>col &gt; 1</c> (not 0) for north and west, harmless because food never lies on the border.
/// <b>Changed</b>: lb-foraging pops loading players from a Python set (an arbitrary order, which matters only
/// for a player next to two foods); here they are taken in index order. Players are placed avoiding only the
/// players placed before them (lb-foraging also avoids the previous episode's cells of players not yet placed);
/// stepping after the end raises an <see cref="T:System.ArgumentException"/>.</para>
/// </remarks>
[<RequireQualifiedAccess>]
module Lbf =
    /// <summary>The registered defaults (<c>Foraging-8x8-2p-2f-coop-v3</c>): 8 × 8 field, 2 players of level 1–2,
    /// 2 foods of forced cooperative level, full sight, 50 steps, no penalty, normalised rewards, all actions
    /// available.</summary>
    let defaults: LbfConfig =
        {
            FieldSize = 8
            Players = 2
            MaxFood = 2
            Sight = 8
            ForceCoop = true
            MaxEpisodeSteps = 50
            MinPlayerLevel = 1
            MaxPlayerLevel = 2
            MinFoodLevel = 1
            MaxFoodLevel = None
            Penalty = 0.0f
            NormaliseReward = true
            MaskInvalidActions = false
        }

    let private taskPattern =
        Regex(
            @"^(?:lbf:)?(?:Foraging-)?(?:(?<ps>2s)-)?(?<s>\d+)x(?<s2>\d+)-(?<p>\d+)p-(?<f>\d+)f(?:-(?<s3>\d+)s)?(?<coop>-coop)?(?:-v3)?$",
            RegexOptions.CultureInvariant
        )

    /// <summary>The configuration of a registered task, named <c>{S}x{S}-{P}p-{F}f</c> with an optional sight
    /// suffix <c>-2s</c> (any <c>-{k}s</c>) and <c>-coop</c>, e.g. <c>8x8-2p-2f-coop</c>, <c>8x8-2p-2f-2s-coop</c>,
    /// <c>10x10-3p-3f</c>, <c>15x15-4p-5f-2s</c>. A leading <c>lbf:</c> and lb-foraging's own ids
    /// (<c>Foraging-2s-8x8-2p-2f-coop-v3</c>) are accepted too. Other fields are the registered defaults.</summary>
    /// <param name="task">The task name.</param>
    /// <exception cref="System.ArgumentException">The name is not of that form or the field is not square.</exception>
    let config (task: string) : LbfConfig =
        if isNull task then
            nullArg (nameof task)

        let m = taskPattern.Match task

        if not m.Success || m.Groups["s"].Value <> m.Groups["s2"].Value then
            invalidArg (nameof task) (sprintf "lbf: '%s' is not a task name like 8x8-2p-2f-coop or 10x10-3p-3f-2s" task)

        let size = int m.Groups["s"].Value

        let sight =
            if m.Groups["ps"].Success then 2
            elif m.Groups["s3"].Success then int m.Groups["s3"].Value
            else size

        { defaults with
            FieldSize = size
            Players = int m.Groups["p"].Value
            MaxFood = int m.Groups["f"].Value
            Sight = sight
            ForceCoop = m.Groups["coop"].Success
        }

    /// <summary>The name a configuration is reported under: <c>lbf:{S}x{S}-{P}p-{F}f</c>, then <c>-{Sight}s</c>
    /// when the sight is less than the field, then <c>-coop</c> — e.g. <c>lbf:8x8-2p-2f-2s-coop</c>.</summary>
    /// <param name="config">The configuration.</param>
    let name (config: LbfConfig) : string =
        sprintf
            "lbf:%dx%d-%dp-%df%s%s"
            config.FieldSize
            config.FieldSize
            config.Players
            config.MaxFood
            (if config.Sight < config.FieldSize then
                 sprintf "-%ds" config.Sight
             else
                 "")
            (if config.ForceCoop then "-coop" else "")

    /// <summary>The tasks the library names (the EPyMARL benchmark's): 8x8-2p-2f-coop, 8x8-2p-2f-2s-coop,
    /// 10x10-3p-3f, 10x10-3p-3f-2s, 15x15-3p-5f, 15x15-4p-3f, 15x15-4p-5f and 15x15-4p-5f-2s.</summary>
    let tasks: string list =
        [
            "8x8-2p-2f-coop"
            "8x8-2p-2f-2s-coop"
            "10x10-3p-3f"
            "10x10-3p-3f-2s"
            "15x15-3p-5f"
            "15x15-4p-3f"
            "15x15-4p-5f"
            "15x15-4p-5f-2s"
        ]

    let private noFoodNear (size: int) (food: int[]) (r: int) (c: int) =
        let mutable clear = true

        for rr in max (r - 1) 0 .. min (r + 1) (size - 1) do
            for cc in max (c - 1) 0 .. min (c + 1) (size - 1) do
                if food[rr * size + cc] > 0 then
                    clear <- false

        for rr in max (r - 2) 0 .. min (r + 2) (size - 1) do
            if food[rr * size + c] > 0 then
                clear <- false

        for cc in max (c - 2) 0 .. min (c + 2) (size - 1) do
            if food[r * size + cc] > 0 then
                clear <- false

        clear

    let private reset (config: LbfConfig) (key: Key) : LbfState =
        let size, n = config.FieldSize, config.Players
        let kPlayers, kFood = Rng.split key
        let kCell, kLevel = Rng.split kPlayers
        let taken = Array.zeroCreate (size * size)
        let rows, cols, levels = Array.zeroCreate n, Array.zeroCreate n, Array.zeroCreate n

        // players: a uniformly random empty cell each (lb-foraging draws by rejection; the distribution is the same)
        for i in 0 .. n - 1 do
            let free =
                [|
                    for cell in 0 .. size * size - 1 do
                        if not taken[cell] then
                            cell
                |]

            let cell = free[Rng.intBelow (Rng.foldIn i kCell) free.Length]
            taken[cell] <- true
            rows[i] <- cell / size
            cols[i] <- cell % size

            levels[i] <-
                config.MinPlayerLevel
                + Rng.intBelow (Rng.foldIn i kLevel) (config.MaxPlayerLevel - config.MinPlayerLevel + 1)

        // foods: lb-foraging's rejection loop of at most 1000 attempts
        let cap =
            match config.MaxFoodLevel with
            | Some m -> m
            | None -> Array.sort levels |> Array.truncate 3 |> Array.sum

        let low = if config.ForceCoop then cap else config.MinFoodLevel
        let food = Array.zeroCreate (size * size)
        let mutable placed = 0
        let mutable attempt = 0

        while placed < config.MaxFood && attempt < 1000 do
            let k = Rng.splitN 3 (Rng.foldIn attempt kFood)
            attempt <- attempt + 1
            let r = 1 + Rng.intBelow k[0] (size - 2)
            let c = 1 + Rng.intBelow k[1] (size - 2)

            if not taken[r * size + c] && noFoodNear size food r c then
                food[r * size + c] <-
                    (if low = cap then
                         cap
                     else
                         low + Rng.intBelow k[2] (cap - low + 1))

                placed <- placed + 1

        {
            Steps = 0
            FieldSize = size
            Rows = rows
            Cols = cols
            Levels = levels
            Food = food
            FoodSpawned = Array.sum food
            Ended = false
        }

    /// Whether player i may take action a (lb-foraging's _is_valid_action).
    let private isValid (s: LbfState) (i: int) (a: int) =
        let size = s.FieldSize
        let r, c = s.Rows[i], s.Cols[i]
        let foodAt rr cc = s.Food[rr * size + cc]

        match a with
        | 0 -> true
        | 1 -> r > 0 && foodAt (r - 1) c = 0
        | 2 -> r < size - 1 && foodAt (r + 1) c = 0
        | 3 -> c > 0 && foodAt r (c - 1) = 0
        | 4 -> c < size - 1 && foodAt r (c + 1) = 0
        | _ ->
            // lb-foraging's adjacent_food clamps at the border (reading the player's own, food-free cell)
            foodAt (max (r - 1) 0) c
            + foodAt (min (r + 1) (size - 1)) c
            + foodAt r (max (c - 1) 0)
            + foodAt r (min (c + 1) (size - 1))
                >
                0

    /// lb-foraging's adjacent_food_location, with its row > 1 / col > 1 tests for north and west.
    let private adjacentFood (size: int) (food: int[]) (r: int) (c: int) =
        if r > 1 && food[(r - 1) * size + c] > 0 then
            ValueSome(r - 1, c)
        elif r < size - 1 && food[(r + 1) * size + c] > 0 then
            ValueSome(r + 1, c)
        elif c > 1 && food[r * size + c - 1] > 0 then
            ValueSome(r, c - 1)
        elif c < size - 1 && food[r * size + c + 1] > 0 then
            ValueSome(r, c + 1)
        else
            ValueNone

    let private step (config: LbfConfig) (s: LbfState) (actions: int[]) : LbfState * Transition =
        let size, n = s.FieldSize, s.Rows.Length
        // invalid actions act as none
        let acts = Array.init n (fun i -> if isValid s i actions[i] then actions[i] else 0)

        let targets =
            Array.init n (fun i ->
                let r, c = s.Rows[i], s.Cols[i]

                match acts[i] with
                | 1 -> struct (r - 1, c)
                | 2 -> struct (r + 1, c)
                | 3 -> struct (r, c - 1)
                | 4 -> struct (r, c + 1)
                | _ -> struct (r, c))

        // a cell claimed by exactly one player is entered; contested cells by none
        let rows, cols = Array.copy s.Rows, Array.copy s.Cols

        for i in 0 .. n - 1 do
            let claims = targets |> Array.sumBy (fun t -> if t = targets[i] then 1 else 0)

            if claims = 1 then
                let struct (r, c) = targets[i]
                rows[i] <- r
                cols[i] <- c

        // loading, group by group, loaders in index order
        let food = Array.copy s.Food
        let rewards = Array.zeroCreate n
        let grouped = Array.init n (fun i -> acts[i] <> 5)

        for i in 0 .. n - 1 do
            if not grouped[i] then
                match adjacentFood size food rows[i] cols[i] with
                | ValueNone -> grouped[i] <- true
                | ValueSome(fr, fc) ->
                    let group =
                        [|
                            for j in 0 .. n - 1 do
                                if
                                    not grouped[j]
                                    && (abs (rows[j] - fr) = 1 && cols[j] = fc || abs (cols[j] - fc) = 1 && rows[j] = fr)
                                then
                                    j
                        |]

                    for j in group do
                        grouped[j] <- true

                    let levelSum = group |> Array.sumBy (fun j -> s.Levels[j])
                    let level = food[fr * size + fc]

                    if levelSum < level then
                        for j in group do
                            rewards[j] <- rewards[j] - config.Penalty
                    else
                        for j in group do
                            let raw = float s.Levels[j] * float level

                            rewards[j] <-
                                float32 (
                                    if config.NormaliseReward then
                                        raw / (float levelSum * float s.FoodSpawned)
                                    else
                                        raw
                                )

                        food[fr * size + fc] <- 0

        let steps = s.Steps + 1
        let terminated = Array.forall (fun f -> f = 0) food
        let truncated = not terminated && steps >= config.MaxEpisodeSteps

        {
            Steps = steps
            FieldSize = size
            Rows = rows
            Cols = cols
            Levels = s.Levels
            Food = food
            FoodSpawned = s.FoodSpawned
            Ended = terminated || truncated
        },
        GridWorld.transition rewards terminated truncated

    /// Player i's observation (lb-foraging's make_obs_array with observed levels).
    let private agentObs (config: LbfConfig) (s: LbfState) (i: int) =
        let size, n, f, sight = s.FieldSize, s.Rows.Length, config.MaxFood, config.Sight
        let o = Array.zeroCreate (3 * f + 3 * n)

        for k in 0 .. f + n - 1 do
            o[3 * k] <- -1.0f
            o[3 * k + 1] <- -1.0f

        let r, c = s.Rows[i], s.Cols[i]
        let r0, c0 = min sight r, min sight c
        let mutable k = 0

        for rr in max (r - sight) 0 .. min (r + sight) (size - 1) do
            for cc in max (c - sight) 0 .. min (c + sight) (size - 1) do
                let level = s.Food[rr * size + cc]

                if level > 0 && k < f then
                    o[3 * k] <- float32 (rr - r + r0)
                    o[3 * k + 1] <- float32 (cc - c + c0)
                    o[3 * k + 2] <- float32 level
                    k <- k + 1

        let mutable slot = f

        for j in Array.append [| i |] (Array.filter ((<>) i) [| 0 .. n - 1 |]) do
            let tr, tc = s.Rows[j] - r + r0, s.Cols[j] - c + c0

            if min tr tc >= 0 && max tr tc <= 2 * sight then
                o[3 * slot] <- float32 tr
                o[3 * slot + 1] <- float32 tc
                o[3 * slot + 2] <- float32 s.Levels[j]
                slot <- slot + 1

        o

    /// <summary>Level-Based Foraging as a pure environment: <c>Players</c> agents, 6 actions,
    /// obs_dim 3·F + 3·P, state_dim P·(3·F + 3·P), episode limit <c>MaxEpisodeSteps</c>. E.g. 8x8-2p-2f: 12 / 24;
    /// 10x10-3p-3f: 18 / 54; 15x15-4p-5f: 27 / 108.</summary>
    /// <param name="config">The options; <c>Lbf.config "10x10-3p-3f"</c> gives a registered task.</param>
    /// <exception cref="System.ArgumentException">The field is smaller than 3, counts or levels are not positive,
    /// there are more players than cells, a level range is empty, the lowest food level can exceed the cap, the
    /// penalty is not finite or the limit is not positive.</exception>
    let make (config: LbfConfig) : Env<LbfState> =
        let fail fmt =
            Printf.kprintf (fun msg -> invalidArg (nameof config) (sprintf "lbf: %s" msg)) fmt

        if config.FieldSize < 3 then
            fail "FieldSize must be at least 3, got %d" config.FieldSize

        if config.Players < 1 || config.MaxFood < 1 || config.Sight < 1 then
            fail "Players, MaxFood and Sight must be positive"

        if config.Players > config.FieldSize * config.FieldSize then
            fail "%d players do not fit on a %d x %d field" config.Players config.FieldSize config.FieldSize

        if config.MinPlayerLevel < 1 || config.MaxPlayerLevel < config.MinPlayerLevel then
            fail "player levels must satisfy 1 <= MinPlayerLevel <= MaxPlayerLevel"

        let lowestCap =
            match config.MaxFoodLevel with
            | Some m -> m
            | None -> config.MinPlayerLevel * min 3 config.Players

        if config.MinFoodLevel < 1 || config.MinFoodLevel > lowestCap then
            fail
                "MinFoodLevel must be in 1..%d (the lowest possible food level cap), got %d"
                lowestCap
                config.MinFoodLevel

        if not (Single.IsFinite config.Penalty) then
            fail "Penalty must be finite"

        if config.MaxEpisodeSteps < 1 then
            fail "MaxEpisodeSteps must be positive, got %d" config.MaxEpisodeSteps

        let n = config.Players
        let obsDim = 3 * config.MaxFood + 3 * n

        let spec =
            {
                Name = name config
                NAgents = n
                NActions = 6
                ObsDim = obsDim
                StateDim = n * obsDim
                EpisodeLimit = config.MaxEpisodeSteps
            }

        let observations s =
            Array.init n (agentObs config s) |> Array.concat

        let available =
            if config.MaskInvalidActions then
                fun s -> Array.init (n * 6) (fun k -> isValid s (k / 6) (k % 6))
            else
                fun _ -> Array.create (n * 6) true

        GridWorld.validated
            (fun s -> s.Ended)
            {
                Spec = spec
                Reset = reset config
                Step = fun s actions _ -> step config s actions
                Observations = observations
                GlobalState = observations
                AvailableActions = available
            }

    /// <summary>A registered task as an environment: <c>make (config task)</c>.</summary>
    /// <param name="task">The task name, e.g. <c>10x10-3p-3f-2s</c>.</param>
    let env (task: string) : Env<LbfState> = make (config task)

    let private letter (i: int) = string (char (int 'A' + i % 26))

    /// <summary>A frame as text: a caption line with every player's level, then one line per row — <c>..</c>
    /// empty, <c>*k</c> food of level k, a letter and a level the player (<c>A</c> = agent 0) of that level.</summary>
    /// <param name="state">The state to draw.</param>
    let render (state: LbfState) : string =
        let size = state.FieldSize
        let sb = StringBuilder()

        let players =
            Array.init state.Rows.Length (fun i -> sprintf "%s%d" (letter i) state.Levels[i])
            |> String.concat " "

        sb.AppendLine(
            sprintf
                "lbf step %d, food left %d, players %s%s"
                state.Steps
                (state.Food |> Array.filter (fun f -> f > 0) |> Array.length)
                players
                (if state.Ended then " (ended)" else "")
        )
        |> ignore

        for r in 0 .. size - 1 do
            let line =
                Array.init size (fun c ->
                    match
                        Array.tryFindIndex
                            (fun i -> state.Rows[i] = r && state.Cols[i] = c)
                            [| 0 .. state.Rows.Length - 1 |]
                    with
                    | Some i -> sprintf "%s%d" (letter i) state.Levels[i]
                    | None ->
                        match state.Food[r * size + c] with
                        | 0 -> ".."
                        | level -> sprintf "*%d" level)

            sb.AppendLine((String.concat " " line).TrimEnd()) |> ignore

        sb.ToString()

    /// <summary>A frame as an SVG document: food as green squares labelled with their level, players as discs in
    /// their colours labelled with their level (players sharing a cell are drawn side by side).</summary>
    /// <param name="state">The state to draw.</param>
    let renderSvg (state: LbfState) : string =
        let size = state.FieldSize

        let svg =
            GridWorld.Svg(
                size,
                size,
                sprintf
                    "lbf step %d, food left %d"
                    state.Steps
                    (state.Food |> Array.filter (fun f -> f > 0) |> Array.length)
            )

        for r in 0 .. size - 1 do
            for c in 0 .. size - 1 do
                match state.Food[r * size + c] with
                | 0 -> ()
                | level ->
                    svg.Fill(r, c, "#2ca02c", 0.12)
                    svg.Label(r, c, string level, "white")

        for i in 0 .. state.Rows.Length - 1 do
            let before =
                [| 0 .. i - 1 |]
                |> Array.filter (fun j -> state.Rows[j] = state.Rows[i] && state.Cols[j] = state.Cols[i])
                |> Array.length

            svg.Disc(
                state.Rows[i],
                state.Cols[i],
                GridWorld.agentColour i,
                (if before = 0 then 0.35 else 0.2),
                string state.Levels[i],
                0.25 * float before,
                0.25 * float before
            )

        string svg
