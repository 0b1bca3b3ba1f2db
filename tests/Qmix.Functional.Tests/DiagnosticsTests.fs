module Qmix.Functional.Tests.DiagnosticsTests

open System
open Xunit
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs
open Qmix.Functional.Tests.CheckpointTests
open Qmix.Functional.Tests.TrainingTests

let private spec =
    {
        Name = "rewards"
        NAgents = 1
        NActions = 2
        ObsDim = 1
        StateDim = 1
        EpisodeLimit = 4
    }

/// An episode of the given rewards (the other arrays zero), terminated or cut at its limit.
let private episodeOf (rewards: float32[]) (terminated: bool) : Episode =
    let t1 = spec.EpisodeLimit + 1

    {
        Spec = spec
        Length = rewards.Length
        Obs = Array.zeroCreate t1
        State = Array.zeroCreate t1
        Actions = Array.zeroCreate t1
        AvailActions = Array.create (t1 * 2) 1.0f
        Reward = Array.append rewards (Array.zeroCreate (t1 - rewards.Length))
        Terminated = terminated
        Won = None
    }

let private metrics (q: float32) (target: float32) =
    {
        Loss = 1.0f
        GradNorm = 1.0f
        TdErrorAbs = abs (q - target)
        QTakenMean = q
        TargetMean = target
        CentralLoss = 0.0f
        WeightMean = 1.0f
    }

let private seen (largest: float32) =
    { DiagnosticsState.empty with
        LargestReturn = largest
    }

// ---------------------------------------------------------------- the bound

[<Fact>]
let ``the plausible return of an episode bounds the return from each of its steps`` () =
    // Σ|r| = 1 + 3 + 0.5: the return from step 1 is −2.5, from step 0 −1.5, both within 4.5
    let e = episodeOf [| 1.0f; -3.0f; 0.5f |] true
    Assert.Equal(4.5f, Diagnostics.plausibleReturn 0.99f e)
    // cut at the limit, the learner bootstraps past the end: plus the mean |r| per step over 1 / (1 − γ) steps,
    // 4.5 / 4 / 0.5
    let cut = episodeOf [| 1.0f; -3.0f; 0.5f; 0.0f |] false
    Assert.Equal(4.5f + 2.25f, Diagnostics.plausibleReturn 0.5f cut)
    // γ = 1 has no such allowance
    Assert.Equal(4.5f, Diagnostics.plausibleReturn 1.0f cut)

[<Fact>]
let ``the largest plausible return grows with the episodes seen and ignores NaN rewards`` () =
    let s =
        DiagnosticsState.empty
        |> Diagnostics.observe 0.99f [ episodeOf [| 2.0f |] true; episodeOf [| 1.0f; 1.0f; 1.0f |] true ]

    Assert.Equal(3.0f, s.LargestReturn)

    let s' =
        Diagnostics.observe 0.99f [ episodeOf [| 1.0f |] true; episodeOf [| nanf |] true ] s

    Assert.Equal(3.0f, s'.LargestReturn)

[<Fact>]
let ``the bound is ten times the largest plausible return, at least 100, or the user's`` () =
    let d = DiagnosticsConfig.defaults
    Assert.Equal(100.0f, Diagnostics.bound d (seen 8.0f))
    Assert.Equal(100.0f, Diagnostics.bound d DiagnosticsState.empty)
    Assert.Equal(200.0f, Diagnostics.bound d (seen 20.0f))
    Assert.Equal(5.0f, Diagnostics.bound { d with QValueBound = Some 5.0f } (seen 20.0f))

// ---------------------------------------------------------------- the check

[<Fact>]
let ``healthy Q-values are not warned about: the two-step game with Q_tot near its return of 8`` () =
    let d = DiagnosticsConfig.defaults
    // negative control: Q_tot ≈ 8 (or a little above, as estimates are) with the two-step game's returns seen
    let state = seen 8.0f

    for q, target in [ 8.0f, 8.0f; 8.4f, 7.9f; -3.0f, 0.5f; 99.0f, -99.0f ] do
        let state', warnings = Diagnostics.check d state 100 50 (metrics q target)
        Assert.Empty warnings
        Assert.Equal(state, state')

[<Fact>]
let ``Q-values beyond the bound are warned about once per quantity, naming it, its value and the bound`` () =
    let d = DiagnosticsConfig.defaults
    let state = seen 8.0f
    let s1, w1 = Diagnostics.check d state 400 200 (metrics 12345.0f 50.0f)
    let w = Assert.Single w1
    Assert.Equal(DiagnosticQuantity.QTakenMean, w.Quantity)

    Assert.Equal(
        (400, 200, 12345.0f, 100.0f, false, 8.0f),
        (w.Step, w.Episode, w.Value, w.Bound, w.UserBound, w.LargestReturn)
    )

    let text = Diagnostics.describe w
    Assert.Contains("q_taken_mean", text)
    Assert.Contains("1.234E+04", text)
    Assert.Contains("100", text)
    Assert.Contains("step 400", text)
    // once: a second diverged update does not warn about Q again, but the target's turn comes
    let s2, w2 = Diagnostics.check d s1 402 201 (metrics 99999.0f 50.0f)
    Assert.Empty w2
    let s3, w3 = Diagnostics.check d s2 404 202 (metrics 99999.0f -500.0f)
    Assert.Equal(DiagnosticQuantity.TargetMean, (Assert.Single w3).Quantity)
    Assert.Contains("target_mean", Diagnostics.describe w3.Head)
    let _, w4 = Diagnostics.check d s3 406 203 (metrics infinityf nanf)
    Assert.Empty w4

[<Fact>]
let ``non-finite Q-values are warned about, and a user bound replaces the derived one`` () =
    let d = DiagnosticsConfig.defaults
    let _, w = Diagnostics.check d (seen 8.0f) 10 5 (metrics nanf infinityf)

    Assert.Equal<DiagnosticQuantity list>(
        [ DiagnosticQuantity.QTakenMean; DiagnosticQuantity.TargetMean ],
        w |> List.map _.Quantity
    )

    Assert.Contains("no longer finite", Diagnostics.describe w.Head)
    // a user who knows the return is at most 10 hears about Q = 12, which the derived bound (100) lets pass
    let user = { d with QValueBound = Some 10.0f }
    let _, quiet = Diagnostics.check d (seen 8.0f) 10 5 (metrics 12.0f 8.0f)
    Assert.Empty quiet
    let _, loud = Diagnostics.check user (seen 8.0f) 10 5 (metrics 12.0f 8.0f)
    let u = Assert.Single loud
    Assert.True(u.UserBound)
    Assert.Contains("the bound set in the configuration", Diagnostics.describe u)

// ---------------------------------------------------------------- in the training loop

let private warnings events =
    events
    |> List.choose (fun e ->
        match e with
        | Warned w -> Some w
        | _ -> None)

[<Fact>]
let ``a healthy run gives no warning (negative control)`` () =
    let trainer = Training.create tiny MatrixGames.twoStep
    let final, events = record trainer (Training.init trainer)
    Assert.Empty(warnings events)
    // the two-step game pays at most 8, and its episodes always terminate
    Assert.InRange(final.Diagnostics.LargestReturn, 7.0f, 8.0f)
    Assert.True(Set.isEmpty final.Diagnostics.Warned)

/// The state with the agents' output bias (online and target) raised by `by`: every Q-value is about that much
/// larger, as if the values had run away.
let private planted (by: float32) (state: TrainingState<'M>) =
    let raise (p: QParams<'M>) =
        match p.Agent with
        | Shared(RnnNet r) ->
            { p with
                Agent =
                    Shared(
                        RnnNet
                            { r with
                                Fc2 =
                                    { r.Fc2 with
                                        Bias = Tensor.addScalar by r.Fc2.Bias
                                    }
                            }
                    )
            }
        | _ -> failwith "expected a shared RNN agent"

    { state with
        Learner =
            { state.Learner with
                Params = raise state.Learner.Params
                Target = raise state.Learner.Target
            }
    }

[<Fact>]
let ``a planted divergence is warned about once per quantity, right after the update that shows it`` () =
    let cfg =
        { tiny with
            Mixer = Vdn
            TotalSteps = 40
        }

    let trainer = Training.create cfg MatrixGames.twoStep
    let _, events = record trainer (planted 1e4f (Training.init trainer))
    let ws = warnings events
    // Q_tot = Q_1 + Q_2 ≈ 2·10⁴ on every step; the target ≈ γ·2·10⁴ on the first step, the reward on the second
    Assert.Equal<DiagnosticQuantity list>(
        [ DiagnosticQuantity.QTakenMean; DiagnosticQuantity.TargetMean ],
        ws |> List.map _.Quantity
    )

    for w in ws do
        Assert.True(abs w.Value > 5000.0f, sprintf "%A" w)
        Assert.Equal(100.0f, w.Bound)
        Assert.Contains(Diagnostics.name w.Quantity, Diagnostics.describe w)

    // right after the first update, in its iteration
    let firstUpdate =
        events
        |> List.findIndex (fun e ->
            match e with
            | Updated _ -> true
            | _ -> false)

    Assert.Equal(firstUpdate + 1, events |> List.findIndex (fun e -> e.IsWarned))
    Assert.Equal(firstUpdate + 2, events |> List.findIndexBack (fun e -> e.IsWarned))

    let updated =
        match events[firstUpdate] with
        | Updated u -> u
        | _ -> failwith "not an update"

    Assert.Equal(updated.Step, ws.Head.Step)
    Assert.Equal(updated.Metrics.QTakenMean, ws.Head.Value)

[<Fact>]
let ``an absurd learning rate with γ = 1 is warned about while the values are still finite`` () =
    // RMSprop's first steps move every parameter by about 10 × lr: with lr 0.1 the Q-values of the two-step game
    // (whose return is at most 8) leap to hundreds
    let cfg =
        { tiny with
            Learner =
                { tiny.Learner with
                    Gamma = 1.0f
                    Optimizer =
                        RmsProp
                            { RmsPropConfig.defaults with
                                Lr = 0.1f
                            }
                }
            TotalSteps = 100
        }

    let trainer = Training.create cfg MatrixGames.twoStep
    // iterate directly: the events keep coming even if the loss stops being finite
    let events =
        Training.iterations trainer (Training.init trainer)
        |> Seq.collect snd
        |> List.ofSeq

    let ws = warnings events
    Assert.Contains(DiagnosticQuantity.QTakenMean, ws |> List.map _.Quantity)
    // the first warning names a finite value far above the bound (at most 8 seen: the floor, 100) …
    let first = ws.Head
    Assert.True(Single.IsFinite first.Value && abs first.Value > first.Bound, sprintf "%A" first)
    Assert.Equal(100.0f, first.Bound)
    // … and comes before any update whose loss is no longer finite
    let warnedAt = events |> List.findIndex (fun e -> e.IsWarned)

    let brokenAt =
        events
        |> List.tryFindIndex (fun e ->
            match e with
            | Updated u -> not (Single.IsFinite u.Metrics.Loss)
            | _ -> false)

    Assert.True(brokenAt |> Option.forall (fun b -> b > warnedAt), sprintf "warned at %d, NaN at %A" warnedAt brokenAt)
    // the same settings with PyMARL's learning rate stay quiet (negative control)
    let calm =
        Training.create
            { cfg with
                Learner =
                    { cfg.Learner with
                        Optimizer = tiny.Learner.Optimizer
                    }
            }
            MatrixGames.twoStep

    let calmEvents =
        Training.iterations calm (Training.init calm) |> Seq.collect snd |> List.ofSeq

    Assert.Empty(warnings calmEvents)
