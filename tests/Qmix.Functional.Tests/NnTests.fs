module Qmix.Functional.Tests.NnTests

open Xunit
open Qmix.Tensors
open Qmix.Functional

[<Fact>]
let ``layers are named like PyTorch's nn.Linear and nn.GRUCell`` () =
    let key = Rng.key 1UL
    let cell = GruCell.init key 5 4
    Assert.Equal<string[]>([| "weight_ih"; "weight_hh"; "bias_ih"; "bias_hh" |], Tree.names cell)
    Assert.Equal(Shape [| 12; 5 |], cell.WeightIh.Shape)
    Assert.Equal<string[]>([| "weight"; "bias" |], Tree.names (Linear.init key 3 2))

[<Fact>]
let ``default initialisation is uniform within 1 over the square root of the fan-in`` () =
    let lin = Linear.init (Rng.key 7UL) 64 200
    let bound = 1.0f / sqrt 64.0f
    let w = lin.Weight.ToArray()
    Assert.All(w, fun v -> Assert.InRange(v, -bound, bound))
    // spread over the whole interval, not bunched in part of it
    Assert.True(Array.max w > 0.95f * bound && Array.min w < -0.95f * bound)
    let cell = GruCell.init (Rng.key 7UL) 10 16
    Assert.All(cell.WeightIh.ToArray(), fun v -> Assert.InRange(v, -0.25f, 0.25f))

[<Fact>]
let ``the same key gives the same parameters, different keys different ones`` () =
    let a = GruCell.init (Rng.key 3UL) 6 8
    let b = GruCell.init (Rng.key 3UL) 6 8
    let c = GruCell.init (Rng.key 4UL) 6 8
    Assert.Equal<float32[]>(a.WeightHh.ToArray(), b.WeightHh.ToArray())
    Assert.NotEqual<float32[]>(a.WeightHh.ToArray(), c.WeightHh.ToArray())
    // each tensor of one layer gets its own stream
    Assert.NotEqual<float32[]>(a.BiasIh.ToArray(), a.BiasHh.ToArray())

[<Fact>]
let ``forward passes have the expected shapes`` () =
    let key = Rng.key 2UL
    let cell = GruCell.init key 5 4
    let h = GruCell.forward cell (Tensor.ones [| 3; 5 |]) (Tensor.zeros [| 3; 4 |])
    Assert.Equal(Shape [| 3; 4 |], h.Shape)
    Assert.Equal(4, GruCell.hidden cell)
    let y = Linear.forward (Linear.init key 4 9) h
    Assert.Equal(Shape [| 3; 9 |], y.Shape)
