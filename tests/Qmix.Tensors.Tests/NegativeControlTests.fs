/// Negative controls: ops whose value is right but whose derivative is wrong, and a wrong reference value.
/// GradCheck must report them, or a passing gradient check would mean nothing.
module Qmix.Tensors.Tests.NegativeControlTests

open System
open Xunit
open FsCheck
open FsCheck.FSharp
open Qmix.Tensors
open Qmix.Tensors.Tests.Generators

module R = Reference

/// A tensor's elements mapped one by one (outside any gradient tracking).
let private mapValues (f: float32 -> float32) (x: Tensor) =
    Tensor.ofArray (x.Shape.ToArray()) (x.ToArray() |> Array.map f)

/// relu with the right value and a derivative 1.5 times too large.
let badRelu (x: Tensor) =
    let value = Tensor.relu (Tensor.detach x)
    Autodiff.custom [| x |] value (fun g -> [| Tensor.mul g (mapValues (fun v -> if v > 0f then 1.5f else 0f) x) |])

/// square with the right value and a derivative that forgets the factor 2.
let badSquare (x: Tensor) =
    let value = Tensor.square (Tensor.detach x)
    Autodiff.custom [| x |] value (fun g -> [| Tensor.mul g (Tensor.detach x) |])

/// matmul with the right value; dB = A·G instead of Aᵀ·G (needs a square A).
let badMatmul (a: Tensor) (b: Tensor) =
    let a0, b0 = Tensor.detach a, Tensor.detach b
    let value = Tensor.matmul a0 b0
    Autodiff.custom [| a; b |] value (fun g -> [| Tensor.matmul g (Tensor.transpose b0); Tensor.matmul a0 g |])

let weighted (w: Tensor) (out: Tensor) = Tensor.sum (Tensor.mul out w)

let t dims (xs: float32 list) = Tensor.ofArray dims (List.toArray xs)

[<Fact>]
let ``a relu whose derivative is 1.5 times too large is caught`` () =
    let x = t [| 2; 3 |] [ 0.5f; -0.3f; 1.2f; 0.8f; -1.0f; 0.1f ]
    let w = t [| 2; 3 |] [ 1.0f; -0.5f; 0.7f; -1.2f; 0.3f; 0.9f ]
    let wN = R.nd [| 2; 3 |] (w.ToArray() |> Array.map float)

    let report =
        GradCheck.check
            2e-3
            (fun xs -> badRelu xs[0] |> weighted w)
            (fun xs -> R.dot (R.relu (R.nd [| 2; 3 |] xs[0])) wN)
            [| x |]

    Assert.False(report.Passed, sprintf "%A" report)
    Assert.StartsWith("input 0, element", report.Worst)
    Assert.InRange(report.MaxError, 0.1, 1.0)
    Assert.Equal(1.5, report.Analytic / report.Reference, 3)

[<Fact>]
let ``the same op with the right derivative passes`` () =
    let x = t [| 2; 3 |] [ 0.5f; -0.3f; 1.2f; 0.8f; -1.0f; 0.1f ]
    let w = t [| 2; 3 |] [ 1.0f; -0.5f; 0.7f; -1.2f; 0.3f; 0.9f ]
    let wN = R.nd [| 2; 3 |] (w.ToArray() |> Array.map float)

    let report =
        GradCheck.check
            2e-3
            (fun xs -> Tensor.relu xs[0] |> weighted w)
            (fun xs -> R.dot (R.relu (R.nd [| 2; 3 |] xs[0])) wN)
            [| x |]

    Assert.True(report.Passed, sprintf "%A" report)

[<Fact>]
let ``a square whose derivative forgets the factor 2 is caught on every drawn case`` () =
    check
        "bad square"
        (forAll
            (gen {
                let! d = shape
                let! x = tensorAwayFromZero d
                // weights of magnitude ≥ 0.5 so every element's error is visible
                let! w = tensorOf (awayFromZero 0.5 1.5) d
                return x, w
            })
            (fun (x, w) ->
                let wT = w.Tensor

                let report =
                    GradCheck.check
                        2e-3
                        (fun xs -> badSquare xs[0] |> weighted wT)
                        (fun xs -> R.dot (R.square (R.nd x.Dims xs[0])) w.Nd)
                        [| x.Tensor |]

                Assert.False(report.Passed, sprintf "%A on %O" report x)
                Assert.StartsWith("input 0, element", report.Worst)
                Assert.Equal(0.5, report.Analytic / report.Reference, 3)))

[<Fact>]
let ``a matmul whose dB drops a transpose is caught on the right operand`` () =
    let a = t [| 3; 3 |] [ 1.0f; 2.0f; -1.0f; 0.5f; -0.3f; 0.7f; 1.1f; 0.2f; -0.8f ]
    let b = t [| 3; 2 |] [ 0.4f; -1.0f; 0.9f; 0.3f; -0.6f; 1.2f ]
    let w = t [| 3; 2 |] [ 1.0f; -0.5f; 0.7f; -1.2f; 0.3f; 0.9f ]
    let wN = R.nd [| 3; 2 |] (w.ToArray() |> Array.map float)

    let report =
        GradCheck.check
            2e-3
            (fun xs -> badMatmul xs[0] xs[1] |> weighted w)
            (fun xs -> R.dot (R.matmul (R.nd [| 3; 3 |] xs[0]) (R.nd [| 3; 2 |] xs[1])) wN)
            [| a; b |]

    Assert.False(report.Passed, sprintf "%A" report)
    // dA is right: the worst error is in B's gradient
    Assert.StartsWith("input 1, element", report.Worst)
    Assert.True(report.MaxError > 0.1, sprintf "%A" report)

[<Fact>]
let ``a wrong reference value is caught by the value comparison`` () =
    let x = t [| 4 |] [ 0.5f; -0.3f; 1.2f; 0.8f ]

    let report =
        GradCheck.check
            2e-3
            (fun xs -> Tensor.square xs[0] |> Tensor.sum)
            (fun xs -> (R.square (R.nd [| 4 |] xs[0]) |> R.sum).Data[0] + 0.1)
            [| x |]

    Assert.False(report.Passed, sprintf "%A" report)
    Assert.Equal("value", report.Worst)
    Assert.Equal(float (0.25f + 0.09f + 1.44f + 0.64f), report.Analytic, 4)
    Assert.Equal(report.Analytic + 0.1, report.Reference, 4)

[<Fact>]
let ``a reference that is off by a factor is caught`` () =
    let x = t [| 2; 2 |] [ 0.5f; -0.3f; 1.2f; 0.8f ]

    let report =
        GradCheck.check
            2e-3
            (fun xs -> Tensor.exp xs[0] |> Tensor.sum)
            (fun xs -> (R.exp (R.nd [| 2; 2 |] xs[0]) |> R.sum).Data[0] * 1.01)
            [| x |]

    Assert.False(report.Passed, sprintf "%A" report)
    Assert.True(report.MaxError > 5e-3, sprintf "%A" report)
