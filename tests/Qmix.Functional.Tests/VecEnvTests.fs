module Qmix.Functional.Tests.VecEnvTests

open System
open Expecto
open Qmix.Tests
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

/// A counter environment whose step depends on the key: state = (steps taken, sum of drawn numbers).
let private keyed: Env<int * int> =
    let spec =
        {
            Name = "keyed"
            NAgents = 2
            NActions = 3
            ObsDim = 2
            StateDim = 2
            EpisodeLimit = 4
        }

    let rec env =
        {
            Spec = spec
            Reset = fun key -> 0, Rng.intBelow key 100
            Step =
                fun (t, x) actions key ->
                    Env.validateActions env (t, x) actions
                    let x' = x + actions[0] + 10 * actions[1] + Rng.intBelow key 1000
                    (t + 1, x'), Env.transition (float32 x') false (t + 1 = spec.EpisodeLimit)
            Observations = fun (t, x) -> [| float32 t; float32 x; float32 t; float32 x |]
            GlobalState = fun (t, x) -> [| float32 t; float32 x |]
            AvailableActions = fun (t, _) -> Array.init 6 (fun i -> i % 3 <> 2 || t % 2 = 0)
        }

    env

let ``the vectorised reset and step equal single calls, on one thread or several`` () =
    for n in [ 1; 7; 16; 33; 200 ] do
        let keys = Array.init n (fun i -> Rng.foldIn i (Rng.key 11UL))
        let states = VecEnv.reset keyed keys
        Expect.equal states (keys |> Array.map keyed.Reset) "states"
        let actions = Array.init n (fun i -> [| i % 2; (i / 2) % 2 |])
        let stepKeys = keys |> Array.map (Rng.foldIn 1)
        let statesBefore = Array.copy states
        let next, transitions = VecEnv.step keyed states actions stepKeys
        let single = Array.init n (fun i -> keyed.Step states[i] actions[i] stepKeys[i])
        Expect.equal next (Array.map fst single) "next"
        Expect.equal transitions (Array.map snd single) "transitions"
        // nothing passed in changed
        Expect.equal states statesBefore "states"
        Expect.equal actions (Array.init n (fun i -> [| i % 2; (i / 2) % 2 |])) "actions"

let ``a bad joint action in a batch is reported with the lowest failing environment, agent and action`` () =
    let n = 40
    let keys = Array.init n (fun i -> Rng.foldIn i (Rng.key 2UL))
    let states = VecEnv.reset keyed keys
    let actions = Array.init n (fun _ -> [| 0; 0 |])
    actions[29] <- [| 0; 3 |]
    actions[33] <- [| 7; 0 |]
    actions[5] <- [| 1; 4 |]

    let e =
        Expect.throwsOf<ArgumentException>(fun () -> VecEnv.step keyed states actions keys |> ignore)

    Expect.stringStarts e.Message "environment 5: keyed: agent 1 chose action 4" "e.Message"
    Expect.equal e.ParamName "actions" "e.ParamName"
    Expect.isOfType<ArgumentException> e.InnerException |> ignore

let ``the vectorised step needs one joint action and one key per state`` () =
    let keys = Array.init 3 (fun i -> Rng.key (uint64 i))
    let states = VecEnv.reset MatrixGames.climbing keys

    let e =
        Expect.throwsOf<ArgumentException>(fun () ->
            VecEnv.step MatrixGames.climbing states [| [| 0; 0 |] |] keys |> ignore)

    Expect.stringContains e.Message "got 3 states, 1 joint actions, 3 keys" "e.Message"

    Expect.throwsOf<ArgumentNullException>(fun () -> VecEnv.step MatrixGames.climbing null [||] [||] |> ignore)
    |> ignore

    let empty, none = VecEnv.step MatrixGames.climbing [||] [||] [||]
    Expect.isEmpty empty "empty"
    Expect.isEmpty none "none"

[<Tests>]
let tests =
    testList
        "VecEnv"
        [
            testCase
                "the vectorised reset and step equal single calls, on one thread or several"
                ``the vectorised reset and step equal single calls, on one thread or several``
            testCase
                "a bad joint action in a batch is reported with the lowest failing environment, agent and action"
                ``a bad joint action in a batch is reported with the lowest failing environment, agent and action``
            testCase
                "the vectorised step needs one joint action and one key per state"
                ``the vectorised step needs one joint action and one key per state``
        ]
