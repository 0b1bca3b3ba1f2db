(**
---
title: Training QMIX
category: Guides
categoryindex: 1
index: 5
---

# Training QMIX end to end

A training run is one immutable configuration record and a fold over iterations. This page puts the
configuration on top, then the loop: events, the learner update underneath, checkpoints and an exact resume, and
learning curves drawn by the library. It trains on the two-step game, where a run takes seconds.
*)
#r "../src/Qmix.Cli/bin/Release/net10.0/System.Numerics.Tensors.dll"
#r "../src/Qmix.Cli/bin/Release/net10.0/Qmix.Tensors.dll"
#r "../src/Qmix.Cli/bin/Release/net10.0/Qmix.Functional.dll"

open System.IO
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

(*** hide ***)
/// HTML shown as it is on the site (a table, a chart); printed as text when the script runs in plain `dotnet fsi`.
type Html = Html of string

#if HAS_FSI_ADDHTMLPRINTER
fsi.AddHtmlPrinter(fun (Html html) -> Seq.empty, html)
#endif

let htmlTable (header: string list) (rows: string list list) =
    // `text` in a cell is shown as code
    let cell tag (s: string) =
        let encoded = System.Net.WebUtility.HtmlEncode s

        let content =
            System.Text.RegularExpressions.Regex.Replace(
                encoded,
                "`([^`]*)`",
                "<code>$1</code>"
            )

        sprintf "<%s>%s</%s>" tag content tag

    let row tag cells =
        "<tr>" + (cells |> List.map (cell tag) |> String.concat "") + "</tr>"

    Html(
        "<table><thead>"
        + row "th" header
        + "</thead><tbody>"
        + (rows |> List.map (row "td") |> String.concat "")
        + "</tbody></table>"
    )

/// An SVG document from the library, inline in the page (its XML declaration, if any, dropped).
let svg (document: string) =
    Html(
        "<div class=\"chart\">"
        + document.Substring(max 0 (document.IndexOf "<svg"))
        + "</div>"
    )

(**
## The configuration

`TrainingConfig` holds everything a run needs; its `defaults` are PyMARL's QMIX on StarCraft
(`src/config/default.yaml`, `algs/qmix.yaml`), and so are those of the records inside it (`LearnerConfig`,
`AgentConfig`, `QmixConfig`, `EpsilonSchedule`). The values below are read from the records:
*)
(*** hide ***)
let t = TrainingConfig.defaults
let l = t.Learner

let optimizer =
    match l.Optimizer with
    | RmsProp r -> sprintf "RMSprop, lr %g, α %g, eps %g" r.Lr r.Alpha r.Eps
    | Adam a -> sprintf "Adam, lr %g" a.Lr

let targetUpdate =
    match l.TargetUpdate with
    | HardEvery k -> sprintf "hard copy every %d episodes" k
    | Soft tau -> sprintf "Polyak, τ = %g" tau

let qmixDefaults =
    match t.Mixer with
    | Qmix q ->
        sprintf
            "QMIX: embed %d, %d-layer hypernetworks of width %d, %A"
            q.Embed
            q.HypernetLayers
            q.HypernetEmbed
            q.NonNegative
    | other -> sprintf "%A" other

htmlTable
    [ "field"; "PyMARL"; "default"; "what it is" ]
    [
        [
            "`TotalSteps`"
            "`t_max`"
            sprintf "%d" t.TotalSteps
            "environment steps to train for"
        ]
        [
            "`BatchSize`"
            "`batch_size`"
            string t.BatchSize
            "episodes per learner update"
        ]
        [
            "`BufferSize`"
            "`buffer_size`"
            string t.BufferSize
            "episodes the replay buffer keeps (the most recent)"
        ]
        [
            "`ReplayPrecision`"
            "(`replay_precision`)"
            sprintf "%A" t.ReplayPrecision
            "how the buffer stores observations and states: `Float32` exactly, `Float16` in half their memory"
        ]
        [
            "`Epsilon`"
            "`epsilon_start, _finish, _anneal_time`"
            sprintf
                "%g → %g over %d steps"
                t.Epsilon.Start
                t.Epsilon.Finish
                t.Epsilon.AnnealSteps
            "linear ε-greedy schedule, by environment step"
        ]
        [
            "`ParallelEnvs`"
            "`batch_size_run`"
            string t.ParallelEnvs
            "episodes collected in lockstep per iteration; one update follows"
        ]
        [
            "`TestInterval`"
            "`test_interval`"
            string t.TestInterval
            "steps between greedy evaluations"
        ]
        [
            "`TestEpisodes`"
            "`test_nepisode`"
            string t.TestEpisodes
            "greedy (ε = 0) episodes per evaluation; 0 turns them off"
        ]
        [
            "`SaveInterval`"
            "`save_model_interval`"
            string t.SaveInterval
            "steps between checkpoints; 0 saves only at the end"
        ]
        [
            "`CheckpointPath`"
            "`local_results_path`"
            sprintf "%A" t.CheckpointPath
            "where checkpoints go; None saves nothing"
        ]
        [
            "`Seed`"
            "`seed`"
            string t.Seed
            "every random choice of the run derives from it"
        ]
        [
            "`Mixer`"
            "`mixer, mixing_embed_dim, hypernet_*`"
            qmixDefaults
            "the mixer (a MixerConfig)"
        ]
        [
            "`Learner.Agent`"
            "`agent, rnn_hidden_dim, obs_*`"
            sprintf
                "%A, %d hidden, last action %b, agent id %b, shared %b"
                l.Agent.Kind
                l.Agent.Hidden
                l.Agent.LastAction
                l.Agent.AgentId
                l.Agent.Shared
            "the agent network"
        ]
        [
            "`Learner.HyperInput`"
            "(the state)"
            sprintf "%A" l.HyperInput
            "what the hypernetworks read"
        ]
        [ "`Learner.Gamma`"; "`gamma`"; sprintf "%g" l.Gamma; "discount" ]
        [
            "`Learner.DoubleQ`"
            "`double_q`"
            sprintf "%b" l.DoubleQ
            "greedy action at t+1 from the online agents, its value from the targets"
        ]
        [
            "`Learner.Target`"
            "`td_lambda (pymarl2)`"
            sprintf "%A" l.Target
            "one-step targets, or TdLambda λ"
        ]
        [
            "`Learner.LossScale`"
            "(pymarl2: 0.5)"
            sprintf "%g" l.LossScale
            "a factor on the loss"
        ]
        [
            "`Learner.GradNormClip`"
            "`grad_norm_clip`"
            sprintf "%g" l.GradNormClip
            "global gradient-norm clipping"
        ]
        [
            "`Learner.Optimizer`"
            "`optimizer, lr, optim_alpha, optim_eps`"
            optimizer
            "RmsProp or Adam, with their settings"
        ]
        [
            "`Learner.TargetUpdate`"
            "`target_update_interval`"
            targetUpdate
            "HardEvery k episodes, or Soft τ"
        ]
        [
            "`Learner.Weighted`"
            "(Weighted QMIX)"
            sprintf "%A" l.Weighted
            "Some CW or OW settings for Weighted QMIX"
        ]
    ]
(*** include-it ***)

(**
A run changes what differs from these. For the two-step game: small networks, one-layer hypernetworks, target
copies every 100 episodes, 6000 steps with ε annealed over the first 3000, a greedy test every 500 steps, and a
checkpoint every 3000 steps:
*)
let runDir = Directory.CreateTempSubdirectory("qmix-docs-training-").FullName

let config =
    { TrainingConfig.defaults with
        Learner =
            { LearnerConfig.defaults with
                Agent =
                    { AgentConfig.defaults with
                        Hidden = 16
                    }
                TargetUpdate = HardEvery 100
            }
        Mixer =
            Qmix
                { QmixConfig.defaults with
                    Embed = 8
                    HypernetLayers = 1
                }
        TotalSteps = 6000
        BufferSize = 500
        Epsilon =
            {
                Start = 1.0f
                Finish = 0.05f
                AnnealSteps = 3000
            }
        TestInterval = 500
        TestEpisodes = 1 // the game is deterministic
        SaveInterval = 3000
        CheckpointPath = Some(Path.Combine(runDir, "model"))
        Seed = 1UL
    }

(**
## The loop

`Training.create config env` makes a `Trainer` (the configuration, the environment and a learner with the built-in
mixer; `Training.createWith` takes a learner with your own mixer). `Training.init` draws the starting state:
parameters, an empty replay buffer and the loop's counters and key, all from `config.Seed`. Then each
iteration, `Training.iterate trainer state`, is a pure function returning the next state and what happened:

1. collect `ParallelEnvs` episodes with ε-greedy agents (ε from the schedule at the current step);
2. add them to the replay buffer;
3. when the buffer holds a batch, sample `BatchSize` episodes and take one learner update (targets follow
   inside the update);
4. every `TestInterval` steps, play `TestEpisodes` greedy episodes.

`Training.iterations` is the whole run as a lazy sequence of (state, events), so the first iterations can be
looked at one by one:
*)
let trainer = Training.create config MatrixGames.twoStep
let start = Training.init trainer

for state, events in Training.iterations trainer start |> Seq.take 3 do
    printfn "after step %d:" state.Counters.Step

    for event in events do
        match event with
        | Collected c ->
            printfn
                "  collected: episode %d, ε %.3f, return %g"
                c.Episode
                c.Epsilon
                c.MeanReturn
        | Updated u ->
            printfn
                "  updated: loss %.4f, gradient norm %.4f, mean Q_tot %.4f"
                u.Metrics.Loss
                u.Metrics.GradNorm
                u.Metrics.QTakenMean
        | Tested t -> printfn "  tested: greedy return %g" t.MeanReturn
        | other -> printfn "  %A" other
(*** include-output ***)

(**
There is no update in the first iterations: the buffer does not hold a batch of 32 episodes yet. PyMARL also tests
once at the very start. `Training.run trainer onEvent state` runs the iterations to `TotalSteps`, calls `onEvent`
with every event (adding `Progress` events with the throughput after each iteration), writes checkpoints
(`Saved` events), and raises `TrainingDivergedException` if the loss or the gradient becomes NaN or infinite.
Here the events are kept for the charts below:
*)
let events = ResizeArray<TrainingEvent>()
let final = start |> Training.run trainer events.Add

let count (f: TrainingEvent -> bool) = events |> Seq.filter f |> Seq.length

printfn
    "%d events: %d collections, %d updates, %d tests, %d progress reports"
    events.Count
    (count _.IsCollected)
    (count _.IsUpdated)
    (count _.IsTested)
    (count _.IsProgress)

for e in events do
    match e with
    | Saved(path, step) ->
        printfn "saved %s at step %d" (Path.GetRelativePath(runDir, path)) step
    | _ -> ()

events
|> Seq.choose (function
    | Tested t -> Some(sprintf "%5d: %g" t.Step t.MeanReturn)
    | _ -> None)
|> Seq.chunkBySize 4
|> Seq.iteri (fun i line ->
    printfn
        "%s %s"
        (if i = 0 then
             "greedy return at step"
         else
             "                     ")
        (String.concat "   " line))

match Seq.last events with
| Progress p ->
    printfn "%d steps, %d episodes, %.0f steps/s" p.Step p.Episode p.StepsPerSecond
| _ -> ()
(*** include-output ***)

(**
### Learner diagnostics and the divergence check

Each `Updated` event carries the learner's diagnostics as PyMARL logs them: `QTakenMean` (the mean Q_tot of the
taken joint actions), `TargetMean`, `TdErrorAbs` and `GradNorm` (before clipping). `Collected` and `Tested` events
carry the episodes' `MeanLength` and, for environments with two armies (the combat maps), the mean `DeadAllies` and
`DeadEnemies` at the end of an episode (`None` elsewhere).

Q_tot estimates a return, so it cannot honestly lie far beyond the largest return an episode pays. After every
update, `Diagnostics.check` compares |`QTakenMean`| and |`TargetMean`| with a bound: `config.Diagnostics.QValueBound`
when set, otherwise 2 × the largest return an episode seen so far can be worth (the sum of its rewards'
magnitudes, plus its mean |r| per step over 1 / (1 − γ) more steps for an episode cut at its limit), and at least 10. A value beyond it (or NaN)
gives a `Warned` event, once per quantity, right after the `Updated` event that showed it. The run above stayed
healthy:
*)
let lastUpdate =
    events
    |> Seq.choose (function
        | Updated u -> Some u.Metrics
        | _ -> None)
    |> Seq.last

printfn
    "last update: Q taken %.3f, target %.3f, |TD error| %.3f, grad norm %.3f"
    lastUpdate.QTakenMean
    lastUpdate.TargetMean
    lastUpdate.TdErrorAbs
    lastUpdate.GradNorm

printfn
    "%d warnings; largest plausible return seen %g, so |Q| should stay below %g"
    (count _.IsWarned)
    final.Diagnostics.LargestReturn
    (Diagnostics.bound config.Diagnostics final.Diagnostics)
(*** include-output ***)

(**
The same check on an update whose Q-values had run away names the quantity, its value and the bound:
*)
let runaway = { lastUpdate with QTakenMean = 2500.0f }

let _, warnings =
    Diagnostics.check
        config.Diagnostics
        final.Diagnostics
        final.Counters.Step
        final.Counters.Episode
        runaway

for w in warnings do
    printfn "%s" (Diagnostics.describe w)
(*** include-output ***)

(**
### The learner update underneath

`Learner.update learner episodes batch state` is one update as PyMARL's `QLearner.train`: the TD loss of a batch
(chosen-action Qs mixed into Q_tot, double-Q targets from the target networks, masked over filled steps), the
gradient by `Autodiff.valueAndGrad`, global-norm clipping, one RMSprop step, then the target update. Each part is
a plain function, so one iteration can be written out by hand with the trained agents:
*)
let keys = Rng.splitN 2 (Rng.key 11UL)

let episodes, stats =
    Runner.runEpisodes
        trainer.Env
        config.Learner.Agent
        final.Learner.Params.Agent
        (fun _ -> 0.05f)
        final.Counters.Step
        4
        keys[0]

let replay = Replay.addMany episodes final.Replay
let batch = Replay.sample keys[1] config.BatchSize replay

let next, metrics =
    Learner.update trainer.Learner final.Counters.Episode batch final.Learner

printfn "4 episodes with ε = 0.05: returns %A" stats.Returns

printfn
    "replay: %d episodes stored (capacity %d); batch of %d episodes × %d steps"
    (Replay.count replay)
    (Replay.capacity replay)
    batch.BatchSize
    batch.MaxSeqLength

printfn
    "update %d: loss %.5f, |TD error| %.5f, mean Q_tot %.3f, mean target %.3f"
    next.Updates
    metrics.Loss
    metrics.TdErrorAbs
    metrics.QTakenMean
    metrics.TargetMean

printfn "the state we started from is unchanged: %d updates" final.Learner.Updates
(*** include-output ***)

(**
## Checkpoints and resuming

With `CheckpointPath = Some "DIR/model"`, the run wrote three files each time:

* `model.safetensors`: the online parameters under PyTorch state_dict names (`agent.fc1.weight`,
  `mixer.hyper_w_1.weight`, …), loadable into PyTorch as they are, or with `Checkpoint.loadModel`;
* `model.train.safetensors`: the target parameters, the optimiser state and the replay buffer, the buffer in
  chunks of episodes (`replay.obs.0`, `replay.state.0`, …, `replay.won.0`, then `replay.obs.1`, …), each chunk
  holding the steps its episodes recorded one after another, not the padding up to the episode limit (each chunk
  tensor at most 16 MiB, `Checkpoint.recordedLayout` lists them);
* `model.json`: a sidecar with the configuration, the counters, the random key and the chunk size.

Each is staged beside its final name and renamed, the sidecar last, and the sidecar names an id that both tensor
files carry, so a torn set is detected on load. The replay buffer is streamed to the file episode by episode and read
back the same way: a save allocates a few MB whatever the buffer's size, and a buffer of any size (past 2^31 values
in one field, past 4 GB in one file) is written and read. A save that fails (a full disk, a file in the way) throws
`CheckpointSaveException`, an `IOException` naming the file, and leaves the previous checkpoint as it was.
Checkpoints written before the chunks (format version 1) or with chunks padded to the limit (version 2) still load.

The buffer itself keeps each episode compactly: its recorded steps only (an episode of L steps keeps L + 1 rows, not
the padding up to the episode limit), its available-action masks as bits (when every value is 0 or 1, as every
registered environment's are), and its observations and states in `ReplayPrecision`: `Float32` gives back exactly
the values recorded; `Float16` halves their memory and rounds each to 11 significant bits. Sampling expands the
episodes back into PyMARL's padded batch layout. `Replay.bytes` gives what a buffer holds, and `Replay.mostBytes` the
most it can hold for a run, which `qmix train` compares with the memory available before it starts.
*)
for file in Directory.GetFiles runDir |> Array.sort do
    printfn "%-26s %8d bytes" (Path.GetFileName file) (FileInfo(file).Length)

let model = Safetensors.load (Path.Combine(runDir, "model.safetensors"))
printfn "\nthe tensors in model.safetensors:"

for line in model.Tensors |> List.map fst |> List.chunkBySize 4 do
    printfn "  %s" (String.concat ", " line)
(*** include-output ***)

(**
`Training.save trainer path state` writes a checkpoint of any state, and `Training.resume trainer path` reads one
back. A resumed run is bit-identical to the uninterrupted one, because the state holds everything, the random key
included. Save the run at step 2500, resume from the file, finish, and compare with the run above:
*)
let midway =
    Training.iterations trainer start
    |> Seq.map fst
    |> Seq.find (fun s -> s.Counters.Step >= 2500)

let midPath = Path.Combine(runDir, "midway")
Training.save trainer midPath midway

let resumed =
    Training.resume trainer midPath
    |> Training.run
        { trainer with
            Config = { config with CheckpointPath = None }
        }
        ignore

let same (a: QParams<MixerParams>) (b: QParams<MixerParams>) =
    Array.forall2
        (fun (x: Tensor) (y: Tensor) -> x.ToArray() = y.ToArray())
        (Tree.leaves a)
        (Tree.leaves b)

printfn
    "resumed from step %d, finished at step %d"
    midway.Counters.Step
    resumed.Counters.Step

printfn
    "parameters bit-identical to the uninterrupted run: %b"
    (same resumed.Learner.Params final.Learner.Params)

printfn
    "target networks bit-identical: %b"
    (same resumed.Learner.Target final.Learner.Target)

printfn
    "same step, episode and random key: %b"
    ((resumed.Counters.Step, resumed.Counters.Episode, resumed.Counters.Key) =
        (final.Counters.Step, final.Counters.Episode, final.Counters.Key))
(*** include-output ***)

(**
## Learning curves

`Curve.series curve events` reads a curve off a run's events as a `Series` (a name and (x, y) points):
`TestReturn`, `TrainReturn`, `Loss`, `TestWinRate` or `TrainWinRate`. A `Series` is plain data, so it can be
smoothed before drawing; each collection is a single episode here, so the training return is averaged over 100
collections. `Plots.lineChart` writes a standalone SVG document (axes with nice ticks, a legend; `Plots.save`
writes it to a file):
*)
let smooth (window: int) (series: Series) =
    { series with
        Name = sprintf "%s (mean of %d)" series.Name window
        Points =
            series.Points
            |> Array.chunkBySize window
            |> Array.map (fun chunk -> Array.last chunk |> fst, Array.averageBy snd chunk)
    }

let returns =
    Plots.lineChart
        { ChartConfig.defaults with
            Title = "QMIX on the two-step game, seed 1"
            YLabel = "return"
        }
        [
            Curve.series TestReturn events
            Curve.series TrainReturn events |> smooth 100
        ]

svg returns
(*** include-it ***)

(**
The greedy policy finds the optimum (8) early; the training return follows as ε falls from 1 to 0.05 over the
first 3000 steps. The loss:
*)
svg (
    Plots.lineChart
        { ChartConfig.defaults with
            Title = "TD loss"
            YLabel = "loss"
            Height = 300
        }
        [ Curve.series Loss events ]
)
(*** include-it ***)

(**
### Several seeds

`Plots.bandChart` draws several configurations run with several seeds each: the mean of the runs with a shaded
95% confidence band (Student's t; runs may log at different steps and are interpolated onto a common grid). Here,
the smoothed training return of QMIX and VDN on three seeds each, 3000 steps per run with ε annealed over the first
1500:
*)
let trainingReturns (mixer: MixerConfig) (seed: uint64) =
    let cfg =
        { config with
            Mixer = mixer
            TotalSteps = 3000
            Epsilon =
                { config.Epsilon with
                    AnnealSteps = 1500
                }
            TestEpisodes = 0
            SaveInterval = 0
            CheckpointPath = None
            Seed = seed
        }

    let trainer = Training.create cfg MatrixGames.twoStep
    let events = ResizeArray()
    Training.init trainer |> Training.run trainer events.Add |> ignore
    (Curve.series TrainReturn events |> smooth 100).Points

let group name mixer =
    {
        Name = name
        Runs = [| for seed in 1UL .. 3UL -> trainingReturns mixer seed |]
    }

let seeds =
    Plots.bandChart
        { ChartConfig.defaults with
            Title = "Training return, mean and 95% band over 3 seeds"
            YLabel = "return"
        }
        [ group "QMIX" config.Mixer; group "VDN" Vdn ]

svg seeds
(*** include-it ***)

(**
With ε annealed, the exploring agents soon visit state 2B mostly, and VDN learns its optimum too: its failure on
this game (see [Reproducing the paper](reproducing-the-paper.html)) shows under the paper's uniform exploration,
where it must represent every joint action's value at once.
*)
(*** hide ***)
Directory.Delete(runDir, true)
