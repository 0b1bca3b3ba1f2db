module Qmix.Functional.Tests.AboutTests

open Xunit
open Qmix.Functional

[<Fact>]
let ``the library names itself and lists what it can do`` () =
    Assert.Equal("Qmix.Functional", About.name)
    Assert.NotEmpty About.capabilities
    Assert.Matches(@"^\d+\.\d+\.\d+$", About.version)
