/// Independent float64 reference implementations of the tensor ops' forward pass, on plain row-major
/// arrays. Written from the definitions (index by index, no vectorisation, no shared code with the
/// library) so that a gradient check against them tests the library and not a copy of it.
module Qmix.Tensors.Tests.Reference

open System

/// A float64 array with its dimensions, row-major.
type Nd =
    {
        Dims: int[]
        Data: float[]
    }

    override x.ToString() = sprintf "Nd %A %A" x.Dims x.Data

let numel (dims: int[]) = Array.fold (*) 1 dims

let nd (dims: int[]) (data: float[]) =
    if numel dims <> data.Length then
        invalidArg "data" (sprintf "reference: dims %A need %d elements, got %d" dims (numel dims) data.Length)

    {
        Dims = Array.copy dims
        Data = Array.copy data
    }

let scalar (v: float) = { Dims = [||]; Data = [| v |] }

/// Row-major strides.
let strides (dims: int[]) =
    let s = Array.create dims.Length 1

    for i in dims.Length - 2 .. -1 .. 0 do
        s[i] <- s[i + 1] * dims[i + 1]

    s

/// The multi-index of flat position `flat`.
let unravel (dims: int[]) (flat: int) =
    let idx = Array.zeroCreate dims.Length
    let mutable rem = flat

    for i in dims.Length - 1 .. -1 .. 0 do
        idx[i] <- rem % dims[i]
        rem <- rem / dims[i]

    idx

/// The flat position of a multi-index.
let ravel (dims: int[]) (idx: int[]) =
    let mutable flat = 0

    for i in 0 .. dims.Length - 1 do
        flat <- flat * dims[i] + idx[i]

    flat

let private normAxis (rank: int) (axis: int) =
    let a = if axis < 0 then axis + rank else axis

    if a < 0 || a >= rank then
        invalidArg "axis" (sprintf "reference: axis %d out of range for rank %d" axis rank)

    a

// ---------------------------------------------------------------- elementwise

/// NumPy broadcasting of two shapes.
let broadcastDims (a: int[]) (b: int[]) =
    let r = max a.Length b.Length

    let at (d: int[]) i =
        if i < r - d.Length then 1 else d[i - (r - d.Length)]

    Array.init r (fun i ->
        let x, y = at a i, at b i

        if x = y then
            x
        elif x = 1 then
            y
        elif y = 1 then
            x
        else
            invalidArg "b" (sprintf "reference: %A and %A do not broadcast" a b))

/// The element of `x` that output multi-index `outIdx` reads under broadcasting.
let private broadcastRead (x: Nd) (outIdx: int[]) =
    let off = outIdx.Length - x.Dims.Length

    let idx =
        Array.init x.Dims.Length (fun i -> if x.Dims[i] = 1 then 0 else outIdx[i + off])

    x.Data[ravel x.Dims idx]

let binary (f: float -> float -> float) (a: Nd) (b: Nd) =
    let dims = broadcastDims a.Dims b.Dims

    {
        Dims = dims
        Data =
            Array.init (numel dims) (fun i ->
                let idx = unravel dims i
                f (broadcastRead a idx) (broadcastRead b idx))
    }

let add = binary (+)
let sub = binary (-)
let mul = binary (*)
let div = binary (/)

let map (f: float -> float) (x: Nd) =
    {
        Dims = x.Dims
        Data = Array.map f x.Data
    }

let neg = map (fun v -> -v)
let addScalar s = map (fun v -> v + s)
let mulScalar s = map (fun v -> s * v)
let rsubScalar s = map (fun v -> s - v)
let divScalar s = map (fun v -> v / s)
let relu = map (fun v -> if v > 0.0 then v else 0.0)
let elu = map (fun v -> if v > 0.0 then v else Math.Exp v - 1.0)
let abs = map Math.Abs
let sigmoid = map (fun v -> 1.0 / (1.0 + Math.Exp(-v)))
let tanh = map Math.Tanh
let exp = map Math.Exp
let log = map Math.Log
/// PyTorch's softplus (β = 1, threshold 20): linear above 20.
let softplus = map (fun v -> if v > 20.0 then v else Math.Log(1.0 + Math.Exp v))
let square = map (fun v -> v * v)
let sqrt = map Math.Sqrt

// ---------------------------------------------------------------- reductions

let sum (x: Nd) = scalar (Array.sum x.Data)

let mean (x: Nd) =
    scalar (Array.sum x.Data / float x.Data.Length)

/// Σ x·w over all elements (same shapes): the scalar the gradient checks differentiate.
let dot (x: Nd) (w: Nd) =
    if x.Dims <> w.Dims then
        invalidArg "w" (sprintf "reference dot: %A vs %A" x.Dims w.Dims)

    Array.fold2 (fun acc a b -> acc + a * b) 0.0 x.Data w.Data

/// Reduces along `axis` with `f` over the lane's values (in axis order).
let private reduceAxis (f: float[] -> float) (axis: int) (keepDim: bool) (x: Nd) =
    let axis = normAxis x.Dims.Length axis
    let keptDims = Array.copy x.Dims
    keptDims[axis] <- 1
    let n = x.Dims[axis]

    let data =
        Array.init (numel keptDims) (fun i ->
            let idx = unravel keptDims i

            let lane =
                Array.init n (fun j ->
                    let k = Array.copy idx
                    k[axis] <- j
                    x.Data[ravel x.Dims k])

            f lane)

    let dims =
        if keepDim then
            keptDims
        else
            Array.append x.Dims[.. axis - 1] x.Dims[axis + 1 ..]

    { Dims = dims; Data = data }

let sumAxis axis keepDim x = reduceAxis Array.sum axis keepDim x
let meanAxis axis keepDim x = reduceAxis Array.average axis keepDim x
let maxAxis axis keepDim x = reduceAxis Array.max axis keepDim x

/// The first index of the largest value along `axis`, row-major over the other axes.
let argmax (axis: int) (x: Nd) : int[] =
    let firstMax (lane: float[]) =
        let mutable best = 0

        for j in 1 .. lane.Length - 1 do
            if lane[j] > lane[best] then
                best <- j

        float best

    (reduceAxis firstMax axis false x).Data |> Array.map int

// ---------------------------------------------------------------- indexing and shapes

/// out[r] = x[r, indices[r]] along the last axis.
let gather (indices: int[]) (x: Nd) =
    let a = x.Dims[x.Dims.Length - 1]
    let dims = x.Dims[.. x.Dims.Length - 2]

    {
        Dims = dims
        Data = Array.init (numel dims) (fun r -> x.Data[r * a + indices[r]])
    }

let oneHot (n: int) (dims: int[]) (indices: int[]) =
    let outDims = Array.append dims [| n |]

    {
        Dims = outDims
        Data =
            Array.init (numel outDims) (fun i ->
                let idx = unravel outDims i
                let r = ravel dims idx[.. dims.Length - 1]
                if indices[r] = idx[dims.Length] then 1.0 else 0.0)
    }

let concat (axis: int) (xs: Nd list) =
    let xs = List.toArray xs
    let axis = normAxis xs[0].Dims.Length axis
    let dims = Array.copy xs[0].Dims
    dims[axis] <- xs |> Array.sumBy (fun x -> x.Dims[axis])

    {
        Dims = dims
        Data =
            Array.init (numel dims) (fun i ->
                let idx = unravel dims i
                // find the part holding position idx[axis]
                let mutable k = 0
                let mutable at = idx[axis]

                while at >= xs[k].Dims[axis] do
                    at <- at - xs[k].Dims[axis]
                    k <- k + 1

                let j = Array.copy idx
                j[axis] <- at
                xs[k].Data[ravel xs[k].Dims j])
    }

let stack (axis: int) (xs: Nd list) =
    let xs = List.toArray xs
    let axis = normAxis (xs[0].Dims.Length + 1) axis
    let d = xs[0].Dims
    let dims = Array.concat [ d[.. axis - 1]; [| xs.Length |]; d[axis..] ]

    {
        Dims = dims
        Data =
            Array.init (numel dims) (fun i ->
                let idx = unravel dims i
                let j = Array.append idx[.. axis - 1] idx[axis + 1 ..]
                xs[idx[axis]].Data[ravel d j])
    }

let slice (axis: int) (start: int) (length: int) (x: Nd) =
    let axis = normAxis x.Dims.Length axis
    let dims = Array.copy x.Dims
    dims[axis] <- length

    {
        Dims = dims
        Data =
            Array.init (numel dims) (fun i ->
                let idx = unravel dims i
                idx[axis] <- idx[axis] + start
                x.Data[ravel x.Dims idx])
    }

let where (mask: Nd) (a: Nd) (b: Nd) =
    {
        Dims = a.Dims
        Data = Array.init a.Data.Length (fun i -> if mask.Data[i] <> 0.0 then a.Data[i] else b.Data[i])
    }

let maskedFill (mask: Nd) (value: float) (x: Nd) =
    {
        Dims = x.Dims
        Data = Array.init x.Data.Length (fun i -> if mask.Data[i] <> 0.0 then value else x.Data[i])
    }

let reshape (dims: int[]) (x: Nd) =
    let dims = Array.copy dims

    match Array.tryFindIndex ((=) -1) dims with
    | Some u ->
        let known = dims |> Array.filter ((<>) -1) |> Array.fold (*) 1
        dims[u] <- x.Data.Length / known
    | None -> ()

    nd dims x.Data

/// [..., m, n] → [..., n, m].
let transpose (x: Nd) =
    let r = x.Dims.Length
    let dims = Array.copy x.Dims
    dims[r - 2] <- x.Dims[r - 1]
    dims[r - 1] <- x.Dims[r - 2]

    {
        Dims = dims
        Data =
            Array.init (numel dims) (fun i ->
                let idx = unravel dims i
                let j = Array.copy idx
                j[r - 2] <- idx[r - 1]
                j[r - 1] <- idx[r - 2]
                x.Data[ravel x.Dims j])
    }

/// [m, k]·[k, n]; [..., m, k]·[..., k, n] with equal leading dimensions; [..., m, k]·[k, n].
let matmul (a: Nd) (b: Nd) =
    let ra, rb = a.Dims.Length, b.Dims.Length
    let k = a.Dims[ra - 1]
    let n = b.Dims[rb - 1]

    if b.Dims[rb - 2] <> k || not (rb = 2 || a.Dims[.. ra - 3] = b.Dims[.. rb - 3]) then
        invalidArg "b" (sprintf "reference matmul: %A and %A" a.Dims b.Dims)

    let dims = Array.copy a.Dims
    dims[ra - 1] <- n

    {
        Dims = dims
        Data =
            Array.init (numel dims) (fun i ->
                let idx = unravel dims i
                let mutable acc = 0.0

                for p in 0 .. k - 1 do
                    let ai = Array.copy idx
                    ai[ra - 1] <- p
                    let bi = Array.copy idx[idx.Length - rb ..]
                    bi[rb - 2] <- p
                    acc <- acc + a.Data[ravel a.Dims ai] * b.Data[ravel b.Dims bi]

                acc)
    }
