/// The test runner: every `[<Tests>]` list in the assembly, under Expecto's command line
/// (`dotnet run --project tests/Qmix.Functional.Tests -c Release -- --filter-test-list Golden`, `--summary`, ...).
module Qmix.Functional.Tests.Program

open Expecto

[<EntryPoint>]
let main argv =
    Tests.runTestsInAssemblyWithCLIArgs [] argv
