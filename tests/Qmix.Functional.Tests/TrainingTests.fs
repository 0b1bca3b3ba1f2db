module Qmix.Functional.Tests.TrainingTests

open System
open System.IO
open Expecto
open Qmix.Tests
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs
open Qmix.Functional.Tests.CheckpointTests

/// Runs from a state, recording every event.
let record (trainer: Trainer<'S, 'M>) (state: TrainingState<'M>) =
    let events = ResizeArray()
    let final = Training.run trainer events.Add state
    final, List.ofSeq events

/// The events without the one non-deterministic number, Progress's wall-clock throughput.
let deterministic (events: TrainingEvent list) =
    events
    |> List.map (fun e ->
        match e with
        | Progress p -> Progress { p with StepsPerSecond = 0.0 }
        | e -> e)

/// The events split into iterations: each iteration's events end with its Progress event.
let iterationsOf (events: TrainingEvent list) =
    let groups = ResizeArray()
    let current = ResizeArray()

    for e in events do
        current.Add e

        match e with
        | Progress _ ->
            groups.Add(List.ofSeq current)
            current.Clear()
        | _ -> ()

    Expect.isEmpty current "current"
    List.ofSeq groups

let stepOf (e: TrainingEvent) =
    match e with
    | Collected c -> c.Step
    | Updated u -> u.Step
    | Warned w -> w.Step
    | Tested t -> t.Step
    | Saved(_, step) -> step
    | SaveFailed(_, step, _) -> step
    | Progress p -> p.Step

let episodeOf (e: TrainingEvent) =
    match e with
    | Collected c -> c.Episode
    | Updated u -> u.Episode
    | Warned w -> w.Episode
    | Tested t -> t.Episode
    | Saved _
    | SaveFailed _ -> -1
    | Progress p -> p.Episode

let collected events =
    events
    |> List.choose (fun e ->
        match e with
        | Collected c -> Some c
        | _ -> None)

let losses events =
    events
    |> List.choose (fun e ->
        match e with
        | Updated u -> Some(BitConverter.SingleToInt32Bits u.Metrics.Loss)
        | _ -> None)

// ---------------------------------------------------------------- the loop and its events

let ``each iteration reports Collected, Updated, Tested, then Progress, with growing steps`` (envs: int) =
    let cfg = { tiny with ParallelEnvs = envs }
    let trainer = Training.create cfg MatrixGames.twoStep
    let final, events = record trainer (Training.init trainer)
    let iterations = iterationsOf events
    // the two-step game always takes 2 steps, so each iteration adds 2·envs steps and envs episodes
    Expect.equal
        iterations.Length
        (cfg.TotalSteps / (2 * envs) + (if cfg.TotalSteps % (2 * envs) = 0 then 0 else 1))
        "iterations.Length"

    iterations
    |> List.iteri (fun i group ->
        let rank e =
            match e with
            | Collected _ -> 0
            | Updated _ -> 1
            | Warned _ -> 2
            | Tested _ -> 3
            | Saved _
            | SaveFailed _ -> 4
            | Progress _ -> 5

        let ranks = List.map rank group
        Expect.isTrue (List.head ranks = 0 && List.last ranks = 5) (sprintf "iteration %d: %A" i ranks)
        Expect.isTrue (ranks = List.sort ranks && ranks = List.distinct ranks) (sprintf "iteration %d: %A" i ranks)
        Expect.lacks ranks 2 "ranks" // a healthy run: no warning
        Expect.lacks ranks 4 "ranks" // no checkpoint path, no Saved event

        for e in group do
            Expect.equal (stepOf e) (2 * envs * (i + 1)) "stepOf e"
            Expect.equal (episodeOf e) (envs * (i + 1)) "episodeOf e")

    Expect.equal final.Counters.Step (stepOf (List.last events)) "final.Counters.Step"

    Expect.isTrue
        (final.Counters.Step >= cfg.TotalSteps
         && final.Counters.Step - 2 * envs < cfg.TotalSteps)
        "final.Counters.Step >= cfg.TotalSteps && final.Counters.Step - 2 * ..."

    Expect.isTrue (Training.isDone trainer final) "Training.isDone trainer final"

let ``ε follows the schedule from the step at the start of each collection`` () =
    for envs in [ 1; 4 ] do
        let trainer = Training.create { tiny with ParallelEnvs = envs } MatrixGames.twoStep
        let _, events = record trainer (Training.init trainer)
        let c = collected events
        let s = tiny.Epsilon

        for e in c do
            let start = e.Step - 2 * envs

            let expected =
                s.Start
                + (s.Finish - s.Start) * float32 (min 1.0 (float start / float s.AnnealSteps))

            Expect.isTrue
                (abs (e.Epsilon - expected) < 1e-6f)
                (sprintf "step %d: ε %g, expected %g" start e.Epsilon expected)

        Expect.equal c.Head.Epsilon 1.0f "c.Head.Epsilon"
        Expect.equal ((List.last c).Epsilon) 0.05f "(List.last c).Epsilon"

        Expect.isTrue
            (c |> List.pairwise |> List.forall (fun (a, b) -> b.Epsilon <= a.Epsilon))
            "c |> List.pairwise |> List.forall (fun (a, b) -> b.Epsilon <= a.Eps..."

let ``updates start once the buffer holds a batch, then one follows every collection`` (envs: int) =
    let trainer = Training.create { tiny with ParallelEnvs = envs } MatrixGames.twoStep
    let final, events = record trainer (Training.init trainer)

    for group in iterationsOf events do
        let episodes = episodeOf group.Head

        let updates =
            group
            |> List.filter (fun e ->
                match e with
                | Updated _ -> true
                | _ -> false)

        Expect.equal updates.Length (if episodes >= tiny.BatchSize then 1 else 0) "updates.Length"

    Expect.equal (List.length (losses events)) final.Learner.Updates "List.length (losses events)"

let ``tests run at the start, once TestInterval steps have passed, and after the last iteration``
    (envs: int, interval: int)
    =
    let cfg =
        { tiny with
            ParallelEnvs = envs
            TestInterval = interval
        }

    let trainer = Training.create cfg MatrixGames.twoStep
    let _, events = record trainer (Training.init trainer)
    let steps = collected events |> List.map (fun c -> c.Step)

    let tested =
        events
        |> List.choose (fun e ->
            match e with
            | Tested t -> Some t.Step
            | _ -> None)

    // PyMARL: last_test_T starts at −test_interval − 1, a test follows when t_env − last_test_T ≥ test_interval;
    // and one more after the last iteration, so that the last test is of the final policy
    let final = List.last steps

    let expected =
        steps
        |> List.fold
            (fun (last, acc) step ->
                if step - last >= interval || step = final then
                    step, step :: acc
                else
                    last, acc)
            (-interval - 1, [])
        |> snd
        |> List.rev

    Expect.equal tested expected "tested"
    Expect.equal tested.Head steps.Head "tested.Head"
    Expect.equal (List.last tested) final "List.last tested"

    Expect.isTrue
        (tested
         |> List.pairwise
         |> List.forall (fun (a, b) -> b - a >= interval || b = final))
        "tested |> List.pairwise |> List.forall (fun (a, b) -> b - a >= inte..."
    // no test episodes, no test
    let trainer = Training.create { cfg with TestEpisodes = 0 } MatrixGames.twoStep
    let _, events = record trainer (Training.init trainer)

    Expect.isFalse
        (events
         |> Seq.exists (fun e ->
             match e with
             | Tested _ -> true
             | _ -> false))
        "no Tested event"

let ``iterations yields the states and events of run`` () =
    let trainer = Training.create { tiny with TotalSteps = 60 } MatrixGames.twoStep
    let state = Training.init trainer
    let final, events = record trainer state
    let steps = Training.iterations trainer state |> Seq.toList

    let withoutProgress =
        events
        |> List.filter (fun e ->
            match e with
            | Progress _ -> false
            | _ -> true)

    Expect.equal (List.collect snd steps) withoutProgress "List.collect snd steps"
    let last = fst (List.last steps)
    assertSameLearner final.Learner last.Learner
    Expect.equal last.Counters final.Counters "last.Counters"

let ``the same seed gives the same run, bit for bit; another seed another run`` () =
    let go (cfg: TrainingConfig) =
        let trainer = Training.create cfg MatrixGames.twoStep
        record trainer (Training.init trainer)

    for envs in [ 1; 4 ] do
        let cfg = { tiny with ParallelEnvs = envs }
        let s1, e1 = go cfg
        let s2, e2 = go cfg
        Expect.equal (deterministic e2) (deterministic e1) "deterministic e2"
        Expect.equal (losses e2) (losses e1) "losses e2"
        assertSameLearner s1.Learner s2.Learner
        assertSameReplay s1.Replay s2.Replay
        Expect.equal s2.Counters s1.Counters "s2.Counters"
        let s3, e3 = go { cfg with Seed = cfg.Seed + 1UL }
        Expect.notEqual (losses e3) (losses e1) "losses e3"
        Expect.notEqual (bits s3.Learner.Params) (bits s1.Learner.Params) "bits s3.Learner.Params"

// ---------------------------------------------------------------- checkpoints and resuming

let ``a checkpoint that cannot be written is reported and the run goes on, keeping the last good one`` () =
    withTempDir (fun dir ->
        let path = Path.Combine(dir, "run")

        let cfg =
            { tiny with
                TotalSteps = 101
                SaveInterval = 30
                CheckpointPath = Some path
            }

        let trainer = Training.create cfg MatrixGames.twoStep
        // the first save (step 30) succeeds; then a directory takes the name a save stages its tensors under, so
        // every later save fails
        let events = ResizeArray()

        let final =
            Training.run
                trainer
                (fun e ->
                    events.Add e

                    match e with
                    | Saved(_, 30) -> Directory.CreateDirectory(path + ".train.safetensors.new") |> ignore
                    | _ -> ())
                (Training.init trainer)

        // the run reached its end; the failures did not move the last save, and the step-30 checkpoint still loads
        Expect.equal final.Counters.Step 102 "final.Counters.Step"
        Expect.equal final.Counters.LastSaveStep 30 "final.Counters.LastSaveStep"
        Expect.equal ((Training.resume trainer path).Counters.Step) 30 "(Training.resume trainer path).Counters.Step"

        let failed =
            events
            |> Seq.choose (fun e ->
                match e with
                | SaveFailed(p, step, reason) ->
                    Expect.equal p path "p"
                    Expect.stringContains reason "cannot save the checkpoint" "reason"
                    Some step
                | _ -> None)
            |> List.ofSeq

        Expect.equal failed ([ 60; 90; 102 ]) "failed"
        // the negative control: an unobstructed run reports no failure
        withTempDir (fun clean ->
            let trainer =
                Training.create
                    { cfg with
                        CheckpointPath = Some(Path.Combine(clean, "run"))
                    }
                    MatrixGames.twoStep

            let _, events = record trainer (Training.init trainer)

            Expect.isFalse
                (events
                 |> Seq.exists (fun e ->
                     match e with
                     | SaveFailed _ -> true
                     | _ -> false))
                "no SaveFailed event"))

let ``checkpoints are saved every SaveInterval steps and at the end`` () =
    withTempDir (fun dir ->
        let path = Path.Combine(dir, "run")

        let cfg =
            { tiny with
                TotalSteps = 101
                SaveInterval = 30
                CheckpointPath = Some path
            }

        let trainer = Training.create cfg MatrixGames.twoStep
        let final, events = record trainer (Training.init trainer)

        let saved =
            events
            |> List.choose (fun e ->
                match e with
                | Saved(p, step) ->
                    Expect.equal p path "p"
                    Some step
                | _ -> None)

        // 2 steps per iteration: saves at 30, 60, 90, then at the end (102)
        Expect.equal saved ([ 30; 60; 90; 102 ]) "saved"
        // a Saved event follows its iteration's Progress event
        let i = List.findIndex ((=) (Saved(path, 30))) events

        Expect.equal
            (deterministic events |> List.item (i - 1))
            (Progress
                {
                    Step = 30
                    Episode = 15
                    StepsPerSecond = 0.0
                })
            "deterministic events |> List.item (i - 1)"

        Expect.equal final.Counters.LastSaveStep 102 "final.Counters.LastSaveStep"
        Expect.equal ((Training.resume trainer path).Counters) final.Counters "(Training.resume trainer path).Counters"
        // a run that ends on a save does not save twice
        let trainer = Training.create { cfg with TotalSteps = 90 } MatrixGames.twoStep
        let _, events = record trainer (Training.init trainer)

        let saved =
            events
            |> List.filter (fun e ->
                match e with
                | Saved _ -> true
                | _ -> false)

        Expect.equal saved.Length 3 "saved.Length")

let ``resuming from a checkpoint continues exactly as the uninterrupted run`` (optimizer: string, envs: int) =
    withTempDir (fun dir ->
        let n = 150
        let path = Path.Combine(dir, "run")

        let cfg =
            { tiny with
                ParallelEnvs = envs
                TestInterval = 35
                Learner =
                    { tiny.Learner with
                        Optimizer = (if optimizer = "adam" then adam else tiny.Learner.Optimizer)
                        TargetUpdate = (if optimizer = "adam" then Soft 0.05f else HardEvery 30)
                    }
            }

        let twoStep = MatrixGames.twoStep
        // the first half, with periodic checkpoints
        let first =
            Training.create
                { cfg with
                    TotalSteps = n
                    SaveInterval = 40
                    CheckpointPath = Some path
                }
                twoStep

        let half, _ = record first (Training.init first)
        let resumeStep = half.Counters.Step
        // the targets lag the online parameters at the resume point, so restoring them matters
        Expect.notEqual (bits half.Learner.Target) (bits half.Learner.Params) "bits half.Learner.Target"
        // the second half, from the checkpoint, in a fresh trainer
        let second = Training.create { cfg with TotalSteps = 2 * n } twoStep
        let resumed = Training.resume second path
        Expect.equal resumed.Counters half.Counters "resumed.Counters"
        let final, after = record second resumed
        // the uninterrupted run
        let whole = Training.create { cfg with TotalSteps = 2 * n } twoStep
        let reference, all = record whole (Training.init whole)
        let referenceAfter = all |> List.filter (fun e -> stepOf e > resumeStep)

        Expect.isNonEmpty (losses after) "losses after"
        Expect.equal (losses after) (losses referenceAfter) "losses after"
        Expect.equal (deterministic after) (deterministic referenceAfter) "deterministic after"
        assertSameLearner reference.Learner final.Learner
        assertSameReplay reference.Replay final.Replay
        Expect.equal final.Counters.Step reference.Counters.Step "final.Counters.Step"
        Expect.equal final.Counters.Episode reference.Counters.Episode "final.Counters.Episode"
        Expect.equal final.Counters.LastTestStep reference.Counters.LastTestStep "final.Counters.LastTestStep"
        Expect.equal final.Counters.Key reference.Counters.Key "final.Counters.Key")

// ---------------------------------------------------------------- divergence

let ``a NaN stops training with the step named and the last good checkpoint intact`` () =
    withTempDir (fun dir ->
        let path = Path.Combine(dir, "run")
        // Adam's steps are about lr per parameter whatever the gradient: with lr 1e37 the first update leaves finite
        // but enormous weights, and the next loss overflows to NaN.
        let cfg =
            { tiny with
                SaveInterval = 2
                CheckpointPath = Some path
                Learner.Optimizer = Adam { AdamConfig.defaults with Lr = 1e37f }
            }

        let trainer = Training.create cfg MatrixGames.twoStep

        let files () =
            [ for i in 0..2 -> File.ReadAllBytes(fileOf path i) ]

        let mutable lastSaved = []
        let events = ResizeArray()

        let onEvent e =
            events.Add e

            match e with
            | Saved _ -> lastSaved <- files ()
            | _ -> ()

        let e =
            Expect.throwsOf<TrainingDivergedException>(fun () ->
                Training.run trainer onEvent (Training.init trainer) |> ignore)

        let lastGood = e.LastGoodState :?> TrainingState<MixerParams>
        // the state before the bad update is finite, and one update was taken
        Expect.equal lastGood.Learner.Updates 1 "lastGood.Learner.Updates"

        for leaf in Array.concat [ Tree.leaves lastGood.Learner.Params; Tree.leaves lastGood.Learner.Target ] do
            Expect.isTrue
                (leaf.ToArray() |> Array.forall Single.IsFinite)
                "leaf.ToArray() |> Array.forall Single.IsFinite"

        // the update that diverged, replayed from the last good state, and its step in the message
        let _, bad = Training.iterate trainer lastGood

        let step =
            bad
            |> List.pick (fun e ->
                match e with
                | Updated u ->
                    Expect.isFalse
                        (Single.IsFinite u.Metrics.Loss && Single.IsFinite u.Metrics.GradNorm)
                        "Single.IsFinite u.Metrics.Loss && Single.IsFinite u.Metrics.GradNorm"

                    Some u.Step
                | _ -> None)

        Expect.stringContains e.Message (sprintf "step %d" step) "e.Message"
        Expect.stringContains e.Message path "e.Message"
        // nothing of the bad iteration was reported, and no checkpoint was written after it
        Expect.isTrue
            (events |> Seq.forall (fun e -> stepOf e < step))
            "events |> Seq.forall (fun e -> stepOf e < step)"

        Expect.equal lastGood.Counters.LastSaveStep lastGood.Counters.Step "lastGood.Counters.LastSaveStep"
        Expect.stringContains e.Message (sprintf "(step %d)" lastGood.Counters.LastSaveStep) "e.Message"
        // the files on disk are those of the last save, and they load as the last good state
        Expect.equal (files ()) lastSaved "files ()"
        let loaded = Training.resume trainer path
        assertSameLearner lastGood.Learner loaded.Learner
        assertSameReplay lastGood.Replay loaded.Replay
        Expect.equal loaded.Counters lastGood.Counters "loaded.Counters")

let ``a NaN without a checkpoint path stops training all the same`` () =
    let cfg =
        { tiny with
            Learner.Optimizer =
                RmsProp
                    {
                        Lr = 1e30f
                        Alpha = 0.99f
                        Eps = 1e-5f
                        Momentum = 0.0f
                    }
        }

    let trainer = Training.create cfg MatrixGames.twoStep

    let e =
        Expect.throwsOf<TrainingDivergedException>(fun () ->
            Training.run trainer ignore (Training.init trainer) |> ignore)

    let lastGood = e.LastGoodState :?> TrainingState<MixerParams>
    Expect.stringContains e.Message (sprintf "step %d" (lastGood.Counters.Step + 2)) "e.Message"
    Expect.stringLacks e.Message "checkpoint" "e.Message"

    for leaf in Tree.leaves lastGood.Learner.Params do
        Expect.isTrue (leaf.ToArray() |> Array.forall Single.IsFinite) "leaf.ToArray() |> Array.forall Single.IsFinite"

[<Tests>]
let tests =
    testList
        "Training"
        [
            testList
                "each iteration reports Collected, Updated, Tested, then Progress, with growing steps"
                [
                    for args in [ 1; 4 ] ->
                        testCase $"{args} envs" (fun () ->
                            ``each iteration reports Collected, Updated, Tested, then Progress, with growing steps``
                                args)
                ]
            testCase
                "ε follows the schedule from the step at the start of each collection"
                ``ε follows the schedule from the step at the start of each collection``
            testList
                "updates start once the buffer holds a batch, then one follows every collection"
                [
                    for args in [ 1; 4; 3 ] ->
                        testCase $"{args} envs" (fun () ->
                            ``updates start once the buffer holds a batch, then one follows every collection`` args)
                ]
            testList
                "tests run at the start, once TestInterval steps have passed, and after the last iteration"
                [
                    for args in [ (1, 50); (4, 50); (3, 20) ] ->
                        testCase $"{fst args} envs, interval {snd args}" (fun () ->
                            ``tests run at the start, once TestInterval steps have passed, and after the last iteration``
                                args)
                ]
            testCase "iterations yields the states and events of run" ``iterations yields the states and events of run``
            testCase
                "the same seed gives the same run, bit for bit; another seed another run"
                ``the same seed gives the same run, bit for bit; another seed another run``
            testCase
                "a checkpoint that cannot be written is reported and the run goes on, keeping the last good one"
                ``a checkpoint that cannot be written is reported and the run goes on, keeping the last good one``
            testCase
                "checkpoints are saved every SaveInterval steps and at the end"
                ``checkpoints are saved every SaveInterval steps and at the end``
            testList
                "resuming from a checkpoint continues exactly as the uninterrupted run"
                [
                    for args in [ ("rmsprop", 1); ("adam", 1); ("rmsprop", 4); ("adam", 4) ] ->
                        testCase $"{fst args}, {snd args} envs" (fun () ->
                            ``resuming from a checkpoint continues exactly as the uninterrupted run`` args)
                ]
            testCase
                "a NaN stops training with the step named and the last good checkpoint intact"
                ``a NaN stops training with the step named and the last good checkpoint intact``
            testCase
                "a NaN without a checkpoint path stops training all the same"
                ``a NaN without a checkpoint path stops training all the same``
        ]
