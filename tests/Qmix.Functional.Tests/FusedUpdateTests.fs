module Qmix.Functional.Tests.FusedUpdateTests

open System
open Expecto
open Qmix.Tests
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Tests.Fixtures

/// ‖a − b‖ / ‖b‖ over all leaves of two gradient trees, and the worst leaf's name.
let private worstLeaf (got: QParams<'M>) (want: QParams<'M>) =
    Array.zip (Tree.named got) (Tree.named want)
    |> Array.map (fun ((name, g), (_, w)) ->
        let g, w = g.ToArray(), w.ToArray()
        let mutable d, n = 0.0, 0.0

        for i in 0 .. g.Length - 1 do
            d <- d + float (g[i] - w[i]) ** 2.0
            n <- n + float w[i] ** 2.0

        name, sqrt d / max (sqrt n) 1e-12)
    |> Array.maxBy snd

/// Fused against tape: the loss and every gradient leaf, relative to the tape's.
let private agreement (learner: Learner<MixerParams>) (state: LearnerState<MixerParams>) (batch: EpisodeBatch) =
    let fusedLoss, fused, fm = Learner.gradients learner state batch
    let tapeLoss, tape, tm = Learner.tapeGradients learner state batch
    let lossErr = abs (fusedLoss - tapeLoss) / max (abs tapeLoss) 1e-12f
    let leaf, err = worstLeaf fused tape
    lossErr, leaf, err, fm, tm

let private configs: (string * LearnerConfig * MixerConfig) list =
    let q =
        match qmixSmall with
        | Qmix c -> c
        | _ -> failwith "qmixSmall is a QMIX config"

    [
        "qmix, 2-layer hypernets", small, qmixSmall
        "qmix, 1-layer hypernets", small, Qmix { q with HypernetLayers = 1 }
        "qmix, softplus", small, Qmix { q with NonNegative = Softplus }
        "qmix, no double Q", { small with DoubleQ = false }, qmixSmall
        "qmix, TD(0.6), loss scale 0.5, Adam",
        { small with
            Target = TdLambda 0.6f
            LossScale = 0.5f
            Optimizer = Adam AdamConfig.defaults
        },
        qmixSmall
        "qmix, all observations as hypernet input",
        { small with
            HyperInput = AllObservations
        },
        qmixSmall
        "qmix, state and observations",
        { small with
            HyperInput = StateAndObservations
        },
        qmixSmall
        "qmix, no last action, no agent id",
        { small with
            Agent =
                { small.Agent with
                    LastAction = false
                    AgentId = false
                }
        },
        qmixSmall
        "vdn", small, Vdn
        "iql", small, Independent
    ]

let ``fused gradients agree with the tape for every configuration the fused update runs`` () =
    for name, cfg, mixer in configs do
        let learner = Learner.builtIn cfg spec mixer

        for seed, b in [ 1UL, 5; 2UL, 1; 3UL, 8 ] do
            let state = Learner.init learner (Rng.key seed)
            // targets that differ from the online networks
            let state =
                { state with
                    Target = Learner.initParams learner (Rng.key (seed + 100UL))
                }

            let batch = randomBatch spec b (seed + 7UL)
            let lossErr, leaf, err, fm, tm = agreement learner state batch
            Expect.isTrue (lossErr < 1e-5f) (sprintf "%s, B=%d: loss differs by %g (relative)" name b lossErr)
            Expect.isTrue (err < 1e-4) (sprintf "%s, B=%d: gradient of %s differs by %g (relative)" name b leaf err)
            Expect.roundedEqual fm.QTakenMean tm.QTakenMean 4 "fm.QTakenMean"
            Expect.roundedEqual fm.TargetMean tm.TargetMean 4 "fm.TargetMean"
            Expect.roundedEqual fm.TdErrorAbs tm.TdErrorAbs 4 "fm.TdErrorAbs"

let ``negative control: the agreement check notices a different discount`` () =
    let learner = Learner.builtIn small spec qmixSmall
    let state = Learner.init learner (Rng.key 1UL)
    let batch = randomBatch spec 5 8UL
    let _, fused, _ = Learner.gradients learner state batch

    let other =
        { learner with
            Config = { learner.Config with Gamma = 0.9f }
        }

    let _, tape, _ = Learner.tapeGradients other state batch
    let _, err = worstLeaf fused tape
    Expect.isTrue (err > 1e-3) (sprintf "a discount of 0.9 against 0.99 went unnoticed (relative difference %g)" err)

let ``the update is bit-identical with one thread, two, or as many as the machine has`` () =
    let batch = randomBatch spec 6 4UL

    let run (threads: int) =
        let learner = Learner.builtIn { small with Threads = threads } spec qmixSmall

        let mutable s = Learner.init learner (Rng.key 2UL)
        let losses = ResizeArray()

        for i in 1..5 do
            let s', m = Learner.update learner i batch s
            s <- s'
            losses.Add m.Loss

        List.ofSeq losses, leaves s.Params

    let l1, p1 = run 1
    let l2, p2 = run 2
    let l0, p0 = run 0
    Expect.equal l2 l1 "l2"
    Expect.equal l0 l1 "l0"
    Expect.equal p2 p1 "p2"
    Expect.equal p0 p1 "p0"

let ``the tape engine and the fused one take the same step, to rounding`` () =
    let batch = randomBatch spec 5 6UL
    let fusedLearner = Learner.builtIn small spec qmixSmall

    let tapeLearner = Learner.builtIn { small with Engine = Tape } spec qmixSmall

    let s0 = Learner.init fusedLearner (Rng.key 3UL)
    let fs, fm = Learner.update fusedLearner 0 batch s0
    let ts, tm = Learner.update tapeLearner 0 batch s0
    Expect.roundedEqual fm.Loss tm.Loss 4 "fm.Loss"
    Expect.roundedEqual fm.GradNorm tm.GradNorm 3 "fm.GradNorm"

    for f, t in Array.zip (leaves fs.Params) (leaves ts.Params) do
        for i in 0 .. f.Length - 1 do
            Expect.isTrue (abs (f[i] - t[i]) < 1e-5f) (sprintf "parameter differs: %g vs %g" f[i] t[i])

let ``a user's copy of a built-in mixer runs on the tape`` () =
    let builtIn = Mixers.create qmixSmall spec.NAgents spec.StateDim
    let copy = { builtIn with Name = "mine" }
    Expect.isTrue ((Mixers.builtInConfig builtIn).IsSome) "(Mixers.builtInConfig builtIn).IsSome"
    Expect.isTrue ((Mixers.builtInConfig copy).IsNone) "(Mixers.builtInConfig copy).IsNone"

let ``a recycling line of updates refuses to read a state two updates back; a persistent one keeps every state`` () =
    let learner = Learner.builtIn small spec qmixSmall
    let batch = randomBatch spec 4 5UL
    let s0 = Learner.recycling (Learner.init learner (Rng.key 4UL))
    let s1 = fst (Learner.update learner 1 batch s0)
    let s2 = fst (Learner.update learner 2 batch s1)
    let s3 = fst (Learner.update learner 3 batch s2)
    // s1's storage now holds s3; s2, the state s3 came from, is still readable
    Expect.throwsOf<InvalidOperationException>(fun () -> leaves s1.Params |> ignore)
    |> ignore

    leaves s2.Params |> ignore
    // a snapshot of s3's values (copied out) before later updates reuse its storage
    let s3Values = leaves s3.Params
    // a copy lives on: after two more updates along the line it still holds s3's values
    let kept = Learner.copyState s3
    let s4 = fst (Learner.update learner 4 batch s3)
    let s5 = fst (Learner.update learner 5 batch s4)
    Expect.equal (leaves kept.Params) s3Values "the copy of s3, after two later updates"
    // (the later updates did move the parameters, so an aliased copy would have shown other values)
    Expect.notEqual (leaves s5.Params) s3Values "s5's parameters, against s3's"

    Expect.throwsOf<InvalidOperationException>(fun () -> leaves s3.Params |> ignore)
    |> ignore
    // the default workspace never recycles
    let p0 = Learner.init learner (Rng.key 4UL)
    let p1 = fst (Learner.update learner 1 batch p0)
    let p2 = fst (Learner.update learner 2 batch p1)
    let _ = fst (Learner.update learner 3 batch p2)
    Expect.equal (leaves p2.Params) (leaves (fst (Learner.update learner 2 batch p1)).Params) "leaves p2.Params"

let ``steps after an episode's last counted one are skipped without changing the result`` () =
    // the same episodes, once as they are and once with a longer padding tail of garbage observations
    let learner = Learner.builtIn small spec qmixSmall
    let state = Learner.init learner (Rng.key 9UL)
    let batch = randomBatch spec 4 10UL
    let t1 = batch.MaxSeqLength

    let noisy =
        { batch with
            Obs =
                Array.mapi
                    (fun i v ->
                        let step = (i / (spec.NAgents * spec.ObsDim)) % t1
                        let ep = i / (spec.NAgents * spec.ObsDim * t1)
                        let steps = FusedShard.StepsOf(batch, ep)
                        if step >= steps then 1e6f else v)
                    batch.Obs
        }

    let l1, g1, _ = Learner.gradients learner state batch
    let l2, g2, _ = Learner.gradients learner state noisy
    Expect.equal l2 l1 "l2"
    Expect.equal (leaves g2) (leaves g1) "leaves g2"

let ``the fused update learns the same from a truncated batch and from one stacked at full length`` () =
    let learner = Learner.builtIn small spec qmixSmall
    let state = Learner.init learner (Rng.key 12UL)
    let batch = randomBatch spec 6 13UL
    // the same episodes, truncated after the longest filled one plus a step (as Replay.sample stacks them)
    let t1 = batch.MaxSeqLength

    let longest =
        Array.init batch.BatchSize (fun e -> Array.sum batch.Filled[e * t1 .. e * t1 + t1 - 1] |> int)
        |> Array.max

    let t' = longest + 1

    let cut (width: int) (src: 'T[]) =
        Array.init (batch.BatchSize * t' * width) (fun i ->
            let e, rest = i / (t' * width), i % (t' * width)
            src[e * t1 * width + rest])

    let truncated =
        { batch with
            MaxSeqLength = t'
            Obs = cut (spec.NAgents * spec.ObsDim) batch.Obs
            State = cut spec.StateDim batch.State
            Actions = cut spec.NAgents batch.Actions
            AvailActions = cut (spec.NAgents * spec.NActions) batch.AvailActions
            Reward = cut 1 batch.Reward
            Terminated = cut 1 batch.Terminated
            Filled = cut 1 batch.Filled
        }

    Expect.isTrue (t' < t1) "the test needs a batch whose episodes all end before the limit"
    let full, fm = Learner.update learner 0 batch state
    let short, sm = Learner.update learner 0 truncated state
    Expect.equal sm.Loss fm.Loss "sm.Loss"
    Expect.equal sm.GradNorm fm.GradNorm "sm.GradNorm"
    Expect.equal (leaves short.Params) (leaves full.Params) "leaves short.Params"

let ``parameters whose sizes disagree with the settings are refused with the mismatch named`` () =
    // a QMIX mixer made for a hypernetwork input of 9 values, in a learner whose states have 6
    let mixer = Mixers.create qmixSmall spec.NAgents 9
    let learner = Learner.create small spec mixer
    let state = Learner.init learner (Rng.key 1UL)
    let batch = randomBatch spec 3 2UL
    Expect.isFalse (Learner.runsFused learner state.Params) "Learner.runsFused learner state.Params"

    let e =
        Expect.throwsAnyOf<ArgumentException>(fun () -> Learner.update learner 0 batch state |> ignore)

    Expect.stringContains e.Message "D=9" "e.Message"

[<Tests>]
let tests =
    testList
        "FusedUpdate"
        [
            testCase
                "fused gradients agree with the tape for every configuration the fused update runs"
                ``fused gradients agree with the tape for every configuration the fused update runs``
            testCase
                "negative control: the agreement check notices a different discount"
                ``negative control: the agreement check notices a different discount``
            testCase
                "the update is bit-identical with one thread, two, or as many as the machine has"
                ``the update is bit-identical with one thread, two, or as many as the machine has``
            testCase
                "the tape engine and the fused one take the same step, to rounding"
                ``the tape engine and the fused one take the same step, to rounding``
            testCase
                "a user's copy of a built-in mixer runs on the tape"
                ``a user's copy of a built-in mixer runs on the tape``
            testCase
                "a recycling line of updates refuses to read a state two updates back; a persistent one keeps every state"
                ``a recycling line of updates refuses to read a state two updates back; a persistent one keeps every state``
            testCase
                "steps after an episode's last counted one are skipped without changing the result"
                ``steps after an episode's last counted one are skipped without changing the result``
            testCase
                "the fused update learns the same from a truncated batch and from one stacked at full length"
                ``the fused update learns the same from a truncated batch and from one stacked at full length``
            testCase
                "parameters whose sizes disagree with the settings are refused with the mismatch named"
                ``parameters whose sizes disagree with the settings are refused with the mismatch named``
        ]
