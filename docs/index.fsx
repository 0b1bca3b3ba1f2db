(**
# Qmix.Functional

A .NET library for cooperative multi-agent reinforcement learning by value factorisation (QMIX),
with its own tensor and reverse-mode autodiff layer. This page runs when the site is built.

## Tensors and gradients
*)
#r "../src/Qmix.Cli/bin/Release/net10.0/System.Numerics.Tensors.dll"
#r "../src/Qmix.Cli/bin/Release/net10.0/Qmix.Tensors.dll"

open Qmix.Tensors

/// A linear layer's parameters: a record is a parameter tree, named like a PyTorch state_dict.
type Linear = { Weight: Tensor; Bias: Tensor }

let layer =
    { Weight = Tensor.ofArray [| 2; 3 |] [| 0.1f; -0.2f; 0.3f; 0.4f; 0.5f; -0.6f |]
      Bias = Tensor.zeros [| 2 |] }

let x = Tensor.ofArray [| 4; 3 |] [| for i in 0 .. 11 -> float32 i / 10.0f |]

let loss (p: Linear) =
    Layers.linear p.Weight p.Bias x |> Tensor.elu |> Tensor.square |> Tensor.mean

let value, grads = Autodiff.valueAndGrad loss layer
(*** include-value: value ***)

(** The gradient is a tree shaped like the parameters, with the same names: *)
Tree.named grads |> Array.map (fun (name, g) -> name, g.Shape.ToString())
(*** include-it ***)
