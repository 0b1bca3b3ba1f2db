module Qmix.Functional.Tests.GoldenTests

open System.IO
open Expecto
open Qmix.Tests
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Tests

/// The case files' names, read when the test list is built (QMIX_GOLDEN_DIR chooses the directory).
let cases () =
    Golden.caseFiles (Golden.directory ()) |> Array.map Path.GetFileName

let ``the golden directory holds at least one case`` () =
    let dir = Golden.directory ()
    Expect.isTrue ((Golden.caseFiles dir).Length > 0) (sprintf "no golden case (*.json) in %s" dir)

let ``one learner update matches PyTorch: loss, grad norm, every gradient and every parameter step`` (file: string) =
    let case = Golden.read (Path.Combine(Golden.directory (), file))
    let failures = Golden.compare (Golden.learnerOf case) case
    Expect.isTrue failures.IsEmpty (sprintf "%s:\n  %s" file (String.concat "\n  " failures))

// Negative controls: the comparison notices a learner that differs from the case.

let private caseNamed (prefix: string) =
    Golden.caseFiles (Golden.directory ())
    |> Array.find (fun f -> Path.GetFileName(f).StartsWith prefix)
    |> Golden.read

let private tiny () = caseNamed "qmix_tiny"

let ``negative control: ignoring the target network (targets from the online one) is reported`` () =
    let case = tiny ()
    let learner = Golden.learnerOf case
    let online, _ = Golden.paramsOf learner case

    let withOnlineTargets =
        { case with
            TargetParams =
                Tree.named online
                |> Array.map (fun (n, t) ->
                    n,
                    {
                        Golden.Stored.Shape = t.Shape.ToArray()
                        Data = t.ToArray() |> Array.map float
                    })
        }

    Expect.exists
        (Golden.compare learner withOnlineTargets)
        (fun f -> f.StartsWith "loss")
        "Golden.compare learner withOnlineTargets"

let ``negative control: a discount of 0.9 instead of 0.99 is reported`` () =
    let case = tiny ()
    let learner = Golden.learnerOf case

    let wrong =
        { learner with
            Config = { learner.Config with Gamma = 0.9f }
        }

    Expect.isNonEmpty (Golden.compare wrong case) "Golden.compare wrong case"

let ``negative control: a gradient off by one percent in one tensor is reported`` () =
    let case = tiny ()
    let name, g = case.Grads |> Map.toSeq |> Seq.head

    let corrupted =
        { case with
            Grads =
                case.Grads
                |> Map.add
                    name
                    { g with
                        Data = g.Data |> Array.map (fun v -> v * 1.01)
                    }
        }

    let failures = Golden.compare (Golden.learnerOf case) corrupted
    Expect.exists failures (fun f -> f.Contains name) "failures"

[<Tests>]
let tests =
    testList
        "Golden"
        [
            testCase "the golden directory holds at least one case" ``the golden directory holds at least one case``
            testList
                "one learner update matches PyTorch: loss, grad norm, every gradient and every parameter step"
                [
                    for file in cases () ->
                        testCase file (fun () ->
                            ``one learner update matches PyTorch: loss, grad norm, every gradient and every parameter step``
                                file)
                ]
            testCase
                "negative control: ignoring the target network (targets from the online one) is reported"
                ``negative control: ignoring the target network (targets from the online one) is reported``
            testCase
                "negative control: a discount of 0.9 instead of 0.99 is reported"
                ``negative control: a discount of 0.9 instead of 0.99 is reported``
            testCase
                "negative control: a gradient off by one percent in one tensor is reported"
                ``negative control: a gradient off by one percent in one tensor is reported``
        ]
