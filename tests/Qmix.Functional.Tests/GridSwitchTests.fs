module Qmix.Functional.Tests.GridSwitchTests

open System
open Expecto
open Qmix.Tests
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

let private key = Rng.key 0UL

/// Plays the joint actions from the initial state; returns every (state, transition).
let private play (env: Env<SwitchState>) (joint: int[] list) =
    joint
    |> List.scan (fun (s, _) a -> env.Step s a key) (env.Reset key, Env.transition 0.0f false false)
    |> List.tail

let private rewards (tr: Transition) = tr.Info.AgentRewards.Value

let private pos (s: SwitchState) =
    Array.init s.Rows.Length (fun i -> s.Rows[i], s.Cols[i])

// actions
let private down, left, up, right, noop = 0, 1, 2, 3, 4

let ``switch has ma-gym's sizes`` () =
    let s2, s4 = Switch.switch2.Spec, Switch.switch4.Spec

    Expect.equal
        (s2.Name, s2.NAgents, s2.NActions, s2.ObsDim, s2.StateDim, s2.EpisodeLimit)
        ("switch2", 2, 5, 2, 4, 50)
        "(s2.Name, s2.NAgents, s2.NActions, s2.ObsDim, s2.StateDim, s2.Episo..."

    Expect.equal
        (s4.Name, s4.NAgents, s4.NActions, s4.ObsDim, s4.StateDim, s4.EpisodeLimit)
        ("switch4", 4, 5, 2, 8, 50)
        "(s4.Name, s4.NAgents, s4.NActions, s4.ObsDim, s4.StateDim, s4.Episo..."

    let full =
        Switch.make
            { Switch.config4 with
                FullObservable = true
                Clock = true
            }

    Expect.equal
        (full.Spec.Name, full.Spec.ObsDim, full.Spec.StateDim)
        ("switch4-v3", 12, 12)
        "(full.Spec.Name, full.Spec.ObsDim, full.Spec.StateDim)"

    Expect.throwsOf<ArgumentException>(fun () -> Switch.make { Switch.config2 with Agents = 5 } |> ignore)
    |> ignore

let ``agents start at ma-gym's corners and observe their rounded positions`` () =
    let env = Switch.switch4
    let s = env.Reset key
    Expect.equal (pos s) ([| 0, 1; 0, 5; 2, 1; 2, 5 |]) "pos s"
    Expect.equal (env.Observations s) ([| 0.0f; 0.17f; 0.0f; 0.83f; 1.0f; 0.17f; 1.0f; 0.83f |]) "env.Observations s"
    Expect.equal (env.GlobalState s) (env.Observations s) "env.GlobalState s"

    let text =
        String.concat
            ""
            [
                "switch2 step 0, home 0/2\n"
                "b 0 # # # 1 a\n"
                ". . . . . . .\n"
                ". . # # # . .\n"
            ]

    Expect.equal (Switch.render (Switch.switch2.Reset key)) text "Switch.render (Switch.switch2.Reset key)"

let ``the corridor holds one agent per cell: meeting head-on blocks both`` () =
    let steps =
        play
            Switch.switch2
            [
                [| down; down |] // (1,1) (1,5)
                [| right; left |] // (1,2) (1,4)
                [| right; left |] // agent 0 to (1,3); agent 1 blocked by it
                [| right; left |] // both blocked
                [| up; noop |] // a wall above the corridor
            ]

    Expect.equal
        (steps |> List.map (fst >> pos))
        ([
            [| 1, 1; 1, 5 |]
            [| 1, 2; 1, 4 |]
            [| 1, 3; 1, 4 |]
            [| 1, 3; 1, 4 |]
            [| 1, 3; 1, 4 |]
        ])
        "steps |> List.map (fst >> pos)"

    for _, tr in steps do
        Expect.equal (rewards tr) ([| -0.1f; -0.1f |]) "rewards tr"
        Expect.isFalse (tr.Terminated || tr.Truncated) "tr.Terminated || tr.Truncated"

let ``one agent waits for the other: both get home, +5 each, and the episode terminates`` () =
    let agent0 = [ down; right; right; right; right; right; up ] @ List.replicate 5 noop
    // agent 1 waits five steps, then steps down into the cell agent 0 has just left (agents move in index order)
    let agent1 = List.replicate 5 noop @ [ down; left; left; left; left; up; left ]
    let steps = play Switch.switch2 (List.map2 (fun a b -> [| a; b |]) agent0 agent1)
    Expect.equal steps.Length 12 "steps.Length"

    Expect.equal (pos (fst steps[5])) ([| 1, 6; 1, 5 |]) "pos (fst steps[5])"
    Expect.equal (pos (fst steps[6])) ([| 0, 6; 1, 4 |]) "pos (fst steps[6])"
    Expect.equal ((fst steps[6]).Finished) ([| true; false |]) "(fst steps[6]).Finished"

    let expected =
        [
            for t in 1..12 ->
                [|
                    (if t < 7 then -0.1f
                     elif t = 7 then 5.0f
                     else 0.0f)
                    (if t < 12 then -0.1f else 5.0f)
                |]
        ]

    Expect.equal (steps |> List.map (snd >> rewards)) expected "steps |> List.map (snd >> rewards)"
    let last, tr = List.last steps
    Expect.equal (pos last) ([| 0, 6; 0, 0 |]) "pos last"
    Expect.isTrue tr.Terminated "tr.Terminated"
    Expect.isFalse tr.Truncated "tr.Truncated"

    Expect.isTrue
        (steps
         |> List.take 11
         |> List.forall (fun (_, tr) -> not (tr.Terminated || tr.Truncated)))
        "steps |> List.take 11 |> List.forall (fun (_, tr) -> not (tr.Termin..."

    Expect.roundedEqual
        (steps |> List.sumBy (fun (_, tr) -> float tr.Reward))
        8.3
        4
        "steps |> List.sumBy (fun (_, tr) -> float tr.Reward)"

    let text =
        String.concat
            ""
            [
                "switch2 step 12, home 2/2 (ended)\n"
                "1*. # # # . 0*\n"
                ". . . . . . .\n"
                ". . # # # . .\n"
            ]

    Expect.equal (Switch.render last) text "Switch.render last"

let ``an agent that is home keeps its cell and ignores its actions`` () =
    let agent0 = [ down; right; right; right; right; right; up; left ]
    let agent1 = List.replicate 7 noop @ [ right ]
    let steps = play Switch.switch2 (List.map2 (fun a b -> [| a; b |]) agent0 agent1)
    let last, tr = List.last steps
    // agent 0 stays home although it chose left; agent 1 cannot enter agent 0's goal cell
    Expect.equal (pos last) ([| 0, 6; 0, 5 |]) "pos last"
    Expect.equal (rewards tr) ([| 0.0f; -0.1f |]) "rewards tr"

let ``an earlier agent is blocked by a later one that moves away in the same step`` () =
    // agent 0 to (1,4) behind agent 1 at (1,5); then both step right: agent 0 moves first and is blocked
    let agent0 = [ down; right; right; right; right; right ]
    let agent1 = [ down; noop; noop; noop; right; noop ]
    let steps = play Switch.switch2 (List.map2 (fun a b -> [| a; b |]) agent0 agent1)
    Expect.equal (pos (fst steps[3])) ([| 1, 4; 1, 5 |]) "pos (fst steps[3])"
    Expect.equal (pos (fst steps[4])) ([| 1, 4; 1, 6 |]) "pos (fst steps[4])"
    Expect.equal (pos (fst steps[5])) ([| 1, 5; 1, 6 |]) "pos (fst steps[5])"

let ``the episode is truncated at 50 steps`` () =
    let steps = play Switch.switch4 (List.replicate 50 (Array.create 4 noop))

    Expect.isTrue
        (steps
         |> List.take 49
         |> List.forall (fun (_, tr) -> not (tr.Terminated || tr.Truncated)))
        "steps |> List.take 49 |> List.forall (fun (_, tr) -> not (tr.Termin..."

    let last, tr = List.last steps
    Expect.isTrue (tr.Truncated && not tr.Terminated && last.Ended) "tr.Truncated && not tr.Terminated && last.Ended"
    Expect.roundedEqual tr.Reward -0.4f 5 "tr.Reward"

let ``the clock counts steps over the limit`` () =
    let env =
        Switch.make
            { Switch.config2 with
                Clock = true
                FullObservable = true
            }

    let s, _ = env.Step (env.Reset key) [| down; noop |] key
    let one = [| 0.5f; 0.17f; 0.02f; 0.0f; 0.83f; 0.02f |]
    Expect.equal (env.Observations s) (Array.append one one) "env.Observations s"
    Expect.equal (env.GlobalState s) one "env.GlobalState s"

let ``switch obeys the environment laws over random action sequences`` () =
    GridLaws.checkLaws 20 Switch.switch2 Switch.render
    GridLaws.checkLaws 20 Switch.switch4 Switch.render

    GridLaws.checkLaws
        5
        (Switch.make
            { Switch.config4 with
                Agents = 3
                Clock = true
                FullObservable = true
            })
        Switch.render

let ``switch rejects bad joint actions and leaves the state unchanged`` () =
    let env = Switch.switch4
    let s, _ = env.Step (env.Reset key) [| down; down; up; up |] key
    GridLaws.checkBadInput env Switch.render s

let ``the SVG frame draws walls, goals and agents`` () =
    let svg = Switch.renderSvg (Switch.switch4.Reset key)
    Expect.stringStarts svg "<svg" "svg"
    Expect.stringEnds svg ("</svg>\n") "svg"
    Expect.equal (svg.Split("fill=\"black\"/>").Length - 1) 6 "svg.Split(\"fill=\\\"black\\\"/>\").Length - 1"
    Expect.equal (svg.Split("stroke-width=\"3\"").Length - 1) 4 "svg.Split(\"stroke-width=\\\"3\\\"\").Length - 1"
    Expect.equal (svg.Split("<circle").Length - 1) 4 "svg.Split(\"<circle\").Length - 1"

[<Tests>]
let tests =
    testList
        "GridSwitch"
        [
            testCase "switch has ma-gym's sizes" ``switch has ma-gym's sizes``
            testCase
                "agents start at ma-gym's corners and observe their rounded positions"
                ``agents start at ma-gym's corners and observe their rounded positions``
            testCase
                "the corridor holds one agent per cell: meeting head-on blocks both"
                ``the corridor holds one agent per cell: meeting head-on blocks both``
            testCase
                "one agent waits for the other: both get home, +5 each, and the episode terminates"
                ``one agent waits for the other: both get home, +5 each, and the episode terminates``
            testCase
                "an agent that is home keeps its cell and ignores its actions"
                ``an agent that is home keeps its cell and ignores its actions``
            testCase
                "an earlier agent is blocked by a later one that moves away in the same step"
                ``an earlier agent is blocked by a later one that moves away in the same step``
            testCase "the episode is truncated at 50 steps" ``the episode is truncated at 50 steps``
            testCase "the clock counts steps over the limit" ``the clock counts steps over the limit``
            testCase
                "switch obeys the environment laws over random action sequences"
                ``switch obeys the environment laws over random action sequences``
            testCase
                "switch rejects bad joint actions and leaves the state unchanged"
                ``switch rejects bad joint actions and leaves the state unchanged``
            testCase "the SVG frame draws walls, goals and agents" ``the SVG frame draws walls, goals and agents``
        ]
