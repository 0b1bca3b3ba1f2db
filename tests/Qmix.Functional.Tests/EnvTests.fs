module Qmix.Functional.Tests.EnvTests

open System
open Expecto
open Qmix.Tests
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

let ``an unavailable action is named with its agent`` () =
    let e =
        Expect.throwsOf<ArgumentException>(fun () -> restricted.Step 0 [| 1; 0 |] (Qmix.Tensors.Rng.key 1UL) |> ignore)

    Expect.stringContains e.Message "agent 0 chose action 1, which is not available" "e.Message"

let ``a joint action of the wrong length or out of range is named`` () =
    let key = Qmix.Tensors.Rng.key 1UL

    let e =
        Expect.throwsOf<ArgumentException>(fun () -> restricted.Step 0 [| 0 |] key |> ignore)

    Expect.stringContains e.Message "needs 2 actions (one per agent), got 1" "e.Message"

    let e =
        Expect.throwsOf<ArgumentException>(fun () -> restricted.Step 0 [| 0; 3 |] key |> ignore)

    Expect.stringContains e.Message ("agent 1 chose action 3, outside 0..2") "e.Message"

let ``available actions pass`` () =
    let s, t = restricted.Step 0 [| 2; 1 |] (Qmix.Tensors.Rng.key 1UL)
    Expect.equal s 1 "s"
    Expect.isTrue t.Terminated "t.Terminated"

let ``a boxed environment behaves as the original, over boxed states`` () =
    let key = Qmix.Tensors.Rng.key 1UL
    let boxed = Env.boxed restricted
    Expect.equal boxed.Spec restricted.Spec "boxed.Spec"
    let s0 = boxed.Reset key
    Expect.equal s0 (box 0) "s0"
    let s1, t = boxed.Step s0 [| 2; 1 |] key
    Expect.equal s1 (box 1) "s1"
    Expect.equal t (snd (restricted.Step 0 [| 2; 1 |] key)) "t"
    Expect.equal (boxed.Observations s0) (restricted.Observations 0) "boxed.Observations s0"
    Expect.equal (boxed.GlobalState s0) (restricted.GlobalState 0) "boxed.GlobalState s0"
    Expect.equal (boxed.AvailableActions s0) (restricted.AvailableActions 0) "boxed.AvailableActions s0"
    // the original's checks still apply
    let e =
        Expect.throwsOf<ArgumentException>(fun () -> boxed.Step s0 [| 1; 0 |] key |> ignore)

    Expect.stringContains e.Message "agent 0 chose action 1" "e.Message"
    // boxing twice changes nothing
    Expect.isTrue (obj.ReferenceEquals(boxed, Env.boxed boxed)) "same instance: Env.boxed boxed"

let ``a boxed environment names both types when handed a state of another type`` () =
    let boxed = Env.boxed restricted

    let e =
        Expect.throwsOf<ArgumentException>(fun () -> boxed.Observations(box "zero") |> ignore)

    Expect.stringContains e.Message "restricted: expected a state of type System.Int32, got System.String" "e.Message"

    let e =
        Expect.throwsOf<ArgumentException>(fun () -> boxed.GlobalState null |> ignore)

    Expect.stringContains e.Message "got null" "e.Message"

[<Tests>]
let tests =
    testList
        "Env"
        [
            testCase "an unavailable action is named with its agent" ``an unavailable action is named with its agent``
            testCase
                "a joint action of the wrong length or out of range is named"
                ``a joint action of the wrong length or out of range is named``
            testCase "available actions pass" ``available actions pass``
            testCase
                "a boxed environment behaves as the original, over boxed states"
                ``a boxed environment behaves as the original, over boxed states``
            testCase
                "a boxed environment names both types when handed a state of another type"
                ``a boxed environment names both types when handed a state of another type``
        ]
