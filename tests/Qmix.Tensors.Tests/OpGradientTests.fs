/// Gradient checks of every differentiable op against central finite differences of an independent
/// float64 reference (see Reference.fs), over drawn shapes and values.
module Qmix.Tensors.Tests.OpGradientTests

open System
open Expecto
open Qmix.Tests
open FsCheck
open FsCheck.FSharp
open Qmix.Tensors
open Qmix.Tensors.Tests.Generators

module R = Reference

/// One op at one point: its inputs, the op on tensors and the same op in the reference.
type Problem =
    {
        Label: string
        Inputs: Case[]
        F32: Tensor[] -> Tensor
        F64: R.Nd[] -> R.Nd
    }

    override p.ToString() = sprintf "%s on %A" p.Label p.Inputs

let problem label inputs f32 f64 =
    {
        Label = label
        Inputs = inputs
        F32 = f32
        F64 = f64
    }

let tolerance = 2e-3

/// Formats dimensions like a Shape: [2, 3].
let fmt (d: int[]) = "[" + String.Join(", ", d) + "]"

/// Checks the op's value and gradient at one point: both sides are reduced to Σ out·w with the fixed
/// weights w, so every output element's gradient contributes with its own weight.
let gradCheck (p: Problem) (w: Case) =
    let wT = w.Tensor
    let wN = w.Nd

    let f32 (xs: Tensor[]) =
        let out = p.F32 xs

        if out.Shape.ToArray() <> w.Dims then
            failwithf "%s: output shape %O, the reference's is %A" p.Label out.Shape w.Dims

        Tensor.sum (Tensor.mul out wT)

    let f64 (xs: float[][]) =
        let nds = Array.map2 (fun (c: Case) x -> R.nd c.Dims x) p.Inputs xs
        R.dot (p.F64 nds) wN

    let report =
        GradCheck.check tolerance f32 f64 (p.Inputs |> Array.map (fun c -> c.Tensor))

    if not report.Passed then
        failwithf "%s: gradient check failed: %A\ninputs: %A\nweights: %O" p.Label report p.Inputs w

/// The gradient check as a property over drawn problems (the test list runs it from the fixed replay seed).
let checkAll (name: string) (problems: Gen<Problem>) =
    let withWeights =
        gen {
            let! p = problems
            let outDims = (p.F64(p.Inputs |> Array.map (fun c -> c.Nd))).Dims
            let! w = weightsFor outDims
            return p, w
        }

    labelled name (forAll withWeights (fun (p, w) -> gradCheck p w))

let unary label (valuesFor: int[] -> Gen<Case>) (f32: Tensor -> Tensor) (f64: R.Nd -> R.Nd) =
    gen {
        let! d = shape
        let! x = valuesFor d
        return problem label [| x |] (fun xs -> f32 xs[0]) (fun xs -> f64 xs[0])
    }

let binaryOf label (f32: Tensor -> Tensor -> Tensor) (f64: R.Nd -> R.Nd -> R.Nd) (a: Case) (b: Case) =
    problem label [| a; b |] (fun xs -> f32 xs[0] xs[1]) (fun xs -> f64 xs[0] xs[1])

let axisOf (rank: int) = Gen.choose (-rank, rank - 1)

// ---------------------------------------------------------------- elementwise unary ops

let unaryOps: (string * (int[] -> Gen<Case>) * (Tensor -> Tensor) * (R.Nd -> R.Nd)) list =
    [
        "neg", tensorIn -2.0 2.0, Tensor.neg, R.neg
        "addScalar", tensorIn -2.0 2.0, Tensor.addScalar 0.7f, R.addScalar (float 0.7f)
        "mulScalar", tensorIn -2.0 2.0, Tensor.mulScalar -1.3f, R.mulScalar (float -1.3f)
        "rsubScalar", tensorIn -2.0 2.0, Tensor.rsubScalar 1.0f, R.rsubScalar 1.0
        "divScalar", tensorIn -2.0 2.0, Tensor.divScalar 0.25f, R.divScalar 0.25
        "relu", tensorAwayFromZero, Tensor.relu, R.relu
        "elu", tensorAwayFromZero, Tensor.elu, R.elu
        "abs", tensorAwayFromZero, Tensor.abs, R.abs
        "sigmoid", tensorIn -4.0 4.0, Tensor.sigmoid, R.sigmoid
        "tanh", tensorIn -3.0 3.0, Tensor.tanh, R.tanh
        "exp", tensorIn -2.0 2.0, Tensor.exp, R.exp
        "log", tensorPositive, Tensor.log, R.log
        "softplus", tensorIn -25.0 25.0, Tensor.softplus, R.softplus
        "square", tensorIn -2.0 2.0, Tensor.square, R.square
        "sqrt", tensorPositive, Tensor.sqrt, R.sqrt
    ]

let ``unary op gradients match finite differences`` (name: string) =
    let _, values, f32, f64 = unaryOps |> List.find (fun (n, _, _, _) -> n = name)
    checkAll name (unary name values f32 f64)

// ---------------------------------------------------------------- elementwise binary ops, broadcasting

/// Pairs of shapes that broadcast together, by pattern.
let broadcastPatterns: (string * Gen<int[] * int[]>) list =
    [
        "same shape", shape |> Gen.map (fun d -> d, d)
        "row [m,n] with [n]", Gen.zip dim dim |> Gen.map (fun (m, n) -> [| m; n |], [| n |])
        "row [n] with [m,n]", Gen.zip dim dim |> Gen.map (fun (m, n) -> [| n |], [| m; n |])
        "column [m,n] with [m,1]", Gen.zip dim dim |> Gen.map (fun (m, n) -> [| m; n |], [| m; 1 |])
        "column [m,1] with [m,n]", Gen.zip dim dim |> Gen.map (fun (m, n) -> [| m; 1 |], [| m; n |])
        "both sides [m,1] with [1,n]", Gen.zip dim dim |> Gen.map (fun (m, n) -> [| m; 1 |], [| 1; n |])
        "scalar with tensor", shape |> Gen.map (fun d -> [||], d)
        "tensor with scalar", shape |> Gen.map (fun d -> d, [||])
        "rank 3 [a,n,b] with [1,n,1]", Gen.three dim |> Gen.map (fun (a, n, b) -> [| a; n; b |], [| 1; n; 1 |])
        "rank 3 [1,n,1] with [a,n,b]", Gen.three dim |> Gen.map (fun (a, n, b) -> [| 1; n; 1 |], [| a; n; b |])
        "random",
        gen {
            // from one shape, each side drops some leading dimensions and sets some others to 1
            let! d = shape

            let side =
                gen {
                    let! drop = Gen.choose (0, d.Length)
                    let! ones = Gen.arrayOfLength d.Length (Gen.elements [ false; false; true ])
                    return Array.init d.Length (fun i -> if ones[i] then 1 else d[i]) |> Array.skip drop
                }

            let! a = side
            let! b = side
            return a, b
        }
    ]

let binaryOps: (string * (Tensor -> Tensor -> Tensor) * (R.Nd -> R.Nd -> R.Nd) * (int[] -> Gen<Case>)) list =
    [
        "add", Tensor.add, R.add, tensorIn -2.0 2.0
        "sub", Tensor.sub, R.sub, tensorIn -2.0 2.0
        "mul", Tensor.mul, R.mul, tensorIn -2.0 2.0
        // divisors kept positive and away from 0
        "div", Tensor.div, R.div, tensorPositive
    ]

let ``binary op gradients reach both operands under broadcasting`` (op: string) (pattern: string) =
    let _, f32, f64, second = binaryOps |> List.find (fun (n, _, _, _) -> n = op)
    let _, shapes = broadcastPatterns |> List.find (fun (n, _) -> n = pattern)

    checkAll
        $"{op}, {pattern}"
        (gen {
            let! da, db = shapes
            let! a = tensorIn -2.0 2.0 da
            let! b = second db
            return binaryOf $"{op} {fmt da} {fmt db}" f32 f64 a b
        })

let ``binary op gradient with one operand a constant, under broadcasting`` (op: string) (constantSide: string) =
    let _, f32, f64, second = binaryOps |> List.find (fun (n, _, _, _) -> n = op)
    let _, shapes = broadcastPatterns |> List.find (fun (n, _) -> n = "random")

    checkAll
        $"{op}, {constantSide} constant"
        (gen {
            let! da, db = shapes
            let! a = tensorIn -2.0 2.0 da
            let! b = second db

            return
                if constantSide = "a" then
                    let aT, aN = a.Tensor, a.Nd

                    problem $"{op} {fmt da} (constant) {fmt db}" [| b |] (fun xs -> f32 aT xs[0]) (fun xs ->
                        f64 aN xs[0])
                else
                    let bT, bN = b.Tensor, b.Nd

                    problem $"{op} {fmt da} {fmt db} (constant)" [| a |] (fun xs -> f32 xs[0] bT) (fun xs ->
                        f64 xs[0] bN)
        })

// ---------------------------------------------------------------- reductions

let ``sum and mean gradients`` () =
    [
        "sum", checkAll "sum" (unary "sum" (tensorIn -2.0 2.0) Tensor.sum R.sum)
        "mean", checkAll "mean" (unary "mean" (tensorIn -2.0 2.0) Tensor.mean R.mean)
    ]

let axisProblem label (valuesFor: int -> int[] -> Gen<Case>) f32 f64 =
    gen {
        let! d = shape
        let! axis = axisOf d.Length
        let! keepDim = Gen.elements [ true; false ]
        let! x = valuesFor axis d

        return
            problem $"{label} axis {axis} keepDim {keepDim}" [| x |] (fun xs -> f32 axis keepDim xs[0]) (fun xs ->
                f64 axis keepDim xs[0])
    }

let ``sumAxis gradient, keepDim both ways`` () =
    checkAll "sumAxis" (axisProblem "sumAxis" (fun _ -> tensorIn -2.0 2.0) Tensor.sumAxis R.sumAxis)

let ``meanAxis gradient, keepDim both ways`` () =
    checkAll "meanAxis" (axisProblem "meanAxis" (fun _ -> tensorIn -2.0 2.0) Tensor.meanAxis R.meanAxis)

let ``maxAxis gradient flows to the unique maximum, keepDim both ways`` () =
    checkAll "maxAxis" (axisProblem "maxAxis" tensorDistinctAlong Tensor.maxAxis R.maxAxis)

// ---------------------------------------------------------------- indexing and shape ops

let ``gather gradient along the last axis`` () =
    checkAll
        "gather"
        (gen {
            let! d = shape
            let a = d[d.Length - 1]
            let! idx = Gen.arrayOfLength (numel d / a) (Gen.choose (0, a - 1))
            let! x = tensorIn -2.0 2.0 d

            return
                problem $"gather {fmt idx}" [| x |] (fun xs -> Tensor.gather idx xs[0]) (fun xs -> R.gather idx xs[0])
        })

let ``concat gradient to every part`` () =
    checkAll
        "concat"
        (gen {
            let! d = shape
            let! axis = axisOf d.Length
            let! parts = Gen.choose (1, 3)
            let! sizes = Gen.arrayOfLength parts (Gen.choose (1, 4))

            let! xs =
                sizes
                |> Array.map (fun s ->
                    let di = Array.copy d
                    di[(axis + d.Length) % d.Length] <- s
                    tensorIn -2.0 2.0 di)
                |> Gen.sequenceToArray

            return
                problem $"concat axis {axis}" xs (fun ts -> Tensor.concat axis ts) (fun ns ->
                    R.concat axis (List.ofArray ns))
        })

let ``concat gradient with a constant part in the middle`` () =
    checkAll
        "concat with a constant"
        (gen {
            let! d = shape
            let! axis = axisOf d.Length
            let! x = tensorIn -2.0 2.0 d
            let! c = tensorIn -2.0 2.0 d
            let! y = tensorIn -2.0 2.0 d
            let cT, cN = c.Tensor, c.Nd

            return
                problem
                    $"concat axis {axis} with a constant"
                    [| x; y |]
                    (fun ts -> Tensor.concat axis [ ts[0]; cT; ts[1] ])
                    (fun ns -> R.concat axis [ ns[0]; cN; ns[1] ])
        })

let ``stack gradient to every part`` () =
    checkAll
        "stack"
        (gen {
            let! d = dims 1 3
            let! axis = Gen.choose (-(d.Length + 1), d.Length)
            let! parts = Gen.choose (1, 3)
            let! xs = Gen.arrayOfLength parts (tensorIn -2.0 2.0 d)

            return
                problem $"stack axis {axis}" xs (fun ts -> Tensor.stack axis ts) (fun ns ->
                    R.stack axis (List.ofArray ns))
        })

let ``slice gradient`` () =
    checkAll
        "slice"
        (gen {
            let! d = shape
            let! axis = axisOf d.Length
            let n = d[(axis + d.Length) % d.Length]
            let! start = Gen.choose (0, n - 1)
            let! length = Gen.choose (1, n - start)
            let! x = tensorIn -2.0 2.0 d

            return
                problem
                    $"slice axis {axis} [{start}, {start + length})"
                    [| x |]
                    (fun xs -> Tensor.slice axis start length xs[0])
                    (fun xs -> R.slice axis start length xs[0])
        })

let ``where gradient to both branches`` () =
    checkAll
        "where"
        (gen {
            let! d = shape
            let! m = mask d
            let! a = tensorIn -2.0 2.0 d
            let! b = tensorIn -2.0 2.0 d
            let mT = m.Tensor
            let mN = m.Nd

            return
                problem $"where {m}" [| a; b |] (fun xs -> Tensor.where mT xs[0] xs[1]) (fun xs ->
                    R.where mN xs[0] xs[1])
        })

let ``maskedFill gradient skips the filled elements`` () =
    checkAll
        "maskedFill"
        (gen {
            let! d = shape
            let! m = mask d
            let! x = tensorIn -2.0 2.0 d
            let mT = m.Tensor
            let mN = m.Nd

            return
                problem $"maskedFill {m}" [| x |] (fun xs -> Tensor.maskedFill mT -0.75f xs[0]) (fun xs ->
                    R.maskedFill mN -0.75 xs[0])
        })

let ``reshape gradient, with and without an inferred dimension`` () =
    checkAll
        "reshape"
        (gen {
            let! d = shape
            let! permuted = Gen.shuffle d
            let! extraOne = Gen.elements [ false; true ]
            let target = if extraOne then Array.append permuted [| 1 |] else permuted
            let! infer = Gen.choose (-1, target.Length - 1)
            let target = target |> Array.mapi (fun i v -> if i = infer then -1 else v)
            let! x = tensorIn -2.0 2.0 d

            return
                problem $"reshape {fmt d} to {fmt target}" [| x |] (fun xs -> Tensor.reshape target xs[0]) (fun xs ->
                    R.reshape target xs[0])
        })

let ``transpose gradient`` () =
    checkAll
        "transpose"
        (gen {
            let! d = dims 2 4
            let! x = tensorIn -2.0 2.0 d
            return problem "transpose" [| x |] (fun xs -> Tensor.transpose xs[0]) (fun xs -> R.transpose xs[0])
        })

let matmulOf (da: int[]) (db: int[]) =
    gen {
        let! a = tensorIn -2.0 2.0 da
        let! b = tensorIn -2.0 2.0 db
        return binaryOf $"matmul {fmt da} {fmt db}" Tensor.matmul R.matmul a b
    }

let ``matmul gradient to both operands, 2-D`` () =
    checkAll
        "matmul 2-D"
        (gen {
            let! m, k, n = Gen.three dim
            return! matmulOf [| m; k |] [| k; n |]
        })

let ``matmul gradient to both operands, batched with equal leading dims`` () =
    checkAll
        "matmul batched"
        (gen {
            let! batch = dims 1 2
            let! m, k, n = Gen.three dim
            return! matmulOf (Array.append batch [| m; k |]) (Array.append batch [| k; n |])
        })

let ``matmul gradient to both operands, [..., m, k] with a shared [k, n]`` () =
    checkAll
        "matmul shared"
        (gen {
            let! batch = dims 1 2
            let! m, k, n = Gen.three dim
            return! matmulOf (Array.append batch [| m; k |]) [| k; n |]
        })

// ---------------------------------------------------------------- shared inputs and chains

let ``a tensor used twice accumulates both gradients`` () =
    [
        "x * x", checkAll "x * x" (unary "x * x" (tensorIn -2.0 2.0) (fun x -> Tensor.mul x x) (fun x -> R.mul x x))

        "x * sigmoid x + x",
        checkAll
            "x * sigmoid x + x"
            (unary
                "x * sigmoid x + x"
                (tensorIn -2.0 2.0)
                (fun x -> Tensor.add (Tensor.mul x (Tensor.sigmoid x)) x)
                (fun x -> R.add (R.mul x (R.sigmoid x)) x))

        "x @ xᵀ",
        checkAll
            "x @ xᵀ"
            (gen {
                let! d = dims 2 3
                let! x = tensorIn -2.0 2.0 d

                return
                    problem "x @ xᵀ" [| x |] (fun xs -> Tensor.matmul xs[0] (Tensor.transpose xs[0])) (fun xs ->
                        R.matmul xs[0] (R.transpose xs[0]))
            })
    ]

let ``a chain: elu (x·w + b) |> maxAxis |> mean`` () =
    checkAll
        "chain"
        (gen {
            let! batch, m = Gen.zip dim dim
            let! k, n = Gen.zip dim dim
            let! x = tensorIn -2.0 2.0 [| batch; m; k |]
            let! w = tensorIn -1.0 1.0 [| k; n |]
            let! b = tensorIn -1.0 1.0 [| n |]

            return
                problem
                    "chain"
                    [| x; w; b |]
                    (fun ts ->
                        Tensor.add (Tensor.matmul ts[0] ts[1]) ts[2]
                        |> Tensor.elu
                        |> Tensor.maxAxis -1 false
                        |> Tensor.mean)
                    (fun ns -> R.add (R.matmul ns[0] ns[1]) ns[2] |> R.elu |> R.maxAxis -1 false |> R.mean)
        })

// ---------------------------------------------------------------- non-differentiable ops, values only

let ``argmax picks the first index on ties`` () =
    labelled
        "argmax"
        (forAll
            (gen {
                let! d = shape
                let! axis = axisOf d.Length
                // few distinct values: ties are common
                let! x = tensorOf (Gen.elements [ 0.0; 1.0; 2.0 ]) d
                return axis, x
            })
            (fun (axis, x) ->
                let ours = Tensor.argmax axis x.Tensor
                let reference = R.argmax axis x.Nd
                Expect.isTrue (ours = reference) ($"argmax axis {axis} of {x}: {fmt ours} vs {fmt reference}")))

let ``argmax picks the first index on ties, fixed case`` () =
    let x = Tensor.ofArray [| 2; 3 |] [| 1f; 3f; 3f; 2f; 2f; 0f |]
    Expect.equal (Tensor.argmax 1 x) ([| 1; 0 |]) "Tensor.argmax 1 x"
    Expect.equal (Tensor.argmax 0 x) ([| 1; 0; 0 |]) "Tensor.argmax 0 x"

let ``oneHot matches the reference`` () =
    labelled
        "oneHot"
        (forAll
            (gen {
                let! n = dim
                let! d = dims 0 3
                let! idx = Gen.arrayOfLength (numel d) (Gen.choose (0, n - 1))
                return n, d, idx
            })
            (fun (n, d, idx) ->
                let ours = Tensor.oneHot n d idx
                let reference = R.oneHot n d idx
                Expect.equal (ours.Shape.ToArray()) reference.Dims "ours.Shape.ToArray()"
                Expect.equal (ours.ToArray() |> Array.map float) reference.Data "ours.ToArray() |> Array.map float"))

[<Tests>]
let tests =
    testList
        "OpGradient"
        [
            testList
                "unary op gradients match finite differences"
                [
                    for name, _, _, _ in unaryOps ->
                        testPropertyWithConfig
                            (Replay.config 60)
                            name
                            (``unary op gradients match finite differences`` name)
                ]
            testList
                "binary op gradients reach both operands under broadcasting"
                [
                    for op, _, _, _ in binaryOps do
                        for pattern, _ in broadcastPatterns ->
                            testPropertyWithConfig
                                (Replay.config 60)
                                $"{op}, {pattern}"
                                (``binary op gradients reach both operands under broadcasting`` op pattern)
                ]
            testList
                "binary op gradient with one operand a constant, under broadcasting"
                [
                    for op, _, _, _ in binaryOps do
                        for side in [ "a"; "b" ] ->
                            testPropertyWithConfig
                                (Replay.config 60)
                                $"{op}, {side} constant"
                                (``binary op gradient with one operand a constant, under broadcasting`` op side)
                ]
            testList
                "sum and mean gradients"
                [
                    for label, p in ``sum and mean gradients`` () -> testPropertyWithConfig (Replay.config 60) label p
                ]
            testPropertyWithConfig
                (Replay.config 60)
                "sumAxis gradient, keepDim both ways"
                (``sumAxis gradient, keepDim both ways`` ())
            testPropertyWithConfig
                (Replay.config 60)
                "meanAxis gradient, keepDim both ways"
                (``meanAxis gradient, keepDim both ways`` ())
            testPropertyWithConfig
                (Replay.config 60)
                "maxAxis gradient flows to the unique maximum, keepDim both ways"
                (``maxAxis gradient flows to the unique maximum, keepDim both ways`` ())
            testPropertyWithConfig
                (Replay.config 60)
                "gather gradient along the last axis"
                (``gather gradient along the last axis`` ())
            testPropertyWithConfig
                (Replay.config 60)
                "concat gradient to every part"
                (``concat gradient to every part`` ())
            testPropertyWithConfig
                (Replay.config 60)
                "concat gradient with a constant part in the middle"
                (``concat gradient with a constant part in the middle`` ())
            testPropertyWithConfig
                (Replay.config 60)
                "stack gradient to every part"
                (``stack gradient to every part`` ())
            testPropertyWithConfig (Replay.config 60) "slice gradient" (``slice gradient`` ())
            testPropertyWithConfig
                (Replay.config 60)
                "where gradient to both branches"
                (``where gradient to both branches`` ())
            testPropertyWithConfig
                (Replay.config 60)
                "maskedFill gradient skips the filled elements"
                (``maskedFill gradient skips the filled elements`` ())
            testPropertyWithConfig
                (Replay.config 60)
                "reshape gradient, with and without an inferred dimension"
                (``reshape gradient, with and without an inferred dimension`` ())
            testPropertyWithConfig (Replay.config 60) "transpose gradient" (``transpose gradient`` ())
            testPropertyWithConfig
                (Replay.config 60)
                "matmul gradient to both operands, 2-D"
                (``matmul gradient to both operands, 2-D`` ())
            testPropertyWithConfig
                (Replay.config 60)
                "matmul gradient to both operands, batched with equal leading dims"
                (``matmul gradient to both operands, batched with equal leading dims`` ())
            testPropertyWithConfig
                (Replay.config 60)
                "matmul gradient to both operands, [..., m, k] with a shared [k, n]"
                (``matmul gradient to both operands, [..., m, k] with a shared [k, n]`` ())
            testList
                "a tensor used twice accumulates both gradients"
                [
                    for label, p in ``a tensor used twice accumulates both gradients`` () ->
                        testPropertyWithConfig (Replay.config 60) label p
                ]
            testPropertyWithConfig
                (Replay.config 60)
                "a chain: elu (x·w + b) |> maxAxis |> mean"
                (``a chain: elu (x·w + b) |> maxAxis |> mean`` ())
            testPropertyWithConfig
                (Replay.config 60)
                "argmax picks the first index on ties"
                (``argmax picks the first index on ties`` ())
            testCase
                "argmax picks the first index on ties, fixed case"
                ``argmax picks the first index on ties, fixed case``
            testPropertyWithConfig
                (Replay.config 60)
                "oneHot matches the reference"
                (``oneHot matches the reference`` ())
        ]
