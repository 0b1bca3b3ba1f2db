module Qmix.Functional.Tests.RegistryTests

open System
open Expecto
open Qmix.Tests
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

let ``the matrix games are registered under their names`` () =
    let expected =
        [
            "two-step"
            "matrix:non-monotonic"
            "matrix:climbing"
            "matrix:climbing-repeated"
            "matrix:penalty"
            "matrix:penalty-repeated"
        ]

    for name in expected do
        Expect.contains Registry.names name "Registry.names"

let ``registered names are unique and every entry is described`` () =
    Expect.equal
        (List.length (List.distinct Registry.names))
        (List.length Registry.names)
        "List.length (List.distinct Registry.names)"

    for e in Registry.all do
        Expect.isFalse (String.IsNullOrWhiteSpace e.Description) e.Name
        Expect.equal ((Registry.find e.Name).Name) e.Name "(Registry.find e.Name).Name"

let ``an entry's spec carries its registered name (non-monotonic keeps its checkpointed name)`` () =
    for e in Registry.all do
        let expected =
            if e.Name = "matrix:non-monotonic" then
                "non-monotonic"
            else
                e.Name

        Expect.equal ((e.Make()).Spec.Name) expected "(e.Make()).Spec.Name"

let ``a registered environment behaves as the typed one`` () =
    let env = Registry.make "matrix:climbing"
    let typed = MatrixGames.climbing
    let key = Rng.key 3UL
    Expect.equal env.Spec typed.Spec "env.Spec"

    for u0 in 0..2 do
        for u1 in 0..2 do
            let s, t = env.Step (env.Reset key) [| u0; u1 |] key
            Expect.equal t (snd (typed.Step Ready [| u0; u1 |] key)) "t"
            Expect.equal s (box Played) "s"

let ``an unknown name is refused with the list of known names`` () =
    let e =
        Expect.throwsOf<ArgumentException>(fun () -> Registry.find "matrix:climbin" |> ignore)

    Expect.stringContains e.Message "no environment is registered as 'matrix:climbin'" "e.Message"

    for name in Registry.names do
        Expect.stringContains e.Message name "e.Message"

    Expect.isNone (Registry.tryFind "Two-Step") "Registry.tryFind \"Two-Step\""

    Expect.throwsOf<ArgumentException>(fun () -> Registry.make "" |> ignore)
    |> ignore

let ``every entry renders its reset state and each state after random legal steps as text`` () =
    for e in Registry.all do
        let env = e.Make()
        let key = Rng.key 5UL
        let mutable s = env.Reset key
        let mutable t = 0
        let mutable ended = false

        while not ended do
            let frame = e.RenderText s
            Expect.isFalse (String.IsNullOrWhiteSpace frame) e.Name
            let avail = env.AvailableActions s
            let a = env.Spec.NActions

            let actions =
                Array.init env.Spec.NAgents (fun ag ->
                    let legal =
                        [|
                            for u in 0 .. a - 1 do
                                if avail[ag * a + u] then
                                    u
                        |]

                    legal[Rng.intBelow (Rng.foldIn ag (Rng.foldIn t key)) legal.Length])

            let s', tr = env.Step s actions (Rng.foldIn t key)
            s <- s'
            t <- t + 1
            ended <- tr.Terminated || tr.Truncated || t >= env.Spec.EpisodeLimit

        Expect.isFalse (String.IsNullOrWhiteSpace(e.RenderText s)) e.Name

let ``an entry's renderer refuses another environment's state, naming the types`` () =
    let e =
        Expect.throwsOf<ArgumentException>(fun () -> (Registry.find "two-step").RenderText(box Ready) |> ignore)

    Expect.stringContains e.Message "TwoStepState" "e.Message"
    Expect.stringContains e.Message "OneShotState" "e.Message"

let ``every registered environment, boxed, obeys the environment laws`` () =
    for e in Registry.all do
        EnvLaws.checkWith
            { EnvLaws.defaults with
                Cases = 5
                VecEnvs = 16
                FeatureBound = e.FeatureBound
            }
            (e.Make())

let ``every environment but the matrix games has a graphical renderer that draws its reset state as SVG`` () =
    for e in Registry.all do
        let matrix = e.Name = "two-step" || e.Name.StartsWith "matrix:"

        match e.RenderSvg with
        | Some render ->
            Expect.isFalse matrix (e.Name + " is a matrix game with an SVG renderer")
            let svg = render (e.Make().Reset(Rng.key 3UL))
            let doc = System.Xml.Linq.XDocument.Parse svg
            Expect.equal doc.Root.Name.LocalName "svg" "doc.Root.Name.LocalName"
        | None -> Expect.isTrue matrix (e.Name + " has no SVG renderer")

    // a combat map under other rules keeps the renderer
    Expect.isTrue
        ((Registry.find "combat:3m,smax").RenderSvg.IsSome)
        "(Registry.find \"combat:3m,smax\").RenderSvg.IsSome"
    // negative control: the renderer refuses another environment's state
    let render = (Registry.find "combat:3m").RenderSvg.Value

    Expect.throwsOf<ArgumentException>(fun () -> render (box Ready) |> ignore)
    |> ignore

let ``a sheet nests each frame under its caption lines, scaled to the cell width`` () =
    let e = Registry.find "combat:3m"
    let env = e.Make()
    let s0 = env.Reset(Rng.key 1UL)
    let s1, _ = env.Step s0 [| 1; 1; 1 |] (Rng.key 2UL)
    let frames = [| e.RenderSvg.Value s0; e.RenderSvg.Value s1 |]

    let svg =
        SvgSheet.compose "3m & co" 4 [| "t = 0"; "t = 1: reward 0\nactions (1, 1, 1)" |] frames

    let doc = System.Xml.Linq.XDocument.Parse svg
    let ns = System.Xml.Linq.XNamespace.Get "http://www.w3.org/2000/svg"
    let cells = doc.Root.Elements(ns + "svg") |> Seq.toList
    Expect.equal cells.Length 2 "cells.Length"

    let captions (cell: System.Xml.Linq.XElement) =
        cell.Elements(ns + "text") |> Seq.map (fun t -> t.Value) |> Seq.toList

    Expect.equal (captions cells[0]) ([ "t = 0" ]) "captions cells[0]"
    Expect.equal (captions cells[1]) ([ "t = 1: reward 0"; "actions (1, 1, 1)" ]) "captions cells[1]"
    // the title is escaped; each frame keeps its units (3 allies, 3 enemies) and is 320 pixels wide
    Expect.stringContains svg "3m &amp; co" "svg"

    for cell in cells do
        let frame = cell.Element(ns + "svg")
        Expect.equal (frame.Attribute("width").Value) "320" "frame.Attribute(\"width\").Value"
        Expect.equal (frame.Elements(ns + "circle") |> Seq.length) 6 "frame.Elements(ns + \"circle\") |> Seq.length"

    // bad input is named
    let bad (f: unit -> string) =
        (Expect.throwsOf<ArgumentException>(fun () -> f () |> ignore)).Message

    Expect.stringContains
        (bad (fun () -> SvgSheet.compose "" 4 [| "a"; "b" |] frames[..0]))
        "2 captions for 1 frames"
        "bad (fun () -> SvgSheet.compose \"\" 4 [| \"a\"; \"b\" |] frames[..0])"

    Expect.stringContains
        (bad (fun () -> SvgSheet.compose "" 4 [||] [| frames[0]; "<p/>" |]))
        "frame 1 is not an SVG document"
        "bad (fun () -> SvgSheet.compose \"\" 4 [||] [| frames[0]; \"<p/>\" |])"

    Expect.stringContains
        (bad (fun () -> SvgSheet.compose "" 4 [||] [||]))
        "no frames"
        "bad (fun () -> SvgSheet.compose \"\" 4 [||] [||])"

    Expect.stringContains
        (bad (fun () -> SvgSheet.compose "" 0 [||] frames))
        "columns"
        "bad (fun () -> SvgSheet.compose \"\" 0 [||] frames)"

[<Tests>]
let tests =
    testList
        "Registry"
        [
            testCase
                "the matrix games are registered under their names"
                ``the matrix games are registered under their names``
            testCase
                "registered names are unique and every entry is described"
                ``registered names are unique and every entry is described``
            testCase
                "an entry's spec carries its registered name (non-monotonic keeps its checkpointed name)"
                ``an entry's spec carries its registered name (non-monotonic keeps its checkpointed name)``
            testCase
                "a registered environment behaves as the typed one"
                ``a registered environment behaves as the typed one``
            testCase
                "an unknown name is refused with the list of known names"
                ``an unknown name is refused with the list of known names``
            testCase
                "every entry renders its reset state and each state after random legal steps as text"
                ``every entry renders its reset state and each state after random legal steps as text``
            testCase
                "an entry's renderer refuses another environment's state, naming the types"
                ``an entry's renderer refuses another environment's state, naming the types``
            testCase
                "every registered environment, boxed, obeys the environment laws"
                ``every registered environment, boxed, obeys the environment laws``
            testCase
                "every environment but the matrix games has a graphical renderer that draws its reset state as SVG"
                ``every environment but the matrix games has a graphical renderer that draws its reset state as SVG``
            testCase
                "a sheet nests each frame under its caption lines, scaled to the cell width"
                ``a sheet nests each frame under its caption lines, scaled to the cell width``
        ]
