namespace Qmix.Tensors

open System

/// <summary>
/// Flat storage for trees of tensors in two alternating generations, for a sequence of pure updates that each read
/// the trees of the previous state and write those of the next: in steady state such an update allocates no tensor
/// storage. A generation is one buffer holding several trees back to back; its tensors are views into it.
/// </summary>
/// <remarks>
/// With <c>recycle</c>, starting a generation recycles the storage of the generation before the one being read, and
/// the tensors that lived there become stale: reading them throws <see cref="T:System.InvalidOperationException"/>,
/// never returns recycled data. So a state stays readable until two newer generations have been written from it or
/// its successors; copy what must live longer (<c>Tree.map Tensor.copy</c>). Without <c>recycle</c> every generation
/// is a fresh buffer on the GC heap and no view ever goes stale. One writer at a time.
/// </remarks>
[<Sealed; AllowNullLiteral>]
type DoubleBuffer(recycle: bool) =
    let arenas = [| Arena(); Arena() |]
    let mutable last = 1
    let mutable buffer: float32[] = null
    let mutable writing: Arena = null

    /// <summary>Whether generations recycle the storage of the one before the one being read.</summary>
    member _.Recycles = recycle

    /// <summary>The number of generations started so far.</summary>
    member val Generations = 0L with get, set

    /// <summary>Starts a new generation of <paramref name="length"/> elements and returns its buffer for the caller
    /// to fill before taking views of it. The generation holding <paramref name="reading"/> (a tensor of the trees
    /// the caller reads while writing, or null) is kept; the other one is recycled.</summary>
    /// <exception cref="System.ArgumentOutOfRangeException">The length is negative.</exception>
    member b.Next(length: int, reading: Tensor) : float32[] =
        if length < 0 then
            raise (ArgumentOutOfRangeException(nameof length, length, "DoubleBuffer.Next: the length is negative"))

        let holds (i: int) =
            not (isNull reading)
            && obj.ReferenceEquals(reading.Arena, arenas[i])
            && reading.IsLive

        let pick =
            if holds 0 then 1
            elif holds 1 then 0
            else 1 - last

        if recycle then
            let arena = arenas[pick]
            arena.ReleaseAll()
            buffer <- arena.Rent length
            writing <- arena
            last <- pick
        else
            buffer <- GC.AllocateUninitializedArray<float32> length
            writing <- null

        b.Generations <- b.Generations + 1L
        buffer

    /// <summary>A tree shaped like <paramref name="template"/> whose leaves are views of the current generation's
    /// buffer, laid out back to back in leaf order from <paramref name="offset"/>.</summary>
    /// <exception cref="System.InvalidOperationException">No generation was started, or the tree does not fit.</exception>
    member _.View(template: 'P, offset: int) : 'P =
        if isNull buffer then
            invalidOp "DoubleBuffer.View: no generation was started (call Next first)"

        let leaves = Tree.leaves template
        let mutable at = offset

        let views =
            leaves
            |> Array.map (fun t ->
                if at + t.Numel > buffer.Length then
                    invalidOp (
                        sprintf
                            "DoubleBuffer.View: a tree of %d elements from offset %d does not fit a buffer of %d"
                            (Tree.numel template)
                            offset
                            buffer.Length
                    )

                let v =
                    if isNull writing then
                        Tensor(t.Shape, buffer, at, null, null, 0)
                    else
                        Tensor(t.Shape, buffer, at, null, writing, writing.Generation)

                at <- at + t.Numel
                v)

        Tree.rebuild template views
