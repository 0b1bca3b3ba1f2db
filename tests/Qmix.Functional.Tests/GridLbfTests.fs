module Qmix.Functional.Tests.GridLbfTests

open System
open Xunit
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

[<Fact>]
let ``lbf tasks have lb-foraging's sizes and names`` () =
    let sizes =
        required
        |> List.map (fun t ->
            let s = (Lbf.env t).Spec
            s.Name, s.NAgents, s.NActions, s.ObsDim, s.StateDim, s.EpisodeLimit)

    Assert.Equal<(string * int * int * int * int * int) list>(
        [
            "lbf:8x8-2p-2f-coop", 2, 6, 12, 24, 50
            "lbf:8x8-2p-2f-2s-coop", 2, 6, 12, 24, 50
            "lbf:10x10-3p-3f", 3, 6, 18, 54, 50
            "lbf:10x10-3p-3f-2s", 3, 6, 18, 54, 50
            "lbf:15x15-4p-5f", 4, 6, 27, 108, 50
            "lbf:15x15-4p-5f-2s", 4, 6, 27, 108, 50
        ],
        sizes
    )

    let c = Lbf.config "Foraging-2s-15x15-4p-5f-coop-v3"
    Assert.Equal((15, 4, 5, 2, true), (c.FieldSize, c.Players, c.MaxFood, c.Sight, c.ForceCoop))
    Assert.Equal(c, Lbf.config "lbf:15x15-4p-5f-2s-coop")
    Assert.Equal((10, false), ((Lbf.config "10x10-3p-3f").Sight, (Lbf.config "10x10-3p-3f").ForceCoop))
    Assert.Equal(Lbf.defaults, Lbf.config "8x8-2p-2f-coop")
    Assert.True(Lbf.tasks |> List.forall (fun t -> (Lbf.env t).Spec.Name = "lbf:" + t))

    for bad in [ "8x9-2p-2f"; "8x8-2p"; "lbf:"; "checkers" ] do
        Assert.Throws<ArgumentException>(fun () -> Lbf.config bad |> ignore) |> ignore

[<Fact>]
let ``two players whose levels sum to the food's level load it together and share the reward by level`` () =
    let s0 = state 8 [ 3, 2, 1; 3, 4, 2 ] [ 3, 3, 3 ]
    // alone, neither level 1 nor level 2 can load a level-3 food (and the default penalty is 0)
    let s1, t1 = coop8.Step s0 [| load; none |] key
    Assert.Equal<float32[]>([| 0.0f; 0.0f |], rewards t1)
    Assert.Equal(3, s1.Food[3 * 8 + 3])
    let s2, t2 = coop8.Step s1 [| none; load |] key
    Assert.Equal<float32[]>([| 0.0f; 0.0f |], rewards t2)
    Assert.False(t2.Terminated || t2.Truncated)
    // together: level_i · 3 / (3 · 3)
    let s3, t3 = coop8.Step s2 [| load; load |] key
    Assert.Equal<float32[]>([| float32 (1.0 / 3.0); float32 (2.0 / 3.0) |], rewards t3)
    Assert.Equal(1.0f, t3.Reward, 6)
    Assert.Equal(0, s3.Food[3 * 8 + 3])
    Assert.True(t3.Terminated && not t3.Truncated && s3.Ended)
    Assert.Equal<(int * int)[]>([| 3, 2; 3, 4 |], players s3)

[<Fact>]
let ``a failed load costs the penalty when one is set`` () =
    let env = Lbf.make { Lbf.defaults with Penalty = 0.1f }
    let s0 = state 8 [ 3, 2, 1; 3, 4, 2 ] [ 3, 3, 3 ]
    let _, t = env.Step s0 [| load; none |] key
    Assert.Equal<float32[]>([| -0.1f; 0.0f |], rewards t)
    // loading with no food next to the player is invalid: it acts as none, with no penalty
    let _, t2 = env.Step (state 8 [ 0, 0, 1; 3, 4, 2 ] [ 3, 3, 3 ]) [| load; none |] key
    Assert.Equal<float32[]>([| 0.0f; 0.0f |], rewards t2)

[<Fact>]
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
    Assert.Equal<float32[]>([| 0.0f; 0.4f |], rewards (snd steps[0]))
    Assert.Equal<(int * int)[]>([| 5, 4; 4, 5 |], players (fst steps[6]))
    Assert.Equal<float32[]>([| 0.2f; 0.4f |], rewards (snd steps[7]))

    Assert.True(
        steps
        |> List.take 7
        |> List.forall (fun (_, tr) -> not (tr.Terminated || tr.Truncated))
    )

    Assert.True((snd steps[7]).Terminated)
    Assert.Equal(1.0, steps |> List.sumBy (fun (_, tr) -> float tr.Reward), 6)

[<Fact>]
let ``moves are simultaneous: contested cells stay empty, swaps and follows go through`` () =
    let env = Lbf.make { Lbf.defaults with MaxFood = 1 }

    let at (a: int * int) (b: int * int) =
        state 8 [ fst a, snd a, 1; fst b, snd b, 1 ] [ 6, 6, 2 ]

    let after s actions = players (fst (env.Step s actions key))

    // both claim (2,3): neither moves
    Assert.Equal<(int * int)[]>([| 2, 2; 2, 4 |], after (at (2, 2) (2, 4)) [| east; west |])
    // into a player that stays: blocked
    Assert.Equal<(int * int)[]>([| 2, 2; 2, 3 |], after (at (2, 2) (2, 3)) [| east; none |])
    Assert.Equal<(int * int)[]>([| 2, 2; 2, 3 |], after (at (2, 2) (2, 3)) [| east; load |])
    // following a player that moves away
    Assert.Equal<(int * int)[]>([| 2, 3; 2, 4 |], after (at (2, 2) (2, 3)) [| east; east |])
    // head-on swap (an upstream quirk, kept)
    Assert.Equal<(int * int)[]>([| 2, 3; 2, 2 |], after (at (2, 2) (2, 3)) [| east; west |])
    // invalid moves act as none: off the grid, onto food
    Assert.Equal<(int * int)[]>([| 0, 0; 6, 5 |], after (at (0, 0) (6, 5)) [| north; east |])

[<Fact>]
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
    Assert.Equal<(int * int)[]>([| 2, 3; 2, 3; 2, 5 |], players s1)
    Assert.Contains("A1 .. C1", Lbf.render s1)
    // two players on one cell both claim it when they stay, and it remains theirs
    let s2, _ = env.Step s1 [| none; none; west |] key
    Assert.Equal<(int * int)[]>([| 2, 3; 2, 3; 2, 4 |], players s2)

[<Fact>]
let ``observations list visible food, then the player, then the others, in window coordinates`` () =
    let s = state 8 [ 3, 2, 1; 3, 4, 2 ] [ 3, 3, 3 ]

    let a =
        [| 3.0f; 3.0f; 3.0f; -1.0f; -1.0f; 0.0f; 3.0f; 2.0f; 1.0f; 3.0f; 4.0f; 2.0f |]

    let b =
        [| 3.0f; 3.0f; 3.0f; -1.0f; -1.0f; 0.0f; 3.0f; 4.0f; 2.0f; 3.0f; 2.0f; 1.0f |]

    Assert.Equal<float32[]>(Array.append a b, coop8.Observations s)
    Assert.Equal<float32[]>(Array.append a b, coop8.GlobalState s)
    // sight 2: A at the corner sees its window rows/cols 0..2, and B four cells away (upstream's visibility test
    // accepts window coordinates up to 2·sight); B, in the open, sees its 5 x 5 window only
    let partial = Lbf.env "8x8-2p-2f-2s-coop"
    let s2 = state 8 [ 0, 0, 1; 4, 4, 2 ] [ 1, 1, 3; 5, 5, 3 ]

    let a2 =
        [| 1.0f; 1.0f; 3.0f; -1.0f; -1.0f; 0.0f; 0.0f; 0.0f; 1.0f; 4.0f; 4.0f; 2.0f |]

    let b2 =
        [| 3.0f; 3.0f; 3.0f; -1.0f; -1.0f; 0.0f; 2.0f; 2.0f; 2.0f; -1.0f; -1.0f; 0.0f |]

    Assert.Equal<float32[]>(Array.append a2 b2, partial.Observations s2)

[<Fact>]
let ``with MaskInvalidActions only valid actions are available, and others are rejected`` () =
    let env =
        Lbf.make
            { Lbf.defaults with
                MaskInvalidActions = true
            }

    let s = state 8 [ 2, 1, 1; 0, 7, 2 ] [ 2, 2, 3 ]
    let mask = env.AvailableActions s
    // A: none, north, south, west, (east onto food: no), load; B in the top-right corner with no food near
    Assert.Equal<bool[]>([| true; true; true; true; false; true; true; false; true; true; false; false |], mask)
    Assert.Equal<bool[]>(Array.create 12 true, coop8.AvailableActions s)
    let before = Lbf.render s

    let ex =
        Assert.Throws<ArgumentException>(fun () -> env.Step s [| none; north |] key |> ignore)

    Assert.Contains("agent 1", ex.Message)
    Assert.Contains("action 1", ex.Message)
    Assert.Equal(before, Lbf.render s)
    // unmasked, the same action is accepted and acts as none
    Assert.Equal<(int * int)[]>([| 2, 1; 0, 7 |], players (fst (coop8.Step s [| none; north |] key)))

[<Fact>]
let ``reset places players and foods by lb-foraging's rules`` () =
    for task in required do
        let env = Lbf.env task
        let cfg = Lbf.config task
        let size = cfg.FieldSize
        let foodLevels = Collections.Generic.HashSet<int>()

        for seed in 0UL .. 99UL do
            let s = env.Reset(Rng.key seed)
            let ps = players s
            Assert.Equal(ps.Length, (Array.distinct ps).Length)
            Assert.True(s.Levels |> Array.forall (fun l -> l = 1 || l = 2))

            let foods =
                [|
                    for cell in 0 .. size * size - 1 do
                        if s.Food[cell] > 0 then
                            cell / size, cell % size, s.Food[cell]
                |]

            Assert.Equal(cfg.MaxFood, foods.Length)
            Assert.Equal(Array.sumBy (fun (_, _, l) -> l) foods, s.FoodSpawned)
            let cap = Array.sort s.Levels |> Array.truncate 3 |> Array.sum

            for r, c, level in foods do
                foodLevels.Add level |> ignore
                Assert.InRange(r, 1, size - 2)
                Assert.InRange(c, 1, size - 2)
                Assert.DoesNotContain((r, c), ps)

                if cfg.ForceCoop then
                    Assert.Equal(cap, level)
                else
                    Assert.InRange(level, 1, cap)

                for r2, c2, _ in foods do
                    if (r2, c2) <> (r, c) then
                        Assert.False(max (abs (r - r2)) (abs (c - c2)) <= 1, "no food in the 3x3 neighbourhood")
                        Assert.False((r = r2 && abs (c - c2) <= 2) || (c = c2 && abs (r - r2) <= 2), "no food within 2")

        if not cfg.ForceCoop then
            Assert.True(foodLevels.Count > 1, "food levels vary")

[<Fact>]
let ``the episode is truncated at 50 steps`` () =
    let steps =
        playFrom coop8 (state 8 [ 0, 0, 1; 7, 7, 1 ] [ 3, 3, 2 ]) (List.replicate 50 [| none; none |])

    Assert.True(
        steps
        |> List.take 49
        |> List.forall (fun (_, tr) -> not (tr.Terminated || tr.Truncated))
    )

    let last, tr = List.last steps
    Assert.True(tr.Truncated && not tr.Terminated && last.Ended)

[<Fact>]
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

[<Fact>]
let ``lbf rejects bad joint actions and leaves the state unchanged`` () =
    let env = Lbf.env "10x10-3p-3f"
    GridLaws.checkBadInput env Lbf.render (env.Reset key)

[<Fact>]
let ``the text and SVG frames show players, levels and food`` () =
    let s = state 8 [ 3, 2, 1; 3, 4, 2 ] [ 3, 3, 3 ]
    let lines = (Lbf.render s).Split('\n')
    Assert.Equal("lbf step 0, food left 1, players A1 B2", lines[0])
    Assert.Equal(".. .. A1 *3 B2 .. .. ..", lines[4])
    Assert.Equal(".. .. .. .. .. .. .. ..", lines[1])
    let svg = Lbf.renderSvg s
    Assert.StartsWith("<svg", svg)
    Assert.EndsWith("</svg>\n", svg)
    Assert.Equal(2, svg.Split("<circle").Length - 1)
    Assert.Equal(1, svg.Split("#2ca02c").Length - 1)
