module Qmix.Functional.Tests.EnvTests

open System
open Xunit
open Qmix.Functional

/// A one-step game in which agent 0 may not take action 1.
let restricted: Env<int> =
    let spec =
        {
            Name = "restricted"
            NAgents = 2
            NActions = 3
            ObsDim = 1
            StateDim = 1
            EpisodeLimit = 1
        }

    let rec env =
        {
            Spec = spec
            Reset = fun _ -> 0
            Step =
                fun s actions _ ->
                    Env.validateActions env s actions
                    s + 1, Env.transition 1.0f true false
            Observations = fun _ -> [| 0.0f; 0.0f |]
            GlobalState = fun _ -> [| 0.0f |]
            AvailableActions = fun _ -> [| true; false; true; true; true; true |]
        }

    env

[<Fact>]
let ``an unavailable action is named with its agent`` () =
    let e =
        Assert.Throws<ArgumentException>(fun () -> restricted.Step 0 [| 1; 0 |] (Qmix.Tensors.Rng.key 1UL) |> ignore)

    Assert.Contains("agent 0 chose action 1, which is not available", e.Message)

[<Fact>]
let ``a joint action of the wrong length or out of range is named`` () =
    let key = Qmix.Tensors.Rng.key 1UL

    let e =
        Assert.Throws<ArgumentException>(fun () -> restricted.Step 0 [| 0 |] key |> ignore)

    Assert.Contains("needs 2 actions (one per agent), got 1", e.Message)

    let e =
        Assert.Throws<ArgumentException>(fun () -> restricted.Step 0 [| 0; 3 |] key |> ignore)

    Assert.Contains("agent 1 chose action 3, outside 0..2", e.Message)

[<Fact>]
let ``available actions pass`` () =
    let s, t = restricted.Step 0 [| 2; 1 |] (Qmix.Tensors.Rng.key 1UL)
    Assert.Equal(1, s)
    Assert.True t.Terminated

[<Fact>]
let ``a boxed environment behaves as the original, over boxed states`` () =
    let key = Qmix.Tensors.Rng.key 1UL
    let boxed = Env.boxed restricted
    Assert.Equal(restricted.Spec, boxed.Spec)
    let s0 = boxed.Reset key
    Assert.Equal(box 0, s0)
    let s1, t = boxed.Step s0 [| 2; 1 |] key
    Assert.Equal(box 1, s1)
    Assert.Equal(snd (restricted.Step 0 [| 2; 1 |] key), t)
    Assert.Equal<float32[]>(restricted.Observations 0, boxed.Observations s0)
    Assert.Equal<float32[]>(restricted.GlobalState 0, boxed.GlobalState s0)
    Assert.Equal<bool[]>(restricted.AvailableActions 0, boxed.AvailableActions s0)
    // the original's checks still apply
    let e =
        Assert.Throws<ArgumentException>(fun () -> boxed.Step s0 [| 1; 0 |] key |> ignore)

    Assert.Contains("agent 0 chose action 1", e.Message)
    // boxing twice changes nothing
    Assert.Same(boxed, Env.boxed boxed)

[<Fact>]
let ``a boxed environment names both types when handed a state of another type`` () =
    let boxed = Env.boxed restricted

    let e =
        Assert.Throws<ArgumentException>(fun () -> boxed.Observations(box "zero") |> ignore)

    Assert.Contains("restricted: expected a state of type System.Int32, got System.String", e.Message)

    let e = Assert.Throws<ArgumentException>(fun () -> boxed.GlobalState null |> ignore)

    Assert.Contains("got null", e.Message)
