(**
---
title: Overview
category: Guides
categoryindex: 1
index: 0
---

# Qmix.Functional

A .NET library for cooperative multi-agent reinforcement learning by value factorisation, built around QMIX
(Rashid et al., ICML 2018): each agent learns a utility from its own action-observation history, and a mixing
network whose weights are non-negative combines the utilities into a joint value, so that the joint greedy action
is the tuple of per-agent greedy actions. Training is centralised, execution decentralised.

```bash
./build.sh run    # train QMIX on combat:3m (pymarl2's settings, about a minute); ./build.sh run --env two-step for the paper's two-step game
./build.sh test   # every test project; ends with "N passed, N failed"
```

* **An F# core, written functionally**: tensors are immutable values, a gradient is
  `Autodiff.valueAndGrad f params`, optimisers are pure state transitions, environments are pure step functions,
  the replay buffer is immutable, and a training run is a fold.
* **Its own tensor and autodiff layer**, checked against finite differences on every op and against PyTorch on
  whole QMIX updates, with SIMD kernels.
* **QMIX and its family**: VDN, IQL, the paper's ablations, Weighted QMIX, and any mixer you write; property-based
  verification of monotonicity and argmax decomposition.
* **Environments**: the paper's matrix games, ma-gym's grid worlds, Level-Based Foraging and a SMAX-style combat
  simulator with the paper's StarCraft maps.
* **A C# facade** and a `qmix` command.

Every page of this site is a script that runs when the site is built: the numbers on it are printed by its code.

## A taste

A linear layer's parameters as a record, and the gradient of a loss with respect to them (see
[Tensors and autodiff](tensors-and-autodiff.html)):
*)
#r "../src/Qmix.Cli/bin/Release/net10.0/System.Numerics.Tensors.dll"
#r "../src/Qmix.Cli/bin/Release/net10.0/Qmix.Tensors.dll"

open Qmix.Tensors

/// A linear layer's parameters: a record is a parameter tree,
/// named like a PyTorch state_dict.
type Linear = { Weight: Tensor; Bias: Tensor }

let layer =
    {
        Weight = Tensor.ofArray [| 2; 3 |] [| 0.1f; -0.2f; 0.3f; 0.4f; 0.5f; -0.6f |]
        Bias = Tensor.zeros [| 2 |]
    }

let x = Tensor.ofArray [| 4; 3 |] [| for i in 0..11 -> float32 i / 10.0f |]

let loss (p: Linear) =
    Layers.linear p.Weight p.Bias x |> Tensor.elu |> Tensor.square |> Tensor.mean

let value, grads = Autodiff.valueAndGrad loss layer
(*** include-value: value ***)

(** The gradient is a tree shaped like the parameters, with the same names: *)
Tree.named grads |> Array.map (fun (name, g) -> name, g.Shape.ToString())
(*** include-it ***)

(**
## The guides

| page | what it covers |
| --- | --- |
| [Getting started](getting-started.html) | building, the commands, a first training run in F# |
| [Tensors and autodiff](tensors-and-autodiff.html) | tensors, ops, gradients of parameter records, gradient checks, random keys, safetensors |
| [Agents and mixers](agents-and-mixers.html) | the RNN and MLP agents, QMIX, VDN, IQL and the ablations, writing a mixer |
| [Verification](verification.html) | checking monotonicity and argmax decomposition, and a mixer that fails |
| [Training QMIX](training.html) | the configuration, the loop, events, checkpoints, learning curves |
| [Reproducing the paper](reproducing-the-paper.html) | the two-step game, the non-monotonic game, the combat maps |
| [C# usage](csharp.html) | the facade: environments, options, trainer, policy, evaluation, verification |
| [Environments](environments.html) | the `Env` contract; [matrix games](matrix-games.html), [grid worlds](grid-worlds.html), [combat](combat.html) |
| [Performance](performance.html) | kernel, learner and environment benchmarks, against PyTorch |
| [Architecture](architecture.html) | the layers, the data flow, the design decisions |

The [API reference](reference/index.html) is generated from the XML documentation of every public item.
*)
