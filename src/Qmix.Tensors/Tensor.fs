namespace Qmix.Tensors

open System
open System.Collections.Generic
open System.Text

/// <summary>A tensor's place on a gradient tape: where the gradient flowing into it accumulates.</summary>
[<Sealed; AllowNullLiteral>]
type internal Node(tape: Tape, numel: int) =
    /// The accumulated gradient, or null while none has flowed here.
    member val Grad: float32[] = null with get, set
    member _.Tape = tape
    member _.Numel = numel

    /// The gradient buffer, zeroed when first asked for.
    member n.GradBuffer() =
        if isNull n.Grad then
            n.Grad <- tape.RentZeroed numel

        n.Grad

/// <summary>The record of one gradient computation: every differentiable op appends how to send the
/// gradient of its output back to its inputs; <c>Backward</c> replays them in reverse.</summary>
and [<Sealed; AllowNullLiteral>] internal Tape(arena: Arena) =
    let entries = List<struct (Node * Action<float32[]>)>()

    member _.Arena = arena
    member _.Count = entries.Count

    member _.RentZeroed(n: int) =
        if isNull arena then
            Array.zeroCreate n
        else
            arena.RentZeroed n

    member _.Rent(n: int) =
        if isNull arena then
            GC.AllocateUninitializedArray<float32> n
        else
            arena.Rent n

    member _.Record(output: Node, backward: Action<float32[]>) = entries.Add(struct (output, backward))

    /// Seeds d(root)/d(root) = 1 and runs every recorded backward step in reverse order.
    member _.Backward(root: Node) =
        let g = root.GradBuffer()
        g[0] <- g[0] + 1.0f

        for i in entries.Count - 1 .. -1 .. 0 do
            let struct (node, backward) = entries[i]

            if not (isNull node.Grad) then
                backward.Invoke node.Grad

/// <summary>
/// An immutable n-dimensional array of float32, row-major and contiguous. Operations (module
/// <c>Tensor</c>) return new tensors; none changes its arguments. Inside a gradient computation
/// (<c>Autodiff.valueAndGrad</c>) a tensor may also carry its place on the gradient tape.
/// </summary>
[<Sealed; AllowNullLiteral>]
type Tensor internal (shape: Shape, data: float32[], offset: int, node: Node, arena: Arena, generation: int) =

    /// <summary>The dimensions of the tensor.</summary>
    member _.Shape = shape

    /// <summary>The number of elements.</summary>
    member _.Numel = shape.Numel

    /// <summary>The number of dimensions.</summary>
    member _.Rank = shape.Rank

    member internal _.Data = data
    member internal _.Offset = offset
    member internal _.Node = node
    member internal _.Arena = arena
    member internal _.Generation = generation

    /// <summary>True when the tensor's storage is still valid (always, unless it was made inside a
    /// gradient computation or arena scope that has since ended).</summary>
    member _.IsLive = isNull arena || arena.Generation = generation

    member internal t.CheckLive() =
        if not t.IsLive then
            invalidOp (
                sprintf
                    "a tensor of shape %O was used after the gradient computation or arena scope that made it ended; copy results out (Tensor.copy) before the scope ends"
                    shape
            )

    /// <summary>True when the tensor takes part in the current gradient computation.</summary>
    member _.IsTracked = not (isNull node)

    /// <summary>The elements, row-major, as a read-only span.</summary>
    member t.Span: ReadOnlySpan<float32> =
        t.CheckLive()
        ReadOnlySpan<float32>(data, offset, shape.Numel)

    /// <summary>A copy of the elements, row-major.</summary>
    member t.ToArray() : float32[] = t.Span.ToArray()

    /// <summary>The element at a full index (one coordinate per dimension; none for a scalar).</summary>
    member t.Item
        with get ([<ParamArray>] index: int[]) =
            let dims = shape.Dims

            if index.Length <> dims.Length then
                invalidArg
                    (nameof index)
                    (sprintf
                        "index %A has %d coordinates, the tensor of shape %O has %d"
                        index
                        index.Length
                        shape
                        dims.Length)

            let mutable flat = 0

            for i in 0 .. dims.Length - 1 do
                if index[i] < 0 || index[i] >= dims[i] then
                    invalidArg (nameof index) (sprintf "index %A is out of range for shape %O" index shape)

                flat <- flat * dims[i] + index[i]

            t.CheckLive()
            data[offset + flat]

    /// <summary>The single element of a one-element tensor.</summary>
    member t.Scalar =
        if shape.Numel <> 1 then
            invalidOp (sprintf "Scalar needs a tensor with one element, this one has shape %O" shape)

        t.CheckLive()
        data[offset]

    /// <summary>A short text form: the shape and, for small tensors, the elements.</summary>
    override t.ToString() =
        if not t.IsLive then
            sprintf "tensor(<stale>, shape=%O)" shape
        else
            let sb = StringBuilder()
            let dims = shape.Dims
            let limit = 64

            let rec go (axis: int) (start: int) =
                if axis = dims.Length then
                    sb.Append(data[offset + start].ToString("G6", Globalization.CultureInfo.InvariantCulture))
                    |> ignore
                else
                    let stride = Array.fold (*) 1 dims[axis + 1 ..]
                    sb.Append '[' |> ignore

                    for i in 0 .. dims[axis] - 1 do
                        if i > 0 then
                            sb.Append ", " |> ignore

                        go (axis + 1) (start + i * stride)

                    sb.Append ']' |> ignore

            if shape.Numel <= limit then
                sb.Append "tensor(" |> ignore
                go 0 0
                sb.Append(sprintf ", shape=%O)" shape) |> ignore
                sb.ToString()
            else
                sprintf "tensor(shape=%O)" shape

    /// <summary>Makes a tensor over fresh storage of the given shape, from the current arena when one is
    /// active, else from the GC heap. Contents are unspecified: the caller fills every element.</summary>
    static member internal Uninit(shape: Shape) : Tensor =
        let n = shape.Numel
        let arena = Arena.Current

        if isNull arena then
            Tensor(shape, GC.AllocateUninitializedArray<float32> n, 0, null, null, 0)
        else
            Tensor(shape, arena.Rent n, 0, null, arena, arena.Generation)

    /// <summary>A tensor that shares this one's storage under another shape or tape node.</summary>
    member internal t.With(newShape: Shape, newNode: Node) =
        Tensor(newShape, data, offset, newNode, arena, generation)

    /// <summary>The writable span of a tensor just made by <c>Uninit</c> (internal: ops fill outputs).</summary>
    member internal t.WritableSpan: Span<float32> =
        Span<float32>(data, offset, shape.Numel)

/// <summary>How ops join the gradient tape (internal): find the tape of the inputs, and attach a
/// backward step to an output.</summary>
module internal Track =
    let private join (tape: Tape) (x: Tensor) =
        if isNull x || not x.IsTracked then
            tape
        elif isNull tape || obj.ReferenceEquals(tape, x.Node.Tape) then
            x.Node.Tape
        else
            invalidOp
                "an op mixed tensors from two different gradient computations; nested valueAndGrad calls must not share tracked tensors"

    /// The tape of a tracked input, or null when no input is tracked.
    let tape1 (a: Tensor) = join null a

    /// The tape shared by the tracked inputs, or null when none is tracked.
    let tape2 (a: Tensor) (b: Tensor) = join (join null a) b

    /// The tape shared by the tracked inputs, or null when none is tracked.
    let tapeN (xs: Tensor seq) = Seq.fold join null xs

    /// Records how to send the output's gradient back to the inputs and marks the output as tracked.
    let attach (tape: Tape) (out: Tensor) (backward: float32[] -> unit) : Tensor =
        let node = Node(tape, out.Numel)
        tape.Record(node, Action<float32[]>(backward))
        out.With(out.Shape, node)

    /// The gradient buffer of an input, or null when it is not tracked.
    let grad (x: Tensor) : float32[] =
        if x.IsTracked then x.Node.GradBuffer() else null
