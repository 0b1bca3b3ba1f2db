namespace Qmix.Tensors

open System

/// <summary>The dimensions of a tensor, outermost first (row-major). An immutable value.</summary>
/// <remarks>A shape of rank 0 (<c>[]</c>) describes a scalar holding one element.</remarks>
[<Struct; CustomEquality; NoComparison>]
type Shape =
    val private dims: int[]

    /// <summary>Creates a shape from its dimensions; each must be non-negative.</summary>
    /// <param name="dims">The dimensions, outermost first. The array is copied.</param>
    /// <exception cref="System.ArgumentException">A dimension is negative.</exception>
    new(dims: int[]) =
        if isNull dims then
            nullArg (nameof dims)

        for d in dims do
            if d < 0 then
                invalidArg
                    (nameof dims)
                    ("shape dimensions must be non-negative, got [" + String.Join(", ", dims) + "]")

        { dims = Array.copy dims }

    /// <summary>The dimensions (empty for a scalar); internal callers must not mutate it.</summary>
    member internal s.Dims: int[] =
        match s.dims with
        | null -> Array.Empty<int>()
        | d -> d

    /// <summary>The number of dimensions.</summary>
    member s.Rank = s.Dims.Length

    /// <summary>The size of dimension <paramref name="axis"/>; negative axes count from the end.</summary>
    /// <param name="axis">The axis, in <c>[-rank, rank)</c>.</param>
    member s.Item
        with get (axis: int) =
            let d = s.Dims
            let a = if axis < 0 then axis + d.Length else axis

            if a < 0 || a >= d.Length then
                invalidArg (nameof axis) (sprintf "axis %d is out of range for a tensor of shape %O" axis s)

            d[a]

    /// <summary>The number of elements: the product of the dimensions (1 for a scalar).</summary>
    member s.Numel =
        let mutable n = 1

        for d in s.Dims do
            n <- n * d

        n

    /// <summary>A copy of the dimensions.</summary>
    member s.ToArray() = Array.copy s.Dims

    /// <summary>Formats the shape as <c>[2, 3, 4]</c>.</summary>
    override s.ToString() = "[" + String.Join(", ", s.Dims) + "]"

    /// <summary>Structural equality: same rank, same dimensions.</summary>
    override s.Equals(o: obj) =
        match o with
        | :? Shape as t -> s.Dims.AsSpan().SequenceEqual(ReadOnlySpan t.Dims)
        | _ -> false

    /// <summary>A hash of the dimensions.</summary>
    override s.GetHashCode() =
        let mutable h = HashCode()

        for d in s.Dims do
            h.Add d

        h.ToHashCode()

    interface IEquatable<Shape> with
        member s.Equals(t: Shape) =
            s.Dims.AsSpan().SequenceEqual(ReadOnlySpan t.Dims)

/// <summary>Functions over <see cref="T:Qmix.Tensors.Shape"/>.</summary>
[<RequireQualifiedAccess; CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Shape =
    /// <summary>Creates a shape from its dimensions.</summary>
    let ofArray (dims: int[]) = Shape(dims)

    /// <summary>The shape of a scalar (rank 0).</summary>
    let scalar = Shape([||])

    /// <summary>The number of elements of a shape.</summary>
    let numel (s: Shape) = s.Numel

    /// <summary>The rank (number of dimensions) of a shape.</summary>
    let rank (s: Shape) = s.Rank

    /// <summary>A copy of the dimensions of a shape.</summary>
    let dims (s: Shape) = s.ToArray()

    /// <summary>Normalises a possibly negative axis against a rank, naming the operation on error.</summary>
    /// <param name="op">The operation, for the error message.</param>
    /// <param name="rank">The rank of the tensor.</param>
    /// <param name="axis">The axis, in <c>[-rank, rank)</c>.</param>
    /// <exception cref="System.ArgumentException">The axis is out of range.</exception>
    let normAxis (op: string) (rank: int) (axis: int) =
        let a = if axis < 0 then axis + rank else axis

        if a < 0 || a >= rank then
            invalidArg "axis" (sprintf "%s: axis %d is out of range for a tensor of rank %d" op axis rank)

        a

    /// <summary>Row-major strides (in elements) of a shape.</summary>
    let strides (s: Shape) =
        let d = s.Dims
        let st = Array.zeroCreate d.Length
        let mutable acc = 1

        for i in d.Length - 1 .. -1 .. 0 do
            st[i] <- acc
            acc <- acc * d[i]

        st

    /// <summary>The product of the dimensions before <paramref name="axis"/>, the size of the axis,
    /// and the product of the dimensions after it: the (outer, n, inner) view used by axis-wise ops.</summary>
    let splitAt (s: Shape) (axis: int) =
        let d = s.Dims
        let mutable outer = 1
        let mutable inner = 1

        for i in 0 .. axis - 1 do
            outer <- outer * d[i]

        for i in axis + 1 .. d.Length - 1 do
            inner <- inner * d[i]

        struct (outer, d[axis], inner)
