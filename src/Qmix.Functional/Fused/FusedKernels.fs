namespace Qmix.Functional

open System
open System.Numerics
open System.Threading.Tasks
open Qmix.Tensors

type internal Prim = System.Numerics.Tensors.TensorPrimitives

/// <summary>Activations of one agent unroll over a shard: inputs through Q-values, time-major rows
/// <c>(t·B_s + episode)·N + agent</c>. With <c>keep</c> the gates of every step are kept for the backward pass;
/// without, one step's worth is reused.</summary>
[<Sealed>]
type internal AgentActs(keep: bool) =
    member val Keep = keep
    member val A1: float32[] = Array.Empty() with get, set
    member val Gi: float32[][] = [| Array.Empty(); Array.Empty(); Array.Empty() |] with get, set
    member val Rg: float32[] = Array.Empty() with get, set
    member val Zg: float32[] = Array.Empty() with get, set
    member val Ng: float32[] = Array.Empty() with get, set
    member val Ghn: float32[] = Array.Empty() with get, set
    member val Hs: float32[] = Array.Empty() with get, set
    member val Hp: float32[] = Array.Empty() with get, set
    member val Zeros: float32[] = Array.Empty() with get, set
    member val Q: float32[] = Array.Empty() with get, set

/// <summary>Activations of one mixer pass over M rows (kept for the backward pass).</summary>
[<Sealed>]
type internal MixActs() =
    member val Hw1h: float32[] = Array.Empty() with get, set
    member val W1raw: float32[] = Array.Empty() with get, set
    member val W1: float32[] = Array.Empty() with get, set
    member val Hid: float32[] = Array.Empty() with get, set
    member val Hwfh: float32[] = Array.Empty() with get, set
    member val Wfraw: float32[] = Array.Empty() with get, set
    member val Wf: float32[] = Array.Empty() with get, set
    member val Vh: float32[] = Array.Empty() with get, set
    member val Out: float32[] = Array.Empty() with get, set

/// <summary>Sums a shard reports: the squared TD errors and the metrics' numerators.</summary>
[<Struct>]
type internal ShardSums =
    {
        mutable Loss: float
        mutable TdAbs: float
        mutable Q: float
        mutable Y: float
    }

/// <summary>The hand-written forward and backward passes of one QMIX-family update over contiguous buffers.</summary>
module internal FusedKernels =
    /// A buffer of at least n elements: the old one when it is large enough.
    let grow (a: float32[]) (n: int) =
        if a.Length >= n then a else Array.zeroCreate n

    /// The rows of c[rows, n] ← the bias.
    let fillSpanRows (c: Span<float32>) (rows: int) (n: int) (bias: ReadOnlySpan<float32>) =
        for i in 0 .. rows - 1 do
            bias.CopyTo(c.Slice(i * n, n))

    /// Each of the rows of c[rows, n] ← the bias (a row of n values).
    let fillRows (c: float32[]) (rows: int) (n: int) (bias: ReadOnlySpan<float32>) =
        fillSpanRows (Span(c, 0, rows * n)) rows n bias

    /// dst[n] ← the column sums of src [rows, n] (an FMA chain down each column).
    let colSum (ones: float32[]) (src: ReadOnlySpan<float32>) (rows: int) (n: int) (dst: Span<float32>) =
        Kernels.matmulNN (1, rows, n, ReadOnlySpan(ones, 0, rows), src, dst, false)

    /// dst[n] += the column sums of src [rows, n].
    let colSumAdd (ones: float32[]) (src: ReadOnlySpan<float32>) (rows: int) (n: int) (dst: Span<float32>) =
        Kernels.matmulNN (1, rows, n, ReadOnlySpan(ones, 0, rows), src, dst, true)

    /// Rows of agent activations processed together: the batched layers of a chunk of time steps stay in cache.
    [<Literal>]
    let ChunkRows = 768

    /// y ← |x| or softplus(x).
    let nonNegative (how: NonNegative) (x: ReadOnlySpan<float32>) (y: Span<float32>) =
        match how with
        | Abs when x.IsEmpty -> ()
        | Abs -> Prim.Abs(x, y)
        | Softplus ->
            for i in 0 .. x.Length - 1 do
                let v = x[i]

                y[i] <-
                    if v > 20.0f then
                        v
                    else
                        MathF.Max(v, 0.0f) + MathF.Log(1.0f + MathF.Exp(-MathF.Abs v))

    /// g ← g · d|x|/dx or g · dsoftplus(x)/dx.
    let nonNegativeBack (how: NonNegative) (x: ReadOnlySpan<float32>) (g: Span<float32>) =
        match how with
        | Abs ->
            // g · sign(x), with sign(0) = 0 as in PyTorch
            let w = Vector<float32>.Count
            let zero = Vector<float32>.Zero
            let mutable i = 0

            while i + w <= g.Length do
                let xv = Vector<float32>(x.Slice i)
                let gv = Vector<float32>(g.Slice i)

                Vector
                    .ConditionalSelect(
                        Vector.GreaterThan(xv, zero),
                        gv,
                        Vector.ConditionalSelect(Vector.LessThan(xv, zero), -gv, zero)
                    )
                    .CopyTo(g.Slice i)

                i <- i + w

            while i < g.Length do
                let v = x[i]

                g[i] <-
                    (if v > 0.0f then g[i]
                     elif v < 0.0f then -g[i]
                     else 0.0f)

                i <- i + 1
        | Softplus ->
            for i in 0 .. g.Length - 1 do
                let v = x[i]
                let s = if v > 20.0f then 1.0f else 1.0f / (1.0f + MathF.Exp(-v))
                g[i] <- g[i] * s
