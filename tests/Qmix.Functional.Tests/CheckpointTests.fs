module Qmix.Functional.Tests.CheckpointTests

open System
open System.IO
open System.Text.Json
open Xunit
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

// ---------------------------------------------------------------- shared fixtures (TrainingTests uses them too)

/// A small QMIX run on the two-step game: hidden 12, embed 5, hypernet embed 8, batches of 8 from the last 64
/// episodes, ε 1 → 0.05 over 100 steps, 4 greedy test episodes every 50 steps, hard targets every 20 episodes.
let tiny =
    { TrainingConfig.defaults with
        Learner =
            { LearnerConfig.defaults with
                Agent =
                    { AgentConfig.defaults with
                        Hidden = 12
                    }
                TargetUpdate = HardEvery 20
            }
        Mixer =
            Qmix
                { QmixConfig.defaults with
                    Embed = 5
                    HypernetEmbed = 8
                }
        TotalSteps = 200
        BatchSize = 8
        BufferSize = 64
        Epsilon =
            {
                Start = 1.0f
                Finish = 0.05f
                AnnealSteps = 100
            }
        TestInterval = 50
        TestEpisodes = 4
        Seed = 7UL
    }

/// Adam with pymarl2's learning rate, for the tests that cover both optimisers.
let adam = Adam { AdamConfig.defaults with Lr = 1e-3f }

/// Runs f in a fresh temporary directory and deletes the directory afterwards.
let withTempDir (f: string -> 'T) : 'T =
    let dir =
        Path.Combine(Path.GetTempPath(), "qmix-ckpt-tests-" + Guid.NewGuid().ToString("N"))

    Directory.CreateDirectory dir |> ignore

    try
        f dir
    finally
        try
            Directory.Delete(dir, true)
        with _ ->
            ()

/// Every leaf of a parameter tree as raw bits, so that comparisons are bit-for-bit.
let bits (tree: 'P) : int[][] =
    Tree.leaves tree
    |> Array.map (fun t -> t.ToArray() |> Array.map BitConverter.SingleToInt32Bits)

/// The optimiser's kind, step and state as raw bits.
let optimBits (o: OptimState<QParams<'M>>) =
    match o with
    | RmsPropState s -> "rmsprop", s.Step, Array.append (bits s.SquareAvg) (bits s.MomentumBuffer)
    | AdamState s -> "adam", s.Step, Array.append (bits s.ExpAvg) (bits s.ExpAvgSq)

/// Asserts two learner states are bit-identical: online and target parameters, optimiser state, counters.
let assertSameLearner (expected: LearnerState<'M>) (actual: LearnerState<'M>) =
    Assert.Equal<int[][]>(bits expected.Params, bits actual.Params)
    Assert.Equal<int[][]>(bits expected.Target, bits actual.Target)
    let k1, s1, o1 = optimBits expected.Optim
    let k2, s2, o2 = optimBits actual.Optim
    Assert.Equal(k1, k2)
    Assert.Equal(s1, s2)
    Assert.Equal<int[][]>(o1, o2)
    Assert.Equal(expected.Updates, actual.Updates)
    Assert.Equal(expected.LastTargetUpdateEpisode, actual.LastTargetUpdateEpisode)

/// Asserts two replay buffers hold the same episodes in the same order, with the same capacity and count added.
let assertSameReplay (expected: Replay) (actual: Replay) =
    Assert.Equal(Replay.capacity expected, Replay.capacity actual)
    Assert.Equal(Replay.totalAdded expected, Replay.totalAdded actual)
    Assert.Equal(Replay.count expected, Replay.count actual)
    Assert.True((expected = actual), "the replay buffers differ")

/// A trainer for a configuration on the two-step game and the state after running it to TotalSteps.
let trained (cfg: TrainingConfig) =
    let trainer = Training.create cfg MatrixGames.twoStep
    trainer, Training.run trainer ignore (Training.init trainer)

// ---------------------------------------------------------------- file contents

/// PyTorch's state_dict of PyMARL's RNNAgent (hidden 12, input obs 4 + last action 2 + agent id 2) and QMixer
/// (2-layer hypernetworks of width 8, embed 5, state 4, 2 agents).
let expectedModel =
    [
        "agent.fc1.weight", [| 12; 8 |]
        "agent.fc1.bias", [| 12 |]
        "agent.rnn.weight_ih", [| 36; 12 |]
        "agent.rnn.weight_hh", [| 36; 12 |]
        "agent.rnn.bias_ih", [| 36 |]
        "agent.rnn.bias_hh", [| 36 |]
        "agent.fc2.weight", [| 2; 12 |]
        "agent.fc2.bias", [| 2 |]
        "mixer.hyper_w_1.0.weight", [| 8; 4 |]
        "mixer.hyper_w_1.0.bias", [| 8 |]
        "mixer.hyper_w_1.2.weight", [| 10; 8 |]
        "mixer.hyper_w_1.2.bias", [| 10 |]
        "mixer.hyper_b_1.weight", [| 5; 4 |]
        "mixer.hyper_b_1.bias", [| 5 |]
        "mixer.hyper_w_final.0.weight", [| 8; 4 |]
        "mixer.hyper_w_final.0.bias", [| 8 |]
        "mixer.hyper_w_final.2.weight", [| 5; 8 |]
        "mixer.hyper_w_final.2.bias", [| 5 |]
        "mixer.V.0.weight", [| 5; 4 |]
        "mixer.V.0.bias", [| 5 |]
        "mixer.V.2.weight", [| 1; 5 |]
        "mixer.V.2.bias", [| 1 |]
    ]

let private shapes (file: SafetensorsFile) =
    file.Tensors |> List.map (fun (n, t) -> n, t.Shape.ToArray()) |> List.sortBy fst

[<Fact>]
let ``the model file holds exactly the PyTorch state_dict names and shapes, the training file the rest`` () =
    withTempDir (fun dir ->
        let trainer, state = trained { tiny with TotalSteps = 40 }
        let path = Path.Combine(dir, "run")
        Training.save trainer path state
        let model, train, _ = Checkpoint.paths path
        let modelFile = Safetensors.load model

        Assert.Equal<(string * int[]) list>(List.sortBy fst expectedModel, shapes modelFile)
        Assert.Equal(Some "pt", modelFile.Metadata.TryFind "format")
        // the values are the online parameters, bit for bit
        let named = Tree.named state.Learner.Params |> Map.ofArray

        for n, t in modelFile.Tensors do
            Assert.Equal<float32[]>(named[n].ToArray(), t.ToArray())

        let trainFile = Safetensors.load train
        let count = Replay.count state.Replay

        let expectedTrain =
            [
                for prefix in [ "target."; "optim.square_avg."; "optim.momentum_buffer." ] do
                    for n, s in expectedModel do
                        prefix + n, s
                "replay.obs", [| count; 3; 2; 4 |]
                "replay.state", [| count; 3; 4 |]
                "replay.actions", [| count; 3; 2 |]
                "replay.avail_actions", [| count; 3; 2; 2 |]
                "replay.reward", [| count; 3 |]
                "replay.length", [| count |]
                "replay.terminated", [| count |]
                "replay.won", [| count |]
            ]

        Assert.Equal<(string * int[]) list>(List.sortBy fst expectedTrain, shapes trainFile)

        Assert.Equal<string option>(
            modelFile.Metadata.TryFind "checkpoint_id",
            trainFile.Metadata.TryFind "checkpoint_id"
        ))

[<Fact>]
let ``the sidecar records the configuration, the counters, the optimiser and the replay buffer`` () =
    withTempDir (fun dir ->
        for optimizer in [ tiny.Learner.Optimizer; adam ] do
            let cfg =
                { tiny with
                    TotalSteps = 40
                    Learner =
                        { tiny.Learner with
                            Optimizer = optimizer
                        }
                }

            let trainer, state = trained cfg
            let path = Path.Combine(dir, "run")
            Training.save trainer path state
            let _, _, sidecar = Checkpoint.paths path
            use doc = JsonDocument.Parse(File.ReadAllText sidecar)
            let root = doc.RootElement
            Assert.Equal(Checkpoint.Format, root.GetProperty("format").GetString())
            Assert.Equal("two-step", root.GetProperty("spec").GetProperty("name").GetString())
            Assert.Equal(2, root.GetProperty("spec").GetProperty("n_agents").GetInt32())
            Assert.Equal("qmix", root.GetProperty("mixer").GetString())
            let config = root.GetProperty("config").GetString()
            Assert.Contains("TotalSteps = 40", config)
            Assert.Contains("BufferSize = 64", config)
            let counters = root.GetProperty "counters"
            Assert.True(state.Counters.Step >= 40)
            Assert.Equal(state.Counters.Step, counters.GetProperty("step").GetInt32())
            Assert.Equal(state.Counters.Episode, counters.GetProperty("episode").GetInt32())
            let optimiser = root.GetProperty "optimiser"
            let kind, step, _ = optimBits state.Learner.Optim
            Assert.Equal(kind, optimiser.GetProperty("kind").GetString())
            Assert.Equal(step, optimiser.GetProperty("step").GetInt32())
            // one optimiser step per update, and updates began once 8 episodes were held
            Assert.Equal(state.Counters.Episode - 7, step)
            let replay = root.GetProperty "replay"
            Assert.Equal(Replay.count state.Replay, replay.GetProperty("count").GetInt32())
            Assert.Equal(64, replay.GetProperty("capacity").GetInt32())
            Assert.Equal(int64 state.Counters.Episode, replay.GetProperty("total_added").GetInt64()))

[<Fact>]
let ``a saved checkpoint loads back bit-identical`` () =
    withTempDir (fun dir ->
        let trainer, state = trained { tiny with TotalSteps = 150 }
        // 75 episodes through a 64-episode buffer: the oldest have been evicted
        Assert.Equal(64, Replay.count state.Replay)
        // and the targets, last copied at episode 60, differ from the online parameters
        Assert.Equal(60, state.Learner.LastTargetUpdateEpisode)
        Assert.NotEqual<int[][]>(bits state.Learner.Params, bits state.Learner.Target)
        // and the fresh state: no episode, no update
        let fresh = Training.init trainer
        Assert.Equal(0, Replay.count fresh.Replay)

        for name, s in [ "run", state; "fresh", fresh ] do
            let path = Path.Combine(dir, name)
            Training.save trainer path s
            let loaded = Training.resume trainer path
            assertSameLearner s.Learner loaded.Learner
            assertSameReplay s.Replay loaded.Replay
            Assert.Equal(s.Counters, loaded.Counters))

[<Fact>]
let ``saveModel and loadModel round-trip the online parameters`` () =
    withTempDir (fun dir ->
        let trainer, state = trained { tiny with TotalSteps = 40 }
        let path = Path.Combine(dir, "policy.safetensors")
        Checkpoint.saveModel path state.Learner.Params
        // only the model file: no training state, no sidecar
        Assert.Equal<string[]>([| "policy.safetensors" |], Directory.GetFiles dir |> Array.map Path.GetFileName)
        let loaded = Checkpoint.loadModel path trainer.Learner
        Assert.Equal<int[][]>(bits state.Learner.Params, bits loaded)
        // the path stem works too, and so does the model file of a full checkpoint
        Assert.Equal<int[][]>(
            bits state.Learner.Params,
            bits (Checkpoint.loadModel (Path.Combine(dir, "policy")) trainer.Learner)
        )

        let full = Path.Combine(dir, "full")
        Training.save trainer full state
        Assert.Equal<int[][]>(bits state.Learner.Params, bits (Checkpoint.loadModel full trainer.Learner))
        // a learner of another width: the tensor and both shapes are named
        let wider =
            Learner.builtIn
                { tiny.Learner with
                    Agent = { tiny.Learner.Agent with Hidden = 16 }
                }
                MatrixGames.twoStep.Spec
                tiny.Mixer

        let e =
            Assert.Throws<CheckpointException>(fun () -> Checkpoint.loadModel path wider |> ignore)

        Assert.Equal(Path.GetFullPath path, Path.GetFullPath e.FilePath)
        Assert.Contains("agent.fc1.weight", e.Message)
        Assert.Contains("[16, 8]", e.Message)
        Assert.Contains("[12, 8]", e.Message))

// ---------------------------------------------------------------- atomicity and data safety

[<Fact>]
let ``save leaves no temporary file and replaces an earlier checkpoint`` () =
    withTempDir (fun dir ->
        let trainer = Training.create tiny MatrixGames.twoStep

        let states =
            Training.iterations trainer (Training.init trainer)
            |> Seq.map fst
            |> Seq.toArray

        let early, late = states[10], states[40]
        // a checkpoint path in a directory that does not exist yet
        let path = Path.Combine(dir, "runs", "two-step", "model")
        Training.save trainer path early
        Training.save trainer path late

        let files =
            Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
            |> Array.map Path.GetFileName
            |> Array.sort

        Assert.Equal<string[]>([| "model.json"; "model.safetensors"; "model.train.safetensors" |], files)
        let loaded = Training.resume trainer path
        Assert.Equal(late.Counters, loaded.Counters)
        assertSameLearner late.Learner loaded.Learner
        assertSameReplay late.Replay loaded.Replay)

[<Fact>]
let ``a crash in the middle of a save leaves the previous checkpoint loadable`` () =
    withTempDir (fun dir ->
        let trainer = Training.create tiny MatrixGames.twoStep

        let states =
            Training.iterations trainer (Training.init trainer)
            |> Seq.map fst
            |> Seq.toArray

        let early, late = states[10], states[40]
        let path = Path.Combine(dir, "model")
        let files = [ "model.train.safetensors"; "model.safetensors"; "model.json" ]
        let at (f: string) = Path.Combine(dir, f)
        // the set of a later save, kept aside
        Training.save trainer path late
        let lateDir = Path.Combine(dir, "late")
        Directory.CreateDirectory lateDir |> ignore

        for f in files do
            File.Copy(at f, Path.Combine(lateDir, f))

        // the disk as a save of `late` over `early` leaves it when the process dies after moving k new files in:
        // the old set is kept as .bak until the new sidecar is in place
        for k in 0..2 do
            for f in Directory.GetFiles dir do
                File.Delete f

            Training.save trainer path early

            for f in files do
                File.Move(at f, at f + ".bak")

            for f in List.take k files do
                File.Copy(Path.Combine(lateDir, f), at f)

            let loaded = Training.resume trainer path
            Assert.Equal(early.Counters, loaded.Counters)
            assertSameLearner early.Learner loaded.Learner

        // once the new sidecar is in place, the new set loads even before the .bak files are deleted
        for f in files do
            File.Copy(Path.Combine(lateDir, f), at f, true)

        Assert.Equal(late.Counters, (Training.resume trainer path).Counters))

[<Fact>]
let ``a torn checkpoint is detected and the file named`` () =
    withTempDir (fun dir ->
        let trainer = Training.create tiny MatrixGames.twoStep

        let states =
            Training.iterations trainer (Training.init trainer)
            |> Seq.map fst
            |> Seq.toArray

        let a, b = Path.Combine(dir, "a"), Path.Combine(dir, "b")
        Training.save trainer a states[10]
        Training.save trainer b states[20]
        let aFiles, bFiles = Checkpoint.paths a, Checkpoint.paths b

        let files (m, t, s) = [ m; t; s ]

        // c = b's files, with the file at one position taken from a's save
        let torn (which: int) =
            let c = Path.Combine(dir, sprintf "c%d" which)
            let cFiles = files (Checkpoint.paths c)

            List.zip3 (files aFiles) (files bFiles) cFiles
            |> List.iteri (fun i (fromA, fromB, dest) -> File.Copy((if i = which then fromA else fromB), dest))

            c, cFiles

        // negative control: b itself, and a copy of it, load
        Assert.Equal(states[20].Counters, (Training.resume trainer b).Counters)

        for which, blamed in [ 0, 0; 1, 1; 2, 0 ] do
            let c, cFiles = torn which

            let e =
                Assert.Throws<CheckpointException>(fun () -> Training.resume trainer c |> ignore)

            Assert.Equal(cFiles[blamed], e.FilePath)
            Assert.Contains(cFiles[blamed], e.Message)
            Assert.Contains("different save", e.Message))

/// The file at a position of a checkpoint's set (0 model, 1 training state, 2 sidecar).
let fileOf (path: string) (which: int) =
    let m, t, s = Checkpoint.paths path
    [| m; t; s |][which]

/// Saves a trained state as "good", then for each damage: copies the checkpoint, checks that the copy loads
/// (negative control), damages one of its files, and checks that loading fails with a CheckpointException naming
/// that file (and mentions a given text).
let private expectFailures (damages: (string * int * (string -> unit) * string) list) =
    withTempDir (fun dir ->
        let trainer, state = trained { tiny with TotalSteps = 40 }
        let good = Path.Combine(dir, "good")
        Training.save trainer good state

        for label, which, damage, mention in damages do
            let c = Path.Combine(dir, label)

            for i in 0..2 do
                File.Copy(fileOf good i, fileOf c i)

            Assert.Equal(state.Counters, (Training.resume trainer c).Counters)
            let file = fileOf c which
            damage file

            let e =
                Assert.Throws<CheckpointException>(fun () -> Training.resume trainer c |> ignore)

            Assert.True((file = e.FilePath), sprintf "%s: blamed %s, expected %s (%s)" label e.FilePath file e.Message)
            Assert.Contains(file, e.Message)
            Assert.Contains(mention, e.Message))

let private truncate (file: string) =
    let bytes = File.ReadAllBytes file
    File.WriteAllBytes(file, bytes[.. bytes.Length / 2])

let private flipHeaderByte (file: string) =
    // the JSON header starts at byte 8 with '{'
    let bytes = File.ReadAllBytes file
    bytes[8] <- byte 'x'
    File.WriteAllBytes(file, bytes)

[<Fact>]
let ``a truncated, corrupted or missing file is reported with its name`` () =
    expectFailures
        [
            "model-truncated", 0, truncate, "truncated"
            "model-header", 0, flipHeaderByte, "JSON"
            "model-missing", 0, File.Delete, ""
            "train-truncated", 1, truncate, "truncated"
            "train-header", 1, flipHeaderByte, "JSON"
            "train-missing", 1, File.Delete, ""
            "sidecar-truncated", 2, truncate, "not a checkpoint sidecar"
            "sidecar-missing", 2, File.Delete, "no checkpoint sidecar"
            "sidecar-not-json", 2, (fun f -> File.WriteAllText(f, "not json")), "not a checkpoint sidecar"
        ]

/// Replaces text in a sidecar.
let private replace (oldText: string) (newText: string) (file: string) =
    File.WriteAllText(file, (File.ReadAllText file).Replace(oldText, newText))

/// Renames a field of a sidecar, so that it is missing.
let private rename (field: string) =
    replace (sprintf "\"%s\"" field) (sprintf "\"%s_\"" field)

[<Fact>]
let ``a sidecar with a missing or mistyped field is reported with its name`` () =
    expectFailures
        [
            "array", 2, (fun f -> File.WriteAllText(f, "[]")), "not a Qmix.Functional checkpoint sidecar"
            for field in
                [
                    "format"
                    "spec"
                    "mixer"
                    "optimiser"
                    "counters"
                    "replay"
                    "updates"
                    "n_agents"
                ] do
                "no-" + field, 2, rename field, sprintf "no field '%s'" field
            "bad-key", 2, replace "\"key\": \"" "\"key\": \"zz", "'key' should be 32 hexadecimal digits"
            "short-key", 2, replace "\"key\": \"" "\"key\": \"0\", \"x\": \"", "'key' should be 32 hexadecimal"
            "kind-number", 2, replace "\"kind\": \"rmsprop\"" "\"kind\": 1", "'kind' should be a string"
            "episode-text",
            2,
            replace "\"episode\": " "\"episode\": \"many\", \"e\": ",
            "'episode' should be an integer"
            "capacity-fraction", 2, replace "\"capacity\": 64" "\"capacity\": 64.5", "'capacity' should be an integer"
        ]

// ---------------------------------------------------------------- loading into the wrong learner

/// The first parameter whose shape differs between two learners' layouts, with both shapes.
let private firstMismatch (saved: Learner<'M>) (other: Learner<'M>) =
    Array.zip
        (Tree.named (Learner.initParams saved (Rng.key 0UL)))
        (Tree.named (Learner.initParams other (Rng.key 0UL)))
    |> Array.pick (fun ((n, s), (_, o)) ->
        if s.Shape <> o.Shape then
            Some(n, s.Shape, o.Shape)
        else
            None)

[<Fact>]
let ``loading into a learner of another shape names the tensor and both shapes`` () =
    withTempDir (fun dir ->
        let trainer, state = trained { tiny with TotalSteps = 40 }
        let path = Path.Combine(dir, "run")
        Training.save trainer path state

        let variants =
            [
                { tiny with Learner.Agent.Hidden = 16 }
                { tiny with
                    Mixer =
                        Qmix
                            { QmixConfig.defaults with
                                Embed = 6
                                HypernetEmbed = 8
                            }
                }
                { tiny with
                    Mixer =
                        Qmix
                            { QmixConfig.defaults with
                                Embed = 5
                                HypernetEmbed = 9
                            }
                }
                { tiny with
                    Learner.Agent.LastAction = false
                }
            ]

        for cfg in variants do
            let other = Training.create cfg MatrixGames.twoStep
            let name, savedShape, otherShape = firstMismatch trainer.Learner other.Learner

            let e =
                Assert.Throws<CheckpointException>(fun () -> Training.resume other path |> ignore)

            Assert.Contains(sprintf "'%s'" name, e.Message)
            Assert.Contains(string savedShape, e.Message)
            Assert.Contains(string otherShape, e.Message))

[<Fact>]
let ``another spec, mixer or optimiser is reported clearly`` () =
    withTempDir (fun dir ->
        let trainer, state = trained { tiny with TotalSteps = 40 }
        let path = Path.Combine(dir, "run")
        Training.save trainer path state
        let _, _, sidecar = Checkpoint.paths path

        let failure (t: Trainer<'S, 'M>) =
            Assert.Throws<CheckpointException>(fun () -> Training.resume t path |> ignore)

        // another environment
        let oneShot =
            MatrixGames.oneShot (array2D [ [ 1.0f; 0.0f ]; [ 0.0f; 1.0f ] ]) "one-shot"

        let e = failure (Training.create tiny oneShot)
        Assert.Equal(sidecar, e.FilePath)
        Assert.Contains("two-step", e.Message)
        Assert.Contains("one-shot", e.Message)
        // another mixer
        let e = failure (Training.create { tiny with Mixer = Vdn } MatrixGames.twoStep)
        Assert.Equal(sidecar, e.FilePath)
        Assert.Contains("saved with the qmix mixer, but the learner uses vdn", e.Message)

        let e =
            failure (
                Training.create
                    { tiny with
                        Mixer =
                            QmixNs
                                { QmixConfig.defaults with
                                    Embed = 5
                                    HypernetEmbed = 8
                                }
                    }
                    MatrixGames.twoStep
            )

        Assert.Contains("qmix-ns", e.Message)
        // another optimiser
        let e =
            failure (Training.create { tiny with Learner.Optimizer = adam } MatrixGames.twoStep)

        Assert.Equal(sidecar, e.FilePath)
        Assert.Contains("saved with the rmsprop optimiser", e.Message)
        Assert.Contains("Adam", e.Message))
