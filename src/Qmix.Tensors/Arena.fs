namespace Qmix.Tensors

open System
open System.Collections.Generic

/// <summary>
/// A pool of float32 buffers, bucketed by exact length, owned by one gradient computation at a time.
/// Buffers rented while the arena is current are all returned by <see cref="M:Qmix.Tensors.Arena.ReleaseAll"/>,
/// so a computation that repeats with the same shapes allocates nothing after its first run.
/// </summary>
/// <remarks>
/// Each release advances <see cref="P:Qmix.Tensors.Arena.Generation"/>; a tensor whose storage came from an
/// earlier generation is stale, and reading it throws instead of returning recycled data.
/// An arena is used by one thread at a time.
/// </remarks>
[<Sealed; AllowNullLiteral>]
type Arena() =
    let pool = Dictionary<int, Stack<float32[]>>()
    let rented = List<float32[]>()
    let mutable generation = 0
    let mutable allocatedBytes = 0L

    [<ThreadStatic; DefaultValue>]
    static val mutable private current: Arena

    [<ThreadStatic; DefaultValue>]
    static val mutable private spare: Stack<Arena>

    /// <summary>The number of releases so far; storage rented in an earlier generation is stale.</summary>
    member _.Generation = generation

    /// <summary>Bytes of new buffers this arena has allocated since it was created (rentals served
    /// from the pool cost nothing).</summary>
    member _.AllocatedBytes = allocatedBytes

    /// <summary>Rents a buffer of exactly <paramref name="length"/> elements; its contents are unspecified.</summary>
    member _.Rent(length: int) : float32[] =
        let buffer =
            match pool.TryGetValue length with
            | true, stack when stack.Count > 0 -> stack.Pop()
            | _ ->
                allocatedBytes <- allocatedBytes + int64 length * 4L
                GC.AllocateUninitializedArray<float32>(length)

        rented.Add buffer
        buffer

    /// <summary>Rents a buffer of exactly <paramref name="length"/> elements, filled with zeros.</summary>
    member a.RentZeroed(length: int) : float32[] =
        let b = a.Rent length
        Array.Clear b
        b

    /// <summary>Returns every rented buffer to the pool and starts a new generation.</summary>
    member _.ReleaseAll() =
        for b in rented do
            match pool.TryGetValue b.Length with
            | true, stack -> stack.Push b
            | _ ->
                let stack = Stack<float32[]>()
                stack.Push b
                pool[b.Length] <- stack

        rented.Clear()
        generation <- generation + 1

    /// <summary>The arena that tensor operations on this thread currently allocate from, or null when
    /// they allocate on the GC heap.</summary>
    static member Current = Arena.current

    /// <summary>
    /// Runs <paramref name="body"/> with a thread-local arena current, then releases every buffer it rented.
    /// Nested scopes use separate arenas. Nothing rented inside may be used after the scope ends: copy
    /// results out first (see <c>Tensor.copy</c> outside the scope, or return plain values).
    /// </summary>
    static member Scope(body: Arena -> 'T) : 'T =
        if isNull Arena.spare then
            Arena.spare <- Stack<Arena>()

        let arena = if Arena.spare.Count > 0 then Arena.spare.Pop() else Arena()

        let outer = Arena.current
        Arena.current <- arena

        try
            body arena
        finally
            Arena.current <- outer
            arena.ReleaseAll()
            Arena.spare.Push arena

    /// <summary>Runs <paramref name="body"/> with no arena current: tensors it makes live on the GC heap.</summary>
    static member Heap(body: unit -> 'T) : 'T =
        let outer = Arena.current
        Arena.current <- null

        try
            body ()
        finally
            Arena.current <- outer
