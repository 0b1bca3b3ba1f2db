module Qmix.Functional.Tests.NnTests

open Expecto
open Qmix.Tests
open Qmix.Tensors
open Qmix.Functional

let ``layers are named like PyTorch's nn.Linear and nn.GRUCell`` () =
    let key = Rng.key 1UL
    let cell = GruCell.init key 5 4
    Expect.equal (Tree.names cell) ([| "weight_ih"; "weight_hh"; "bias_ih"; "bias_hh" |]) "Tree.names cell"
    Expect.equal cell.WeightIh.Shape (Shape [| 12; 5 |]) "cell.WeightIh.Shape"
    Expect.equal (Tree.names (Linear.init key 3 2)) ([| "weight"; "bias" |]) "Tree.names (Linear.init key 3 2)"

let ``default initialisation is uniform within 1 over the square root of the fan-in`` () =
    let lin = Linear.init (Rng.key 7UL) 64 200
    let bound = 1.0f / sqrt 64.0f
    let w = lin.Weight.ToArray()
    Seq.iter (fun v -> Expect.inRange v (-bound) bound "v") w
    // spread over the whole interval, not bunched in part of it
    Expect.isTrue
        (Array.max w > 0.95f * bound && Array.min w < -0.95f * bound)
        "Array.max w > 0.95f * bound && Array.min w < -0.95f * bound"

    let cell = GruCell.init (Rng.key 7UL) 10 16
    Seq.iter (fun v -> Expect.inRange v -0.25f 0.25f "v") (cell.WeightIh.ToArray())

let ``the same key gives the same parameters, different keys different ones`` () =
    let a = GruCell.init (Rng.key 3UL) 6 8
    let b = GruCell.init (Rng.key 3UL) 6 8
    let c = GruCell.init (Rng.key 4UL) 6 8
    Expect.equal (b.WeightHh.ToArray()) (a.WeightHh.ToArray()) "b.WeightHh.ToArray()"
    Expect.notEqual (c.WeightHh.ToArray()) (a.WeightHh.ToArray()) "c.WeightHh.ToArray()"
    // each tensor of one layer gets its own stream
    Expect.notEqual (a.BiasHh.ToArray()) (a.BiasIh.ToArray()) "a.BiasHh.ToArray()"

let ``forward passes have the expected shapes`` () =
    let key = Rng.key 2UL
    let cell = GruCell.init key 5 4
    let h = GruCell.forward cell (Tensor.ones [| 3; 5 |]) (Tensor.zeros [| 3; 4 |])
    Expect.equal h.Shape (Shape [| 3; 4 |]) "h.Shape"
    Expect.equal (GruCell.hidden cell) 4 "GruCell.hidden cell"
    let y = Linear.forward (Linear.init key 4 9) h
    Expect.equal y.Shape (Shape [| 3; 9 |]) "y.Shape"

[<Tests>]
let tests =
    testList
        "Nn"
        [
            testCase
                "layers are named like PyTorch's nn.Linear and nn.GRUCell"
                ``layers are named like PyTorch's nn.Linear and nn.GRUCell``
            testCase
                "default initialisation is uniform within 1 over the square root of the fan-in"
                ``default initialisation is uniform within 1 over the square root of the fan-in``
            testCase
                "the same key gives the same parameters, different keys different ones"
                ``the same key gives the same parameters, different keys different ones``
            testCase "forward passes have the expected shapes" ``forward passes have the expected shapes``
        ]
