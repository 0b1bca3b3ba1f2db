namespace Qmix.Functional

open System
open System.Globalization
open System.IO
open System.Text

/// <summary>A named line of (x, y) points, e.g. the test return against environment steps.</summary>
type Series =
    {
        /// <summary>The legend text.</summary>
        Name: string
        /// <summary>The points (x, y), drawn in this order. Points with a NaN or infinite coordinate are skipped, and
        /// the chart says how many.</summary>
        Points: (float * float)[]
    }

/// <summary>Several runs (seeds) of one configuration, drawn as their mean with a shaded 95% confidence band (see
/// <see cref="M:Qmix.Functional.Statistics.meanBand"/>).</summary>
type SeedGroup =
    {
        /// <summary>The configuration's name; the legend reads "name (n seeds)".</summary>
        Name: string
        /// <summary>One array of (x, y) points per run; runs may log at different x values.</summary>
        Runs: (float * float)[][]
    }

/// <summary>A horizontal reference line across a chart, drawn dashed with its own legend entry, e.g. the largest
/// plausible return beside the Q-values.</summary>
type ReferenceLine =
    {
        /// <summary>The legend text.</summary>
        Name: string
        /// <summary>The height of the line (the y axis covers it); finite.</summary>
        Y: float
    }

/// <summary>How a chart looks: <c>ChartConfig.defaults</c> is a 720 × 420 chart with the Tableau 10 palette.</summary>
type ChartConfig =
    {
        /// <summary>The title above the plot; empty for none (default empty).</summary>
        Title: string
        /// <summary>The x axis label; empty for none (default "step").</summary>
        XLabel: string
        /// <summary>The y axis label; empty for none (default empty).</summary>
        YLabel: string
        /// <summary>The width in pixels (default 720, at least 200).</summary>
        Width: int
        /// <summary>The height in pixels (default 420, at least 150).</summary>
        Height: int
        /// <summary>Line colours (any SVG colour), used in turn and repeated when there are more series (default
        /// Tableau 10: #1f77b4, #ff7f0e, #2ca02c, #d62728, #9467bd, #8c564b, #e377c2, #7f7f7f, #bcbd22, #17becf).</summary>
        Palette: string list
        /// <summary>The font family (default "sans-serif").</summary>
        FontFamily: string
        /// <summary>The font size of tick labels, axis labels and the legend, in pixels (default 12; the title is 1.3
        /// times larger).</summary>
        FontSize: float
        /// <summary>The width of the lines in pixels (default 2).</summary>
        StrokeWidth: float
        /// <summary>The opacity of confidence bands, 0 to 1 (default 0.2).</summary>
        BandOpacity: float
        /// <summary>A y range the axis covers at least, e.g. <c>Some(0.0, 1.0)</c> for win rates; data outside it
        /// widens the axis (default None: the data's range).</summary>
        YRange: (float * float) option
        /// <summary>Horizontal reference lines, drawn dashed in grey under the series (default none).</summary>
        ReferenceLines: ReferenceLine list
    }

    /// <summary>720 × 420 pixels, no title, x labelled "step", the Tableau 10 palette, 12 px sans-serif, 2 px lines,
    /// bands at opacity 0.2, the y range from the data, no reference lines.</summary>
    static member defaults =
        {
            Title = ""
            XLabel = "step"
            YLabel = ""
            Width = 720
            Height = 420
            Palette =
                [
                    "#1f77b4"
                    "#ff7f0e"
                    "#2ca02c"
                    "#d62728"
                    "#9467bd"
                    "#8c564b"
                    "#e377c2"
                    "#7f7f7f"
                    "#bcbd22"
                    "#17becf"
                ]
            FontFamily = "sans-serif"
            FontSize = 12.0
            StrokeWidth = 2.0
            BandOpacity = 0.2
            YRange = None
            ReferenceLines = []
        }

/// <summary>Line charts as standalone SVG documents, written by the library itself: learning curves, several series
/// with a legend, and the mean of several seeds with a shaded 95% confidence band.</summary>
[<RequireQualifiedAccess>]
module Plots =
    let private inv = CultureInfo.InvariantCulture

    let private finite = Statistics.finite

    let private finitePoint = Statistics.finitePoint

    // ---- ticks ----

    /// The tick step as mantissa × 10^exponent, mantissa 1, 2 or 5: the smallest such step giving at most `target`
    /// intervals over `span`.
    let private niceStep (span: float) (target: int) =
        let raw = span / float target
        let e = int (floor (log10 raw))
        let f = raw / Math.Pow(10.0, float e)
        let tol = 1e-9

        if f <= 1.0 + tol then 1, e
        elif f <= 2.0 + tol then 2, e
        elif f <= 5.0 + tol then 5, e
        else 1, e + 1

    /// k × m × 10^e computed so that the result is the double nearest to the decimal value (0.6, not
    /// 0.6000000000000001).
    let private tickValue (k: int64) (m: int) (e: int) =
        let km = float (k * int64 m)

        if e >= 0 then
            km * Math.Pow(10.0, float e)
        else
            km / Math.Pow(10.0, float -e)

    /// <summary>"Nice" tick values covering <c>[lo, hi]</c>: multiples of a step 1, 2 or 5 × 10^k chosen for at most
    /// 5 intervals, from the last multiple at or below <c>lo</c> to the first at or above <c>hi</c> (0..1 gives 0,
    /// 0.2, …, 1; 0..2,050,000 gives 0, 500k, …, 2.5M). When <c>lo = hi</c> the range is widened around the value
    /// (by 10% of it, or ±1 around 0).</summary>
    /// <exception cref="System.ArgumentException">A bound is NaN or infinite, or <c>lo &gt; hi</c>.</exception>
    let niceTicks (lo: float) (hi: float) : float[] =
        if not (finite lo && finite hi) then
            invalidArg "lo" (sprintf "Plots.niceTicks: the range [%g, %g] is not finite" lo hi)

        if lo > hi then
            invalidArg "lo" (sprintf "Plots.niceTicks: lo (%g) is above hi (%g)" lo hi)

        let lo, hi =
            if lo < hi then lo, hi
            elif lo = 0.0 then -1.0, 1.0
            else lo - 0.1 * abs lo, hi + 0.1 * abs hi

        if not (finite (hi - lo)) then
            invalidArg "hi" (sprintf "Plots.niceTicks: the range [%g, %g] is too wide to divide" lo hi)

        let m, e = niceStep (hi - lo) 5
        let step = tickValue 1L m e
        let k0 = int64 (floor (lo / step + 1e-9))
        let k1 = int64 (ceil (hi / step - 1e-9))
        [| for k in k0..k1 -> tickValue k m e |]

    /// <summary>The ticks of an x axis over the data's range <c>[lo, hi]</c>, and the range the axis spans: the ticks of
    /// <see cref="M:Qmix.Functional.Plots.niceTicks"/>, except that when the data ends less than 5% of its span past a
    /// tick, the axis ends at the data's last x instead of a whole tick step later (a run of 20,013 steps gets ticks
    /// 0, 5k, …, 20k on an axis to 20,013, not an axis to 25k; one of 49,000 gets 0, 10k, …, 50k).</summary>
    /// <returns>The ticks, and the axis's first and last x (the first is the first tick).</returns>
    /// <exception cref="System.ArgumentException">A bound is NaN or infinite, or <c>lo &gt; hi</c>.</exception>
    let xAxis (lo: float) (hi: float) : float[] * float * float =
        if not (finite lo && finite hi) || lo >= hi then
            let ticks = niceTicks lo hi
            ticks, ticks[0], ticks[ticks.Length - 1]
        else
            let ticks = niceTicks lo (hi - 0.05 * (hi - lo))
            ticks, ticks[0], max ticks[ticks.Length - 1] hi

    /// <summary>A compact label for a tick value, given the step between ticks: no more decimals than the step needs,
    /// thousands as k, millions as M and billions as G (500000 → "500k", 1500000 → "1.5M", 0.2 → "0.2").</summary>
    let tickLabel (step: float) (value: float) : string =
        let step = abs step

        if value = 0.0 || (step > 0.0 && abs value < step * 1e-6) then
            "0"
        else
            let a = abs value

            let unit, suffix =
                if a >= 1e9 then 1e9, "G"
                elif a >= 1e6 then 1e6, "M"
                elif a >= 1e3 then 1e3, "k"
                else 1.0, ""

            let s = if step > 0.0 then step / unit else 1.0
            let decimals = max 0 (min 15 (int (ceil (-(log10 s) - 1e-9))))
            let format = if decimals = 0 then "0" else "0." + String('#', decimals)
            (value / unit).ToString(format, inv) + suffix

    /// <summary>The labels of ticks from <see cref="M:Qmix.Functional.Plots.niceTicks"/>, each by
    /// <see cref="M:Qmix.Functional.Plots.tickLabel"/> with the step between the ticks.</summary>
    let tickLabels (ticks: float[]) : string[] =
        let step = if ticks.Length > 1 then ticks[1] - ticks[0] else 0.0
        ticks |> Array.map (tickLabel step)

    // ---- SVG ----

    /// Text for XML content and attribute values: markup characters escaped, characters XML forbids dropped.
    let private escape (s: string) =
        let b = StringBuilder(s.Length)

        for c in s do
            match c with
            | '&' -> b.Append "&amp;" |> ignore
            | '<' -> b.Append "&lt;" |> ignore
            | '>' -> b.Append "&gt;" |> ignore
            | '"' -> b.Append "&quot;" |> ignore
            | '\'' -> b.Append "&apos;" |> ignore
            | c when c < ' ' && c <> '\t' && c <> '\n' && c <> '\r' -> ()
            | c when c = '\uFFFE' || c = '\uFFFF' -> ()
            | c -> b.Append c |> ignore

        b.ToString()

    let private num (x: float) = x.ToString("0.##", inv)

    /// One thing to draw: a line, optionally with a band (x, lo, hi) under it.
    type private Layer =
        {
            Label: string
            Key: string
            Line: (float * float)[]
            Band: (float * float * float)[]
            Skipped: int
        }

    /// The x range and plot-area margins that charts stacked one above the other share: the x axis covers at least
    /// [XLo, XHi]; the plot area starts at least Left pixels from the left edge and ends at least Right pixels before
    /// the right edge.
    type private Frame =
        {
            XLo: float
            XHi: float
            Left: float
            Right: float
        }

    /// The colour of reference lines.
    let private referenceColour = "#555555"

    /// Where a chart's parts go: the axes' ticks and labels, the plot area in pixels, the notes under it, and the
    /// legend's colours and shortened names.
    type private Geometry =
        {
            Config: ChartConfig
            XTicks: float[]
            YTicks: float[]
            XLabels: string[]
            YLabels: string[]
            /// The data range the axes span.
            X0: float
            X1: float
            Y0: float
            Y1: float
            /// The plot area: left, right, top and bottom edges in pixels.
            Px0: float
            Px1: float
            Py0: float
            Py1: float
            TitleFontSize: float
            Notes: string list
            /// The left margin the chart's own labels need, and the legend's width.
            NaturalLeft: float
            LegendWidth: float
            /// A legend name cut to the legend's width.
            Shorten: string -> string
        }

        /// The pixel x of a data x.
        member g.Sx(x: float) =
            g.Px0 + (x - g.X0) / (g.X1 - g.X0) * (g.Px1 - g.Px0)

        /// The pixel y of a data y.
        member g.Sy(y: float) =
            g.Py1 - (y - g.Y0) / (g.Y1 - g.Y0) * (g.Py1 - g.Py0)

        /// The colour of the i-th series.
        member g.Colour(i: int) =
            let palette = g.Config.Palette
            List.item (i % List.length palette) palette

    /// Lays a chart out: the data's range widened to the configured y range and reference lines, nice ticks, the
    /// margins its labels, legend and notes need (at least the frame's, when charts are stacked).
    let private layout (cfg: ChartConfig) (frame: Frame option) (layers: Layer list) : Geometry =
        let fs = cfg.FontSize
        let cw = 0.6 * fs // an average character's width
        // the data's range, widened to cover cfg.YRange
        let xs =
            [|
                for l in layers do
                    yield! Array.map fst l.Line
                    yield! l.Band |> Array.map (fun (x, _, _) -> x)
                match frame with
                | Some f ->
                    yield f.XLo
                    yield f.XHi
                | None -> ()
            |]

        let ys =
            [|
                for l in layers do
                    yield! Array.map snd l.Line

                    for (_, lo, hi) in l.Band do
                        yield lo
                        yield hi
                match cfg.YRange with
                | Some(a, b) ->
                    yield a
                    yield b
                | None -> ()

                for r in cfg.ReferenceLines do
                    yield r.Y
            |]

        let xTicks, x0, x1 = xAxis (Array.min xs) (Array.max xs)
        let yTicks = niceTicks (Array.min ys) (Array.max ys)
        let xLabels, yLabels = tickLabels xTicks, tickLabels yTicks
        let y0, y1 = yTicks[0], yTicks[yTicks.Length - 1]

        let notes =
            [
                for l in layers do
                    if l.Skipped > 0 then
                        sprintf
                            "%d point%s with a NaN or infinite value skipped in \"%s\""
                            l.Skipped
                            (if l.Skipped = 1 then "" else "s")
                            l.Label
            ]

        // layout: margins around the plot area, the legend on the right
        let titleFs = 1.3 * fs
        let hasTitle = cfg.Title <> ""
        let top = 14.0 + (if hasTitle then titleFs + 12.0 else 0.0)

        let yTickWidth = float (yLabels |> Array.map String.length |> Array.max) * cw

        let naturalLeft =
            12.0 + (if cfg.YLabel <> "" then fs + 10.0 else 0.0) + yTickWidth + 10.0

        let left =
            match frame with
            | Some f -> max naturalLeft f.Left
            | None -> naturalLeft

        let bottom =
            12.0
            + fs
            + 8.0
            + (if cfg.XLabel <> "" then fs + 10.0 else 0.0)
            + float notes.Length * (fs + 4.0)

        let w, h = float cfg.Width, float cfg.Height

        // the legend takes at most 40% of the width: longer names are cut short with "…" (the full name stays in
        // the series' data-series attribute)
        let maxKey = max 4 (int ((0.4 * w - 60.0) / cw))

        let shorten (k: string) =
            if k.Length <= maxKey then
                k
            else
                k.Substring(0, maxKey - 1) + "…"

        let key (l: Layer) = shorten l.Key

        let legendWidth =
            float (
                (layers |> List.map (fun l -> (key l).Length))
                @ (cfg.ReferenceLines |> List.map (fun r -> (shorten r.Name).Length))
                |> List.max
            )
            * cw
            + 24.0
            + 6.0
            + 30.0

        let right =
            match frame with
            | Some f -> max legendWidth f.Right
            | None -> legendWidth

        let px0, px1 = left, w - right
        let py0, py1 = top, h - bottom

        if px1 - px0 < 60.0 || py1 - py0 < 60.0 then
            invalidArg
                "config"
                (sprintf
                    "Plots: a %d × %d chart leaves no room to plot (make it larger, the font smaller or the names shorter)"
                    cfg.Width
                    cfg.Height)

        {
            Config = cfg
            XTicks = xTicks
            YTicks = yTicks
            XLabels = xLabels
            YLabels = yLabels
            X0 = x0
            X1 = x1
            Y0 = y0
            Y1 = y1
            Px0 = px0
            Px1 = px1
            Py0 = py0
            Py1 = py1
            TitleFontSize = titleFs
            Notes = notes
            NaturalLeft = naturalLeft
            LegendWidth = legendWidth
            Shorten = shorten
        }

    /// The document's opening, background and title, the grid, the axes with their ticks and tick labels, and the
    /// axis labels.
    let private drawFrame (add: string -> unit) (g: Geometry) =
        let cfg, fs = g.Config, g.Config.FontSize
        let px0, px1, py0, py1 = g.Px0, g.Px1, g.Py0, g.Py1
        let sx, sy = g.Sx, g.Sy
        let xTicks, yTicks, xLabels, yLabels = g.XTicks, g.YTicks, g.XLabels, g.YLabels
        let titleFs, hasTitle = g.TitleFontSize, cfg.Title <> ""

        add (
            sprintf
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"%s\" font-size=\"%s\">"
                cfg.Width
                cfg.Height
                cfg.Width
                cfg.Height
                (escape cfg.FontFamily)
                (num fs)
        )

        if hasTitle then
            add (sprintf "<title>%s</title>" (escape cfg.Title))

        add "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"white\"/>"

        if hasTitle then
            add (
                sprintf
                    "<text class=\"title\" x=\"%s\" y=\"%s\" text-anchor=\"middle\" font-size=\"%s\" font-weight=\"bold\">%s</text>"
                    (num ((px0 + px1) / 2.0))
                    (num (14.0 + titleFs))
                    (num titleFs)
                    (escape cfg.Title)
            )

        // grid lines and tick labels
        add "<g class=\"grid\" stroke=\"#e0e0e0\" stroke-width=\"1\">"

        for t in xTicks do
            add (
                sprintf "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>" (num (sx t)) (num py0) (num (sx t)) (num py1)
            )

        for t in yTicks do
            add (
                sprintf "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>" (num px0) (num (sy t)) (num px1) (num (sy t))
            )

        add "</g>"
        add "<g class=\"axes\" stroke=\"#333333\" stroke-width=\"1\" fill=\"none\">"
        add (sprintf "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>" (num px0) (num py1) (num px1) (num py1))
        add (sprintf "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>" (num px0) (num py0) (num px0) (num py1))

        for t in xTicks do
            add (
                sprintf
                    "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>"
                    (num (sx t))
                    (num py1)
                    (num (sx t))
                    (num (py1 + 5.0))
            )

        for t in yTicks do
            add (
                sprintf
                    "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>"
                    (num (px0 - 5.0))
                    (num (sy t))
                    (num px0)
                    (num (sy t))
            )

        add "</g>"
        add "<g class=\"x-ticks\" fill=\"#333333\" text-anchor=\"middle\">"

        for t, l in Array.zip xTicks xLabels do
            add (sprintf "<text x=\"%s\" y=\"%s\">%s</text>" (num (sx t)) (num (py1 + 8.0 + fs)) (escape l))

        add "</g>"
        add "<g class=\"y-ticks\" fill=\"#333333\" text-anchor=\"end\">"

        for t, l in Array.zip yTicks yLabels do
            add (sprintf "<text x=\"%s\" y=\"%s\">%s</text>" (num (px0 - 8.0)) (num (sy t + 0.35 * fs)) (escape l))

        add "</g>"

        if cfg.XLabel <> "" then
            add (
                sprintf
                    "<text class=\"x-label\" x=\"%s\" y=\"%s\" text-anchor=\"middle\" fill=\"#333333\">%s</text>"
                    (num ((px0 + px1) / 2.0))
                    (num (py1 + 8.0 + fs + 10.0 + fs))
                    (escape cfg.XLabel)
            )

        if cfg.YLabel <> "" then
            let cx, cy = 12.0 + fs * 0.8, (py0 + py1) / 2.0

            add (
                sprintf
                    "<text class=\"y-label\" x=\"%s\" y=\"%s\" text-anchor=\"middle\" fill=\"#333333\" transform=\"rotate(-90 %s %s)\">%s</text>"
                    (num cx)
                    (num cy)
                    (num cx)
                    (num cy)
                    (escape cfg.YLabel)
            )

    /// Every layer's band, then the reference lines: both under every series.
    let private drawBands (add: string -> unit) (g: Geometry) (layers: Layer list) =
        let cfg = g.Config
        let px0, px1 = g.Px0, g.Px1
        let sx, sy, colour = g.Sx, g.Sy, g.Colour

        // bands first, so that every line is drawn over every band
        layers
        |> List.iteri (fun i l ->
            if l.Band.Length > 0 then
                let upper =
                    l.Band
                    |> Array.map (fun (x, _, hi) -> sprintf "%s,%s" (num (sx x)) (num (sy hi)))

                let lower =
                    l.Band
                    |> Array.rev
                    |> Array.map (fun (x, lo, _) -> sprintf "%s,%s" (num (sx x)) (num (sy lo)))

                add (
                    sprintf
                        "<path class=\"band\" data-series=\"%s\" d=\"M %s L %s Z\" fill=\"%s\" fill-opacity=\"%s\" stroke=\"none\"/>"
                        (escape l.Label)
                        (String.Join(" L ", upper))
                        (String.Join(" L ", lower))
                        (escape (colour i))
                        (num cfg.BandOpacity)
                ))

        // reference lines under the series
        for r in cfg.ReferenceLines do
            add (
                sprintf
                    "<line class=\"reference\" data-series=\"%s\" x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"%s\" stroke-width=\"%s\" stroke-dasharray=\"6 4\"/>"
                    (escape r.Name)
                    (num px0)
                    (num (sy r.Y))
                    (num px1)
                    (num (sy r.Y))
                    referenceColour
                    (num (0.75 * cfg.StrokeWidth))
            )

    /// Every layer's line (a single point as a dot).
    let private drawSeries (add: string -> unit) (g: Geometry) (layers: Layer list) =
        let cfg = g.Config
        let sx, sy, colour = g.Sx, g.Sy, g.Colour

        layers
        |> List.iteri (fun i l ->
            let points =
                l.Line |> Array.map (fun (x, y) -> sprintf "%s,%s" (num (sx x)) (num (sy y)))

            add (
                sprintf
                    "<polyline class=\"series\" data-series=\"%s\" points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" stroke-linejoin=\"round\" stroke-linecap=\"round\"/>"
                    (escape l.Label)
                    (String.Join(" ", points))
                    (escape (colour i))
                    (num cfg.StrokeWidth)
            )

            // a single point draws no line: mark it
            if l.Line.Length = 1 then
                let x, y = l.Line[0]

                add (
                    sprintf
                        "<circle class=\"marker\" cx=\"%s\" cy=\"%s\" r=\"%s\" fill=\"%s\"/>"
                        (num (sx x))
                        (num (sy y))
                        (num (cfg.StrokeWidth + 2.0))
                        (escape (colour i))
                ))

    /// The legend right of the plot: a key per layer, then one per reference line.
    let private drawLegend (add: string -> unit) (g: Geometry) (layers: Layer list) =
        let cfg, fs = g.Config, g.Config.FontSize
        let px1, py0 = g.Px1, g.Py0
        let colour, shorten = g.Colour, g.Shorten
        let key (l: Layer) = shorten l.Key

        // the legend, right of the plot
        add "<g class=\"legend\" fill=\"#333333\">"
        let lx = px1 + 18.0

        layers
        |> List.iteri (fun i l ->
            let y = py0 + 6.0 + float i * (fs + 8.0)

            if l.Band.Length > 0 then
                add (
                    sprintf
                        "<rect x=\"%s\" y=\"%s\" width=\"24\" height=\"%s\" fill=\"%s\" fill-opacity=\"%s\"/>"
                        (num lx)
                        (num (y - fs * 0.5))
                        (num fs)
                        (escape (colour i))
                        (num cfg.BandOpacity)
                )

            add (
                sprintf
                    "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"%s\" stroke-width=\"%s\"/>"
                    (num lx)
                    (num y)
                    (num (lx + 24.0))
                    (num y)
                    (escape (colour i))
                    (num cfg.StrokeWidth)
            )

            add (sprintf "<text x=\"%s\" y=\"%s\">%s</text>" (num (lx + 30.0)) (num (y + 0.35 * fs)) (escape (key l))))

        cfg.ReferenceLines
        |> List.iteri (fun j r ->
            let y = py0 + 6.0 + float (layers.Length + j) * (fs + 8.0)

            add (
                sprintf
                    "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"%s\" stroke-width=\"%s\" stroke-dasharray=\"6 4\"/>"
                    (num lx)
                    (num y)
                    (num (lx + 24.0))
                    (num y)
                    referenceColour
                    (num (0.75 * cfg.StrokeWidth))
            )

            add (
                sprintf
                    "<text x=\"%s\" y=\"%s\">%s</text>"
                    (num (lx + 30.0))
                    (num (y + 0.35 * fs))
                    (escape (shorten r.Name))
            ))

        add "</g>"

    /// The notes under the chart (skipped points), and the document's end.
    let private drawNotes (add: string -> unit) (g: Geometry) =
        let fs, h, notes = g.Config.FontSize, float g.Config.Height, g.Notes

        notes
        |> List.iteri (fun i n ->
            add (
                sprintf
                    "<text class=\"note\" x=\"%s\" y=\"%s\" fill=\"#a04000\" font-style=\"italic\">%s</text>"
                    (num 12.0)
                    (num (h - 10.0 - float (notes.Length - 1 - i) * (fs + 4.0)))
                    (escape n)
            ))

        add "</svg>"

    /// The chart, and the left and right margins its own labels and legend need (before any frame widens them).
    let private renderIn (cfg: ChartConfig) (frame: Frame option) (layers: Layer list) : string * float * float =
        let g = layout cfg frame layers
        let b = StringBuilder()
        let add (s: string) = b.Append(s).Append('\n') |> ignore
        drawFrame add g
        drawBands add g layers
        drawSeries add g layers
        drawLegend add g layers
        drawNotes add g
        b.ToString(), g.NaturalLeft, g.LegendWidth

    let private render (cfg: ChartConfig) (layers: Layer list) : string =
        let svg, _, _ = renderIn cfg None layers
        svg

    let private checkConfig (cfg: ChartConfig) =
        if cfg.Width < 200 || cfg.Height < 150 then
            invalidArg
                "config"
                (sprintf "Plots: a chart is at least 200 × 150 pixels (got %d × %d)" cfg.Width cfg.Height)

        if List.isEmpty cfg.Palette then
            invalidArg "config" "Plots: the palette has no colours"

        if not (finite cfg.FontSize && cfg.FontSize > 0.0) then
            invalidArg "config" (sprintf "Plots: the font size must be positive (got %g)" cfg.FontSize)

        match cfg.YRange with
        | Some(a, b) when not (finite a && finite b) ->
            invalidArg "config" (sprintf "Plots: the y range (%g, %g) is not finite" a b)
        | _ -> ()

        for r in cfg.ReferenceLines do
            if not (finite r.Y) then
                invalidArg
                    "config"
                    (sprintf "Plots: the reference line \"%s\" is at %g, not a finite height" r.Name r.Y)

    /// The layers of a line chart's series, checked.
    let private lineLayers (series: Series list) =
        if List.isEmpty series then
            invalidArg "series" "Plots.lineChart: no series to draw"

        series
        |> List.map (fun s ->
            if isNull (box s.Points) || s.Points.Length = 0 then
                invalidArg "series" (sprintf "Plots.lineChart: series \"%s\" has no points" s.Name)

            let line = s.Points |> Array.filter finitePoint

            if line.Length = 0 then
                invalidArg
                    "series"
                    (sprintf
                        "Plots.lineChart: series \"%s\" has no finite points (all %d are NaN or infinite)"
                        s.Name
                        s.Points.Length)

            {
                Label = s.Name
                Key = s.Name
                Line = line
                Band = [||]
                Skipped = s.Points.Length - line.Length
            })

    /// <summary>A standalone SVG line chart of several series: axes with nice ticks (1, 2 or 5 × 10^k) and compact tick
    /// labels, the axis labels and title of <c>config</c>, one polyline per series in the palette's colours, and a
    /// legend. Points with a NaN or infinite coordinate are skipped and a note under the chart says how many; a
    /// series of one point is drawn as a dot; a flat series gets a y axis around its value.</summary>
    /// <exception cref="System.ArgumentException">There are no series, a series has no finite points (the message
    /// names it), or the configuration is out of range.</exception>
    let lineChart (config: ChartConfig) (series: Series list) : string =
        checkConfig config
        render config (lineLayers series)

    /// <summary>Line charts to be stacked one above the other (e.g. a run's returns over its learner diagnostics),
    /// drawn so that their x axes line up: each as <see cref="M:Qmix.Functional.Plots.lineChart"/> draws it, but all
    /// on the x range of all their points together and with the same plot-area left and right edges (the widest
    /// tick labels' and legend's).</summary>
    /// <returns>The charts, in the order of <c>panels</c>.</returns>
    /// <exception cref="System.ArgumentException">There are no panels, the panels differ in width, or a panel is one
    /// that <see cref="M:Qmix.Functional.Plots.lineChart"/> rejects.</exception>
    let alignedLineCharts (panels: (ChartConfig * Series list) list) : string list =
        if List.isEmpty panels then
            invalidArg "panels" "Plots.alignedLineCharts: no charts to draw"

        match panels |> List.map (fun (c, _) -> c.Width) |> List.distinct with
        | [ _ ] -> ()
        | widths ->
            invalidArg
                "panels"
                (sprintf
                    "Plots.alignedLineCharts: the charts differ in width (%s pixels); stacked charts line up only at one width"
                    (String.Join(", ", widths)))

        let laid =
            panels
            |> List.map (fun (cfg, series) ->
                checkConfig cfg
                cfg, lineLayers series)

        let xs =
            [|
                for _, layers in laid do
                    for l in layers do
                        yield! Array.map fst l.Line
            |]

        let measured = laid |> List.map (fun (cfg, layers) -> renderIn cfg None layers)

        let frame =
            {
                XLo = Array.min xs
                XHi = Array.max xs
                Left = measured |> List.map (fun (_, l, _) -> l) |> List.max
                Right = measured |> List.map (fun (_, _, r) -> r) |> List.max
            }

        laid
        |> List.map (fun (cfg, layers) ->
            let svg, _, _ = renderIn cfg (Some frame) layers
            svg)

    /// <summary>A standalone SVG chart of several configurations run with several seeds each: for each group the mean
    /// line of its runs over a shaded 95% confidence band (<see cref="M:Qmix.Functional.Statistics.meanBand"/>, drawn
    /// within the smallest and largest value of the group's runs, where their mean lies: a win rate's band stays in
    /// [0, 1]), in the palette's colours at <c>config.BandOpacity</c>, and a legend entry "name (n seeds)".</summary>
    /// <exception cref="System.ArgumentException">There are no groups, a group has no runs (the message names it),
    /// <see cref="M:Qmix.Functional.Statistics.meanBand"/> rejects a group's runs, or the configuration is out of
    /// range.</exception>
    let bandChart (config: ChartConfig) (groups: SeedGroup list) : string =
        checkConfig config

        if List.isEmpty groups then
            invalidArg "groups" "Plots.bandChart: no groups to draw"

        let layers =
            groups
            |> List.map (fun g ->
                if isNull g.Runs || g.Runs.Length = 0 then
                    invalidArg "groups" (sprintf "Plots.bandChart: group \"%s\" has no runs" g.Name)

                let band =
                    try
                        Statistics.meanBand g.Runs
                    with :? ArgumentException as e ->
                        raise (
                            ArgumentException(
                                sprintf "Plots.bandChart: group \"%s\": %s" g.Name e.Message,
                                "groups",
                                e
                            )
                        )

                let n = g.Runs.Length

                let skipped =
                    g.Runs
                    |> Array.sumBy (fun r -> r |> Array.filter (finitePoint >> not) |> Array.length)

                {
                    Label = g.Name
                    Key = sprintf "%s (%d seed%s)" g.Name n (if n = 1 then "" else "s")
                    Line = band |> Array.map (fun (x, m, _, _) -> x, m)
                    Band =
                        if n > 1 then
                            // a mean of the runs lies within their values: the interval is drawn within them too
                            // (a win rate's band does not dip below 0)
                            let values = g.Runs |> Array.collect (Array.filter finitePoint >> Array.map snd)

                            let floor, ceiling = Array.min values, Array.max values

                            band |> Array.map (fun (x, _, lo, hi) -> x, max floor lo, min ceiling hi)
                        else
                            [||]
                    Skipped = skipped
                })

        render config layers

    // ---- files ----

    /// <summary>Writes an SVG document to a file atomically: to a temporary file in the same folder, then renamed
    /// over <c>path</c>, so that a reader never sees half a chart. Creates the folder when it is missing.</summary>
    /// <exception cref="System.ArgumentException"><c>path</c> is empty.</exception>
    let save (path: string) (svg: string) : unit =
        if String.IsNullOrWhiteSpace path then
            invalidArg "path" "Plots.save: the path is empty"

        let full = Path.GetFullPath path
        let dir = Path.GetDirectoryName full

        if not (String.IsNullOrEmpty dir) then
            Directory.CreateDirectory dir |> ignore

        let tmp =
            Path.Combine(dir, sprintf ".%s.%s.tmp" (Path.GetFileName full) (Guid.NewGuid().ToString "N"))

        try
            File.WriteAllText(tmp, svg, UTF8Encoding(false))
            File.Move(tmp, full, true)
        with _ ->
            if File.Exists tmp then
                File.Delete tmp

            reraise ()
