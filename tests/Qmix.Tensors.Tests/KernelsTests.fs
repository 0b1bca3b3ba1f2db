module Qmix.Tensors.Tests.KernelsTests

open System
open Expecto
open Qmix.Tests
open FsCheck
open FsCheck.FSharp
open Qmix.Tensors

type Layout =
    | NN
    | NT
    | TN

let private isas =
    [ Kernels.Isa.Vector512; Kernels.Isa.Vector256; Kernels.Isa.Scalar ]

let private layouts = [ NN; NT; TN ]

let private random (seed: int) (len: int) =
    let r = Random seed
    Array.init len (fun _ -> float32 (r.NextDouble() * 2.0 - 1.0))

/// The stored operands of a layout for logical A[m,k] and B[k,n].
let private store (layout: Layout) (m: int) (k: int) (n: int) (a: float32[]) (b: float32[]) =
    let transpose (rows: int) (cols: int) (x: float32[]) =
        Array.init (rows * cols) (fun idx -> x[(idx % rows) * cols + idx / rows])

    match layout with
    | NN -> a, b
    | NT -> a, transpose k n b
    | TN -> transpose m k a, b

let private call
    (isa: Kernels.Isa)
    (layout: Layout)
    (m, k, n)
    (a: float32[])
    (b: float32[])
    (c: float32[])
    (accumulate: bool)
    =
    match layout with
    | NN -> Kernels.matmulNNWith isa (m, k, n, ReadOnlySpan a, ReadOnlySpan b, Span c, accumulate)
    | NT -> Kernels.matmulNTWith isa (m, k, n, ReadOnlySpan a, ReadOnlySpan b, Span c, accumulate)
    | TN -> Kernels.matmulTNWith isa (m, k, n, ReadOnlySpan a, ReadOnlySpan b, Span c, accumulate)

/// The float64 product of logical A[m,k] and B[k,n], and Σ|a·b| per element as the error scale.
let private reference (m: int) (k: int) (n: int) (a: float32[]) (b: float32[]) =
    let value = Array.zeroCreate<float>(m * n)
    let scale = Array.zeroCreate<float>(m * n)

    for i in 0 .. m - 1 do
        for j in 0 .. n - 1 do
            for p in 0 .. k - 1 do
                let x = float a[i * k + p] * float b[p * n + j]
                value[i * n + j] <- value[i * n + j] + x
                scale[i * n + j] <- scale[i * n + j] + abs x

    value, scale

let private close (expected: float) (scale: float) (actual: float32) =
    abs (float actual - expected) <= 1e-4 * scale + 1e-6 * abs expected

let private sizeGen =
    Gen.oneof
        [
            Gen.choose (0, 70)
            Gen.elements [ 0; 1; 3; 4; 5; 7; 8; 9; 15; 16; 17; 31; 32; 33; 63; 64; 65 ]
        ]

let private caseGen =
    gen {
        let! m = sizeGen
        let! k = sizeGen
        let! n = sizeGen
        let! seed = Gen.choose (0, 1_000_000)
        return m, k, n, seed
    }

/// Smaller cases: one size halved or lowered by one (sizes stay ≥ 0, the seed is kept).
let private shrinkCase (m: int, k: int, n: int, seed: int) =
    seq {
        for m' in List.distinct [ m / 2; m - 1 ] do
            if m' >= 0 && m' < m then
                yield m', k, n, seed

        for k' in List.distinct [ k / 2; k - 1 ] do
            if k' >= 0 && k' < k then
                yield m, k', n, seed

        for n' in List.distinct [ n / 2; n - 1 ] do
            if n' >= 0 && n' < n then
                yield m, k, n', seed
    }

let ``every layout on every instruction set matches the float64 product`` () =
    (Prop.forAll (Arb.fromGenShrink (caseGen, shrinkCase)) (fun (m, k, n, seed) ->
        let a = random seed (m * k)
        let b = random (seed + 1) (k * n)
        let expected, scale = reference m k n a b

        for layout in layouts do
            let sa, sb = store layout m k n a b

            for isa in isas do
                let c = Array.create (m * n) nanf
                call isa layout (m, k, n) sa sb c false

                for idx in 0 .. m * n - 1 do
                    if not (close expected[idx] scale[idx] c[idx]) then
                        failwithf
                            "%A %A m=%d k=%d n=%d: C[%d] = %g, expected %g"
                            layout
                            isa
                            m
                            k
                            n
                            idx
                            c[idx]
                            expected[idx]))

let ``accumulate adds the product to the existing C`` () =
    (Prop.forAll (Arb.fromGenShrink (caseGen, shrinkCase)) (fun (m, k, n, seed) ->
        let a = random seed (m * k)
        let b = random (seed + 1) (k * n)
        let c0 = random (seed + 2) (m * n)
        let expected, scale = reference m k n a b

        for layout in layouts do
            let sa, sb = store layout m k n a b

            for isa in isas do
                let c = Array.copy c0
                call isa layout (m, k, n) sa sb c true

                for idx in 0 .. m * n - 1 do
                    if not (close (float c0[idx] + expected[idx]) (scale[idx] + abs (float c0[idx])) c[idx]) then
                        failwithf
                            "%A %A m=%d k=%d n=%d: C[%d] = %g, expected %g"
                            layout
                            isa
                            m
                            k
                            n
                            idx
                            c[idx]
                            (float c0[idx] + expected[idx])))

let ``the instruction sets agree bit for bit`` () =
    (Prop.forAll (Arb.fromGenShrink (caseGen, shrinkCase)) (fun (m, k, n, seed) ->
        let a = random seed (m * k)
        let b = random (seed + 1) (k * n)
        let c0 = random (seed + 2) (m * n)

        for layout in layouts do
            let sa, sb = store layout m k n a b

            for accumulate in [ false; true ] do
                let results =
                    isas
                    |> List.map (fun isa ->
                        let c = Array.copy c0
                        call isa layout (m, k, n) sa sb c accumulate
                        c)

                for r in results.Tail do
                    Expect.equal r results.Head "r"))

let ``the public kernels use the active instruction set and match the reference`` () =
    Expect.contains
        ([ "Vector512"; "Vector256"; "Scalar" ])
        Kernels.activeIsa
        "[ \"Vector512\"; \"Vector256\"; \"Scalar\" ]"

    let m, k, n = 37, 45, 70
    let a = random 1 (m * k)
    let b = random 2 (k * n)
    let expected = Array.zeroCreate<float32>(m * n)
    Kernels.matmulReference (m, k, n, ReadOnlySpan a, ReadOnlySpan b, Span expected, false)
    let exact, scale = reference m k n a b

    for idx in 0 .. m * n - 1 do
        Expect.isTrue (close exact[idx] scale[idx] expected[idx]) "close exact[idx] scale[idx] expected[idx]"

    for layout in layouts do
        let sa, sb = store layout m k n a b
        let c = Array.zeroCreate<float32>(m * n)

        match layout with
        | NN -> Kernels.matmulNN (m, k, n, ReadOnlySpan sa, ReadOnlySpan sb, Span c, false)
        | NT -> Kernels.matmulNT (m, k, n, ReadOnlySpan sa, ReadOnlySpan sb, Span c, false)
        | TN -> Kernels.matmulTN (m, k, n, ReadOnlySpan sa, ReadOnlySpan sb, Span c, false)

        for idx in 0 .. m * n - 1 do
            Expect.isTrue (close exact[idx] scale[idx] c[idx]) (sprintf "%A C[%d]" layout idx)

let ``the agent network shapes match the reference`` () =
    for (m, k, n) in [ (96, 64, 192); (96, 42, 64); (192, 96, 64); (3, 64, 192); (1, 1, 1) ] do
        let a = random m (m * k)
        let b = random n (k * n)
        let exact, scale = reference m k n a b

        for layout in layouts do
            let sa, sb = store layout m k n a b

            for isa in isas do
                let c = Array.zeroCreate<float32>(m * n)
                call isa layout (m, k, n) sa sb c false

                for idx in 0 .. m * n - 1 do
                    Expect.isTrue
                        (close exact[idx] scale[idx] c[idx])
                        (sprintf "%A %A %dx%dx%d C[%d]" layout isa m k n idx)

let ``spans shorter than their matrices are rejected with both sizes`` () =
    let a = Array.zeroCreate<float32> 11
    let b = Array.zeroCreate<float32> 20
    let c = Array.zeroCreate<float32> 15

    let e =
        Expect.throwsOf<ArgumentException>(fun () ->
            Kernels.matmulNT (3, 4, 5, ReadOnlySpan a, ReadOnlySpan b, Span c, false))

    Expect.equal e.ParamName "a" "e.ParamName"
    Expect.stringContains e.Message "[m,k] = 3×4" "e.Message"
    Expect.stringContains e.Message "12" "e.Message"
    Expect.stringContains e.Message "11" "e.Message"

    let a12 = Array.zeroCreate<float32> 12

    let e =
        Expect.throwsOf<ArgumentException>(fun () ->
            Kernels.matmulNN (3, 4, 6, ReadOnlySpan a12, ReadOnlySpan b, Span c, false))

    Expect.equal e.ParamName "b" "e.ParamName"
    Expect.stringContains e.Message "24" "e.Message"
    Expect.stringContains e.Message "20" "e.Message"

    let b20 = Array.zeroCreate<float32> 20

    let e =
        Expect.throwsOf<ArgumentException>(fun () ->
            Kernels.matmulTN (3, 4, 5, ReadOnlySpan a12, ReadOnlySpan b20, Span c.[..13], false))

    Expect.equal e.ParamName "c" "e.ParamName"
    Expect.stringContains e.Message "15" "e.Message"
    Expect.stringContains e.Message "14" "e.Message"

    Expect.throwsOf<ArgumentException>(fun () ->
        Kernels.matmulReference (3, 4, 5, ReadOnlySpan a, ReadOnlySpan b, Span c, false))
    |> ignore

    Expect.throwsOf<ArgumentException>(fun () ->
        Kernels.matmulNN (-1, 4, 5, ReadOnlySpan a, ReadOnlySpan b, Span c, false))
    |> ignore

let ``longer spans and empty sizes are fine`` () =
    let a = random 1 100
    let b = random 2 100
    let c = Array.create 100 7.0f
    Kernels.matmulNN (0, 5, 5, ReadOnlySpan a, ReadOnlySpan b, Span c, false)
    Kernels.matmulNT (5, 5, 0, ReadOnlySpan a, ReadOnlySpan b, Span c, false)
    Seq.iter (fun x -> Expect.equal x 7.0f "x") c
    Kernels.matmulTN (3, 0, 4, ReadOnlySpan a, ReadOnlySpan b, Span c, true)
    Seq.iter (fun x -> Expect.equal x 7.0f "x") c
    Kernels.matmulTN (3, 0, 4, ReadOnlySpan<float32>.Empty, ReadOnlySpan<float32>.Empty, Span c, false)
    Seq.iter (fun x -> Expect.equal x 0.0f "x") (c[..11])
    Seq.iter (fun x -> Expect.equal x 7.0f "x") (c[12..])

let ``repeated calls give bit-identical results`` () =
    (Prop.forAll (Arb.fromGenShrink (caseGen, shrinkCase)) (fun (m, k, n, seed) ->
        let a = random seed (m * k)
        let b = random (seed + 1) (k * n)
        let big = random 3 (80 * 80)

        for layout in layouts do
            let sa, sb = store layout m k n a b

            for isa in isas do
                let c1 = Array.zeroCreate<float32>(m * n)
                let c2 = Array.zeroCreate<float32>(m * n)
                let other = Array.zeroCreate<float32>(80 * 80)
                call isa layout (m, k, n) sa sb c1 false
                // Another call in between, with larger sizes, regrows the scratch buffer.
                call isa layout (80, 80, 80) big big other false
                call isa layout (m, k, n) sa sb c2 false
                Expect.equal c2 c1 "c2"))

[<Tests>]
let tests =
    testList
        "Kernels"
        [
            testPropertyWithConfig
                (Replay.config 200)
                "every layout on every instruction set matches the float64 product"
                (``every layout on every instruction set matches the float64 product`` ())
            testPropertyWithConfig
                (Replay.config 200)
                "accumulate adds the product to the existing C"
                (``accumulate adds the product to the existing C`` ())
            testPropertyWithConfig
                (Replay.config 200)
                "the instruction sets agree bit for bit"
                (``the instruction sets agree bit for bit`` ())
            testCase
                "the public kernels use the active instruction set and match the reference"
                ``the public kernels use the active instruction set and match the reference``
            testCase "the agent network shapes match the reference" ``the agent network shapes match the reference``
            testCase
                "spans shorter than their matrices are rejected with both sizes"
                ``spans shorter than their matrices are rejected with both sizes``
            testCase "longer spans and empty sizes are fine" ``longer spans and empty sizes are fine``
            testPropertyWithConfig
                (Replay.config 200)
                "repeated calls give bit-identical results"
                (``repeated calls give bit-identical results`` ())
        ]
