namespace Qmix.Tensors

open System
open System.Numerics.Tensors

/// <summary>Elementwise binary operations that broadcast their operands (NumPy rules).</summary>
type internal BinaryOp =
    | Add = 0
    | Sub = 1
    | Mul = 2
    | Div = 3

/// <summary>
/// A broadcast plan: the output seen as [outer, inner] rows, where over each inner row every operand is
/// either contiguous or one repeated element, so each row is one vectorised span operation.
/// </summary>
type internal BroadcastPlan =
    {
        Out: int[]
        Outer: int
        Inner: int
        /// Operand strides over the outer dimensions (0 where broadcast).
        OuterStrides: int[][]
        /// Per operand: true when it is one element repeated across an inner row.
        InnerScalar: bool[]
    }

/// <summary>Broadcasting: shapes, plans, and the row kernels of the binary ops.</summary>
[<RequireQualifiedAccess>]
module internal Broadcast =
    /// The broadcast of two shapes; the error names the op and both shapes.
    let shapes (op: string) (a: Shape) (b: Shape) : int[] =
        let ad, bd = a.Dims, b.Dims
        let r = max ad.Length bd.Length

        Array.init r (fun i ->
            let da = if i < r - ad.Length then 1 else ad[i - (r - ad.Length)]
            let db = if i < r - bd.Length then 1 else bd[i - (r - bd.Length)]

            if da = db || db = 1 then
                da
            elif da = 1 then
                db
            else
                invalidArg "b" (sprintf "%s: shapes %O and %O cannot be broadcast together" op a b))

    /// Strides of an operand of shape `x` within the output shape `out` (0 on broadcast dimensions).
    let private stridesIn (x: Shape) (out: int[]) =
        let xd = x.Dims
        let xs = Shape.strides x
        let off = out.Length - xd.Length

        Array.init out.Length (fun i ->
            if i < off then 0
            elif xd[i - off] = 1 && out[i] <> 1 then 0
            else xs[i - off])

    /// Plans the iteration of `out` for the given operand shapes (each broadcastable to `out`).
    let plan (out: int[]) (operands: Shape[]) : BroadcastPlan =
        let r = out.Length
        let st = operands |> Array.map (fun x -> stridesIn x out)
        // For each operand and dimension: is it broadcast (stride 0 over a dimension larger than 1)?
        let isBroadcast (o: int) (d: int) = out[d] <> 1 && st[o][d] = 0
        // Inner block: the longest suffix over which each operand is wholly broadcast or wholly not.
        let mutable k = r
        let mode = Array.create operands.Length 0 // 0 undecided, 1 contiguous, 2 scalar
        let mutable stop = false

        while not stop && k > 0 do
            let d = k - 1

            if out[d] = 1 then
                k <- k - 1
            else
                let ok =
                    Array.forall
                        id
                        (Array.init operands.Length (fun o ->
                            let m = if isBroadcast o d then 2 else 1
                            mode[o] = 0 || mode[o] = m))

                if ok then
                    for o in 0 .. operands.Length - 1 do
                        mode[o] <- if isBroadcast o d then 2 else 1

                    k <- k - 1
                else
                    stop <- true

        let mutable inner = 1

        for d in k .. r - 1 do
            inner <- inner * out[d]

        let mutable outer = 1

        for d in 0 .. k - 1 do
            outer <- outer * out[d]

        {
            Out = out
            Outer = outer
            Inner = inner
            OuterStrides = st |> Array.map (fun s -> s[0 .. k - 1])
            InnerScalar = mode |> Array.map (fun m -> m = 2)
        }

    /// Offset of operand `o` at outer row `row`.
    let offset (p: BroadcastPlan) (o: int) (row: int) =
        let s = p.OuterStrides[o]
        let mutable rem = row
        let mutable off = 0

        for d in s.Length - 1 .. -1 .. 0 do
            let n = p.Out[d]
            off <- off + (rem % n) * s[d]
            rem <- rem / n

        off

    /// One row of a binary op: each side is a span of the row's length or one repeated element.
    let row
        (op: BinaryOp)
        (a: ReadOnlySpan<float32>, aScalar: bool, b: ReadOnlySpan<float32>, bScalar: bool, dst: Span<float32>)
        =
        match op, aScalar, bScalar with
        | BinaryOp.Add, false, false -> TensorPrimitives.Add(a, b, dst)
        | BinaryOp.Add, false, true -> TensorPrimitives.Add(a, b[0], dst)
        | BinaryOp.Add, true, false -> TensorPrimitives.Add(b, a[0], dst)
        | BinaryOp.Add, true, true -> dst.Fill(a[0] + b[0])
        | BinaryOp.Sub, false, false -> TensorPrimitives.Subtract(a, b, dst)
        | BinaryOp.Sub, false, true -> TensorPrimitives.Subtract(a, b[0], dst)
        | BinaryOp.Sub, true, false -> TensorPrimitives.Subtract(a[0], b, dst)
        | BinaryOp.Sub, true, true -> dst.Fill(a[0] - b[0])
        | BinaryOp.Mul, false, false -> TensorPrimitives.Multiply(a, b, dst)
        | BinaryOp.Mul, false, true -> TensorPrimitives.Multiply(a, b[0], dst)
        | BinaryOp.Mul, true, false -> TensorPrimitives.Multiply(b, a[0], dst)
        | BinaryOp.Mul, true, true -> dst.Fill(a[0] * b[0])
        | BinaryOp.Div, false, false -> TensorPrimitives.Divide(a, b, dst)
        | BinaryOp.Div, false, true -> TensorPrimitives.Divide(a, b[0], dst)
        | BinaryOp.Div, true, false -> TensorPrimitives.Divide(a[0], b, dst)
        | _ -> dst.Fill(a[0] / b[0])

    /// dst = a (op) b over the plan (operand 0 is a, operand 1 is b).
    let apply
        (op: BinaryOp)
        (p: BroadcastPlan)
        (a: ReadOnlySpan<float32>)
        (b: ReadOnlySpan<float32>)
        (dst: Span<float32>)
        =
        let n = p.Inner
        let aS, bS = p.InnerScalar[0], p.InnerScalar[1]

        for r in 0 .. p.Outer - 1 do
            let ao = offset p 0 r
            let bo = offset p 1 r
            let aRow = if aS then a.Slice(ao, 1) else a.Slice(ao, n)
            let bRow = if bS then b.Slice(bo, 1) else b.Slice(bo, n)
            row op (aRow, aS, bRow, bS, dst.Slice(r * n, n))

    /// target += g summed down to the operand's shape (operand `o` of the plan): the backward of broadcasting.
    let accumulate (p: BroadcastPlan) (o: int) (g: ReadOnlySpan<float32>) (target: Span<float32>) =
        let n = p.Inner
        let scalar = p.InnerScalar[o]

        for r in 0 .. p.Outer - 1 do
            let off = offset p o r
            let gRow = g.Slice(r * n, n)

            if scalar then
                target[off] <- target[off] + TensorPrimitives.Sum gRow
            else
                let t = target.Slice(off, n)
                TensorPrimitives.Add(t, gRow, t)
