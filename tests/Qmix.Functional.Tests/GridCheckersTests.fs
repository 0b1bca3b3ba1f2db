module Qmix.Functional.Tests.GridCheckersTests

open System
open Expecto
open Qmix.Tests
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

let private key = Rng.key 0UL
let private env = Checkers.env

/// Plays the joint actions from the initial state; returns every (state, transition).
let private play (env: Env<CheckersState>) (joint: int[] list) =
    joint
    |> List.scan (fun (s, _) a -> env.Step s a key) (env.Reset key, Env.transition 0.0f false false)
    |> List.tail

let private rewards (tr: Transition) = tr.Info.AgentRewards.Value

let private pos (s: CheckersState) =
    (s.Rows[0], s.Cols[0]), (s.Rows[1], s.Cols[1])

// actions
let private down, left, up, right, noop = 0, 1, 2, 3, 4

let ``checkers has ma-gym's sizes`` () =
    let s = env.Spec
    Expect.equal s.Name "checkers" "s.Name"

    Expect.equal
        (s.NAgents, s.NActions, s.ObsDim, s.StateDim, s.EpisodeLimit)
        (2, 5, 47, 94, 100)
        "(s.NAgents, s.NActions, s.ObsDim, s.StateDim, s.EpisodeLimit)"

    let full =
        Checkers.make
            { Checkers.defaults with
                FullObservable = true
                Clock = true
            }

    Expect.equal
        (full.Spec.Name, full.Spec.ObsDim, full.Spec.StateDim)
        ("checkers-v3", 96, 96)
        "(full.Spec.Name, full.Spec.ObsDim, full.Spec.StateDim)"

let ``the board starts with 9 apples and 9 lemons in the VDN layout`` () =
    let s = env.Reset key
    Expect.equal (pos s) ((0, 6), (2, 6)) "pos s"
    Expect.equal (s.Apples, s.Lemons) (9, 9) "(s.Apples, s.Lemons)"

    let expected =
        String.concat
            ""
            [
                "checkers step 0, apples 9, lemons 9\n"
                "A L A L A L 0 .\n"
                "L A L A L A . .\n"
                "A L A L A L 1 .\n"
            ]

    Expect.equal (Checkers.render s) expected "Checkers.render s"

let ``the sensitive agent scores 10 per fruit and the insensitive one 1, both minus the step cost`` () =
    let steps = play env [ [| left; left |]; [| left; up |] ]
    let (s1, t1), (s2, t2) = steps[0], steps[1]
    // both step onto a lemon
    Expect.equal (pos s1) ((0, 5), (2, 5)) "pos s1"
    Expect.equal (rewards t1) ([| -0.01f + -10.0f; -0.01f + -1.0f |]) "rewards t1"
    Expect.roundedEqual t1.Reward -11.02f 5 "t1.Reward"
    Expect.equal (s1.Apples, s1.Lemons) (9, 7) "(s1.Apples, s1.Lemons)"
    // agent 0 onto the apple at (0, 4), agent 1 onto the apple at (1, 5)
    Expect.equal (pos s2) ((0, 4), (1, 5)) "pos s2"
    Expect.equal (rewards t2) ([| -0.01f + 10.0f; -0.01f + 1.0f |]) "rewards t2"
    Expect.roundedEqual t2.Reward 10.98f 5 "t2.Reward"
    Expect.equal (s2.Apples, s2.Lemons) (7, 7) "(s2.Apples, s2.Lemons)"
    Expect.isFalse (t2.Terminated || t2.Truncated) "t2.Terminated || t2.Truncated"

let ``agents move in index order: the other agent's cell blocks, a cell just left does not`` () =
    let steps =
        play
            env
            [
                [| left; left |] // (0,5) (2,5)
                [| left; up |] // (0,4) (1,5)
                [| down; left |] // agent 0 onto the lemon at (1,4); agent 1 blocked by it
                [| down; left |] // agent 0 on to (2,4); agent 1 follows into the cell it left
                [| up; up |] // agent 0 blocked by agent 1, which only then moves up
                [| up; noop |] // agent 0 up into (1,4), free now
            ]

    let states = steps |> List.map fst

    Expect.equal
        (states |> List.map pos)
        ([
            (0, 5), (2, 5)
            (0, 4), (1, 5)
            (1, 4), (1, 5)
            (2, 4), (1, 4)
            (2, 4), (0, 4)
            (1, 4), (0, 4)
        ])
        "states |> List.map pos"

    let agentRewards = steps |> List.map (snd >> rewards) |> List.skip 2
    // blocked and empty-cell moves cost only the step cost; (1,4) lost its lemon to agent 0 at step 3
    Expect.equal
        agentRewards
        ([
            [| -0.01f + -10.0f; -0.01f |]
            [| -0.01f + 10.0f; -0.01f |]
            [| -0.01f; -0.01f |]
            [| -0.01f; -0.01f |]
        ])
        "agentRewards"

let ``moves off the grid fail`` () =
    let (s, tr) =
        (play env [ [| up; down |]; [| right; right |]; [| right; right |] ])[2]

    Expect.equal (pos s) ((0, 7), (2, 7)) "pos s"
    Expect.equal (rewards tr) ([| -0.01f; -0.01f |]) "rewards tr"

let ``the episode terminates when agent 0 has eaten every apple`` () =
    // a snake through all 18 fruit cells: row 0 leftwards, row 1 rightwards, row 2 leftwards
    let route =
        List.replicate 6 left
        @ [ down ]
        @ List.replicate 5 right
        @ [ down ]
        @ List.replicate 5 left

    let steps = play env (route |> List.map (fun a -> [| a; noop |]))
    Expect.equal steps.Length 18 "steps.Length"
    let last, lastTr = List.last steps
    Expect.isTrue lastTr.Terminated "lastTr.Terminated"
    Expect.isFalse lastTr.Truncated "lastTr.Truncated"
    Expect.isTrue last.Ended "last.Ended"
    Expect.equal (last.Apples, last.Lemons, last.Steps) (0, 0, 18) "(last.Apples, last.Lemons, last.Steps)"
    Expect.equal (pos last) ((2, 0), (2, 6)) "pos last"
    // nothing ended before the last apple
    Expect.isTrue
        (steps
         |> List.take 17
         |> List.forall (fun (_, tr) -> not (tr.Terminated || tr.Truncated)))
        "steps |> List.take 17 |> List.forall (fun (_, tr) -> not (tr.Termin..."
    // 9 apples and 9 lemons cancel out: the return is 18 steps of cost for each agent
    let total = steps |> List.sumBy (fun (_, tr) -> float tr.Reward)
    Expect.roundedEqual total -0.36 4 "total"

    let ex =
        Expect.throwsOf<ArgumentException>(fun () -> env.Step last [| noop; noop |] key |> ignore)

    Expect.stringContains ex.Message "ended" "ex.Message"

let ``the episode is truncated at 100 steps`` () =
    let steps = play env (List.replicate 100 [| noop; noop |])

    Expect.isTrue
        (steps
         |> List.take 99
         |> List.forall (fun (_, tr) -> not (tr.Terminated || tr.Truncated)))
        "steps |> List.take 99 |> List.forall (fun (_, tr) -> not (tr.Termin..."

    let last, tr = List.last steps
    Expect.isTrue tr.Truncated "tr.Truncated"
    Expect.isFalse tr.Terminated "tr.Terminated"
    Expect.isTrue last.Ended "last.Ended"
    Expect.roundedEqual tr.Reward -0.02f 6 "tr.Reward"

let ``an observation is the rounded position and the 3x3 one-hot window`` () =
    let s = env.Reset key
    let obs = env.Observations s
    Expect.equal obs.Length 94 "obs.Length"
    // one-hot channels: lemon, apple, agent 0, agent 1, wall; window row-major from (r-1, c-1)
    let window (cells: (int * int) list) =
        let w = Array.zeroCreate 45

        for cell, channel in cells do
            w[cell * 5 + channel] <- 1.0f

        w

    let o0 = Array.append [| 0.0f; 0.86f |] (window [ 3, 0; 4, 2; 6, 1 ])
    let o1 = Array.append [| 0.67f; 0.86f |] (window [ 0, 1; 3, 0; 4, 3 ])
    Expect.equal obs (Array.append o0 o1) "obs"
    Expect.equal (env.GlobalState s) obs "env.GlobalState s"

    let clocked =
        Checkers.make
            { Checkers.defaults with
                FullObservable = true
                Clock = true
            }

    let s1, _ = clocked.Step (clocked.Reset key) [| noop; noop |] key
    let o = clocked.Observations s1
    Expect.equal o.Length (2 * 96) "o.Length"
    Expect.equal (o[47]) 0.01f "o[47]"
    Expect.equal (o[96..]) (o[0..95]) "o[96..]"
    Expect.equal (clocked.GlobalState s1) (o[0..95]) "clocked.GlobalState s1"

let ``checkers obeys the environment laws over random action sequences`` () =
    GridLaws.checkLaws 40 env Checkers.render

    GridLaws.checkLaws
        5
        (Checkers.make
            { Checkers.defaults with
                FullObservable = true
                Clock = true
                MaxSteps = 30
            })
        Checkers.render

let ``checkers rejects bad joint actions and leaves the state unchanged`` () =
    let s, _ = env.Step (env.Reset key) [| left; left |] key
    GridLaws.checkBadInput env Checkers.render s

let ``the SVG frame draws the fruit and both agents`` () =
    let svg = Checkers.renderSvg (env.Reset key)
    Expect.stringStarts svg "<svg" "svg"
    Expect.stringEnds svg ("</svg>\n") "svg"
    Expect.equal (svg.Split("#2ca02c").Length - 1) 9 "svg.Split(\"#2ca02c\").Length - 1"
    Expect.equal (svg.Split("#f5d800").Length - 1) 9 "svg.Split(\"#f5d800\").Length - 1"
    Expect.equal (svg.Split("<circle").Length - 1) 2 "svg.Split(\"<circle\").Length - 1"

[<Tests>]
let tests =
    testList
        "GridCheckers"
        [
            testCase "checkers has ma-gym's sizes" ``checkers has ma-gym's sizes``
            testCase
                "the board starts with 9 apples and 9 lemons in the VDN layout"
                ``the board starts with 9 apples and 9 lemons in the VDN layout``
            testCase
                "the sensitive agent scores 10 per fruit and the insensitive one 1, both minus the step cost"
                ``the sensitive agent scores 10 per fruit and the insensitive one 1, both minus the step cost``
            testCase
                "agents move in index order: the other agent's cell blocks, a cell just left does not"
                ``agents move in index order: the other agent's cell blocks, a cell just left does not``
            testCase "moves off the grid fail" ``moves off the grid fail``
            testCase
                "the episode terminates when agent 0 has eaten every apple"
                ``the episode terminates when agent 0 has eaten every apple``
            testCase "the episode is truncated at 100 steps" ``the episode is truncated at 100 steps``
            testCase
                "an observation is the rounded position and the 3x3 one-hot window"
                ``an observation is the rounded position and the 3x3 one-hot window``
            testCase
                "checkers obeys the environment laws over random action sequences"
                ``checkers obeys the environment laws over random action sequences``
            testCase
                "checkers rejects bad joint actions and leaves the state unchanged"
                ``checkers rejects bad joint actions and leaves the state unchanged``
            testCase "the SVG frame draws the fruit and both agents" ``the SVG frame draws the fruit and both agents``
        ]
