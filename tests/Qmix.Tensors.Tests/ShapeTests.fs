module Qmix.Tensors.Tests.ShapeTests

open System
open Xunit
open Qmix.Tensors

[<Fact>]
let ``numel is the product of the dimensions and 1 for a scalar`` () =
    Assert.Equal(24, (Shape [| 2; 3; 4 |]).Numel)
    Assert.Equal(1, Shape.scalar.Numel)
    Assert.Equal(0, (Shape [| 3; 0 |]).Numel)

[<Fact>]
let ``shapes compare by value and print like PyTorch sizes`` () =
    Assert.Equal(Shape [| 2; 3 |], Shape [| 2; 3 |])
    Assert.NotEqual(Shape [| 2; 3 |], Shape [| 3; 2 |])
    Assert.Equal("[2, 3]", (Shape [| 2; 3 |]).ToString())

[<Fact>]
let ``a shape does not alias the array it was made from`` () =
    let dims = [| 2; 3 |]
    let s = Shape dims
    dims[0] <- 7
    Assert.Equal(2, s[0])
    let copy = s.ToArray()
    copy[1] <- 9
    Assert.Equal(3, s[1])

[<Fact>]
let ``negative dimensions and axes out of range are rejected by name`` () =
    let e = Assert.Throws<ArgumentException>(fun () -> Shape [| 2; -1 |] |> ignore)
    Assert.Contains("non-negative", e.Message)
    Assert.Contains("[2, -1]", e.Message)
    let e2 = Assert.Throws<ArgumentException>(fun () -> (Shape [| 2; 3 |])[2] |> ignore)
    Assert.Contains("[2, 3]", e2.Message)

[<Fact>]
let ``strides are row-major`` () =
    Assert.Equal<int[]>([| 12; 4; 1 |], Shape.strides (Shape [| 2; 3; 4 |]))
