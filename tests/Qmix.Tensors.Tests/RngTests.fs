module Qmix.Tensors.Tests.RngTests

open System
open Expecto
open Qmix.Tests
open FsCheck
open FsCheck.FSharp
open Qmix.Tensors

let private seeds =
    Arb.fromGen (Gen.choose64 (0L, Int64.MaxValue) |> Gen.map uint64)

let private floats (t: Tensor) = t.ToArray() |> Array.map float

// ------------------------------------------------------------------ a small statistical checker

/// Problems found in samples meant to be uniform on [0, 1): mean, variance and a 20-bucket chi-square.
let uniformProblems (xs: float[]) : string list =
    let n = float xs.Length
    let mean = Array.average xs
    let var = xs |> Array.averageBy (fun x -> (x - mean) ** 2.0)
    let buckets = Array.zeroCreate 20

    for x in xs do
        let b = int (x * 20.0)
        buckets[max 0 (min 19 b)] <- buckets[max 0 (min 19 b)] + 1

    let expected = n / 20.0
    let chi2 = buckets |> Array.sumBy (fun c -> (float c - expected) ** 2.0 / expected)

    [
        if xs |> Array.exists (fun x -> x < 0.0 || x >= 1.0) then
            "a sample is outside [0, 1)"
        if abs (mean - 0.5) > 0.01 then
            sprintf "mean %g is not near 1/2" mean
        if abs (var - 1.0 / 12.0) > 0.005 then
            sprintf "variance %g is not near 1/12" var
        // 19 degrees of freedom: the 99.9% quantile is about 43.8.
        if chi2 > 60.0 then
            sprintf "chi-square %g over 20 buckets is too large" chi2
    ]

/// Pearson correlation of two equally long sample arrays.
let correlation (xs: float[]) (ys: float[]) =
    let mx = Array.average xs
    let my = Array.average ys
    let mutable sxy = 0.0
    let mutable sxx = 0.0
    let mutable syy = 0.0

    for i in 0 .. xs.Length - 1 do
        let dx = xs[i] - mx
        let dy = ys[i] - my
        sxy <- sxy + dx * dy
        sxx <- sxx + dx * dx
        syy <- syy + dy * dy

    if sxx = 0.0 || syy = 0.0 then
        1.0
    else
        sxy / sqrt (sxx * syy)

/// Problems found in two streams meant to be independent uniforms.
let independenceProblems (xs: float[]) (ys: float[]) : string list =
    let r = correlation xs ys
    // Also compare each stream with the other shifted by one, which catches streams offset by an index.
    let lagged = correlation xs[1..] ys[.. ys.Length - 2]
    let lagged2 = correlation xs[.. xs.Length - 2] ys[1..]

    [
        if abs r >= 0.02 then
            sprintf "correlation %g between the streams" r
        if abs lagged >= 0.02 || abs lagged2 >= 0.02 then
            sprintf "lagged correlation %g / %g between the streams" lagged lagged2
        if xs = ys then
            "the streams are identical"
    ]

/// Chi-square statistic of draws that should be uniform over [0, k).
let chiSquare (k: int) (draws: int[]) =
    let counts = Array.zeroCreate k

    for d in draws do
        counts[d] <- counts[d] + 1

    let expected = float draws.Length / float k
    counts |> Array.sumBy (fun c -> (float c - expected) ** 2.0 / expected)

/// 9 degrees of freedom: the 99.9% quantile is about 27.9; this bound is generous.
let chiSquareBound10 = 40.0

let private n100k = Shape [| 100_000 |]

// ------------------------------------------------------------------ the block function

let ``threefry 2x64 20 matches the Random123 known-answer vectors`` () =
    let cases =
        [
            (0UL, 0UL, 0UL, 0UL), (0xc2b6e3a8c2c69865UL, 0x6f81ed42f350084dUL)
            (UInt64.MaxValue, UInt64.MaxValue, UInt64.MaxValue, UInt64.MaxValue),
            (0xe02cb7c4d95d277aUL, 0xd06633d0893b8b68UL)
            (0x243f6a8885a308d3UL, 0x13198a2e03707344UL, 0xa4093822299f31d0UL, 0x082efa98ec4e6c89UL),
            (0x263c7d30bb0f0af1UL, 0x56be8361d3311526UL)
        ]

    for (c0, c1, k0, k1), (e0, e1) in cases do
        let struct (a, b) = Threefry.block k0 k1 c0 c1
        Expect.equal a e0 "a"
        Expect.equal b e1 "b"

let ``the raw stream of a key is the block function of the counter`` () =
    let key = Rng.ofWords 0UL 0UL
    Expect.equal (Rng.bits key 0UL) (0xc2b6e3a8c2c69865UL) "Rng.bits key 0UL"
    Expect.equal (Rng.bits key 1UL) (0x6f81ed42f350084dUL) "Rng.bits key 1UL"

let ``uniform element i is the top 24 bits of stream word i`` () =
    let gen =
        Gen.zip (Gen.choose64 (0L, Int64.MaxValue)) (Gen.choose (0, 300)) |> Arb.fromGen

    (Prop.forAll gen (fun (seed, n) ->
        let key = Rng.key (uint64 seed)
        let u = (Rng.uniform key (Shape [| n |])).ToArray()

        let expected =
            Array.init n (fun i -> float32 (Rng.bits key (uint64 i) >>> 40) / 16777216.0f)

        u = expected))

// ------------------------------------------------------------------ determinism

let ``the same key gives the same numbers`` () =
    (Prop.forAll seeds (fun seed ->
        let a = Rng.key seed
        let b = Rng.key seed
        let s = Shape [| 3; 5 |]

        a = b
        && (Rng.uniform a s).ToArray() = (Rng.uniform b s).ToArray()
        && (Rng.normal a s).ToArray() = (Rng.normal b s).ToArray()
        && Rng.permutation a 20 = Rng.permutation b 20
        && Rng.intBelow a 1000 = Rng.intBelow b 1000
        && Rng.choice a 50 7 = Rng.choice b 50 7))

let ``generation on many threads equals sequential generation`` () =
    let keys = Rng.splitN 64 (Rng.key 42UL)

    let draw (k: Key) =
        Array.concat
            [
                (Rng.uniform k (Shape [| 257 |])).ToArray()
                (Rng.normal k (Shape [| 3; 33 |])).ToArray()
                Rng.permutation k 100 |> Array.map float32
            ]

    let sequential = Array.map draw keys

    for _ in 1..3 do
        let inParallel = Array.Parallel.map draw keys
        Expect.equal inParallel sequential "inParallel"

let ``large tensors filled in parallel equal the element-wise definition`` () =
    let key = Rng.key 7UL
    let n = 300_001
    let u = (Rng.uniform key (Shape [| n |])).ToArray()

    for i in 0 .. n - 1 do
        let e = float32 (Rng.bits key (uint64 i) >>> 40) / 16777216.0f

        if u[i] <> e then
            failwithf "element %d: %g <> %g" i u[i] e

    let z = (Rng.normal key (Shape [| 7; n / 7 |])).ToArray()
    let zSmall = (Rng.normal key (Shape [| 1001 |])).ToArray()
    Expect.equal (z[..1000]) zSmall "z[..1000]"

let ``the order of generation does not matter`` () =
    let k1, k2 = Rng.split (Rng.key 3UL)
    let a1 = (Rng.uniform k1 (Shape [| 100 |])).ToArray()
    let b1 = (Rng.uniform k2 (Shape [| 100 |])).ToArray()
    let b2 = (Rng.uniform k2 (Shape [| 100 |])).ToArray()
    let a2 = (Rng.uniform k1 (Shape [| 100 |])).ToArray()
    Expect.equal a2 a1 "a2"
    Expect.equal b2 b1 "b2"
    // A prefix of a longer draw equals a shorter draw, whatever the shape.
    let long = (Rng.uniform k1 (Shape [| 10; 20 |])).ToArray()
    Expect.equal (long[..99]) a1 "long[..99]"

// ------------------------------------------------------------------ keys

let ``split keys differ from each other and from the parent`` () =
    (Prop.forAll seeds (fun seed ->
        let k = Rng.key seed
        let a, b = Rng.split k
        let many = Rng.splitN 50 k
        let folded = Array.init 50 (fun i -> Rng.foldIn i k)
        let all = Array.concat [ [| k |]; many; folded; [| Rng.foldIn -1 k |] ]

        a <> b
        && a <> k
        && b <> k
        && many[0] = a
        && many[1] = b
        && (all |> Array.distinct |> Array.length) = all.Length
        && Rng.foldIn 5 k = Rng.foldIn 5 k))

let ``different seeds give different keys`` () =
    let keys = Array.init 1000 (uint64 >> Rng.key)
    Expect.equal (keys |> Array.distinct |> Array.length) 1000 "keys |> Array.distinct |> Array.length"

let ``a key round-trips through its two words`` () =
    (Prop.forAll seeds (fun seed ->
        let k = Rng.key seed
        let w0, w1 = Rng.toWords k

        Rng.ofWords w0 w1 = k
        && k.Equals(box (Rng.ofWords w0 w1))
        && hash k = hash (Rng.ofWords w0 w1)))

let ``a key prints its two words in hex`` () =

    Expect.equal
        ((Rng.ofWords 1UL 255UL).ToString())
        "Key(0000000000000001, 00000000000000ff)"
        "(Rng.ofWords 1UL 255UL).ToString()"

// ------------------------------------------------------------------ ranges

let ``uniform samples lie in the half-open interval`` () =
    (Prop.forAll seeds (fun seed ->
        let k = Rng.key seed
        let u = (Rng.uniform k (Shape [| 200 |])).ToArray()
        let r = (Rng.uniformRange k -3.0f 2.5f (Shape [| 200 |])).ToArray()
        let f = Rng.float32 k

        u |> Array.forall (fun x -> x >= 0.0f && x < 1.0f)
        && r |> Array.forall (fun x -> x >= -3.0f && x < 2.5f)
        && f >= 0.0f
        && f < 1.0f
        && f = (Rng.uniform k Shape.scalar).Scalar))

let ``uniformRange one float wide never returns hi`` () =

    // A range one float wide still never returns hi.
    let hi = MathF.BitIncrement 1.0f
    let tiny = (Rng.uniformRange (Rng.key 1UL) 1.0f hi (Shape [| 10_000 |])).ToArray()
    Seq.iter (fun x -> Expect.equal x 1.0f "x") tiny

let ``uniform, normal and zero-size shapes`` () =
    let k = Rng.key 11UL

    Expect.equal
        ((Rng.uniform k (Shape [| 2; 0; 3 |])).Shape)
        (Shape [| 2; 0; 3 |])
        "(Rng.uniform k (Shape [| 2; 0; 3 |])).Shape"

    Expect.equal ((Rng.normal k (Shape [| 0 |])).Numel) 0 "(Rng.normal k (Shape [| 0 |])).Numel"
    Expect.equal ((Rng.normal k (Shape [| 4; 5 |])).Shape) (Shape [| 4; 5 |]) "(Rng.normal k (Shape [| 4; 5 |])).Shape"
    Expect.isEmpty (Rng.permutation k 0) "Rng.permutation k 0"
    Expect.isEmpty (Rng.choice k 0 0) "Rng.choice k 0 0"
    Expect.isEmpty (Rng.choice k 10 0) "Rng.choice k 10 0"
    Expect.equal (Rng.intBelow k 1) 0 "Rng.intBelow k 1"

let ``intBelow stays in range for any bound`` () =
    let gen =
        Gen.zip (Gen.choose64 (0L, Int64.MaxValue)) (Gen.oneof [ Gen.choose (1, 20); Gen.choose (1, Int32.MaxValue) ])
        |> Arb.fromGen

    (Prop.forAll gen (fun (seed, n) ->
        let v = Rng.intBelow (Rng.key (uint64 seed)) n
        v >= 0 && v < n))

let ``intBelow reaches the upper half of the int range`` () =

    let big =
        Array.init 1000 (fun i -> Rng.intBelow (Rng.key (uint64 i)) Int32.MaxValue)

    Expect.exists big (fun v -> v > Int32.MaxValue / 2) "big"

let ``bernoulli follows p`` () =
    let keys = Rng.splitN 100_000 (Rng.key 5UL)
    Seq.iter (fun k -> Expect.isFalse (Rng.bernoulli k 0.0f) "Rng.bernoulli k 0.0f") (keys[..999])
    Seq.iter (fun k -> Expect.isTrue (Rng.bernoulli k 1.0f) "Rng.bernoulli k 1.0f") (keys[..999])
    let hits = keys |> Array.filter (fun k -> Rng.bernoulli k 0.3f) |> Array.length
    Expect.inRange (float hits / 100_000.0) 0.29 0.31 "float hits / 100_000.0"

// ------------------------------------------------------------------ permutation and choice

let ``permutation is a permutation`` () =
    let gen =
        Gen.zip (Gen.choose64 (0L, Int64.MaxValue)) (Gen.choose (0, 500)) |> Arb.fromGen

    (Prop.forAll gen (fun (seed, n) -> Array.sort (Rng.permutation (Rng.key (uint64 seed)) n) = Array.init n id))

let ``choice returns k distinct in-range indices, the prefix of the permutation`` () =
    let gen =
        gen {
            let! seed = Gen.choose64 (0L, Int64.MaxValue)
            let! n = Gen.oneof [ Gen.choose (0, 50); Gen.choose (0, 5000) ]
            let! k = Gen.choose (0, n)
            let! small = Gen.choose (0, min n 10)
            return uint64 seed, n, (if n > 100 then small else k)
        }
        |> Arb.fromGen

    (Prop.forAll gen (fun (seed, n, k) ->
        let key = Rng.key seed
        let c = Rng.choice key n k

        c.Length = k
        && (Array.distinct c).Length = k
        && c |> Array.forall (fun i -> i >= 0 && i < n)
        && c = (Rng.permutation key n)[.. k - 1]))

let ``permutations are uniform: each position is equally likely for each value`` () =
    // 3! = 6 orders; count them over 60k keys.
    let counts =
        Rng.splitN 60_000 (Rng.key 8UL)
        |> Array.countBy (fun k -> Rng.permutation k 3 |> Array.map string |> String.concat "")

    Expect.equal counts.Length 6 "counts.Length"
    let draws = counts |> Array.map snd
    let chi2 = draws |> Array.sumBy (fun c -> (float c - 10_000.0) ** 2.0 / 10_000.0)
    // 5 degrees of freedom: the 99.9% quantile is about 20.5.
    Expect.isTrue (chi2 < 30.0) (sprintf "chi-square %g for %A" chi2 counts)

// ------------------------------------------------------------------ statistics

let ``uniform samples have the right mean, variance and histogram`` () =
    Expect.isEmpty
        (uniformProblems (floats (Rng.uniform (Rng.key 1UL) n100k)))
        "uniformProblems (floats (Rng.uniform (Rng.key 1UL) n100k))"

    Expect.isEmpty
        (uniformProblems (
            floats (Rng.uniformRange (Rng.key 2UL) 0.25f 0.75f n100k)
            |> Array.map (fun x -> (x - 0.25) * 2.0)
        ))
        "uniformProblems ( floats (Rng.uniformRange (Rng.key 2UL) 0.25f 0.75..."

let ``normal samples have mean 0, variance 1 and the normal one-sigma mass`` () =
    let z = floats (Rng.normal (Rng.key 3UL) n100k)
    let mean = Array.average z
    let var = z |> Array.averageBy (fun x -> (x - mean) ** 2.0)

    let within1 =
        (z |> Array.filter (fun x -> abs x < 1.0) |> Array.length |> float)
        / float z.Length

    let skew = (z |> Array.averageBy (fun x -> (x - mean) ** 3.0)) / (var ** 1.5)
    let kurt = (z |> Array.averageBy (fun x -> (x - mean) ** 4.0)) / (var ** 2.0)
    Expect.inRange mean -0.015 0.015 "mean"
    Expect.inRange var 0.98 1.02 "var"
    Expect.inRange within1 (0.6827 - 0.006) (0.6827 + 0.006) "within1"
    Expect.inRange skew -0.05 0.05 "skew"
    Expect.inRange kurt 2.9 3.1 "kurt"
    Seq.iter (fun x -> Expect.isTrue (Double.IsFinite x) "Double.IsFinite x") z
    // Neighbouring elements (the two outputs of one Box–Muller pair) are uncorrelated.
    let evens = Array.init 50_000 (fun i -> z[2 * i])
    let odds = Array.init 50_000 (fun i -> z[2 * i + 1])
    Expect.inRange (correlation evens odds) -0.02 0.02 "correlation evens odds"

let ``the two halves of a split give independent streams`` () =
    for seed in [ 0UL; 1UL; 12345UL ] do
        let a, b = Rng.split (Rng.key seed)
        let xs = floats (Rng.uniform a n100k)
        let ys = floats (Rng.uniform b n100k)
        Expect.isEmpty (uniformProblems xs) "uniformProblems xs"
        Expect.isEmpty (uniformProblems ys) "uniformProblems ys"
        Expect.isEmpty (independenceProblems xs ys) "independenceProblems xs ys"
        // The parent's own stream is independent of its children's too.
        Expect.isEmpty
            (independenceProblems (floats (Rng.uniform (Rng.key seed) n100k)) xs)
            "independenceProblems (floats (Rng.uniform (Rng.key seed) n100k)) xs"

let ``consecutive foldIn keys give independent streams`` () =
    let k = Rng.key 99UL
    let xs = floats (Rng.uniform (Rng.foldIn 0 k) n100k)
    let ys = floats (Rng.uniform (Rng.foldIn 1 k) n100k)
    Expect.isEmpty (independenceProblems xs ys) "independenceProblems xs ys"
    // Scalars across many folded keys are uniform too.
    Expect.isEmpty
        (uniformProblems (Array.init 100_000 (fun i -> float (Rng.float32 (Rng.foldIn i k)))))
        "uniformProblems (Array.init 100_000 (fun i -> float (Rng.float32 (R..."

let ``intBelow 10 passes a chi-square test`` () =
    let keys = Rng.splitN 100_000 (Rng.key 4UL)
    let draws = keys |> Array.map (fun k -> Rng.intBelow k 10)
    let chi2 = chiSquare 10 draws
    Expect.isTrue (chi2 < chiSquareBound10) (sprintf "chi-square %g" chi2)

// ------------------------------------------------------------------ negative controls: the checker can fail

let ``the checker rejects a constant generator`` () =
    let constant = Array.create 100_000 0.5
    Expect.isNonEmpty (uniformProblems constant) "uniformProblems constant"

    Expect.isTrue
        (chiSquare 10 (Array.create 100_000 3) > chiSquareBound10)
        "chiSquare 10 (Array.create 100_000 3) > chiSquareBound10"

let ``the checker rejects a skewed generator`` () =
    let k = Rng.key 1UL
    let squared = floats (Rng.uniform k n100k) |> Array.map (fun x -> x * x)
    Expect.isNonEmpty (uniformProblems squared) "uniformProblems squared"
    // Modulo-biased draws from a too-small range: values 0..5 of 16 raw values folded into 10.
    let biased = Array.init 100_000 (fun i -> int (Rng.bits k (uint64 i) &&& 15UL) % 10)
    Expect.isTrue (chiSquare 10 biased > chiSquareBound10) "chiSquare 10 biased > chiSquareBound10"

let ``the checker rejects a split that ignores the split`` () =
    let badSplit (key: Key) = key, key
    let a, b = badSplit (Rng.key 1UL)

    Expect.isNonEmpty
        (independenceProblems (floats (Rng.uniform a n100k)) (floats (Rng.uniform b n100k)))
        "independenceProblems (floats (Rng.uniform a n100k)) (floats (Rng.un..."
    // A split that only shifts the stream by one word is caught by the lagged correlation.
    let k = Rng.key 2UL

    let xs =
        Array.init 100_000 (fun i -> float (Rng.bits k (uint64 i) >>> 40) / 16777216.0)

    let ys =
        Array.init 100_000 (fun i -> float (Rng.bits k (uint64 (i + 1)) >>> 40) / 16777216.0)

    Expect.isEmpty (uniformProblems xs) "uniformProblems xs"
    Expect.isNonEmpty (independenceProblems xs ys) "independenceProblems xs ys"
    // And a split whose halves are affine images of each other.
    Expect.isNonEmpty
        (independenceProblems xs (xs |> Array.map (fun x -> 1.0 - x)))
        "independenceProblems xs (xs |> Array.map (fun x -> 1.0 - x))"

// ------------------------------------------------------------------ bad arguments

let private throwsNamed (param: string) (f: unit -> obj) =
    let e = Expect.throwsAnyOf<ArgumentException>(fun () -> f () |> ignore)
    Expect.equal e.ParamName param "e.ParamName"
    e

let ``bad arguments throw ArgumentException naming the argument`` () =
    let k = Rng.key 0UL
    throwsNamed "n" (fun () -> box (Rng.intBelow k 0)) |> ignore
    throwsNamed "n" (fun () -> box (Rng.intBelow k -5)) |> ignore
    throwsNamed "n" (fun () -> box (Rng.permutation k -1)) |> ignore
    throwsNamed "n" (fun () -> box (Rng.splitN -1 k)) |> ignore
    throwsNamed "n" (fun () -> box (Rng.choice k -1 0)) |> ignore
    let e = throwsNamed "k" (fun () -> box (Rng.choice k 5 6))
    Expect.stringContains e.Message "k = 6" "e.Message"
    Expect.stringContains e.Message "n = 5" "e.Message"
    throwsNamed "k" (fun () -> box (Rng.choice k 5 -1)) |> ignore
    throwsNamed "p" (fun () -> box (Rng.bernoulli k 1.5f)) |> ignore
    throwsNamed "p" (fun () -> box (Rng.bernoulli k nanf)) |> ignore

    throwsNamed "hi" (fun () -> box (Rng.uniformRange k 1.0f 1.0f Shape.scalar))
    |> ignore

    throwsNamed "hi" (fun () -> box (Rng.uniformRange k 0.0f infinityf Shape.scalar))
    |> ignore

    throwsNamed "lo" (fun () -> box (Rng.uniformRange k nanf 1.0f Shape.scalar))
    |> ignore

[<Tests>]
let tests =
    testList
        "Rng"
        [
            testCase
                "threefry 2x64 20 matches the Random123 known-answer vectors"
                ``threefry 2x64 20 matches the Random123 known-answer vectors``
            testCase
                "the raw stream of a key is the block function of the counter"
                ``the raw stream of a key is the block function of the counter``
            testPropertyWithConfig
                (Replay.config 100)
                "uniform element i is the top 24 bits of stream word i"
                (``uniform element i is the top 24 bits of stream word i`` ())
            testPropertyWithConfig
                (Replay.config 100)
                "the same key gives the same numbers"
                (``the same key gives the same numbers`` ())
            testCase
                "generation on many threads equals sequential generation"
                ``generation on many threads equals sequential generation``
            testCase
                "large tensors filled in parallel equal the element-wise definition"
                ``large tensors filled in parallel equal the element-wise definition``
            testCase "the order of generation does not matter" ``the order of generation does not matter``
            testPropertyWithConfig
                (Replay.config 100)
                "split keys differ from each other and from the parent"
                (``split keys differ from each other and from the parent`` ())
            testCase "different seeds give different keys" ``different seeds give different keys``
            testPropertyWithConfig
                (Replay.config 100)
                "a key round-trips through its two words"
                (``a key round-trips through its two words`` ())
            testCase "a key prints its two words in hex" ``a key prints its two words in hex``
            testPropertyWithConfig
                (Replay.config 100)
                "uniform samples lie in the half-open interval"
                (``uniform samples lie in the half-open interval`` ())
            testCase "uniformRange one float wide never returns hi" ``uniformRange one float wide never returns hi``
            testCase "uniform, normal and zero-size shapes" ``uniform, normal and zero-size shapes``
            testPropertyWithConfig
                (Replay.config 100)
                "intBelow stays in range for any bound"
                (``intBelow stays in range for any bound`` ())
            testCase
                "intBelow reaches the upper half of the int range"
                ``intBelow reaches the upper half of the int range``
            testCase "bernoulli follows p" ``bernoulli follows p``
            testPropertyWithConfig
                (Replay.config 100)
                "permutation is a permutation"
                (``permutation is a permutation`` ())
            testPropertyWithConfig
                (Replay.config 100)
                "choice returns k distinct in-range indices, the prefix of the permutation"
                (``choice returns k distinct in-range indices, the prefix of the permutation`` ())
            testCase
                "permutations are uniform: each position is equally likely for each value"
                ``permutations are uniform: each position is equally likely for each value``
            testCase
                "uniform samples have the right mean, variance and histogram"
                ``uniform samples have the right mean, variance and histogram``
            testCase
                "normal samples have mean 0, variance 1 and the normal one-sigma mass"
                ``normal samples have mean 0, variance 1 and the normal one-sigma mass``
            testCase
                "the two halves of a split give independent streams"
                ``the two halves of a split give independent streams``
            testCase
                "consecutive foldIn keys give independent streams"
                ``consecutive foldIn keys give independent streams``
            testCase "intBelow 10 passes a chi-square test" ``intBelow 10 passes a chi-square test``
            testCase "the checker rejects a constant generator" ``the checker rejects a constant generator``
            testCase "the checker rejects a skewed generator" ``the checker rejects a skewed generator``
            testCase
                "the checker rejects a split that ignores the split"
                ``the checker rejects a split that ignores the split``
            testCase
                "bad arguments throw ArgumentException naming the argument"
                ``bad arguments throw ArgumentException naming the argument``
        ]
