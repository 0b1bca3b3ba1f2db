/// Environment steps per second of the combat simulator with random legal actions (Stopwatch runner).
module Qmix.Benchmarks.CombatThroughput

open System
open System.Diagnostics
open System.Threading.Tasks
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

/// Steps one environment for `steps` steps with uniformly random available actions (drawn by a cheap
/// linear congruential generator, so that the choice does not dominate the time), resetting finished
/// episodes; the step keys come from the step counter. Returns the number of episodes finished.
let private loop (env: Env<CombatState>) (seed: uint64) (steps: int) =
    let na, a = env.Spec.NAgents, env.Spec.NActions
    let actions = Array.zeroCreate na
    let mutable rng = seed * 2862933555777941757UL + 3037000493UL
    let mutable state = env.Reset(Rng.ofWords seed 0UL)
    let mutable episodes = 0

    for t in 0 .. steps - 1 do
        let mask = env.AvailableActions state

        for i in 0 .. na - 1 do
            let mutable u = -1

            while u < 0 do
                rng <- rng * 6364136223846793005UL + 1442695040888963407UL
                let c = int ((rng >>> 33) % uint64 a)

                if mask[i * a + c] then
                    u <- c

            actions[i] <- u

        let next, tr = env.Step state actions (Rng.ofWords seed (uint64 t + 1UL))

        if tr.Terminated || tr.Truncated then
            episodes <- episodes + 1
            state <- env.Reset(Rng.ofWords seed (uint64 t + 1UL <<< 32))
        else
            state <- next

    episodes

let private measure (name: string) (steps: int) =
    let env = Combat.make (Combat.scenario name)
    // warm up past tiered compilation
    loop env 99UL (steps / 10) |> ignore
    loop env 98UL (steps / 10) |> ignore

    let allocated0 = GC.GetAllocatedBytesForCurrentThread()
    let sw = Stopwatch.StartNew()
    let episodes = loop env 1UL steps
    let single = float steps / sw.Elapsed.TotalSeconds

    let perStep =
        float (GC.GetAllocatedBytesForCurrentThread() - allocated0) / float steps

    let threads = Environment.ProcessorCount
    let sw = Stopwatch.StartNew()

    Parallel.For(
        0,
        threads,
        ParallelOptions(MaxDegreeOfParallelism = threads),
        fun k -> loop env (uint64 (k + 2)) steps |> ignore
    )
    |> ignore

    let allCores = float (threads * steps) / sw.Elapsed.TotalSeconds

    printfn
        "combat:%s random legal actions: single_thread_steps_per_s %.0f  %d_threads_steps_per_s %.0f  bytes_per_step %.0f  mean_episode_length %.1f"
        name
        single
        threads
        allCores
        perStep
        (float steps / float (max 1 episodes))

/// Times combat:3m and combat:3s5z, one thread and one independent environment per core.
let run () =
    measure "3m" 4_000_000
    measure "3s5z" 1_000_000
