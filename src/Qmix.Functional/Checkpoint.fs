namespace Qmix.Functional

open System
open System.Collections.Generic
open System.IO
open System.Text.Json
open Qmix.Tensors

/// <summary>The training loop's counters, saved with a checkpoint so that a resumed run continues exactly.</summary>
type Counters =
    {
        /// <summary>Environment steps taken (PyMARL's <c>t_env</c>).</summary>
        Step: int
        /// <summary>Episodes collected.</summary>
        Episode: int
        /// <summary>The step of the last greedy evaluation.</summary>
        LastTestStep: int
        /// <summary>The step of the last checkpoint.</summary>
        LastSaveStep: int
        /// <summary>The random key the next iteration starts from.</summary>
        Key: Key
    }

/// <summary>Everything a resumable checkpoint holds.</summary>
type Checkpoint<'M> =
    {
        /// <summary>Online and target parameters, optimiser state and learner counters.</summary>
        Learner: LearnerState<'M>
        /// <summary>The replay buffer (its episodes, oldest first).</summary>
        Replay: Replay
        /// <summary>The loop's counters.</summary>
        Counters: Counters
    }

/// <summary>A checkpoint's files could not be read as one consistent checkpoint of the expected learner.</summary>
type CheckpointException(message: string, path: string, inner: exn) =
    inherit Exception(sprintf "%s: %s" path message, inner)

    /// <summary>The file that was being read.</summary>
    member _.FilePath = path

/// <summary>A checkpoint could not be written (no space left, no permission, a file in the way, a tensor that
/// cannot be read...). The previous checkpoint at the same path, if there was one, is left as it was and loads; no
/// partial file is left under a checkpoint file's name.</summary>
/// <remarks>An <see cref="T:System.IO.IOException"/>: the message starts with the file being written, and
/// <c>InnerException</c> is the cause.</remarks>
type CheckpointSaveException(message: string, path: string, inner: exn) =
    inherit IOException(sprintf "%s: %s" path message, inner)

    /// <summary>The checkpoint file (under its final name) that was being written or moved into place.</summary>
    member _.FilePath = path

/// <summary>Checkpoints. <c>NAME.safetensors</c> holds the online parameters under PyTorch state_dict names
/// (<c>agent.fc1.weight</c>, <c>mixer.hyper_w_1.0.weight</c>), loadable into PyTorch as they are;
/// <c>NAME.train.safetensors</c> holds the target parameters (<c>target.*</c>), the optimiser state (<c>optim.*</c>)
/// and the replay buffer (<c>replay.*</c>, in chunks of episodes holding the steps they recorded: see
/// <c>recordedLayout</c>); <c>NAME.json</c> is the
/// sidecar with the configuration and the counters. Each file is staged beside its final name and renamed; the
/// sidecar is renamed last and names an id that both tensor files carry, so a torn set is detected on load. Both tensor
/// files record the CRC-32C of every tensor's bytes in their metadata (<c>crc32c:NAME</c>, so PyTorch still loads them),
/// the training file that of the sidecar too, and <c>load</c> checks them all: a damaged file is a
/// <see cref="T:Qmix.Functional.CheckpointException"/> naming the file (and the tensor), never wrong data.</summary>
/// <remarks>The replay buffer is streamed to the file episode by episode and read back the same way, so a save
/// allocates a small constant beyond the buffer itself, and a load little more than the episodes it restores.
/// Checkpoints of format version 2 (chunks padded to the episode limit, <c>replayLayout</c>) and 1 (each replay field
/// one tensor, e.g. <c>replay.obs</c> of shape <c>[count, T+1, N, obs_dim]</c>) are still read.</remarks>
[<RequireQualifiedAccess>]
module Checkpoint =
    /// <summary>The sidecar's format tag.</summary>
    [<Literal>]
    let Format = "qmix-functional/checkpoint"

    /// <summary>The format version written: 3, the replay buffer in chunks of episodes, each holding the steps its
    /// episodes recorded (<c>recordedLayout</c>). Versions 2 (chunks padded to the episode limit,
    /// <c>replayLayout</c>) and 1 (one padded tensor per replay field) are still read.</summary>
    [<Literal>]
    let Version = 3

    /// <summary>The most bytes a replay chunk tensor holds in a checkpoint written by <c>save</c>: 16 MiB (unless
    /// one episode's field alone is larger).</summary>
    [<Literal>]
    let ChunkBytes = 16_777_216L

    /// <summary>The training file's metadata key for the CRC-32C of the sidecar's bytes (8 hexadecimal digits).</summary>
    [<Literal>]
    let SidecarChecksumKey = "sidecar_crc32c"

    /// <summary>The three file paths for a checkpoint path (with or without <c>.safetensors</c>).</summary>
    let paths (path: string) : string * string * string =
        let stem =
            if path.EndsWith(".safetensors", StringComparison.Ordinal) then
                path.Substring(0, path.Length - ".safetensors".Length)
            else
                path

        stem + ".safetensors", stem + ".train.safetensors", stem + ".json"

    let private optimTensors (optim: OptimState<QParams<'M>>) =
        let prefixed (prefix: string) (tree: QParams<'M>) =
            Tree.named tree |> Array.map (fun (n, t) -> prefix + n, t)

        match optim with
        | RmsPropState s ->
            "rmsprop",
            s.Step,
            Array.append (prefixed "optim.square_avg." s.SquareAvg) (prefixed "optim.momentum_buffer." s.MomentumBuffer)
        | AdamState s ->
            "adam", s.Step, Array.append (prefixed "optim.exp_avg." s.ExpAvg) (prefixed "optim.exp_avg_sq." s.ExpAvgSq)

    // ---------------------------------------------------------------- the replay buffer's layout

    /// The replay fields in file order, with the dimensions of one episode's part.
    let private replayFields (spec: EnvSpec) =
        let t1 = spec.EpisodeLimit + 1

        [|
            "obs", [| t1; spec.NAgents; spec.ObsDim |]
            "state", [| t1; spec.StateDim |]
            "actions", [| t1; spec.NAgents |]
            "avail_actions", [| t1; spec.NAgents; spec.NActions |]
            "reward", [| t1 |]
            "length", [||]
            "terminated", [||]
            "won", [||]
        |]

    /// The number of values of one episode's part of a field.
    let private perEpisode (dims: int[]) =
        Array.fold (fun n d -> n * int64 d) 1L dims

    /// <summary>The episodes per replay chunk that <c>save</c> uses for a spec: as many as keep the chunk of the
    /// widest field (obs, state or avail_actions) within <c>ChunkBytes</c>, and at least 1.</summary>
    /// <param name="spec">The environment's sizes.</param>
    let chunkEpisodes (spec: EnvSpec) : int =
        let widest = replayFields spec |> Array.map (snd >> perEpisode) |> Array.max
        int (max 1L (min (int64 Int32.MaxValue) (ChunkBytes / (4L * max 1L widest))))

    /// <summary>The name of a replay tensor: <c>replay.FIELD.CHUNK</c>, e.g. <c>replay.obs.0</c>.</summary>
    /// <param name="field">The field: obs, state, actions, avail_actions, reward, length, terminated or won.</param>
    /// <param name="chunk">The chunk's index, from 0.</param>
    let replayTensorName (field: string) (chunk: int) : string = sprintf "replay.%s.%d" field chunk

    /// The chunks of a buffer: (index, first episode, episodes), oldest first.
    let private chunks (count: int) (chunkEpisodes: int) =
        let n = (int64 count + int64 chunkEpisodes - 1L) / int64 chunkEpisodes

        Array.init (int n) (fun k ->
            let start = int64 k * int64 chunkEpisodes
            k, int start, int (min (int64 chunkEpisodes) (int64 count - start)))

    /// <summary>The replay tensors of a checkpoint holding <paramref name="count"/> episodes in chunks of
    /// <paramref name="chunkEpisodes"/>, in file order. Chunk k holds episodes <c>k·C</c> up to (not including)
    /// <c>min((k+1)·C, count)</c>, oldest first, so only the last chunk may be shorter. For each chunk, in this
    /// order: <c>replay.obs.k</c> [E, T+1, N, obs_dim], <c>replay.state.k</c> [E, T+1, state_dim],
    /// <c>replay.actions.k</c> [E, T+1, N] (as float32), <c>replay.avail_actions.k</c> [E, T+1, N, A],
    /// <c>replay.reward.k</c> [E, T+1], <c>replay.length.k</c> [E], <c>replay.terminated.k</c> [E] (1 or 0) and
    /// <c>replay.won.k</c> [E] (1 won, 0 lost, −1 not reported), where E is the chunk's number of episodes and
    /// T = episode_limit. An empty buffer has no replay tensors.</summary>
    /// <param name="spec">The environment's sizes.</param>
    /// <param name="count">The number of episodes held.</param>
    /// <param name="chunkEpisodes">The episodes per chunk, at least 1.</param>
    /// <exception cref="System.ArgumentException"><paramref name="count"/> is negative or
    /// <paramref name="chunkEpisodes"/> less than 1.</exception>
    let replayLayout (spec: EnvSpec) (count: int) (chunkEpisodes: int) : (string * Shape)[] =
        if count < 0 then
            invalidArg (nameof count) (sprintf "the count of episodes must not be negative, got %d" count)

        if chunkEpisodes < 1 then
            invalidArg (nameof chunkEpisodes) (sprintf "a chunk holds at least 1 episode, got %d" chunkEpisodes)

        [|
            for k, _, episodes in chunks count chunkEpisodes do
                for field, dims in replayFields spec do
                    replayTensorName field k, Shape(Array.append [| episodes |] dims)
        |]

    /// The replay fields of format version 3 that hold one row per recorded step, with the dimensions of a row.
    let private rowFields (spec: EnvSpec) =
        [|
            "obs", [| spec.NAgents; spec.ObsDim |]
            "state", [| spec.StateDim |]
            "actions", [| spec.NAgents |]
            "avail_actions", [| spec.NAgents; spec.NActions |]
            "reward", [||]
        |]

    /// The replay fields of format version 3 that hold one value per episode.
    let private episodeFields = [| "length"; "terminated"; "won" |]

    /// <summary>The replay tensors of a checkpoint (format version 3, what <c>save</c> writes) holding episodes of
    /// the given lengths in chunks of <paramref name="chunkEpisodes"/>, in file order. Chunk k holds episodes
    /// <c>k·C</c> up to (not including) <c>(k+1)·C</c>, oldest first: <c>replay.obs.k</c> <c>[R, N, obs_dim]</c>,
    /// <c>replay.state.k</c> <c>[R, state_dim]</c>, <c>replay.actions.k</c> <c>[R, N]</c>,
    /// <c>replay.avail_actions.k</c> <c>[R, N, A]</c> and <c>replay.reward.k</c> <c>[R]</c>, whose R rows are the
    /// episodes' recorded steps one after another (L + 1 rows for an episode of length L: no padding to the limit),
    /// then <c>replay.length.k</c>, <c>replay.terminated.k</c> and <c>replay.won.k</c>, one value per
    /// episode.</summary>
    /// <param name="spec">The environment's sizes.</param>
    /// <param name="lengths">The episodes' lengths, oldest first, each in 1..episode_limit.</param>
    /// <param name="chunkEpisodes">The episodes per chunk, at least 1.</param>
    /// <exception cref="System.ArgumentException">A length is out of range, a chunk holds more than 2^31 − 1 rows,
    /// or <paramref name="chunkEpisodes"/> is less than 1.</exception>
    let recordedLayout (spec: EnvSpec) (lengths: int[]) (chunkEpisodes: int) : (string * Shape)[] =
        if isNull lengths then
            nullArg (nameof lengths)

        if chunkEpisodes < 1 then
            invalidArg (nameof chunkEpisodes) (sprintf "a chunk holds at least 1 episode, got %d" chunkEpisodes)

        lengths
        |> Array.iteri (fun i l ->
            if l < 1 || l > spec.EpisodeLimit then
                invalidArg (nameof lengths) (sprintf "episode %d: length %d is outside 1..%d" i l spec.EpisodeLimit))

        [|
            for k, start, episodes in chunks lengths.Length chunkEpisodes do
                let mutable rows = 0L

                for i in start .. start + episodes - 1 do
                    rows <- rows + int64 lengths[i] + 1L

                if rows > int64 Int32.MaxValue then
                    invalidArg (nameof chunkEpisodes) (sprintf "chunk %d would hold %d rows, more than 2^31 - 1" k rows)

                for field, dims in rowFields spec do
                    replayTensorName field k, Shape(Array.append [| int rows |] dims)

                for field in episodeFields do
                    replayTensorName field k, Shape [| episodes |]
        |]

    /// The replay's tensors as sources that stream each episode's arrays to the file, matching replayLayout.
    let private replaySources (spec: EnvSpec) (replay: Replay) (chunkEpisodes: int) : TensorSource[] =
        let count = Replay.count replay

        let shapes =
            recordedLayout
                spec
                (Array.init count (fun i -> StoredEpisode.length (Replay.stored i replay)))
                chunkEpisodes

        // the stored episodes stream their recorded rows through one small buffer
        let scratch = Array.zeroCreate<float32> 16384

        let writers: (TensorSink -> StoredEpisode -> unit)[] =
            [|
                for field, _ in rowFields spec do
                    fun sink e -> StoredEpisode.writeRecorded sink scratch field e
                fun sink e -> sink.Write(float32 e.length)
                fun sink e -> sink.Write(if e.terminated then 1.0f else 0.0f)
                fun sink e ->
                    sink.Write(
                        match e.won with
                        | None -> -1.0f
                        | Some false -> 0.0f
                        | Some true -> 1.0f
                    )
            |]

        [|
            for k, start, episodes in chunks count chunkEpisodes do
                for f in 0 .. writers.Length - 1 do
                    let name, shape = shapes[k * writers.Length + f]

                    {
                        Name = name
                        Shape = shape
                        Write =
                            fun sink ->
                                for i in start .. start + episodes - 1 do
                                    writers[f] sink (Replay.stored i replay)
                    }
        |]

    // ---------------------------------------------------------------- saving

    let private writeSidecar
        (stream: Stream)
        (id: string)
        (learner: Learner<'M>)
        (configText: string)
        (ckpt: Checkpoint<'M>)
        (optimKind: string)
        (optimStep: int)
        (chunkEpisodes: int)
        =
        use w = new Utf8JsonWriter(stream, JsonWriterOptions(Indented = true))
        let s = learner.Spec
        w.WriteStartObject()
        w.WriteString("format", Format)
        w.WriteNumber("version", Version)
        w.WriteString("id", id)
        w.WriteString("checksums", "crc32c")
        w.WriteStartObject "spec"
        w.WriteString("name", s.Name)
        w.WriteNumber("n_agents", s.NAgents)
        w.WriteNumber("n_actions", s.NActions)
        w.WriteNumber("obs_dim", s.ObsDim)
        w.WriteNumber("state_dim", s.StateDim)
        w.WriteNumber("episode_limit", s.EpisodeLimit)
        w.WriteEndObject()
        w.WriteString("mixer", learner.Mixer.Name)
        w.WriteString("config", configText)
        w.WriteStartObject "counters"
        w.WriteNumber("step", ckpt.Counters.Step)
        w.WriteNumber("episode", ckpt.Counters.Episode)
        w.WriteNumber("last_test_step", ckpt.Counters.LastTestStep)
        w.WriteNumber("last_save_step", ckpt.Counters.LastSaveStep)
        let k0, k1 = Rng.toWords ckpt.Counters.Key
        w.WriteString("key", sprintf "%016x%016x" k0 k1)
        w.WriteEndObject()
        w.WriteStartObject "learner"
        w.WriteNumber("updates", ckpt.Learner.Updates)
        w.WriteNumber("last_target_update_episode", ckpt.Learner.LastTargetUpdateEpisode)
        w.WriteEndObject()
        w.WriteStartObject "optimiser"
        w.WriteString("kind", optimKind)
        w.WriteNumber("step", optimStep)
        w.WriteEndObject()
        w.WriteStartObject "replay"
        w.WriteNumber("capacity", Replay.capacity ckpt.Replay)
        w.WriteNumber("count", Replay.count ckpt.Replay)
        w.WriteNumber("total_added", Replay.totalAdded ckpt.Replay)
        w.WriteNumber("chunk_episodes", chunkEpisodes)

        w.WriteString(
            "precision",
            match Replay.precision ckpt.Replay with
            | Float32 -> "float32"
            | Float16 -> "float16"
        )

        w.WriteEndObject()
        w.WriteEndObject()
        w.Flush()

    /// <summary>Writes the online parameters alone (<c>NAME.safetensors</c>, PyTorch names), e.g. to hand a trained
    /// policy on.</summary>
    /// <exception cref="Qmix.Functional.CheckpointSaveException">The file cannot be written; an earlier file at the
    /// path is left as it was.</exception>
    let saveModel (path: string) (parameters: QParams<'M>) : unit =
        let model, _, _ = paths path

        try
            let sources =
                Tree.named parameters |> Array.map (fun (n, t) -> TensorSource.ofTensor n t)

            Safetensors.saveStreamed model (Safetensors.withChecksums (Map [ "format", "pt" ]) sources) sources
        with
        | :? ArgumentException
        | :? OutOfMemoryException -> reraise ()
        | e -> raise (CheckpointSaveException(sprintf "cannot save the model: %s" e.Message, model, e))

    /// <summary>Reads parameters written by <see cref="M:Qmix.Functional.Checkpoint.saveModel"/> (or a PyTorch
    /// state_dict saved with safetensors) into the learner's parameter layout.</summary>
    /// <exception cref="Qmix.Functional.CheckpointException">A tensor is missing, unexpected, or of the wrong shape
    /// (the message names it and both shapes), or the file is not a safetensors file.</exception>
    let loadModel (path: string) (learner: Learner<'M>) : QParams<'M> =
        let model, _, _ = paths path

        try
            let file = Safetensors.load model
            Tree.ofNamed (Learner.initParams learner (Rng.key 0UL)) file.Tensors
        with
        | :? ArgumentException as e -> raise (CheckpointException(e.Message, model, e))
        | :? SafetensorsException as e -> raise (CheckpointException(e.Message, model, e))
        | :? IOException as e -> raise (CheckpointException(e.Message, model, e))

    // saves begun by this process, for the test hook below
    let mutable private savesBegun = 0

    /// The crash tests' hook: QMIX_TEST_SAVE_PAUSE = "N:POINT:FILE" makes the process's N-th save (from 1) create
    /// FILE and wait there forever, for the test to kill the process at a known point of the save: "staged" (the new
    /// training file written beside the previous set) or "swapping" (the previous set moved aside as .bak, the new
    /// one not in place yet). Unset, it costs one environment read per save.
    let private pauseFor (save: int) (point: string) =
        match Environment.GetEnvironmentVariable "QMIX_TEST_SAVE_PAUSE" with
        | null
        | "" -> ()
        | hook ->
            match hook.Split(':', 3) with
            | [| n; p; file |] when p = point && n = string save ->
                File.WriteAllText(file, point)
                Threading.Thread.Sleep Threading.Timeout.Infinite
            | _ -> ()

    /// The default way to open a staged file: created (or truncated) for writing.
    let private createFile (path: string) : Stream =
        new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 <<< 16)

    /// Writes a checkpoint, opening each staged file with `create` (tests pass streams that fail).
    let internal saveWith
        (create: string -> Stream)
        (chunkEpisodes: int)
        (path: string)
        (learner: Learner<'M>)
        (configText: string)
        (ckpt: Checkpoint<'M>)
        : unit =
        if String.IsNullOrEmpty path then
            invalidArg (nameof path) "the checkpoint path is null or empty"

        if chunkEpisodes < 1 then
            invalidArg (nameof chunkEpisodes) (sprintf "a chunk holds at least 1 episode, got %d" chunkEpisodes)

        match Replay.spec ckpt.Replay with
        | Some s when s <> learner.Spec ->
            invalidArg
                (nameof ckpt)
                (sprintf "the replay buffer holds episodes of %A, but the learner is for %A" s learner.Spec)
        | _ -> ()

        let model, train, sidecar = paths path
        let files = [ train; model; sidecar ]
        let save = Threading.Interlocked.Increment &savesBegun
        let staged (f: string) = f + ".new"
        let backup (f: string) = f + ".bak"
        // the file being written or moved, named when something fails
        let mutable current = train

        let failed (e: exn) =
            CheckpointSaveException(
                sprintf "cannot save the checkpoint (%s); the previous checkpoint, if any, is kept" e.Message,
                current,
                e
            )

        // 1. stage the new set beside the old one: NAME.train.safetensors.new, NAME.safetensors.new, NAME.json.new
        try
            match Path.GetDirectoryName(Path.GetFullPath model) with
            | null -> ()
            | dir -> Directory.CreateDirectory dir |> ignore

            let id = Guid.NewGuid().ToString("N")
            let meta = Map [ "format", "pt"; "checkpoint_id", id ]
            let optimKind, optimStep, optimT = optimTensors ckpt.Learner.Optim

            let stage (file: string) (write: Stream -> unit) =
                current <- file
                use stream = create (staged file)
                write stream
                stream.Flush()

                match stream with
                | :? FileStream as fs -> fs.Flush true
                | _ -> ()

            let trainSources =
                Array.concat
                    [
                        Tree.named ckpt.Learner.Target
                        |> Array.map (fun (n, t) -> TensorSource.ofTensor ("target." + n) t)
                        optimT |> Array.map (fun (n, t) -> TensorSource.ofTensor n t)
                        replaySources learner.Spec ckpt.Replay chunkEpisodes
                    ]

            // the sidecar's bytes first: the training file records their checksum
            let sidecarBytes =
                use m = new MemoryStream()
                writeSidecar m id learner configText ckpt optimKind optimStep chunkEpisodes
                m.ToArray()

            let trainMeta =
                Safetensors.withChecksums
                    (meta.Add(SidecarChecksumKey, Crc32c.format (Crc32c.ofBytes (ReadOnlySpan sidecarBytes))))
                    trainSources

            stage train (fun s -> Safetensors.write s trainMeta trainSources)
            pauseFor save "staged"

            let modelSources =
                Tree.named ckpt.Learner.Params
                |> Array.map (fun (n, t) -> TensorSource.ofTensor n t)

            stage model (fun s -> Safetensors.write s (Safetensors.withChecksums meta modelSources) modelSources)

            stage sidecar (fun s -> s.Write(sidecarBytes, 0, sidecarBytes.Length))
        with e ->
            for f in files do
                try
                    File.Delete(staged f)
                with _ ->
                    ()

            match e with
            | :? OutOfMemoryException -> reraise ()
            | _ -> raise (failed e)

        // 2. swap it in, keeping the previous set as .bak until the new sidecar is in place: a crash at any point
        // leaves a loadable checkpoint (load falls back to the .bak files that carry the sidecar's id); a failure
        // puts the previous set back
        let movedAside = Collections.Generic.HashSet<string>()
        let movedIn = Collections.Generic.HashSet<string>()

        try
            for f in files do
                current <- f

                if File.Exists f then
                    File.Move(f, backup f, true)
                    movedAside.Add f |> ignore

            pauseFor save "swapping"

            for f in files do
                current <- f
                File.Move(staged f, f, true)
                movedIn.Add f |> ignore
        with e ->
            for f in files do
                try
                    if movedAside.Contains f then
                        File.Move(backup f, f, true)
                    elif movedIn.Contains f then
                        File.Delete f

                    File.Delete(staged f)
                with _ ->
                    ()

            raise (failed e)

        // 3. the new set is in place; the old one can go (a leftover .bak is harmless: load never prefers it)
        for f in files do
            try
                File.Delete(backup f)
            with _ ->
                ()

    /// <summary>Writes a resumable checkpoint with the replay buffer in chunks of a given number of episodes (see
    /// <c>replayLayout</c>).</summary>
    /// <param name="chunkEpisodes">The episodes per replay chunk, at least 1.</param>
    /// <param name="path">The checkpoint path, e.g. <c>runs/3m/model</c> (directories are created).</param>
    /// <param name="learner">The learner (its spec and mixer name are recorded).</param>
    /// <param name="configText">The configuration, as text, recorded in the sidecar.</param>
    /// <param name="ckpt">What to save.</param>
    /// <exception cref="System.ArgumentException">The path is empty, <paramref name="chunkEpisodes"/> is less than
    /// 1, or the replay buffer's episodes are of another spec than the learner's.</exception>
    /// <exception cref="Qmix.Functional.CheckpointSaveException">The checkpoint could not be written (the message
    /// names the file and the cause, which is the inner exception). The previous checkpoint at the path, if any, is
    /// left as it was and loads.</exception>
    let saveChunked
        (chunkEpisodes: int)
        (path: string)
        (learner: Learner<'M>)
        (configText: string)
        (ckpt: Checkpoint<'M>)
        : unit =
        saveWith createFile chunkEpisodes path learner configText ckpt

    /// <summary>Writes a resumable checkpoint: model, training state and sidecar (see the module summary), the
    /// replay buffer in chunks of <c>chunkEpisodes learner.Spec</c> episodes. Files are staged beside their final
    /// names (<c>.new</c>) and renamed into place, the sidecar last.</summary>
    /// <param name="path">The checkpoint path, e.g. <c>runs/3m/model</c> (directories are created).</param>
    /// <param name="learner">The learner (its spec and mixer name are recorded).</param>
    /// <param name="configText">The configuration, as text, recorded in the sidecar.</param>
    /// <param name="ckpt">What to save.</param>
    /// <exception cref="System.ArgumentException">The path is empty, or the replay buffer's episodes are of another
    /// spec than the learner's.</exception>
    /// <exception cref="Qmix.Functional.CheckpointSaveException">The checkpoint could not be written (the message
    /// names the file and the cause, which is the inner exception). The previous checkpoint at the path, if any, is
    /// left as it was and loads.</exception>
    let save (path: string) (learner: Learner<'M>) (configText: string) (ckpt: Checkpoint<'M>) : unit =
        saveChunked (chunkEpisodes learner.Spec) path learner configText ckpt

    /// <summary>Puts back the previous checkpoint after a process died while a save was swapping files (the
    /// previous set moved aside as <c>.bak</c>, the new sidecar not in place): each <c>.bak</c> file goes back to its
    /// name, so that the checkpoint is whole again under its own names (<c>load</c> reads such a checkpoint as it is,
    /// but other tools look for the files by name). Does nothing when the sidecar is in place.</summary>
    /// <param name="path">The checkpoint path, with or without <c>.safetensors</c>.</param>
    /// <returns>Whether files were put back.</returns>
    /// <exception cref="System.IO.IOException">A file cannot be moved.</exception>
    let recover (path: string) : bool =
        let model, train, sidecar = paths path

        if File.Exists sidecar || not (File.Exists(sidecar + ".bak")) then
            false
        else
            for f in [ train; model; sidecar ] do
                if File.Exists(f + ".bak") then
                    File.Move(f + ".bak", f, true)

            true

    // ---------------------------------------------------------------- loading

    let private fail (path: string) (message: string) =
        raise (CheckpointException(message, path, null))

    /// The error for a value of a replay tensor that no episode can hold, naming the file, the tensor and the
    /// episode's index in its chunk.
    let private badValue (path: string) (tensor: string) (j: int) (what: string) : exn =
        CheckpointException(sprintf "replay tensor '%s', episode %d of the chunk: %s" tensor j what, path, null)

    /// An episode's length as a file holds it: an integer in 1..episode_limit.
    let private lengthOf (spec: EnvSpec) (bad: string -> exn) (l: float32) : int =
        if l <> floor l || l < 1.0f || l > float32 spec.EpisodeLimit then
            raise (bad (sprintf "%g is not a length in 1..%d" l spec.EpisodeLimit))

        int l

    /// An episode's termination flag as a file holds it: 0 or 1.
    let private terminatedOf (bad: string -> exn) (t: float32) : bool =
        if t <> 0.0f && t <> 1.0f then
            raise (bad (sprintf "%g is neither 0 nor 1" t))

        t = 1.0f

    /// An episode's outcome as a file holds it: 1 won, 0 lost, -1 not reported.
    let private wonOf (bad: string -> exn) (w: float32) : bool option =
        match w with
        | 1.0f -> Some true
        | 0.0f -> Some false
        | -1.0f -> None
        | w -> raise (bad (sprintf "%g is none of 1 (won), 0 (lost) and -1 (not reported)" w))

    /// An episode's actions as a file holds them (float32): integers in 0..A−1.
    let private actionsOf (nActions: int) (bad: string -> exn) (values: float32[]) : int[] =
        values
        |> Array.mapi (fun i v ->
            if v <> floor v || v < 0.0f || v >= float32 nActions then
                raise (bad (sprintf "value %d is %g; actions are integers in 0..%d" i v (nActions - 1)))

            int v)

    /// Fails on a replay tensor of the file that is not among the expected names.
    let private refuseUnexpected
        (r: SafetensorsReader)
        (expected: Collections.Generic.HashSet<string>)
        (count: int)
        (chunkEpisodes: int)
        =
        for e in r.Entries do
            if
                e.Name.StartsWith("replay.", StringComparison.Ordinal)
                && not (expected.Contains e.Name)
            then
                fail
                    r.Path
                    (sprintf
                        "unexpected replay tensor '%s': the sidecar records %d episodes in chunks of %d"
                        e.Name
                        count
                        chunkEpisodes)

    /// Reads the replay buffer of a version 3 training file, episode by episode: each chunk's lengths first (they give
    /// the row tensors' shapes), then each episode's recorded rows, into the padded arrays of an Episode that the
    /// buffer compacts as it takes it.
    let private restoreRecordedReplay
        (r: SafetensorsReader)
        (spec: EnvSpec)
        (count: int)
        (chunkEpisodes: int)
        (capacity: int)
        (total: int64)
        (precision: ReplayPrecision)
        =
        let file = r.Path
        let t1 = spec.EpisodeLimit + 1
        let n, a = spec.NAgents, spec.NActions
        let expected = Collections.Generic.HashSet<string>(StringComparer.Ordinal)

        let check (name: string) (shape: Shape) (what: string) =
            expected.Add name |> ignore

            match r.TryFindEntry name with
            | None -> fail file (sprintf "the training file has no tensor '%s'" name)
            | Some e when e.Shape <> shape ->
                fail file (sprintf "replay tensor '%s' has shape %O, expected %O (%s)" name e.Shape shape what)
            | Some _ -> ()

        // every chunk's per-episode values, checked, and the shapes of its row tensors
        let perChunk =
            [|
                for k, _, episodes in chunks count chunkEpisodes do
                    let whole (field: string) =
                        let name = replayTensorName field k
                        check name (Shape [| episodes |]) (sprintf "%d episodes" episodes)
                        let values = Array.zeroCreate<float32> episodes
                        r.ReadInto(name, 0L, Span values)
                        values

                    let lengths, terminated, won = whole "length", whole "terminated", whole "won"

                    let bad (field: string) (j: int) =
                        badValue file (replayTensorName field k) j

                    let mutable rows = 0L

                    for j in 0 .. episodes - 1 do
                        let l = lengthOf spec (bad "length" j) lengths[j]
                        terminatedOf (bad "terminated" j) terminated[j] |> ignore
                        wonOf (bad "won" j) won[j] |> ignore
                        rows <- rows + int64 l + 1L

                    if rows > int64 Int32.MaxValue then
                        raise (bad "length" 0 (sprintf "the chunk's %d recorded rows exceed 2^31 - 1" rows))

                    for field, dims in rowFields spec do
                        check
                            (replayTensorName field k)
                            (Shape(Array.append [| int rows |] dims))
                            (sprintf "%d episodes of %s, %d recorded steps" episodes spec.Name rows)

                    k, lengths, terminated, won
            |]

        refuseUnexpected r expected count chunkEpisodes

        let episodes =
            seq {
                for k, lengths, terminated, won in perChunk do
                    let bad (field: string) (j: int) =
                        badValue file (replayTensorName field k) j

                    let row = ref 0L

                    for j in 0 .. lengths.Length - 1 do
                        let length = int lengths[j]
                        let kept = length + 1

                        let part (field: string) (width: int) =
                            let values = Array.zeroCreate<float32>(t1 * width)
                            r.ReadInto(replayTensorName field k, row.Value * int64 width, Span(values, 0, kept * width))
                            values

                        let actions = part "actions" n |> actionsOf a (bad "actions" j)

                        let episode =
                            {
                                Spec = spec
                                Length = length
                                Obs = part "obs" (n * spec.ObsDim)
                                State = part "state" spec.StateDim
                                Actions = actions
                                AvailActions = part "avail_actions" (n * a)
                                Reward = part "reward" 1
                                Terminated = terminated[j] = 1.0f
                                Won = wonOf (bad "won" j) won[j]
                            }

                        row.Value <- row.Value + int64 kept
                        yield episode
            }

        Replay.restoreWith precision capacity total episodes

    /// Reads the replay buffer from the training file, episode by episode straight into the episodes' arrays.
    /// Version 1 files hold one chunk of all the episodes, under names without a chunk index.
    let private restoreReplay
        (r: SafetensorsReader)
        (spec: EnvSpec)
        (version: int)
        (count: int)
        (chunkEpisodes: int)
        (capacity: int)
        (total: int64)
        (precision: ReplayPrecision)
        =
        let fields = replayFields spec
        let file = r.Path

        let layout =
            [|
                for k, start, episodes in chunks count chunkEpisodes do
                    let name (field: string) =
                        if version = 1 then
                            "replay." + field
                        else
                            replayTensorName field k

                    k, start, episodes, name
            |]

        // exactly the expected replay tensors, each of its expected shape
        let expected = Collections.Generic.HashSet<string>(StringComparer.Ordinal)

        for _, _, episodes, name in layout do
            for field, dims in fields do
                let n = name field
                expected.Add n |> ignore
                let shape = Shape(Array.append [| episodes |] dims)

                match r.TryFindEntry n with
                | None -> fail file (sprintf "the training file has no tensor '%s'" n)
                | Some e when e.Shape <> shape ->
                    fail
                        file
                        (sprintf
                            "replay tensor '%s' has shape %O, expected %O (%d episodes of %s)"
                            n
                            e.Shape
                            shape
                            episodes
                            spec.Name)
                | Some _ -> ()

        refuseUnexpected r expected count chunkEpisodes

        let t1 = spec.EpisodeLimit + 1
        let n, a = spec.NAgents, spec.NActions
        let sizes = fields |> Array.map (snd >> perEpisode >> int)
        let actionValues = Array.zeroCreate<float32>(t1 * n)

        let episodes =
            seq {
                for _, _, chunkCount, name in layout do
                    let whole (field: string) =
                        let values = Array.zeroCreate<float32> chunkCount
                        r.ReadInto(name field, 0L, Span values)
                        values

                    let lengths, terminated, won = whole "length", whole "terminated", whole "won"

                    let bad (field: string) (j: int) = badValue file (name field) j

                    for j in 0 .. chunkCount - 1 do
                        let part (f: int) =
                            let values = Array.zeroCreate<float32> sizes[f]
                            r.ReadInto(name (fst fields[f]), int64 j * int64 sizes[f], Span values)
                            values

                        r.ReadInto(name "actions", int64 j * int64 actionValues.Length, Span actionValues)

                        let actions = actionsOf a (bad "actions" j) actionValues
                        let length = lengthOf spec (bad "length" j) lengths[j]
                        let isTerminated = terminatedOf (bad "terminated" j) terminated[j]

                        yield
                            {
                                Spec = spec
                                Length = length
                                Obs = part 0
                                State = part 1
                                Actions = actions
                                AvailActions = part 3
                                Reward = part 4
                                Terminated = isTerminated
                                Won = wonOf (bad "won" j) won[j]
                            }
            }

        Replay.restoreWith precision capacity total episodes

    /// Reads a checkpoint; verify = false skips every checksum (the negative control of the integrity tests).
    let internal loadWith (verify: bool) (path: string) (learner: Learner<'M>) : Checkpoint<'M> =
        let model, train, sidecar = paths path

        // after a crash during a save the previous sidecar may still be waiting as .bak
        let sidecar =
            if File.Exists sidecar then sidecar
            elif File.Exists(sidecar + ".bak") then sidecar + ".bak"
            else fail sidecar "no checkpoint sidecar here"

        let wrap (file: string) (f: unit -> 'T) =
            try
                f ()
            with
            | :? CheckpointException -> reraise ()
            | :? ArgumentException as e -> raise (CheckpointException(e.Message, file, e))
            | :? SafetensorsException as e -> raise (CheckpointException(e.Message, file, e))
            | :? JsonException as e -> raise (CheckpointException("not a checkpoint sidecar: " + e.Message, file, e))
            | :? KeyNotFoundException as e -> raise (CheckpointException("missing field: " + e.Message, file, e))
            | :? IOException as e -> raise (CheckpointException(e.Message, file, e))

        let sidecarBytes = wrap sidecar (fun () -> File.ReadAllBytes sidecar)

        if not (Text.Unicode.Utf8.IsValid(ReadOnlySpan sidecarBytes)) then
            fail sidecar "not a checkpoint sidecar: the file is not valid UTF-8 text (corrupt?)"

        use doc =
            wrap sidecar (fun () ->
                let bom = Text.Encoding.UTF8.Preamble.Length

                let start =
                    if ReadOnlySpan(sidecarBytes).StartsWith(Text.Encoding.UTF8.Preamble) then
                        bom
                    else
                        0

                JsonDocument.Parse(ReadOnlyMemory(sidecarBytes, start, sidecarBytes.Length - start)))

        let root = doc.RootElement

        // the sidecar's fields, all read before any tensor file: a missing or mistyped one names the sidecar
        let prop (e: JsonElement) (name: string) =
            if e.ValueKind <> JsonValueKind.Object then
                fail sidecar (sprintf "not a Qmix.Functional checkpoint sidecar: expected an object with '%s'" name)

            match e.TryGetProperty name with
            | true, v -> v
            | _ -> fail sidecar (sprintf "the sidecar has no field '%s'" name)

        let wrong (name: string) (what: string) (v: JsonElement) =
            fail sidecar (sprintf "the sidecar's field '%s' should be %s, found %s" name what (v.GetRawText()))

        let text (e: JsonElement) (name: string) =
            match prop e name with
            | v when v.ValueKind = JsonValueKind.String -> v.GetString()
            | v -> wrong name "a string" v

        let int64Of (e: JsonElement) (name: string) =
            match prop e name with
            | v when v.ValueKind = JsonValueKind.Number ->
                match v.TryGetInt64() with
                | true, x -> x
                | _ -> wrong name "an integer" v
            | v -> wrong name "an integer" v

        let int32Of (e: JsonElement) (name: string) =
            match int64Of e name with
            | x when x >= int64 Int32.MinValue && x <= int64 Int32.MaxValue -> int x
            | _ -> wrong name "a 32-bit integer" (prop e name)

        if text root "format" <> Format then
            fail sidecar "not a Qmix.Functional checkpoint sidecar"

        let version = int32Of root "version"

        if version < 1 || version > Version then
            fail
                sidecar
                (sprintf
                    "checkpoint format version %d is not supported: this library reads versions 1 to %d"
                    version
                    Version)

        let id = text root "id"

        // a sidecar that says so has a checksum on every tensor and its own in the training file
        let checksummed =
            match root.TryGetProperty "checksums" with
            | _ when version < 2 -> false // written before checksums (and rewritten by hand, as the tests do)
            | true, v when v.ValueKind = JsonValueKind.String && v.GetString() = "crc32c" -> true
            | true, v -> wrong "checksums" "\"crc32c\"" v
            | _ -> false

        let spec = prop root "spec"

        let savedSpec =
            {
                Name = text spec "name"
                NAgents = int32Of spec "n_agents"
                NActions = int32Of spec "n_actions"
                ObsDim = int32Of spec "obs_dim"
                StateDim = int32Of spec "state_dim"
                EpisodeLimit = int32Of spec "episode_limit"
            }

        let mixer = text root "mixer"
        let opt = prop root "optimiser"
        let optKind, optStep = text opt "kind", int32Of opt "step"
        let counters = prop root "counters"
        let keyText = text counters "key"

        let key =
            let bad () =
                wrong "key" "32 hexadecimal digits" (prop counters "key")

            let word (i: int) =
                match
                    UInt64.TryParse(
                        keyText.AsSpan(16 * i, 16),
                        Globalization.NumberStyles.AllowHexSpecifier,
                        Globalization.CultureInfo.InvariantCulture
                    )
                with
                | true, w -> w
                | _ -> bad ()

            if keyText.Length <> 32 then
                bad ()

            Rng.ofWords (word 0) (word 1)

        let loopCounters =
            {
                Step = int32Of counters "step"
                Episode = int32Of counters "episode"
                LastTestStep = int32Of counters "last_test_step"
                LastSaveStep = int32Of counters "last_save_step"
                Key = key
            }

        let learnerJson = prop root "learner"
        let updates = int32Of learnerJson "updates"
        let lastTargetUpdate = int32Of learnerJson "last_target_update_episode"
        let replayJson = prop root "replay"

        let capacity, count, totalAdded =
            int32Of replayJson "capacity", int32Of replayJson "count", int64Of replayJson "total_added"

        if count < 0 || count > capacity then
            wrong "count" (sprintf "a count of episodes in 0..%d (the capacity)" capacity) (prop replayJson "count")

        // written since the buffer has a precision; older checkpoints stored their replay exactly
        let precision =
            match replayJson.TryGetProperty "precision" with
            | true, v when v.ValueKind = JsonValueKind.String && v.GetString() = "float32" -> Float32
            | true, v when v.ValueKind = JsonValueKind.String && v.GetString() = "float16" -> Float16
            | true, v -> wrong "precision" "\"float32\" or \"float16\"" v
            | _ -> Float32

        // version 1 holds the whole buffer as one chunk
        let chunkSize =
            if version = 1 then
                max 1 count
            else
                match int32Of replayJson "chunk_episodes" with
                | c when c >= 1 -> c
                | _ -> wrong "chunk_episodes" "a positive integer" (prop replayJson "chunk_episodes")

        if savedSpec <> learner.Spec then
            fail sidecar (sprintf "saved for %A, but the learner is for %A" savedSpec learner.Spec)

        if mixer <> learner.Mixer.Name then
            fail sidecar (sprintf "saved with the %s mixer, but the learner uses %s" mixer learner.Mixer.Name)

        match optKind, learner.Config.Optimizer with
        | "rmsprop", RmsProp _
        | "adam", Adam _ -> ()
        | kind, o -> fail sidecar (sprintf "saved with the %s optimiser, but the learner uses %A" kind o)

        let ofThisSave (r: SafetensorsReader) =
            r.Metadata.TryFind "checkpoint_id" = Some id

        // the tensor file of the sidecar's save, opened: the file itself, or its .bak after a crash during a save
        let openOfThisSave (file: string) : SafetensorsReader =
            let bak = file + ".bak"

            let backup () =
                if File.Exists bak then
                    try
                        let r = Safetensors.openRead bak

                        if ofThisSave r then
                            Some r
                        else
                            r.Dispose()
                            None
                    with
                    | :? SafetensorsException
                    | :? IOException -> None
                else
                    None

            if not (File.Exists file) then
                match backup () with
                | Some b -> b
                | None -> fail file "missing: the checkpoint has no such file"
            else
                let f = wrap file (fun () -> Safetensors.openRead file)

                if ofThisSave f then
                    f
                else
                    f.Dispose()

                    match backup () with
                    | Some b -> b
                    | None -> fail file "belongs to a different save than its sidecar (a torn checkpoint)"

        use modelFile = openOfThisSave model
        use trainFile = openOfThisSave train
        modelFile.VerifiesChecksums <- verify
        trainFile.VerifiesChecksums <- verify

        let template = Learner.initParams learner (Rng.key 0UL)

        let online =
            wrap model (fun () -> Tree.ofNamed template (modelFile.ReadAll().Tensors))

        let section (prefix: string) =
            trainFile.Entries
            |> List.filter (fun e -> e.Name.StartsWith(prefix, StringComparison.Ordinal))
            |> List.map (fun e -> e.Name.Substring prefix.Length, trainFile.Read e.Name)

        let target = wrap train (fun () -> Tree.ofNamed template (section "target."))

        let optim =
            wrap train (fun () ->
                match optKind, learner.Config.Optimizer with
                | "rmsprop", RmsProp _ ->
                    RmsPropState
                        {
                            SquareAvg = Tree.ofNamed template (section "optim.square_avg.")
                            MomentumBuffer = Tree.ofNamed template (section "optim.momentum_buffer.")
                            Step = optStep
                        }
                | "adam", Adam _ ->
                    AdamState
                        {
                            ExpAvg = Tree.ofNamed template (section "optim.exp_avg.")
                            ExpAvgSq = Tree.ofNamed template (section "optim.exp_avg_sq.")
                            Step = optStep
                        }
                | kind, o -> fail sidecar (sprintf "saved with the %s optimiser, but the learner uses %A" kind o))

        let replay =
            wrap trainFile.Path (fun () ->
                if version >= 3 then
                    restoreRecordedReplay trainFile learner.Spec count chunkSize capacity totalAdded precision
                else
                    restoreReplay trainFile learner.Spec version count chunkSize capacity totalAdded precision)

        // integrity last, so that a value no episode can hold is named as such: every tensor's data against its
        // checksum, and (for a sidecar that records checksums) every tensor has one and the sidecar matches its own
        if verify then
            if checksummed then
                for r in [ modelFile; trainFile ] do
                    for e in r.Entries do
                        if (wrap r.Path (fun () -> r.RecordedChecksum e.Name)).IsNone then
                            fail
                                r.Path
                                (sprintf
                                    "tensor '%s' has no checksum, but its sidecar says every tensor has one (corrupt header?)"
                                    e.Name)

            wrap trainFile.Path trainFile.Verify

            if checksummed then
                let actual = Crc32c.format (Crc32c.ofBytes (ReadOnlySpan sidecarBytes))

                match trainFile.Metadata.TryFind SidecarChecksumKey with
                | Some recorded when recorded = actual -> ()
                | Some recorded ->
                    fail
                        sidecar
                        (sprintf
                            "the sidecar is corrupt: its CRC-32C is %s, but the training file %s records %s"
                            actual
                            trainFile.Path
                            recorded)
                | None ->
                    fail
                        trainFile.Path
                        (sprintf "the training file records no checksum of its sidecar ('%s')" SidecarChecksumKey)

        {
            Learner =
                {
                    Params = online
                    Target = target
                    Optim = optim
                    Updates = updates
                    LastTargetUpdateEpisode = lastTargetUpdate
                    Workspace = LearnerWorkspace()
                }
            Replay = replay
            Counters = loopCounters
        }

    /// <summary>Reads a resumable checkpoint for a learner (format version 1 or 2), verifying its integrity: every
    /// tensor's data against the CRC-32C its file records (<c>Safetensors.ChecksumKey</c>), and, for checkpoints
    /// written with checksums (the sidecar's <c>"checksums": "crc32c"</c>), that every tensor has one and that the
    /// sidecar's bytes match the checksum the training file records (<c>SidecarChecksumKey</c>). The tensor files are
    /// read one tensor at a time, and the replay buffer episode by episode straight into the restored episodes.</summary>
    /// <param name="path">The checkpoint path, with or without <c>.safetensors</c>.</param>
    /// <param name="learner">The learner the checkpoint is for.</param>
    /// <exception cref="Qmix.Functional.CheckpointException">A file is missing, truncated or corrupt (a tensor whose
    /// bytes do not match their checksum is named with its file), the files belong to different saves, the format
    /// version is not one this library reads, the spec or mixer differs from the learner's, a tensor has the wrong
    /// shape (the message names the tensor and both shapes), or a replay tensor holds a value no episode can have (the
    /// message names the tensor). Every damage to a checkpoint's files is reported with this exception (or, for bytes
    /// that carry nothing, such as JSON whitespace, the checkpoint loads as saved).</exception>
    let load (path: string) (learner: Learner<'M>) : Checkpoint<'M> = loadWith true path learner
