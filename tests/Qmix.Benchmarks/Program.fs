module Qmix.Benchmarks.Program

open BenchmarkDotNet.Running

[<EntryPoint>]
let main argv =
    BenchmarkSwitcher.FromAssembly(typeof<Marker>.Assembly).Run(argv) |> ignore
    0
