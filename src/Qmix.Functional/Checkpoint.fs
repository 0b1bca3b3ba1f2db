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

    /// <summary>The file that was being read or written.</summary>
    member _.FilePath = path

/// <summary>Checkpoints. <c>NAME.safetensors</c> holds the online parameters under PyTorch state_dict names
/// (<c>agent.fc1.weight</c>, <c>mixer.hyper_w_1.0.weight</c>), loadable into PyTorch as they are;
/// <c>NAME.train.safetensors</c> holds the target parameters (<c>target.*</c>), the optimiser state (<c>optim.*</c>)
/// and the replay buffer (<c>replay.*</c>); <c>NAME.json</c> is the sidecar with the configuration and the counters.
/// Each file is written to a temporary file and renamed; the sidecar is renamed last and names an id that both
/// tensor files carry, so a torn set is detected on load.</summary>
[<RequireQualifiedAccess>]
module Checkpoint =
    /// <summary>The sidecar's format tag.</summary>
    [<Literal>]
    let Format = "qmix-functional/checkpoint"

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

    let private replayTensors (replay: Replay) : (string * Tensor)[] =
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

    let private writeSidecar
        (path: string)
        (id: string)
        (learner: Learner<'M>)
        (configText: string)
        (ckpt: Checkpoint<'M>)
        (optimKind: string)
        (optimStep: int)
        =
        let tmp = path + ".tmp"

        do
            use stream = File.Create tmp
            use w = new Utf8JsonWriter(stream, JsonWriterOptions(Indented = true))
            let s = learner.Spec
            w.WriteStartObject()
            w.WriteString("format", Format)
            w.WriteNumber("version", 1)
            w.WriteString("id", id)
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
            w.WriteEndObject()
            w.WriteEndObject()
            w.Flush()
            stream.Flush true

        File.Move(tmp, path, true)

    /// <summary>Writes the online parameters alone (<c>NAME.safetensors</c>, PyTorch names), e.g. to hand a trained
    /// policy on.</summary>
    let saveModel (path: string) (parameters: QParams<'M>) : unit =
        let model, _, _ = paths path
        Safetensors.save model (Map [ "format", "pt" ]) (Tree.named parameters)

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

    /// <summary>Writes a resumable checkpoint: model, training state and sidecar (see the module summary).</summary>
    /// <param name="path">The checkpoint path, e.g. <c>runs/3m/model</c> (directories are created).</param>
    /// <param name="learner">The learner (its spec and mixer name are recorded).</param>
    /// <param name="configText">The configuration, as text, recorded in the sidecar.</param>
    /// <param name="ckpt">What to save.</param>
    let save (path: string) (learner: Learner<'M>) (configText: string) (ckpt: Checkpoint<'M>) : unit =
        let model, train, sidecar = paths path

        match Path.GetDirectoryName(Path.GetFullPath model) with
        | null -> ()
        | dir -> Directory.CreateDirectory dir |> ignore

        let id = Guid.NewGuid().ToString("N")
        let meta = Map [ "format", "pt"; "checkpoint_id", id ]
        let optimKind, optimStep, optimT = optimTensors ckpt.Learner.Optim

        let trainTensors =
            Array.concat
                [
                    Tree.named ckpt.Learner.Target |> Array.map (fun (n, t) -> "target." + n, t)
                    optimT
                    replayTensors ckpt.Replay
                ]

        // stage the new set beside the old one
        let staged (f: string) = f + ".new"
        Safetensors.save (staged train) meta trainTensors
        Safetensors.save (staged model) meta (Tree.named ckpt.Learner.Params)
        writeSidecar (staged sidecar) id learner configText ckpt optimKind optimStep
        // swap it in, keeping the previous set as .bak until the new sidecar is in place: a crash at any point
        // leaves a loadable checkpoint (load falls back to the .bak files that carry the sidecar's id)
        let files = [ train; model; sidecar ]

        for f in files do
            if File.Exists f then
                File.Move(f, f + ".bak", true)

        for f in files do
            File.Move(staged f, f, true)

        for f in files do
            File.Delete(f + ".bak")

    let private fail (path: string) (message: string) =
        raise (CheckpointException(message, path, null))

    let private restoreReplay
        (sidecar: string)
        (spec: EnvSpec)
        (train: SafetensorsFile)
        (capacity: int)
        (total: int64)
        =
        let get (name: string) =
            match Safetensors.tryFind name train with
            | Some t -> t.ToArray()
            | None -> fail sidecar (sprintf "the training file has no tensor '%s'" name)

        let count =
            match Safetensors.tryFind "replay.length" train with
            | None -> 0
            | Some t -> t.Numel

        let t1 = spec.EpisodeLimit + 1
        let n, a, o, s = spec.NAgents, spec.NActions, spec.ObsDim, spec.StateDim

        let episodes =
            if count = 0 then
                [||]
            else
                let obs, state, actions = get "replay.obs", get "replay.state", get "replay.actions"

                let avail, reward, length =
                    get "replay.avail_actions", get "replay.reward", get "replay.length"

                let terminated, won = get "replay.terminated", get "replay.won"

                let check (name: string) (arr: float32[]) (per: int) =
                    if arr.Length <> count * per then
                        fail
                            sidecar
                            (sprintf "replay tensor '%s' has %d values, expected %d × %d" name arr.Length count per)

                check "replay.obs" obs (t1 * n * o)
                check "replay.state" state (t1 * s)
                check "replay.actions" actions (t1 * n)
                check "replay.avail_actions" avail (t1 * n * a)
                check "replay.reward" reward t1
                check "replay.terminated" terminated 1
                check "replay.won" won 1

                Array.init count (fun i ->
                    {
                        Spec = spec
                        Length = int length[i]
                        Obs = Array.sub obs (i * t1 * n * o) (t1 * n * o)
                        State = Array.sub state (i * t1 * s) (t1 * s)
                        Actions = Array.sub actions (i * t1 * n) (t1 * n) |> Array.map int
                        AvailActions = Array.sub avail (i * t1 * n * a) (t1 * n * a)
                        Reward = Array.sub reward (i * t1) t1
                        Terminated = terminated[i] <> 0.0f
                        Won =
                            match won[i] with
                            | 1.0f -> Some true
                            | 0.0f -> Some false
                            | _ -> None
                    })

        Replay.restore capacity total episodes

    /// <summary>Reads a resumable checkpoint for a learner.</summary>
    /// <exception cref="Qmix.Functional.CheckpointException">A file is missing or corrupt, the files belong to
    /// different saves, the spec or mixer differs from the learner's, or a tensor has the wrong shape (the message
    /// names the tensor and both shapes).</exception>
    let load (path: string) (learner: Learner<'M>) : Checkpoint<'M> =
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

        use doc = wrap sidecar (fun () -> JsonDocument.Parse(File.ReadAllText sidecar))
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

        let id = text root "id"
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

        let capacity, totalAdded =
            int32Of replayJson "capacity", int64Of replayJson "total_added"

        if savedSpec <> learner.Spec then
            fail sidecar (sprintf "saved for %A, but the learner is for %A" savedSpec learner.Spec)

        if mixer <> learner.Mixer.Name then
            fail sidecar (sprintf "saved with the %s mixer, but the learner uses %s" mixer learner.Mixer.Name)

        match optKind, learner.Config.Optimizer with
        | "rmsprop", RmsProp _
        | "adam", Adam _ -> ()
        | kind, o -> fail sidecar (sprintf "saved with the %s optimiser, but the learner uses %A" kind o)

        // the tensor file of the sidecar's save: the file itself, or its .bak after a crash during a save
        let ofThisSave (file: string) =
            let bak = file + ".bak"

            let backup () =
                if File.Exists bak then
                    try
                        Some(Safetensors.load bak)
                        |> Option.filter (fun b -> b.Metadata.TryFind "checkpoint_id" = Some id)
                    with :? SafetensorsException ->
                        None
                else
                    None

            if not (File.Exists file) then
                match backup () with
                | Some b -> b
                | None -> fail file "missing: the checkpoint has no such file"
            else
                let f = wrap file (fun () -> Safetensors.load file)

                if f.Metadata.TryFind "checkpoint_id" = Some id then
                    f
                else
                    match backup () with
                    | Some b -> b
                    | None -> fail file "belongs to a different save than its sidecar (a torn checkpoint)"

        let modelFile = ofThisSave model
        let trainFile = ofThisSave train

        let template = Learner.initParams learner (Rng.key 0UL)
        let online = wrap model (fun () -> Tree.ofNamed template modelFile.Tensors)

        let section (prefix: string) =
            trainFile.Tensors
            |> List.filter (fun (n, _) -> n.StartsWith(prefix, StringComparison.Ordinal))
            |> List.map (fun (n, t) -> n.Substring prefix.Length, t)

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
            Replay = wrap train (fun () -> restoreReplay sidecar learner.Spec trainFile capacity totalAdded)
            Counters = loopCounters
        }
