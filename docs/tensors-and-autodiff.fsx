(**
---
title: Tensors and autodiff
category: Guides
categoryindex: 1
index: 2
---

# Tensors and automatic differentiation

`Qmix.Tensors` is the numerical layer under everything else: float32 tensors, broadcasting ops with SIMD kernels,
reverse-mode automatic differentiation with a pure interface, optimisers as state transitions, splittable random
keys and safetensors files. It knows nothing about reinforcement learning, so it can be used on its own, and it
is the one place a TorchSharp backend would plug in where that package can be restored.
*)
#r "../src/Qmix.Cli/bin/Release/net10.0/System.Numerics.Tensors.dll"
#r "../src/Qmix.Cli/bin/Release/net10.0/Qmix.Tensors.dll"

open Qmix.Tensors

(**
## Tensor values

A `Tensor` is an immutable n-dimensional array of float32, row-major and contiguous. The functions of the
`Tensor` module return new tensors and never change their arguments; a tensor prints its elements when it has at
most 64 of them.
*)
let a = Tensor.ofArray [| 2; 3 |] [| 1.0f; 2.0f; 3.0f; 4.0f; 5.0f; 6.0f |]
let column = Tensor.ofArray [| 2; 1 |] [| 10.0f; 20.0f |]

printfn "a          = %O" a

printfn
    "a.Shape    = %O, a.Rank = %d, a.Numel = %d, a[1, 2] = %g"
    a.Shape
    a.Rank
    a.Numel
    a[[| 1; 2 |]]

printfn "a + column = %O" (Tensor.add a column) // broadcasting, NumPy rules
printfn "a · aᵀ     = %O" (Tensor.matmul a (Tensor.transpose a))
printfn "row sums   = %O" (Tensor.sumAxis 1 false a)
// reshape shares a's storage; -1 is inferred
printfn "reshaped   = %O" (Tensor.reshape [| 3; -1 |] a)
printfn "a is still %O" a
(*** include-output ***)

(**
The ops cover what the QMIX family needs, each with its derivative next to its value:

| kind | functions |
|---|---|
| making | `ofArray`, `ofArray2D`, `scalar`, `zeros`, `ones`, `full`, `init`, `oneHot` |
| elementwise (broadcasting) | `add`, `sub`, `mul`, `div`, `addScalar`, `mulScalar`, `neg`, `where`, `maskedFill` |
| activations | `relu`, `elu`, `sigmoid`, `tanh`, `softplus`, `abs`, `exp`, `log`, `square`, `sqrt` |
| shape | `reshape`, `transpose`, `slice`, `concat`, `stack` |
| reductions | `sum`, `mean`, `sumAxis`, `meanAxis`, `maxAxis`, `argmax` |
| indexing and products | `gather` (PyTorch's `gather(-1, …)`), `matmul` |
| fused layers (`Layers`) | `linear` (y = x·Wᵀ + b), `gruCell` (PyTorch's gate order r, z, n) |

Picking each row's chosen action and its greedy value, as a Q-learner does:
*)
let qs =
    Tensor.ofArray
        [| 3; 4 |]
        [|
            0.1f
            0.5f
            -0.2f
            0.0f
            1.0f
            0.9f
            0.3f
            2.0f
            -1.0f
            -0.5f
            -0.7f
            -0.6f
        |]

printfn "chosen (actions 1, 0, 2) = %O" (Tensor.gather [| 1; 0; 2 |] qs)
printfn "greedy actions           = %A" (Tensor.argmax -1 qs)
printfn "greedy values            = %O" (Tensor.maxAxis -1 false qs)
(*** include-output ***)

(**
## Gradients of a function of a parameter record

`Autodiff.valueAndGrad f parameters` returns the value of `f` at `parameters` and its gradient with respect to
every tensor in them, as a value of the same type. The parameters are a *parameter tree*: any F# record, union,
tuple, array, list or option with tensors at the leaves. A two-layer network is a record, and its forward pass a
function:
*)
type Dense = { Weight: Tensor; Bias: Tensor }

type Net =
    {
        Fc1: Dense
        [<ParamName "head">]
        Fc2: Dense
    }

let forward (p: Net) (x: Tensor) =
    x
    |> Layers.linear p.Fc1.Weight p.Fc1.Bias
    |> Tensor.tanh
    |> Layers.linear p.Fc2.Weight p.Fc2.Bias

let dense (key: Key) (inputs: int) (outputs: int) =
    let bound = 1.0f / sqrt (float32 inputs)
    let kw, kb = Rng.split key

    {
        Weight = Rng.uniformRange kw -bound bound (Shape [| outputs; inputs |])
        Bias = Rng.uniformRange kb -bound bound (Shape [| outputs |])
    }

let k1, k2 = Rng.split (Rng.key 42UL)

let net =
    {
        Fc1 = dense k1 2 8
        Fc2 = dense k2 8 1
    }

(** XOR as a regression problem, and the mean squared error of the network: *)
let xs =
    Tensor.ofArray [| 4; 2 |] [| 0.0f; 0.0f; 0.0f; 1.0f; 1.0f; 0.0f; 1.0f; 1.0f |]

let ys = Tensor.ofArray [| 4; 1 |] [| 0.0f; 1.0f; 1.0f; 0.0f |]

let mse (p: Net) =
    Tensor.sub (forward p xs) ys |> Tensor.square |> Tensor.mean

let loss0, grads = Autodiff.valueAndGrad mse net

printfn "loss %g" loss0

for name, g in Tree.named grads do
    printfn "d loss / d %-12s shape %O" name g.Shape
(*** include-output ***)

(**
The gradient tree has the parameters' type and the same names: `Tree.named` lists the leaves with their dotted
paths, PyTorch style. Field names become snake_case (`Fc1` → `fc1`, `WeightIh` → `weight_ih`) unless a
`[<ParamName>]` attribute says otherwise (`Fc2` is `head` here), so a tree maps one to one onto a PyTorch
`state_dict`. The agent and mixer parameters of QMIX are named this way (`agent.fc1.weight`,
`mixer.hyper_w_1.0.weight`).

Inside `valueAndGrad`, a tape records each op and replays the derivatives backwards; outside, nothing mutates.
The tensors made during the computation come from an arena that is recycled when it ends, so repeated gradient
computations of one shape do not allocate tensor storage.

## Optimisers are state transitions

`Optim.adam cfg state parameters grads` returns the new parameters and the new optimiser state; nothing changes
in place. A training loop is therefore a fold:
*)
let adam = { AdamConfig.defaults with Lr = 0.05f }

let step (p: Net, opt: AdamState<Net>) _ =
    let _, g = Autodiff.valueAndGrad mse p
    Optim.adam adam opt p g

let fitted, _ = Seq.fold step (net, Optim.adamInit net) (seq { 1..300 })

printfn "loss after 300 Adam steps: %.2e" (mse fitted |> Tensor.toScalar)
printfn "predictions: %O" (forward fitted xs |> Tensor.reshape [| 4 |])
printfn "the starting parameters are unchanged: loss %g" (mse net |> Tensor.toScalar)
(*** include-output ***)

(**
`Optim.rmsprop` (PyMARL's optimiser), `Optim.clipGradNorm` and `Optim.globalNorm` work the same way. `Tree.map`,
`Tree.map2`, `Tree.leaves`, `Tree.numel` and `Tree.rebuild` handle any parameter tree:
*)
printfn "%d parameters in %d tensors" (Tree.numel net) (Tree.leaves net).Length
let halved = Tree.map (Tensor.mulScalar 0.5f) net
printfn "fc1.bias halved: %O" halved.Fc1.Bias
(*** include-output ***)

(**
`Autodiff.valueGradAux` also returns auxiliary values computed alongside the loss (the learner returns its
Q-values for logging this way), and `Autodiff.custom` defines a new differentiable op from its value and its
vector-Jacobian product, like a PyTorch `autograd.Function`.

## Checking gradients

`GradCheck.check tolerance f32 f64 inputs` compares the reverse-mode gradient of a tensor function with central
finite differences of an independent float64 implementation of the same function. Every op of the library is
checked this way in its tests. Here, softplus(x)·y summed:
*)
let f32 (inputs: Tensor[]) =
    Tensor.mul (Tensor.softplus inputs[0]) inputs[1] |> Tensor.sum

let f64 (inputs: float[][]) =
    Array.map2 (fun x y -> log (1.0 + exp x) * y) inputs[0] inputs[1] |> Array.sum

let point =
    [|
        Rng.normal (Rng.key 1UL) (Shape [| 5 |])
        Rng.normal (Rng.key 2UL) (Shape [| 5 |])
    |]

GradCheck.check 1e-3 f32 f64 point
(*** include-it ***)

(**
A check that cannot fail proves nothing, so here is a planted mistake: an op whose declared derivative of
x² is x instead of 2x, written with `Autodiff.custom`. The check finds it and says where:
*)
let wrongSquare (x: Tensor) =
    Autodiff.custom [| x |] (Tensor.square x) (fun g -> [| Tensor.mul g x |])

let report =
    GradCheck.check
        1e-3
        (fun xs -> wrongSquare xs[0] |> Tensor.sum)
        (fun xs -> Array.sumBy (fun x -> x * x) xs[0])
        [| point[0] |]

printfn
    "passed %b; worst at %s: reverse mode %.4f, finite differences %.4f"
    report.Passed
    report.Worst
    report.Analytic
    report.Reference
(*** include-output ***)

(**
## Random keys

There is no global random generator. Randomness comes from *keys* (counter-based Threefry, as in JAX): a key
always produces the same numbers, `Rng.split` and `Rng.splitN` derive independent keys, and `Rng.foldIn i key`
derives one from an index (an agent, an environment, a step). Results do not depend on the thread count or the
order in which keys are used.
*)
let root = Rng.key 2024UL
let left, right = Rng.split root

printfn "uniform from root:   %O" (Rng.uniform root (Shape [| 4 |]))
printfn "again from root:     %O" (Rng.uniform root (Shape [| 4 |]))
printfn "normal from left:    %O" (Rng.normal left (Shape [| 4 |]))
printfn "permutation (right): %A" (Rng.permutation right 6)
printfn "agent 3's key draws: %d" (Rng.intBelow (Rng.foldIn 3 root) 100)
(*** include-output ***)

(**
A training run holds one key in its state and splits it every iteration, which is why a run (and a resumed run)
is reproducible bit for bit.

## Safetensors

`Safetensors.save path metadata tensors` writes named float32 tensors in the safetensors format of PyTorch and
Hugging Face (atomically: a temporary file, then a rename), and `Safetensors.load` reads them back. With
`Tree.named` and `Tree.ofNamed`, any parameter tree goes to a file and back; PyTorch reads the same file with
`safetensors.torch.load_file`. For data too large to hold twice, `Safetensors.saveStreamed` takes `TensorSource`s
(a name, a shape and a function that writes the values into a sink) and streams them to the file, and
`Safetensors.openRead` reads one tensor, or a range of one, at a time; offsets are 64-bit, so files past 4 GB work.
*)
let path =
    System.IO.Path.Combine(
        System.IO.Path.GetTempPath(),
        $"xor-{System.Guid.NewGuid():N}.safetensors"
    )

Safetensors.save path (Map [ "format", "pt"; "task", "xor" ]) (Tree.named fitted)

let file = Safetensors.load path

for name, t in file.Tensors do
    printfn "%-12s %O" name t.Shape

printfn "metadata: %A" file.Metadata

// a tree shaped like `net`, its leaves from the file
let restored = Tree.ofNamed net file.Tensors
printfn "restored loss %.2e" (mse restored |> Tensor.toScalar)

let bytes = System.IO.File.ReadAllBytes path
let headerLength = int (System.BitConverter.ToUInt64(bytes, 0))

let header =
    System.Text.Json.JsonDocument.Parse(
        System.Text.Encoding.UTF8.GetString(bytes, 8, headerLength)
    )

printfn
    "%d bytes in all; the JSON header (%d bytes), an entry a line:"
    bytes.Length
    headerLength

for entry in header.RootElement.EnumerateObject() do
    printfn "  \"%s\": %s" entry.Name (entry.Value.GetRawText())

System.IO.File.Delete path
(*** include-output ***)

(**
`Tree.ofNamed` checks names and shapes: a missing, unexpected or misshapen tensor raises an `ArgumentException`
that names it. Training checkpoints are written with these functions (see [Training](training.html)).
*)
