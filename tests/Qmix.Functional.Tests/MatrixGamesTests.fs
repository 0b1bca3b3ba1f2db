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

/// Claus & Boutilier's climbing game, worked by hand (row = agent 0, column = agent 1).
let private climbingTable =
    [|
        [| 11.0f; -30.0f; 0.0f |]
        [| -30.0f; 7.0f; 6.0f |]
        [| 0.0f; 0.0f; 5.0f |]
    |]

/// Claus & Boutilier's penalty game with k = −100, worked by hand.
let private penaltyTable =
    [|
        [| 10.0f; 0.0f; -100.0f |]
        [| 0.0f; 2.0f; 0.0f |]
        [| -100.0f; 0.0f; 10.0f |]
    |]

let private checkOneShot (env: Env<OneShotState>) (name: string) (table: float32[][]) =
    Assert.Equal(name, env.Spec.Name)

    Assert.Equal(
        (2, 3, 1, 1, 1),
        (env.Spec.NAgents, env.Spec.NActions, env.Spec.EpisodeLimit, env.Spec.ObsDim, env.Spec.StateDim)
    )

    for u0 in 0..2 do
        for u1 in 0..2 do
            let s1, tr = step env (env.Reset key) [| u0; u1 |]
            Assert.Equal(table[u0][u1], tr.Reward)
            Assert.True(tr.Terminated)
            Assert.False(tr.Truncated)
            Assert.Equal(Played, s1)
            Assert.Equal(None, tr.Info.Won)

[<Fact>]
let ``the climbing game pays Claus and Boutilier's matrix for every joint action`` () =
    checkOneShot MatrixGames.climbing "matrix:climbing" climbingTable

[<Fact>]
let ``the penalty game pays Claus and Boutilier's matrix with k = -100 for every joint action`` () =
    Assert.Equal(-100.0f, MatrixGames.DefaultPenalty)
    checkOneShot MatrixGames.penalty "matrix:penalty" penaltyTable

[<Fact>]
let ``the penalty payoff takes any k at most 0 and rejects the rest`` () =
    let p = MatrixGames.penaltyPayoff -25.0f
    Assert.Equal<float32[,]>(array2D [ [ 10.0f; 0.0f; -25.0f ]; [ 0.0f; 2.0f; 0.0f ]; [ -25.0f; 0.0f; 10.0f ] ], p)
    Assert.Equal(0.0f, (MatrixGames.penaltyPayoff 0.0f)[0, 2])

    for bad in [ 1.0f; nanf; -infinityf ] do
        let e =
            Assert.Throws<ArgumentException>(fun () -> MatrixGames.penaltyPayoff bad |> ignore)

        Assert.Contains("k must be finite and at most 0", e.Message)

[<Fact>]
let ``EPyMARL's labellings are the same games relabelled`` () =
    // matrixgames' modified climbing game is ours with the agents swapped (transposed)
    let epymarlClimbing =
        array2D [ [ 11.0f; -30.0f; 0.0f ]; [ -30.0f; 7.0f; 0.0f ]; [ 0.0f; 6.0f; 5.0f ] ]

    let ours = MatrixGames.climbingPayoff ()
    Assert.Equal<float32[,]>(epymarlClimbing, Array2D.init 3 3 (fun i j -> ours[j, i]))
    // matrixgames' penalty-k′ is ours with k = −k′ and agent 1's actions 0 and 2 swapped
    let k' = 75.0f

    let epymarlPenalty =
        array2D [ [ -k'; 0.0f; 10.0f ]; [ 0.0f; 2.0f; 0.0f ]; [ 10.0f; 0.0f; -k' ] ]

    let ours = MatrixGames.penaltyPayoff -k'
    Assert.Equal<float32[,]>(epymarlPenalty, Array2D.init 3 3 (fun i j -> ours[i, 2 - j]))

[<Fact>]
let ``a payoff array handed out is the caller's own copy`` () =
    let p = MatrixGames.climbingPayoff ()
    p[0, 0] <- -1.0f
    Assert.Equal(11.0f, (MatrixGames.climbingPayoff ())[0, 0])
    let _, tr = step MatrixGames.climbing Ready [| 0; 0 |]
    Assert.Equal(11.0f, tr.Reward)

/// Plays a repeated game with the given joint actions, returning the states (reset first) and transitions.
let private play (env: Env<RepeatedState>) (joint: (int * int) list) =
    let states, transitions =
        joint
        |> List.mapFold
            (fun s (u0, u1) ->
                let s', tr = step env s [| u0; u1 |]
                (s', tr), s')
            (env.Reset key)
        |> fst
        |> List.unzip

    env.Reset key :: states, transitions

[<Fact>]
let ``the repeated games play 25 rounds and are truncated, never terminated, at the last`` () =
    for env, name, table in
        [
            MatrixGames.climbingRepeated, "matrix:climbing-repeated", climbingTable
            MatrixGames.penaltyRepeated, "matrix:penalty-repeated", penaltyTable
        ] do
        let s = env.Spec
        Assert.Equal(name, s.Name)
        Assert.Equal((2, 3, 25, 1, 1), (s.NAgents, s.NActions, s.EpisodeLimit, s.ObsDim, s.StateDim))
        // every joint action in turn, cycling: round r plays (r mod 9) / 3, (r mod 9) mod 3
        let joint = List.init 25 (fun r -> (r % 9) / 3, (r % 9) % 3)
        let states, transitions = play env joint

        for r, ((u0, u1), tr) in List.indexed (List.zip joint transitions) do
            Assert.Equal(table[u0][u1], tr.Reward)
            Assert.False(tr.Terminated)
            Assert.Equal((r = 24), tr.Truncated)

        Assert.Equal<int list>([ 0..25 ], states |> List.map (fun st -> st.Round))
        Assert.Equal<float32[]>([| 1.0f; 1.0f |], env.Observations states[7])
        Assert.Equal<float32[]>([| 1.0f |], env.GlobalState states[25])
        Assert.Equal<bool[]>(Array.create 6 true, env.AvailableActions states[3])
        // always (0, 0): the best return
        let _, best = play env (List.replicate 25 (0, 0))
        Assert.Equal((if name.Contains "climbing" then 275.0f else 250.0f), best |> List.sumBy (fun t -> t.Reward))

        let ended =
            Assert.Throws<ArgumentException>(fun () -> step env states[25] [| 0; 0 |] |> ignore)

        Assert.Contains("has ended (25 rounds played)", ended.Message)

[<Fact>]
let ``a repeated game keeps the last joint action and payoff and can show them to the agents`` () =
    let env =
        MatrixGames.repeated 3 LastJointAction (MatrixGames.climbingPayoff ()) "climb-3"

    let s = env.Spec
    Assert.Equal((2, 3, 3, 6, 6), (s.NAgents, s.NActions, s.EpisodeLimit, s.ObsDim, s.StateDim))
    let states, transitions = play env [ (1, 2); (2, 0); (0, 0) ]
    Assert.Equal<float32 list>([ 6.0f; 0.0f; 11.0f ], transitions |> List.map (fun t -> t.Reward))
    Assert.Equal<bool list>([ false; false; true ], transitions |> List.map (fun t -> t.Truncated))
    let s0, s1, s2 = states[0], states[1], states[2]

    Assert.Equal(
        {
            Round = 0
            LastAction = None
            LastReward = 0.0f
        },
        s0
    )

    Assert.Equal(
        {
            Round = 1
            LastAction = Some(1, 2)
            LastReward = 6.0f
        },
        s1
    )

    // before the first round everyone counts as having played action 0, as in EPyMARL's -laststate games
    let start = [| 1.0f; 0.0f; 0.0f; 1.0f; 0.0f; 0.0f |]
    Assert.Equal<float32[]>(start, env.GlobalState s0)
    Assert.Equal<float32[]>(Array.append start start, env.Observations s0)
    // agent 0 played 1, agent 1 played 2
    Assert.Equal<float32[]>([| 0.0f; 1.0f; 0.0f; 0.0f; 0.0f; 1.0f |], env.GlobalState s1)
    Assert.Equal<float32[]>([| 0.0f; 0.0f; 1.0f; 1.0f; 0.0f; 0.0f |], env.GlobalState s2)

    let ex =
        Assert.Throws<ArgumentException>(fun () -> step env s1 [| 0; 3 |] |> ignore)

    Assert.Contains("agent 1", ex.Message)
    Assert.Contains("action 3", ex.Message)

[<Fact>]
let ``a repeated game needs a square payoff and at least one round`` () =
    let one = MatrixGames.repeated 1 Constant (array2D [ [ 4.0f ] ]) "one"
    let s1, tr = step one (one.Reset key) [| 0; 0 |]
    Assert.Equal((4.0f, false, true, 1), (tr.Reward, tr.Terminated, tr.Truncated, s1.Round))

    let zero =
        Assert.Throws<ArgumentException>(fun () ->
            MatrixGames.repeated 0 Constant (MatrixGames.climbingPayoff ()) "none" |> ignore)

    Assert.Contains("at least 1 round", zero.Message)

    Assert.Throws<ArgumentException>(fun () ->
        MatrixGames.repeated 5 LastJointAction (Array2D.zeroCreate 3 2) "wide" |> ignore)
    |> ignore

[<Fact>]
let ``the two-step game's frames show the state and what it pays`` () =
    let r = MatrixGames.renderTwoStep
    Assert.Equal("two-step: state 2A (step 2 of 2)\nevery joint action pays 7", r State2A)
    Assert.Equal("two-step: state 2B (step 2 of 2)\n     A  B\nA    0  1\nB    1  8", r State2B)
    Assert.StartsWith("two-step: state 1 (step 1 of 2)\n", r Initial)
    Assert.Equal("two-step: ended (two steps taken)", r Ended)

[<Fact>]
let ``a one-step game's frame shows whether it was played and the payoff table`` () =
    let frame = MatrixGames.renderOneShot (MatrixGames.climbingPayoff ()) Ready

    let expected =
        [
            "ready: one joint action to play"
            "         0    1    2"
            "0       11  -30    0"
            "1      -30    7    6"
            "2        0    0    5"
        ]

    Assert.Equal(String.concat "\n" expected, frame)

    Assert.StartsWith(
        "played: the episode is over\n",
        MatrixGames.renderOneShot (MatrixGames.nonMonotonicPayoff ()) Played
    )

[<Fact>]
let ``a repeated game's frame shows the round, the last joint action in brackets and its payoff`` () =
    let env = MatrixGames.penaltyRepeated
    let s1, _ = step env (env.Reset key) [| 0; 2 |]
    let frame = MatrixGames.renderRepeated (MatrixGames.penaltyPayoff -100.0f) s1

    let expected =
        [
            "round 1: last joint action (0, 2) paid -100"
            "               0       1       2"
            "0             10       0  [-100]"
            "1              0       2       0"
            "2           -100       0      10"
        ]

    Assert.Equal(String.concat "\n" expected, frame)

    Assert.StartsWith(
        "round 0: no joint action played yet\n",
        MatrixGames.renderRepeated (MatrixGames.penaltyPayoff -100.0f) (env.Reset key)
    )

[<Fact>]
let ``the two-step game obeys the environment laws`` () = EnvLaws.check MatrixGames.twoStep

[<Fact>]
let ``the non-monotonic game obeys the environment laws`` () = EnvLaws.check MatrixGames.nonMonotonic

[<Fact>]
let ``the climbing game obeys the environment laws`` () = EnvLaws.check MatrixGames.climbing

[<Fact>]
let ``the penalty game obeys the environment laws`` () = EnvLaws.check MatrixGames.penalty

[<Fact>]
let ``the repeated climbing game obeys the environment laws`` () =
    EnvLaws.check MatrixGames.climbingRepeated

[<Fact>]
let ``the repeated penalty game obeys the environment laws`` () =
    EnvLaws.check MatrixGames.penaltyRepeated

[<Fact>]
let ``a repeated game showing the last joint action obeys the environment laws`` () =
    EnvLaws.check (MatrixGames.repeated 7 LastJointAction (MatrixGames.penaltyPayoff -25.0f) "penalty-25-laststate")
