/// Negative controls: ops whose value is right but whose derivative is wrong, and a wrong reference value.
/// GradCheck must report them, or a passing gradient check would mean nothing.
module Qmix.Tensors.Tests.NegativeControlTests

open System
open Expecto
open Qmix.Tests
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

    Expect.isFalse report.Passed (sprintf "%A" report)
    Expect.stringStarts report.Worst "input 0, element" "report.Worst"
    Expect.inRange report.MaxError 0.1 1.0 "report.MaxError"
    Expect.roundedEqual (report.Analytic / report.Reference) 1.5 3 "report.Analytic / report.Reference"

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

    Expect.isTrue report.Passed (sprintf "%A" report)

let ``a square whose derivative forgets the factor 2 is caught on every drawn case`` () =
    labelled
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

                Expect.isFalse report.Passed (sprintf "%A on %O" report x)
                Expect.stringStarts report.Worst "input 0, element" "report.Worst"
                Expect.roundedEqual (report.Analytic / report.Reference) 0.5 3 "report.Analytic / report.Reference"))

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

    Expect.isFalse report.Passed (sprintf "%A" report)
    // dA is right: the worst error is in B's gradient
    Expect.stringStarts report.Worst "input 1, element" "report.Worst"
    Expect.isTrue (report.MaxError > 0.1) (sprintf "%A" report)

let ``a wrong reference value is caught by the value comparison`` () =
    let x = t [| 4 |] [ 0.5f; -0.3f; 1.2f; 0.8f ]

    let report =
        GradCheck.check
            2e-3
            (fun xs -> Tensor.square xs[0] |> Tensor.sum)
            (fun xs -> (R.square (R.nd [| 4 |] xs[0]) |> R.sum).Data[0] + 0.1)
            [| x |]

    Expect.isFalse report.Passed (sprintf "%A" report)
    Expect.equal report.Worst "value" "report.Worst"
    Expect.roundedEqual report.Analytic (float (0.25f + 0.09f + 1.44f + 0.64f)) 4 "report.Analytic"
    Expect.roundedEqual report.Reference (report.Analytic + 0.1) 4 "report.Reference"

let ``a reference that is off by a factor is caught`` () =
    let x = t [| 2; 2 |] [ 0.5f; -0.3f; 1.2f; 0.8f ]

    let report =
        GradCheck.check
            2e-3
            (fun xs -> Tensor.exp xs[0] |> Tensor.sum)
            (fun xs -> (R.exp (R.nd [| 2; 2 |] xs[0]) |> R.sum).Data[0] * 1.01)
            [| x |]

    Expect.isFalse report.Passed (sprintf "%A" report)
    Expect.isTrue (report.MaxError > 5e-3) (sprintf "%A" report)

[<Tests>]
let tests =
    testList
        "NegativeControl"
        [
            testCase
                "a relu whose derivative is 1.5 times too large is caught"
                ``a relu whose derivative is 1.5 times too large is caught``
            testCase "the same op with the right derivative passes" ``the same op with the right derivative passes``
            testPropertyWithConfig
                (Replay.config 60)
                "a square whose derivative forgets the factor 2 is caught on every drawn case"
                (``a square whose derivative forgets the factor 2 is caught on every drawn case`` ())
            testCase
                "a matmul whose dB drops a transpose is caught on the right operand"
                ``a matmul whose dB drops a transpose is caught on the right operand``
            testCase
                "a wrong reference value is caught by the value comparison"
                ``a wrong reference value is caught by the value comparison``
            testCase "a reference that is off by a factor is caught" ``a reference that is off by a factor is caught``
        ]
