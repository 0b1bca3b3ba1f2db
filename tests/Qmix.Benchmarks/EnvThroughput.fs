/// Environment steps per second with uniformly random legal actions, for any registered environment: one
/// environment on one thread, one independent environment per core, and VecEnv stepping a batch over the cores.
module Qmix.Benchmarks.EnvThroughput

open System
open System.Diagnostics
open System.Threading.Tasks
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

/// A cheap generator for the random legal actions, so that choosing them does not dominate the time.
let inline private next (rng: byref<uint64>) (n: int) =
    rng <- rng * 6364136223846793005UL + 1442695040888963407UL
    int ((rng >>> 33) % uint64 n)

let private pick (env: Env<obj>) (state: obj) (rng: byref<uint64>) (actions: int[]) =
    let na, a = env.Spec.NAgents, env.Spec.NActions
    let mask = env.AvailableActions state

    for i in 0 .. na - 1 do
        let mutable u = -1

        while u < 0 do
            let c = next &rng a

            if mask[i * a + c] then
                u <- c

        actions[i] <- u

/// One environment stepped `steps` times, finished episodes reset.
let private loop (env: Env<obj>) (seed: uint64) (steps: int) =
    let actions = Array.zeroCreate env.Spec.NAgents
    let mutable rng = seed * 2862933555777941757UL + 3037000493UL
    let mutable state = env.Reset(Rng.ofWords seed 0UL)

    for t in 0 .. steps - 1 do
        pick env state &rng actions
        let next, tr = env.Step state actions (Rng.ofWords seed (uint64 t + 1UL))

        state <-
            if tr.Terminated || tr.Truncated then
                env.Reset(Rng.ofWords seed (uint64 t + 1UL <<< 32))
            else
                next

/// A batch of environments stepped together by VecEnv.step (spread over the cores), finished ones reset.
let private vectorised (env: Env<obj>) (batch: int) (steps: int) =
    let mutable rng = 12345UL

    let mutable states =
        VecEnv.reset env (Array.init batch (fun i -> Rng.ofWords 7UL (uint64 i)))

    let actions = Array.init batch (fun _ -> Array.zeroCreate env.Spec.NAgents)

    for t in 0 .. steps - 1 do
        for e in 0 .. batch - 1 do
            pick env states[e] &rng actions[e]

        let keys = Array.init batch (fun e -> Rng.ofWords (uint64 t) (uint64 e))
        let next, trs = VecEnv.step env states actions keys

        for e in 0 .. batch - 1 do
            if trs[e].Terminated || trs[e].Truncated then
                next[e] <- env.Reset keys[e]

        states <- next

let private measure (name: string) (steps: int) =
    let env = Registry.make name
    loop env 99UL (steps / 10)
    let allocated0 = GC.GetAllocatedBytesForCurrentThread()
    let sw = Stopwatch.StartNew()
    loop env 1UL steps
    let single = float steps / sw.Elapsed.TotalSeconds

    let perStep =
        float (GC.GetAllocatedBytesForCurrentThread() - allocated0) / float steps

    let threads = Environment.ProcessorCount
    let sw = Stopwatch.StartNew()

    Parallel.For(
        0,
        threads,
        ParallelOptions(MaxDegreeOfParallelism = threads),
        fun k -> loop env (uint64 (k + 2)) steps
    )
    |> ignore

    let perCore = float (threads * steps) / sw.Elapsed.TotalSeconds
    let batch = 64
    let vecSteps = max 1 (steps / batch)
    vectorised env batch (vecSteps / 10 + 1)
    let sw = Stopwatch.StartNew()
    vectorised env batch vecSteps
    let vec = float (batch * vecSteps) / sw.Elapsed.TotalSeconds

    printfn
        "%-22s single_thread %10.0f steps/s  %d_threads_independent %10.0f  vecenv_%d_batch %10.0f  bytes_per_step %.0f"
        name
        single
        threads
        perCore
        batch
        vec
        perStep

/// Times the issue's four environments.
let run () =
    measure "combat:3m" 2_000_000
    measure "combat:3s5z" 500_000
    measure "lbf:10x10-3p-3f" 2_000_000
    measure "checkers" 2_000_000
