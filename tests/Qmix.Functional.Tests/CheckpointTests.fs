module Qmix.Functional.Tests.CheckpointTests

open System
open System.IO
open System.Text.Json
open Expecto
open Qmix.Tests
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
    Expect.equal (bits actual.Params) (bits expected.Params) "bits actual.Params"
    Expect.equal (bits actual.Target) (bits expected.Target) "bits actual.Target"
    let k1, s1, o1 = optimBits expected.Optim
    let k2, s2, o2 = optimBits actual.Optim
    Expect.equal k2 k1 "k2"
    Expect.equal s2 s1 "s2"
    Expect.equal o2 o1 "o2"
    Expect.equal actual.Updates expected.Updates "actual.Updates"
    Expect.equal actual.LastTargetUpdateEpisode expected.LastTargetUpdateEpisode "actual.LastTargetUpdateEpisode"

/// Asserts two replay buffers hold the same episodes in the same order, with the same capacity and count added.
let assertSameReplay (expected: Replay) (actual: Replay) =
    Expect.equal (Replay.capacity actual) (Replay.capacity expected) "Replay.capacity actual"
    Expect.equal (Replay.totalAdded actual) (Replay.totalAdded expected) "Replay.totalAdded actual"
    Expect.equal (Replay.count actual) (Replay.count expected) "Replay.count actual"
    Expect.isTrue (expected = actual) "the replay buffers differ"

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

let ``the model file holds exactly the PyTorch state_dict names and shapes, the training file the rest`` () =
    withTempDir (fun dir ->
        let trainer, state = trained { tiny with TotalSteps = 40 }
        let path = Path.Combine(dir, "run")
        Training.save trainer path state
        let model, train, _ = Checkpoint.paths path
        let modelFile = Safetensors.load model

        Expect.equal (shapes modelFile) (List.sortBy fst expectedModel) "shapes modelFile"
        Expect.equal (modelFile.Metadata.TryFind "format") (Some "pt") "modelFile.Metadata.TryFind \"format\""
        // the values are the online parameters, bit for bit
        let named = Tree.named state.Learner.Params |> Map.ofArray

        for n, t in modelFile.Tensors do
            Expect.equal (t.ToArray()) (named[n].ToArray()) "t.ToArray()"

        let trainFile = Safetensors.load train
        let count = Replay.count state.Replay

        let expectedTrain =
            [
                for prefix in [ "target."; "optim.square_avg."; "optim.momentum_buffer." ] do
                    for n, s in expectedModel do
                        prefix + n, s
                // the buffer in chunks of episodes; episodes of the two-step game are small, so one chunk holds all,
                // each its 2 steps and the last observation: 3 rows
                "replay.obs.0", [| 3 * count; 2; 4 |]
                "replay.state.0", [| 3 * count; 4 |]
                "replay.actions.0", [| 3 * count; 2 |]
                "replay.avail_actions.0", [| 3 * count; 2; 2 |]
                "replay.reward.0", [| 3 * count |]
                "replay.length.0", [| count |]
                "replay.terminated.0", [| count |]
                "replay.won.0", [| count |]
            ]

        Expect.equal (shapes trainFile) (List.sortBy fst expectedTrain) "shapes trainFile"

        Expect.equal
            (trainFile.Metadata.TryFind "checkpoint_id")
            (modelFile.Metadata.TryFind "checkpoint_id")
            "trainFile.Metadata.TryFind \"checkpoint_id\"")

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

            Expect.equal
                (root.GetProperty("format").GetString())
                Checkpoint.Format
                "root.GetProperty(\"format\").GetString()"

            Expect.equal
                (root.GetProperty("spec").GetProperty("name").GetString())
                "two-step"
                "root.GetProperty(\"spec\").GetProperty(\"name\").GetString()"

            Expect.equal
                (root.GetProperty("spec").GetProperty("n_agents").GetInt32())
                2
                "root.GetProperty(\"spec\").GetProperty(\"n_agents\").GetInt32()"

            Expect.equal (root.GetProperty("mixer").GetString()) "qmix" "root.GetProperty(\"mixer\").GetString()"
            let config = root.GetProperty("config").GetString()
            Expect.stringContains config "TotalSteps = 40" "config"
            Expect.stringContains config "BufferSize = 64" "config"
            let counters = root.GetProperty "counters"
            Expect.isTrue (state.Counters.Step >= 40) "state.Counters.Step >= 40"

            Expect.equal
                (counters.GetProperty("step").GetInt32())
                state.Counters.Step
                "counters.GetProperty(\"step\").GetInt32()"

            Expect.equal
                (counters.GetProperty("episode").GetInt32())
                state.Counters.Episode
                "counters.GetProperty(\"episode\").GetInt32()"

            let optimiser = root.GetProperty "optimiser"
            let kind, step, _ = optimBits state.Learner.Optim
            Expect.equal (optimiser.GetProperty("kind").GetString()) kind "optimiser.GetProperty(\"kind\").GetString()"
            Expect.equal (optimiser.GetProperty("step").GetInt32()) step "optimiser.GetProperty(\"step\").GetInt32()"
            // one optimiser step per update, and updates began once 8 episodes were held
            Expect.equal step (state.Counters.Episode - 7) "step"

            Expect.equal
                (root.GetProperty("version").GetInt32())
                Checkpoint.Version
                "root.GetProperty(\"version\").GetInt32()"

            let replay = root.GetProperty "replay"

            Expect.equal
                (replay.GetProperty("count").GetInt32())
                (Replay.count state.Replay)
                "replay.GetProperty(\"count\").GetInt32()"

            Expect.equal
                (replay.GetProperty("chunk_episodes").GetInt32())
                (Checkpoint.chunkEpisodes trainer.Learner.Spec)
                "replay.GetProperty(\"chunk_episodes\").GetInt32()"

            Expect.equal (replay.GetProperty("capacity").GetInt32()) 64 "replay.GetProperty(\"capacity\").GetInt32()"

            Expect.equal
                (replay.GetProperty("total_added").GetInt64())
                (int64 state.Counters.Episode)
                "replay.GetProperty(\"total_added\").GetInt64()")

let ``a saved checkpoint loads back bit-identical`` () =
    withTempDir (fun dir ->
        let trainer, state = trained { tiny with TotalSteps = 150 }
        // 75 episodes through a 64-episode buffer: the oldest have been evicted
        Expect.equal (Replay.count state.Replay) 64 "Replay.count state.Replay"
        // and the targets, last copied at episode 60, differ from the online parameters
        Expect.equal state.Learner.LastTargetUpdateEpisode 60 "state.Learner.LastTargetUpdateEpisode"
        Expect.notEqual (bits state.Learner.Target) (bits state.Learner.Params) "bits state.Learner.Target"
        // and the fresh state: no episode, no update
        let fresh = Training.init trainer
        Expect.equal (Replay.count fresh.Replay) 0 "Replay.count fresh.Replay"

        for name, s in [ "run", state; "fresh", fresh ] do
            let path = Path.Combine(dir, name)
            Training.save trainer path s
            let loaded = Training.resume trainer path
            assertSameLearner s.Learner loaded.Learner
            assertSameReplay s.Replay loaded.Replay
            Expect.equal loaded.Counters s.Counters "loaded.Counters")

let ``saveModel and loadModel round-trip the online parameters`` () =
    withTempDir (fun dir ->
        let trainer, state = trained { tiny with TotalSteps = 40 }
        let path = Path.Combine(dir, "policy.safetensors")
        Checkpoint.saveModel path state.Learner.Params
        // only the model file: no training state, no sidecar
        Expect.equal
            (Directory.GetFiles dir |> Array.map Path.GetFileName)
            ([| "policy.safetensors" |])
            "Directory.GetFiles dir |> Array.map Path.GetFileName"

        let loaded = Checkpoint.loadModel path trainer.Learner
        Expect.equal (bits loaded) (bits state.Learner.Params) "bits loaded"
        // the path stem works too, and so does the model file of a full checkpoint
        Expect.equal
            (bits (Checkpoint.loadModel (Path.Combine(dir, "policy")) trainer.Learner))
            (bits state.Learner.Params)
            "bits (Checkpoint.loadModel (Path.Combine(dir, \"policy\")) trainer.Le..."

        let full = Path.Combine(dir, "full")
        Training.save trainer full state

        Expect.equal
            (bits (Checkpoint.loadModel full trainer.Learner))
            (bits state.Learner.Params)
            "bits (Checkpoint.loadModel full trainer.Learner)"
        // a learner of another width: the tensor and both shapes are named
        let wider =
            Learner.builtIn
                { tiny.Learner with
                    Agent = { tiny.Learner.Agent with Hidden = 16 }
                }
                MatrixGames.twoStep.Spec
                tiny.Mixer

        let e =
            Expect.throwsOf<CheckpointException>(fun () -> Checkpoint.loadModel path wider |> ignore)

        Expect.equal (Path.GetFullPath e.FilePath) (Path.GetFullPath path) "Path.GetFullPath e.FilePath"
        Expect.stringContains e.Message "agent.fc1.weight" "e.Message"
        Expect.stringContains e.Message "[16, 8]" "e.Message"
        Expect.stringContains e.Message "[12, 8]" "e.Message")

// ---------------------------------------------------------------- atomicity and data safety

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

        Expect.equal files ([| "model.json"; "model.safetensors"; "model.train.safetensors" |]) "files"
        let loaded = Training.resume trainer path
        Expect.equal loaded.Counters late.Counters "loaded.Counters"
        assertSameLearner late.Learner loaded.Learner
        assertSameReplay late.Replay loaded.Replay)

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
            Expect.equal loaded.Counters early.Counters "loaded.Counters"
            assertSameLearner early.Learner loaded.Learner

        // once the new sidecar is in place, the new set loads even before the .bak files are deleted
        for f in files do
            File.Copy(Path.Combine(lateDir, f), at f, true)

        Expect.equal ((Training.resume trainer path).Counters) late.Counters "(Training.resume trainer path).Counters")

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
        Expect.equal
            ((Training.resume trainer b).Counters)
            (states[20].Counters)
            "(Training.resume trainer b).Counters"

        for which, blamed in [ 0, 0; 1, 1; 2, 0 ] do
            let c, cFiles = torn which

            let e =
                Expect.throwsOf<CheckpointException>(fun () -> Training.resume trainer c |> ignore)

            Expect.equal e.FilePath (cFiles[blamed]) "e.FilePath"
            Expect.stringContains e.Message (cFiles[blamed]) "e.Message"
            Expect.stringContains e.Message "different save" "e.Message")

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

            Expect.equal ((Training.resume trainer c).Counters) state.Counters "(Training.resume trainer c).Counters"
            let file = fileOf c which
            damage file

            let e =
                Expect.throwsOf<CheckpointException>(fun () -> Training.resume trainer c |> ignore)

            Expect.isTrue
                (file = e.FilePath)
                (sprintf "%s: blamed %s, expected %s (%s)" label e.FilePath file e.Message)

            Expect.stringContains e.Message file "e.Message"
            Expect.stringContains e.Message mention "e.Message")

let private truncate (file: string) =
    let bytes = File.ReadAllBytes file
    File.WriteAllBytes(file, bytes[.. bytes.Length / 2])

let private flipHeaderByte (file: string) =
    // the JSON header starts at byte 8 with '{'
    let bytes = File.ReadAllBytes file
    bytes[8] <- byte 'x'
    File.WriteAllBytes(file, bytes)

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
                Expect.throwsOf<CheckpointException>(fun () -> Training.resume other path |> ignore)

            Expect.stringContains e.Message (sprintf "'%s'" name) "e.Message"
            Expect.stringContains e.Message (string savedShape) "e.Message"
            Expect.stringContains e.Message (string otherShape) "e.Message")

let ``another spec, mixer or optimiser is reported clearly`` () =
    withTempDir (fun dir ->
        let trainer, state = trained { tiny with TotalSteps = 40 }
        let path = Path.Combine(dir, "run")
        Training.save trainer path state
        let _, _, sidecar = Checkpoint.paths path

        let failure (t: Trainer<'S, 'M>) =
            Expect.throwsOf<CheckpointException>(fun () -> Training.resume t path |> ignore)

        // another environment
        let oneShot =
            MatrixGames.oneShot (array2D [ [ 1.0f; 0.0f ]; [ 0.0f; 1.0f ] ]) "one-shot"

        let e = failure (Training.create tiny oneShot)
        Expect.equal e.FilePath sidecar "e.FilePath"
        Expect.stringContains e.Message "two-step" "e.Message"
        Expect.stringContains e.Message "one-shot" "e.Message"
        // another mixer
        let e = failure (Training.create { tiny with Mixer = Vdn } MatrixGames.twoStep)
        Expect.equal e.FilePath sidecar "e.FilePath"
        Expect.stringContains e.Message "saved with the qmix mixer, but the learner uses vdn" "e.Message"

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

        Expect.stringContains e.Message "qmix-ns" "e.Message"
        // another optimiser
        let e =
            failure (Training.create { tiny with Learner.Optimizer = adam } MatrixGames.twoStep)

        Expect.equal e.FilePath sidecar "e.FilePath"
        Expect.stringContains e.Message "saved with the rmsprop optimiser" "e.Message"
        Expect.stringContains e.Message "Adam" "e.Message")

// ---------------------------------------------------------------- the replay buffer in chunks

/// What a training state's checkpoint holds.
let private checkpointOf (state: TrainingState<'M>) : Checkpoint<'M> =
    {
        Learner = state.Learner
        Replay = state.Replay
        Counters = state.Counters
    }

/// Saves a state with the replay in chunks of a given number of episodes.
let private saveChunked (trainer: Trainer<'S, 'M>) (chunk: int) (path: string) (state: TrainingState<'M>) =
    Checkpoint.saveChunked chunk path trainer.Learner (Training.configText trainer) (checkpointOf state)

/// The replay tensors of a training file, in file order, with their shapes.
let private replayEntries (file: string) =
    use r = Safetensors.openRead file

    r.Entries
    |> List.filter (fun e -> e.Name.StartsWith("replay.", StringComparison.Ordinal))
    |> List.map (fun e -> e.Name, e.Shape)

let ``the replay buffer round-trips in chunks: several, a partial last one, one, and none`` () =
    withTempDir (fun dir ->
        let trainer, state = trained { tiny with TotalSteps = 150 }
        // 75 episodes through a 64-episode buffer: the oldest have been evicted
        Expect.equal (Replay.count state.Replay) 64 "Replay.count state.Replay"
        Expect.equal (Replay.totalAdded state.Replay) 75L "Replay.totalAdded state.Replay"
        let fresh = Training.init trainer

        for name, s, chunk, chunks in
            [
                "by-1", state, 1, 64
                "by-5", state, 5, 13 // 12 chunks of 5 and one of 4
                "by-64", state, 64, 1
                "by-100", state, 100, 1
                "empty", fresh, 5, 0
            ] do
            let path = Path.Combine(dir, name)
            saveChunked trainer chunk path s
            let _, train, _ = Checkpoint.paths path

            let lengths = Replay.episodes s.Replay |> Array.map (fun e -> e.Length)
            let layout = Checkpoint.recordedLayout trainer.Learner.Spec lengths chunk

            Expect.equal (replayEntries train) (List.ofArray layout) "replayEntries train"
            Expect.equal layout.Length (8 * chunks) "layout.Length"

            if chunks > 1 then
                let lastObs = layout[layout.Length - 8]
                let lastLength = layout[layout.Length - 3]
                Expect.equal (fst lastObs) (sprintf "replay.obs.%d" (chunks - 1)) "fst lastObs"
                Expect.equal (fst lastLength) (sprintf "replay.length.%d" (chunks - 1)) "fst lastLength"
                Expect.equal ((snd lastLength)[0]) (64 - (chunks - 1) * chunk) "the last chunk's episodes"
                // its rows: the recorded steps of its episodes, L + 1 each
                let recorded = lengths[(chunks - 1) * chunk ..] |> Array.sumBy (fun l -> l + 1)
                Expect.equal ((snd lastObs)[0]) recorded "the last chunk's recorded rows"

            let loaded = Training.resume trainer path
            assertSameLearner s.Learner loaded.Learner
            assertSameReplay s.Replay loaded.Replay
            Expect.equal loaded.Counters s.Counters "loaded.Counters")

let ``a resumed run continues bit-identically whatever the chunking`` () =
    withTempDir (fun dir ->
        let trainer = Training.create tiny MatrixGames.twoStep

        let states =
            Training.iterations trainer (Training.init trainer)
            |> Seq.map fst
            |> Seq.toArray

        let mid = states[45]
        let reference = states[states.Length - 1]
        let path = Path.Combine(dir, "mid")
        saveChunked trainer 3 path mid
        let finished = Training.run trainer ignore (Training.resume trainer path)
        assertSameLearner reference.Learner finished.Learner
        assertSameReplay reference.Replay finished.Replay
        Expect.equal finished.Counters reference.Counters "finished.Counters")

/// A spec the size of SMAC's 27m_vs_30m: 27 agents, 36 actions, 285-wide observations, episodes of 180 steps.
let private spec27m =
    {
        Name = "27m_vs_30m-sized"
        NAgents = 27
        NActions = 36
        ObsDim = 285
        StateDim = 1170
        EpisodeLimit = 180
    }

let ``the chunk layout of a buffer past 2^31 values keeps every tensor small and every offset exact`` () =
    // 5000 episodes of 181 × 27 × 285 observation values: 6,963,975,000 values, 27.9 GB; only names and shapes are made
    let count = 5000
    let chunk = Checkpoint.chunkEpisodes spec27m
    // one episode's observations are 5.6 MB, so 3 fit in 16 MiB
    Expect.equal chunk 3 "chunk"

    let layout =
        Checkpoint.recordedLayout spec27m (Array.create count spec27m.EpisodeLimit) chunk

    let numel (s: Shape) =
        s.ToArray() |> Array.fold (fun n d -> n * int64 d) 1L

    let obs =
        layout
        |> Array.filter (fun (n, _) -> n.StartsWith("replay.obs.", StringComparison.Ordinal))

    Expect.equal obs.Length 1667 "obs.Length"
    Expect.equal (obs |> Array.sumBy (snd >> numel)) (6_963_975_000L) "obs |> Array.sumBy (snd >> numel)"
    Expect.isTrue (6_963_975_000L > int64 Int32.MaxValue) "6_963_975_000L > int64 Int32.MaxValue"
    // every tensor within 16 MiB; every chunk of 3 episodes of 181 rows but the last, of 2
    for _, s in layout do
        Expect.isTrue (numel s * 4L <= Checkpoint.ChunkBytes) (sprintf "%O is larger than a chunk" s)

    Expect.equal
        (obs |> Array.map (fun (_, s) -> s[0]) |> List.ofArray)
        (List.replicate 1666 (3 * 181) @ [ 2 * 181 ])
        "obs |> Array.map (fun (_, s) -> s[0]) |> List.ofArray"

    Expect.equal (fst layout[layout.Length - 1]) "replay.won.1666" "fst layout[layout.Length - 1]"
    // the file's header: offsets back to back in 64 bits, up to the sum of all sizes
    let file = Safetensors.layout (Map [ "checkpoint_id", "x" ]) layout
    let sizes = layout |> Array.map (snd >> numel >> (*) 4L)
    Expect.equal file.DataBytes (Array.sum sizes) "file.DataBytes"
    Expect.isTrue (file.DataBytes > (1L <<< 35)) "file.DataBytes > (1L <<< 35)"

    file.Entries
    |> Array.iteri (fun i e ->
        Expect.equal e.Name (fst layout[i]) "e.Name"
        Expect.equal e.Begin (Array.sum sizes[.. i - 1]) "e.Begin"
        Expect.equal e.End (e.Begin + sizes[i]) "e.End")

let ``chunk counts and sizes hold at the ends of the int range`` () =
    let tinySpec = MatrixGames.twoStep.Spec
    // a chunk of every episode there can be, and one short of that: no overflow in the chunk arithmetic
    for chunk, expected in
        [
            Int32.MaxValue, [ Int32.MaxValue ]
            Int32.MaxValue - 1, [ Int32.MaxValue - 1; 1 ]
        ] do
        let firstDims =
            Checkpoint.replayLayout tinySpec Int32.MaxValue chunk
            |> Array.filter (fun (n, _) -> n.StartsWith("replay.length.", StringComparison.Ordinal))
            |> Array.map (fun (_, s) -> s[0])

        Expect.equal (List.ofArray firstDims) expected "List.ofArray firstDims"

    // small episodes: one chunk holds up to 16 MiB of them; an episode larger than that is a chunk alone
    Expect.equal
        (Checkpoint.chunkEpisodes tinySpec)
        (int (Checkpoint.ChunkBytes / (4L * 3L * 2L * 4L)))
        "Checkpoint.chunkEpisodes tinySpec"

    Expect.equal
        (Checkpoint.chunkEpisodes
            { spec27m with
                ObsDim = 1000
                EpisodeLimit = 1000
            })
        1
        "Checkpoint.chunkEpisodes { spec27m with ObsDim = 1000 EpisodeLimit ..."

    Expect.isEmpty (Checkpoint.replayLayout tinySpec 0 7) "Checkpoint.replayLayout tinySpec 0 7"

    Expect.throwsOf<ArgumentException>(fun () -> Checkpoint.replayLayout tinySpec 10 0 |> ignore)
    |> ignore

// ---------------------------------------------------------------- old checkpoints

/// The replay tensors as format version 1 wrote them: each field concatenated over the episodes into one tensor.
let concatenatedReplay (replay: Replay) : (string * Tensor)[] =
    let eps = Replay.episodes replay

    if eps.Length = 0 then
        [||]
    else
        let s = eps[0].Spec
        let t1 = s.EpisodeLimit + 1
        let c = eps.Length

        let cat (dims: int[]) (pick: Episode -> float32[]) =
            Tensor.ofArray (Array.append [| c |] dims) (Array.concat (Array.map pick eps))

        [|
            "replay.obs", cat [| t1; s.NAgents; s.ObsDim |] (fun e -> e.Obs)
            "replay.state", cat [| t1; s.StateDim |] (fun e -> e.State)
            "replay.actions", cat [| t1; s.NAgents |] (fun e -> Array.map float32 e.Actions)
            "replay.avail_actions", cat [| t1; s.NAgents; s.NActions |] (fun e -> e.AvailActions)
            "replay.reward", cat [| t1 |] (fun e -> e.Reward)
            "replay.length", cat [||] (fun e -> [| float32 e.Length |])
            "replay.terminated", cat [||] (fun e -> [| (if e.Terminated then 1.0f else 0.0f) |])
            "replay.won",
            cat [||] (fun e ->
                [|
                    match e.Won with
                    | None -> -1.0f
                    | Some false -> 0.0f
                    | Some true -> 1.0f
                |])
        |]

/// Rewrites a checkpoint in format version 1: the replay as one tensor per field, the sidecar's version 1 and no
/// chunk size.
let private toVersion1 (path: string) (replay: Replay) =
    let _, train, sidecar = Checkpoint.paths path
    let file = Safetensors.load train

    let kept =
        file.Tensors
        |> List.filter (fun (n, _) -> not (n.StartsWith("replay.", StringComparison.Ordinal)))

    Safetensors.save train file.Metadata (kept @ List.ofArray (concatenatedReplay replay))
    let text = File.ReadAllText sidecar
    let chunkLine = Text.RegularExpressions.Regex(",\\s*\"chunk_episodes\": \\d+")
    File.WriteAllText(sidecar, chunkLine.Replace(text.Replace("\"version\": 3", "\"version\": 1"), ""))

/// Rewrites a checkpoint in format version 2: the replay in one chunk padded to the episode limit
/// (<c>replay.obs.0</c> of shape [count, T+1, N, obs_dim], ...), the sidecar's version 2 with that chunk size and
/// without checksums (the rewritten file carries none for the new tensors).
let private toVersion2 (path: string) (replay: Replay) =
    let _, train, sidecar = Checkpoint.paths path
    let file = Safetensors.load train

    let kept =
        file.Tensors
        |> List.filter (fun (n, _) -> not (n.StartsWith("replay.", StringComparison.Ordinal)))

    let chunk =
        concatenatedReplay replay
        |> Array.map (fun (n, t) -> n + ".0", t)
        |> List.ofArray

    // the new tensors carry no checksums (the sidecar says so below)
    let metadata =
        file.Metadata
        |> Map.filter (fun k _ -> not (k.StartsWith("crc32c:replay.", StringComparison.Ordinal)))

    Safetensors.save train metadata (kept @ chunk)
    let text = File.ReadAllText sidecar
    let chunkLine = Text.RegularExpressions.Regex("\"chunk_episodes\": \\d+")
    let checksums = Text.RegularExpressions.Regex(",\\s*\"checksums\": \"crc32c\"")

    let rewritten =
        chunkLine.Replace(
            text.Replace("\"version\": 3", "\"version\": 2"),
            sprintf "\"chunk_episodes\": %d" (max 1 (Replay.count replay))
        )

    File.WriteAllText(sidecar, checksums.Replace(rewritten, ""))

/// Saves a trained state and a fresh one in chunks of 5, rewrites each into an older format, checks the rewritten
/// files (`check trainer state train sidecar`), and resumes them: the same learner, replay and counters.
let private expectOldFormatLoads
    (dir: string)
    (rewrite: string -> Replay -> unit)
    (check: Trainer<_, MixerParams> -> TrainingState<MixerParams> -> string -> string -> unit)
    =
    let trainer, state = trained { tiny with TotalSteps = 150 }

    for name, s in [ "run", state; "fresh", Training.init trainer ] do
        let path = Path.Combine(dir, name)
        saveChunked trainer 5 path s
        rewrite path s.Replay
        let _, train, sidecar = Checkpoint.paths path
        check trainer s train sidecar
        let loaded = Training.resume trainer path
        assertSameLearner s.Learner loaded.Learner
        assertSameReplay s.Replay loaded.Replay
        Expect.equal loaded.Counters s.Counters "loaded.Counters"

    trainer

let ``a checkpoint of format version 2 (chunks padded to the limit) still loads`` () =
    withTempDir (fun dir ->
        expectOldFormatLoads dir toVersion2 (fun trainer s train sidecar ->
            Expect.stringContains (File.ReadAllText sidecar) "\"version\": 2" "the sidecar's version"

            if Replay.count s.Replay > 0 then
                let obs = replayEntries train |> List.find (fun (n, _) -> n = "replay.obs.0") |> snd
                // padded: every episode at T+1 steps (the negative control of the recorded layout)
                Expect.equal obs[1] (trainer.Learner.Spec.EpisodeLimit + 1) "replay.obs.0 holds padded episodes")
        |> ignore)

let ``a checkpoint of format version 1 still loads`` () =
    withTempDir (fun dir ->
        let trainer =
            expectOldFormatLoads dir toVersion1 (fun _ s train sidecar ->
                Expect.stringLacks (File.ReadAllText sidecar) "chunk_episodes" "File.ReadAllText sidecar"

                if Replay.count s.Replay > 0 then
                    Expect.contains
                        (replayEntries train |> List.map fst)
                        "replay.obs"
                        "replayEntries train |> List.map fst")

        // a version this library does not know is refused, naming the sidecar and the version
        let path = Path.Combine(dir, "run")
        let _, _, sidecar = Checkpoint.paths path
        File.WriteAllText(sidecar, (File.ReadAllText sidecar).Replace("\"version\": 1", "\"version\": 4"))

        let e =
            Expect.throwsOf<CheckpointException>(fun () -> Training.resume trainer path |> ignore)

        Expect.equal e.FilePath sidecar "e.FilePath"
        Expect.stringContains e.Message sidecar "e.Message"
        Expect.stringContains e.Message "format version 4 is not supported" "e.Message")

// ---------------------------------------------------------------- damaged replay chunks

/// Saves a trained state in chunks of 5 as "good", then for each damage: copies it, checks that the copy loads
/// (negative control), damages the copy's training file, and checks that loading fails naming that file and the text.
let private expectReplayFailures (damages: (string * (string -> string -> unit) * string list) list) =
    withTempDir (fun dir ->
        let trainer, state = trained { tiny with TotalSteps = 150 }
        let good = Path.Combine(dir, "good")
        saveChunked trainer 5 good state

        for label, damage, mentions in damages do
            let c = Path.Combine(dir, label)

            for i in 0..2 do
                File.Copy(fileOf good i, fileOf c i)

            Expect.equal ((Training.resume trainer c).Counters) state.Counters "(Training.resume trainer c).Counters"
            let train = fileOf c 1
            damage train (fileOf c 2)

            let e =
                Expect.throwsOf<CheckpointException>(fun () -> Training.resume trainer c |> ignore)

            Expect.stringContains e.Message train "e.Message"

            for m in mentions do
                Expect.stringContains e.Message m "e.Message")

/// The byte where a tensor's data begins in a safetensors file.
let private dataStart (file: string) (name: string) =
    use r = Safetensors.openRead file
    let headerLength = BitConverter.ToUInt64(File.ReadAllBytes(file)[0..7], 0)
    8L + int64 headerLength + (r.TryFindEntry name).Value.Begin

/// Overwrites one float32 value of a tensor in a file.
let private poke (name: string) (index: int) (value: float32) (file: string) (_: string) =
    use fs = new FileStream(file, FileMode.Open, FileAccess.Write)
    fs.Position <- dataStart file name + 4L * int64 index
    fs.Write(BitConverter.GetBytes value, 0, 4)

let ``a truncated or corrupted replay chunk is reported with the file and the tensor`` () =
    expectReplayFailures
        [
            // cut inside the observations of chunk 7: the file is refused when opened, naming the tensor cut short
            "truncated",
            (fun train _ ->
                let cut = dataStart train "replay.obs.7" + 10L
                use fs = new FileStream(train, FileMode.Open, FileAccess.Write)
                fs.SetLength cut),
            [ "'replay.obs.7'"; "truncated" ]
            // a shape changed in the header (same size, so the safetensors file itself is still valid)
            "reshaped",
            (fun train _ ->
                let bytes = File.ReadAllBytes train
                let text = Text.Encoding.Latin1.GetString bytes
                let before = "\"replay.state.3\":{\"dtype\":\"F32\",\"shape\":[15,4]"
                Expect.stringContains text before "text"

                File.WriteAllBytes(
                    train,
                    Text.Encoding.Latin1.GetBytes(text.Replace(before, before.Replace("[15,4]", "[4,15]")))
                )),
            [ "'replay.state.3'"; "[4, 15]"; "expected [15, 4]" ]
            // values no episode can hold
            "action", poke "replay.actions.2" 9 7.0f, [ "'replay.actions.2'"; "episode 1 of the chunk"; "0..1" ]
            "length", poke "replay.length.12" 3 0.0f, [ "'replay.length.12'"; "episode 3"; "1..2" ]
            "won", poke "replay.won.0" 0 0.5f, [ "'replay.won.0'"; "0.5" ]
            "terminated", poke "replay.terminated.4" 2 2.0f, [ "'replay.terminated.4'"; "neither 0 nor 1" ]
            // the sidecar and the file disagree on the episodes held
            "count",
            (fun _ sidecar ->
                File.WriteAllText(sidecar, (File.ReadAllText sidecar).Replace("\"count\": 64", "\"count\": 60"))),
            [ "unexpected replay tensor 'replay.obs.12'" ]
        ]

// ---------------------------------------------------------------- failed saves

/// A stream over a file that fails as a full disk does once a shared budget of bytes is spent.
type private DiskFullStream(inner: Stream, budget: int64 ref) =
    inherit Stream()
    override _.CanRead = false
    override _.CanSeek = false
    override _.CanWrite = true
    override _.Length = inner.Length

    override _.Position
        with get () = inner.Position
        and set _ = raise (NotSupportedException())

    override _.Flush() = inner.Flush()
    override _.Read(_: byte[], _: int, _: int) = raise (NotSupportedException())
    override _.Seek(_: int64, _: SeekOrigin) = raise (NotSupportedException())
    override _.SetLength _ = raise (NotSupportedException())

    override s.Write(buffer: byte[], offset: int, count: int) =
        s.Write(ReadOnlySpan(buffer, offset, count))

    override _.Write(buffer: ReadOnlySpan<byte>) =
        if int64 buffer.Length > budget.Value then
            inner.Write(buffer.Slice(0, int budget.Value))
            budget.Value <- 0L
            raise (IOException "No space left on device (simulated)")

        budget.Value <- budget.Value - int64 buffer.Length
        inner.Write buffer

    override _.Dispose(disposing: bool) =
        if disposing then
            inner.Dispose()

        base.Dispose disposing

/// Opens staged files as streams that fail after a total of `budget` bytes.
let private diskFull (budget: int64) =
    let left = ref budget

    fun (path: string) -> new DiskFullStream(new FileStream(path, FileMode.Create, FileAccess.Write), left) :> Stream

/// The names of the files in a directory, sorted.
let private namesIn (dir: string) =
    Directory.GetFileSystemEntries dir |> Array.map Path.GetFileName |> Array.sort

let ``a save that fails midway leaves the previous checkpoint loadable and no partial file`` () =
    withTempDir (fun dir ->
        let trainer = Training.create tiny MatrixGames.twoStep

        let states =
            Training.iterations trainer (Training.init trainer)
            |> Seq.map fst
            |> Seq.toArray

        let early, late = states[10], states[60]
        // the sizes of the files of a save of `late`
        let sizing = Path.Combine(dir, "sizing")
        Directory.CreateDirectory sizing |> ignore
        saveChunked trainer 5 (Path.Combine(sizing, "model")) late
        let trainBytes = FileInfo(Path.Combine(sizing, "model.train.safetensors")).Length
        let modelBytes = FileInfo(Path.Combine(sizing, "model.safetensors")).Length
        let sidecarBytes = FileInfo(Path.Combine(sizing, "model.json")).Length
        let run = Path.Combine(dir, "run")
        Directory.CreateDirectory run |> ignore
        let path = Path.Combine(run, "model")
        let model, train, sidecar = Checkpoint.paths path
        saveChunked trainer 5 path early
        let before = [ for f in [ model; train; sidecar ] -> File.ReadAllBytes f ]

        // out of space in the training file (in its header, in the target parameters, in the replay, at its last
        // byte), in the model file, in the sidecar
        for budget, blamed in
            [
                0L, train
                7L, train
                100L, train
                trainBytes / 2L, train
                trainBytes - 1L, train
                trainBytes + 50L, model
                trainBytes + modelBytes + sidecarBytes / 2L, sidecar
            ] do
            let e =
                Expect.throwsOf<CheckpointSaveException>(fun () ->
                    Checkpoint.saveWith
                        (diskFull budget)
                        5
                        path
                        trainer.Learner
                        (Training.configText trainer)
                        (checkpointOf late))

            Expect.equal e.FilePath blamed "e.FilePath"
            Expect.stringStarts e.Message (blamed + ": cannot save the checkpoint") "e.Message"
            Expect.stringContains e.Message "No space left on device (simulated)" "e.Message"
            Expect.isOfType<IOException> e.InnerException |> ignore
            // the previous checkpoint, untouched, and nothing else
            Expect.equal
                (namesIn run)
                ([| "model.json"; "model.safetensors"; "model.train.safetensors" |])
                "namesIn run"

            Expect.equal
                ([ for f in [ model; train; sidecar ] -> File.ReadAllBytes f ])
                before
                "[ for f in [ model; train; sidecar ] -> File.ReadAllBytes f ]"

            let loaded = Training.resume trainer path
            Expect.equal loaded.Counters early.Counters "loaded.Counters"
            assertSameLearner early.Learner loaded.Learner
            assertSameReplay early.Replay loaded.Replay

        // negative control: with enough space the same save goes through
        Checkpoint.saveWith
            (diskFull (trainBytes + modelBytes + sidecarBytes))
            5
            path
            trainer.Learner
            (Training.configText trainer)
            (checkpointOf late)

        Expect.equal ((Training.resume trainer path).Counters) late.Counters "(Training.resume trainer path).Counters"
        Expect.equal (namesIn run) ([| "model.json"; "model.safetensors"; "model.train.safetensors" |]) "namesIn run")

let ``a first save that fails leaves no checkpoint file at all`` () =
    withTempDir (fun dir ->
        let trainer, state = trained { tiny with TotalSteps = 40 }
        let path = Path.Combine(dir, "model")

        Expect.throwsOf<CheckpointSaveException>(fun () ->
            Checkpoint.saveWith
                (diskFull 5000L)
                5
                path
                trainer.Learner
                (Training.configText trainer)
                (checkpointOf state))
        |> ignore

        Expect.isEmpty (namesIn dir) "namesIn dir")

let ``a save blocked by a file in the way is reported and puts the previous checkpoint back`` () =
    withTempDir (fun dir ->
        let trainer = Training.create tiny MatrixGames.twoStep

        let states =
            Training.iterations trainer (Training.init trainer)
            |> Seq.map fst
            |> Seq.toArray

        let early, late = states[10], states[40]
        let path = Path.Combine(dir, "model")
        let model, train, sidecar = Checkpoint.paths path
        Training.save trainer path early
        let before = [ for f in [ model; train; sidecar ] -> File.ReadAllBytes f ]

        let check (blamed: string) (inTheWay: string) =
            // a directory where the save needs a file: not an IOException when the file is created, so every cause is
            // wrapped
            Directory.CreateDirectory(Path.Combine(inTheWay, "x")) |> ignore

            let e =
                Expect.throwsOf<CheckpointSaveException>(fun () -> Training.save trainer path late)

            Expect.equal e.FilePath blamed "e.FilePath"
            Expect.isNotNull e.InnerException "e.InnerException"

            Expect.equal
                ([ for f in [ model; train; sidecar ] -> File.ReadAllBytes f ])
                before
                "[ for f in [ model; train; sidecar ] -> File.ReadAllBytes f ]"

            Expect.equal
                ((Training.resume trainer path).Counters)
                early.Counters
                "(Training.resume trainer path).Counters"

            Directory.Delete(inTheWay, true)

            Expect.equal
                (namesIn dir)
                ([| "model.json"; "model.safetensors"; "model.train.safetensors" |])
                "namesIn dir"

        // while staging the sidecar (after both tensor files were staged)
        check sidecar (sidecar + ".new")
        // while moving the previous set aside (after two of its files were moved): they are moved back
        check sidecar (sidecar + ".bak")
        // and afterwards the save goes through
        Training.save trainer path late
        Expect.equal ((Training.resume trainer path).Counters) late.Counters "(Training.resume trainer path).Counters")

// ---------------------------------------------------------------- memory

/// A spec the size of SMAC's 3s5z: 8 agents, 14 actions, 80-wide observations, 120-wide states, 120 steps.
let private spec3s5z =
    {
        Name = "3s5z-sized"
        NAgents = 8
        NActions = 14
        ObsDim = 80
        StateDim = 120
        EpisodeLimit = 120
    }

/// A buffer of `count` synthetic episodes of a spec (values from the episode's index, all different).
let private syntheticReplay (spec: EnvSpec) (count: int) =
    let t1 = spec.EpisodeLimit + 1
    let n = spec.NAgents

    let episode (i: int) =
        let fill (len: int) (salt: int) =
            Array.init len (fun j -> float32 ((i * 7919 + j * 31 + salt) % 1000) * 0.001f)

        {
            Spec = spec
            Length = 1 + i % spec.EpisodeLimit
            Obs = fill (t1 * n * spec.ObsDim) 1
            State = fill (t1 * spec.StateDim) 2
            Actions = Array.init (t1 * n) (fun j -> (i + j) % spec.NActions)
            AvailActions = Array.init (t1 * n * spec.NActions) (fun j -> float32 ((i + j) % 2))
            Reward = fill t1 3
            Terminated = i % 2 = 0
            Won = if i % 3 = 0 then None else Some(i % 3 = 1)
        }

    Replay.addMany (Seq.init count episode) (Replay.empty count)

/// The bytes of the episodes' arrays.
let private replayBytes (replay: Replay) =
    Replay.episodes replay
    |> Array.sumBy (fun e ->
        4L
        * int64 (
            e.Obs.Length
            + e.State.Length
            + e.Actions.Length
            + e.AvailActions.Length
            + e.Reward.Length
        ))

/// The bytes allocated on this thread while f runs.
let private allocatedBy (f: unit -> unit) =
    let before = GC.GetAllocatedBytesForCurrentThread()
    f ()
    GC.GetAllocatedBytesForCurrentThread() - before

let ``a save allocates a few hundred KB beyond the buffer, where concatenating allocates the buffer again`` () =
    withTempDir (fun dir ->
        // 400 episodes of 3s5z's sizes: 170 MB of replay
        let replay = syntheticReplay spec3s5z 400
        let bytes = replayBytes replay
        Expect.isTrue (bytes > 160_000_000L) (sprintf "the buffer holds %d bytes" bytes)
        let learner = Learner.builtIn tiny.Learner spec3s5z tiny.Mixer
        let learnerState = Learner.init learner (Rng.key 1UL)

        let ckpt =
            {
                Learner = learnerState
                Replay = replay
                Counters =
                    {
                        Step = 1
                        Episode = 400
                        LastTestStep = 0
                        LastSaveStep = 0
                        Key = Rng.key 2UL
                    }
            }

        let path = Path.Combine(dir, "model")
        // once to compile everything, then measured
        Checkpoint.save path learner "config" ckpt
        let saving = allocatedBy (fun () -> Checkpoint.save path learner "config" ckpt)
        Expect.isTrue (saving < 4_000_000L) (sprintf "the save allocated %d bytes" saving)
        // negative control: the same measurement of the old way (each field concatenated, then written) sees the
        // buffer copied
        let old = Path.Combine(dir, "old.safetensors")
        Safetensors.save old Map.empty (concatenatedReplay replay)

        let concatenating =
            allocatedBy (fun () -> Safetensors.save old Map.empty (concatenatedReplay replay))

        Expect.isTrue (concatenating > bytes) (sprintf "concatenating allocated %d bytes" concatenating)
        File.Delete old
        // loading allocates each episode as the file holds it (padded, one at a time, garbage at once), what the
        // buffer keeps of it, and little else (the old load read the file into one array, then copied it three times)
        let mutable loaded = Unchecked.defaultof<Checkpoint<MixerParams>>
        let loading = allocatedBy (fun () -> loaded <- Checkpoint.load path learner)
        let kept = Replay.bytes replay

        Expect.isTrue
            (loading < bytes + kept + bytes / 10L + 4_000_000L)
            (sprintf "the load allocated %d bytes for %d of padded episodes, %d kept" loading bytes kept)

        Expect.isTrue (replay = loaded.Replay) "the replay buffers differ")

let ``a float16 buffer keeps its precision and its values through a checkpoint`` () =
    withTempDir (fun dir ->
        let exact = syntheticReplay spec3s5z 6
        let half = Replay.restoreWith Float16 6 9L (Replay.episodes exact)
        // negative control: rounding to half changed the values
        Expect.notEqual (Replay.episodes half) (Replay.episodes exact) "float16 rounds the synthetic values"
        let learner = Learner.builtIn tiny.Learner spec3s5z tiny.Mixer

        let ckpt =
            {
                Learner = Learner.init learner (Rng.key 1UL)
                Replay = half
                Counters =
                    {
                        Step = 1
                        Episode = 9
                        LastTestStep = 0
                        LastSaveStep = 0
                        Key = Rng.key 2UL
                    }
            }

        let path = Path.Combine(dir, "model")
        Checkpoint.save path learner "config" ckpt
        let loaded = Checkpoint.load path learner
        Expect.equal (Replay.precision loaded.Replay) Float16 "the precision read back"
        Expect.equal (Replay.totalAdded loaded.Replay) 9L "episodes ever added"
        Expect.isTrue (loaded.Replay = half) "the buffer read back equals the one saved"
        Expect.equal (Replay.bytes loaded.Replay) (Replay.bytes half) "and keeps the same bytes")

[<Tests>]
let tests =
    testList
        "Checkpoint"
        [
            testCase
                "the model file holds exactly the PyTorch state_dict names and shapes, the training file the rest"
                ``the model file holds exactly the PyTorch state_dict names and shapes, the training file the rest``
            testCase
                "the sidecar records the configuration, the counters, the optimiser and the replay buffer"
                ``the sidecar records the configuration, the counters, the optimiser and the replay buffer``
            testCase "a saved checkpoint loads back bit-identical" ``a saved checkpoint loads back bit-identical``
            testCase
                "saveModel and loadModel round-trip the online parameters"
                ``saveModel and loadModel round-trip the online parameters``
            testCase
                "save leaves no temporary file and replaces an earlier checkpoint"
                ``save leaves no temporary file and replaces an earlier checkpoint``
            testCase
                "a crash in the middle of a save leaves the previous checkpoint loadable"
                ``a crash in the middle of a save leaves the previous checkpoint loadable``
            testCase
                "a torn checkpoint is detected and the file named"
                ``a torn checkpoint is detected and the file named``
            testCase
                "a truncated, corrupted or missing file is reported with its name"
                ``a truncated, corrupted or missing file is reported with its name``
            testCase
                "a sidecar with a missing or mistyped field is reported with its name"
                ``a sidecar with a missing or mistyped field is reported with its name``
            testCase
                "loading into a learner of another shape names the tensor and both shapes"
                ``loading into a learner of another shape names the tensor and both shapes``
            testCase
                "another spec, mixer or optimiser is reported clearly"
                ``another spec, mixer or optimiser is reported clearly``
            testCase
                "the replay buffer round-trips in chunks: several, a partial last one, one, and none"
                ``the replay buffer round-trips in chunks: several, a partial last one, one, and none``
            testCase
                "a resumed run continues bit-identically whatever the chunking"
                ``a resumed run continues bit-identically whatever the chunking``
            testCase
                "the chunk layout of a buffer past 2^31 values keeps every tensor small and every offset exact"
                ``the chunk layout of a buffer past 2^31 values keeps every tensor small and every offset exact``
            testCase
                "chunk counts and sizes hold at the ends of the int range"
                ``chunk counts and sizes hold at the ends of the int range``
            testCase "a checkpoint of format version 1 still loads" ``a checkpoint of format version 1 still loads``
            testCase
                "a checkpoint of format version 2 (chunks padded to the limit) still loads"
                ``a checkpoint of format version 2 (chunks padded to the limit) still loads``
            testCase
                "a truncated or corrupted replay chunk is reported with the file and the tensor"
                ``a truncated or corrupted replay chunk is reported with the file and the tensor``
            testCase
                "a save that fails midway leaves the previous checkpoint loadable and no partial file"
                ``a save that fails midway leaves the previous checkpoint loadable and no partial file``
            testCase
                "a first save that fails leaves no checkpoint file at all"
                ``a first save that fails leaves no checkpoint file at all``
            testCase
                "a save blocked by a file in the way is reported and puts the previous checkpoint back"
                ``a save blocked by a file in the way is reported and puts the previous checkpoint back``
            testCase
                "a float16 buffer keeps its precision and its values through a checkpoint"
                ``a float16 buffer keeps its precision and its values through a checkpoint``
            testSequenced (
                testCase
                    "a save allocates a few hundred KB beyond the buffer, where concatenating allocates the buffer again"
                    ``a save allocates a few hundred KB beyond the buffer, where concatenating allocates the buffer again``
            )
        ]
