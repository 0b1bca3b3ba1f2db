(**
---
title: Getting started
category: Guides
categoryindex: 1
index: 1
---

# Getting started

Qmix.Functional needs only the [.NET 10 SDK](https://dotnet.microsoft.com/download). From a fresh clone:

```bash
./build.sh run    # the main job: train QMIX on combat:3m (pymarl2's settings, 500k steps, about a minute)
./build.sh test   # every test project; ends with "N passed, N failed"
```

`./build.sh run` shows live progress and ends by printing the run directory it wrote under `runs/`: `config.json`
(everything needed to repeat the run), `metrics.jsonl` and `metrics.csv`, `curves.svg` (the learning curves),
`checkpoints/` (safetensors and a JSON sidecar) and `summary.json`. `qmix eval RUN_DIR` and `qmix plot RUN_DIR…`
read it back; `--seeds 1..5` trains several seeds in parallel and plots their mean with a 95% band.

`build.sh` restores its own tools (Paket, Fantomas, fsdocs, pinned in `dotnet-tools.json`) and the packages in
`paket.lock`; Paket reads the package source from `NUGET_SOURCE`, which the script takes from the machine's own
NuGet configuration (`dotnet nuget list source`) when it is unset. The other entry points:

| command | what it does |
| --- | --- |
| `./build.sh build` | restore and build the solution in Release |
| `./build.sh run train --env NAME --algo ALGO --steps N --seed S` | train with the `qmix` command (QMIX on the two-step game when no environment is given; plain `./build.sh run` is QMIX on combat:3m) and report the greedy return; `ALGO` is `qmix`, `vdn`, `iql`, `qmix-ns`, `qmix-lin`, `vdn-s`, `cw-qmix` or `ow-qmix` |
| `./build.sh docs` | build this site into `docs/output` (every page's code runs, and every local link is checked) |
| `./build.sh docs serve [PORT]` | serve the built site at `http://localhost:8000/` (needs python3); opening `docs/output/index.html` from disk works too (the links are relative; icons and scripts are part of the site) |
| `./build.sh bench …` | the benchmarks (see [Performance](performance.html)) |
| `./build.sh format` | format the F# sources with Fantomas |

## Using the library

There is no NuGet package yet: reference the projects. From an F# or C# project, add a `ProjectReference` to
`src/Qmix.Functional/Qmix.Functional.fsproj` (the F# core) or `src/Qmix.CSharp/Qmix.CSharp.csproj` (the C#
facade, see [C# usage](csharp.html)). From an F# script, build once (`./build.sh build`) and reference the
assemblies; the `qmix` command's output folder holds them all, dependencies included. Every page of this site is
such a script, and starts like this:
*)
#r "../src/Qmix.Cli/bin/Release/net10.0/System.Numerics.Tensors.dll"
#r "../src/Qmix.Cli/bin/Release/net10.0/Qmix.Tensors.dll"
#r "../src/Qmix.Cli/bin/Release/net10.0/Qmix.Functional.dll"

open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

(**
`Qmix.Tensors` holds the tensors, automatic differentiation, optimisers, random keys and safetensors files;
`Qmix.Functional` the networks, mixers, learner and training loop; `Qmix.Functional.Envs` the environments.

## A first training run

The QMIX paper's two-step game (Rashid et al. 2018, §5; see [Matrix games](matrix-games.html)): two agents,
two steps. Agent 0's first action picks the second state: A leads to 2A, where every joint action pays 7; B
leads to 2B, which pays 8 only when both agents pick B (and 0 or 1 otherwise). The optimal return is 8, and a
value factorisation must represent the joint value in 2B well enough to prefer B in the first state.

The run is described by one immutable record, `TrainingConfig`. Its `defaults` are PyMARL's QMIX settings for
StarCraft (2 million steps, a 64-unit GRU agent, two-layer hypernetworks); for a 2-step game we shrink the networks,
explore uniformly as the paper does, and test the greedy policy every 2000 steps:
*)
let config =
    { TrainingConfig.defaults with
        Learner =
            { LearnerConfig.defaults with
                Agent =
                    { AgentConfig.defaults with
                        Hidden = 16
                    }
            }
        Mixer =
            Qmix
                { QmixConfig.defaults with
                    Embed = 8
                    HypernetLayers = 1
                }
        TotalSteps = 10_000
        BufferSize = 500
        Epsilon =
            {
                Start = 1.0f
                Finish = 1.0f
                AnnealSteps = 1
            } // uniform exploration throughout
        TestInterval = 2000
        TestEpisodes = 1 // a deterministic game: one greedy episode tells all
        Seed = 1UL
    }

(**
A `Trainer` joins the configuration to an environment; `Training.init` makes the starting state (parameters,
an empty replay buffer, counters, all drawn from `config.Seed`), and `Training.run` folds iterations over it until
`TotalSteps`, calling a function with every event. Here we print the greedy tests:
*)
let trainer = Training.create config MatrixGames.twoStep
let clock = System.Diagnostics.Stopwatch.StartNew()

let trained =
    Training.init trainer
    |> Training.run trainer (fun event ->
        match event with
        | Tested t ->
            printfn
                "step %6d  episode %5d  greedy return %g"
                t.Step
                t.Episode
                t.MeanReturn
        | _ -> ())

printfn "%d updates in %.1f s" trained.Learner.Updates clock.Elapsed.TotalSeconds
(*** include-output ***)

(**
The greedy return reaches the optimum, 8. What did the agents learn? Each agent acts on its own observation and
its own recurrent memory (decentralised execution). `Runner.evaluate` plays greedy episodes with the trained agent
parameters; the mixer is only needed for training:
*)
let greedy =
    Runner.evaluate
        MatrixGames.twoStep
        config.Learner.Agent
        trained.Learner.Params.Agent
        1
        1
        (Rng.key 7UL)

printfn "greedy return %g over %d steps" greedy.MeanReturn greedy.Steps
(*** include-output ***)

(**
Running the same configuration again gives the same numbers: every random choice (initialisation, exploration,
replay sampling) derives from `config.Seed` through splittable keys, so a run is a pure function of its
configuration.

## Where to go next

* [Tensors and autodiff](tensors-and-autodiff.html): the numerical layer underneath, with gradients of any
  function of a parameter record.
* [Agents and mixers](agents-and-mixers.html): the networks, QMIX and its family, and writing your own mixer.
* [Verification](verification.html): checking that a mixer is monotonic and decomposes the argmax.
* [Training QMIX](training.html): the whole configuration, the loop, events, checkpoints and learning curves.
* [Reproducing the paper](reproducing-the-paper.html): the two-step table, the non-monotonic game and the combat
  maps.
* [Environments](environments.html): the `Env` contract and the built-in environments.
* [C# usage](csharp.html): the facade for C# applications.
* [Performance](performance.html) and [Architecture](architecture.html).
*)
