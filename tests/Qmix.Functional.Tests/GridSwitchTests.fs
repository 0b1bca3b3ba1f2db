module Qmix.Functional.Tests.GridSwitchTests

open System
open Xunit
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

[<Fact>]
let ``switch has ma-gym's sizes`` () =
    let s2, s4 = Switch.switch2.Spec, Switch.switch4.Spec

    Assert.Equal(
        ("switch2", 2, 5, 2, 4, 50),
        (s2.Name, s2.NAgents, s2.NActions, s2.ObsDim, s2.StateDim, s2.EpisodeLimit)
    )

    Assert.Equal(
        ("switch4", 4, 5, 2, 8, 50),
        (s4.Name, s4.NAgents, s4.NActions, s4.ObsDim, s4.StateDim, s4.EpisodeLimit)
    )

    let full =
        Switch.make
            { Switch.config4 with
                FullObservable = true
                Clock = true
            }

    Assert.Equal(("switch4-v3", 12, 12), (full.Spec.Name, full.Spec.ObsDim, full.Spec.StateDim))

    Assert.Throws<ArgumentException>(fun () -> Switch.make { Switch.config2 with Agents = 5 } |> ignore)
    |> ignore

[<Fact>]
let ``agents start at ma-gym's corners and observe their rounded positions`` () =
    let env = Switch.switch4
    let s = env.Reset key
    Assert.Equal<(int * int)[]>([| 0, 1; 0, 5; 2, 1; 2, 5 |], pos s)
    Assert.Equal<float32[]>([| 0.0f; 0.17f; 0.0f; 0.83f; 1.0f; 0.17f; 1.0f; 0.83f |], env.Observations s)
    Assert.Equal<float32[]>(env.Observations s, env.GlobalState s)

    let text =
        String.concat
            ""
            [
                "switch2 step 0, home 0/2\n"
                "b 0 # # # 1 a\n"
                ". . . . . . .\n"
                ". . # # # . .\n"
            ]

    Assert.Equal(text, Switch.render (Switch.switch2.Reset key))

[<Fact>]
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

    Assert.Equal<(int * int)[] list>(
        [
            [| 1, 1; 1, 5 |]
            [| 1, 2; 1, 4 |]
            [| 1, 3; 1, 4 |]
            [| 1, 3; 1, 4 |]
            [| 1, 3; 1, 4 |]
        ],
        steps |> List.map (fst >> pos)
    )

    for _, tr in steps do
        Assert.Equal<float32[]>([| -0.1f; -0.1f |], rewards tr)
        Assert.False(tr.Terminated || tr.Truncated)

[<Fact>]
let ``one agent waits for the other: both get home, +5 each, and the episode terminates`` () =
    let agent0 = [ down; right; right; right; right; right; up ] @ List.replicate 5 noop
    // agent 1 waits five steps, then steps down into the cell agent 0 has just left (agents move in index order)
    let agent1 = List.replicate 5 noop @ [ down; left; left; left; left; up; left ]
    let steps = play Switch.switch2 (List.map2 (fun a b -> [| a; b |]) agent0 agent1)
    Assert.Equal(12, steps.Length)

    Assert.Equal<(int * int)[]>([| 1, 6; 1, 5 |], pos (fst steps[5]))
    Assert.Equal<(int * int)[]>([| 0, 6; 1, 4 |], pos (fst steps[6]))
    Assert.Equal<bool[]>([| true; false |], (fst steps[6]).Finished)

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

    Assert.Equal<float32[] list>(expected, steps |> List.map (snd >> rewards))
    let last, tr = List.last steps
    Assert.Equal<(int * int)[]>([| 0, 6; 0, 0 |], pos last)
    Assert.True(tr.Terminated)
    Assert.False(tr.Truncated)

    Assert.True(
        steps
        |> List.take 11
        |> List.forall (fun (_, tr) -> not (tr.Terminated || tr.Truncated))
    )

    Assert.Equal(8.3, steps |> List.sumBy (fun (_, tr) -> float tr.Reward), 4)

    let text =
        String.concat
            ""
            [
                "switch2 step 12, home 2/2 (ended)\n"
                "1*. # # # . 0*\n"
                ". . . . . . .\n"
                ". . # # # . .\n"
            ]

    Assert.Equal(text, Switch.render last)

[<Fact>]
let ``an agent that is home keeps its cell and ignores its actions`` () =
    let agent0 = [ down; right; right; right; right; right; up; left ]
    let agent1 = List.replicate 7 noop @ [ right ]
    let steps = play Switch.switch2 (List.map2 (fun a b -> [| a; b |]) agent0 agent1)
    let last, tr = List.last steps
    // agent 0 stays home although it chose left; agent 1 cannot enter agent 0's goal cell
    Assert.Equal<(int * int)[]>([| 0, 6; 0, 5 |], pos last)
    Assert.Equal<float32[]>([| 0.0f; -0.1f |], rewards tr)

[<Fact>]
let ``an earlier agent is blocked by a later one that moves away in the same step`` () =
    // agent 0 to (1,4) behind agent 1 at (1,5); then both step right: agent 0 moves first and is blocked
    let agent0 = [ down; right; right; right; right; right ]
    let agent1 = [ down; noop; noop; noop; right; noop ]
    let steps = play Switch.switch2 (List.map2 (fun a b -> [| a; b |]) agent0 agent1)
    Assert.Equal<(int * int)[]>([| 1, 4; 1, 5 |], pos (fst steps[3]))
    Assert.Equal<(int * int)[]>([| 1, 4; 1, 6 |], pos (fst steps[4]))
    Assert.Equal<(int * int)[]>([| 1, 5; 1, 6 |], pos (fst steps[5]))

[<Fact>]
let ``the episode is truncated at 50 steps`` () =
    let steps = play Switch.switch4 (List.replicate 50 (Array.create 4 noop))

    Assert.True(
        steps
        |> List.take 49
        |> List.forall (fun (_, tr) -> not (tr.Terminated || tr.Truncated))
    )

    let last, tr = List.last steps
    Assert.True(tr.Truncated && not tr.Terminated && last.Ended)
    Assert.Equal(-0.4f, tr.Reward, 5)

[<Fact>]
let ``the clock counts steps over the limit`` () =
    let env =
        Switch.make
            { Switch.config2 with
                Clock = true
                FullObservable = true
            }

    let s, _ = env.Step (env.Reset key) [| down; noop |] key
    let one = [| 0.5f; 0.17f; 0.02f; 0.0f; 0.83f; 0.02f |]
    Assert.Equal<float32[]>(Array.append one one, env.Observations s)
    Assert.Equal<float32[]>(one, env.GlobalState s)

[<Fact>]
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

[<Fact>]
let ``switch rejects bad joint actions and leaves the state unchanged`` () =
    let env = Switch.switch4
    let s, _ = env.Step (env.Reset key) [| down; down; up; up |] key
    GridLaws.checkBadInput env Switch.render s

[<Fact>]
let ``the SVG frame draws walls, goals and agents`` () =
    let svg = Switch.renderSvg (Switch.switch4.Reset key)
    Assert.StartsWith("<svg", svg)
    Assert.EndsWith("</svg>\n", svg)
    Assert.Equal(6, svg.Split("fill=\"black\"/>").Length - 1)
    Assert.Equal(4, svg.Split("stroke-width=\"3\"").Length - 1)
    Assert.Equal(4, svg.Split("<circle").Length - 1)
