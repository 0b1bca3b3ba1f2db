/// Assertions the F# test projects use beside Expecto's own `Expect` module (F# resolves `Expect.x` in both),
/// and the fixed-seed FsCheck configuration of their properties. Shared by Qmix.Tensors.Tests and
/// Qmix.Functional.Tests (linked into each).
namespace Qmix.Tests

open System
open Expecto

/// Extra assertions, in Expecto's argument order (actual first, message last).
[<AutoOpen>]
module ExpectExtensions =

    [<RequireQualifiedAccess>]
    module Expect =

        /// Runs `f` and returns the exception it threw, if any.
        let private thrownBy (f: unit -> unit) : exn option =
            try
                f ()
                None
            with e ->
                Some e

        /// Runs `f` and returns the exception it throws, which must be exactly of type 'E (not a subtype).
        let throwsOf<'E when 'E :> exn> (f: unit -> unit) : 'E =
            match thrownBy f with
            | Some(:? 'E as e) when e.GetType() = typeof<'E> -> e
            | Some e -> failtestf "expected %s, but %s was thrown: %s" typeof<'E>.Name (e.GetType().Name) e.Message
            | None -> failtestf "expected %s, but nothing was thrown" typeof<'E>.Name

        /// Runs `f` and returns the exception it throws, which must be of type 'E or a subtype.
        let throwsAnyOf<'E when 'E :> exn> (f: unit -> unit) : 'E =
            match thrownBy f with
            | Some(:? 'E as e) -> e
            | Some e ->
                failtestf
                    "expected %s (or a subtype), but %s was thrown: %s"
                    typeof<'E>.Name
                    (e.GetType().Name)
                    e.Message
            | None -> failtestf "expected %s, but nothing was thrown" typeof<'E>.Name

        /// `actual` and `expected` agree when both are rounded to `digits` decimal places.
        let inline roundedEqual (actual: ^T) (expected: ^T) (digits: int) (message: string) =
            let a, e = Math.Round(float actual, digits), Math.Round(float expected, digits)

            if a <> e then
                failtestf
                    "%s. Expected %g, got %g (equal to %d decimal places)"
                    message
                    (float expected)
                    (float actual)
                    digits

        /// |actual - expected| ≤ tolerance.
        let inline within (actual: ^T) (expected: ^T) (tolerance: float) (message: string) =
            let d = abs (float actual - float expected)

            if not (d <= tolerance) then
                failtestf "%s. Expected %g ± %g, got %g" message (float expected) tolerance (float actual)

        /// lo ≤ actual ≤ hi.
        let inRange (actual: 'T) (lo: 'T) (hi: 'T) (message: string) =
            if actual < lo || actual > hi then
                failtestf "%s. Expected a value in [%A, %A], got %A" message lo hi actual

        /// The sequence holds exactly one item, which is returned.
        let single (items: seq<'T>) (message: string) : 'T =
            match List.ofSeq items with
            | [ x ] -> x
            | xs -> failtestf "%s. Expected exactly one item, got %d: %A" message xs.Length xs

        /// The sequence does not contain `item`.
        let lacks (items: seq<'T>) (item: 'T) (message: string) =
            if Seq.contains item items then
                failtestf "%s. Expected %A not to be among %A" message item (List.ofSeq items)

        /// The text does not contain `part`.
        let stringLacks (text: string) (part: string) (message: string) =
            if text.Contains part then
                failtestf "%s. Expected the text not to contain %A, but it does: %s" message part text

        /// The value is of type 'T exactly, and is returned as one.
        let isOfType<'T> (value: obj) : 'T =
            match value with
            | :? 'T as v when value.GetType() = typeof<'T> -> v
            | null -> failtestf "expected a %s, got null" typeof<'T>.Name
            | v -> failtestf "expected a %s, got a %s" typeof<'T>.Name (v.GetType().Name)

        /// The value is a 'T or a subtype, and is returned as one.
        let isAssignableTo<'T> (value: obj) : 'T =
            match value with
            | :? 'T as v -> v
            | null -> failtestf "expected a %s, got null" typeof<'T>.Name
            | v -> failtestf "expected a %s, got a %s" typeof<'T>.Name (v.GetType().Name)

/// The fixed-seed FsCheck configuration: every run draws the same cases, in CI and locally.
[<RequireQualifiedAccess>]
module Replay =

    /// The replay seed every property starts from.
    let seed = (1UL, 1UL)

    /// The count given on the command line with Expecto's `--fscheck-max-tests N`, if any. Expecto applies that
    /// option only to properties without a configuration of their own, so the test projects read it here.
    let maxTestOverride =
        Environment.GetCommandLineArgs()
        |> Array.pairwise
        |> Array.tryPick (fun (name, value) ->
            match name, Int32.TryParse value with
            | "--fscheck-max-tests", (true, n) when n > 0 -> Some n
            | _ -> None)

    /// `maxTest` cases (or the `--fscheck-max-tests` count) from the fixed seed.
    let config (maxTest: int) =
        { FsCheckConfig.defaultConfig with
            replay = Some(fst seed, snd seed, None)
            maxTest = defaultArg maxTestOverride maxTest
        }
