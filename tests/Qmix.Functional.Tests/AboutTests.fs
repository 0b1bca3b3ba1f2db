module Qmix.Functional.Tests.AboutTests

open Expecto
open Qmix.Tests
open Qmix.Functional

let ``the library names itself and lists what it can do`` () =
    Expect.equal About.name "Qmix.Functional" "About.name"
    Expect.isNonEmpty About.capabilities "About.capabilities"
    Expect.isMatch About.version (@"^\d+\.\d+\.\d+$") "About.version"

[<Tests>]
let tests =
    testList
        "About"
        [
            testCase
                "the library names itself and lists what it can do"
                ``the library names itself and lists what it can do``
        ]
