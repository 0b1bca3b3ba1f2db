module Qmix.Tensors.Tests.AutodiffTests

open System
open Xunit
open Qmix.Tensors

type Lin = { Weight: Tensor; Bias: Tensor }

type Net =
    {
        Fc1: Lin
        [<ParamName "hyper_w_1">]
        HyperW1: Lin list
        Steps: int
    }

let t dims (xs: float32 list) = Tensor.ofArray dims (List.toArray xs)

let net () =
    {
        Fc1 =
            {
                Weight = t [| 2; 2 |] [ 1f; 2f; 3f; 4f ]
                Bias = t [| 2 |] [ 0.5f; -0.5f ]
            }
        HyperW1 =
            [
                {
                    Weight = t [| 1; 2 |] [ 1f; 1f ]
                    Bias = t [| 1 |] [ 0f ]
                }
            ]
        Steps = 3
    }

[<Fact>]
let ``parameter trees are named like a PyTorch state_dict`` () =
    let names = Tree.names (net ())

    Assert.Equal<string[]>([| "fc1.weight"; "fc1.bias"; "hyper_w_1.0.weight"; "hyper_w_1.0.bias" |], names)

[<Fact>]
let ``rebuild keeps the structure and non-tensor fields`` () =
    let n = net ()
    let doubled = Tree.map (Tensor.mulScalar 2f) n
    Assert.Equal(3, doubled.Steps)
    Assert.Equal<float32[]>([| 2f; 4f; 6f; 8f |], doubled.Fc1.Weight.ToArray())

[<Fact>]
let ``gradient of a linear layer's squared output`` () =
    // L = sum((W x + b)^2): dL/dW = 2 (Wx+b) xᵀ, dL/db = 2 (Wx+b)
    let x = t [| 2; 1 |] [ 1f; -1f ]

    let loss (p: Net) =
        Tensor.matmul p.Fc1.Weight x
        |> Tensor.add (Tensor.reshape [| 2; 1 |] p.Fc1.Bias)
        |> Tensor.square
        |> Tensor.sum

    let v, g = Autodiff.valueAndGrad loss (net ())
    // Wx + b = [1-2+0.5; 3-4-0.5] = [-0.5; -1.5]
    Assert.Equal(0.25f + 2.25f, v)
    Assert.Equal<float32[]>([| -1f; 1f; -3f; 3f |], g.Fc1.Weight.ToArray())
    Assert.Equal<float32[]>([| -1f; -3f |], g.Fc1.Bias.ToArray())
    Assert.Equal<float32[]>([| 0f; 0f |], g.HyperW1.Head.Weight.ToArray())

[<Fact>]
let ``valueAndGrad does not change its arguments and its results outlive it`` () =
    let p = net ()
    let before = p.Fc1.Weight.ToArray()

    let _, g =
        Autodiff.valueAndGrad (fun (q: Net) -> q.Fc1.Weight |> Tensor.square |> Tensor.sum) p

    let _, _ =
        Autodiff.valueAndGrad (fun (q: Net) -> q.Fc1.Weight |> Tensor.exp |> Tensor.sum) p

    Assert.Equal<float32[]>(before, p.Fc1.Weight.ToArray())
    Assert.Equal<float32[]>([| 2f; 4f; 6f; 8f |], g.Fc1.Weight.ToArray())

[<Fact>]
let ``a tensor kept from inside a gradient computation is stale and says so`` () =
    let mutable leaked: Tensor = null

    let _ =
        Autodiff.valueAndGrad
            (fun (q: Net) ->
                leaked <- Tensor.square q.Fc1.Weight
                Tensor.sum leaked)
            (net ())

    let e =
        Assert.Throws<InvalidOperationException>(fun () -> leaked.ToArray() |> ignore)

    Assert.Contains("after the gradient computation", e.Message)

[<Fact>]
let ``detach stops the gradient`` () =
    let _, g =
        Autodiff.valueAndGrad
            (fun (q: Net) -> Tensor.mul q.Fc1.Weight (Tensor.detach q.Fc1.Weight) |> Tensor.sum)
            (net ())
    // d/dW (W * stop(W)) = stop(W) = W
    Assert.Equal<float32[]>([| 1f; 2f; 3f; 4f |], g.Fc1.Weight.ToArray())

[<Fact>]
let ``a non-scalar loss is rejected with its shape`` () =
    let e =
        Assert.Throws<ArgumentException>(fun () ->
            Autodiff.valueAndGrad (fun (q: Net) -> q.Fc1.Weight) (net ()) |> ignore)

    Assert.Contains("[2, 2]", e.Message)

[<Fact>]
let ``a repeated gradient computation reuses its arena's storage`` () =
    let w = Tensor.init [| 64; 32 |] (fun i -> float32 (i % 7) * 0.01f)
    let x = Tensor.init [| 16; 32 |] (fun i -> float32 (i % 5) * 0.1f)

    let inner () =
        let before = GC.GetAllocatedBytesForCurrentThread()

        let _ =
            Autodiff.valueAndGrad
                (fun (w: Tensor) -> Layers.linear w null x |> Tensor.relu |> Tensor.square |> Tensor.mean)
                w

        GC.GetAllocatedBytesForCurrentThread() - before

    inner () |> ignore
    inner () |> ignore
    let steady = inner ()
    // storage of one computation: output 16×64, its gradient, relu, square: well over 16 KB; the
    // gradient returned to the caller (64×32 floats = 8 KB) is the only storage that must be new
    let storage = 4L * (16L * 64L * 4L)
    printfn "steady-state allocation per gradient computation: %d bytes (storage %d)" steady storage
    Assert.True(steady < storage, sprintf "steady-state allocation %d bytes, tensor storage alone is %d" steady storage)
