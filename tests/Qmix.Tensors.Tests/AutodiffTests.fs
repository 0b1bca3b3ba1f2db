module Qmix.Tensors.Tests.AutodiffTests

open System
open Expecto
open Qmix.Tests
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

let ``parameter trees are named like a PyTorch state_dict`` () =
    let names = Tree.names (net ())

    Expect.equal names ([| "fc1.weight"; "fc1.bias"; "hyper_w_1.0.weight"; "hyper_w_1.0.bias" |]) "names"

let ``rebuild keeps the structure and non-tensor fields`` () =
    let n = net ()
    let doubled = Tree.map (Tensor.mulScalar 2f) n
    Expect.equal doubled.Steps 3 "doubled.Steps"
    Expect.equal (doubled.Fc1.Weight.ToArray()) ([| 2f; 4f; 6f; 8f |]) "doubled.Fc1.Weight.ToArray()"

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
    Expect.equal v (0.25f + 2.25f) "v"
    Expect.equal (g.Fc1.Weight.ToArray()) ([| -1f; 1f; -3f; 3f |]) "g.Fc1.Weight.ToArray()"
    Expect.equal (g.Fc1.Bias.ToArray()) ([| -1f; -3f |]) "g.Fc1.Bias.ToArray()"
    Expect.equal (g.HyperW1.Head.Weight.ToArray()) ([| 0f; 0f |]) "g.HyperW1.Head.Weight.ToArray()"

let ``valueAndGrad does not change its arguments and its results outlive it`` () =
    let p = net ()
    let before = p.Fc1.Weight.ToArray()

    let _, g =
        Autodiff.valueAndGrad (fun (q: Net) -> q.Fc1.Weight |> Tensor.square |> Tensor.sum) p

    let _, _ =
        Autodiff.valueAndGrad (fun (q: Net) -> q.Fc1.Weight |> Tensor.exp |> Tensor.sum) p

    Expect.equal (p.Fc1.Weight.ToArray()) before "p.Fc1.Weight.ToArray()"
    Expect.equal (g.Fc1.Weight.ToArray()) ([| 2f; 4f; 6f; 8f |]) "g.Fc1.Weight.ToArray()"

let ``a tensor kept from inside a gradient computation is stale and says so`` () =
    let mutable leaked: Tensor = null

    let _ =
        Autodiff.valueAndGrad
            (fun (q: Net) ->
                leaked <- Tensor.square q.Fc1.Weight
                Tensor.sum leaked)
            (net ())

    let e =
        Expect.throwsOf<InvalidOperationException>(fun () -> leaked.ToArray() |> ignore)

    Expect.stringContains e.Message "after the gradient computation" "e.Message"

let ``detach stops the gradient`` () =
    let _, g =
        Autodiff.valueAndGrad
            (fun (q: Net) -> Tensor.mul q.Fc1.Weight (Tensor.detach q.Fc1.Weight) |> Tensor.sum)
            (net ())
    // d/dW (W * stop(W)) = stop(W) = W
    Expect.equal (g.Fc1.Weight.ToArray()) ([| 1f; 2f; 3f; 4f |]) "g.Fc1.Weight.ToArray()"

let ``a non-scalar loss is rejected with its shape`` () =
    let e =
        Expect.throwsOf<ArgumentException>(fun () ->
            Autodiff.valueAndGrad (fun (q: Net) -> q.Fc1.Weight) (net ()) |> ignore)

    Expect.stringContains e.Message "[2, 2]" "e.Message"

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

    Expect.isTrue
        (steady < storage)
        (sprintf "steady-state allocation %d bytes, tensor storage alone is %d" steady storage)

[<Tests>]
let tests =
    testList
        "Autodiff"
        [
            testCase
                "parameter trees are named like a PyTorch state_dict"
                ``parameter trees are named like a PyTorch state_dict``
            testCase
                "rebuild keeps the structure and non-tensor fields"
                ``rebuild keeps the structure and non-tensor fields``
            testCase "gradient of a linear layer's squared output" ``gradient of a linear layer's squared output``
            testCase
                "valueAndGrad does not change its arguments and its results outlive it"
                ``valueAndGrad does not change its arguments and its results outlive it``
            testCase
                "a tensor kept from inside a gradient computation is stale and says so"
                ``a tensor kept from inside a gradient computation is stale and says so``
            testCase "detach stops the gradient" ``detach stops the gradient``
            testCase "a non-scalar loss is rejected with its shape" ``a non-scalar loss is rejected with its shape``
            testSequenced (
                testCase
                    "a repeated gradient computation reuses its arena's storage"
                    ``a repeated gradient computation reuses its arena's storage``
            )
        ]
