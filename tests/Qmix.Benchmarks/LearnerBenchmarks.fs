/// One QMIX learner update and one acting step at the sizes of ../shared/ref/qmix_torch.py's benchmark.
module Qmix.Benchmarks.LearnerBenchmarks

open System
open System.Diagnostics
open BenchmarkDotNet.Attributes
open Qmix.Tensors
open Qmix.Functional

/// A benchmark size: batch B, episode limit T, agents N, actions A, observation and state widths.
type Size =
    {
        Name: string
        B: int
        T: int
        N: int
        A: int
        O: int
        S: int
    }

/// 3m-like: B 32, limit 60, 3 agents, 9 actions, obs 30, state 48.
let threeM =
    {
        Name = "3m-like"
        B = 32
        T = 60
        N = 3
        A = 9
        O = 30
        S = 48
    }

/// 3s5z-like: B 32, limit 150, 8 agents, 14 actions, obs 80, state 120.
let threeS5Z =
    {
        Name = "3s5z-like"
        B = 32
        T = 150
        N = 8
        A = 14
        O = 80
        S = 120
    }

let spec (s: Size) =
    {
        Name = s.Name
        NAgents = s.N
        NActions = s.A
        ObsDim = s.O
        StateDim = s.S
        EpisodeLimit = s.T
    }

/// A random batch like the reference's: 70% of actions available (action 0 always), episode lengths in
/// [T/2, T], even episodes terminated, odd ones cut by the limit.
let batch (s: Size) (seed: uint64) : EpisodeBatch =
    let k = Rng.splitN 6 (Rng.key seed)
    let t1 = s.T + 1

    let u (key: Key) n =
        (Rng.uniform key (Shape [| n |])).ToArray()

    let availU = u k[0] (s.B * t1 * s.N * s.A)

    let avail =
        availU |> Array.mapi (fun i v -> if i % s.A = 0 || v < 0.7f then 1.0f else 0.0f)

    let pickU = u k[1] (s.B * t1 * s.N * s.A)

    let actions =
        Array.init (s.B * t1 * s.N) (fun r ->
            let mutable best, arg = -1.0f, 0

            for a in 0 .. s.A - 1 do
                let v = pickU[r * s.A + a] + 10.0f * avail[r * s.A + a]

                if v > best then
                    best <- v
                    arg <- a

            arg)

    let filled = Array.zeroCreate (s.B * t1)
    let terminated = Array.zeroCreate (s.B * t1)

    for e in 0 .. s.B - 1 do
        let len = s.T / 2 + Rng.intBelow (Rng.foldIn e k[2]) (s.T - s.T / 2 + 1)

        for t in 0 .. len - 1 do
            filled[e * t1 + t] <- 1.0f

        if e % 2 = 0 then
            terminated[e * t1 + len - 1] <- 1.0f

    {
        BatchSize = s.B
        MaxSeqLength = t1
        NAgents = s.N
        NActions = s.A
        ObsDim = s.O
        StateDim = s.S
        Obs = (Rng.normal k[3] (Shape [| s.B * t1 * s.N * s.O |])).ToArray()
        State = (Rng.normal k[4] (Shape [| s.B * t1 * s.S |])).ToArray()
        Actions = actions
        AvailActions = avail
        Reward = (Rng.normal k[5] (Shape [| s.B * t1 |])).ToArray()
        Terminated = terminated
        Filled = filled
    }

/// A PyMARL-default QMIX learner for a size, its state and a batch.
let setup (s: Size) =
    let learner =
        Learner.builtIn LearnerConfig.defaults (spec s) (Qmix QmixConfig.defaults)

    // carried on a recycling workspace, as a training loop carries it
    learner, Learner.recycling (Learner.init learner (Rng.key 1UL)), batch s 7UL

/// BenchmarkDotNet: one learner update at the 3m-like and 3s5z-like sizes. The MemoryDiagnoser's "Allocated" counts
/// every thread (BenchmarkDotNet reads GC.GetTotalAllocatedBytes(precise = true) on .NET 6 and later), so an update
/// that hands work to other threads is charged for it: the target is under 64 KB per update
/// (`./build.sh bench --filter '*LearnerUpdate*' --job short`).
[<MemoryDiagnoser>]
type LearnerUpdate() =
    let mutable learner = Unchecked.defaultof<Learner<MixerParams>>
    let mutable state = Unchecked.defaultof<LearnerState<MixerParams>>
    let mutable data = Unchecked.defaultof<EpisodeBatch>

    /// The size to time.
    [<Params("3m-like", "3s5z-like")>]
    member val Size = "3m-like" with get, set

    /// Builds the learner and the batch.
    [<GlobalSetup>]
    member this.Setup() =
        let l, s, b = setup (if this.Size = "3m-like" then threeM else threeS5Z)
        learner <- l
        state <- s
        data <- b

    /// One update (the state is carried, as in training).
    [<Benchmark>]
    member _.Update() =
        let s, m = Learner.update learner 0 data state
        state <- s
        m.Loss

/// BenchmarkDotNet: one greedy acting step for 3 agents (inputs, GRU step, masked argmax).
[<MemoryDiagnoser>]
type ActingStep() =
    let size = threeM
    let sp = spec size
    let cfg = AgentConfig.defaults
    let agent = Agent.init cfg sp (Rng.key 1UL)
    let obs = (Rng.normal (Rng.key 2UL) (Shape [| size.N * size.O |])).ToArray()
    let last = Array.create size.N -1
    let mutable h = Agent.initHidden agent size.N

    /// One step.
    [<Benchmark>]
    member _.Act() =
        let q, h' = Agent.step agent size.N (Agent.actingInputs cfg sp obs last) h
        h <- h'
        Tensor.argmax -1 q

/// A Stopwatch runner printing median times in the reference's format (quicker than BenchmarkDotNet).
module LearnerTiming =
    let private median (xs: float[]) =
        let s = Array.sort xs
        s[s.Length / 2]

    let private time (s: Size) (warmup: int) (iters: int) =
        let learner, state0, data = setup s
        let mutable state = state0

        // enough warm-up for the JIT's tiered compilation to reach its optimised code
        for _ in 1..warmup do
            state <- fst (Learner.update learner 0 data state)

        // every thread's allocations: an update may hand work to other threads
        let allocated0 = GC.GetTotalAllocatedBytes true

        let ts =
            Array.init iters (fun _ ->
                let sw = Stopwatch.StartNew()
                state <- fst (Learner.update learner 0 data state)
                sw.Elapsed.TotalMilliseconds)

        let perUpdate = float (GC.GetTotalAllocatedBytes true - allocated0) / float iters

        printfn
            "learner_update B=%d T=%d n=%d A=%d O=%d S=%d: median_ms %.2f min_ms %.2f allocated_kb %.0f"
            s.B
            s.T
            s.N
            s.A
            s.O
            s.S
            (median ts)
            (Array.min ts)
            (perUpdate / 1024.0)

    let private act (iters: int) =
        let b = ActingStep()

        for _ in 1..200 do
            b.Act() |> ignore

        let sw = Stopwatch.StartNew()

        for _ in 1..iters do
            b.Act() |> ignore

        printfn "acting_step n=3 A=9 O=30: median_us %.2f" (sw.Elapsed.TotalMilliseconds * 1000.0 / float iters)

    /// Times the 3m-like and 3s5z-like updates and the acting step.
    let run () =
        time threeM 40 15
        time threeS5Z 40 5
        act 2000
