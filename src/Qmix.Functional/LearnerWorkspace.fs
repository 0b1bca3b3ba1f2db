namespace Qmix.Functional

open Qmix.Tensors

/// <summary>Reusable memory of the learner's updates (the flat parameter, gradient and optimiser vectors, the fused
/// engine's activations and packed weights, and the storage of the states it returns), handed on from each learner
/// state to the next. It is not part of a state's value, and one update at a time uses it (updates sharing it wait for
/// each other).</summary>
/// <remarks>A recycling workspace writes each new state over the storage of the state two updates back, so a line of
/// updates allocates nothing in steady state, and reading a recycled state throws. A persistent one (the default)
/// gives every state fresh storage. This is the one mutable thing a learner state carries: the pure API's values
/// (parameters, optimiser state, counters) never change, and a state's workspace only decides where its successors'
/// tensors are written.</remarks>
[<Sealed; AllowNullLiteral>]
type LearnerWorkspace(recycle: bool) =
    /// <summary>A persistent workspace: every state keeps its own storage.</summary>
    new() = LearnerWorkspace(false)

    /// <summary>Whether new states recycle the storage of the state two updates back.</summary>
    member _.Recycles = recycle

    /// The online parameters θ as one flat vector (the order of Tree.leaves).
    member val internal Theta: float32[] = Array.empty with get, set
    /// The target parameters as one flat vector.
    member val internal ThetaTarget: float32[] = Array.empty with get, set
    /// dL/dθ as one flat vector: what an engine computes.
    member val internal Grad: float32[] = Array.empty with get, set
    /// The optimiser's two state vectors (RMSprop's square average and momentum, Adam's two moments).
    member val internal Opt1: float32[] = Array.empty with get, set
    member val internal Opt2: float32[] = Array.empty with get, set
    /// Where the states an update returns are written.
    member val internal Storage = DoubleBuffer(recycle)
    /// The fused engine's memory, made on its first update.
    member val internal Fused: FusedScratch = null with get, set

    /// <summary>Reused memory for the batches a training loop on this workspace samples.</summary>
    member val Batches = BatchBuffer()

    /// <summary>Whether <c>Training.iterate</c> samples its batches into <c>Batches</c> (reused memory) rather than
    /// into fresh arrays: true for a recycling workspace, and settable on a persistent one by a loop that keeps no
    /// batch beyond its update (a batch of a large map is a gigabyte, which the garbage collector would otherwise let
    /// pile up).</summary>
    member val RecyclesBatches = recycle with get, set

    /// Sizes the flat vectors for parameters of the given total length (again only when it changes).
    member internal ws.Prepare(total: int) =
        if ws.Theta.Length <> total then
            ws.Theta <- Array.zeroCreate total
            ws.ThetaTarget <- Array.zeroCreate total
            ws.Grad <- Array.zeroCreate total
            ws.Opt1 <- Array.zeroCreate total
            ws.Opt2 <- Array.zeroCreate total
