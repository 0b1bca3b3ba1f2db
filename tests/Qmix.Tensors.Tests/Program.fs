/// The test runner: every `[<Tests>]` list in the assembly, under Expecto's command line
/// (`dotnet run --project tests/Qmix.Tensors.Tests -c Release -- --summary`, `--filter-test-list Kernels`, ...).
module Qmix.Tensors.Tests.Program

open Expecto

[<EntryPoint>]
let main argv =
    Tests.runTestsInAssemblyWithCLIArgs [] argv
