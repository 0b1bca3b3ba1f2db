module Qmix.Functional.Tests.RegistryTests

open System
open Xunit
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

[<Fact>]
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
        Assert.Contains(name, Registry.names)

[<Fact>]
let ``registered names are unique and every entry is described`` () =
    Assert.Equal(List.length Registry.names, List.length (List.distinct Registry.names))

    for e in Registry.all do
        Assert.False(String.IsNullOrWhiteSpace e.Description, e.Name)
        Assert.Equal(e.Name, (Registry.find e.Name).Name)

[<Fact>]
let ``an entry's spec carries its registered name (non-monotonic keeps its checkpointed name)`` () =
    for e in Registry.all do
        let expected =
            if e.Name = "matrix:non-monotonic" then
                "non-monotonic"
            else
                e.Name

        Assert.Equal(expected, (e.Make()).Spec.Name)

[<Fact>]
let ``a registered environment behaves as the typed one`` () =
    let env = Registry.make "matrix:climbing"
    let typed = MatrixGames.climbing
    let key = Rng.key 3UL
    Assert.Equal(typed.Spec, env.Spec)

    for u0 in 0..2 do
        for u1 in 0..2 do
            let s, t = env.Step (env.Reset key) [| u0; u1 |] key
            Assert.Equal(snd (typed.Step Ready [| u0; u1 |] key), t)
            Assert.Equal(box Played, s)

[<Fact>]
let ``an unknown name is refused with the list of known names`` () =
    let e =
        Assert.Throws<ArgumentException>(fun () -> Registry.find "matrix:climbin" |> ignore)

    Assert.Contains("no environment is registered as 'matrix:climbin'", e.Message)

    for name in Registry.names do
        Assert.Contains(name, e.Message)

    Assert.Equal(None, Registry.tryFind "Two-Step")

    Assert.Throws<ArgumentException>(fun () -> Registry.make "" |> ignore) |> ignore

[<Fact>]
let ``every entry renders its reset state and each state after random legal steps as text`` () =
    for e in Registry.all do
        let env = e.Make()
        let key = Rng.key 5UL
        let mutable s = env.Reset key
        let mutable t = 0
        let mutable ended = false

        while not ended do
            let frame = e.RenderText s
            Assert.False(String.IsNullOrWhiteSpace frame, e.Name)
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

        Assert.False(String.IsNullOrWhiteSpace(e.RenderText s), e.Name)

[<Fact>]
let ``an entry's renderer refuses another environment's state, naming the types`` () =
    let e =
        Assert.Throws<ArgumentException>(fun () -> (Registry.find "two-step").RenderText(box Ready) |> ignore)

    Assert.Contains("TwoStepState", e.Message)
    Assert.Contains("OneShotState", e.Message)

[<Fact>]
let ``every registered environment, boxed, obeys the environment laws`` () =
    for e in Registry.all do
        EnvLaws.checkWith
            { EnvLaws.defaults with
                Cases = 5
                VecEnvs = 16
                FeatureBound = e.FeatureBound
            }
            (e.Make())

[<Fact>]
let ``every environment but the matrix games has a graphical renderer that draws its reset state as SVG`` () =
    for e in Registry.all do
        let matrix = e.Name = "two-step" || e.Name.StartsWith "matrix:"

        match e.RenderSvg with
        | Some render ->
            Assert.False(matrix, e.Name + " is a matrix game with an SVG renderer")
            let svg = render (e.Make().Reset(Rng.key 3UL))
            let doc = System.Xml.Linq.XDocument.Parse svg
            Assert.Equal("svg", doc.Root.Name.LocalName)
        | None -> Assert.True(matrix, e.Name + " has no SVG renderer")

    // a combat map under other rules keeps the renderer
    Assert.True((Registry.find "combat:3m,smax").RenderSvg.IsSome)
    // negative control: the renderer refuses another environment's state
    let render = (Registry.find "combat:3m").RenderSvg.Value

    Assert.Throws<ArgumentException>(fun () -> render (box Ready) |> ignore)
    |> ignore

[<Fact>]
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
    Assert.Equal(2, cells.Length)

    let captions (cell: System.Xml.Linq.XElement) =
        cell.Elements(ns + "text") |> Seq.map (fun t -> t.Value) |> Seq.toList

    Assert.Equal<string list>([ "t = 0" ], captions cells[0])
    Assert.Equal<string list>([ "t = 1: reward 0"; "actions (1, 1, 1)" ], captions cells[1])
    // the title is escaped; each frame keeps its units (3 allies, 3 enemies) and is 320 pixels wide
    Assert.Contains("3m &amp; co", svg)

    for cell in cells do
        let frame = cell.Element(ns + "svg")
        Assert.Equal("320", frame.Attribute("width").Value)
        Assert.Equal(6, frame.Elements(ns + "circle") |> Seq.length)

    // bad input is named
    let bad (f: unit -> string) =
        (Assert.Throws<ArgumentException>(fun () -> f () |> ignore)).Message

    Assert.Contains("2 captions for 1 frames", bad (fun () -> SvgSheet.compose "" 4 [| "a"; "b" |] frames[..0]))

    Assert.Contains(
        "frame 1 is not an SVG document",
        bad (fun () -> SvgSheet.compose "" 4 [||] [| frames[0]; "<p/>" |])
    )

    Assert.Contains("no frames", bad (fun () -> SvgSheet.compose "" 4 [||] [||]))
    Assert.Contains("columns", bad (fun () -> SvgSheet.compose "" 0 [||] frames))
