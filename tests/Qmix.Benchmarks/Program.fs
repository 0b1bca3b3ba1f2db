module Qmix.Benchmarks.Program

open BenchmarkDotNet.Running

[<EntryPoint>]
let main argv =
    match argv with
    | [| "gflops" |] -> MatmulGflops.run ()
    | [| "learner" |] -> LearnerBenchmarks.LearnerTiming.run ()
    | [| "profile" |] -> Profile.run ()
    | [| "acting" |] -> ActingBenchmarks.ActingTiming.run ()
    | [| "acting-scaling" |] -> ActingBenchmarks.ActingTiming.scaling ()
    | [| "combat" |] -> CombatThroughput.run ()
    | [| "envs" |] -> EnvThroughput.run ()
    | _ -> BenchmarkSwitcher.FromAssembly(typeof<Marker>.Assembly).Run(argv) |> ignore

    0
