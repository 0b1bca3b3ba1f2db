namespace Qmix.Tensors

open System
type private TensorPrimitives = System.Numerics.Tensors.TensorPrimitives

/// <summary>
/// Tensor construction and the differentiable ops. Each op computes its value and, when an input takes
/// part in a gradient computation, records its derivative beside it. Ops never change their arguments.
/// </summary>
/// <remarks>Pipelines read left to right: the tensor comes last, e.g. <c>x |> Tensor.sumAxis 1</c>.</remarks>
[<RequireQualifiedAccess; CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Tensor =

    // ---------------------------------------------------------------- construction and access

    /// <summary>A tensor of the given shape holding a copy of <paramref name="data"/> (row-major).</summary>
    /// <exception cref="System.ArgumentException">The data length is not the product of the dimensions.</exception>
    let ofArray (dims: int[]) (data: float32[]) : Tensor =
        let shape = Shape dims

        if isNull data || data.Length <> shape.Numel then
            invalidArg
                (nameof data)
                (sprintf
                    "ofArray: shape %O needs %d elements, got %d"
                    shape
                    shape.Numel
                    (if isNull data then 0 else data.Length))

        let t = Tensor.Uninit shape
        data.AsSpan().CopyTo t.WritableSpan
        t

    /// <summary>A matrix from a 2-D array.</summary>
    let ofArray2D (data: float32[,]) : Tensor =
        let r, c = Array2D.length1 data, Array2D.length2 data
        ofArray [| r; c |] (Array.init (r * c) (fun i -> data[i / c, i % c]))

    /// <summary>A tensor of rank 0 holding one value.</summary>
    let scalar (value: float32) : Tensor = ofArray [||] [| value |]

    /// <summary>A tensor of the given shape with every element equal to <paramref name="value"/>.</summary>
    let full (dims: int[]) (value: float32) : Tensor =
        let t = Tensor.Uninit(Shape dims)
        t.WritableSpan.Fill value
        t

    /// <summary>A tensor of zeros.</summary>
    let zeros (dims: int[]) = full dims 0.0f

    /// <summary>A tensor of ones.</summary>
    let ones (dims: int[]) = full dims 1.0f

    /// <summary>A tensor whose element at flat (row-major) index i is <c>f i</c>.</summary>
    let init (dims: int[]) (f: int -> float32) : Tensor =
        ofArray dims (Array.init (Shape dims).Numel f)

    /// <summary>The shape of a tensor.</summary>
    let shape (x: Tensor) = x.Shape

    /// <summary>A copy of the elements, row-major.</summary>
    let toArray (x: Tensor) = x.ToArray()

    /// <summary>The value of a one-element tensor.</summary>
    let toScalar (x: Tensor) = x.Scalar

    /// <summary>A copy of a tensor on the GC heap, outside any gradient computation or arena: use it to
    /// keep a result made inside <c>Autodiff.valueAndGrad</c> or <c>Arena.Scope</c>.</summary>
    let copy (x: Tensor) : Tensor =
        Arena.Heap(fun () ->
            let t = Tensor.Uninit x.Shape
            x.Span.CopyTo t.WritableSpan
            t)

    /// <summary>The same values with no gradient flowing back through them (PyTorch's <c>detach</c>):
    /// for targets and other constants.</summary>
    let detach (x: Tensor) : Tensor =
        if x.IsTracked then x.With(x.Shape, null) else x

    /// <summary>True when every element of <paramref name="x"/> is within <paramref name="tol"/> of the
    /// matching element of <paramref name="y"/> (same shape required).</summary>
    let allClose (tol: float32) (x: Tensor) (y: Tensor) =
        x.Shape = y.Shape
        && (let a = x.Span
            let b = y.Span
            let mutable ok = true

            for i in 0 .. a.Length - 1 do
                if not (abs (a[i] - b[i]) <= tol) then
                    ok <- false

            ok)

    // ---------------------------------------------------------------- elementwise binary ops

    let private binary (name: string) (op: BinaryOp) (a: Tensor) (b: Tensor) =
        let outDims = Broadcast.shapes name a.Shape b.Shape
        let plan = Broadcast.plan outDims [| a.Shape; b.Shape |]
        let out = Tensor.Uninit(Shape outDims)
        Broadcast.apply op plan a.Span b.Span out.WritableSpan
        struct (plan, out)

    /// <summary>Elementwise a + b, broadcasting (NumPy rules: e.g. a row [n] or a column [m, 1] against [m, n]).</summary>
    /// <exception cref="System.ArgumentException">The shapes cannot be broadcast; the message names both.</exception>
    let add (a: Tensor) (b: Tensor) : Tensor =
        let struct (plan, out) = binary "add" BinaryOp.Add a b

        match Track.tape2 a b with
        | null -> out
        | tape ->
            Track.attach tape out (fun g ->
                if a.IsTracked then
                    Broadcast.accumulate plan 0 (ReadOnlySpan g) (Span(Track.grad a))

                if b.IsTracked then
                    Broadcast.accumulate plan 1 (ReadOnlySpan g) (Span(Track.grad b)))

    /// <summary>Elementwise a − b, broadcasting.</summary>
    let sub (a: Tensor) (b: Tensor) : Tensor =
        let struct (plan, out) = binary "sub" BinaryOp.Sub a b

        match Track.tape2 a b with
        | null -> out
        | tape ->
            Track.attach tape out (fun g ->
                if a.IsTracked then
                    Broadcast.accumulate plan 0 (ReadOnlySpan g) (Span(Track.grad a))

                if b.IsTracked then
                    let neg = tape.Rent g.Length
                    TensorPrimitives.Negate(ReadOnlySpan g, Span neg)
                    Broadcast.accumulate plan 1 (ReadOnlySpan neg) (Span(Track.grad b)))

    /// <summary>Elementwise a · b, broadcasting.</summary>
    let mul (a: Tensor) (b: Tensor) : Tensor =
        let struct (plan, out) = binary "mul" BinaryOp.Mul a b

        match Track.tape2 a b with
        | null -> out
        | tape ->
            Track.attach tape out (fun g ->
                let tmp = tape.Rent g.Length
                let out = Shape plan.Out
                // d(a·b)/da = b, d(a·b)/db = a (each broadcast to the output, then summed back);
                // g has the output's shape, so it is planned as such beside the other operand
                if a.IsTracked then
                    let gb = Broadcast.plan plan.Out [| out; b.Shape |]
                    Broadcast.apply BinaryOp.Mul gb (ReadOnlySpan g) b.Span (Span tmp)
                    Broadcast.accumulate plan 0 (ReadOnlySpan tmp) (Span(Track.grad a))

                if b.IsTracked then
                    let ag = Broadcast.plan plan.Out [| a.Shape; out |]
                    Broadcast.apply BinaryOp.Mul ag a.Span (ReadOnlySpan g) (Span tmp)
                    Broadcast.accumulate plan 1 (ReadOnlySpan tmp) (Span(Track.grad b)))

    /// <summary>Elementwise a / b, broadcasting.</summary>
    let div (a: Tensor) (b: Tensor) : Tensor =
        let struct (plan, out) = binary "div" BinaryOp.Div a b

        match Track.tape2 a b with
        | null -> out
        | tape ->
            Track.attach tape out (fun g ->
                let tmp = tape.Rent g.Length
                // g and out have the output's shape: plan them as such beside b
                let ob = Broadcast.plan plan.Out [| Shape plan.Out; b.Shape |]
                // d(a/b)/da = 1/b
                if a.IsTracked then
                    Broadcast.apply BinaryOp.Div ob (ReadOnlySpan g) b.Span (Span tmp)
                    Broadcast.accumulate plan 0 (ReadOnlySpan tmp) (Span(Track.grad a))
                // d(a/b)/db = −(a/b)/b = −out/b
                if b.IsTracked then
                    Broadcast.apply BinaryOp.Div ob out.Span b.Span (Span tmp)
                    TensorPrimitives.Multiply(ReadOnlySpan tmp, ReadOnlySpan g, Span tmp)
                    TensorPrimitives.Negate(ReadOnlySpan tmp, Span tmp)
                    Broadcast.accumulate plan 1 (ReadOnlySpan tmp) (Span(Track.grad b)))

    // ---------------------------------------------------------------- elementwise unary ops

    /// Applies `forward` to make the output and, when tracked, `backward x out g dx` to accumulate dx.
    let inline private unary
        (x: Tensor)
        ([<InlineIfLambda>] forward: Tensor -> Tensor -> unit)
        (backward: Tensor -> Tensor -> float32[] -> float32[] -> unit)
        =
        let out = Tensor.Uninit x.Shape
        forward x out

        match Track.tape1 x with
        | null -> out
        | tape -> Track.attach tape out (fun g -> backward x out g (Track.grad x))

    /// <summary>Elementwise −x.</summary>
    let neg (x: Tensor) =
        unary x (fun xT oT -> TensorPrimitives.Negate(xT.Span, oT.WritableSpan)) (fun _ _ g dx ->
            TensorPrimitives.Subtract(ReadOnlySpan dx, ReadOnlySpan g, Span dx))

    /// <summary>Elementwise x + s for a scalar s.</summary>
    let addScalar (s: float32) (x: Tensor) =
        unary x (fun xT oT -> TensorPrimitives.Add(xT.Span, s, oT.WritableSpan)) (fun _ _ g dx ->
            TensorPrimitives.Add(ReadOnlySpan dx, ReadOnlySpan g, Span dx))

    /// <summary>Elementwise s · x for a scalar s.</summary>
    let mulScalar (s: float32) (x: Tensor) =
        unary x (fun xT oT -> TensorPrimitives.Multiply(xT.Span, s, oT.WritableSpan)) (fun _ _ g dx ->
            TensorPrimitives.MultiplyAdd(ReadOnlySpan g, s, ReadOnlySpan dx, Span dx))

    /// <summary>Elementwise s − x for a scalar s (e.g. <c>1 − terminated</c>).</summary>
    let rsubScalar (s: float32) (x: Tensor) =
        unary x (fun xT oT -> TensorPrimitives.Subtract(s, xT.Span, oT.WritableSpan)) (fun _ _ g dx ->
            TensorPrimitives.Subtract(ReadOnlySpan dx, ReadOnlySpan g, Span dx))

    /// <summary>Elementwise x / s for a scalar s.</summary>
    let divScalar (s: float32) (x: Tensor) = mulScalar (1.0f / s) x

    /// <summary>Elementwise max(x, 0).</summary>
    let relu (x: Tensor) =
        unary x (fun xT oT -> TensorPrimitives.Max(xT.Span, 0.0f, oT.WritableSpan)) (fun x _ g dx ->
            let xs = x.Span

            for i in 0 .. dx.Length - 1 do
                if xs[i] > 0.0f then
                    dx[i] <- dx[i] + g[i])

    /// <summary>Elementwise ELU with α = 1: x for x &gt; 0, else exp(x) − 1 (PyTorch's default).</summary>
    let elu (x: Tensor) =
        unary
            x
            (fun xT oT ->
                let a = xT.Span
                let d = oT.WritableSpan

                for i in 0 .. a.Length - 1 do
                    let v = a[i]
                    d[i] <- if v > 0.0f then v else MathF.Exp v - 1.0f)
            (fun x out g dx ->
                let xs = x.Span
                let ys = out.Span

                for i in 0 .. dx.Length - 1 do
                    dx[i] <- dx[i] + (if xs[i] > 0.0f then g[i] else g[i] * (ys[i] + 1.0f)))

    /// <summary>Elementwise |x|; its derivative at 0 is 0, as in PyTorch.</summary>
    let abs (x: Tensor) =
        unary x (fun xT oT -> TensorPrimitives.Abs(xT.Span, oT.WritableSpan)) (fun x _ g dx ->
            let xs = x.Span

            for i in 0 .. dx.Length - 1 do
                let v = xs[i]

                dx[i] <-
                    dx[i]
                    + (if v > 0.0f then g[i]
                       elif v < 0.0f then -g[i]
                       else 0.0f))

    /// <summary>Elementwise logistic sigmoid 1 / (1 + exp(−x)).</summary>
    let sigmoid (x: Tensor) =
        unary x (fun xT oT -> TensorPrimitives.Sigmoid(xT.Span, oT.WritableSpan)) (fun _ out g dx ->
            let ys = out.Span

            for i in 0 .. dx.Length - 1 do
                dx[i] <- dx[i] + g[i] * ys[i] * (1.0f - ys[i]))

    /// <summary>Elementwise hyperbolic tangent.</summary>
    let tanh (x: Tensor) =
        unary x (fun xT oT -> TensorPrimitives.Tanh(xT.Span, oT.WritableSpan)) (fun _ out g dx ->
            let ys = out.Span

            for i in 0 .. dx.Length - 1 do
                dx[i] <- dx[i] + g[i] * (1.0f - ys[i] * ys[i]))

    /// <summary>Elementwise exp(x).</summary>
    let exp (x: Tensor) =
        unary x (fun xT oT -> TensorPrimitives.Exp(xT.Span, oT.WritableSpan)) (fun _ out g dx ->
            TensorPrimitives.MultiplyAdd(ReadOnlySpan g, out.Span, ReadOnlySpan dx, Span dx))

    /// <summary>Elementwise natural logarithm.</summary>
    let log (x: Tensor) =
        unary x (fun xT oT -> TensorPrimitives.Log(xT.Span, oT.WritableSpan)) (fun x _ g dx ->
            let xs = x.Span

            for i in 0 .. dx.Length - 1 do
                dx[i] <- dx[i] + g[i] / xs[i])

    /// <summary>Elementwise softplus log(1 + exp(x)), as PyTorch's (β = 1, linear above x = 20).</summary>
    let softplus (x: Tensor) =
        unary
            x
            (fun xT oT ->
                let a = xT.Span
                let d = oT.WritableSpan

                for i in 0 .. a.Length - 1 do
                    let v = a[i]

                    d[i] <-
                        if v > 20.0f then
                            v
                        else
                            MathF.Max(v, 0.0f) + MathF.Log(1.0f + MathF.Exp(-MathF.Abs v)))
            (fun x _ g dx ->
                let xs = x.Span

                for i in 0 .. dx.Length - 1 do
                    let v = xs[i]
                    let s = if v > 20.0f then 1.0f else 1.0f / (1.0f + MathF.Exp(-v))
                    dx[i] <- dx[i] + g[i] * s)

    /// <summary>Elementwise x².</summary>
    let square (x: Tensor) =
        unary x (fun xT oT -> TensorPrimitives.Multiply(xT.Span, xT.Span, oT.WritableSpan)) (fun x _ g dx ->
            let xs = x.Span

            for i in 0 .. dx.Length - 1 do
                dx[i] <- dx[i] + 2.0f * xs[i] * g[i])

    /// <summary>Elementwise square root.</summary>
    let sqrt (x: Tensor) =
        unary x (fun xT oT -> TensorPrimitives.Sqrt(xT.Span, oT.WritableSpan)) (fun _ out g dx ->
            let ys = out.Span

            for i in 0 .. dx.Length - 1 do
                dx[i] <- dx[i] + g[i] * 0.5f / ys[i])

    // ---------------------------------------------------------------- shape ops

    /// <summary>The same elements under another shape (sharing storage). One dimension may be −1: it is
    /// inferred from the others.</summary>
    /// <exception cref="System.ArgumentException">The element counts differ; the message names both shapes.</exception>
    let reshape (dims: int[]) (x: Tensor) : Tensor =
        let dims = Array.copy dims
        let unknown = dims |> Array.filter ((=) -1) |> Array.length
        let requested = "[" + String.Join(", ", dims) + "]"

        if unknown > 1 then
            invalidArg (nameof dims) (sprintf "reshape: at most one dimension may be -1, got %s" requested)

        if unknown = 1 then
            let known = dims |> Array.filter ((<>) -1) |> Array.fold (*) 1

            if known = 0 || x.Numel % known <> 0 then
                invalidArg
                    (nameof dims)
                    (sprintf "reshape: cannot reshape a tensor of shape %O into %s" x.Shape requested)

            dims[Array.IndexOf(dims, -1)] <- x.Numel / known

        let shape = Shape dims

        if shape.Numel <> x.Numel then
            invalidArg (nameof dims) (sprintf "reshape: cannot reshape a tensor of shape %O into %O" x.Shape shape)

        x.CheckLive()
        let out = x.With(shape, null)

        match Track.tape1 x with
        | null -> out
        | tape ->
            Track.attach tape out (fun g ->
                let dx = Track.grad x
                TensorPrimitives.Add(ReadOnlySpan dx, ReadOnlySpan g, Span dx))

    /// dst[b, j, i] (+)= src[b, i, j] for `batch` matrices of rows × cols.
    let private swapLast2
        (batch: int, src: ReadOnlySpan<float32>, dst: Span<float32>, accumulate: bool, rows: int, cols: int)
        =
        for b in 0 .. batch - 1 do
            let o = b * rows * cols

            for i in 0 .. rows - 1 do
                for j in 0 .. cols - 1 do
                    let v = src[o + i * cols + j]
                    let k = o + j * rows + i
                    dst[k] <- if accumulate then dst[k] + v else v

    /// <summary>Swaps the last two axes (a copy): [..., m, n] → [..., n, m].</summary>
    let transpose (x: Tensor) : Tensor =
        if x.Rank < 2 then
            invalidArg (nameof x) (sprintf "transpose: needs rank >= 2, got shape %O" x.Shape)

        let d = x.Shape.Dims
        let m, n = d[d.Length - 2], d[d.Length - 1]
        let batch = x.Numel / max 1 (m * n)
        let outDims = Array.copy d
        outDims[d.Length - 2] <- n
        outDims[d.Length - 1] <- m
        let out = Tensor.Uninit(Shape outDims)

        if m * n > 0 then
            swapLast2 (batch, x.Span, out.WritableSpan, false, m, n)

        match Track.tape1 x with
        | null -> out
        | tape -> Track.attach tape out (fun g -> swapLast2 (batch, ReadOnlySpan g, Span(Track.grad x), true, n, m))

    /// <summary>Elements [start, start + length) along <paramref name="axis"/>.</summary>
    /// <exception cref="System.ArgumentException">The range is outside the axis.</exception>
    let slice (axis: int) (start: int) (length: int) (x: Tensor) : Tensor =
        let axis = Shape.normAxis "slice" x.Rank axis
        let struct (outer, n, inner) = Shape.splitAt x.Shape axis

        if start < 0 || length < 0 || start + length > n then
            invalidArg
                (nameof start)
                (sprintf
                    "slice: [%d, %d) is outside axis %d of a tensor of shape %O"
                    start
                    (start + length)
                    axis
                    x.Shape)

        let dims = x.Shape.ToArray()
        dims[axis] <- length
        let out = Tensor.Uninit(Shape dims)
        let src = x.Span
        let dst = out.WritableSpan

        for o in 0 .. outer - 1 do
            src.Slice((o * n + start) * inner, length * inner).CopyTo(dst.Slice(o * length * inner, length * inner))

        match Track.tape1 x with
        | null -> out
        | tape ->
            Track.attach tape out (fun g ->
                let dx = Track.grad x

                for o in 0 .. outer - 1 do
                    let t = Span(dx, (o * n + start) * inner, length * inner)
                    TensorPrimitives.Add(t, ReadOnlySpan(g, o * length * inner, length * inner), t))

    /// <summary>Joins tensors along an existing axis; all other dimensions must agree.</summary>
    /// <exception cref="System.ArgumentException">No tensors, or shapes that differ off the axis (named).</exception>
    let concat (axis: int) (xs: Tensor seq) : Tensor =
        let xs = Seq.toArray xs

        if xs.Length = 0 then
            invalidArg (nameof xs) "concat: needs at least one tensor"

        let first = xs[0]
        let axis = Shape.normAxis "concat" first.Rank axis

        for x in xs do
            let ok =
                x.Rank = first.Rank
                && Seq.forall (fun d -> d = axis || x.Shape.Dims[d] = first.Shape.Dims[d]) [ 0 .. x.Rank - 1 ]

            if not ok then
                invalidArg (nameof xs) (sprintf "concat: shapes %O and %O differ off axis %d" first.Shape x.Shape axis)

        let sizes = xs |> Array.map (fun x -> x.Shape.Dims[axis])
        let total = Array.sum sizes
        let dims = first.Shape.ToArray()
        dims[axis] <- total
        let out = Tensor.Uninit(Shape dims)
        let struct (outer, _, inner) = Shape.splitAt (Shape dims) axis
        let dst = out.WritableSpan
        let mutable at = 0

        for k in 0 .. xs.Length - 1 do
            let src = xs[k].Span
            let w = sizes[k] * inner

            for o in 0 .. outer - 1 do
                src.Slice(o * w, w).CopyTo(dst.Slice(o * total * inner + at * inner, w))

            at <- at + sizes[k]

        match Track.tapeN xs with
        | null -> out
        | tape ->
            Track.attach tape out (fun g ->
                let mutable at = 0

                for k in 0 .. xs.Length - 1 do
                    let w = sizes[k] * inner

                    if xs[k].IsTracked then
                        let dx = Track.grad xs[k]

                        for o in 0 .. outer - 1 do
                            let t = Span(dx, o * w, w)
                            TensorPrimitives.Add(t, ReadOnlySpan(g, o * total * inner + at * inner, w), t)

                    at <- at + sizes[k])

    /// <summary>Stacks tensors of one shape along a new axis.</summary>
    /// <exception cref="System.ArgumentException">No tensors, or shapes that differ (named).</exception>
    let stack (axis: int) (xs: Tensor seq) : Tensor =
        let xs = Seq.toArray xs

        if xs.Length = 0 then
            invalidArg (nameof xs) "stack: needs at least one tensor"

        let first = xs[0]

        for x in xs do
            if x.Shape <> first.Shape then
                invalidArg (nameof xs) (sprintf "stack: shapes %O and %O differ" first.Shape x.Shape)

        let axis = Shape.normAxis "stack" (first.Rank + 1) axis
        let d = first.Shape.Dims
        let unsq = Array.concat [ d[.. axis - 1]; [| 1 |]; d[axis..] ]
        xs |> Array.map (reshape unsq) |> concat axis

    // ---------------------------------------------------------------- reductions

    /// <summary>The sum of all elements, as a scalar tensor.</summary>
    let sum (x: Tensor) : Tensor =
        let out = Tensor.Uninit Shape.scalar
        out.WritableSpan[0] <- TensorPrimitives.Sum x.Span

        match Track.tape1 x with
        | null -> out
        | tape ->
            Track.attach tape out (fun g ->
                let dx = Track.grad x
                TensorPrimitives.Add(ReadOnlySpan dx, g[0], Span dx))

    /// <summary>The mean of all elements, as a scalar tensor.</summary>
    let mean (x: Tensor) : Tensor =
        if x.Numel = 0 then
            invalidArg (nameof x) (sprintf "mean: the tensor of shape %O is empty" x.Shape)

        sum x |> mulScalar (1.0f / float32 x.Numel)

    let private dropAxis (x: Tensor) (axis: int) (keepDim: bool) =
        let d = x.Shape.ToArray()

        if keepDim then
            d[axis] <- 1
            d
        else
            Array.append d[.. axis - 1] d[axis + 1 ..]

    /// <summary>Sums over <paramref name="axis"/>; with <paramref name="keepDim"/> the axis stays with size 1.</summary>
    let sumAxis (axis: int) (keepDim: bool) (x: Tensor) : Tensor =
        let axis = Shape.normAxis "sumAxis" x.Rank axis
        let struct (outer, n, inner) = Shape.splitAt x.Shape axis
        let out = Tensor.Uninit(Shape(dropAxis x axis keepDim))
        let src = x.Span
        let dst = out.WritableSpan

        for o in 0 .. outer - 1 do
            let row = dst.Slice(o * inner, inner)

            if inner = 1 then
                row[0] <- TensorPrimitives.Sum(src.Slice(o * n, n))
            else
                row.Clear()

                for j in 0 .. n - 1 do
                    TensorPrimitives.Add(row, src.Slice((o * n + j) * inner, inner), row)

        match Track.tape1 x with
        | null -> out
        | tape ->
            Track.attach tape out (fun g ->
                let dx = Track.grad x

                for o in 0 .. outer - 1 do
                    let gRow = ReadOnlySpan(g, o * inner, inner)

                    for j in 0 .. n - 1 do
                        let t = Span(dx, (o * n + j) * inner, inner)
                        TensorPrimitives.Add(t, gRow, t))

    /// <summary>Averages over <paramref name="axis"/>.</summary>
    let meanAxis (axis: int) (keepDim: bool) (x: Tensor) : Tensor =
        let a = Shape.normAxis "meanAxis" x.Rank axis
        let n = x.Shape.Dims[a]

        if n = 0 then
            invalidArg (nameof axis) (sprintf "meanAxis: axis %d of shape %O is empty" axis x.Shape)

        sumAxis a keepDim x |> mulScalar (1.0f / float32 n)

    let private argmaxRows (x: Tensor) (axis: int) =
        let struct (outer, n, inner) = Shape.splitAt x.Shape axis

        if n = 0 then
            invalidArg (nameof axis) (sprintf "max/argmax: axis %d of shape %O is empty" axis x.Shape)

        let src = x.Span
        let idx = Array.zeroCreate (outer * inner)

        for o in 0 .. outer - 1 do
            for i in 0 .. inner - 1 do
                let mutable best = 0
                let mutable bv = src[o * n * inner + i]

                for j in 1 .. n - 1 do
                    let v = src[(o * n + j) * inner + i]

                    if v > bv then
                        bv <- v
                        best <- j

                idx[o * inner + i] <- best

        struct (outer, n, inner, idx)

    /// <summary>The index of the largest element along <paramref name="axis"/> (the first one on ties),
    /// row-major over the remaining axes. Not differentiable.</summary>
    let argmax (axis: int) (x: Tensor) : int[] =
        let axis = Shape.normAxis "argmax" x.Rank axis
        let struct (_, _, _, idx) = argmaxRows x axis
        idx

    /// <summary>The largest element along <paramref name="axis"/>; the gradient flows to the element
    /// <see cref="M:Qmix.Tensors.TensorModule.argmax"/> picks.</summary>
    let maxAxis (axis: int) (keepDim: bool) (x: Tensor) : Tensor =
        let axis = Shape.normAxis "maxAxis" x.Rank axis
        let struct (outer, n, inner, idx) = argmaxRows x axis
        let out = Tensor.Uninit(Shape(dropAxis x axis keepDim))
        let src = x.Span
        let dst = out.WritableSpan

        for o in 0 .. outer - 1 do
            for i in 0 .. inner - 1 do
                dst[o * inner + i] <- src[(o * n + idx[o * inner + i]) * inner + i]

        match Track.tape1 x with
        | null -> out
        | tape ->
            Track.attach tape out (fun g ->
                let dx = Track.grad x

                for o in 0 .. outer - 1 do
                    for i in 0 .. inner - 1 do
                        let k = (o * n + idx[o * inner + i]) * inner + i
                        dx[k] <- dx[k] + g[o * inner + i])

    // ---------------------------------------------------------------- indexing

    /// <summary>Picks one element of each row along the last axis: x [..., A] and one index per row
    /// (row-major over [...]) give a tensor of shape [...]. PyTorch: <c>x.gather(-1, idx[..., None])[..., 0]</c>.</summary>
    /// <exception cref="System.ArgumentException">Wrong number of indices, or an index outside [0, A).</exception>
    let gather (indices: int[]) (x: Tensor) : Tensor =
        if x.Rank < 1 then
            invalidArg (nameof x) "gather: needs a tensor of rank >= 1"

        let a = x.Shape[-1]
        let rows = if a = 0 then 0 else x.Numel / a

        if isNull indices || indices.Length <> rows then
            invalidArg
                (nameof indices)
                (sprintf
                    "gather: a tensor of shape %O needs %d indices, got %d"
                    x.Shape
                    rows
                    (if isNull indices then 0 else indices.Length))

        for r in 0 .. rows - 1 do
            if indices[r] < 0 || indices[r] >= a then
                invalidArg
                    (nameof indices)
                    (sprintf
                        "gather: index %d at row %d is outside [0, %d) for a tensor of shape %O"
                        indices[r]
                        r
                        a
                        x.Shape)

        let out = Tensor.Uninit(Shape x.Shape.Dims[.. x.Rank - 2])
        let src = x.Span
        let dst = out.WritableSpan

        for r in 0 .. rows - 1 do
            dst[r] <- src[r * a + indices[r]]

        match Track.tape1 x with
        | null -> out
        | tape ->
            let indices = Array.copy indices

            Track.attach tape out (fun g ->
                let dx = Track.grad x

                for r in 0 .. rows - 1 do
                    let k = r * a + indices[r]
                    dx[k] <- dx[k] + g[r])

    /// <summary>One-hot rows: indices laid out as <paramref name="dims"/> give a tensor of shape dims @ [n].</summary>
    /// <exception cref="System.ArgumentException">An index outside [0, n), or a count that does not match dims.</exception>
    let oneHot (n: int) (dims: int[]) (indices: int[]) : Tensor =
        let shape = Shape(Array.append dims [| n |])
        let rows = (Shape dims).Numel

        if isNull indices || indices.Length <> rows then
            invalidArg
                (nameof indices)
                (sprintf
                    "oneHot: shape %O needs %d indices, got %d"
                    (Shape dims)
                    rows
                    (if isNull indices then 0 else indices.Length))

        let out = Tensor.Uninit shape
        let dst = out.WritableSpan
        dst.Clear()

        for r in 0 .. rows - 1 do
            let i = indices[r]

            if i < 0 || i >= n then
                invalidArg (nameof indices) (sprintf "oneHot: index %d at position %d is outside [0, %d)" i r n)

            dst[r * n + i] <- 1.0f

        out

    /// <summary>Elementwise choice: where <paramref name="mask"/> is non-zero take <paramref name="a"/>,
    /// else <paramref name="b"/>. All three have one shape.</summary>
    /// <exception cref="System.ArgumentException">The shapes differ; the message names them.</exception>
    let where (mask: Tensor) (a: Tensor) (b: Tensor) : Tensor =
        if mask.Shape <> a.Shape || a.Shape <> b.Shape then
            invalidArg
                (nameof mask)
                (sprintf "where: mask %O, a %O and b %O must have one shape" mask.Shape a.Shape b.Shape)

        let out = Tensor.Uninit a.Shape
        let m = mask.Span
        let xa = a.Span
        let xb = b.Span
        let dst = out.WritableSpan

        for i in 0 .. dst.Length - 1 do
            dst[i] <- if m[i] <> 0.0f then xa[i] else xb[i]

        match Track.tape2 a b with
        | null -> out
        | tape ->
            Track.attach tape out (fun g ->
                let m = mask.Span
                let da, db = Track.grad a, Track.grad b

                for i in 0 .. g.Length - 1 do
                    if m[i] <> 0.0f then
                        if not (isNull da) then
                            da[i] <- da[i] + g[i]
                    elif not (isNull db) then
                        db[i] <- db[i] + g[i])

    /// <summary>x with <paramref name="value"/> wherever <paramref name="mask"/> is non-zero (PyTorch's
    /// <c>masked_fill</c>), e.g. unavailable actions set to −9999999 before a max.</summary>
    let maskedFill (mask: Tensor) (value: float32) (x: Tensor) : Tensor =
        if mask.Shape <> x.Shape then
            invalidArg (nameof mask) (sprintf "maskedFill: mask %O and x %O must have one shape" mask.Shape x.Shape)

        where mask (full (x.Shape.ToArray()) value) x

    // ---------------------------------------------------------------- matrix products

    /// <summary>Matrix product. [m, k]·[k, n] → [m, n]; batched [..., m, k]·[..., k, n] with equal leading
    /// dimensions; and [..., m, k]·[k, n], which treats the leading dimensions as more rows.</summary>
    /// <exception cref="System.ArgumentException">Inner dimensions or batch dimensions differ; the message names both shapes.</exception>
    let matmul (a: Tensor) (b: Tensor) : Tensor =
        let bad () =
            invalidArg (nameof b) (sprintf "matmul: shapes %O and %O are not aligned" a.Shape b.Shape)

        if a.Rank < 2 || b.Rank < 2 then
            bad ()

        let ad, bd = a.Shape.Dims, b.Shape.Dims
        let k = ad[ad.Length - 1]

        if bd[bd.Length - 2] <> k then
            bad ()

        let n = bd[bd.Length - 1]

        let struct (batches, m) =
            if b.Rank = 2 then
                struct (1, a.Numel / max 1 k)
            elif ad.Length = bd.Length && ad[.. ad.Length - 3] = bd[.. bd.Length - 3] then
                struct (a.Numel / max 1 (ad[ad.Length - 2] * k), ad[ad.Length - 2])
            else
                bad ()

        let outDims = Array.copy ad
        outDims[outDims.Length - 1] <- n
        let out = Tensor.Uninit(Shape outDims)
        let av = a.Span
        let bv = b.Span
        let ov = out.WritableSpan

        for i in 0 .. batches - 1 do
            Kernels.matmulNN (
                m,
                k,
                n,
                av.Slice(i * m * k, m * k),
                (if b.Rank = 2 then bv else bv.Slice(i * k * n, k * n)),
                ov.Slice(i * m * n, m * n),
                false
            )

        match Track.tape2 a b with
        | null -> out
        | tape ->
            Track.attach tape out (fun g ->
                let da, db = Track.grad a, Track.grad b
                let av = a.Span
                let bv = b.Span

                for i in 0 .. batches - 1 do
                    let gi = ReadOnlySpan(g, i * m * n, m * n)
                    let bi = if b.Rank = 2 then bv else bv.Slice(i * k * n, k * n)
                    // dA = G·Bᵀ
                    if not (isNull da) then
                        Kernels.matmulNT (m, n, k, gi, bi, Span(da, i * m * k, m * k), true)
                    // dB = Aᵀ·G (summed over the rows of every batch when B is shared)
                    if not (isNull db) then
                        let dbi = if b.Rank = 2 then Span db else Span(db, i * k * n, k * n)
                        Kernels.matmulTN (k, m, n, av.Slice(i * m * k, m * k), gi, dbi, true))
