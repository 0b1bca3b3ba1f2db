module Qmix.Functional.Tests.MatrixGamesTests

open System
open Xunit
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

let private key = Rng.key 0UL

let private step (env: Env<'S>) (state: 'S) (actions: int[]) = env.Step state actions key

[<Fact>]
let ``the two-step game has the paper's sizes`` () =
    let s = MatrixGames.twoStep.Spec
    Assert.Equal("two-step", s.Name)
    Assert.Equal((2, 2, 2), (s.NAgents, s.NActions, s.EpisodeLimit))
    Assert.Equal((4, 4), (s.ObsDim, s.StateDim))

[<Fact>]
let ``every action sequence of the two-step game pays 0 and then 7 or the 2B payoff`` () =
    let env = MatrixGames.twoStep
    let payoff2B = array2D [ [ 0.0f; 1.0f ]; [ 1.0f; 8.0f ] ]

    for a0 in 0..1 do
        for a1 in 0..1 do
            for b0 in 0..1 do
                for b1 in 0..1 do
                    let s0 = env.Reset key
                    let s1, tr1 = step env s0 [| a0; a1 |]
                    Assert.Equal(0.0f, tr1.Reward)
                    Assert.False(tr1.Terminated || tr1.Truncated)
                    // agent 0 alone picks the state
                    Assert.Equal((if a0 = 0 then State2A else State2B), s1)
                    let s2, tr2 = step env s1 [| b0; b1 |]
                    let expected = if a0 = 0 then 7.0f else payoff2B[b0, b1]
                    Assert.Equal(expected, tr2.Reward)
                    Assert.True(tr2.Terminated)
                    Assert.False(tr2.Truncated)
                    Assert.Equal(Ended, s2)
                    Assert.Equal(None, tr2.Info.Won)

[<Fact>]
let ``the two-step game's observations and state are the one-hot of the current state`` () =
    let env = MatrixGames.twoStep
    let cases = [ Initial, 0; State2A, 1; State2B, 2; Ended, 3 ]

    for state, i in cases do
        let hot = Array.init 4 (fun j -> if j = i then 1.0f else 0.0f)
        Assert.Equal<float32[]>(hot, env.GlobalState state)
        Assert.Equal<float32[]>(Array.append hot hot, env.Observations state)
        Assert.Equal<bool[]>(Array.create 4 true, env.AvailableActions state)

[<Fact>]
let ``the two-step game rejects bad joint actions, naming the agent and the action`` () =
    let env = MatrixGames.twoStep
    let s0 = env.Reset key

    let short =
        Assert.Throws<ArgumentException>(fun () -> step env s0 [| 0 |] |> ignore)

    Assert.Contains("2 actions", short.Message)
    Assert.Contains("got 1", short.Message)

    Assert.Throws<ArgumentException>(fun () -> step env s0 [| 0; 1; 0 |] |> ignore)
    |> ignore

    let high =
        Assert.Throws<ArgumentException>(fun () -> step env s0 [| 0; 2 |] |> ignore)

    Assert.Contains("agent 1", high.Message)
    Assert.Contains("action 2", high.Message)

    let low =
        Assert.Throws<ArgumentException>(fun () -> step env State2B [| -1; 0 |] |> ignore)

    Assert.Contains("agent 0", low.Message)
    Assert.Contains("action -1", low.Message)

    Assert.Throws<ArgumentNullException>(fun () -> step env s0 null |> ignore)
    |> ignore

[<Fact>]
let ``stepping leaves the old state as it was`` () =
    let env = MatrixGames.twoStep
    let s0 = env.Reset key
    let s1, _ = step env s0 [| 1; 0 |]
    // the same state, stepped again, still behaves as the initial state
    Assert.Equal(Initial, s0)
    let s1', _ = step env s0 [| 0; 0 |]
    Assert.Equal(State2B, s1)
    Assert.Equal(State2A, s1')
    // a rejected step changes nothing either
    Assert.Throws<ArgumentException>(fun () -> step env s1 [| 5; 0 |] |> ignore)
    |> ignore

    let _, tr = step env s1 [| 1; 1 |]
    Assert.Equal(8.0f, tr.Reward)

[<Fact>]
let ``an ended episode cannot be stepped`` () =
    let ex =
        Assert.Throws<ArgumentException>(fun () -> step MatrixGames.twoStep Ended [| 0; 0 |] |> ignore)

    Assert.Contains("ended", ex.Message)
    let env = MatrixGames.nonMonotonic

    Assert.Throws<ArgumentException>(fun () -> step env Played [| 0; 0 |] |> ignore)
    |> ignore

[<Fact>]
let ``the non-monotonic game pays its 3x3 matrix in one terminating step`` () =
    let env = MatrixGames.nonMonotonic

    let payoff =
        [|
            [| 8.0f; -12.0f; -12.0f |]
            [| -12.0f; 0.0f; 0.0f |]
            [| -12.0f; 0.0f; 0.0f |]
        |]

    Assert.Equal((2, 3, 1), (env.Spec.NAgents, env.Spec.NActions, env.Spec.EpisodeLimit))

    for u0 in 0..2 do
        for u1 in 0..2 do
            let s0 = env.Reset key
            let s1, tr = step env s0 [| u0; u1 |]
            Assert.Equal(payoff[u0][u1], tr.Reward)
            Assert.True(tr.Terminated)
            Assert.False(tr.Truncated)
            Assert.Equal(Played, s1)
            Assert.Equal(Ready, s0)

    Assert.Equal<float32[]>([| 1.0f; 1.0f |], env.Observations Ready)
    Assert.Equal<float32[]>([| 1.0f |], env.GlobalState Played)

    let ex =
        Assert.Throws<ArgumentException>(fun () -> step env Ready [| 3; 0 |] |> ignore)

    Assert.Contains("agent 0", ex.Message)
    Assert.Contains("action 3", ex.Message)

[<Fact>]
let ``one-shot games need a square payoff and keep their own copy of it`` () =
    let payoff = array2D [ [ 1.0f; 2.0f ]; [ 3.0f; 4.0f ] ]
    let env = MatrixGames.oneShot payoff "mine"
    payoff[1, 1] <- 100.0f
    let _, tr = step env Ready [| 1; 1 |]
    Assert.Equal(4.0f, tr.Reward)
    Assert.Equal("mine", env.Spec.Name)

    let ex =
        Assert.Throws<ArgumentException>(fun () -> MatrixGames.oneShot (Array2D.zeroCreate 2 3) "wide" |> ignore)

    Assert.Contains("2×3", ex.Message)

    Assert.Throws<ArgumentException>(fun () -> MatrixGames.oneShot (Array2D.zeroCreate 0 0) "empty" |> ignore)
    |> ignore
