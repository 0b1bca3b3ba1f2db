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
/// <see cref="M:Qmix.Functional.Plots.meanBand"/>).</summary>
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

/// <summary>A learning curve that can be read off a run's <see cref="T:Qmix.Functional.TrainingEvent"/>s.</summary>
type Curve =
    /// <summary>The mean return of the greedy test episodes against steps (<c>Tested</c> events).</summary>
    | TestReturn
    /// <summary>The mean return of the exploring training episodes against steps (<c>Collected</c> events).</summary>
    | TrainReturn
    /// <summary>The learner's loss against steps (<c>Updated</c> events).</summary>
    | Loss
    /// <summary>The win rate of the greedy test episodes against steps, where the environment reports wins.</summary>
    | TestWinRate
    /// <summary>The win rate of the training episodes against steps, where the environment reports wins.</summary>
    | TrainWinRate
    /// <summary>The mean Q_tot of the taken joint actions in each update (PyMARL's <c>q_taken_mean</c>).</summary>
    | QTakenMean
    /// <summary>The mean TD target in each update (PyMARL's <c>target_mean</c>).</summary>
    | TargetMean
    /// <summary>The mean |TD error| in each update (PyMARL's <c>td_error_abs</c>).</summary>
    | TdErrorAbs
    /// <summary>The gradient norm before clipping in each update (PyMARL's <c>grad_norm</c>).</summary>
    | GradNorm
    /// <summary>The mean length of the training episodes (PyMARL's <c>ep_length_mean</c>).</summary>
    | TrainEpisodeLength
    /// <summary>The mean length of the greedy test episodes (PyMARL's <c>test_ep_length_mean</c>).</summary>
    | TestEpisodeLength
    /// <summary>The team's mean dead units at the end of a training episode, where the environment reports
    /// casualties.</summary>
    | TrainDeadAllies
    /// <summary>The opponents' mean dead units at the end of a training episode, where the environment reports
    /// casualties.</summary>
    | TrainDeadEnemies
    /// <summary>The team's mean dead units at the end of a test episode, where the environment reports
    /// casualties.</summary>
    | TestDeadAllies
    /// <summary>The opponents' mean dead units at the end of a test episode, where the environment reports
    /// casualties.</summary>
    | TestDeadEnemies

/// <summary>Line charts as standalone SVG documents, written by the library itself: learning curves, several series
/// with a legend, and the mean of several seeds with a shaded 95% confidence band.</summary>
[<RequireQualifiedAccess>]
module Plots =
    let private inv = CultureInfo.InvariantCulture

    let private finite (x: float) =
        not (Double.IsNaN x || Double.IsInfinity x)

    let private finitePoint (x, y) = finite x && finite y

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

    // ---- statistics ----

    /// Two-sided 95% critical values of Student's t for 1..30 degrees of freedom (t_{0.975, ν}).
    let private tTable =
        [|
            12.706204736
            4.302652730
            3.182446305
            2.776445105
            2.570581836
            2.446911851
            2.364624252
            2.306004135
            2.262157163
            2.228138852
            2.200985160
            2.178812830
            2.160368656
            2.144786688
            2.131449546
            2.119905299
            2.109815578
            2.100922040
            2.093024054
            2.085963447
            2.079613845
            2.073873068
            2.068657610
            2.063898562
            2.059538553
            2.055529439
            2.051830516
            2.048407142
            2.045229642
            2.042272456
        |]

    /// <summary>The critical value t such that a Student-t variable with <c>df</c> degrees of freedom lies in
    /// [−t, t] with probability 0.95 (the 0.975 quantile): tabulated to 10 digits for 1 to 30 degrees of freedom,
    /// above that the Cornish–Fisher expansion around the normal quantile z = 1.959964 (error below 1e-6).</summary>
    /// <exception cref="System.ArgumentException"><c>df</c> is below 1.</exception>
    let tCritical95 (df: int) : float =
        if df < 1 then
            invalidArg "df" (sprintf "Plots.tCritical95: %d degrees of freedom (at least 1)" df)
        elif df <= tTable.Length then
            tTable[df - 1]
        else
            let z = 1.959963984540054
            let v = float df

            z
            + (z ** 3.0 + z) / (4.0 * v)
            + (5.0 * z ** 5.0 + 16.0 * z ** 3.0 + 3.0 * z) / (96.0 * v * v)
            + (3.0 * z ** 7.0 + 19.0 * z ** 5.0 + 17.0 * z ** 3.0 - 15.0 * z)
              / (384.0 * v ** 3.0)

    /// A run's finite points sorted by x, points sharing an x averaged.
    let private cleanRun (i: int) (run: (float * float)[]) =
        if isNull run then
            invalidArg "runs" (sprintf "Plots.meanBand: run %d is null" i)

        let pts =
            run
            |> Array.filter finitePoint
            |> Array.sortBy fst
            |> Array.groupBy fst
            |> Array.map (fun (x, g) -> x, Array.averageBy snd g)

        if pts.Length = 0 then
            invalidArg "runs" (sprintf "Plots.meanBand: run %d has no finite points" i)

        Array.map fst pts, Array.map snd pts

    /// Linear interpolation of a run (sorted xs) at x within [xs[0], xs[^1]].
    let private interpolate (xs: float[], ys: float[]) (x: float) =
        let i = Array.BinarySearch(xs, x)

        if i >= 0 then
            ys[i]
        else
            let j = ~~~i // first index with xs[j] > x; 0 < j < xs.Length inside the range
            let x0, x1 = xs[j - 1], xs[j]
            ys[j - 1] + (ys[j] - ys[j - 1]) * (x - x0) / (x1 - x0)

    /// <summary>The mean of several runs with a 95% confidence interval of the mean, as (x, mean, lo, hi) points.
    /// Runs may log at different x values: the grid is every x at which some run logged that lies in the range all
    /// runs cover (from the latest first x to the earliest last x), and each run is interpolated linearly onto it.
    /// At each x, with the n runs' values y_i, mean m and sample standard deviation s = √(Σ(y_i − m)² / (n − 1)), the
    /// interval is m ± t · s / √n, where t is the 0.975 quantile of Student's t with n − 1 degrees of freedom
    /// (<see cref="M:Qmix.Functional.Plots.tCritical95"/>: 12.71 for 2 runs, 2.78 for 5). With one run, lo = hi =
    /// mean. Points with a NaN or infinite coordinate are dropped; points of one run sharing an x are averaged.</summary>
    /// <exception cref="System.ArgumentException">There are no runs, a run has no finite points, or the runs' x
    /// ranges do not overlap.</exception>
    let meanBand (runs: (float * float)[][]) : (float * float * float * float)[] =
        if isNull runs || runs.Length = 0 then
            invalidArg "runs" "Plots.meanBand: no runs"

        let clean = runs |> Array.mapi cleanRun
        let lo = clean |> Array.map (fun (xs, _) -> xs[0]) |> Array.max
        let hi = clean |> Array.map (fun (xs, _) -> xs[xs.Length - 1]) |> Array.min

        if lo > hi then
            invalidArg
                "runs"
                (sprintf
                    "Plots.meanBand: the runs' x ranges do not overlap (the latest start is %g, the earliest end %g)"
                    lo
                    hi)

        let grid =
            clean
            |> Array.collect fst
            |> Array.filter (fun x -> x >= lo && x <= hi)
            |> Array.distinct
            |> Array.sort

        let n = clean.Length
        let t = if n > 1 then tCritical95 (n - 1) else 0.0

        grid
        |> Array.map (fun x ->
            let ys = clean |> Array.map (fun run -> interpolate run x)
            let m = Array.average ys

            if n = 1 then
                x, m, m, m
            else
                let s2 = (ys |> Array.sumBy (fun y -> (y - m) * (y - m))) / float (n - 1)
                let h = t * sqrt (s2 / float n)
                x, m, m - h, m + h)

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

    /// The chart, and the left and right margins its own labels and legend need (before any frame widens them).
    let private renderIn (cfg: ChartConfig) (frame: Frame option) (layers: Layer list) : string * float * float =
        let fs = cfg.FontSize
        let cw = 0.6 * fs // an average character's width
        let palette = Array.ofList cfg.Palette
        let colour i = palette[i % palette.Length]

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

        let sx x =
            px0 + (x - x0) / (x1 - x0) * (px1 - px0)

        let sy y =
            py1 - (y - y0) / (y1 - y0) * (py1 - py0)

        let b = StringBuilder()
        let add (s: string) = b.Append(s).Append('\n') |> ignore

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
        b.ToString(), naturalLeft, legendWidth

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
    /// line of its runs over a shaded 95% confidence band (<see cref="M:Qmix.Functional.Plots.meanBand"/>, drawn
    /// within the smallest and largest value of the group's runs, where their mean lies: a win rate's band stays in
    /// [0, 1]), in the palette's colours at <c>config.BandOpacity</c>, and a legend entry "name (n seeds)".</summary>
    /// <exception cref="System.ArgumentException">There are no groups, a group has no runs (the message names it),
    /// <see cref="M:Qmix.Functional.Plots.meanBand"/> rejects a group's runs, or the configuration is out of
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
                        meanBand g.Runs
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

    // ---- learning curves ----

    /// <summary>The legend name of a learning curve: "test return", "train return", "loss", "test win rate",
    /// "train win rate", "Q taken", "target", "TD |error|", "grad norm", "train episode length", "test episode length",
    /// "train dead allies", "train dead enemies", "test dead allies" or "test dead enemies".</summary>
    let curveName (curve: Curve) : string =
        match curve with
        | TestReturn -> "test return"
        | TrainReturn -> "train return"
        | Loss -> "loss"
        | TestWinRate -> "test win rate"
        | TrainWinRate -> "train win rate"
        | QTakenMean -> "Q taken"
        | TargetMean -> "target"
        | TdErrorAbs -> "TD |error|"
        | GradNorm -> "grad norm"
        | TrainEpisodeLength -> "train episode length"
        | TestEpisodeLength -> "test episode length"
        | TrainDeadAllies -> "train dead allies"
        | TrainDeadEnemies -> "train dead enemies"
        | TestDeadAllies -> "test dead allies"
        | TestDeadEnemies -> "test dead enemies"

    /// <summary>A learning curve read off a run's events, against environment steps, named by
    /// <see cref="M:Qmix.Functional.Plots.curveName"/>. The points are in the events' order; a win-rate curve has
    /// points only where the events report a win rate (none for environments without wins), a dead-units curve only
    /// where they report casualties.</summary>
    let learningCurve (curve: Curve) (events: TrainingEvent seq) : Series =
        let points =
            events
            |> Seq.choose (fun e ->
                match curve, e with
                | TestReturn, Tested t -> Some(float t.Step, float t.MeanReturn)
                | TestWinRate, Tested t -> t.WinRate |> Option.map (fun w -> float t.Step, float w)
                | TrainReturn, Collected c -> Some(float c.Step, float c.MeanReturn)
                | TrainWinRate, Collected c -> c.WinRate |> Option.map (fun w -> float c.Step, float w)
                | Loss, Updated u -> Some(float u.Step, float u.Metrics.Loss)
                | QTakenMean, Updated u -> Some(float u.Step, float u.Metrics.QTakenMean)
                | TargetMean, Updated u -> Some(float u.Step, float u.Metrics.TargetMean)
                | TdErrorAbs, Updated u -> Some(float u.Step, float u.Metrics.TdErrorAbs)
                | GradNorm, Updated u -> Some(float u.Step, float u.Metrics.GradNorm)
                | TrainEpisodeLength, Collected c -> Some(float c.Step, float c.MeanLength)
                | TestEpisodeLength, Tested t -> Some(float t.Step, float t.MeanLength)
                | TrainDeadAllies, Collected c -> c.DeadAllies |> Option.map (fun d -> float c.Step, float d)
                | TrainDeadEnemies, Collected c -> c.DeadEnemies |> Option.map (fun d -> float c.Step, float d)
                | TestDeadAllies, Tested t -> t.DeadAllies |> Option.map (fun d -> float t.Step, float d)
                | TestDeadEnemies, Tested t -> t.DeadEnemies |> Option.map (fun d -> float t.Step, float d)
                | _ -> None)
            |> Array.ofSeq

        {
            Name = curveName curve
            Points = points
        }

    /// <summary>The curves of <c>curves</c> that have points in a run's events, in that order (e.g.
    /// <c>[TestReturn; TrainReturn]</c> for a return chart, <c>[TestWinRate; TrainWinRate]</c> for a win-rate chart
    /// that is empty when the environment reports no wins).</summary>
    let learningCurves (curves: Curve list) (events: TrainingEvent seq) : Series list =
        let events = Array.ofSeq events

        curves
        |> List.map (fun c -> learningCurve c events)
        |> List.filter (fun s -> s.Points.Length > 0)

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
