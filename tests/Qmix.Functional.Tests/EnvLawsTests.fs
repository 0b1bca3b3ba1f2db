/// Negative controls: EnvLaws catches environments that break a law.
module Qmix.Functional.Tests.EnvLawsTests

open Expecto
open Qmix.Tests
open Qmix.Functional
open Qmix.Functional.Envs

let private light =
    { EnvLaws.defaults with
        Cases = 3
        VecEnvs = 4
    }

let private caught (env: Env<'S>) (message: string) =
    let e = Expect.throwsAnyOf<exn>(fun () -> EnvLaws.checkWith light env)
    Expect.stringContains e.Message message "e.Message"

let ``a restricted but lawful environment passes`` () =
    EnvLaws.checkWith light EnvTests.restricted

let ``a nondeterministic environment is caught`` () =
    let mutable calls = 0
    let env = MatrixGames.climbingRepeated

    caught
        { env with
            Step =
                fun s a k ->
                    calls <- calls + 1
                    let s', tr = env.Step s a k
                    s', { tr with Reward = float32 (calls % 2) }
        }
        "the same key and actions gave a different transition"

let ``an observation of the wrong size is caught`` () =
    caught
        { MatrixGames.twoStep with
            Observations = fun _ -> [| 1.0f |]
        }
        "the observation has 1 values, the spec says 8"

let ``an environment that accepts a bad joint action is caught`` () =
    let env = MatrixGames.climbing

    caught
        { env with
            Step =
                fun _ a _ ->
                    Played, Env.transition (if a.Length = 2 && a[0] >= 0 && a[0] < 3 then 1.0f else 0.0f) true false
        }
        "was accepted"

let ``an episode that runs past its limit is caught`` () =
    caught
        { MatrixGames.climbingRepeated with
            Spec =
                { MatrixGames.climbingRepeated.Spec with
                    EpisodeLimit = 5
                }
        }
        "did not end by its limit 5"

let ``an agent left without an available action is caught`` () =
    caught
        { MatrixGames.penalty with
            AvailableActions = fun _ -> [| true; true; true; false; false; false |]
        }
        "agent 1 has no available action"

let ``a feature outside the documented bound is caught: SMAX's raw combat state, Level-Based Foraging's raw cells`` () =
    // the combat maps' default (normalised) state passes the bound of 1; SMAX's raw positions (0 to 32) do not
    EnvLaws.checkWith light (Registry.make "combat:3m")
    caught (Registry.make "combat:3m,state=raw") "global state value"
    caught (Registry.make "combat:3m,state=raw") "outside the documented bound ±1"
    // Level-Based Foraging documents its own bound (raw coordinates and levels), and breaks a bound of 1
    let lbf = Registry.find "lbf:10x10-3p-3f"
    Expect.equal lbf.FeatureBound 9.0f "lbf.FeatureBound"

    EnvLaws.checkWith
        { light with
            FeatureBound = lbf.FeatureBound
        }
        (lbf.Make())

    caught (lbf.Make()) "observation value"

[<Tests>]
let tests =
    testList
        "EnvLaws"
        [
            testCase "a restricted but lawful environment passes" ``a restricted but lawful environment passes``
            testCase "a nondeterministic environment is caught" ``a nondeterministic environment is caught``
            testCase "an observation of the wrong size is caught" ``an observation of the wrong size is caught``
            testCase
                "an environment that accepts a bad joint action is caught"
                ``an environment that accepts a bad joint action is caught``
            testCase "an episode that runs past its limit is caught" ``an episode that runs past its limit is caught``
            testCase
                "an agent left without an available action is caught"
                ``an agent left without an available action is caught``
            testCase
                "a feature outside the documented bound is caught: SMAX's raw combat state, Level-Based Foraging's raw cells"
                ``a feature outside the documented bound is caught: SMAX's raw combat state, Level-Based Foraging's raw cells``
        ]
