module Qmix.Functional.Tests.MatrixGamesTests

open System
open Expecto
open Qmix.Tests
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

let private key = Rng.key 0UL

let private step (env: Env<'S>) (state: 'S) (actions: int[]) = env.Step state actions key

let ``the two-step game has the paper's sizes`` () =
    let s = MatrixGames.twoStep.Spec
    Expect.equal s.Name "two-step" "s.Name"
    Expect.equal (s.NAgents, s.NActions, s.EpisodeLimit) (2, 2, 2) "(s.NAgents, s.NActions, s.EpisodeLimit)"
    Expect.equal (s.ObsDim, s.StateDim) (4, 4) "(s.ObsDim, s.StateDim)"

let ``every action sequence of the two-step game pays 0 and then 7 or the 2B payoff`` () =
    let env = MatrixGames.twoStep
    let payoff2B = array2D [ [ 0.0f; 1.0f ]; [ 1.0f; 8.0f ] ]

    for a0 in 0..1 do
        for a1 in 0..1 do
            for b0 in 0..1 do
                for b1 in 0..1 do
                    let s0 = env.Reset key
                    let s1, tr1 = step env s0 [| a0; a1 |]
                    Expect.equal tr1.Reward 0.0f "tr1.Reward"
                    Expect.isFalse (tr1.Terminated || tr1.Truncated) "tr1.Terminated || tr1.Truncated"
                    // agent 0 alone picks the state
                    Expect.equal s1 (if a0 = 0 then State2A else State2B) "s1"
                    let s2, tr2 = step env s1 [| b0; b1 |]
                    let expected = if a0 = 0 then 7.0f else payoff2B[b0, b1]
                    Expect.equal tr2.Reward expected "tr2.Reward"
                    Expect.isTrue tr2.Terminated "tr2.Terminated"
                    Expect.isFalse tr2.Truncated "tr2.Truncated"
                    Expect.equal s2 Ended "s2"
                    Expect.equal tr2.Info.Won None "tr2.Info.Won"

let ``the two-step game's observations and state are the one-hot of the current state`` () =
    let env = MatrixGames.twoStep
    let cases = [ Initial, 0; State2A, 1; State2B, 2; Ended, 3 ]

    for state, i in cases do
        let hot = Array.init 4 (fun j -> if j = i then 1.0f else 0.0f)
        Expect.equal (env.GlobalState state) hot "env.GlobalState state"
        Expect.equal (env.Observations state) (Array.append hot hot) "env.Observations state"
        Expect.equal (env.AvailableActions state) (Array.create 4 true) "env.AvailableActions state"

let ``the two-step game rejects bad joint actions, naming the agent and the action`` () =
    let env = MatrixGames.twoStep
    let s0 = env.Reset key

    let short =
        Expect.throwsOf<ArgumentException>(fun () -> step env s0 [| 0 |] |> ignore)

    Expect.stringContains short.Message "2 actions" "short.Message"
    Expect.stringContains short.Message "got 1" "short.Message"

    Expect.throwsOf<ArgumentException>(fun () -> step env s0 [| 0; 1; 0 |] |> ignore)
    |> ignore

    let high =
        Expect.throwsOf<ArgumentException>(fun () -> step env s0 [| 0; 2 |] |> ignore)

    Expect.stringContains high.Message "agent 1" "high.Message"
    Expect.stringContains high.Message "action 2" "high.Message"

    let low =
        Expect.throwsOf<ArgumentException>(fun () -> step env State2B [| -1; 0 |] |> ignore)

    Expect.stringContains low.Message "agent 0" "low.Message"
    Expect.stringContains low.Message "action -1" "low.Message"

    Expect.throwsOf<ArgumentNullException>(fun () -> step env s0 null |> ignore)
    |> ignore

let ``stepping leaves the old state as it was`` () =
    let env = MatrixGames.twoStep
    let s0 = env.Reset key
    let s1, _ = step env s0 [| 1; 0 |]
    // the same state, stepped again, still behaves as the initial state
    Expect.equal s0 Initial "s0"
    let s1', _ = step env s0 [| 0; 0 |]
    Expect.equal s1 State2B "s1"
    Expect.equal s1' State2A "s1'"
    // a rejected step changes nothing either
    Expect.throwsOf<ArgumentException>(fun () -> step env s1 [| 5; 0 |] |> ignore)
    |> ignore

    let _, tr = step env s1 [| 1; 1 |]
    Expect.equal tr.Reward 8.0f "tr.Reward"

let ``an ended episode cannot be stepped`` () =
    let ex =
        Expect.throwsOf<ArgumentException>(fun () -> step MatrixGames.twoStep Ended [| 0; 0 |] |> ignore)

    Expect.stringContains ex.Message "ended" "ex.Message"
    let env = MatrixGames.nonMonotonic

    Expect.throwsOf<ArgumentException>(fun () -> step env Played [| 0; 0 |] |> ignore)
    |> ignore

let ``the non-monotonic game pays its 3x3 matrix in one terminating step`` () =
    let env = MatrixGames.nonMonotonic

    let payoff =
        [|
            [| 8.0f; -12.0f; -12.0f |]
            [| -12.0f; 0.0f; 0.0f |]
            [| -12.0f; 0.0f; 0.0f |]
        |]

    Expect.equal
        (env.Spec.NAgents, env.Spec.NActions, env.Spec.EpisodeLimit)
        (2, 3, 1)
        "(env.Spec.NAgents, env.Spec.NActions, env.Spec.EpisodeLimit)"

    for u0 in 0..2 do
        for u1 in 0..2 do
            let s0 = env.Reset key
            let s1, tr = step env s0 [| u0; u1 |]
            Expect.equal tr.Reward (payoff[u0][u1]) "tr.Reward"
            Expect.isTrue tr.Terminated "tr.Terminated"
            Expect.isFalse tr.Truncated "tr.Truncated"
            Expect.equal s1 Played "s1"
            Expect.equal s0 Ready "s0"

    Expect.equal (env.Observations Ready) ([| 1.0f; 1.0f |]) "env.Observations Ready"
    Expect.equal (env.GlobalState Played) ([| 1.0f |]) "env.GlobalState Played"

    let ex =
        Expect.throwsOf<ArgumentException>(fun () -> step env Ready [| 3; 0 |] |> ignore)

    Expect.stringContains ex.Message "agent 0" "ex.Message"
    Expect.stringContains ex.Message "action 3" "ex.Message"

let ``one-shot games need a square payoff and keep their own copy of it`` () =
    let payoff = array2D [ [ 1.0f; 2.0f ]; [ 3.0f; 4.0f ] ]
    let env = MatrixGames.oneShot payoff "mine"
    payoff[1, 1] <- 100.0f
    let _, tr = step env Ready [| 1; 1 |]
    Expect.equal tr.Reward 4.0f "tr.Reward"
    Expect.equal env.Spec.Name "mine" "env.Spec.Name"

    let ex =
        Expect.throwsOf<ArgumentException>(fun () -> MatrixGames.oneShot (Array2D.zeroCreate 2 3) "wide" |> ignore)

    Expect.stringContains ex.Message "2×3" "ex.Message"

    Expect.throwsOf<ArgumentException>(fun () -> MatrixGames.oneShot (Array2D.zeroCreate 0 0) "empty" |> ignore)
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
    Expect.equal env.Spec.Name name "env.Spec.Name"

    Expect.equal
        (env.Spec.NAgents, env.Spec.NActions, env.Spec.EpisodeLimit, env.Spec.ObsDim, env.Spec.StateDim)
        (2, 3, 1, 1, 1)
        "(env.Spec.NAgents, env.Spec.NActions, env.Spec.EpisodeLimit, env.Sp..."

    for u0 in 0..2 do
        for u1 in 0..2 do
            let s1, tr = step env (env.Reset key) [| u0; u1 |]
            Expect.equal tr.Reward (table[u0][u1]) "tr.Reward"
            Expect.isTrue tr.Terminated "tr.Terminated"
            Expect.isFalse tr.Truncated "tr.Truncated"
            Expect.equal s1 Played "s1"
            Expect.equal tr.Info.Won None "tr.Info.Won"

let ``the climbing game pays Claus and Boutilier's matrix for every joint action`` () =
    checkOneShot MatrixGames.climbing "matrix:climbing" climbingTable

let ``the penalty game pays Claus and Boutilier's matrix with k = -100 for every joint action`` () =
    Expect.equal MatrixGames.DefaultPenalty -100.0f "MatrixGames.DefaultPenalty"
    checkOneShot MatrixGames.penalty "matrix:penalty" penaltyTable

let ``the penalty payoff takes any k at most 0 and rejects the rest`` () =
    let p = MatrixGames.penaltyPayoff -25.0f
    Expect.equal p (array2D [ [ 10.0f; 0.0f; -25.0f ]; [ 0.0f; 2.0f; 0.0f ]; [ -25.0f; 0.0f; 10.0f ] ]) "p"
    Expect.equal ((MatrixGames.penaltyPayoff 0.0f)[0, 2]) 0.0f "(MatrixGames.penaltyPayoff 0.0f)[0, 2]"

    for bad in [ 1.0f; nanf; -infinityf ] do
        let e =
            Expect.throwsOf<ArgumentException>(fun () -> MatrixGames.penaltyPayoff bad |> ignore)

        Expect.stringContains e.Message "k must be finite and at most 0" "e.Message"

let ``EPyMARL's labellings are the same games relabelled`` () =
    // matrixgames' modified climbing game is ours with the agents swapped (transposed)
    let epymarlClimbing =
        array2D [ [ 11.0f; -30.0f; 0.0f ]; [ -30.0f; 7.0f; 0.0f ]; [ 0.0f; 6.0f; 5.0f ] ]

    let ours = MatrixGames.climbingPayoff ()
    Expect.equal (Array2D.init 3 3 (fun i j -> ours[j, i])) epymarlClimbing "Array2D.init 3 3 (fun i j -> ours[j, i])"
    // matrixgames' penalty-k′ is ours with k = −k′ and agent 1's actions 0 and 2 swapped
    let k' = 75.0f

    let epymarlPenalty =
        array2D [ [ -k'; 0.0f; 10.0f ]; [ 0.0f; 2.0f; 0.0f ]; [ 10.0f; 0.0f; -k' ] ]

    let ours = MatrixGames.penaltyPayoff -k'

    Expect.equal
        (Array2D.init 3 3 (fun i j -> ours[i, 2 - j]))
        epymarlPenalty
        "Array2D.init 3 3 (fun i j -> ours[i, 2 - j])"

let ``a payoff array handed out is the caller's own copy`` () =
    let p = MatrixGames.climbingPayoff ()
    p[0, 0] <- -1.0f
    Expect.equal ((MatrixGames.climbingPayoff ())[0, 0]) 11.0f "(MatrixGames.climbingPayoff ())[0, 0]"
    let _, tr = step MatrixGames.climbing Ready [| 0; 0 |]
    Expect.equal tr.Reward 11.0f "tr.Reward"

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

let ``the repeated games play 25 rounds and are truncated, never terminated, at the last`` () =
    for env, name, table in
        [
            MatrixGames.climbingRepeated, "matrix:climbing-repeated", climbingTable
            MatrixGames.penaltyRepeated, "matrix:penalty-repeated", penaltyTable
        ] do
        let s = env.Spec
        Expect.equal s.Name name "s.Name"

        Expect.equal
            (s.NAgents, s.NActions, s.EpisodeLimit, s.ObsDim, s.StateDim)
            (2, 3, 25, 1, 1)
            "(s.NAgents, s.NActions, s.EpisodeLimit, s.ObsDim, s.StateDim)"
        // every joint action in turn, cycling: round r plays (r mod 9) / 3, (r mod 9) mod 3
        let joint = List.init 25 (fun r -> (r % 9) / 3, (r % 9) % 3)
        let states, transitions = play env joint

        for r, ((u0, u1), tr) in List.indexed (List.zip joint transitions) do
            Expect.equal tr.Reward (table[u0][u1]) "tr.Reward"
            Expect.isFalse tr.Terminated "tr.Terminated"
            Expect.equal tr.Truncated (r = 24) "tr.Truncated"

        Expect.equal (states |> List.map (fun st -> st.Round)) ([ 0..25 ]) "states |> List.map (fun st -> st.Round)"
        Expect.equal (env.Observations states[7]) ([| 1.0f; 1.0f |]) "env.Observations states[7]"
        Expect.equal (env.GlobalState states[25]) ([| 1.0f |]) "env.GlobalState states[25]"
        Expect.equal (env.AvailableActions states[3]) (Array.create 6 true) "env.AvailableActions states[3]"
        // always (0, 0): the best return
        let _, best = play env (List.replicate 25 (0, 0))

        Expect.equal
            (best |> List.sumBy (fun t -> t.Reward))
            (if name.Contains "climbing" then 275.0f else 250.0f)
            "best |> List.sumBy (fun t -> t.Reward)"

        let ended =
            Expect.throwsOf<ArgumentException>(fun () -> step env states[25] [| 0; 0 |] |> ignore)

        Expect.stringContains ended.Message "has ended (25 rounds played)" "ended.Message"

let ``a repeated game keeps the last joint action and payoff and can show them to the agents`` () =
    let env =
        MatrixGames.repeated 3 LastJointAction (MatrixGames.climbingPayoff ()) "climb-3"

    let s = env.Spec

    Expect.equal
        (s.NAgents, s.NActions, s.EpisodeLimit, s.ObsDim, s.StateDim)
        (2, 3, 3, 6, 6)
        "(s.NAgents, s.NActions, s.EpisodeLimit, s.ObsDim, s.StateDim)"

    let states, transitions = play env [ (1, 2); (2, 0); (0, 0) ]

    Expect.equal
        (transitions |> List.map (fun t -> t.Reward))
        ([ 6.0f; 0.0f; 11.0f ])
        "transitions |> List.map (fun t -> t.Reward)"

    Expect.equal
        (transitions |> List.map (fun t -> t.Truncated))
        ([ false; false; true ])
        "transitions |> List.map (fun t -> t.Truncated)"

    let s0, s1, s2 = states[0], states[1], states[2]

    Expect.equal
        s0
        ({
            Round = 0
            LastAction = None
            LastReward = 0.0f
        })
        "s0"

    Expect.equal
        s1
        ({
            Round = 1
            LastAction = Some(1, 2)
            LastReward = 6.0f
        })
        "s1"

    // before the first round everyone counts as having played action 0, as in EPyMARL's -laststate games
    let start = [| 1.0f; 0.0f; 0.0f; 1.0f; 0.0f; 0.0f |]
    Expect.equal (env.GlobalState s0) start "env.GlobalState s0"
    Expect.equal (env.Observations s0) (Array.append start start) "env.Observations s0"
    // agent 0 played 1, agent 1 played 2
    Expect.equal (env.GlobalState s1) ([| 0.0f; 1.0f; 0.0f; 0.0f; 0.0f; 1.0f |]) "env.GlobalState s1"
    Expect.equal (env.GlobalState s2) ([| 0.0f; 0.0f; 1.0f; 1.0f; 0.0f; 0.0f |]) "env.GlobalState s2"

    let ex =
        Expect.throwsOf<ArgumentException>(fun () -> step env s1 [| 0; 3 |] |> ignore)

    Expect.stringContains ex.Message "agent 1" "ex.Message"
    Expect.stringContains ex.Message "action 3" "ex.Message"

let ``a repeated game needs a square payoff and at least one round`` () =
    let one = MatrixGames.repeated 1 Constant (array2D [ [ 4.0f ] ]) "one"
    let s1, tr = step one (one.Reset key) [| 0; 0 |]

    Expect.equal
        (tr.Reward, tr.Terminated, tr.Truncated, s1.Round)
        (4.0f, false, true, 1)
        "(tr.Reward, tr.Terminated, tr.Truncated, s1.Round)"

    let zero =
        Expect.throwsOf<ArgumentException>(fun () ->
            MatrixGames.repeated 0 Constant (MatrixGames.climbingPayoff ()) "none" |> ignore)

    Expect.stringContains zero.Message "at least 1 round" "zero.Message"

    Expect.throwsOf<ArgumentException>(fun () ->
        MatrixGames.repeated 5 LastJointAction (Array2D.zeroCreate 3 2) "wide" |> ignore)
    |> ignore

let ``the two-step game's frames show the state and what it pays`` () =
    let r = MatrixGames.renderTwoStep
    Expect.equal (r State2A) ("two-step: state 2A (step 2 of 2)\nevery joint action pays 7") "r State2A"
    Expect.equal (r State2B) ("two-step: state 2B (step 2 of 2)\n     A  B\nA    0  1\nB    1  8") "r State2B"
    Expect.stringStarts (r Initial) ("two-step: state 1 (step 1 of 2)\n") "r Initial"
    Expect.equal (r Ended) "two-step: ended (two steps taken)" "r Ended"

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

    Expect.equal frame (String.concat "\n" expected) "frame"

    Expect.stringStarts
        (MatrixGames.renderOneShot (MatrixGames.nonMonotonicPayoff ()) Played)
        ("played: the episode is over\n")
        "MatrixGames.renderOneShot (MatrixGames.nonMonotonicPayoff ()) Played"

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

    Expect.equal frame (String.concat "\n" expected) "frame"

    Expect.stringStarts
        (MatrixGames.renderRepeated (MatrixGames.penaltyPayoff -100.0f) (env.Reset key))
        ("round 0: no joint action played yet\n")
        "MatrixGames.renderRepeated (MatrixGames.penaltyPayoff -100.0f) (env..."

let ``the two-step game obeys the environment laws`` () = EnvLaws.check MatrixGames.twoStep

let ``the non-monotonic game obeys the environment laws`` () = EnvLaws.check MatrixGames.nonMonotonic

let ``the climbing game obeys the environment laws`` () = EnvLaws.check MatrixGames.climbing

let ``the penalty game obeys the environment laws`` () = EnvLaws.check MatrixGames.penalty

let ``the repeated climbing game obeys the environment laws`` () =
    EnvLaws.check MatrixGames.climbingRepeated

let ``the repeated penalty game obeys the environment laws`` () =
    EnvLaws.check MatrixGames.penaltyRepeated

let ``a repeated game showing the last joint action obeys the environment laws`` () =
    EnvLaws.check (MatrixGames.repeated 7 LastJointAction (MatrixGames.penaltyPayoff -25.0f) "penalty-25-laststate")

[<Tests>]
let tests =
    testList
        "MatrixGames"
        [
            testCase "the two-step game has the paper's sizes" ``the two-step game has the paper's sizes``
            testCase
                "every action sequence of the two-step game pays 0 and then 7 or the 2B payoff"
                ``every action sequence of the two-step game pays 0 and then 7 or the 2B payoff``
            testCase
                "the two-step game's observations and state are the one-hot of the current state"
                ``the two-step game's observations and state are the one-hot of the current state``
            testCase
                "the two-step game rejects bad joint actions, naming the agent and the action"
                ``the two-step game rejects bad joint actions, naming the agent and the action``
            testCase "stepping leaves the old state as it was" ``stepping leaves the old state as it was``
            testCase "an ended episode cannot be stepped" ``an ended episode cannot be stepped``
            testCase
                "the non-monotonic game pays its 3x3 matrix in one terminating step"
                ``the non-monotonic game pays its 3x3 matrix in one terminating step``
            testCase
                "one-shot games need a square payoff and keep their own copy of it"
                ``one-shot games need a square payoff and keep their own copy of it``
            testCase
                "the climbing game pays Claus and Boutilier's matrix for every joint action"
                ``the climbing game pays Claus and Boutilier's matrix for every joint action``
            testCase
                "the penalty game pays Claus and Boutilier's matrix with k = -100 for every joint action"
                ``the penalty game pays Claus and Boutilier's matrix with k = -100 for every joint action``
            testCase
                "the penalty payoff takes any k at most 0 and rejects the rest"
                ``the penalty payoff takes any k at most 0 and rejects the rest``
            testCase
                "EPyMARL's labellings are the same games relabelled"
                ``EPyMARL's labellings are the same games relabelled``
            testCase
                "a payoff array handed out is the caller's own copy"
                ``a payoff array handed out is the caller's own copy``
            testCase
                "the repeated games play 25 rounds and are truncated, never terminated, at the last"
                ``the repeated games play 25 rounds and are truncated, never terminated, at the last``
            testCase
                "a repeated game keeps the last joint action and payoff and can show them to the agents"
                ``a repeated game keeps the last joint action and payoff and can show them to the agents``
            testCase
                "a repeated game needs a square payoff and at least one round"
                ``a repeated game needs a square payoff and at least one round``
            testCase
                "the two-step game's frames show the state and what it pays"
                ``the two-step game's frames show the state and what it pays``
            testCase
                "a one-step game's frame shows whether it was played and the payoff table"
                ``a one-step game's frame shows whether it was played and the payoff table``
            testCase
                "a repeated game's frame shows the round, the last joint action in brackets and its payoff"
                ``a repeated game's frame shows the round, the last joint action in brackets and its payoff``
            testCase "the two-step game obeys the environment laws" ``the two-step game obeys the environment laws``
            testCase
                "the non-monotonic game obeys the environment laws"
                ``the non-monotonic game obeys the environment laws``
            testCase "the climbing game obeys the environment laws" ``the climbing game obeys the environment laws``
            testCase "the penalty game obeys the environment laws" ``the penalty game obeys the environment laws``
            testCase
                "the repeated climbing game obeys the environment laws"
                ``the repeated climbing game obeys the environment laws``
            testCase
                "the repeated penalty game obeys the environment laws"
                ``the repeated penalty game obeys the environment laws``
            testCase
                "a repeated game showing the last joint action obeys the environment laws"
                ``a repeated game showing the last joint action obeys the environment laws``
        ]
