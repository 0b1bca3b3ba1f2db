module Qmix.Tensors.Tests.LayersTests

open System
open Expecto
open Qmix.Tests
open FsCheck
open FsCheck.FSharp
open Qmix.Tensors

/// Deterministic values in [-scale, scale) for a seed (no dependency on the library's random keys).
let values (seed: int) (n: int) (scale: float) =
    Array.init n (fun i ->
        (Math.Sin(float (i + 1) * 12.9898 + float seed * 78.233) * 43758.5453 % 1.0)
        * scale)

let tensor (seed: int) (dims: int[]) (scale: float) =
    Tensor.ofArray dims (values seed (Array.fold (*) 1 dims) scale |> Array.map float32)

let sigmoid (v: float) = 1.0 / (1.0 + Math.Exp(-v))

/// PyTorch's Linear in float64: y[r, o] = Σ_i x[r, i] W[o, i] + b[o].
let linear64 (w: float[]) (b: float[]) (nOut: int) (nIn: int) (x: float[]) =
    let rows = x.Length / nIn

    Array.init (rows * nOut) (fun k ->
        let r, o = k / nOut, k % nOut

        b[o]
        + Seq.sum (seq { for i in 0 .. nIn - 1 -> x[r * nIn + i] * w[o * nIn + i] }))

/// PyTorch's GRUCell in float64, gates r, z, n.
let gru64 (wih: float[]) (whh: float[]) (bih: float[]) (bhh: float[]) (nIn: int) (hid: int) (x: float[]) (h: float[]) =
    let batch = h.Length / hid
    let gi = linear64 wih bih (3 * hid) nIn x
    let gh = linear64 whh bhh (3 * hid) hid h

    Array.init (batch * hid) (fun k ->
        let b, j = k / hid, k % hid
        let at (g: float[]) gate = g[b * 3 * hid + gate * hid + j]
        let r = sigmoid (at gi 0 + at gh 0)
        let z = sigmoid (at gi 1 + at gh 1)
        let n = Math.Tanh(at gi 2 + r * at gh 2)
        (1.0 - z) * n + z * h[k])

let weighted (w: float[]) (y: float[]) =
    Array.fold2 (fun s a b -> s + a * b) 0.0 w y

let ``linear forward matches x·Wᵀ + b computed in float64`` () =
    let x, w, b = tensor 1 [| 5; 7 |] 1.0, tensor 2 [| 3; 7 |] 0.5, tensor 3 [| 3 |] 0.5
    let y = Layers.linear w b x
    Expect.equal y.Shape (Shape [| 5; 3 |]) "y.Shape"

    let f64 =
        linear64 (w.ToArray() |> Array.map float) (b.ToArray() |> Array.map float) 3 7 (x.ToArray() |> Array.map float)

    Array.iter2 (fun (a: float32) e -> Expect.roundedEqual (float a) e 5 "float a") (y.ToArray()) f64

let ``linear works over leading batch axes`` () =
    let x, w, b =
        tensor 1 [| 2; 3; 4 |] 1.0, tensor 2 [| 5; 4 |] 0.5, tensor 3 [| 5 |] 0.5

    let y = Layers.linear w b x
    Expect.equal y.Shape (Shape [| 2; 3; 5 |]) "y.Shape"
    let flat = Layers.linear w b (Tensor.reshape [| 6; 4 |] x)
    Expect.equal (y.ToArray()) (flat.ToArray()) "y.ToArray()"

let ``GRUCell forward matches PyTorch's formula, a worked example`` () =
    // One input, one hidden unit: weights chosen so every gate is easy to follow by hand.
    let wih = Tensor.ofArray [| 3; 1 |] [| 1.0f; -1.0f; 0.5f |]
    let whh = Tensor.ofArray [| 3; 1 |] [| 0.5f; 0.25f; -1.0f |]
    let bih = Tensor.ofArray [| 3 |] [| 0.1f; 0.2f; 0.3f |]
    let bhh = Tensor.ofArray [| 3 |] [| -0.1f; 0.0f; 0.2f |]
    let x = Tensor.ofArray [| 1; 1 |] [| 2.0f |]
    let h = Tensor.ofArray [| 1; 1 |] [| -0.5f |]
    let r = sigmoid (2.0 + 0.1 + (-0.25) + -0.1)
    let z = sigmoid (-2.0 + 0.2 + (-0.125) + 0.0)
    let n = Math.Tanh(1.0 + 0.3 + r * (0.5 + 0.2))
    let expected = (1.0 - z) * n + z * -0.5
    let y = Layers.gruCell wih whh bih bhh x h
    Expect.roundedEqual (float y.Scalar) expected 6 "float y.Scalar"

let ``GRUCell forward matches the float64 reference at agent sizes`` () =
    let nIn, hid, batch = 42, 64, 6
    let wih, whh = tensor 1 [| 3 * hid; nIn |] 0.15, tensor 2 [| 3 * hid; hid |] 0.12
    let bih, bhh = tensor 3 [| 3 * hid |] 0.12, tensor 4 [| 3 * hid |] 0.12
    let x, h = tensor 5 [| batch; nIn |] 1.0, tensor 6 [| batch; hid |] 0.9
    let f (t: Tensor) = t.ToArray() |> Array.map float
    let y = Layers.gruCell wih whh bih bhh x h
    let e = gru64 (f wih) (f whh) (f bih) (f bhh) nIn hid (f x) (f h)

    Array.iter2
        (fun (a: float32) b -> Expect.isTrue (abs (float a - b) < 1e-5) (sprintf "%g vs %g" a b))
        (y.ToArray())
        e

let dimsGen =
    gen {
        let! batch = Gen.choose (1, 4)
        let! nIn = Gen.choose (1, 5)
        let! hid = Gen.choose (1, 4)
        let! seed = Gen.choose (0, 10000)
        return batch, nIn, hid, seed
    }

let ``linear gradients match finite differences of the float64 reference`` () =
    Prop.forAll (Arb.fromGen dimsGen) (fun (rows, nIn, nOut, seed) ->
        let inputs =
            [|
                tensor seed [| rows; nIn |] 1.0
                tensor (seed + 1) [| nOut; nIn |] 1.0
                tensor (seed + 2) [| nOut |] 1.0
            |]

        let w = values (seed + 3) (rows * nOut) 1.0

        let f32 (xs: Tensor[]) =
            Layers.linear xs[1] xs[2] xs[0]
            |> Tensor.mul (Tensor.ofArray [| rows; nOut |] (Array.map float32 w))
            |> Tensor.sum

        let f64 (xs: float[][]) =
            linear64 xs[1] xs[2] nOut nIn xs[0] |> weighted w

        let report = GradCheck.check 1e-3 f32 f64 inputs
        report.Passed |> Prop.label (sprintf "%A" report))

let ``GRUCell gradients match finite differences of the float64 reference`` () =
    Prop.forAll (Arb.fromGen dimsGen) (fun (batch, nIn, hid, seed) ->
        let inputs =
            [|
                tensor seed [| batch; nIn |] 1.0
                tensor (seed + 1) [| batch; hid |] 0.9
                tensor (seed + 2) [| 3 * hid; nIn |] 0.8
                tensor (seed + 3) [| 3 * hid; hid |] 0.8
                tensor (seed + 4) [| 3 * hid |] 0.5
                tensor (seed + 5) [| 3 * hid |] 0.5
            |]

        let w = values (seed + 6) (batch * hid) 1.0

        let f32 (xs: Tensor[]) =
            Layers.gruCell xs[2] xs[3] xs[4] xs[5] xs[0] xs[1]
            |> Tensor.mul (Tensor.ofArray [| batch; hid |] (Array.map float32 w))
            |> Tensor.sum

        let f64 (xs: float[][]) =
            gru64 xs[2] xs[3] xs[4] xs[5] nIn hid xs[0] xs[1] |> weighted w

        let report = GradCheck.check 1e-3 f32 f64 inputs
        report.Passed |> Prop.label (sprintf "%A" report))

let ``a GRU unrolled through time carries gradients back to the first step`` () =
    // Three steps sharing weights: the gradient w.r.t. the first input must match the float64 reference.
    let nIn, hid, batch = 3, 4, 2

    let ws =
        [|
            tensor 2 [| 3 * hid; nIn |] 0.8
            tensor 3 [| 3 * hid; hid |] 0.8
            tensor 4 [| 3 * hid |] 0.5
            tensor 5 [| 3 * hid |] 0.5
        |]

    let xs = [| for s in 0..2 -> tensor (10 + s) [| batch; nIn |] 1.0 |]
    let inputs = Array.append ws xs

    let f32 (p: Tensor[]) =
        let mutable h = Tensor.zeros [| batch; hid |]

        for s in 0..2 do
            h <- Layers.gruCell p[0] p[1] p[2] p[3] p[4 + s] h

        Tensor.sum (Tensor.square h)

    let f64 (p: float[][]) =
        let mutable h = Array.zeroCreate (batch * hid)

        for s in 0..2 do
            h <- gru64 p[0] p[1] p[2] p[3] nIn hid p[4 + s] h

        h |> Array.sumBy (fun v -> v * v)

    let report = GradCheck.check 1e-3 f32 f64 inputs
    Expect.isTrue report.Passed (sprintf "%A" report)

let ``layers reject mismatched shapes by naming them`` () =
    let w = Tensor.zeros [| 3; 4 |]

    let e =
        Expect.throwsOf<ArgumentException>(fun () -> Layers.linear w null (Tensor.zeros [| 2; 5 |]) |> ignore)

    Expect.stringContains e.Message "[2, 5]" "e.Message"
    Expect.stringContains e.Message "[3, 4]" "e.Message"

    let wih, whh, b =
        Tensor.zeros [| 6; 3 |], Tensor.zeros [| 6; 2 |], Tensor.zeros [| 6 |]

    let e2 =
        Expect.throwsOf<ArgumentException>(fun () ->
            Layers.gruCell wih whh b b (Tensor.zeros [| 4; 3 |]) (Tensor.zeros [| 5; 2 |])
            |> ignore)

    Expect.stringContains e2.Message "[5, 2]" "e2.Message"
    Expect.stringContains e2.Message "[4, 3]" "e2.Message"

[<Tests>]
let tests =
    testList
        "Layers"
        [
            testCase
                "linear forward matches x·Wᵀ + b computed in float64"
                ``linear forward matches x·Wᵀ + b computed in float64``
            testCase "linear works over leading batch axes" ``linear works over leading batch axes``
            testCase
                "GRUCell forward matches PyTorch's formula, a worked example"
                ``GRUCell forward matches PyTorch's formula, a worked example``
            testCase
                "GRUCell forward matches the float64 reference at agent sizes"
                ``GRUCell forward matches the float64 reference at agent sizes``
            testPropertyWithConfig
                (Replay.config 60)
                "linear gradients match finite differences of the float64 reference"
                (``linear gradients match finite differences of the float64 reference`` ())
            testPropertyWithConfig
                (Replay.config 60)
                "GRUCell gradients match finite differences of the float64 reference"
                (``GRUCell gradients match finite differences of the float64 reference`` ())
            testCase
                "a GRU unrolled through time carries gradients back to the first step"
                ``a GRU unrolled through time carries gradients back to the first step``
            testCase "layers reject mismatched shapes by naming them" ``layers reject mismatched shapes by naming them``
        ]
