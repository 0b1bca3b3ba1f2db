namespace Qmix.Functional

open Qmix.Tensors

/// <summary>A linear layer's parameters, named as in PyTorch's <c>nn.Linear</c>: <c>weight</c> [out, in]
/// and <c>bias</c> [out].</summary>
type Linear =
    {
        /// <summary>The weight, [out, in].</summary>
        Weight: Tensor
        /// <summary>The bias, [out].</summary>
        Bias: Tensor
    }

/// <summary>Creating and applying linear layers.</summary>
[<RequireQualifiedAccess; CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Linear =
    /// <summary>PyTorch's default initialisation: weight and bias uniform in ±1/√in.</summary>
    /// <param name="key">The random key (split inside for weight and bias).</param>
    /// <param name="inputs">Input features (fan-in).</param>
    /// <param name="outputs">Output features.</param>
    let init (key: Key) (inputs: int) (outputs: int) : Linear =
        if inputs <= 0 || outputs <= 0 then
            invalidArg (nameof inputs) (sprintf "Linear.init: sizes must be positive, got in=%d out=%d" inputs outputs)

        let bound = 1.0f / sqrt (float32 inputs)
        let kw, kb = Rng.split key

        {
            Weight = Rng.uniformRange kw -bound bound (Shape [| outputs; inputs |])
            Bias = Rng.uniformRange kb -bound bound (Shape [| outputs |])
        }

    /// <summary>y = x·Wᵀ + b over the last axis of x.</summary>
    let forward (layer: Linear) (x: Tensor) : Tensor = Layers.linear layer.Weight layer.Bias x

/// <summary>A GRU cell's parameters, named as in PyTorch's <c>nn.GRUCell</c>: <c>weight_ih</c> [3H, in],
/// <c>weight_hh</c> [3H, H], <c>bias_ih</c> and <c>bias_hh</c> [3H], gates stacked r, z, n.</summary>
type GruCell =
    {
        /// <summary>Input-to-gates weights, [3H, in].</summary>
        WeightIh: Tensor
        /// <summary>Hidden-to-gates weights, [3H, H].</summary>
        WeightHh: Tensor
        /// <summary>Input-side gate biases, [3H].</summary>
        BiasIh: Tensor
        /// <summary>Hidden-side gate biases, [3H].</summary>
        BiasHh: Tensor
    }

/// <summary>Creating and applying GRU cells.</summary>
[<RequireQualifiedAccess; CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module GruCell =
    /// <summary>PyTorch's default initialisation: every weight and bias uniform in ±1/√H.</summary>
    /// <param name="key">The random key.</param>
    /// <param name="inputs">Input features.</param>
    /// <param name="hidden">Hidden units H.</param>
    let init (key: Key) (inputs: int) (hidden: int) : GruCell =
        if inputs <= 0 || hidden <= 0 then
            invalidArg
                (nameof inputs)
                (sprintf "GruCell.init: sizes must be positive, got in=%d hidden=%d" inputs hidden)

        let bound = 1.0f / sqrt (float32 hidden)
        let keys = Rng.splitN 4 key

        let u (k: Key) (dims: int[]) =
            Rng.uniformRange k -bound bound (Shape dims)

        {
            WeightIh = u keys[0] [| 3 * hidden; inputs |]
            WeightHh = u keys[1] [| 3 * hidden; hidden |]
            BiasIh = u keys[2] [| 3 * hidden |]
            BiasHh = u keys[3] [| 3 * hidden |]
        }

    /// <summary>The number of hidden units.</summary>
    let hidden (cell: GruCell) = cell.WeightHh.Shape[1]

    /// <summary>One step: the new hidden state [B, H] from the input [B, in] and the hidden state [B, H].</summary>
    let forward (cell: GruCell) (x: Tensor) (h: Tensor) : Tensor =
        Layers.gruCell cell.WeightIh cell.WeightHh cell.BiasIh cell.BiasHh x h
