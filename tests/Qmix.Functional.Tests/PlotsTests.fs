/// The SVG chart writer: well-formed documents holding every series (with negative controls for the checks), nice
/// ticks and compact labels, the mean and 95% band of several seeds against hand-computed values, learning curves read
/// off training events, degenerate inputs, atomic saving.
module Qmix.Functional.Tests.PlotsTests

open System
open System.IO
open System.Xml
open System.Xml.Linq
open Expecto
open Qmix.Tests
open Qmix.Functional

let private svgNs = XNamespace.Get "http://www.w3.org/2000/svg"

/// Parses an SVG document; throws XmlException when it is not well-formed XML.
let private parse (svg: string) = XDocument.Parse svg

/// The number of points of each series' polyline, by series name, in document order.
let private polylines (doc: XDocument) =
    doc.Descendants(svgNs + "polyline")
    |> Seq.filter (fun e -> e.Attribute(XName.Get "class").Value = "series")
    |> Seq.map (fun e ->
        let points =
            e.Attribute(XName.Get "points").Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)

        e.Attribute(XName.Get "data-series").Value, points.Length)
    |> List.ofSeq

/// The texts of a group of text elements (by the group's class).
let private texts (doc: XDocument) (group: string) =
    doc.Descendants(svgNs + "g")
    |> Seq.filter (fun g ->
        g.Attribute(XName.Get "class") <> null
        && g.Attribute(XName.Get "class").Value = group)
    |> Seq.collect (fun g -> g.Elements(svgNs + "text"))
    |> Seq.map (fun t -> t.Value)
    |> List.ofSeq

/// The chart check the tests rely on: the document parses, has one polyline per series with as many points as the
/// series has finite points, and a legend entry per series.
let private checkChart (svg: string) (expected: (string * int) list) =
    let doc = parse svg
    Expect.equal (polylines doc) expected "polylines doc"
    let legend = texts doc "legend"

    for name, _ in expected do
        Expect.contains legend name "legend"

let private series name points = { Name = name; Points = points }

let private line n f =
    Array.init n (fun i -> float i * 1000.0, f (float i))

let private config =
    { ChartConfig.defaults with
        Title = "Test return"
        YLabel = "return"
    }

// ---- lineChart ----

let ``a line chart is well-formed SVG with one polyline per series, a legend and tick labels`` () =
    let a = series "qmix" (line 50 (fun i -> sqrt i))
    let b = series "vdn" (line 30 (fun i -> 0.5 * sqrt i))
    let c = series "iql" (line 7 (fun i -> i / 10.0))
    let svg = Plots.lineChart config [ a; b; c ]
    checkChart svg [ "qmix", 50; "vdn", 30; "iql", 7 ]
    let doc = parse svg
    Expect.equal doc.Root.Name.Namespace svgNs "doc.Root.Name.Namespace"
    Expect.equal (doc.Root.Attribute(XName.Get "width").Value) "720" "doc.Root.Attribute(XName.Get \"width\").Value"
    Expect.equal (doc.Root.Attribute(XName.Get "height").Value) "420" "doc.Root.Attribute(XName.Get \"height\").Value"
    // x: 0..49,000 steps → 0, 10k, …, 50k; y: 0..7 → 0, 2, 4, 6, 8
    Expect.equal (texts doc "x-ticks") ([ "0"; "10k"; "20k"; "30k"; "40k"; "50k" ]) "texts doc \"x-ticks\""
    Expect.equal (texts doc "y-ticks") ([ "0"; "2"; "4"; "6"; "8" ]) "texts doc \"y-ticks\""
    Expect.stringContains svg "Test return" "svg"
    Expect.stringContains svg ">step</text>" "svg"
    Expect.stringContains svg ">return</text>" "svg"
    // each series has its own colour
    let strokes =
        doc.Descendants(svgNs + "polyline")
        |> Seq.map (fun e -> e.Attribute(XName.Get "stroke").Value)
        |> Seq.distinct

    Expect.equal (Seq.length strokes) 3 "Seq.length strokes"

let ``negative control: the well-formedness check rejects a truncated SVG`` () =
    let svg = Plots.lineChart config [ series "qmix" (line 10 id) ]
    parse svg |> ignore
    let truncated = svg.Substring(0, svg.Length / 2)
    Expect.throwsAnyOf<XmlException>(fun () -> parse truncated |> ignore) |> ignore
    let unclosed = svg.Replace("</svg>", "")
    Expect.throwsAnyOf<XmlException>(fun () -> parse unclosed |> ignore) |> ignore

let ``negative control: the series check fails on an SVG missing a series or a point`` () =
    let svg =
        Plots.lineChart config [ series "qmix" (line 10 id); series "vdn" (line 10 (fun i -> i * 0.5)) ]

    checkChart svg [ "qmix", 10; "vdn", 10 ]
    // drop the second polyline
    let lines = svg.Split('\n')

    let vdnLine =
        lines
        |> Array.findIndex (fun l -> l.StartsWith "<polyline" && l.Contains "data-series=\"vdn\"")

    let missing = String.Join("\n", lines |> Array.removeAt vdnLine)
    parse missing |> ignore // still well-formed

    Expect.throwsAnyOf<Exception>(fun () -> checkChart missing [ "qmix", 10; "vdn", 10 ])
    |> ignore
    // and a series drawn with a point fewer than it has
    Expect.throwsAnyOf<Exception>(fun () -> checkChart svg [ "qmix", 11; "vdn", 10 ])
    |> ignore
    // and a legend without the series
    let noLegend = svg.Replace(">vdn</text>", "></text>")

    Expect.throwsAnyOf<Exception>(fun () -> checkChart noLegend [ "qmix", 10; "vdn", 10 ])
    |> ignore

let ``names with markup characters are escaped`` () =
    let name = "a<b & \"c\" 'd'>\u0001"
    let svg = Plots.lineChart { config with Title = "<&>" } [ series name (line 3 id) ]
    let doc = parse svg
    let clean = "a<b & \"c\" 'd'>" // the control character, which XML forbids, is dropped
    Expect.equal (polylines doc) ([ clean, 3 ]) "polylines doc"
    Expect.contains (texts doc "legend") clean "texts doc \"legend\""

// ---- ticks ----

let ``nice ticks over 0..1 are 0, 0.2, …, 1`` () =
    let ticks = Plots.niceTicks 0.0 1.0
    Expect.equal ticks ([| 0.0; 0.2; 0.4; 0.6; 0.8; 1.0 |]) "ticks"
    Expect.equal (Plots.tickLabels ticks) ([| "0"; "0.2"; "0.4"; "0.6"; "0.8"; "1" |]) "Plots.tickLabels ticks"

let ``nice ticks over 0..2,050,000 steps are multiples of 500k with compact labels`` () =
    let ticks = Plots.niceTicks 0.0 2_050_000.0
    Expect.equal ticks ([| 0.0; 500_000.0; 1_000_000.0; 1_500_000.0; 2_000_000.0; 2_500_000.0 |]) "ticks"
    Expect.equal (Plots.tickLabels ticks) ([| "0"; "500k"; "1M"; "1.5M"; "2M"; "2.5M" |]) "Plots.tickLabels ticks"

let ``nice ticks for other ranges`` () =
    let check lo hi (expected: float[]) (labels: string[]) =
        let ticks = Plots.niceTicks lo hi
        Expect.equal ticks expected "ticks"
        Expect.equal (Plots.tickLabels ticks) labels "Plots.tickLabels ticks"

    check -3.2 14.7 [| -5.0; 0.0; 5.0; 10.0; 15.0 |] [| "-5"; "0"; "5"; "10"; "15" |]
    check 0.6 1.0 [| 0.6; 0.7; 0.8; 0.9; 1.0 |] [| "0.6"; "0.7"; "0.8"; "0.9"; "1" |]
    check 2000.0 10_000.0 [| 2000.0; 4000.0; 6000.0; 8000.0; 10_000.0 |] [| "2k"; "4k"; "6k"; "8k"; "10k" |]
    check 0.0 0.013 [| 0.0; 0.005; 0.01; 0.015 |] [| "0"; "0.005"; "0.01"; "0.015" |]
    check -1.0 1.0 [| -1.0; -0.5; 0.0; 0.5; 1.0 |] [| "-1"; "-0.5"; "0"; "0.5"; "1" |]
    // a single value is widened around it
    check 0.0 0.0 [| -1.0; -0.5; 0.0; 0.5; 1.0 |] [| "-1"; "-0.5"; "0"; "0.5"; "1" |]
    check 8.0 8.0 [| 7.0; 7.5; 8.0; 8.5; 9.0 |] [| "7"; "7.5"; "8"; "8.5"; "9" |]
    // ticks always cover the range, with at most 5 intervals plus the rounding at each end
    for lo, hi in [ 0.1, 0.35; -7.3, -2.1; 1e-6, 3e-6; 123.0, 98765.0; -1e9, 2.5e9 ] do
        let t = Plots.niceTicks lo hi
        Expect.isTrue (t[0] <= lo && t[t.Length - 1] >= hi) (sprintf "%g..%g: %A" lo hi t)
        Expect.inRange t.Length 3 7 "t.Length"

let ``niceTicks rejects a reversed or non-finite range`` () =
    Expect.throwsOf<ArgumentException>(fun () -> Plots.niceTicks 1.0 0.0 |> ignore)
    |> ignore

    Expect.throwsOf<ArgumentException>(fun () -> Plots.niceTicks 0.0 nan |> ignore)
    |> ignore

    Expect.throwsOf<ArgumentException>(fun () -> Plots.niceTicks -infinity 0.0 |> ignore)
    |> ignore

// ---- the x axis ----

/// A tick label as a number: "20k" → 20000, "1.5M" → 1500000.
let private labelValue (label: string) =
    let scale, digits =
        match label[label.Length - 1] with
        | 'k' -> 1e3, label[.. label.Length - 2]
        | 'M' -> 1e6, label[.. label.Length - 2]
        | 'G' -> 1e9, label[.. label.Length - 2]
        | _ -> 1.0, label

    Double.Parse(digits, Globalization.CultureInfo.InvariantCulture) * scale

let private attr (e: XElement) (name: string) =
    Double.Parse(e.Attribute(XName.Get name).Value, Globalization.CultureInfo.InvariantCulture)

/// The x axis of a chart as drawn: its first and last x in data units (read off the x-axis line's ends, scaled by
/// the tick labels' positions), the tick values, the axis line's left and right ends in pixels, and the x units per pixel.
let private xAxisOf (doc: XDocument) =
    let ticks =
        doc.Descendants(svgNs + "g")
        |> Seq.find (fun g ->
            g.Attribute(XName.Get "class") <> null
            && g.Attribute(XName.Get "class").Value = "x-ticks")
        |> fun g -> g.Elements(svgNs + "text")
        |> Seq.map (fun t -> attr t "x", labelValue t.Value)
        |> Array.ofSeq

    let axis =
        doc.Descendants(svgNs + "g")
        |> Seq.find (fun g ->
            g.Attribute(XName.Get "class") <> null
            && g.Attribute(XName.Get "class").Value = "axes")
        |> fun g -> g.Elements(svgNs + "line") |> Seq.head

    let (px0, v0), (px1, v1) = ticks[0], ticks[ticks.Length - 1]
    let perPixel = (v1 - v0) / (px1 - px0)
    let left, right = attr axis "x1", attr axis "x2"
    v0 + (left - px0) * perPixel, v0 + (right - px0) * perPixel, Array.map snd ticks, (left, right), perPixel

/// The check on a run's chart: the x axis covers the run's last step and ends less than 5% of the run past it (no
/// empty stretch of a whole tick step: 20,013 steps are not drawn on an axis to 25k), with a tick within that 5%.
let private checkAxisEnd (svg: string) (lastStep: float) =
    let first, last, ticks, _, perPixel = xAxisOf (parse svg)
    // the positions are written to 0.01 px
    let tolerance = 0.02 * perPixel
    Expect.isTrue (first <= tolerance) (sprintf "the axis starts at %g" first)

    Expect.isTrue (last >= lastStep - tolerance) (sprintf "the axis ends at %g, before the last step %g" last lastStep)

    Expect.isTrue
        (last <= 1.05 * lastStep)
        (sprintf "the axis ends at %g, more than 5%% past the last step %g" last lastStep)

    Expect.isTrue
        (abs (ticks[ticks.Length - 1] - lastStep) <= 0.05 * lastStep)
        (sprintf "the last tick %g is not near the last step %g" ticks[ticks.Length - 1] lastStep)

let private run lastStep =
    series "test return" (Array.init 21 (fun i -> float i / 20.0 * lastStep, sqrt (float i)))

let ``xAxis ends a run's axis at its last step when that lies just past a tick`` () =
    let check lo hi (ticks: float[]) axisEnd =
        let t, a, b = Plots.xAxis lo hi
        Expect.equal t ticks "t"
        Expect.equal a (t[0]) "a"
        Expect.equal b axisEnd "b"

    check 0.0 20_013.0 [| 0.0; 5000.0; 10_000.0; 15_000.0; 20_000.0 |] 20_013.0
    check 0.0 500_013.0 [| 0.0; 100_000.0; 200_000.0; 300_000.0; 400_000.0; 500_000.0 |] 500_013.0
    check 155.0 2088.0 [| 0.0; 500.0; 1000.0; 1500.0; 2000.0 |] 2088.0
    // data ending before a tick: the axis runs on to that tick
    check 0.0 49_000.0 [| 0.0; 10_000.0; 20_000.0; 30_000.0; 40_000.0; 50_000.0 |] 50_000.0
    check 0.0 10_000.0 [| 0.0; 2000.0; 4000.0; 6000.0; 8000.0; 10_000.0 |] 10_000.0

let ``a run's chart ends its x axis at the run's last step, not a tick step later`` () =
    for lastStep in [ 20_013.0; 500_013.0; 2088.0; 10_000.0; 2_050_000.0 ] do
        checkAxisEnd (Plots.lineChart config [ run lastStep ]) lastStep

    let _, _, ticks, _, _ = xAxisOf (parse (Plots.lineChart config [ run 20_013.0 ]))
    Expect.equal ticks ([| 0.0; 5000.0; 10_000.0; 15_000.0; 20_000.0 |]) "ticks"

let ``negative control: the axis-end check fails on an axis that runs a tick step past the run`` () =
    // a chart whose axis runs to 25k, as the 20,013-step run's did when the axis ended at the next whole tick
    let to25k = Plots.lineChart config [ run 25_000.0 ]
    let _, last, _, _, _ = xAxisOf (parse to25k)
    Expect.roundedEqual last (25_000.0) 6 "last"

    Expect.throwsAnyOf<Exception>(fun () -> checkAxisEnd to25k 20_013.0) |> ignore
    // and one that stops short of the run's end
    Expect.throwsAnyOf<Exception>(fun () -> checkAxisEnd (Plots.lineChart config [ run 20_000.0 ]) 20_013.0)
    |> ignore

/// The check on stacked charts: every chart's x axis line has the same ends in pixels and the same tick values.
let private checkAligned (svgs: string list) =
    let axes = svgs |> List.map (parse >> xAxisOf)
    let _, _, ticks0, ends0, _ = axes.Head

    for _, _, ticks, ends, _ in axes.Tail do
        Expect.equal ends ends0 "ends"
        Expect.equal ticks ticks0 "ticks"

let ``aligned charts share their x range and plot-area edges`` () =
    // panels with different y labels, legends and x extents (the diagnostics start once the learner updates)
    let returns =
        { config with
            Title = "qmix on combat:3m"
        },
        [ run 20_013.0; series "train" (line 21 id) ]

    let diagnostics =
        { config with
            Title = ""
            YLabel = "TD error, gradient"
            Height = 300
        },
        [
            series "grad norm before clipping" (Array.init 10 (fun i -> 1500.0 + 1800.0 * float i, 12_345.6 * float i))
        ]

    let svgs = Plots.alignedLineCharts [ returns; diagnostics ]
    checkAligned svgs
    checkAxisEnd svgs.Head 20_013.0
    checkAxisEnd svgs[1] 20_013.0
    checkChart svgs[1] [ "grad norm before clipping", 10 ]

    Expect.throwsOf<ArgumentException>(fun () ->
        Plots.alignedLineCharts [ returns; ({ fst diagnostics with Width = 800 }, snd diagnostics) ]
        |> ignore)
    |> ignore

    Expect.throwsOf<ArgumentException>(fun () -> Plots.alignedLineCharts [] |> ignore)
    |> ignore

let ``negative control: the alignment check fails on charts drawn one by one`` () =
    let a = Plots.lineChart config [ run 20_013.0 ]

    let b =
        Plots.lineChart
            { config with
                YLabel = "TD error, gradient"
            }
            [
                series
                    "grad norm before clipping"
                    (Array.init 10 (fun i -> 1500.0 + 1800.0 * float i, 12_345.6 * float i))
            ]

    Expect.throwsAnyOf<Exception>(fun () -> checkAligned [ a; b ]) |> ignore

// ---- degenerate inputs ----

let ``a series of one point is drawn as a dot`` () =
    let svg = Plots.lineChart config [ series "one" [| 5.0, 3.0 |] ]
    checkChart svg [ "one", 1 ]
    let doc = parse svg

    Expect.single (doc.Descendants(svgNs + "circle")) "doc.Descendants(svgNs + \"circle\")"
    |> ignore

let ``a flat series gets a y axis around its value`` () =
    let svg = Plots.lineChart config [ series "flat" (line 5 (fun _ -> 8.0)) ]
    checkChart svg [ "flat", 5 ]
    let ys = texts (parse svg) "y-ticks"
    Expect.contains ys "8" "ys"
    Expect.isTrue (ys.Length >= 3) "ys.Length >= 3"

let ``NaN and infinite points are skipped with a note`` () =
    let pts =
        [| 0.0, 1.0; 1.0, nan; 2.0, 2.0; infinity, 3.0; 4.0, -infinity; 5.0, 4.0 |]

    let svg = Plots.lineChart config [ series "loss" pts; series "clean" (line 3 id) ]
    checkChart svg [ "loss", 3; "clean", 3 ]

    let notes =
        (parse svg).Descendants(svgNs + "text")
        |> Seq.filter (fun t ->
            t.Attribute(XName.Get "class") <> null
            && t.Attribute(XName.Get "class").Value = "note")
        |> Seq.map (fun t -> t.Value)
        |> List.ofSeq

    Expect.equal notes ([ "3 points with a NaN or infinite value skipped in \"loss\"" ]) "notes"

let ``an empty series is an ArgumentException naming it`` () =
    let e =
        Expect.throwsOf<ArgumentException>(fun () ->
            Plots.lineChart config [ series "fine" (line 3 id); series "empty one" [||] ]
            |> ignore)

    Expect.stringContains e.Message ("\"empty one\"") "e.Message"
    Expect.equal e.ParamName "series" "e.ParamName"

    let e =
        Expect.throwsOf<ArgumentException>(fun () ->
            Plots.lineChart config [ series "all nan" [| nan, 1.0; 2.0, nan |] ] |> ignore)

    Expect.stringContains e.Message ("\"all nan\"") "e.Message"

    Expect.throwsOf<ArgumentException>(fun () -> Plots.lineChart config [] |> ignore)
    |> ignore

let ``a very long name is cut short in the legend, not in the series`` () =
    let name = String('x', 200)

    let svg =
        Plots.lineChart config [ series name (line 3 id); series "short" (line 3 id) ]

    let doc = parse svg
    Expect.equal (polylines doc) ([ name, 3; "short", 3 ]) "polylines doc"
    let legend = texts doc "legend"
    Expect.contains legend "short" "legend"
    Expect.isTrue (legend[0].EndsWith "…" && legend[0].Length < 50) (legend[0])

let ``a chart too small or without colours is rejected`` () =
    let s = [ series "s" (line 3 id) ]

    Expect.throwsOf<ArgumentException>(fun () -> Plots.lineChart { config with Width = 100 } s |> ignore)
    |> ignore

    Expect.throwsOf<ArgumentException>(fun () -> Plots.lineChart { config with Palette = [] } s |> ignore)
    |> ignore

let ``YRange widens the y axis`` () =
    let svg =
        Plots.lineChart { config with YRange = Some(0.0, 1.0) } [ series "win rate" [| 0.0, 0.3; 1.0, 0.5 |] ]

    Expect.equal
        (texts (parse svg) "y-ticks")
        ([ "0"; "0.2"; "0.4"; "0.6"; "0.8"; "1" ])
        "texts (parse svg) \"y-ticks\""

// ---- meanBand and bandChart ----

let private assertBand (expected: (float * float * float * float)[]) (actual: (float * float * float * float)[]) =
    Expect.equal actual.Length expected.Length "actual.Length"

    for (x, m, lo, hi), (x', m', lo', hi') in Array.zip expected actual do
        Expect.roundedEqual x' x 9 "x'"
        Expect.roundedEqual m' m 6 "m'"
        Expect.roundedEqual lo' lo 6 "lo'"
        Expect.roundedEqual hi' hi 6 "hi'"

let ``t critical values match their closed forms and the normal limit`` () =
    // ν = 1: tan(0.475π); ν = 2: (2p − 1)·√(2 / (4p(1 − p))) with p = 0.975
    Expect.roundedEqual (Statistics.tCritical95 1) (Math.Tan(0.475 * Math.PI)) 8 "Statistics.tCritical95 1"

    Expect.roundedEqual
        (Statistics.tCritical95 2)
        (0.95 * sqrt (2.0 / (4.0 * 0.975 * 0.025)))
        8
        "Statistics.tCritical95 2"

    Expect.roundedEqual (Statistics.tCritical95 4) 2.776445105 9 "Statistics.tCritical95 4"
    Expect.roundedEqual (Statistics.tCritical95 30) 2.042272456 9 "Statistics.tCritical95 30"
    // beyond the table: 2.0211 at 40, 1.9799 at 120, the normal 1.96 in the limit, decreasing throughout
    let near (expected: float) (actual: float) =
        Expect.isTrue (abs (expected - actual) < 1e-5) (sprintf "%.7f, expected %.7f" actual expected)

    near 2.021075 (Statistics.tCritical95 40)
    near 1.979930 (Statistics.tCritical95 120)
    near 1.959964 (Statistics.tCritical95 100_000_000)
    let ts = [| 1..200 |] |> Array.map Statistics.tCritical95

    Expect.isTrue
        (Array.pairwise ts |> Array.forall (fun (a, b) -> b < a))
        "Array.pairwise ts |> Array.forall (fun (a, b) -> b < a)"

    Expect.throwsOf<ArgumentException>(fun () -> Statistics.tCritical95 0 |> ignore)
    |> ignore

let ``meanBand of 2 runs on the same grid, by hand`` () =
    // at 0: 0, 2 → mean 1, s = √2, s/√2 = 1; at 5: 5, 4 → 4.5, s/√2 = 0.5; at 10: 10, 6 → 8, s/√2 = 2
    let t = 12.706204736
    let a = [| 0.0, 0.0; 5.0, 5.0; 10.0, 10.0 |]
    let b = [| 0.0, 2.0; 5.0, 4.0; 10.0, 6.0 |]

    assertBand
        [|
            0.0, 1.0, 1.0 - t, 1.0 + t
            5.0, 4.5, 4.5 - 0.5 * t, 4.5 + 0.5 * t
            10.0, 8.0, 8.0 - 2.0 * t, 8.0 + 2.0 * t
        |]
        (Statistics.meanBand [| a; b |])

let ``meanBand of 2 runs on different grids interpolates within the overlap`` () =
    // a covers 0..10, b covers 2..12: the grid is the x values in 2..10 of either run, {2, 6, 10};
    // a (y = x) interpolates to 2, 6, 10; b is 2, 4 at 2, 6 and 4 + 4·(4/6) at 10
    let t = 12.706204736
    let a = [| 0.0, 0.0; 10.0, 10.0 |]
    let b = [| 12.0, 8.0; 2.0, 2.0; 6.0, 4.0 |] // unsorted on purpose
    let b10 = 4.0 + 4.0 * 4.0 / 6.0

    let expected =
        [| 2.0, 2.0, 2.0; 6.0, 6.0, 4.0; 10.0, 10.0, b10 |]
        |> Array.map (fun (x, ya, yb) ->
            let m = (ya + yb) / 2.0
            let h = t * abs (ya - yb) / 2.0 // s = |ya − yb| / √2, s / √2 = |ya − yb| / 2
            x, m, m - h, m + h)

    assertBand expected (Statistics.meanBand [| a; b |])

let ``meanBand of 5 runs logged at different steps`` () =
    // run i (1..5) is y = x + i, logged at 0, i and 10 (run 5 also at 20, beyond the overlap): the grid is
    // {0, 1, 2, 3, 4, 5, 10}; at each x the values are x + 1 .. x + 5: mean x + 3, s² = 2.5, s/√5 = √0.5, t₄ = 2.776445105
    let runs =
        [|
            for i in 1..5 do
                [|
                    yield 0.0, float i
                    yield float i, 2.0 * float i
                    yield 10.0, 10.0 + float i
                    if i = 5 then
                        yield 20.0, 99.0
                |]
        |]

    let h = 2.776445105 * sqrt 0.5

    let expected =
        [| 0.0; 1.0; 2.0; 3.0; 4.0; 5.0; 10.0 |]
        |> Array.map (fun x -> x, x + 3.0, x + 3.0 - h, x + 3.0 + h)

    assertBand expected (Statistics.meanBand runs)

let ``meanBand of one run is the run itself, and bad runs are rejected`` () =
    assertBand
        [| 0.0, 1.0, 1.0, 1.0; 1.0, 3.0, 3.0, 3.0 |]
        (Statistics.meanBand [| [| 1.0, 3.0; 0.0, 1.0; 0.5, nan |] |])
    // identical runs: a band of zero width
    assertBand
        [| 0.0, 1.0, 1.0, 1.0; 1.0, 3.0, 3.0, 3.0 |]
        (Statistics.meanBand (Array.replicate 3 [| 0.0, 1.0; 1.0, 3.0 |]))

    Expect.throwsOf<ArgumentException>(fun () -> Statistics.meanBand [||] |> ignore)
    |> ignore

    Expect.throwsOf<ArgumentException>(fun () -> Statistics.meanBand [| [| 0.0, 1.0 |]; [||] |] |> ignore)
    |> ignore

    let e =
        Expect.throwsOf<ArgumentException>(fun () ->
            Statistics.meanBand [| [| 0.0, 1.0; 1.0, 1.0 |]; [| 2.0, 1.0; 3.0, 1.0 |] |]
            |> ignore)

    Expect.stringContains e.Message "overlap" "e.Message"

let ``a band chart keeps a win rate's band within the runs' values: no axis below 0`` () =
    // three seeds that win all or nothing: the mean's 95% t-interval reaches far below 0 and above 1
    let runs =
        [| 0.0; 0.0; 1.0 |]
        |> Array.map (fun v -> Array.init 10 (fun i -> float (1000 * i), (if i = 0 then 0.0 else v)))

    let interval = Statistics.meanBand runs
    Expect.isTrue (interval |> Array.exists (fun (_, _, lo, _) -> lo < 0.0)) "the interval itself reaches below 0"

    let config =
        { ChartConfig.defaults with
            YRange = Some(0.0, 1.0)
        }

    let doc = parse (Plots.bandChart config [ { Name = "qmix"; Runs = runs } ])
    // the y axis covers [0, 1] and nothing below or above, as the win rates themselves
    let ticks = texts doc "y-ticks"
    Expect.equal (List.head ticks) "0" "List.head ticks"
    Expect.equal (List.last ticks) "1" "List.last ticks"

let ``a band chart draws each group's mean line, a shaded band and "name (n seeds)"`` () =
    let runs k seeds =
        Array.init seeds (fun s -> line (20 + s) (fun i -> k * sqrt i + float s))

    let groups =
        [ { Name = "qmix"; Runs = runs 1.0 5 }; { Name = "vdn"; Runs = runs 0.5 2 } ]

    let svg = Plots.bandChart config groups
    let doc = parse svg
    // the grid is the overlap 0..19,000 of every run, at the steps they log (every 1000)
    Expect.equal (polylines doc) ([ "qmix", 20; "vdn", 20 ]) "polylines doc"
    let legend = texts doc "legend"
    Expect.contains legend "qmix (5 seeds)" "legend"
    Expect.contains legend "vdn (2 seeds)" "legend"

    let bands =
        doc.Descendants(svgNs + "path")
        |> Seq.filter (fun p -> p.Attribute(XName.Get "class").Value = "band")
        |> List.ofSeq

    Expect.equal
        (bands |> List.map (fun p -> p.Attribute(XName.Get "data-series").Value))
        ([ "qmix"; "vdn" ])
        "bands |> List.map (fun p -> p.Attribute(XName.Get \"data-series\").Va..."

    for p in bands do
        Expect.equal (p.Attribute(XName.Get "fill-opacity").Value) "0.2" "p.Attribute(XName.Get \"fill-opacity\").Value"
        // upper edge then lower edge: twice the grid's points
        let d = p.Attribute(XName.Get "d").Value

        Expect.equal
            (d.Split([| 'M'; 'L' |], StringSplitOptions.RemoveEmptyEntries).Length)
            40
            "d.Split([| 'M'; 'L' |], StringSplitOptions.RemoveEmptyEntries).Length"

let ``a band chart of one seed draws no band, and names a group without runs`` () =
    let svg =
        Plots.bandChart
            config
            [
                {
                    Name = "solo"
                    Runs = [| line 4 id |]
                }
            ]

    let doc = parse svg
    Expect.equal (polylines doc) ([ "solo", 4 ]) "polylines doc"
    Expect.contains (texts doc "legend") "solo (1 seed)" "texts doc \"legend\""
    Expect.isEmpty (doc.Descendants(svgNs + "path")) "doc.Descendants(svgNs + \"path\")"

    let e =
        Expect.throwsOf<ArgumentException>(fun () ->
            Plots.bandChart config [ { Name = "nobody"; Runs = [||] } ] |> ignore)

    Expect.stringContains e.Message ("\"nobody\"") "e.Message"

    let e =
        Expect.throwsOf<ArgumentException>(fun () ->
            Plots.bandChart
                config
                [
                    {
                        Name = "apart"
                        Runs = [| [| 0.0, 1.0 |]; [| 5.0, 1.0 |] |]
                    }
                ]
            |> ignore)

    Expect.stringContains e.Message ("\"apart\"") "e.Message"

// ---- learning curves ----

let private metrics loss =
    {
        Loss = loss
        GradNorm = 1.0f
        TdErrorAbs = 0.5f
        QTakenMean = 2.0f * loss
        TargetMean = 3.0f * loss
        CentralLoss = 0.0f
        WeightMean = 1.0f
    }

let private events (wins: bool) =
    [
        for i in 1..6 do
            let step = i * 100
            let win = if wins then Some(float32 i / 10.0f) else None

            Collected
                {
                    Step = step
                    Episode = i
                    Epsilon = 0.5f
                    MeanReturn = float32 i
                    WinRate = win
                    MeanLength = float32 i + 0.5f
                    // an environment with wins here is one with armies too
                    DeadAllies = if wins then Some 1.0f else None
                    DeadEnemies = if wins then Some(float32 i / 2.0f) else None
                }

            if i > 1 then
                Updated
                    {
                        Step = step
                        Episode = i
                        Metrics = metrics (1.0f / float32 i)
                    }

            if i % 2 = 0 then
                Tested
                    {
                        Step = step
                        Episode = i
                        MeanReturn = 2.0f * float32 i
                        WinRate = win
                        MeanLength = 10.0f - float32 i
                        DeadAllies = if wins then Some 0.0f else None
                        DeadEnemies = if wins then Some 3.0f else None
                    }

            Progress
                {
                    Step = step
                    Episode = i
                    StepsPerSecond = 1000.0
                }
    ]

let ``learning curves are read off training events`` () =
    let ev = events true
    let test = Curve.series TestReturn ev
    Expect.equal test.Name "test return" "test.Name"
    Expect.equal test.Points ([| 200.0, 4.0; 400.0, 8.0; 600.0, 12.0 |]) "test.Points"
    let train = Curve.series TrainReturn ev
    Expect.equal train.Points ([| for i in 1..6 -> float (i * 100), float i |]) "train.Points"
    let loss = Curve.series Loss ev
    Expect.equal loss.Points ([| for i in 2..6 -> float (i * 100), float (1.0f / float32 i) |]) "loss.Points"
    let win = Curve.series TestWinRate ev

    Expect.equal win.Points ([| for i in [ 2; 4; 6 ] -> float (i * 100), float (float32 i / 10.0f) |]) "win.Points"

    Expect.equal ((Curve.series TrainWinRate ev).Points.Length) 6 "(Curve.series TrainWinRate ev).Points.Length"
    // ready to draw
    let svg =
        Plots.lineChart config (Curve.seriesWithPoints [ TestReturn; TrainReturn ] ev)

    checkChart svg [ "test return", 3; "train return", 6 ]

let ``win-rate curves are empty when the environment reports no wins`` () =
    let ev = events false
    Expect.isEmpty ((Curve.series TestWinRate ev).Points) "(Curve.series TestWinRate ev).Points"

    Expect.isEmpty
        (Curve.seriesWithPoints [ TestWinRate; TrainWinRate ] ev)
        "Curve.seriesWithPoints [ TestWinRate; TrainWinRate ] ev"

    Expect.equal
        ((Curve.seriesWithPoints [ TestReturn; TrainReturn; TestWinRate ] ev).Length)
        2
        "(Curve.seriesWithPoints [ TestReturn; TrainReturn; TestWinRate ] ev)...."

let ``learner diagnostics, episode lengths and casualties are read off training events`` () =
    let ev = events true
    let at (curve: Curve) = (Curve.series curve ev).Points
    let updates = [ 2..6 ]
    Expect.equal (at QTakenMean) ([| for i in updates -> float (i * 100), float (2.0f / float32 i) |]) "at QTakenMean"
    Expect.equal (at TargetMean) ([| for i in updates -> float (i * 100), float (3.0f / float32 i) |]) "at TargetMean"
    Expect.equal (at TdErrorAbs) ([| for i in updates -> float (i * 100), 0.5 |]) "at TdErrorAbs"
    Expect.equal (at GradNorm) ([| for i in updates -> float (i * 100), 1.0 |]) "at GradNorm"
    Expect.equal (at TrainEpisodeLength) ([| for i in 1..6 -> float (i * 100), float i + 0.5 |]) "at TrainEpisodeLength"

    Expect.equal
        (at TestEpisodeLength)
        ([| for i in [ 2; 4; 6 ] -> float (i * 100), 10.0 - float i |])
        "at TestEpisodeLength"

    Expect.equal (at TrainDeadAllies) ([| for i in 1..6 -> float (i * 100), 1.0 |]) "at TrainDeadAllies"
    Expect.equal (at TrainDeadEnemies) ([| for i in 1..6 -> float (i * 100), float i / 2.0 |]) "at TrainDeadEnemies"
    Expect.equal (at TestDeadAllies) ([| for i in [ 2; 4; 6 ] -> float (i * 100), 0.0 |]) "at TestDeadAllies"
    Expect.equal (at TestDeadEnemies) ([| for i in [ 2; 4; 6 ] -> float (i * 100), 3.0 |]) "at TestDeadEnemies"
    Expect.equal (Curve.name QTakenMean) "Q taken" "Curve.name QTakenMean"
    Expect.equal (Curve.name TdErrorAbs) "TD |error|" "Curve.name TdErrorAbs"
    // an environment without armies has no casualty curves
    let plain = events false

    Expect.isEmpty
        (Curve.seriesWithPoints [ TrainDeadAllies; TrainDeadEnemies; TestDeadAllies; TestDeadEnemies ] plain)
        "Curve.seriesWithPoints [ TrainDeadAllies; TrainDeadEnemies; TestDeadA..."

    Expect.equal
        ((Curve.seriesWithPoints [ TrainEpisodeLength; TestEpisodeLength; TestDeadAllies ] plain).Length)
        2
        "(Curve.seriesWithPoints [ TrainEpisodeLength; TestEpisodeLength; Test..."

let ``reference lines are drawn dashed, covered by the y axis and listed in the legend`` () =
    let series =
        [
            {
                Name = "Q taken"
                Points = [| 0.0, 1.0; 10.0, 2.0 |]
            }
        ]

    let cfg =
        { config with
            ReferenceLines =
                [
                    {
                        Name = "largest return seen"
                        Y = 8.0
                    }
                ]
        }

    let doc = parse (Plots.lineChart cfg series)
    checkChart (Plots.lineChart cfg series) [ "Q taken", 2 ]

    let classOf (e: XElement) =
        match e.Attribute(XName.Get "class") with
        | null -> ""
        | a -> a.Value

    let reference =
        doc.Descendants()
        |> Seq.filter (fun e -> e.Name.LocalName = "line" && classOf e = "reference")
        |> List.ofSeq

    Expect.equal reference.Length 1 "reference.Length"
    let line = reference.Head

    Expect.equal
        (line.Attribute(XName.Get "data-series").Value)
        "largest return seen"
        "line.Attribute(XName.Get \"data-series\").Value"

    Expect.equal
        (line.Attribute(XName.Get "stroke-dasharray").Value)
        "6 4"
        "line.Attribute(XName.Get \"stroke-dasharray\").Value"
    // the y axis reaches 8 though the data stop at 2: the line lies inside the plot, above the series
    let y = float (line.Attribute(XName.Get "y1").Value)

    let top =
        doc.Descendants()
        |> Seq.filter (fun e -> e.Name.LocalName = "polyline")
        |> Seq.collect (fun e -> e.Attribute(XName.Get "points").Value.Split ' ')
        |> Seq.map (fun p -> float (p.Split ',').[1])
        |> Seq.min

    Expect.isTrue (y < top) (sprintf "reference at y=%g, series reaches y=%g" y top)

    let texts (keep: XElement -> bool) =
        doc.Descendants()
        |> Seq.filter (fun e -> e.Name.LocalName = "text" && keep e)
        |> Seq.map _.Value
        |> List.ofSeq

    Expect.contains
        (texts (fun e -> classOf e.Parent = "y-ticks"))
        "8"
        "texts (fun e -> classOf e.Parent = \"y-ticks\")"

    Expect.contains
        (texts (fun e -> classOf e.Parent = "legend"))
        "largest return seen"
        "texts (fun e -> classOf e.Parent = \"legend\")"
    // a reference line must have a finite height: negative control
    let bad =
        { cfg with
            ReferenceLines = [ { Name = "nowhere"; Y = nan } ]
        }

    let e =
        Expect.throwsOf<ArgumentException>(fun () -> Plots.lineChart bad series |> ignore)

    Expect.stringContains e.Message "nowhere" "e.Message"

let ``seeds' events make a band chart`` () =
    let runs = Array.init 3 (fun _ -> (Curve.series TestReturn (events false)).Points)

    let svg = Plots.bandChart config [ { Name = "qmix"; Runs = runs } ]
    Expect.equal (polylines (parse svg)) ([ "qmix", 3 ]) "polylines (parse svg)"

// ---- save ----

let ``save writes the chart atomically, creating the folder and leaving no temporary file`` () =
    let dir =
        Path.Combine(Path.GetTempPath(), "qmix-plots-" + Guid.NewGuid().ToString "N")

    try
        let path = Path.Combine(dir, "runs", "curves.svg")
        let svg = Plots.lineChart config [ series "s" (line 3 id) ]
        Plots.save path "old"
        Plots.save path svg
        Expect.equal (File.ReadAllText path) svg "File.ReadAllText path"

        Expect.equal
            (Directory.GetFiles(Path.GetDirectoryName path))
            ([| path |])
            "Directory.GetFiles(Path.GetDirectoryName path)"

        Expect.throwsOf<ArgumentException>(fun () -> Plots.save "" svg) |> ignore
    finally
        if Directory.Exists dir then
            Directory.Delete(dir, true)

[<Tests>]
let tests =
    testList
        "Plots"
        [
            testCase
                "a line chart is well-formed SVG with one polyline per series, a legend and tick labels"
                ``a line chart is well-formed SVG with one polyline per series, a legend and tick labels``
            testCase
                "negative control: the well-formedness check rejects a truncated SVG"
                ``negative control: the well-formedness check rejects a truncated SVG``
            testCase
                "negative control: the series check fails on an SVG missing a series or a point"
                ``negative control: the series check fails on an SVG missing a series or a point``
            testCase "names with markup characters are escaped" ``names with markup characters are escaped``
            testCase "nice ticks over 0..1 are 0, 0.2, …, 1" ``nice ticks over 0..1 are 0, 0.2, …, 1``
            testCase
                "nice ticks over 0..2,050,000 steps are multiples of 500k with compact labels"
                ``nice ticks over 0..2,050,000 steps are multiples of 500k with compact labels``
            testCase "nice ticks for other ranges" ``nice ticks for other ranges``
            testCase
                "niceTicks rejects a reversed or non-finite range"
                ``niceTicks rejects a reversed or non-finite range``
            testCase "a series of one point is drawn as a dot" ``a series of one point is drawn as a dot``
            testCase "a flat series gets a y axis around its value" ``a flat series gets a y axis around its value``
            testCase
                "NaN and infinite points are skipped with a note"
                ``NaN and infinite points are skipped with a note``
            testCase
                "an empty series is an ArgumentException naming it"
                ``an empty series is an ArgumentException naming it``
            testCase
                "a very long name is cut short in the legend, not in the series"
                ``a very long name is cut short in the legend, not in the series``
            testCase
                "a chart too small or without colours is rejected"
                ``a chart too small or without colours is rejected``
            testCase "YRange widens the y axis" ``YRange widens the y axis``
            testCase
                "t critical values match their closed forms and the normal limit"
                ``t critical values match their closed forms and the normal limit``
            testCase "meanBand of 2 runs on the same grid, by hand" ``meanBand of 2 runs on the same grid, by hand``
            testCase
                "meanBand of 2 runs on different grids interpolates within the overlap"
                ``meanBand of 2 runs on different grids interpolates within the overlap``
            testCase "meanBand of 5 runs logged at different steps" ``meanBand of 5 runs logged at different steps``
            testCase
                "meanBand of one run is the run itself, and bad runs are rejected"
                ``meanBand of one run is the run itself, and bad runs are rejected``
            testCase
                "a band chart keeps a win rate's band within the runs' values: no axis below 0"
                ``a band chart keeps a win rate's band within the runs' values: no axis below 0``
            testCase
                "a band chart draws each group's mean line, a shaded band and \"name (n seeds)\""
                ``a band chart draws each group's mean line, a shaded band and "name (n seeds)"``
            testCase
                "a band chart of one seed draws no band, and names a group without runs"
                ``a band chart of one seed draws no band, and names a group without runs``
            testCase "learning curves are read off training events" ``learning curves are read off training events``
            testCase
                "win-rate curves are empty when the environment reports no wins"
                ``win-rate curves are empty when the environment reports no wins``
            testCase
                "learner diagnostics, episode lengths and casualties are read off training events"
                ``learner diagnostics, episode lengths and casualties are read off training events``
            testCase
                "reference lines are drawn dashed, covered by the y axis and listed in the legend"
                ``reference lines are drawn dashed, covered by the y axis and listed in the legend``
            testCase "seeds' events make a band chart" ``seeds' events make a band chart``
            testCase
                "save writes the chart atomically, creating the folder and leaving no temporary file"
                ``save writes the chart atomically, creating the folder and leaving no temporary file``
            testCase
                "xAxis ends a run's axis at its last step when that lies just past a tick"
                ``xAxis ends a run's axis at its last step when that lies just past a tick``
            testCase
                "a run's chart ends its x axis at the run's last step, not a tick step later"
                ``a run's chart ends its x axis at the run's last step, not a tick step later``
            testCase
                "negative control: the axis-end check fails on an axis that runs a tick step past the run"
                ``negative control: the axis-end check fails on an axis that runs a tick step past the run``
            testCase
                "aligned charts share their x range and plot-area edges"
                ``aligned charts share their x range and plot-area edges``
            testCase
                "negative control: the alignment check fails on charts drawn one by one"
                ``negative control: the alignment check fails on charts drawn one by one``
        ]
