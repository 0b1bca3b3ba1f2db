module Qmix.Functional.Tests.GridPredatorPreyTests

open System
open Expecto
open Qmix.Tests
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

let private key = Rng.key 0UL

let private rewards (tr: Transition) = tr.Info.AgentRewards.Value

let private predators (s: PredatorPreyState) =
    Array.init s.Rows.Length (fun i -> s.Rows[i], s.Cols[i])

/// A state with predators and prey where the test puts them.
let private state (size: int) (preds: (int * int) list) (prey: (int * int) list) : PredatorPreyState =
    {
        Steps = 0
        GridRows = size
        GridCols = size
        Rows = preds |> List.map fst |> Array.ofList
        Cols = preds |> List.map snd |> Array.ofList
        PreyRows = prey |> List.map fst |> Array.ofList
        PreyCols = prey |> List.map snd |> Array.ofList
        PreyAlive = Array.create prey.Length true
        Ended = false
    }

/// Plays the joint actions from `s`; returns every (state, transition).
let private playFrom (env: Env<PredatorPreyState>) (s: PredatorPreyState) (joint: int[] list) =
    joint
    |> List.scan (fun (s, _) a -> env.Step s a key) (s, Env.transition 0.0f false false)
    |> List.tail

let private stationary5 =
    PredatorPrey.make (PredatorPrey.withStationaryPrey PredatorPrey.config5x5)

let private stationary7 =
    PredatorPrey.make (PredatorPrey.withStationaryPrey PredatorPrey.config7x7)

// actions
let private down, left, up, right, noop = 0, 1, 2, 3, 4

let private adjacent (r1, c1) (r2, c2) = abs (r1 - r2) + abs (c1 - c2) = 1

let ``predator-prey has ma-gym's sizes`` () =
    let s5, s7 = PredatorPrey.predatorPrey5x5.Spec, PredatorPrey.predatorPrey7x7.Spec

    Expect.equal
        (s5.Name, s5.NAgents, s5.NActions, s5.ObsDim, s5.StateDim, s5.EpisodeLimit)
        ("predator-prey-5x5", 2, 5, 28, 56, 100)
        "(s5.Name, s5.NAgents, s5.NActions, s5.ObsDim, s5.StateDim, s5.Episo..."

    Expect.equal
        (s7.Name, s7.NAgents, s7.NActions, s7.ObsDim, s7.StateDim, s7.EpisodeLimit)
        ("predator-prey-7x7", 4, 5, 28, 112, 100)
        "(s7.Name, s7.NAgents, s7.NActions, s7.ObsDim, s7.StateDim, s7.Episo..."

    let full =
        PredatorPrey.make (
            PredatorPrey.withStationaryPrey
                { PredatorPrey.config7x7 with
                    FullObservable = true
                }
        )

    Expect.equal
        (full.Spec.Name, full.Spec.ObsDim, full.Spec.StateDim)
        ("predator-prey-7x7-v3", 112, 112)
        "(full.Spec.Name, full.Spec.ObsDim, full.Spec.StateDim)"

    Expect.equal stationary5.Spec.Name "predator-prey-5x5-v2" "stationary5.Spec.Name"

    Expect.throwsOf<ArgumentException>(fun () ->
        PredatorPrey.make
            { PredatorPrey.config5x5 with
                PreyMoveProbs = [ 0.5f; 0.5f; 0.5f; 0.0f; 0.0f ]
            }
        |> ignore)
    |> ignore

let ``one predator next to the prey costs every agent 0.5; a second one captures it for +5 each`` () =
    let s0 = state 5 [ 0, 2; 4, 2 ] [ 2, 2 ]

    let steps =
        playFrom
            stationary5
            s0
            [
                [| down; noop |] // predator 0 to (1,2), next to the prey: penalty
                [| down; noop |] // the prey blocks predator 0: penalty again
                [| noop; up |] // predator 1 to (3,2): capture
            ]

    Expect.equal
        (steps |> List.map (fst >> predators))
        ([ [| 1, 2; 4, 2 |]; [| 1, 2; 4, 2 |]; [| 1, 2; 3, 2 |] ])
        "steps |> List.map (fst >> predators)"

    let penalty = -0.01f + -0.5f
    let capture = -0.01f + 5.0f

    Expect.equal
        (steps |> List.map (snd >> rewards))
        ([ [| penalty; penalty |]; [| penalty; penalty |]; [| capture; capture |] ])
        "steps |> List.map (snd >> rewards)"

    Expect.roundedEqual ((snd steps[0]).Reward) -1.02f 5 "(snd steps[0]).Reward"
    Expect.roundedEqual ((snd steps[2]).Reward) 9.98f 5 "(snd steps[2]).Reward"

    Expect.isTrue
        (steps
         |> List.take 2
         |> List.forall (fun (_, tr) -> not (tr.Terminated || tr.Truncated)))
        "steps |> List.take 2 |> List.forall (fun (_, tr) -> not (tr.Termina..."

    let last, tr = List.last steps
    Expect.isTrue (tr.Terminated && not tr.Truncated && last.Ended) "tr.Terminated && not tr.Truncated && last.Ended"
    Expect.equal last.PreyAlive ([| false |]) "last.PreyAlive"

    Expect.equal
        (PredatorPrey.render last)
        ("predator-prey step 3, prey free 0/1 (ended)\n. . . . .\n. . 0 . .\n. . . . .\n. . 1 . .\n. . . . .\n")
        "PredatorPrey.render last"

let ``captures and penalties add up per prey; a captured prey frees its cell`` () =
    let s0 = state 7 [ 0, 0; 2, 0; 5, 3; 3, 5 ] [ 1, 1; 5, 5 ]

    let steps =
        playFrom
            stationary7
            s0
            [
                // predators 0 and 1 surround prey 0 (capture); predator 2 alone next to prey 1 (penalty)
                [| right; up; right; noop |]
                // predator 0 into prey 0's old cell; predator 1 blocked by it; predator 3 completes prey 1's capture
                [| down; right; noop; down |]
            ]

    let (s1, t1), (s2, t2) = steps[0], steps[1]
    Expect.equal (predators s1) ([| 0, 1; 1, 0; 5, 4; 3, 5 |]) "predators s1"
    Expect.equal s1.PreyAlive ([| false; true |]) "s1.PreyAlive"
    let r1 = -0.01f + 5.0f + -0.5f
    Expect.equal (rewards t1) (Array.create 4 r1) "rewards t1"
    Expect.isFalse (t1.Terminated || t1.Truncated) "t1.Terminated || t1.Truncated"
    Expect.equal (predators s2) ([| 1, 1; 1, 0; 5, 4; 4, 5 |]) "predators s2"
    Expect.equal s2.PreyAlive ([| false; false |]) "s2.PreyAlive"
    Expect.equal (rewards t2) (Array.create 4 (-0.01f + 5.0f)) "rewards t2"
    Expect.roundedEqual t2.Reward 19.96f 4 "t2.Reward"
    Expect.isTrue t2.Terminated "t2.Terminated"

let ``predators block each other in index order`` () =
    // predator 1 moves away only after predator 0 has tried to enter its cell
    let s0 = state 5 [ 0, 0; 0, 1 ] [ 3, 3 ]
    let steps = playFrom stationary5 s0 [ [| right; right |]; [| right; left |] ]
    Expect.equal (predators (fst steps[0])) ([| 0, 0; 0, 2 |]) "predators (fst steps[0])"
    // now predator 0 moves first into (0,1) and predator 1 cannot come back
    Expect.equal (predators (fst steps[1])) ([| 0, 1; 0, 2 |]) "predators (fst steps[1])"

let ``observations: scaled position, the 5x5 prey window and the step fraction`` () =
    let env = stationary5
    let s0 = state 5 [ 0, 2; 4, 2 ] [ 2, 2 ]
    let obs = env.Observations s0
    let o0, o1 = Array.zeroCreate 28, Array.zeroCreate 28
    o0[0] <- 0.0f
    o0[1] <- 0.5f
    o0[2 + 4 * 5 + 2] <- 1.0f // the prey two rows below
    o1[0] <- 1.0f
    o1[1] <- 0.5f
    o1[2 + 0 * 5 + 2] <- 1.0f // two rows above
    Expect.equal obs (Array.append o0 o1) "obs"
    Expect.equal (env.GlobalState s0) obs "env.GlobalState s0"
    let s1, _ = env.Step s0 [| noop; noop |] key
    Expect.equal ((env.Observations s1)[27]) 0.01f "(env.Observations s1)[27]"
    // full observability: every agent sees both vectors
    let full =
        PredatorPrey.make
            { PredatorPrey.config5x5 with
                FullObservable = true
            }

    Expect.equal (full.Observations s0) (Array.concat [ o0; o1; o0; o1 ]) "full.Observations s0"

let ``reset keeps ma-gym's bounds: no last row or column, distinct cells, no predator next to a prey`` () =
    for env in [ PredatorPrey.predatorPrey5x5; PredatorPrey.predatorPrey7x7 ] do
        let seen = Collections.Generic.HashSet<int * int>()

        for seed in 0UL .. 299UL do
            let s = env.Reset(Rng.key seed)
            let h = s.GridRows
            let preds = predators s
            let prey = Array.zip s.PreyRows s.PreyCols
            let all = Array.append preds prey
            Expect.equal ((Array.distinct all).Length) all.Length "(Array.distinct all).Length"

            Expect.isTrue
                (all |> Array.forall (fun (r, c) -> r < h - 1 && c < h - 1 && r >= 0 && c >= 0))
                "all |> Array.forall (fun (r, c) -> r < h - 1 && c < h - 1 && r >= 0..."

            Expect.isTrue
                (prey |> Array.forall (fun p -> preds |> Array.forall (adjacent p >> not)))
                "prey |> Array.forall (fun p -> preds |> Array.forall (adjacent p >>..."

            Expect.isTrue (Array.forall id s.PreyAlive) "Array.forall id s.PreyAlive"
            preds |> Array.iter (seen.Add >> ignore)

        // every allowed cell is used by some predator
        let k = (env.Reset key).GridRows - 1
        Expect.equal seen.Count (k * k) "seen.Count"

let ``a free prey moves at most one cell, never next to a predator, with ma-gym's move probabilities`` () =
    let env = PredatorPrey.predatorPrey7x7
    // far from every predator, in the middle of the grid: each draw is accepted at once
    let s0 = state 7 [ 0, 0; 0, 6; 6, 0; 6, 6 ] [ 3, 3; 5, 3 ]
    let counts = Array.zeroCreate 5
    let trials = 4000

    for t in 0 .. trials - 1 do
        let s1, tr = env.Step s0 (Array.create 4 noop) (Rng.key (uint64 t))
        Expect.equal (rewards tr) (Array.create 4 (-0.01f)) "rewards tr"
        let dr, dc = s1.PreyRows[0] - 3, s1.PreyCols[0] - 3

        let m =
            match dr, dc with
            | 1, 0 -> 0
            | 0, -1 -> 1
            | -1, 0 -> 2
            | 0, 1 -> 3
            | 0, 0 -> 4
            | _ -> failwithf "prey jumped by (%d, %d)" dr dc

        counts[m] <- counts[m] + 1

    // prey 1 at (5,3) may block prey 0 moving down only if it moved to (4,3) first — it moves after prey 0
    let freq = counts |> Array.map (fun c -> float c / float trials)

    for m, p in Array.zip [| 0..4 |] [| 0.175; 0.175; 0.175; 0.175; 0.3 |] do
        Expect.inRange (freq[m]) (p - 0.03) (p + 0.03) "freq[m]"

    // from random play: any prey that moved has no predator next to it afterwards
    for seed in 0UL .. 49UL do
        let mutable s = env.Reset(Rng.key seed)
        let mutable t = 0

        while not s.Ended do
            let k = Rng.foldIn t (Rng.key (seed + 1000UL))

            let actions =
                GridLaws.randomActions env.Spec (env.AvailableActions s) (Rng.foldIn 1 k)

            let s1, _ = env.Step s actions (Rng.foldIn 2 k)

            for j in 0 .. s.PreyRows.Length - 1 do
                if s1.PreyAlive[j] then
                    let before, after = (s.PreyRows[j], s.PreyCols[j]), (s1.PreyRows[j], s1.PreyCols[j])
                    let dist = abs (fst before - fst after) + abs (snd before - snd after)
                    Expect.isTrue (dist <= 1) "dist <= 1"

                    if dist = 1 then
                        Expect.isTrue
                            (predators s1 |> Array.forall (adjacent after >> not))
                            "predators s1 |> Array.forall (adjacent after >> not)"

            s <- s1
            t <- t + 1

let ``a prey with a lone predator next to it flees when it can`` () =
    // predator 0 next to the prey; stationary prey stay, moving prey (over many keys) usually flee
    let s0 = state 5 [ 1, 2; 4, 4 ] [ 2, 2 ]
    let moved = ref 0

    for t in 0UL .. 199UL do
        let s1, tr = PredatorPrey.predatorPrey5x5.Step s0 [| noop; noop |] (Rng.key t)
        Expect.equal (rewards tr) (Array.create 2 (-0.01f + -0.5f)) "rewards tr"
        let p = s1.PreyRows[0], s1.PreyCols[0]

        if p <> (2, 2) then
            moved.Value <- moved.Value + 1
            Expect.isTrue (List.contains p [ 3, 2; 2, 1; 2, 3 ]) "List.contains p [ 3, 2; 2, 1; 2, 3 ]"

    // the first acceptable draw is down, left or right (0.525) before stay (0.3, rejected: a predator is next to
    // the prey) — and up, which is accepted (no predator next to the predator's own cell) but fails: the cell is
    // taken. So the prey moves with probability 0.525 / 0.7 · (1 − 0.3⁵) ≈ 0.748.
    Expect.inRange moved.Value 120 180 "moved.Value"
    let s1, _ = stationary5.Step s0 [| noop; noop |] key
    Expect.equal (s1.PreyRows[0], s1.PreyCols[0]) (2, 2) "(s1.PreyRows[0], s1.PreyCols[0])"

let ``the episode is truncated at 100 steps`` () =
    let s0 = state 5 [ 0, 0; 0, 4 ] [ 4, 2 ]
    let steps = playFrom stationary5 s0 (List.replicate 100 [| noop; noop |])

    Expect.isTrue
        (steps
         |> List.take 99
         |> List.forall (fun (_, tr) -> not (tr.Terminated || tr.Truncated)))
        "steps |> List.take 99 |> List.forall (fun (_, tr) -> not (tr.Termin..."

    let last, tr = List.last steps
    Expect.isTrue (tr.Truncated && not tr.Terminated && last.Ended) "tr.Truncated && not tr.Terminated && last.Ended"

let ``predator-prey obeys the environment laws over random keys and action sequences`` () =
    GridLaws.checkLaws 20 PredatorPrey.predatorPrey5x5 PredatorPrey.render
    GridLaws.checkLaws 20 PredatorPrey.predatorPrey7x7 PredatorPrey.render

    GridLaws.checkLaws
        5
        (PredatorPrey.make
            { PredatorPrey.config7x7 with
                FullObservable = true
                MaxSteps = 40
            })
        PredatorPrey.render

let ``predator-prey rejects bad joint actions and leaves the state unchanged`` () =
    let env = PredatorPrey.predatorPrey7x7
    let s, _ = env.Step (env.Reset key) [| down; down; up; up |] key
    GridLaws.checkBadInput env PredatorPrey.render s

let ``the SVG frame draws predators and free prey`` () =
    let svg = PredatorPrey.renderSvg (state 7 [ 0, 0; 0, 6; 6, 0; 6, 6 ] [ 3, 3; 5, 3 ])
    Expect.stringStarts svg "<svg" "svg"
    Expect.stringEnds svg ("</svg>\n") "svg"
    Expect.equal (svg.Split("<circle").Length - 1) 6 "svg.Split(\"<circle\").Length - 1"
    Expect.equal (svg.Split("#d62728").Length - 1) 2 "svg.Split(\"#d62728\").Length - 1"

[<Tests>]
let tests =
    testList
        "GridPredatorPrey"
        [
            testCase "predator-prey has ma-gym's sizes" ``predator-prey has ma-gym's sizes``
            testCase
                "one predator next to the prey costs every agent 0.5; a second one captures it for +5 each"
                ``one predator next to the prey costs every agent 0.5; a second one captures it for +5 each``
            testCase
                "captures and penalties add up per prey; a captured prey frees its cell"
                ``captures and penalties add up per prey; a captured prey frees its cell``
            testCase "predators block each other in index order" ``predators block each other in index order``
            testCase
                "observations: scaled position, the 5x5 prey window and the step fraction"
                ``observations: scaled position, the 5x5 prey window and the step fraction``
            testCase
                "reset keeps ma-gym's bounds: no last row or column, distinct cells, no predator next to a prey"
                ``reset keeps ma-gym's bounds: no last row or column, distinct cells, no predator next to a prey``
            testCase
                "a free prey moves at most one cell, never next to a predator, with ma-gym's move probabilities"
                ``a free prey moves at most one cell, never next to a predator, with ma-gym's move probabilities``
            testCase
                "a prey with a lone predator next to it flees when it can"
                ``a prey with a lone predator next to it flees when it can``
            testCase "the episode is truncated at 100 steps" ``the episode is truncated at 100 steps``
            testCase
                "predator-prey obeys the environment laws over random keys and action sequences"
                ``predator-prey obeys the environment laws over random keys and action sequences``
            testCase
                "predator-prey rejects bad joint actions and leaves the state unchanged"
                ``predator-prey rejects bad joint actions and leaves the state unchanged``
            testCase "the SVG frame draws predators and free prey" ``the SVG frame draws predators and free prey``
        ]
