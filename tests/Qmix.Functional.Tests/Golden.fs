/// Reading the PyTorch-computed golden cases (../shared/golden/README.md) and comparing one learner update with them.
module Qmix.Functional.Tests.Golden

open System
open System.IO
open System.IO.Compression
open System.Text.Json
open Qmix.Tensors
open Qmix.Functional

/// A tensor as the cases store it: shape and flat row-major float64 data.
type Stored = { Shape: int[]; Data: float[] }

/// One golden case.
type Case =
    {
        Name: string
        Config: JsonElement
        Params: (string * Stored)[]
        TargetParams: (string * Stored)[]
        Batch: Map<string, Stored>
        Loss: float
        GradNorm: float
        Grads: Map<string, Stored>
        ParamsAfter: Map<string, Stored>
    }

let private stored (e: JsonElement) =
    {
        Shape = [| for d in e.GetProperty("shape").EnumerateArray() -> d.GetInt32() |]
        Data = [| for v in e.GetProperty("data").EnumerateArray() -> v.GetDouble() |]
    }

let private dict (e: JsonElement) =
    [| for p in e.EnumerateObject() -> p.Name, stored p.Value |]

/// Reads a case from a .json or .json.gz file.
let read (path: string) : Case =
    use raw = File.OpenRead path

    use s: Stream =
        if path.EndsWith ".gz" then
            new GZipStream(raw, CompressionMode.Decompress)
        else
            raw

    use doc = JsonDocument.Parse s
    let root = doc.RootElement
    let exp = root.GetProperty "expected"

    {
        Name = Path.GetFileName path
        Config = root.GetProperty("config").Clone()
        Params = dict (root.GetProperty "params")
        TargetParams = dict (root.GetProperty "target_params")
        Batch = Map(dict (root.GetProperty "batch"))
        Loss = exp.GetProperty("loss").GetDouble()
        GradNorm = exp.GetProperty("grad_norm").GetDouble()
        Grads = Map(dict (exp.GetProperty "grads"))
        ParamsAfter = Map(dict (exp.GetProperty "params_after_step"))
    }

/// The directory of the repository (the one holding the solution file).
let repoRoot () =
    let rec up (d: DirectoryInfo) =
        if isNull d then
            failwith "golden: cannot find the repository root (Qmix.Functional.sln) above the test binaries"
        elif File.Exists(Path.Combine(d.FullName, "Qmix.Functional.sln")) then
            d.FullName
        else
            up d.Parent

    up (DirectoryInfo AppContext.BaseDirectory)

/// The case directory: QMIX_GOLDEN_DIR when set, else ../shared/golden beside the repository, else the copy kept in
/// the repository (tests/golden).
let directory () =
    match Environment.GetEnvironmentVariable "QMIX_GOLDEN_DIR" with
    | null
    | "" ->
        let shared = Path.GetFullPath(Path.Combine(repoRoot (), "..", "shared", "golden"))

        if Directory.Exists shared then
            shared
        else
            Path.Combine(repoRoot (), "tests", "golden")
    | d -> d

/// Every case file in a directory (*.json and *.json.gz).
let caseFiles (dir: string) =
    if Directory.Exists dir then
        Array.append (Directory.GetFiles(dir, "*.json")) (Directory.GetFiles(dir, "*.json.gz"))
        |> Array.sort
    else
        [||]

let private f32 (s: Stored) = Array.map float32 s.Data

/// The learner a case describes.
let learnerOf (c: Case) : Learner<MixerParams> =
    let cfg = c.Config
    let int (name: string) = cfg.GetProperty(name).GetInt32()

    let num (name: string) =
        float32 (cfg.GetProperty(name).GetDouble())

    let spec =
        {
            Name = c.Name
            NAgents = int "n_agents"
            NActions = int "n_actions"
            ObsDim = int "obs_dim"
            StateDim = int "state_dim"
            EpisodeLimit = int "episode_limit"
        }

    let mixer =
        match cfg.GetProperty("mixer").GetString() with
        | "qmix" ->
            Qmix
                {
                    Embed = int "mixing_embed"
                    HypernetLayers = int "hypernet_layers"
                    HypernetEmbed = int "hypernet_embed"
                    NonNegative = Abs
                }
        | "vdn" -> Vdn
        | "none" -> Independent
        | m -> failwithf "golden %s: unknown mixer %s" c.Name m

    let optimizer =
        match cfg.GetProperty("optimizer").GetString() with
        | "rmsprop" ->
            RmsProp
                {
                    Lr = num "lr"
                    Alpha = num "rms_alpha"
                    Eps = num "rms_eps"
                    Momentum = 0.0f
                }
        | "adam" ->
            Adam
                {
                    Lr = num "lr"
                    Beta1 = num "adam_beta1"
                    Beta2 = num "adam_beta2"
                    Eps = num "adam_eps"
                }
        | o -> failwithf "golden %s: unknown optimizer %s" c.Name o

    let tdLambda = cfg.GetProperty "td_lambda"

    let learnerCfg =
        { LearnerConfig.defaults with
            Agent =
                { AgentConfig.defaults with
                    Hidden = int "rnn_hidden"
                }
            Gamma = num "gamma"
            DoubleQ = cfg.GetProperty("double_q").GetBoolean()
            Target =
                if tdLambda.ValueKind = JsonValueKind.Null then
                    OneStep
                else
                    TdLambda(float32 (tdLambda.GetDouble()))
            LossScale = num "loss_scale"
            GradNormClip = num "grad_norm_clip"
            Optimizer = optimizer
        }

    Learner.builtIn learnerCfg spec mixer

/// The case's episode batch.
let batchOf (c: Case) : EpisodeBatch =
    let obs = c.Batch["obs"]
    let avail = c.Batch["avail_actions"]

    {
        BatchSize = obs.Shape[0]
        MaxSeqLength = obs.Shape[1]
        NAgents = obs.Shape[2]
        NActions = avail.Shape[3]
        ObsDim = obs.Shape[3]
        StateDim = c.Batch["state"].Shape[2]
        Obs = f32 obs
        State = f32 c.Batch["state"]
        Actions = c.Batch["actions"].Data |> Array.map int
        AvailActions = f32 avail
        Reward = f32 c.Batch["reward"]
        Terminated = f32 c.Batch["terminated"]
        Filled = f32 c.Batch["filled"]
    }

/// Online and target parameters of a case, loaded by their PyTorch names.
let paramsOf (learner: Learner<MixerParams>) (c: Case) =
    let template = Learner.initParams learner (Rng.key 0UL)

    let load (named: (string * Stored)[]) =
        Tree.ofNamed template (named |> Array.map (fun (n, s) -> n, Tensor.ofArray s.Shape (f32 s)))

    load c.Params, load c.TargetParams

let private relNorm (got: float[]) (want: float[]) =
    let mutable d, w = 0.0, 0.0

    for i in 0 .. want.Length - 1 do
        d <- d + (got[i] - want[i]) ** 2.0
        w <- w + want[i] ** 2.0

    if w = 0.0 then sqrt d else sqrt d / sqrt w

let private relErr (got: float) (want: float) = abs (got - want) / max (abs want) 1e-12

/// Runs one update on a case and lists every figure outside the README's tolerances (empty = parity).
let compare (learner: Learner<MixerParams>) (c: Case) : string list =
    let batch = batchOf c
    let online, target = paramsOf learner c
    let state = Learner.ofParams learner online target
    let _, grads, _ = Learner.gradients learner state batch
    let _, tapeGrads, tapeMetrics = Learner.tapeGradients learner state batch
    let state', metrics = Learner.update learner 0 batch state
    let d (t: Tensor) = t.ToArray() |> Array.map float

    [
        let e = relErr (float metrics.Loss) c.Loss

        if e > 1e-4 then
            yield sprintf "loss %.8g vs %.8g (relative error %.2e)" metrics.Loss c.Loss e

        let e = relErr (float metrics.GradNorm) c.GradNorm

        if e > 1e-4 then
            yield sprintf "grad_norm %.8g vs %.8g (relative error %.2e)" metrics.GradNorm c.GradNorm e

        let e = relErr (float tapeMetrics.Loss) c.Loss

        if e > 1e-4 then
            yield sprintf "loss on the tape %.8g vs %.8g (relative error %.2e)" tapeMetrics.Loss c.Loss e

        let before = Map(Tree.named online)
        let casesBefore = Map c.Params
        let after = Map(Tree.named state'.Params)
        let gradsNamed = Map(Tree.named grads)

        if gradsNamed.Count <> c.Grads.Count then
            yield sprintf "%d gradients vs %d in the case" gradsNamed.Count c.Grads.Count

        // the learner's gradients (fused where it applies) and the tape's, each against the case
        for path, named in [ "", gradsNamed; " on the tape", Map(Tree.named tapeGrads) ] do
            for KeyValue(name, want) in c.Grads do
                match named.TryFind name with
                | None -> yield sprintf "no gradient%s for %s" path name
                | Some g ->
                    let e = relNorm (d g) want.Data

                    if e > 1e-4 then
                        yield sprintf "gradient%s %s: relative error %.2e" path name e

        for KeyValue(name, want) in c.ParamsAfter do
            match before.TryFind name, after.TryFind name with
            | Some p0, Some p1 ->
                // both steps against their own starting point: ours in float32, the case's in float64
                let step = Array.map2 (-) (d p1) (d p0)
                let wantStep = Array.map2 (-) want.Data casesBefore[name].Data
                let e = relNorm step wantStep

                if e > 1e-3 then
                    yield sprintf "step of %s: relative error %.2e" name e
            | _ -> yield sprintf "no parameter %s" name
    ]
