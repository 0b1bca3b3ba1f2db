module Qmix.Functional.Tests.LearnerTests

open System
open Xunit
open Qmix.Tensors
open Qmix.Functional

let spec =
    {
        Name = "random"
        NAgents = 3
        NActions = 4
        ObsDim = 5
        StateDim = 6
        EpisodeLimit = 7
    }

/// A random batch: ~70% of actions available (action 0 always), taken actions available, random lengths, even
/// episodes terminated.
let randomBatch (s: EnvSpec) (b: int) (seed: uint64) : EpisodeBatch =
    let k = Rng.splitN 6 (Rng.key seed)
    let t1 = s.EpisodeLimit + 1

    let u (key: Key) n =
        (Rng.uniform key (Shape [| n |])).ToArray()

    let n, a = s.NAgents, s.NActions

    let avail =
        u k[0] (b * t1 * n * a)
        |> Array.mapi (fun i v -> if i % a = 0 || v < 0.7f then 1.0f else 0.0f)

    let actions =
        Array.init (b * t1 * n) (fun r ->
            let choices =
                [|
                    for x in 0 .. a - 1 do
                        if avail[r * a + x] = 1.0f then
                            x
                |]

            choices[Rng.intBelow (Rng.foldIn r k[1]) choices.Length])

    let filled = Array.zeroCreate (b * t1)
    let terminated = Array.zeroCreate (b * t1)

    for e in 0 .. b - 1 do
        let len = 1 + Rng.intBelow (Rng.foldIn e k[2]) s.EpisodeLimit

        for t in 0 .. len - 1 do
            filled[e * t1 + t] <- 1.0f

        if e % 2 = 0 then
            terminated[e * t1 + len - 1] <- 1.0f

    {
        BatchSize = b
        MaxSeqLength = t1
        NAgents = n
        NActions = a
        ObsDim = s.ObsDim
        StateDim = s.StateDim
        Obs = (Rng.normal k[3] (Shape [| b * t1 * n * s.ObsDim |])).ToArray()
        State = (Rng.normal k[4] (Shape [| b * t1 * s.StateDim |])).ToArray()
        Actions = actions
        AvailActions = avail
        Reward = (Rng.normal k[5] (Shape [| b * t1 |])).ToArray()
        Terminated = terminated
        Filled = filled
    }

let small =
    { LearnerConfig.defaults with
        Agent = { AgentConfig.defaults with Hidden = 8 }
    }

let qmixSmall =
    Qmix
        { QmixConfig.defaults with
            Embed = 4
            HypernetEmbed = 6
        }

let leaves (p: QParams<'M>) =
    Tree.leaves p |> Array.map (fun t -> t.ToArray())

[<Fact>]
let ``the same seed twice gives identical losses and parameters`` () =
    let learner = Learner.builtIn small spec qmixSmall
    let batch = randomBatch spec 4 3UL

    let run () =
        let mutable s = Learner.init learner (Rng.key 5UL)

        let losses =
            [
                for i in 1..3 do
                    let s', m = Learner.update learner i batch s
                    s <- s'
                    yield m.Loss
            ]

        losses, leaves s.Params

    let l1, p1 = run ()
    let l2, p2 = run ()
    Assert.Equal<float32 list>(l1, l2)
    Assert.Equal<float32[][]>(p1, p2)

[<Fact>]
let ``updates reduce the loss on a fixed batch`` () =
    let learner = Learner.builtIn small spec qmixSmall
    let batch = randomBatch spec 4 3UL
    let mutable s = Learner.init learner (Rng.key 5UL)
    let first = (snd (Learner.update learner 0 batch s)).Loss

    for _ in 1..60 do
        s <- fst (Learner.update learner 0 batch s)

    let last = (snd (Learner.update learner 0 batch s)).Loss
    Assert.True(last < 0.5f * first, sprintf "loss %g → %g" first last)

[<Fact>]
let ``TD(λ) with λ = 0 gives the one-step loss`` () =
    let batch = randomBatch spec 5 9UL

    let lossOf target =
        let learner = Learner.builtIn { small with Target = target } spec qmixSmall
        let state = Learner.init learner (Rng.key 2UL)
        let l, _, _ = Learner.gradients learner state batch
        l

    Assert.Equal(lossOf OneStep, lossOf (TdLambda 0.0f))
    Assert.NotEqual(lossOf OneStep, lossOf (TdLambda 0.8f))

[<Fact>]
let ``hard targets are copied every K episodes, soft ones move by τ`` () =
    let batch = randomBatch spec 2 1UL

    let hard =
        Learner.builtIn
            { small with
                TargetUpdate = HardEvery 10
            }
            spec
            qmixSmall

    let s0 = Learner.init hard (Rng.key 1UL)
    let s1, _ = Learner.update hard 5 batch s0
    Assert.Equal<float32[][]>(leaves s0.Target, leaves s1.Target)
    let s2, _ = Learner.update hard 10 batch s1
    Assert.Equal<float32[][]>(leaves s2.Params, leaves s2.Target)
    Assert.Equal(10, s2.LastTargetUpdateEpisode)
    let soft = Learner.builtIn { small with TargetUpdate = Soft 0.25f } spec qmixSmall
    let t0 = Learner.init soft (Rng.key 1UL)
    let t1, _ = Learner.update soft 1 batch t0

    let expected =
        Array.map2 (Array.map2 (fun p t -> 0.25f * p + 0.75f * t)) (leaves t1.Params) (leaves t0.Target)

    Array.iter2 (Array.iter2 (fun (e: float32) (g: float32) -> Assert.Equal(e, g, 6))) expected (leaves t1.Target)

[<Fact>]
let ``every mixer, shared or per-agent, RNN or MLP agents, and every hypernetwork input learns without error`` () =
    let batch = randomBatch spec 3 4UL

    for mixer in
        [
            qmixSmall
            Qmix
                { QmixConfig.defaults with
                    HypernetLayers = 1
                    Embed = 4
                    NonNegative = Softplus
                }
            Vdn
            Independent
            QmixNs QmixConfig.defaults
            QmixLin QmixConfig.defaults
            VdnS QmixConfig.defaults
        ] do
        for agent in
            [
                small.Agent
                { small.Agent with Shared = false }
                { small.Agent with
                    Kind = Mlp
                    LastAction = false
                    AgentId = false
                }
            ] do
            for input in [ GlobalState; AllObservations; StateAndObservations ] do
                let learner =
                    Learner.builtIn
                        { small with
                            Agent = agent
                            HyperInput = input
                        }
                        spec
                        mixer

                let s, m = Learner.update learner 0 batch (Learner.init learner (Rng.key 3UL))
                Assert.True(Single.IsFinite m.Loss && m.GradNorm > 0.0f, sprintf "%A %A %A: %A" mixer agent input m)
                Assert.Equal(1, s.Updates)

[<Fact>]
let ``per-agent networks are named agent.0.*, shared ones agent.*`` () =
    let shared = Learner.builtIn small spec Vdn

    let perAgent =
        Learner.builtIn
            { small with
                Agent = { small.Agent with Shared = false }
            }
            spec
            Vdn

    let names (l: Learner<_>) =
        Tree.names (Learner.initParams l (Rng.key 1UL))

    Assert.Contains("agent.fc1.weight", names shared)
    Assert.Contains("agent.2.rnn.weight_hh", names perAgent)

[<Fact>]
let ``Weighted QMIX trains QMIX and the centralised Q̂* together`` () =
    let batch = randomBatch spec 4 6UL

    for w in [ Centralised; Optimistic ] do
        let cfg =
            { small with
                Weighted =
                    Some
                        { WeightedConfig.defaults with
                            Weighting = w
                            CentralEmbed = 16
                        }
            }

        let learner = Learner.builtIn cfg spec qmixSmall
        let s0 = Learner.init learner (Rng.key 1UL)
        Assert.Contains("central_mixer.net.0.weight", Tree.names s0.Params)
        let _, m = Learner.update learner 0 batch s0
        Assert.True(m.CentralLoss > 0.0f)
        Assert.InRange(m.WeightMean, 0.1f, 1.0f)
        Assert.True(m.WeightMean < 1.0f, "some joint actions are down-weighted")

[<Fact>]
let ``bad input: a batch of the wrong shape is named`` () =
    let learner = Learner.builtIn small spec qmixSmall
    let state = Learner.init learner (Rng.key 1UL)
    let batch = randomBatch spec 2 1UL

    let wrongObs =
        { batch with
            Obs = Array.zeroCreate (batch.Obs.Length - 1)
        }

    let e =
        Assert.Throws<ArgumentException>(fun () -> Learner.update learner 0 wrongObs state |> ignore)

    Assert.Contains("obs [B=2", e.Message)
    let otherSpec = randomBatch { spec with ObsDim = 9 } 2 1UL

    let e =
        Assert.Throws<ArgumentException>(fun () -> Learner.update learner 0 otherSpec state |> ignore)

    Assert.Contains("obs_dim is 9, expected 5", e.Message)

    let badAction =
        { batch with
            Actions = Array.map (fun _ -> 4) batch.Actions
        }

    let e =
        Assert.Throws<ArgumentException>(fun () -> Learner.update learner 0 badAction state |> ignore)

    Assert.Contains("outside 0..3", e.Message)

/// A user-defined mixer: Q_tot = Σ_a softplus(w_a) Q_a + b, with free parameters.
type WeightedSum = { W: Tensor; B: Tensor }

[<Fact>]
let ``a user-defined mixer plugs into the learner like a built-in one`` () =
    let mixer: Mixer<WeightedSum> =
        {
            Name = "weighted-sum"
            ClaimsMonotonic = true
            Outputs = 1
            Init =
                fun _ ->
                    {
                        W = Tensor.zeros [| spec.NAgents |]
                        B = Tensor.zeros [| 1 |]
                    }
            Forward = fun p qs _ -> Tensor.mul qs (Tensor.softplus p.W) |> Tensor.sumAxis -1 true |> Tensor.add p.B
        }

    let learner = Learner.create small spec mixer
    let batch = randomBatch spec 4 3UL
    let s0 = Learner.init learner (Rng.key 1UL)

    Assert.Equal<string[]>(
        [| "mixer.w"; "mixer.b" |],
        Tree.names s0.Params |> Array.filter (fun n -> n.StartsWith "mixer")
    )

    let s1, m = Learner.update learner 0 batch s0
    Assert.True(Single.IsFinite m.Loss)
    Assert.NotEqual<float32[]>(s0.Params.Mixer.W.ToArray(), s1.Params.Mixer.W.ToArray())
