/// Negative controls: EnvLaws catches environments that break a law.
module Qmix.Functional.Tests.EnvLawsTests

open Xunit
open Qmix.Functional
open Qmix.Functional.Envs

let private light =
    { EnvLaws.defaults with
        Cases = 3
        VecEnvs = 4
    }

let private caught (env: Env<'S>) (message: string) =
    let e = Assert.ThrowsAny<exn>(fun () -> EnvLaws.checkWith light env)
    Assert.Contains(message, e.Message)

[<Fact>]
let ``a restricted but lawful environment passes`` () =
    EnvLaws.checkWith light EnvTests.restricted

[<Fact>]
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

[<Fact>]
let ``an observation of the wrong size is caught`` () =
    caught
        { MatrixGames.twoStep with
            Observations = fun _ -> [| 1.0f |]
        }
        "the observation has 1 values, the spec says 8"

[<Fact>]
let ``an environment that accepts a bad joint action is caught`` () =
    let env = MatrixGames.climbing

    caught
        { env with
            Step =
                fun _ a _ ->
                    Played, Env.transition (if a.Length = 2 && a[0] >= 0 && a[0] < 3 then 1.0f else 0.0f) true false
        }
        "was accepted"

[<Fact>]
let ``an episode that runs past its limit is caught`` () =
    caught
        { MatrixGames.climbingRepeated with
            Spec =
                { MatrixGames.climbingRepeated.Spec with
                    EpisodeLimit = 5
                }
        }
        "did not end by its limit 5"

[<Fact>]
let ``an agent left without an available action is caught`` () =
    caught
        { MatrixGames.penalty with
            AvailableActions = fun _ -> [| true; true; true; false; false; false |]
        }
        "agent 1 has no available action"
