module Qmix.Tensors.Tests.OptimTests

open System
open Expecto
open Qmix.Tests
open Qmix.Tensors

type P = { W: Tensor; B: Tensor }

let p0 () =
    {
        W = Tensor.ofArray [| 2; 2 |] [| 1f; -2f; 0.5f; 0f |]
        B = Tensor.ofArray [| 1 |] [| 3f |]
    }

let grads k =
    {
        W = Tensor.ofArray [| 2; 2 |] [| 0.5f * k; -0.1f; 2f; 0f |]
        B = Tensor.ofArray [| 1 |] [| -1f * k |]
    }

let near (expected: float) (actual: float32) =
    Expect.isTrue
        (abs (expected - float actual) <= 1e-6 * max 1.0 (abs expected))
        (sprintf "expected %.9g, got %.9g" expected actual)

let ``RMSprop first step by hand: p = 1, g = 0.5 gives 0.9`` () =
    // v = 0.01·0.25 = 0.0025, √v = 0.05, p' = 1 − 0.01·0.5/(0.05 + 1e-8)
    let cfg = RmsPropConfig.defaults
    let p, s = Optim.rmsprop cfg (Optim.rmspropInit (p0 ())) (p0 ()) (grads 1f)
    near (1.0 - 0.01 * 0.5 / (0.05 + 1e-8)) p.W[0, 0]
    near 0.0025 s.SquareAvg.W[0, 0]
    Expect.equal s.Step 1 "s.Step"

let rmsprop64 (lr, alpha, eps, mom) (steps: float list) (p0: float) =
    // PyTorch's documented RMSprop, scalar, float64
    let mutable p, v, b = p0, 0.0, 0.0

    for g in steps do
        v <- alpha * v + (1.0 - alpha) * g * g
        let avg = Math.Sqrt v + eps

        if mom > 0.0 then
            b <- mom * b + g / avg
            p <- p - lr * b
        else
            p <- p - lr * g / avg

    p

let adam64 (lr, b1, b2, eps) (steps: float list) (p0: float) =
    let mutable p, m, v, t = p0, 0.0, 0.0, 0

    for g in steps do
        t <- t + 1
        m <- b1 * m + (1.0 - b1) * g
        v <- b2 * v + (1.0 - b2) * g * g
        let mh = m / (1.0 - b1 ** float t)
        let vh = v / (1.0 - b2 ** float t)
        p <- p - lr * mh / (Math.Sqrt vh + eps)

    p

let ``RMSprop over several steps matches PyTorch's formula`` (lr: float, alpha: float, eps: float, mom: float) =
    let cfg =
        {
            Lr = float32 lr
            Alpha = float32 alpha
            Eps = float32 eps
            Momentum = float32 mom
        }

    let ks = [ 1f; -0.5f; 2f; 0.25f ]

    let p, _ =
        ks
        |> List.fold (fun (p, s) k -> Optim.rmsprop cfg s p (grads k)) (p0 (), Optim.rmspropInit (p0 ()))

    near (rmsprop64 (lr, alpha, eps, mom) (ks |> List.map (fun k -> 0.5 * float k)) 1.0) p.W[0, 0]
    near (rmsprop64 (lr, alpha, eps, mom) (ks |> List.map (fun k -> -1.0 * float k)) 3.0) p.B[0]
    // a zero gradient leaves the parameter where it is
    near 0.0 p.W[1, 1]

let ``Adam first step by hand: the bias-corrected step is lr·sign(g)`` () =
    let p, s =
        Optim.adam AdamConfig.defaults (Optim.adamInit (p0 ())) (p0 ()) (grads 1f)
    // m̂ = g, v̂ = g², so p' = p − lr·g/(|g| + eps)
    near (1.0 - 1e-3 * 0.5 / (0.5 + 1e-8)) p.W[0, 0]
    near 0.05 s.ExpAvg.W[0, 0]
    near 0.00025 s.ExpAvgSq.W[0, 0]

let ``Adam over several steps matches PyTorch's formula`` () =
    let cfg = { AdamConfig.defaults with Lr = 0.01f }
    let ks = [ 1f; -0.5f; 2f; 0.25f; 1f ]

    let p, s =
        ks
        |> List.fold (fun (p, s) k -> Optim.adam cfg s p (grads k)) (p0 (), Optim.adamInit (p0 ()))

    near (adam64 (0.01, 0.9, 0.999, 1e-8) (ks |> List.map (fun k -> 0.5 * float k)) 1.0) p.W[0, 0]
    near (adam64 (0.01, 0.9, 0.999, 1e-8) (ks |> List.map (fun k -> -1.0 * float k)) 3.0) p.B[0]
    Expect.equal s.Step 5 "s.Step"

let ``optimisers leave their inputs unchanged`` () =
    let p, g = p0 (), grads 1f
    let s = Optim.rmspropInit p
    let _ = Optim.rmsprop RmsPropConfig.defaults s p g
    let _ = Optim.adam AdamConfig.defaults (Optim.adamInit p) p g
    Expect.equal (p.W.ToArray()) ([| 1f; -2f; 0.5f; 0f |]) "p.W.ToArray()"
    Expect.equal (s.SquareAvg.W.ToArray()) ([| 0f; 0f; 0f; 0f |]) "s.SquareAvg.W.ToArray()"

let ``clipping returns the norm before clipping and scales to the limit`` () =
    // ‖g‖ = √(0.25 + 0.01 + 4 + 0 + 1) = √5.26
    let g = grads 1f
    let norm = Math.Sqrt 5.26
    let clipped, n = Optim.clipGradNorm 1f g
    near norm n
    near 1.0 (Optim.globalNorm clipped)
    near (0.5 / (norm + 1e-6)) clipped.W[0, 0]
    let same, n2 = Optim.clipGradNorm 10f g
    near norm n2
    Expect.equal (same.W.ToArray()) (g.W.ToArray()) "same.W.ToArray()"

let ``mismatched gradients are rejected with both shapes`` () =
    let bad =
        {
            W = Tensor.zeros [| 4 |]
            B = Tensor.zeros [| 1 |]
        }

    let e =
        Expect.throwsOf<ArgumentException>(fun () ->
            Optim.adam AdamConfig.defaults (Optim.adamInit (p0 ())) (p0 ()) bad |> ignore)

    Expect.stringContains e.Message "[2, 2]" "e.Message"
    Expect.stringContains e.Message "[4]" "e.Message"

[<Tests>]
let tests =
    testList
        "Optim"
        [
            testCase
                "RMSprop first step by hand: p = 1, g = 0.5 gives 0.9"
                ``RMSprop first step by hand: p = 1, g = 0.5 gives 0.9``
            testList
                "RMSprop over several steps matches PyTorch's formula"
                [
                    for args in [ (0.0005, 0.99, 1e-5, 0.0); (0.01, 0.9, 1e-8, 0.9) ] ->
                        testCase (sprintf "%A" args) (fun () ->
                            ``RMSprop over several steps matches PyTorch's formula`` args)
                ]
            testCase
                "Adam first step by hand: the bias-corrected step is lr·sign(g)"
                ``Adam first step by hand: the bias-corrected step is lr·sign(g)``
            testCase
                "Adam over several steps matches PyTorch's formula"
                ``Adam over several steps matches PyTorch's formula``
            testCase "optimisers leave their inputs unchanged" ``optimisers leave their inputs unchanged``
            testCase
                "clipping returns the norm before clipping and scales to the limit"
                ``clipping returns the norm before clipping and scales to the limit``
            testCase
                "mismatched gradients are rejected with both shapes"
                ``mismatched gradients are rejected with both shapes``
        ]
