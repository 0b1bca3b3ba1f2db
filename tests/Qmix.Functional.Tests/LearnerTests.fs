module Qmix.Functional.Tests.LearnerTests

open System
open Expecto
open Qmix.Tests
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Tests.Fixtures

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
    Expect.equal l2 l1 "l2"
    Expect.equal p2 p1 "p2"

let ``updates reduce the loss on a fixed batch`` () =
    let learner = Learner.builtIn small spec qmixSmall
    let batch = randomBatch spec 4 3UL
    let mutable s = Learner.init learner (Rng.key 5UL)
    let first = (snd (Learner.update learner 0 batch s)).Loss

    for _ in 1..60 do
        s <- fst (Learner.update learner 0 batch s)

    let last = (snd (Learner.update learner 0 batch s)).Loss
    Expect.isTrue (last < 0.5f * first) (sprintf "loss %g → %g" first last)

let ``TD(λ) with λ = 0 gives the one-step loss`` () =
    let batch = randomBatch spec 5 9UL

    let lossOf target =
        let learner = Learner.builtIn { small with Target = target } spec qmixSmall
        let state = Learner.init learner (Rng.key 2UL)
        let l, _, _ = Learner.gradients learner state batch
        l

    Expect.equal (lossOf (TdLambda 0.0f)) (lossOf OneStep) "lossOf (TdLambda 0.0f)"
    Expect.notEqual (lossOf (TdLambda 0.8f)) (lossOf OneStep) "lossOf (TdLambda 0.8f)"

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
    Expect.equal (leaves s1.Target) (leaves s0.Target) "leaves s1.Target"
    let s2, _ = Learner.update hard 10 batch s1
    Expect.equal (leaves s2.Target) (leaves s2.Params) "leaves s2.Target"
    Expect.equal s2.LastTargetUpdateEpisode 10 "s2.LastTargetUpdateEpisode"
    let soft = Learner.builtIn { small with TargetUpdate = Soft 0.25f } spec qmixSmall
    let t0 = Learner.init soft (Rng.key 1UL)
    let t1, _ = Learner.update soft 1 batch t0

    let expected =
        Array.map2 (Array.map2 (fun p t -> 0.25f * p + 0.75f * t)) (leaves t1.Params) (leaves t0.Target)

    Array.iter2
        (Array.iter2 (fun (e: float32) (g: float32) -> Expect.roundedEqual g e 6 "g"))
        expected
        (leaves t1.Target)

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
                Expect.isTrue (Single.IsFinite m.Loss && m.GradNorm > 0.0f) (sprintf "%A %A %A: %A" mixer agent input m)
                Expect.equal s.Updates 1 "s.Updates"

// ---------------------------------------------------------------- value-level checks of the learners on the tape

/// The learners the fused engine does not cover, so they run on the gradient tape: per-agent RNN agents, MLP
/// agents, and the paper's ablation mixers QMIX-NS, QMIX-Lin and VDN-S.
let tapeLearners: (string * LearnerConfig * MixerConfig) list =
    let smallQmix =
        { QmixConfig.defaults with
            Embed = 4
            HypernetEmbed = 6
        }

    [
        "per-agent RNN agents",
        { small with
            Agent = { small.Agent with Shared = false }
        },
        qmixSmall
        "MLP agents",
        { small with
            Agent =
                { small.Agent with
                    Kind = Mlp
                    LastAction = false
                    AgentId = false
                }
        },
        qmixSmall
        "QMIX-NS", small, QmixNs smallQmix
        "QMIX-Lin", small, QmixLin smallQmix
        "VDN-S", small, VdnS smallQmix
    ]

/// Where the learner's gradient (times `scale`) disagrees with central finite differences of its own loss, at two
/// coordinates of every parameter tensor: one line per disagreement. Steps of h = 1e-3 (in float32, a loss near 1
/// is resolved to ~1e-7, so the quotient to ~1e-4; wider steps cross the ReLUs' kinks) against a tolerance of 2e-3 + 5%.
let gradientMismatches
    (learner: Learner<MixerParams>)
    (state: LearnerState<MixerParams>)
    (batch: EpisodeBatch)
    (scale: float32)
    =
    let _, grads, _ = Learner.gradients learner state batch
    let template = Tree.leaves state.Params
    let names = Tree.names state.Params
    let ps = template |> Array.map (fun t -> t.ToArray())
    let gs = Tree.leaves grads |> Array.map (fun t -> t.ToArray())

    let lossAt (leaf: int) (i: int) (delta: float32) =
        let arrays = Array.map Array.copy ps
        arrays[leaf][i] <- arrays[leaf][i] + delta

        let leaves =
            Array.map2 (fun (t: Tensor) a -> Tensor.ofArray (t.Shape.ToArray()) a) template arrays

        let loss, _, _ =
            Learner.gradients
                learner
                { state with
                    Params = Tree.rebuild state.Params leaves
                }
                batch

        float loss

    [
        for leaf in 0 .. ps.Length - 1 do
            for i in List.distinct [ 0; ps[leaf].Length / 2 ] do
                let h = 1e-3f
                let fd = (lossAt leaf i h - lossAt leaf i -h) / (2.0 * float h)
                let g = float (scale * gs[leaf][i])

                if abs (fd - g) > 2e-3 + 0.05 * abs fd then
                    yield sprintf "%s[%d]: gradient %g, finite difference %g" names[leaf] i g fd
    ]

/// One tape learner: its gradient agrees with finite differences of its loss, and 300 updates on a fixed batch cut
/// the loss to under a quarter. The gradient check turns double Q-learning off: with it on, the online parameters
/// also choose the target's action, a choice the gradient rightly ignores (targets are constants) but a finite
/// difference would step across.
let ``a tape learner's gradient matches finite differences of its loss and its updates fit a fixed batch``
    (config: LearnerConfig)
    (mixer: MixerConfig)
    =
    let batch = randomBatch spec 4 11UL
    let singleQ = Learner.builtIn { config with DoubleQ = false } spec mixer
    let s0 = Learner.init singleQ (Rng.key 12UL)
    Expect.isFalse (Learner.runsFused singleQ s0.Params) "this learner runs on the tape"
    let mismatches = gradientMismatches singleQ s0 batch 1.0f

    Expect.isTrue
        mismatches.IsEmpty
        (String.concat "\n" ("gradient coordinates that disagree with finite differences:" :: mismatches))

    let learner = Learner.builtIn config spec mixer
    let mutable s = Learner.init learner (Rng.key 12UL)
    let first = (snd (Learner.update learner 0 batch s)).Loss

    for _ in 1..300 do
        s <- fst (Learner.update learner 0 batch s)

    let last = (snd (Learner.update learner 0 batch s)).Loss
    Expect.isTrue (last < 0.25f * first) (sprintf "loss %g → %g after 300 updates" first last)

let ``negative control: a gradient off by half is reported by the finite-difference comparison`` () =
    let _, config, mixer = tapeLearners |> List.find (fun (n, _, _) -> n = "QMIX-NS")
    let learner = Learner.builtIn { config with DoubleQ = false } spec mixer
    let s0 = Learner.init learner (Rng.key 12UL)
    let batch = randomBatch spec 4 11UL
    Expect.isEmpty (gradientMismatches learner s0 batch 1.0f) "the true gradient"
    Expect.isNonEmpty (gradientMismatches learner s0 batch 1.5f) "the gradient times 1.5"

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

    Expect.contains (names shared) "agent.fc1.weight" "names shared"
    Expect.contains (names perAgent) "agent.2.rnn.weight_hh" "names perAgent"

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
        Expect.contains (Tree.names s0.Params) "central_mixer.net.0.weight" "Tree.names s0.Params"
        let _, m = Learner.update learner 0 batch s0
        Expect.isTrue (m.CentralLoss > 0.0f) "m.CentralLoss > 0.0f"
        Expect.inRange m.WeightMean 0.1f 1.0f "m.WeightMean"
        Expect.isTrue (m.WeightMean < 1.0f) "some joint actions are down-weighted"

let ``bad input: a batch of the wrong shape is named`` () =
    let learner = Learner.builtIn small spec qmixSmall
    let state = Learner.init learner (Rng.key 1UL)
    let batch = randomBatch spec 2 1UL

    let wrongObs =
        { batch with
            Obs = Array.zeroCreate (batch.Obs.Length - 1)
        }

    let e =
        Expect.throwsOf<ArgumentException>(fun () -> Learner.update learner 0 wrongObs state |> ignore)

    Expect.stringContains e.Message "obs [B=2" "e.Message"
    let otherSpec = randomBatch { spec with ObsDim = 9 } 2 1UL

    let e =
        Expect.throwsOf<ArgumentException>(fun () -> Learner.update learner 0 otherSpec state |> ignore)

    Expect.stringContains e.Message "obs_dim is 9, expected 5" "e.Message"

    let badAction =
        { batch with
            Actions = Array.map (fun _ -> 4) batch.Actions
        }

    let e =
        Expect.throwsOf<ArgumentException>(fun () -> Learner.update learner 0 badAction state |> ignore)

    Expect.stringContains e.Message ("outside 0..3") "e.Message"

/// A user-defined mixer: Q_tot = Σ_a softplus(w_a) Q_a + b, with free parameters.
type WeightedSum = { W: Tensor; B: Tensor }

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
            Structure = Opaque
        }

    let learner = Learner.create small spec mixer
    let batch = randomBatch spec 4 3UL
    let s0 = Learner.init learner (Rng.key 1UL)

    Expect.equal
        (Tree.names s0.Params |> Array.filter (fun n -> n.StartsWith "mixer"))
        ([| "mixer.w"; "mixer.b" |])
        "Tree.names s0.Params |> Array.filter (fun n -> n.StartsWith \"mixer\")"

    let s1, m = Learner.update learner 0 batch s0
    Expect.isTrue (Single.IsFinite m.Loss) "Single.IsFinite m.Loss"
    Expect.notEqual (s1.Params.Mixer.W.ToArray()) (s0.Params.Mixer.W.ToArray()) "s1.Params.Mixer.W.ToArray()"

[<Tests>]
let tests =
    testList
        "Learner"
        [
            testCase
                "the same seed twice gives identical losses and parameters"
                ``the same seed twice gives identical losses and parameters``
            testCase "updates reduce the loss on a fixed batch" ``updates reduce the loss on a fixed batch``
            testCase "TD(λ) with λ = 0 gives the one-step loss" ``TD(λ) with λ = 0 gives the one-step loss``
            testCase
                "hard targets are copied every K episodes, soft ones move by τ"
                ``hard targets are copied every K episodes, soft ones move by τ``
            testCase
                "every mixer, shared or per-agent, RNN or MLP agents, and every hypernetwork input learns without error"
                ``every mixer, shared or per-agent, RNN or MLP agents, and every hypernetwork input learns without error``
            testList
                "a tape learner's gradient matches finite differences of its loss and its updates fit a fixed batch"
                [
                    for name, config, mixer in tapeLearners ->
                        testCase name (fun () ->
                            ``a tape learner's gradient matches finite differences of its loss and its updates fit a fixed batch``
                                config
                                mixer)
                ]
            testCase
                "negative control: a gradient off by half is reported by the finite-difference comparison"
                ``negative control: a gradient off by half is reported by the finite-difference comparison``
            testCase
                "per-agent networks are named agent.0.*, shared ones agent.*"
                ``per-agent networks are named agent.0.*, shared ones agent.*``
            testCase
                "Weighted QMIX trains QMIX and the centralised Q̂* together"
                ``Weighted QMIX trains QMIX and the centralised Q̂* together``
            testCase "bad input: a batch of the wrong shape is named" ``bad input: a batch of the wrong shape is named``
            testCase
                "a user-defined mixer plugs into the learner like a built-in one"
                ``a user-defined mixer plugs into the learner like a built-in one``
        ]
