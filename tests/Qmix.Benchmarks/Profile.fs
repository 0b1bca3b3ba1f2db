/// Where a learner update's time goes: the fused update's phases, summed over both halves of the batch.
module Qmix.Benchmarks.Profile

open System
open System.Diagnostics
open Qmix.Tensors
open Qmix.Functional
open Qmix.Benchmarks.LearnerBenchmarks

/// Runs warm-up updates, then times `iters` updates with the phase counters on, one thread and two.
let private profile (s: Size) (warmup: int) (iters: int) =
    for threads in [ 1; 2 ] do
        let learner, state0, data = setup s

        let learner =
            { learner with
                Config =
                    { learner.Config with
                        Threads = threads
                    }
            }

        let mutable state = Learner.recycling state0

        for _ in 1..warmup do
            state <- fst (Learner.update learner 0 data state)

        FusedProfile.Start()
        let sw = Stopwatch.StartNew()

        for _ in 1..iters do
            state <- fst (Learner.update learner 0 data state)

        let wall = sw.Elapsed.TotalMilliseconds / float iters
        FusedProfile.Stop()
        let ms = FusedProfile.Milliseconds() |> Array.map (fun t -> t / float iters)
        // the parenthesised phases are parts of others: they are not added again
        let total =
            Array.zip FusedProfile.Phases ms
            |> Array.sumBy (fun (name, t) -> if name.StartsWith "(" then 0.0 else t)


        printfn
            "%s, %d thread(s): %.2f ms per update (wall); phases (CPU ms per update, both halves):"
            s.Name
            threads
            wall

        for name, t in Array.zip FusedProfile.Phases ms do
            printfn "  %-36s %8.3f  %5.1f%%" name t (100.0 * t / total)

        printfn "  %-36s %8.3f" "total" total

/// Prints the phase breakdown for the 3m-like and 3s5z-like updates.
let run () =
    profile threeM 10 30
    profile threeS5Z 3 8
