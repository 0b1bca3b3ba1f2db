module Qmix.Functional.Tests.TrainingTests

open System
open System.IO
open Xunit
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

    Assert.Empty current
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

[<Theory>]
[<InlineData(1)>]
[<InlineData(4)>]
let ``each iteration reports Collected, Updated, Tested, then Progress, with growing steps`` (envs: int) =
    let cfg = { tiny with ParallelEnvs = envs }
    let trainer = Training.create cfg MatrixGames.twoStep
    let final, events = record trainer (Training.init trainer)
    let iterations = iterationsOf events
    // the two-step game always takes 2 steps, so each iteration adds 2·envs steps and envs episodes
    Assert.Equal(cfg.TotalSteps / (2 * envs) + (if cfg.TotalSteps % (2 * envs) = 0 then 0 else 1), iterations.Length)

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
        Assert.True(List.head ranks = 0 && List.last ranks = 5, sprintf "iteration %d: %A" i ranks)
        Assert.True((ranks = List.sort ranks && ranks = List.distinct ranks), sprintf "iteration %d: %A" i ranks)
        Assert.DoesNotContain(2, ranks) // a healthy run: no warning
        Assert.DoesNotContain(4, ranks) // no checkpoint path, no Saved event

        for e in group do
            Assert.Equal(2 * envs * (i + 1), stepOf e)
            Assert.Equal(envs * (i + 1), episodeOf e))

    Assert.Equal(stepOf (List.last events), final.Counters.Step)

    Assert.True(
        final.Counters.Step >= cfg.TotalSteps
        && final.Counters.Step - 2 * envs < cfg.TotalSteps
    )

    Assert.True(Training.isDone trainer final)

[<Fact>]
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

            Assert.True(
                abs (e.Epsilon - expected) < 1e-6f,
                sprintf "step %d: ε %g, expected %g" start e.Epsilon expected
            )

        Assert.Equal(1.0f, c.Head.Epsilon)
        Assert.Equal(0.05f, (List.last c).Epsilon)
        Assert.True(c |> List.pairwise |> List.forall (fun (a, b) -> b.Epsilon <= a.Epsilon))

[<Theory>]
[<InlineData(1)>]
[<InlineData(4)>]
[<InlineData(3)>]
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

        Assert.Equal((if episodes >= tiny.BatchSize then 1 else 0), updates.Length)

    Assert.Equal(final.Learner.Updates, List.length (losses events))

[<Theory>]
[<InlineData(1, 50)>]
[<InlineData(4, 50)>]
[<InlineData(3, 20)>]
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

    Assert.Equal<int list>(expected, tested)
    Assert.Equal(steps.Head, tested.Head)
    Assert.Equal(final, List.last tested)

    Assert.True(
        tested
        |> List.pairwise
        |> List.forall (fun (a, b) -> b - a >= interval || b = final)
    )
    // no test episodes, no test
    let trainer = Training.create { cfg with TestEpisodes = 0 } MatrixGames.twoStep
    let _, events = record trainer (Training.init trainer)

    Assert.DoesNotContain(
        events,
        fun e ->
            match e with
            | Tested _ -> true
            | _ -> false
    )

[<Fact>]
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

    Assert.Equal<TrainingEvent list>(withoutProgress, List.collect snd steps)
    let last = fst (List.last steps)
    assertSameLearner final.Learner last.Learner
    Assert.Equal(final.Counters, last.Counters)

[<Fact>]
let ``the same seed gives the same run, bit for bit; another seed another run`` () =
    let go (cfg: TrainingConfig) =
        let trainer = Training.create cfg MatrixGames.twoStep
        record trainer (Training.init trainer)

    for envs in [ 1; 4 ] do
        let cfg = { tiny with ParallelEnvs = envs }
        let s1, e1 = go cfg
        let s2, e2 = go cfg
        Assert.Equal<TrainingEvent list>(deterministic e1, deterministic e2)
        Assert.Equal<int list>(losses e1, losses e2)
        assertSameLearner s1.Learner s2.Learner
        assertSameReplay s1.Replay s2.Replay
        Assert.Equal(s1.Counters, s2.Counters)
        let s3, e3 = go { cfg with Seed = cfg.Seed + 1UL }
        Assert.NotEqual<int list>(losses e1, losses e3)
        Assert.NotEqual<int[][]>(bits s1.Learner.Params, bits s3.Learner.Params)

// ---------------------------------------------------------------- checkpoints and resuming

[<Fact>]
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
        Assert.Equal(102, final.Counters.Step)
        Assert.Equal(30, final.Counters.LastSaveStep)
        Assert.Equal(30, (Training.resume trainer path).Counters.Step)

        let failed =
            events
            |> Seq.choose (fun e ->
                match e with
                | SaveFailed(p, step, reason) ->
                    Assert.Equal(path, p)
                    Assert.Contains("cannot save the checkpoint", reason)
                    Some step
                | _ -> None)
            |> List.ofSeq

        Assert.Equal<int list>([ 60; 90; 102 ], failed)
        // the negative control: an unobstructed run reports no failure
        withTempDir (fun clean ->
            let trainer =
                Training.create
                    { cfg with
                        CheckpointPath = Some(Path.Combine(clean, "run"))
                    }
                    MatrixGames.twoStep

            let _, events = record trainer (Training.init trainer)

            Assert.DoesNotContain(
                events,
                fun e ->
                    match e with
                    | SaveFailed _ -> true
                    | _ -> false
            )))

[<Fact>]
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
                    Assert.Equal(path, p)
                    Some step
                | _ -> None)

        // 2 steps per iteration: saves at 30, 60, 90, then at the end (102)
        Assert.Equal<int list>([ 30; 60; 90; 102 ], saved)
        // a Saved event follows its iteration's Progress event
        let i = List.findIndex ((=) (Saved(path, 30))) events

        Assert.Equal(
            Progress
                {
                    Step = 30
                    Episode = 15
                    StepsPerSecond = 0.0
                },
            deterministic events |> List.item (i - 1)
        )

        Assert.Equal(102, final.Counters.LastSaveStep)
        Assert.Equal(final.Counters, (Training.resume trainer path).Counters)
        // a run that ends on a save does not save twice
        let trainer = Training.create { cfg with TotalSteps = 90 } MatrixGames.twoStep
        let _, events = record trainer (Training.init trainer)

        let saved =
            events
            |> List.filter (fun e ->
                match e with
                | Saved _ -> true
                | _ -> false)

        Assert.Equal(3, saved.Length))

[<Theory>]
[<InlineData("rmsprop", 1)>]
[<InlineData("adam", 1)>]
[<InlineData("rmsprop", 4)>]
[<InlineData("adam", 4)>]
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
        Assert.NotEqual<int[][]>(bits half.Learner.Params, bits half.Learner.Target)
        // the second half, from the checkpoint, in a fresh trainer
        let second = Training.create { cfg with TotalSteps = 2 * n } twoStep
        let resumed = Training.resume second path
        Assert.Equal(half.Counters, resumed.Counters)
        let final, after = record second resumed
        // the uninterrupted run
        let whole = Training.create { cfg with TotalSteps = 2 * n } twoStep
        let reference, all = record whole (Training.init whole)
        let referenceAfter = all |> List.filter (fun e -> stepOf e > resumeStep)

        Assert.NotEmpty(losses after)
        Assert.Equal<int list>(losses referenceAfter, losses after)
        Assert.Equal<TrainingEvent list>(deterministic referenceAfter, deterministic after)
        assertSameLearner reference.Learner final.Learner
        assertSameReplay reference.Replay final.Replay
        Assert.Equal(reference.Counters.Step, final.Counters.Step)
        Assert.Equal(reference.Counters.Episode, final.Counters.Episode)
        Assert.Equal(reference.Counters.LastTestStep, final.Counters.LastTestStep)
        Assert.Equal(reference.Counters.Key, final.Counters.Key))

// ---------------------------------------------------------------- divergence

[<Fact>]
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
            Assert.Throws<TrainingDivergedException>(fun () ->
                Training.run trainer onEvent (Training.init trainer) |> ignore)

        let lastGood = e.LastGoodState :?> TrainingState<MixerParams>
        // the state before the bad update is finite, and one update was taken
        Assert.Equal(1, lastGood.Learner.Updates)

        for leaf in Array.concat [ Tree.leaves lastGood.Learner.Params; Tree.leaves lastGood.Learner.Target ] do
            Assert.True(leaf.ToArray() |> Array.forall Single.IsFinite)

        // the update that diverged, replayed from the last good state, and its step in the message
        let _, bad = Training.iterate trainer lastGood

        let step =
            bad
            |> List.pick (fun e ->
                match e with
                | Updated u ->
                    Assert.False(Single.IsFinite u.Metrics.Loss && Single.IsFinite u.Metrics.GradNorm)
                    Some u.Step
                | _ -> None)

        Assert.Contains(sprintf "step %d" step, e.Message)
        Assert.Contains(path, e.Message)
        // nothing of the bad iteration was reported, and no checkpoint was written after it
        Assert.True(events |> Seq.forall (fun e -> stepOf e < step))
        Assert.Equal(lastGood.Counters.Step, lastGood.Counters.LastSaveStep)
        Assert.Contains(sprintf "(step %d)" lastGood.Counters.LastSaveStep, e.Message)
        // the files on disk are those of the last save, and they load as the last good state
        Assert.Equal<byte[] list>(lastSaved, files ())
        let loaded = Training.resume trainer path
        assertSameLearner lastGood.Learner loaded.Learner
        assertSameReplay lastGood.Replay loaded.Replay
        Assert.Equal(lastGood.Counters, loaded.Counters))

[<Fact>]
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
        Assert.Throws<TrainingDivergedException>(fun () ->
            Training.run trainer ignore (Training.init trainer) |> ignore)

    let lastGood = e.LastGoodState :?> TrainingState<MixerParams>
    Assert.Contains(sprintf "step %d" (lastGood.Counters.Step + 2), e.Message)
    Assert.DoesNotContain("checkpoint", e.Message)

    for leaf in Tree.leaves lastGood.Learner.Params do
        Assert.True(leaf.ToArray() |> Array.forall Single.IsFinite)
