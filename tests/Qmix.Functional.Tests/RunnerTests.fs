module Qmix.Functional.Tests.RunnerTests

open System
open Expecto
open Qmix.Tests
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

let private cfg = { AgentConfig.defaults with Hidden = 8 }

let private agentFor (spec: EnvSpec) (seed: uint64) = Agent.init cfg spec (Rng.key seed)

/// A freshly initialised RNN agent whose greedy actions hardly depend on its inputs (its Q-values are dominated by
/// fc2's bias); larger output and recurrent weights make them depend on the observations and the hidden state.
let private sharpAgentFor (spec: EnvSpec) (seed: uint64) =
    match agentFor spec seed with
    | Shared(RnnNet r) ->
        Shared(
            RnnNet
                { r with
                    Fc2 =
                        { r.Fc2 with
                            Weight = Tensor.mulScalar 10.0f r.Fc2.Weight
                        }
                    Rnn =
                        { r.Rnn with
                            WeightHh = Tensor.mulScalar 3.0f r.Rnn.WeightHh
                        }
                }
        )
    | other -> other

// ---------------------------------------------------------------- ε-greedy

let ``epsilon schedule is linear from start to finish and clamped`` () =
    let s = EpsilonSchedule.defaults
    Expect.equal (s.Start, s.Finish, s.AnnealSteps) (1.0f, 0.05f, 50_000) "(s.Start, s.Finish, s.AnnealSteps)"
    Expect.equal (Epsilon.at s 0) 1.0f "Epsilon.at s 0"
    Expect.equal (Epsilon.at s -10) 1.0f "Epsilon.at s -10"
    Expect.roundedEqual (float (Epsilon.at s 25_000)) 0.525 6 "float (Epsilon.at s 25_000)"
    Expect.roundedEqual (float (Epsilon.at s 5_000)) 0.905 6 "float (Epsilon.at s 5_000)"
    Expect.equal (Epsilon.at s 50_000) 0.05f "Epsilon.at s 50_000"
    Expect.equal (Epsilon.at s 1_000_000) 0.05f "Epsilon.at s 1_000_000"
    // strictly decreasing during the anneal
    let values = [| 0..1000..50_000 |] |> Array.map (Epsilon.at s)

    Expect.isTrue
        (Array.pairwise values |> Array.forall (fun (a, b) -> b < a))
        "Array.pairwise values |> Array.forall (fun (a, b) -> b < a)"

    Expect.equal
        (Epsilon.at
            { s with
                AnnealSteps = 0
                Finish = 0.3f
            }
            0)
        0.3f
        "Epsilon.at { s with AnnealSteps = 0 Finish = 0.3f } 0"

let ``greedy selection picks the best available action, never an unavailable one`` () =
    let qs =
        Tensor.ofArray [| 3; 3 |] [| 1.0f; 5.0f; 3.0f; 9.0f; -2.0f; -1.0f; -4.0f; -4.0f; 0.0f |]

    let avail = [| true; false; true; false; true; true; true; true; false |]
    let actions = Runner.selectActions (Rng.key 1UL) 0.0f qs avail
    // row 0: 5 is unavailable → 3 (action 2); row 1: 9 unavailable → -1 (action 2); row 2: tie → the first
    Expect.equal actions ([| 2; 2; 0 |]) "actions"

let ``greedy selection agrees with a masked argmax on random Q-values`` () =
    let r, a = 200, 5
    let q = (Rng.normal (Rng.key 2UL) (Shape [| r; a |])).ToArray()
    // Q-values far below PyMARL's mask value must still lose to nothing unavailable
    q[0] <- -1e9f
    let mask = Rng.uniform (Rng.key 3UL) (Shape [| r; a |]) |> Tensor.toArray
    let avail = Array.init (r * a) (fun i -> mask[i] < 0.6f || i % a = 0)

    let actions =
        Runner.selectActions (Rng.key 4UL) 0.0f (Tensor.ofArray [| r; a |] q) avail

    for row in 0 .. r - 1 do
        let expected =
            [ 0 .. a - 1 ]
            |> List.filter (fun u -> avail[row * a + u])
            |> List.maxBy (fun u -> q[row * a + u])

        Expect.equal (actions[row]) expected "actions[row]"

let ``exploration is uniform over the available actions`` () =
    let r, a = 3000, 4
    let qs = Tensor.ofArray [| r; a |] (Array.init (r * a) (fun i -> float32 (i % a)))
    // action 1 unavailable everywhere; action 3 has the highest Q but is only one of three choices
    let avail = Array.init (r * a) (fun i -> i % a <> 1)
    let actions = Runner.selectActions (Rng.key 5UL) 1.0f qs avail
    let counts = Array.init a (fun u -> actions |> Array.filter ((=) u) |> Array.length)
    Expect.equal (counts[1]) 0 "counts[1]"
    // each available action: expected 1000, standard deviation ≈ 26
    for u in [ 0; 2; 3 ] do
        Expect.inRange (counts[u]) 880 1120 "counts[u]"

let ``partial exploration mixes greedy and random choices at rate epsilon`` () =
    let r, a = 4000, 2
    let qs = Tensor.ofArray [| r; a |] (Array.init (r * a) (fun i -> float32 (i % a)))
    let avail = Array.create (r * a) true
    let actions = Runner.selectActions (Rng.key 6UL) 0.4f qs avail
    // greedy is action 1; action 0 only comes from exploring (probability 0.4 · 0.5 = 0.2)
    let zeros = actions |> Array.filter ((=) 0) |> Array.length
    Expect.inRange zeros 700 900 "zeros"

let ``the same key gives the same actions, another key other actions`` () =
    let r, a = 500, 6
    let qs = Rng.normal (Rng.key 7UL) (Shape [| r; a |])
    let avail = Array.create (r * a) true
    let x = Runner.selectActions (Rng.key 8UL) 0.5f qs avail
    let y = Runner.selectActions (Rng.key 8UL) 0.5f qs avail
    let z = Runner.selectActions (Rng.key 9UL) 0.5f qs avail
    Expect.equal y x "y"
    Expect.notEqual z x "z"

let ``selection rejects bad inputs`` () =
    let qs = Tensor.zeros [| 2; 3 |]
    let k = Rng.key 1UL

    let ex =
        Expect.throwsOf<ArgumentException>(fun () -> Runner.selectActions k 0.0f qs (Array.create 5 true) |> ignore)

    Expect.stringContains ex.Message "5" "ex.Message"
    Expect.stringContains ex.Message "6" "ex.Message"

    Expect.throwsOf<ArgumentException>(fun () -> Runner.selectActions k 1.5f qs (Array.create 6 true) |> ignore)
    |> ignore

    Expect.throwsOf<ArgumentException>(fun () -> Runner.selectActions k Single.NaN qs (Array.create 6 true) |> ignore)
    |> ignore

    let none = Array.init 6 (fun i -> i < 3)

    let ex =
        Expect.throwsOf<ArgumentException>(fun () -> Runner.selectActions k 0.0f qs none |> ignore)

    Expect.stringContains ex.Message "row 1" "ex.Message"

// ---------------------------------------------------------------- runEpisodes on the two-step game

let private twoStep = MatrixGames.twoStep
let private twoStepAgent = agentFor twoStep.Spec 10UL

let ``random episodes of the two-step game are valid, two steps long and pay what their actions earn`` () =
    let episodes, stats =
        Runner.runEpisodes twoStep cfg twoStepAgent (fun _ -> 1.0f) 0 16 (Rng.key 11UL)

    Expect.equal episodes.Length 16 "episodes.Length"
    let payoff2B = array2D [ [ 0.0f; 1.0f ]; [ 1.0f; 8.0f ] ]

    for e in episodes do
        Episode.validate e
        Expect.equal e.Length 2 "e.Length"
        Expect.isTrue e.Terminated "e.Terminated"
        Expect.equal e.Won None "e.Won"
        // actions [T+1=3, N=2]
        let a0, b0, b1 = e.Actions[0], e.Actions[2], e.Actions[3]
        Expect.equal (e.Reward[0]) 0.0f "e.Reward[0]"
        Expect.equal (e.Reward[1]) (if a0 = 0 then 7.0f else payoff2B[b0, b1]) "e.Reward[1]"
        Expect.equal (e.Reward[2]) 0.0f "e.Reward[2]"
        Expect.equal (e.Actions[4..5]) ([| 0; 0 |]) "e.Actions[4..5]"
        // the states seen: 1, then 2A or 2B, then the end (index Length)
        let hot i =
            Array.init 4 (fun j -> if j = i then 1.0f else 0.0f)

        Expect.equal (e.State[0..3]) (hot 0) "e.State[0..3]"
        Expect.equal (e.State[4..7]) (hot (if a0 = 0 then 1 else 2)) "e.State[4..7]"
        Expect.equal (e.State[8..11]) (hot 3) "e.State[8..11]"
        Expect.equal (e.Obs[16..23]) (Array.append (hot 3) (hot 3)) "e.Obs[16..23]"
        Seq.iter (fun v -> Expect.equal v 1.0f "v") e.AvailActions

    // both branches appear among 16 random episodes
    Expect.exists episodes (fun e -> e.Actions[0] = 0) "episodes"
    Expect.exists episodes (fun e -> e.Actions[0] = 1) "episodes"
    Expect.equal stats.Steps 32 "stats.Steps"
    Expect.equal stats.MeanLength 2.0f "stats.MeanLength"
    Expect.equal stats.WinRate None "stats.WinRate"
    // a game without armies reports no casualties
    Expect.equal stats.DeadAllies None "stats.DeadAllies"
    Expect.equal stats.DeadEnemies None "stats.DeadEnemies"
    Expect.equal stats.Returns (episodes |> Array.map Episode.totalReward) "stats.Returns"
    Expect.equal stats.MeanReturn (Array.average stats.Returns) "stats.MeanReturn"
    EpisodeBatch.ofEpisodes episodes |> EpisodeBatch.validate

let ``the same key gives the same episodes`` () =
    let run seed =
        fst (Runner.runEpisodes twoStep cfg twoStepAgent (fun _ -> 0.5f) 0 8 (Rng.key seed))

    let x, y, z = run 12UL, run 12UL, run 13UL
    Expect.equal y x "y"
    Expect.isTrue (x = y) "(x = y)"

    Expect.notEqual
        (z |> Array.collect (fun e -> e.Actions))
        (x |> Array.collect (fun e -> e.Actions))
        "z |> Array.collect (fun e -> e.Actions)"

let ``epsilon is read from the global step counter, which advances by the running environments`` () =
    let seen = ResizeArray<int>()

    let epsilonAt t =
        seen.Add t
        1.0f

    let _, stats =
        Runner.runEpisodes twoStep cfg twoStepAgent epsilonAt 100 5 (Rng.key 14UL)

    Expect.equal (List.ofSeq seen) ([ 100; 105 ]) "List.ofSeq seen"
    Expect.equal stats.Steps 10 "stats.Steps"

let ``greedy evaluation of the two-step game repeats one deterministic episode`` () =
    let stats = Runner.evaluate twoStep cfg twoStepAgent 5 2 (Rng.key 15UL)
    Expect.equal stats.Returns.Length 5 "stats.Returns.Length"
    Expect.equal stats.Steps 10 "stats.Steps"
    Seq.iter (fun r -> Expect.equal r (stats.Returns[0]) "r") stats.Returns
    Expect.contains ([ 0.0f; 1.0f; 7.0f; 8.0f ]) (stats.Returns[0]) "[ 0.0f; 1.0f; 7.0f; 8.0f ]"
    Expect.equal stats.WinRate None "stats.WinRate"

// ---------------------------------------------------------------- custom environments

/// An environment whose episodes last a reset-drawn number of steps (1..limit, or forever when never is set),
/// observing the time, the agent and (a function of) its episode's length, so that environments differ; it reports a win when the length is even.
type private Counter = { T: int; Len: int }

let private counterEnv (limit: int) (never: bool) : Env<Counter> =
    let n, a = 3, 4

    {
        Spec =
            {
                Name = "counter"
                NAgents = n
                NActions = a
                ObsDim = 2
                StateDim = 1
                EpisodeLimit = limit
            }
        Reset =
            fun k ->
                {
                    T = 0
                    Len = (if never then Int32.MaxValue else 1 + Rng.intBelow k limit)
                }
        Step =
            fun s actions _ ->
                let s' = { s with T = s.T + 1 }
                let ended = s'.T = s.Len

                s',
                {
                    Reward = float32 (Array.sum actions)
                    Terminated = ended
                    Truncated = false
                    Info =
                        {
                            Won = (if never then None else Some(s.Len % 2 = 0))
                            AgentRewards = None
                            Casualties = None
                        }
                }
        Observations =
            fun s ->
                Array.init (n * 2) (fun i ->
                    if i % 2 = 0 then
                        float32 s.T
                    else
                        float32 (i / 2) + 0.37f * float32 (s.Len % 7))
        GlobalState = fun s -> [| float32 s.T |]
        // the last action is unavailable on odd steps
        AvailableActions = fun s -> Array.init (n * a) (fun i -> s.T % 2 = 0 || i % a <> a - 1)
    }

/// The counter environment with two armies: after step t, an episode of odd length reports t dead allies and 2t + 1
/// dead enemies; an episode of even length reports no casualties at all.
let private armiesEnv (limit: int) : Env<Counter> =
    let inner = counterEnv limit false

    { inner with
        Step =
            fun s actions key ->
                let s', tr = inner.Step s actions key

                let casualties =
                    if s.Len % 2 = 1 then
                        Some
                            {
                                DeadAllies = s'.T
                                DeadEnemies = 2 * s'.T + 1
                            }
                    else
                        None

                s',
                { tr with
                    Info = { tr.Info with Casualties = casualties }
                }
    }

let ``run statistics: mean length, and dead units at the end averaged over the episodes that report them`` () =
    let env = armiesEnv 6
    let agent = agentFor env.Spec 30UL

    let episodes, stats =
        Runner.runEpisodes env cfg agent (fun _ -> 1.0f) 0 12 (Rng.key 31UL)

    let lengths = episodes |> Array.map _.Length
    let odd = lengths |> Array.filter (fun l -> l % 2 = 1)
    // both kinds of episode are among the twelve, so the average is over some of them only
    Expect.isNonEmpty odd "odd"
    Expect.isTrue (odd.Length < lengths.Length) (sprintf "lengths %A" lengths)
    Expect.equal stats.Steps (Array.sum lengths) "stats.Steps"
    Expect.equal stats.MeanLength (float32 (Array.sum lengths) / 12.0f) "stats.MeanLength"
    // the last transition of an odd episode of length L reports L dead allies and 2L + 1 dead enemies
    Expect.equal stats.DeadAllies (Some(float32 (Array.sum odd) / float32 odd.Length)) "stats.DeadAllies"

    Expect.equal
        stats.DeadEnemies
        (Some(float32 (odd |> Array.sumBy (fun l -> 2 * l + 1)) / float32 odd.Length))
        "stats.DeadEnemies"
    // the episodes alone do not keep their casualties
    let fromEpisodes = Runner.stats episodes
    Expect.equal fromEpisodes.MeanLength stats.MeanLength "fromEpisodes.MeanLength"
    Expect.equal fromEpisodes.DeadAllies None "fromEpisodes.DeadAllies"
    Expect.equal fromEpisodes.DeadEnemies None "fromEpisodes.DeadEnemies"

    // evaluation concatenates runs of environments and their casualties in the same order
    let test = Runner.evaluate env cfg agent 7 3 (Rng.key 32UL)
    Expect.equal test.Returns.Length 7 "test.Returns.Length"
    Expect.equal test.MeanLength (float32 test.Steps / 7.0f) "test.MeanLength"

    let expected =
        Array.init 3 (fun i ->
            let size = min 3 (7 - i * 3)
            fst (Runner.runEpisodes env cfg agent (fun _ -> 0.0f) 0 size (Rng.foldIn i (Rng.key 32UL))))
        |> Array.concat
        |> Array.map _.Length
        |> Array.filter (fun l -> l % 2 = 1)

    if expected.Length = 0 then
        Expect.equal test.DeadAllies None "test.DeadAllies"
    else
        Expect.equal test.DeadAllies (Some(float32 (Array.sum expected) / float32 expected.Length)) "test.DeadAllies"

    // an environment whose episodes never report casualties has none
    let _, plain =
        Runner.runEpisodes (counterEnv 6 false) cfg agent (fun _ -> 1.0f) 0 12 (Rng.key 31UL)

    Expect.equal plain.DeadAllies None "plain.DeadAllies"
    Expect.equal plain.MeanLength stats.MeanLength "plain.MeanLength"

let ``the runner cuts an episode at the limit: not terminated, full length`` () =
    let env = counterEnv 3 true

    let episodes, stats =
        Runner.runEpisodes env cfg (agentFor env.Spec 16UL) (fun _ -> 1.0f) 0 4 (Rng.key 17UL)

    for e in episodes do
        Episode.validate e
        Expect.equal e.Length 3 "e.Length"
        Expect.isFalse e.Terminated "e.Terminated"
        Expect.equal e.Won None "e.Won"
        // index Length holds the state the last transition led to
        Expect.equal e.State ([| 0.0f; 1.0f; 2.0f; 3.0f |]) "e.State"

        for t in 0..2 do
            Expect.equal (e.Reward[t]) (float32 (Array.sum e.Actions[t * 3 .. t * 3 + 2])) "e.Reward[t]"

    Expect.equal stats.Steps 12 "stats.Steps"

let ``an environment's own truncation ends the episode without termination`` () =
    let inner = counterEnv 5 true

    let env =
        { inner with
            Step =
                fun s actions k ->
                    let s', tr = inner.Step s actions k
                    s', { tr with Truncated = s'.T = 2 }
        }

    let episodes, _ =
        Runner.runEpisodes env cfg (agentFor env.Spec 18UL) (fun _ -> 0.3f) 0 3 (Rng.key 19UL)

    for e in episodes do
        Episode.validate e
        Expect.equal e.Length 2 "e.Length"
        Expect.isFalse e.Terminated "e.Terminated"

let ``episodes of different lengths keep their own hidden state: recorded actions are the network's greedy choices``
    ()
    =
    let env = counterEnv 6 false
    let agent = sharpAgentFor env.Spec 20UL

    let episodes, stats =
        Runner.runEpisodes env cfg agent (fun _ -> 0.0f) 0 8 (Rng.key 21UL)

    let lengths = episodes |> Array.map (fun e -> e.Length)
    Expect.isTrue (Array.distinct lengths |> Array.length > 2) (sprintf "lengths %A" lengths)

    for e in episodes do
        Episode.validate e
        Expect.isTrue e.Terminated "e.Terminated"
        Expect.equal e.Won (Some(e.Length % 2 = 0)) "e.Won"

    let wins = lengths |> Array.filter (fun l -> l % 2 = 0) |> Array.length
    Expect.equal stats.WinRate (Some(float32 wins / 8.0f)) "stats.WinRate"
    Expect.equal stats.Steps (Array.sum lengths) "stats.Steps"
    // replay the same episodes through the training-time unroll: greedy actions must match
    let batch = EpisodeBatch.ofEpisodes episodes

    let qs =
        Agent.unroll agent env.Spec.NAgents (Agent.batchInputs cfg env.Spec batch)
        |> Tensor.toArray

    let b, t', n, a = batch.BatchSize, batch.MaxSeqLength, batch.NAgents, batch.NActions
    let mutable checkedSteps = 0

    for i in 0 .. b - 1 do
        for t in 0 .. episodes[i].Length - 1 do
            for ag in 0 .. n - 1 do
                let q = Array.sub qs (((t * b + i) * n + ag) * a) a
                let av = Array.sub batch.AvailActions (((i * t' + t) * n + ag) * a) a

                let greedy =
                    [ 0 .. a - 1 ]
                    |> List.filter (fun u -> av[u] = 1.0f)
                    |> List.maxBy (fun u -> q[u])

                Expect.equal (batch.Actions[(i * t' + t) * n + ag]) greedy "batch.Actions[(i * t' + t) * n + ag]"
                checkedSteps <- checkedSteps + 1

    Expect.equal checkedSteps (stats.Steps * n) "checkedSteps"

let ``an environment's episode does not depend on how many run beside it`` () =
    let env = counterEnv 6 false
    let agent = sharpAgentFor env.Spec 22UL
    let alone, _ = Runner.runEpisodes env cfg agent (fun _ -> 0.5f) 0 1 (Rng.key 23UL)
    let crowd, _ = Runner.runEpisodes env cfg agent (fun _ -> 0.5f) 0 5 (Rng.key 23UL)
    Expect.isTrue (alone[0] = crowd[0]) "(alone[0] = crowd[0])"
    Expect.equal (crowd[0]) (alone[0]) "crowd[0]"

let ``an environment with a wrong observation width is reported with both sizes`` () =
    let inner = counterEnv 3 true

    let env =
        { inner with
            Observations = fun s -> Array.append (inner.Observations s) [| 0.0f |]
        }

    let ex =
        Expect.throwsOf<ArgumentException>(fun () ->
            Runner.runEpisodes env cfg (agentFor inner.Spec 24UL) (fun _ -> 1.0f) 0 2 (Rng.key 25UL)
            |> ignore)

    Expect.stringContains ex.Message "counter" "ex.Message"
    Expect.stringContains ex.Message "observation" "ex.Message"
    Expect.stringContains ex.Message "7" "ex.Message"
    Expect.stringContains ex.Message "6" "ex.Message"

let ``an environment with a wrong mask or state size, or no available action, is reported`` () =
    let inner = counterEnv 3 true
    let agent = agentFor inner.Spec 26UL

    let badMask =
        { inner with
            AvailableActions =
                fun s ->
                    if s.T = 1 then
                        Array.create 11 true
                    else
                        inner.AvailableActions s
        }

    let ex =
        Expect.throwsOf<ArgumentException>(fun () ->
            Runner.runEpisodes badMask cfg agent (fun _ -> 1.0f) 0 2 (Rng.key 27UL)
            |> ignore)

    Expect.stringContains ex.Message "available-action mask" "ex.Message"
    Expect.stringContains ex.Message "11" "ex.Message"
    Expect.stringContains ex.Message "12" "ex.Message"

    let badState =
        { inner with
            GlobalState = fun _ -> [||]
        }

    let ex =
        Expect.throwsOf<ArgumentException>(fun () ->
            Runner.runEpisodes badState cfg agent (fun _ -> 1.0f) 0 2 (Rng.key 27UL)
            |> ignore)

    Expect.stringContains ex.Message "global state" "ex.Message"

    let noAction =
        { inner with
            AvailableActions = fun s -> Array.init 12 (fun i -> s.T = 0 || i / 4 <> 2)
        }

    let ex =
        Expect.throwsOf<ArgumentException>(fun () ->
            Runner.runEpisodes noAction cfg agent (fun _ -> 0.5f) 0 2 (Rng.key 27UL)
            |> ignore)

    Expect.stringContains ex.Message "counter: agent 2 has no available action at step 1" "ex.Message"

let ``the runner rejects a bad epsilon or environment count`` () =
    Expect.throwsOf<ArgumentException>(fun () ->
        Runner.runEpisodes twoStep cfg twoStepAgent (fun _ -> 1.0f) 0 0 (Rng.key 1UL)
        |> ignore)
    |> ignore

    Expect.throwsOf<ArgumentException>(fun () ->
        Runner.runEpisodes twoStep cfg twoStepAgent (fun _ -> -0.1f) 0 2 (Rng.key 1UL)
        |> ignore)
    |> ignore

    Expect.throwsOf<ArgumentException>(fun () -> Runner.evaluate twoStep cfg twoStepAgent 0 2 (Rng.key 1UL) |> ignore)
    |> ignore

let ``unshared MLP agents run too`` () =
    let env = counterEnv 4 false
    let mlp = { cfg with Kind = Mlp; Shared = false }
    let agent = Agent.init mlp env.Spec (Rng.key 28UL)

    let episodes, _ =
        Runner.runEpisodes env mlp agent (fun _ -> 0.2f) 0 6 (Rng.key 29UL)

    for e in episodes do
        Episode.validate e
        // an unavailable action is never recorded (the last action on odd steps)
        for t in 0 .. e.Length - 1 do
            if t % 2 = 1 then
                Seq.iter (fun u -> Expect.notEqual u 3 "u") (e.Actions[t * 3 .. t * 3 + 2])

[<Tests>]
let tests =
    testList
        "Runner"
        [
            testCase
                "epsilon schedule is linear from start to finish and clamped"
                ``epsilon schedule is linear from start to finish and clamped``
            testCase
                "greedy selection picks the best available action, never an unavailable one"
                ``greedy selection picks the best available action, never an unavailable one``
            testCase
                "greedy selection agrees with a masked argmax on random Q-values"
                ``greedy selection agrees with a masked argmax on random Q-values``
            testCase
                "exploration is uniform over the available actions"
                ``exploration is uniform over the available actions``
            testCase
                "partial exploration mixes greedy and random choices at rate epsilon"
                ``partial exploration mixes greedy and random choices at rate epsilon``
            testCase
                "the same key gives the same actions, another key other actions"
                ``the same key gives the same actions, another key other actions``
            testCase "selection rejects bad inputs" ``selection rejects bad inputs``
            testCase
                "random episodes of the two-step game are valid, two steps long and pay what their actions earn"
                ``random episodes of the two-step game are valid, two steps long and pay what their actions earn``
            testCase "the same key gives the same episodes" ``the same key gives the same episodes``
            testCase
                "epsilon is read from the global step counter, which advances by the running environments"
                ``epsilon is read from the global step counter, which advances by the running environments``
            testCase
                "greedy evaluation of the two-step game repeats one deterministic episode"
                ``greedy evaluation of the two-step game repeats one deterministic episode``
            testCase
                "run statistics: mean length, and dead units at the end averaged over the episodes that report them"
                ``run statistics: mean length, and dead units at the end averaged over the episodes that report them``
            testCase
                "the runner cuts an episode at the limit: not terminated, full length"
                ``the runner cuts an episode at the limit: not terminated, full length``
            testCase
                "an environment's own truncation ends the episode without termination"
                ``an environment's own truncation ends the episode without termination``
            testCase
                "episodes of different lengths keep their own hidden state: recorded actions are the network's greedy choices"
                ``episodes of different lengths keep their own hidden state: recorded actions are the network's greedy choices``
            testCase
                "an environment's episode does not depend on how many run beside it"
                ``an environment's episode does not depend on how many run beside it``
            testCase
                "an environment with a wrong observation width is reported with both sizes"
                ``an environment with a wrong observation width is reported with both sizes``
            testCase
                "an environment with a wrong mask or state size, or no available action, is reported"
                ``an environment with a wrong mask or state size, or no available action, is reported``
            testCase
                "the runner rejects a bad epsilon or environment count"
                ``the runner rejects a bad epsilon or environment count``
            testCase "unshared MLP agents run too" ``unshared MLP agents run too``
        ]
