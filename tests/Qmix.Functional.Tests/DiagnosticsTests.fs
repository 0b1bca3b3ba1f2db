module Qmix.Functional.Tests.DiagnosticsTests

open System
open Expecto
open Qmix.Tests
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

let ``the plausible return of an episode bounds the return from each of its steps`` () =
    // Σ|r| = 1 + 3 + 0.5: the return from step 1 is −2.5, from step 0 −1.5, both within 4.5
    let e = episodeOf [| 1.0f; -3.0f; 0.5f |] true
    Expect.equal (Diagnostics.plausibleReturn 0.99f e) 4.5f "Diagnostics.plausibleReturn 0.99f e"
    // cut at the limit, the learner bootstraps past the end: plus the mean |r| per step over 1 / (1 − γ) steps,
    // 4.5 / 4 / 0.5
    let cut = episodeOf [| 1.0f; -3.0f; 0.5f; 0.0f |] false
    Expect.equal (Diagnostics.plausibleReturn 0.5f cut) (4.5f + 2.25f) "Diagnostics.plausibleReturn 0.5f cut"
    // γ = 1 has no such allowance
    Expect.equal (Diagnostics.plausibleReturn 1.0f cut) 4.5f "Diagnostics.plausibleReturn 1.0f cut"

let ``the largest plausible return grows with the episodes seen and ignores NaN rewards`` () =
    let s =
        DiagnosticsState.empty
        |> Diagnostics.observe 0.99f [ episodeOf [| 2.0f |] true; episodeOf [| 1.0f; 1.0f; 1.0f |] true ]

    Expect.equal s.LargestReturn 3.0f "s.LargestReturn"

    let s' =
        Diagnostics.observe 0.99f [ episodeOf [| 1.0f |] true; episodeOf [| nanf |] true ] s

    Expect.equal s'.LargestReturn 3.0f "s'.LargestReturn"

let ``the bound is twice the largest plausible return, at least 10, or the user's`` () =
    let d = DiagnosticsConfig.defaults
    Expect.equal (Diagnostics.bound d (seen 8.0f)) 16.0f "Diagnostics.bound d (seen 8.0f)"
    Expect.equal (Diagnostics.bound d (seen 3.0f)) 10.0f "Diagnostics.bound d (seen 3.0f): the floor"
    Expect.equal (Diagnostics.bound d DiagnosticsState.empty) 10.0f "Diagnostics.bound d DiagnosticsState.empty"
    Expect.equal (Diagnostics.bound d (seen 20.0f)) 40.0f "Diagnostics.bound d (seen 20.0f)"

    Expect.equal
        (Diagnostics.bound { d with QValueBound = Some 5.0f } (seen 20.0f))
        5.0f
        "Diagnostics.bound { d with QValueBound = Some 5.0f } (seen 20.0f)"

// ---------------------------------------------------------------- the check

let ``healthy Q-values are not warned about: the two-step game with Q_tot near its return of 8`` () =
    let d = DiagnosticsConfig.defaults
    // negative control: Q_tot ≈ 8 (or a little above, as estimates are) with the two-step game's returns seen
    let state = seen 8.0f

    for q, target in [ 8.0f, 8.0f; 8.4f, 7.9f; -3.0f, 0.5f; 15.9f, -15.9f ] do
        let state', warnings = Diagnostics.check d state 100 50 (metrics q target)
        Expect.isEmpty warnings "warnings"
        Expect.equal state' state "state'"

let ``Q-values beyond the bound are warned about once per quantity, naming it, its value and the bound`` () =
    let d = DiagnosticsConfig.defaults
    let state = seen 8.0f
    let s1, w1 = Diagnostics.check d state 400 200 (metrics 12345.0f 8.0f)
    let w = Expect.single w1 "w1"
    Expect.equal w.Quantity DiagnosticQuantity.QTakenMean "w.Quantity"

    Expect.equal
        (w.Step, w.Episode, w.Value, w.Bound, w.UserBound, w.LargestReturn)
        (400, 200, 12345.0f, 16.0f, false, 8.0f)
        "(w.Step, w.Episode, w.Value, w.Bound, w.UserBound, w.LargestReturn)"

    let text = Diagnostics.describe w
    Expect.stringContains text "q_taken_mean" "text"
    Expect.stringContains text "1.234E+04" "text"
    Expect.stringContains text "16" "text"
    Expect.stringContains text "step 400" "text"
    // once: a second diverged update does not warn about Q again, but the target's turn comes
    let s2, w2 = Diagnostics.check d s1 402 201 (metrics 99999.0f 8.0f)
    Expect.isEmpty w2 "w2"
    let s3, w3 = Diagnostics.check d s2 404 202 (metrics 99999.0f -500.0f)
    Expect.equal ((Expect.single w3 "w3").Quantity) DiagnosticQuantity.TargetMean "the warning's quantity"
    Expect.stringContains (Diagnostics.describe w3.Head) "target_mean" "Diagnostics.describe w3.Head"
    let _, w4 = Diagnostics.check d s3 406 203 (metrics infinityf nanf)
    Expect.isEmpty w4 "w4"

let ``non-finite Q-values are warned about, and a user bound replaces the derived one`` () =
    let d = DiagnosticsConfig.defaults
    let _, w = Diagnostics.check d (seen 8.0f) 10 5 (metrics nanf infinityf)

    Expect.equal
        (w |> List.map _.Quantity)
        ([ DiagnosticQuantity.QTakenMean; DiagnosticQuantity.TargetMean ])
        "w |> List.map _.Quantity"

    Expect.stringContains (Diagnostics.describe w.Head) "no longer finite" "Diagnostics.describe w.Head"
    // a user who knows the return is at most 10 hears about Q = 12, which the derived bound (16) lets pass
    let user = { d with QValueBound = Some 10.0f }
    let _, quiet = Diagnostics.check d (seen 8.0f) 10 5 (metrics 12.0f 8.0f)
    Expect.isEmpty quiet "quiet"
    let _, loud = Diagnostics.check user (seen 8.0f) 10 5 (metrics 12.0f 8.0f)
    let u = Expect.single loud "loud"
    Expect.isTrue u.UserBound "u.UserBound"
    Expect.stringContains (Diagnostics.describe u) "the bound set in the configuration" "Diagnostics.describe u"

// ---------------------------------------------------------------- in the training loop

let private warnings events =
    events
    |> List.choose (fun e ->
        match e with
        | Warned w -> Some w
        | _ -> None)

let ``a healthy run gives no warning (negative control)`` () =
    let trainer = Training.create tiny MatrixGames.twoStep
    let final, events = record trainer (Training.init trainer)
    Expect.isEmpty (warnings events) "warnings events"
    // the two-step game pays at most 8, and its episodes always terminate
    Expect.inRange final.Diagnostics.LargestReturn 7.0f 8.0f "final.Diagnostics.LargestReturn"
    Expect.isTrue (Set.isEmpty final.Diagnostics.Warned) "Set.isEmpty final.Diagnostics.Warned"

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
    Expect.equal
        (ws |> List.map _.Quantity)
        ([ DiagnosticQuantity.QTakenMean; DiagnosticQuantity.TargetMean ])
        "ws |> List.map _.Quantity"

    for w in ws do
        Expect.isTrue (abs w.Value > 5000.0f) (sprintf "%A" w)
        Expect.equal w.Bound (max (2.0f * w.LargestReturn) 10.0f) "w.Bound"
        Expect.stringContains (Diagnostics.describe w) (Diagnostics.name w.Quantity) "Diagnostics.describe w"

    // right after the first update, in its iteration
    let firstUpdate =
        events
        |> List.findIndex (fun e ->
            match e with
            | Updated _ -> true
            | _ -> false)

    Expect.equal
        (events |> List.findIndex (fun e -> e.IsWarned))
        (firstUpdate + 1)
        "events |> List.findIndex (fun e -> e.IsWarned)"

    Expect.equal
        (events |> List.findIndexBack (fun e -> e.IsWarned))
        (firstUpdate + 2)
        "events |> List.findIndexBack (fun e -> e.IsWarned)"

    let updated =
        match events[firstUpdate] with
        | Updated u -> u
        | _ -> failwith "not an update"

    Expect.equal ws.Head.Step updated.Step "ws.Head.Step"
    Expect.equal ws.Head.Value updated.Metrics.QTakenMean "ws.Head.Value"

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
    Expect.contains (ws |> List.map _.Quantity) DiagnosticQuantity.QTakenMean "ws |> List.map _.Quantity"
    // the first warning names a finite value far above the bound (at most 8 seen: at most 16) …
    let first = ws.Head
    Expect.isTrue (Single.IsFinite first.Value && abs first.Value > first.Bound) (sprintf "%A" first)
    Expect.equal first.Bound (max (2.0f * first.LargestReturn) 10.0f) "first.Bound"
    // … and comes before any update whose loss is no longer finite
    let warnedAt = events |> List.findIndex (fun e -> e.IsWarned)

    let brokenAt =
        events
        |> List.tryFindIndex (fun e ->
            match e with
            | Updated u -> not (Single.IsFinite u.Metrics.Loss)
            | _ -> false)

    Expect.isTrue
        (brokenAt |> Option.forall (fun b -> b > warnedAt))
        (sprintf "warned at %d, NaN at %A" warnedAt brokenAt)
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

    Expect.isEmpty (warnings calmEvents) "warnings calmEvents"

[<Tests>]
let tests =
    testList
        "Diagnostics"
        [
            testCase
                "the plausible return of an episode bounds the return from each of its steps"
                ``the plausible return of an episode bounds the return from each of its steps``
            testCase
                "the largest plausible return grows with the episodes seen and ignores NaN rewards"
                ``the largest plausible return grows with the episodes seen and ignores NaN rewards``
            testCase
                "the bound is twice the largest plausible return, at least 10, or the user's"
                ``the bound is twice the largest plausible return, at least 10, or the user's``
            testCase
                "healthy Q-values are not warned about: the two-step game with Q_tot near its return of 8"
                ``healthy Q-values are not warned about: the two-step game with Q_tot near its return of 8``
            testCase
                "Q-values beyond the bound are warned about once per quantity, naming it, its value and the bound"
                ``Q-values beyond the bound are warned about once per quantity, naming it, its value and the bound``
            testCase
                "non-finite Q-values are warned about, and a user bound replaces the derived one"
                ``non-finite Q-values are warned about, and a user bound replaces the derived one``
            testCase
                "a healthy run gives no warning (negative control)"
                ``a healthy run gives no warning (negative control)``
            testCase
                "a planted divergence is warned about once per quantity, right after the update that shows it"
                ``a planted divergence is warned about once per quantity, right after the update that shows it``
            testCase
                "an absurd learning rate with γ = 1 is warned about while the values are still finite"
                ``an absurd learning rate with γ = 1 is warned about while the values are still finite``
        ]
