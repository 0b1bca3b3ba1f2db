/// One greedy acting step of 3 PyMARL-default GRU agents (obs 30, 9 actions, input width 42, hidden 64): the fused
/// Actor against the tensor path (Agent.actingInputs + Agent.step + masked argmax), for 1 and 16 environments.
module Qmix.Benchmarks.ActingBenchmarks

open System
open System.Diagnostics
open BenchmarkDotNet.Attributes
open Qmix.Tensors
open Qmix.Functional

let private spec =
    {
        Name = "3m-like"
        NAgents = 3
        NActions = 9
        ObsDim = 30
        StateDim = 48
        EpisodeLimit = 60
    }

let private cfg = AgentConfig.defaults

/// One environment-batch's worth of inputs and state, and both ways of stepping it.
type ActingCase(envs: int) =
    let rows = envs * spec.NAgents
    let agent = Agent.init cfg spec (Rng.key 1UL)
    let actor = Actor.create cfg spec agent rows
    let rng = Random 2

    let obs =
        Array.init (rows * spec.ObsDim) (fun _ -> float32 (rng.NextDouble() * 2.0 - 1.0))
    // 70% of actions available, action 0 always
    let avail =
        Array.init (rows * spec.NActions) (fun i -> i % spec.NActions = 0 || rng.NextDouble() < 0.7)

    let last = Array.create rows -1
    let hidden = Array.zeroCreate<float32>(rows * 64)
    let actions = Array.zeroCreate<int> rows
    let mutable h = Agent.initHidden agent rows

    /// The fused step; the greedy actions become the next step's previous actions.
    member _.Fused() =
        Actor.greedy actor (ReadOnlySpan obs) (ReadOnlySpan last) (Span hidden) (ReadOnlySpan avail) (Span actions)
        Array.blit actions 0 last 0 rows
        actions[0]

    /// The tensor path: inputs, Agent.step, masked argmax.
    member _.Tensors() =
        let q, h' = Agent.step agent spec.NAgents (Agent.actingInputs cfg spec obs last) h
        h <- h'
        let chosen = Runner.selectActions (Rng.key 0UL) 0.0f q avail
        Array.blit chosen 0 last 0 rows
        chosen[0]

/// BenchmarkDotNet: the fused step and the tensor path, 3 agents × 1 and × 16 environments.
[<MemoryDiagnoser>]
type Acting() =
    let mutable case = Unchecked.defaultof<ActingCase>

    /// Environments stepped together (3 agent rows each).
    [<Params(1, 16)>]
    member val Envs = 1 with get, set

    /// Builds the actor and the inputs.
    [<GlobalSetup>]
    member this.Setup() = case <- ActingCase this.Envs

    /// Actor.greedy: one step of every environment.
    [<Benchmark>]
    member _.Fused() = case.Fused()

    /// Agent.actingInputs + Agent.step + Runner.selectActions (ε = 0).
    [<Benchmark(Baseline = true)>]
    member _.TensorPath() = case.Tensors()

/// A Stopwatch runner (quicker than BenchmarkDotNet): median µs per step and per environment, and bytes per step.
module ActingTiming =
    let private measure (name: string) (envs: int) (step: unit -> int) =
        // warm up for a second: tiered compilation replaces the first code only after ~100 ms without new methods
        let warm = Stopwatch.StartNew()

        while warm.ElapsedMilliseconds < 1000L do
            step () |> ignore

        let iters = 20_000
        let batch = 20
        let times = Array.zeroCreate (iters / batch)
        let before = GC.GetAllocatedBytesForCurrentThread()

        for i in 0 .. times.Length - 1 do
            let t0 = Stopwatch.GetTimestamp()

            for _ in 1..batch do
                step () |> ignore

            times[i] <- Stopwatch.GetElapsedTime(t0).TotalMicroseconds / float batch

        let bytes = float (GC.GetAllocatedBytesForCurrentThread() - before) / float iters
        Array.sortInPlace times
        let median = times[times.Length / 2]

        printfn
            "acting_step %s envs=%d n=3 A=9 O=30: median_us %.2f min_us %.2f per_env_us %.2f allocated_bytes %.0f"
            name
            envs
            median
            times[0]
            (median / float envs)
            bytes

    /// Times the fused step and the tensor path for 1 and 16 environments.
    let run () =
        printfn "kernels on %s" (Kernels.activeIsa)

        for envs in [ 1; 16 ] do
            let c = ActingCase envs
            measure "fused" envs c.Fused
            measure "tensors" envs c.Tensors

    /// The fused step alone for 1, 2, 4, 8 and 16 environments.
    let scaling () =
        for envs in [ 1; 2; 4; 8; 16; 1 ] do
            let c = ActingCase envs
            measure "fused" envs c.Fused
