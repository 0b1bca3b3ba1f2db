namespace Qmix.Functional

open System

/// <summary>The phases of a fused update that <c>FusedProfile</c> times, in the order of its <c>Phases</c>.</summary>
type internal FusedPhase =
    | PackInputs = 0
    | AgentForwardOnline = 1
    | AgentForwardTarget = 2
    | GreedyTargetMax = 3
    | MixerForwardTarget = 4
    | TargetsLoss = 5
    | MixerForwardOnline = 6
    | MixerBackward = 7
    | AgentBackwardFc2 = 8
    | AgentBackwardRecurrence = 9
    | AgentBackwardWeights = 10
    | GatherPack = 11
    | Optimise = 12
    | AgentForwardRecurrence = 13
    | RecurrenceMatmuls = 14
    | RecurrenceGates = 15

/// <summary>Time spent in each phase of the fused update, summed over the halves of the batch (CPU time, not wall
/// time), while switched on. For profiling; off by default.</summary>
[<AbstractClass; Sealed>]
type FusedProfile private () =
    static let names =
        [|
            "pack inputs"
            "agent forward (online)"
            "agent forward (target)"
            "greedy actions, target max"
            "mixer forward (target)"
            "TD targets, loss"
            "mixer forward (online)"
            "mixer backward"
            "agent backward: fc2"
            "agent backward: GRU recurrence"
            "agent backward: weight gradients"
            "gather, pack weights"
            "reduce, clip, optimiser, targets"
            "(of the agent forwards: GRU recurrence)"
            "(of the recurrence: hidden-side matmuls)"
            "(of the recurrence: gates)"
        |]

    static let ticks = Array.zeroCreate<int64> names.Length
    static member val internal Enabled = false with get, set

    /// <summary>Starts counting from zero.</summary>
    static member Start() =
        lock ticks (fun () -> Array.Clear ticks)
        FusedProfile.Enabled <- true

    /// <summary>Stops counting.</summary>
    static member Stop() = FusedProfile.Enabled <- false

    /// <summary>The phases' names, in order.</summary>
    static member Phases = Array.copy names

    /// <summary>Milliseconds spent in each phase since <c>Start</c>, in the order of <c>Phases</c>.</summary>
    static member Milliseconds() =
        lock ticks (fun () ->
            ticks
            |> Array.map (fun t -> 1000.0 * float t / float System.Diagnostics.Stopwatch.Frequency))

    static member internal Add(phase: FusedPhase, since: int64) =
        if FusedProfile.Enabled then
            let dt = System.Diagnostics.Stopwatch.GetTimestamp() - since
            lock ticks (fun () -> ticks[int phase] <- ticks[int phase] + dt)

    static member internal Now() =
        if FusedProfile.Enabled then
            System.Diagnostics.Stopwatch.GetTimestamp()
        else
            0L
