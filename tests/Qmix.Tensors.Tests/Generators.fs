/// FsCheck generators for the gradient checks: small shapes, and tensor contents drawn from a range or
/// kept away from the points where an op is not differentiable (so finite differences are meaningful).
module Qmix.Tensors.Tests.Generators

open FsCheck
open FsCheck.FSharp
open Qmix.Tensors

/// A tensor's dimensions and contents (row-major, each value exactly representable in float32, so the
/// float32 tensor and the float64 reference see the same numbers).
type Case =
    {
        Dims: int[]
        Values: float[]
    }

    /// The float32 tensor.
    member c.Tensor = Tensor.ofArray c.Dims (Array.map float32 c.Values)
    /// The float64 reference array.
    member c.Nd = Reference.nd c.Dims c.Values
    override c.ToString() = sprintf "%A %A" c.Dims c.Values

/// Rounds to the nearest float32.
let f32 (v: float) = float (float32 v)

let numel (dims: int[]) = Array.fold (*) 1 dims

// ---------------------------------------------------------------- shapes

/// A dimension in [1, 5].
let dim = Gen.choose (1, 5)

/// Dimensions of the given rank, each in [1, 5].
let dimsOfRank (rank: int) = Gen.arrayOfLength rank dim

/// Dimensions of rank in [minRank, maxRank], each in [1, 5].
let dims (minRank: int) (maxRank: int) =
    gen {
        let! r = Gen.choose (minRank, maxRank)
        return! dimsOfRank r
    }

/// A shape of rank 1–4 with dims 1–5.
let shape = dims 1 4

// ---------------------------------------------------------------- values

/// A value uniformly in [lo, hi] (rounded to float32).
let value (lo: float) (hi: float) =
    Gen.choose (0, 1_000_000)
    |> Gen.map (fun i -> f32 (lo + (hi - lo) * float i / 1e6))

/// A value with minAbs ≤ |v| ≤ maxAbs, either sign: away from a kink at 0.
let awayFromZero (minAbs: float) (maxAbs: float) =
    gen {
        let! m = value minAbs maxAbs
        let! negative = Gen.elements [ true; false ]
        return if negative then -m else m
    }

/// A tensor of the given dimensions with values from `valueGen`.
let tensorOf (valueGen: Gen<float>) (dims: int[]) =
    Gen.arrayOfLength (numel dims) valueGen
    |> Gen.map (fun v -> { Dims = dims; Values = v })

/// A tensor of the given dimensions with values uniformly in [lo, hi].
let tensorIn (lo: float) (hi: float) (dims: int[]) = tensorOf (value lo hi) dims

/// Values with |x| ≥ 0.05, for relu, abs and elu.
let tensorAwayFromZero (dims: int[]) = tensorOf (awayFromZero 0.05 2.0) dims

/// Positive values ≥ 0.2, for log, sqrt and divisors.
let tensorPositive (dims: int[]) = tensorIn 0.2 3.0 dims

/// A tensor whose values along `axis` are distinct with gaps ≥ 0.05 within every lane (so the max is
/// unique and stays put under small perturbations).
let tensorDistinctAlong (axis: int) (dims: int[]) =
    gen {
        let rank = dims.Length
        let axis = if axis < 0 then axis + rank else axis
        let n = dims[axis]
        let laneDims = Array.copy dims
        laneDims[axis] <- 1
        let lanes = numel laneDims
        // per lane: a random order of n levels 0.1 apart, jittered by < 0.04, around a random offset
        let! orders = Gen.arrayOfLength lanes (Gen.shuffle [ 0 .. n - 1 ])
        let! offsets = Gen.arrayOfLength lanes (value -1.0 1.0)
        let! jitter = Gen.arrayOfLength (numel dims) (value 0.0 0.04)

        let values =
            Array.init (numel dims) (fun i ->
                let idx = Reference.unravel dims i
                let j = idx[axis]
                idx[axis] <- 0
                let lane = Reference.ravel laneDims idx
                f32 (offsets[lane] + 0.1 * float (orders[lane][j]) + jitter[i]))

        return { Dims = dims; Values = values }
    }

/// A fixed weight tensor for reducing an op's output to a scalar: Σ out·w checks every output element's
/// gradient with a different weight.
let weightsFor (dims: int[]) = tensorIn -1.5 1.5 dims

/// A 0/1 mask of the given dimensions.
let mask (dims: int[]) =
    Gen.arrayOfLength (numel dims) (Gen.elements [ 0.0; 1.0 ])
    |> Gen.map (fun v -> { Dims = dims; Values = v })

// ---------------------------------------------------------------- running

/// The property under a label, which a failure report names (the test list runs it from the fixed replay seed).
let labelled (name: string) (prop: Property) : Property = Prop.label name prop

/// A property over values drawn from `g` (no shrinking: the failing case is reported as drawn).
let forAll (g: Gen<'a>) (body: 'a -> unit) = Prop.forAll (Arb.fromGen g) body
