module Qmix.Tensors.Tests.ShapeTests

open System
open Expecto
open Qmix.Tests
open Qmix.Tensors

let ``numel is the product of the dimensions and 1 for a scalar`` () =
    Expect.equal ((Shape [| 2; 3; 4 |]).Numel) 24 "(Shape [| 2; 3; 4 |]).Numel"
    Expect.equal Shape.scalar.Numel 1 "Shape.scalar.Numel"
    Expect.equal ((Shape [| 3; 0 |]).Numel) 0 "(Shape [| 3; 0 |]).Numel"

let ``shapes compare by value and print like PyTorch sizes`` () =
    Expect.equal (Shape [| 2; 3 |]) (Shape [| 2; 3 |]) "Shape [| 2; 3 |]"
    Expect.notEqual (Shape [| 3; 2 |]) (Shape [| 2; 3 |]) "Shape [| 3; 2 |]"
    Expect.equal ((Shape [| 2; 3 |]).ToString()) "[2, 3]" "(Shape [| 2; 3 |]).ToString()"

let ``a shape does not alias the array it was made from`` () =
    let dims = [| 2; 3 |]
    let s = Shape dims
    dims[0] <- 7
    Expect.equal (s[0]) 2 "s[0]"
    let copy = s.ToArray()
    copy[1] <- 9
    Expect.equal (s[1]) 3 "s[1]"

let ``negative dimensions and axes out of range are rejected by name`` () =
    let e = Expect.throwsOf<ArgumentException>(fun () -> Shape [| 2; -1 |] |> ignore)
    Expect.stringContains e.Message "non-negative" "e.Message"
    Expect.stringContains e.Message "[2, -1]" "e.Message"

    let e2 =
        Expect.throwsOf<ArgumentException>(fun () -> (Shape [| 2; 3 |])[2] |> ignore)

    Expect.stringContains e2.Message "[2, 3]" "e2.Message"

let ``strides are row-major`` () =
    Expect.equal (Shape.strides (Shape [| 2; 3; 4 |])) ([| 12; 4; 1 |]) "Shape.strides (Shape [| 2; 3; 4 |])"

[<Tests>]
let tests =
    testList
        "Shape"
        [
            testCase
                "numel is the product of the dimensions and 1 for a scalar"
                ``numel is the product of the dimensions and 1 for a scalar``
            testCase
                "shapes compare by value and print like PyTorch sizes"
                ``shapes compare by value and print like PyTorch sizes``
            testCase
                "a shape does not alias the array it was made from"
                ``a shape does not alias the array it was made from``
            testCase
                "negative dimensions and axes out of range are rejected by name"
                ``negative dimensions and axes out of range are rejected by name``
            testCase "strides are row-major" ``strides are row-major``
        ]
