module Qmix.Functional.Tests.GridLbfTests

open System
open Expecto
open Qmix.Tests
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

let private key = Rng.key 0UL

let private rewards (tr: Transition) = tr.Info.AgentRewards.Value

let private players (s: LbfState) =
    Array.init s.Rows.Length (fun i -> s.Rows[i], s.Cols[i])

/// A state with players (row, col, level) and foods (row, col, level) where the test puts them.
let private state (size: int) (ps: (int * int * int) list) (foods: (int * int * int) list) : LbfState =
    let food = Array.zeroCreate (size * size)

    for r, c, level in foods do
        food[r * size + c] <- level

    {
        Steps = 0
        FieldSize = size
        Rows = ps |> List.map (fun (r, _, _) -> r) |> Array.ofList
        Cols = ps |> List.map (fun (_, c, _) -> c) |> Array.ofList
        Levels = ps |> List.map (fun (_, _, l) -> l) |> Array.ofList
        Food = food
        FoodSpawned = foods |> List.sumBy (fun (_, _, l) -> l)
        Ended = false
    }

/// Plays the joint actions from `s`; returns every (state, transition).
let private playFrom (env: Env<LbfState>) (s: LbfState) (joint: int[] list) =
    joint
    |> List.scan (fun (s, _) a -> env.Step s a key) (s, Env.transition 0.0f false false)
    |> List.tail

// actions
let private none, north, south, west, east, load = 0, 1, 2, 3, 4, 5

let private coop8 = Lbf.env "8x8-2p-2f-coop"

/// The six required tasks.
let private required =
    [
        "8x8-2p-2f-coop"
        "8x8-2p-2f-2s-coop"
        "10x10-3p-3f"
        "10x10-3p-3f-2s"
        "15x15-4p-5f"
        "15x15-4p-5f-2s"
    ]

let ``lbf tasks have lb-foraging's sizes and names`` () =
    let sizes =
        required
        |> List.map (fun t ->
            let s = (Lbf.env t).Spec
            s.Name, s.NAgents, s.NActions, s.ObsDim, s.StateDim, s.EpisodeLimit)

    Expect.equal
        sizes
        ([
            "lbf:8x8-2p-2f-coop", 2, 6, 12, 24, 50
            "lbf:8x8-2p-2f-2s-coop", 2, 6, 12, 24, 50
            "lbf:10x10-3p-3f", 3, 6, 18, 54, 50
            "lbf:10x10-3p-3f-2s", 3, 6, 18, 54, 50
            "lbf:15x15-4p-5f", 4, 6, 27, 108, 50
            "lbf:15x15-4p-5f-2s", 4, 6, 27, 108, 50
        ])
        "sizes"

    let c = Lbf.config "Foraging-2s-15x15-4p-5f-coop-v3"

    Expect.equal
        (c.FieldSize, c.Players, c.MaxFood, c.Sight, c.ForceCoop)
        (15, 4, 5, 2, true)
        "(c.FieldSize, c.Players, c.MaxFood, c.Sight, c.ForceCoop)"

    Expect.equal (Lbf.config "lbf:15x15-4p-5f-2s-coop") c "Lbf.config \"lbf:15x15-4p-5f-2s-coop\""

    Expect.equal
        ((Lbf.config "10x10-3p-3f").Sight, (Lbf.config "10x10-3p-3f").ForceCoop)
        (10, false)
        "((Lbf.config \"10x10-3p-3f\").Sight, (Lbf.config \"10x10-3p-3f\").Force..."

    Expect.equal (Lbf.config "8x8-2p-2f-coop") Lbf.defaults "Lbf.config \"8x8-2p-2f-coop\""

    Expect.isTrue
        (Lbf.tasks |> List.forall (fun t -> (Lbf.env t).Spec.Name = "lbf:" + t))
        "Lbf.tasks |> List.forall (fun t -> (Lbf.env t).Spec.Name = \"lbf:\" + t)"

    for bad in [ "8x9-2p-2f"; "8x8-2p"; "lbf:"; "checkers" ] do
        Expect.throwsOf<ArgumentException>(fun () -> Lbf.config bad |> ignore) |> ignore

let ``two players whose levels sum to the food's level load it together and share the reward by level`` () =
    let s0 = state 8 [ 3, 2, 1; 3, 4, 2 ] [ 3, 3, 3 ]
    // alone, neither level 1 nor level 2 can load a level-3 food (and the default penalty is 0)
    let s1, t1 = coop8.Step s0 [| load; none |] key
    Expect.equal (rewards t1) ([| 0.0f; 0.0f |]) "rewards t1"
    Expect.equal (s1.Food[3 * 8 + 3]) 3 "s1.Food[3 * 8 + 3]"
    let s2, t2 = coop8.Step s1 [| none; load |] key
    Expect.equal (rewards t2) ([| 0.0f; 0.0f |]) "rewards t2"
    Expect.isFalse (t2.Terminated || t2.Truncated) "t2.Terminated || t2.Truncated"
    // together: level_i · 3 / (3 · 3)
    let s3, t3 = coop8.Step s2 [| load; load |] key
    Expect.equal (rewards t3) ([| float32 (1.0 / 3.0); float32 (2.0 / 3.0) |]) "rewards t3"
    Expect.roundedEqual t3.Reward 1.0f 6 "t3.Reward"
    Expect.equal (s3.Food[3 * 8 + 3]) 0 "s3.Food[3 * 8 + 3]"
    Expect.isTrue (t3.Terminated && not t3.Truncated && s3.Ended) "t3.Terminated && not t3.Truncated && s3.Ended"
    Expect.equal (players s3) ([| 3, 2; 3, 4 |]) "players s3"

let ``a failed load costs the penalty when one is set`` () =
    let env = Lbf.make { Lbf.defaults with Penalty = 0.1f }
    let s0 = state 8 [ 3, 2, 1; 3, 4, 2 ] [ 3, 3, 3 ]
    let _, t = env.Step s0 [| load; none |] key
    Expect.equal (rewards t) ([| -0.1f; 0.0f |]) "rewards t"
    // loading with no food next to the player is invalid: it acts as none, with no penalty
    let _, t2 = env.Step (state 8 [ 0, 0, 1; 3, 4, 2 ] [ 3, 3, 3 ]) [| load; none |] key
    Expect.equal (rewards t2) ([| 0.0f; 0.0f |]) "rewards t2"

let ``a fully cleared episode pays the team exactly 1`` () =
    let s0 = state 8 [ 5, 4, 1; 1, 2, 2 ] [ 1, 1, 2; 5, 5, 3 ]

    let joint =
        [
            [| none; load |] // player B (level 2) alone loads the level-2 food: 2·2 / (2·5)
            [| none; south |]
            [| none; south |]
            [| none; south |]
            [| none; east |]
            [| none; east |]
            [| none; east |] // B at (4,5), north of the level-3 food; A is west of it
            [| load; load |] // A: 1·3 / (3·5), B: 2·3 / (3·5)
        ]

    let steps = playFrom coop8 s0 joint
    Expect.equal (rewards (snd steps[0])) ([| 0.0f; 0.4f |]) "rewards (snd steps[0])"
    Expect.equal (players (fst steps[6])) ([| 5, 4; 4, 5 |]) "players (fst steps[6])"
    Expect.equal (rewards (snd steps[7])) ([| 0.2f; 0.4f |]) "rewards (snd steps[7])"

    Expect.isTrue
        (steps
         |> List.take 7
         |> List.forall (fun (_, tr) -> not (tr.Terminated || tr.Truncated)))
        "steps |> List.take 7 |> List.forall (fun (_, tr) -> not (tr.Termina..."

    Expect.isTrue ((snd steps[7]).Terminated) "(snd steps[7]).Terminated"

    Expect.roundedEqual
        (steps |> List.sumBy (fun (_, tr) -> float tr.Reward))
        1.0
        6
        "steps |> List.sumBy (fun (_, tr) -> float tr.Reward)"

let ``moves are simultaneous: contested cells stay empty, swaps and follows go through`` () =
    let env = Lbf.make { Lbf.defaults with MaxFood = 1 }

    let at (a: int * int) (b: int * int) =
        state 8 [ fst a, snd a, 1; fst b, snd b, 1 ] [ 6, 6, 2 ]

    let after s actions = players (fst (env.Step s actions key))

    // both claim (2,3): neither moves
    Expect.equal
        (after (at (2, 2) (2, 4)) [| east; west |])
        ([| 2, 2; 2, 4 |])
        "after (at (2, 2) (2, 4)) [| east; west |]"
    // into a player that stays: blocked
    Expect.equal
        (after (at (2, 2) (2, 3)) [| east; none |])
        ([| 2, 2; 2, 3 |])
        "after (at (2, 2) (2, 3)) [| east; none |]"

    Expect.equal
        (after (at (2, 2) (2, 3)) [| east; load |])
        ([| 2, 2; 2, 3 |])
        "after (at (2, 2) (2, 3)) [| east; load |]"
    // following a player that moves away
    Expect.equal
        (after (at (2, 2) (2, 3)) [| east; east |])
        ([| 2, 3; 2, 4 |])
        "after (at (2, 2) (2, 3)) [| east; east |]"
    // head-on swap (an upstream quirk, kept)
    Expect.equal
        (after (at (2, 2) (2, 3)) [| east; west |])
        ([| 2, 3; 2, 2 |])
        "after (at (2, 2) (2, 3)) [| east; west |]"
    // invalid moves act as none: off the grid, onto food
    Expect.equal
        (after (at (0, 0) (6, 5)) [| north; east |])
        ([| 0, 0; 6, 5 |])
        "after (at (0, 0) (6, 5)) [| north; east |]"

let ``a player may enter the cell of a player whose move was blocked (upstream quirk, kept)`` () =
    let env =
        Lbf.make
            { Lbf.defaults with
                Players = 3
                MaxFood = 1
            }

    let s0 = state 8 [ 2, 2, 1; 2, 3, 1; 2, 5, 1 ] [ 6, 6, 3 ]
    // B and C both claim (2,4) and stay; A's claim on B's cell is unique, so A moves onto B
    let s1, _ = env.Step s0 [| east; east; west |] key
    Expect.equal (players s1) ([| 2, 3; 2, 3; 2, 5 |]) "players s1"
    Expect.stringContains (Lbf.render s1) ("A1 .. C1") "Lbf.render s1"
    // two players on one cell both claim it when they stay, and it remains theirs
    let s2, _ = env.Step s1 [| none; none; west |] key
    Expect.equal (players s2) ([| 2, 3; 2, 3; 2, 4 |]) "players s2"

let ``observations list visible food, then the player, then the others, in window coordinates`` () =
    let s = state 8 [ 3, 2, 1; 3, 4, 2 ] [ 3, 3, 3 ]

    let a =
        [| 3.0f; 3.0f; 3.0f; -1.0f; -1.0f; 0.0f; 3.0f; 2.0f; 1.0f; 3.0f; 4.0f; 2.0f |]

    let b =
        [| 3.0f; 3.0f; 3.0f; -1.0f; -1.0f; 0.0f; 3.0f; 4.0f; 2.0f; 3.0f; 2.0f; 1.0f |]

    Expect.equal (coop8.Observations s) (Array.append a b) "coop8.Observations s"
    Expect.equal (coop8.GlobalState s) (Array.append a b) "coop8.GlobalState s"
    // sight 2: A at the corner sees its window rows/cols 0..2, and B four cells away (upstream's visibility test
    // accepts window coordinates up to 2·sight); B, in the open, sees its 5 x 5 window only
    let partial = Lbf.env "8x8-2p-2f-2s-coop"
    let s2 = state 8 [ 0, 0, 1; 4, 4, 2 ] [ 1, 1, 3; 5, 5, 3 ]

    let a2 =
        [| 1.0f; 1.0f; 3.0f; -1.0f; -1.0f; 0.0f; 0.0f; 0.0f; 1.0f; 4.0f; 4.0f; 2.0f |]

    let b2 =
        [| 3.0f; 3.0f; 3.0f; -1.0f; -1.0f; 0.0f; 2.0f; 2.0f; 2.0f; -1.0f; -1.0f; 0.0f |]

    Expect.equal (partial.Observations s2) (Array.append a2 b2) "partial.Observations s2"

let ``with MaskInvalidActions only valid actions are available, and others are rejected`` () =
    let env =
        Lbf.make
            { Lbf.defaults with
                MaskInvalidActions = true
            }

    let s = state 8 [ 2, 1, 1; 0, 7, 2 ] [ 2, 2, 3 ]
    let mask = env.AvailableActions s
    // A: none, north, south, west, (east onto food: no), load; B in the top-right corner with no food near
    Expect.equal mask ([| true; true; true; true; false; true; true; false; true; true; false; false |]) "mask"
    Expect.equal (coop8.AvailableActions s) (Array.create 12 true) "coop8.AvailableActions s"
    let before = Lbf.render s

    let ex =
        Expect.throwsOf<ArgumentException>(fun () -> env.Step s [| none; north |] key |> ignore)

    Expect.stringContains ex.Message "agent 1" "ex.Message"
    Expect.stringContains ex.Message "action 1" "ex.Message"
    Expect.equal (Lbf.render s) before "Lbf.render s"
    // unmasked, the same action is accepted and acts as none
    Expect.equal
        (players (fst (coop8.Step s [| none; north |] key)))
        ([| 2, 1; 0, 7 |])
        "players (fst (coop8.Step s [| none; north |] key))"

let ``reset places players and foods by lb-foraging's rules`` () =
    for task in required do
        let env = Lbf.env task
        let cfg = Lbf.config task
        let size = cfg.FieldSize
        let foodLevels = Collections.Generic.HashSet<int>()

        for seed in 0UL .. 99UL do
            let s = env.Reset(Rng.key seed)
            let ps = players s
            Expect.equal ((Array.distinct ps).Length) ps.Length "(Array.distinct ps).Length"

            Expect.isTrue
                (s.Levels |> Array.forall (fun l -> l = 1 || l = 2))
                "s.Levels |> Array.forall (fun l -> l = 1 || l = 2)"

            let foods =
                [|
                    for cell in 0 .. size * size - 1 do
                        if s.Food[cell] > 0 then
                            cell / size, cell % size, s.Food[cell]
                |]

            Expect.equal foods.Length cfg.MaxFood "foods.Length"
            Expect.equal s.FoodSpawned (Array.sumBy (fun (_, _, l) -> l) foods) "s.FoodSpawned"
            let cap = Array.sort s.Levels |> Array.truncate 3 |> Array.sum

            for r, c, level in foods do
                foodLevels.Add level |> ignore
                Expect.inRange r 1 (size - 2) "r"
                Expect.inRange c 1 (size - 2) "c"
                Expect.lacks ps (r, c) "ps"

                if cfg.ForceCoop then
                    Expect.equal level cap "level"
                else
                    Expect.inRange level 1 cap "level"

                for r2, c2, _ in foods do
                    if (r2, c2) <> (r, c) then
                        Expect.isFalse (max (abs (r - r2)) (abs (c - c2)) <= 1) "no food in the 3x3 neighbourhood"

                        Expect.isFalse
                            ((r = r2 && abs (c - c2) <= 2) || (c = c2 && abs (r - r2) <= 2))
                            "no food within 2"

        if not cfg.ForceCoop then
            Expect.isTrue (foodLevels.Count > 1) "food levels vary"

let ``the episode is truncated at 50 steps`` () =
    let steps =
        playFrom coop8 (state 8 [ 0, 0, 1; 7, 7, 1 ] [ 3, 3, 2 ]) (List.replicate 50 [| none; none |])

    Expect.isTrue
        (steps
         |> List.take 49
         |> List.forall (fun (_, tr) -> not (tr.Terminated || tr.Truncated)))
        "steps |> List.take 49 |> List.forall (fun (_, tr) -> not (tr.Termin..."

    let last, tr = List.last steps
    Expect.isTrue (tr.Truncated && not tr.Terminated && last.Ended) "tr.Truncated && not tr.Terminated && last.Ended"

let ``lbf obeys the environment laws over random keys and action sequences`` () =
    for task in required do
        GridLaws.checkLaws 15 (Lbf.env task) Lbf.render

    GridLaws.checkLaws
        8
        (Lbf.make
            { Lbf.config "10x10-3p-3f-2s" with
                MaskInvalidActions = true
            })
        Lbf.render

let ``lbf rejects bad joint actions and leaves the state unchanged`` () =
    let env = Lbf.env "10x10-3p-3f"
    GridLaws.checkBadInput env Lbf.render (env.Reset key)

let ``the text and SVG frames show players, levels and food`` () =
    let s = state 8 [ 3, 2, 1; 3, 4, 2 ] [ 3, 3, 3 ]
    let lines = (Lbf.render s).Split('\n')
    Expect.equal (lines[0]) "lbf step 0, food left 1, players A1 B2" "lines[0]"
    Expect.equal (lines[4]) (".. .. A1 *3 B2 .. .. ..") "lines[4]"
    Expect.equal (lines[1]) (".. .. .. .. .. .. .. ..") "lines[1]"
    let svg = Lbf.renderSvg s
    Expect.stringStarts svg "<svg" "svg"
    Expect.stringEnds svg ("</svg>\n") "svg"
    Expect.equal (svg.Split("<circle").Length - 1) 2 "svg.Split(\"<circle\").Length - 1"
    Expect.equal (svg.Split("#2ca02c").Length - 1) 1 "svg.Split(\"#2ca02c\").Length - 1"

[<Tests>]
let tests =
    testList
        "GridLbf"
        [
            testCase "lbf tasks have lb-foraging's sizes and names" ``lbf tasks have lb-foraging's sizes and names``
            testCase
                "two players whose levels sum to the food's level load it together and share the reward by level"
                ``two players whose levels sum to the food's level load it together and share the reward by level``
            testCase
                "a failed load costs the penalty when one is set"
                ``a failed load costs the penalty when one is set``
            testCase
                "a fully cleared episode pays the team exactly 1"
                ``a fully cleared episode pays the team exactly 1``
            testCase
                "moves are simultaneous: contested cells stay empty, swaps and follows go through"
                ``moves are simultaneous: contested cells stay empty, swaps and follows go through``
            testCase
                "a player may enter the cell of a player whose move was blocked (upstream quirk, kept)"
                ``a player may enter the cell of a player whose move was blocked (upstream quirk, kept)``
            testCase
                "observations list visible food, then the player, then the others, in window coordinates"
                ``observations list visible food, then the player, then the others, in window coordinates``
            testCase
                "with MaskInvalidActions only valid actions are available, and others are rejected"
                ``with MaskInvalidActions only valid actions are available, and others are rejected``
            testCase
                "reset places players and foods by lb-foraging's rules"
                ``reset places players and foods by lb-foraging's rules``
            testCase "the episode is truncated at 50 steps" ``the episode is truncated at 50 steps``
            testCase
                "lbf obeys the environment laws over random keys and action sequences"
                ``lbf obeys the environment laws over random keys and action sequences``
            testCase
                "lbf rejects bad joint actions and leaves the state unchanged"
                ``lbf rejects bad joint actions and leaves the state unchanged``
            testCase
                "the text and SVG frames show players, levels and food"
                ``the text and SVG frames show players, levels and food``
        ]
