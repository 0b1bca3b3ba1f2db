namespace Qmix.Functional.Envs

open System
open System.Text
open Qmix.Tensors
open Qmix.Functional

/// <summary>Text and SVG renderings of combat states and episodes.</summary>
[<RequireQualifiedAccess>]
module CombatRender =
    open CombatWorld


    /// The text glyph of a unit type: lower case for allies, upper case for enemies.
    let private glyph (t: UnitType) (ally: bool) =
        let c =
            match t with
            | Marine -> 'm'
            | Marauder -> 'r'
            | Stalker -> 's'
            | Zealot -> 'z'
            | Zergling -> 'g'
            | Hydralisk -> 'h'
            | Colossus -> 'c'

        if ally then c else Char.ToUpperInvariant c

    /// <summary>A text frame: a header line, the arena as 16 rows of 32 characters (one character is 1 × 2
    /// arena units, north at the top), a legend, and every unit's health per team. Allies are drawn in lower
    /// case, enemies in upper case (m marine, r marauder, s stalker, z zealot, g zergling, h hydralisk,
    /// c colossus); <c>*</c> marks a cell holding several units; dead units are not drawn (their health shows
    /// as <c>--</c>).</summary>
    /// <param name="state">The state.</param>
    let text (state: CombatState) : string =
        let l = state.Layout
        let n, na = l.N, l.NAllies
        let cols, rows = int Width, int Height / 2
        let grid = Array2D.create rows cols ' '

        for i in 0 .. n - 1 do
            if state.Alive i then
                let x, y = state.Position i
                let c = Math.Clamp(int x, 0, cols - 1)
                let r = Math.Clamp(rows - 1 - int (y / 2.0f), 0, rows - 1)

                grid[r, c] <-
                    if grid[r, c] = ' ' then
                        glyph (state.UnitType i) (i < na)
                    else
                        '*'

        let alive first count =
            Seq.init count (fun i -> first + i) |> Seq.filter state.Alive |> Seq.length

        let sb = StringBuilder()

        sb.AppendLine(
            sprintf
                "combat:%s  step %d/%d  allies %d/%d alive  enemies %d/%d alive"
                l.Scenario.Name
                state.StepCount
                l.Scenario.EpisodeLimit
                (alive 0 na)
                na
                (alive na l.NEnemies)
                l.NEnemies
        )
        |> ignore

        let border = "+" + String('-', cols) + "+"
        sb.AppendLine border |> ignore

        for r in 0 .. rows - 1 do
            sb.Append('|').Append(Array.init cols (fun c -> grid[r, c])).AppendLine("|")
            |> ignore

        sb.AppendLine border |> ignore

        sb.AppendLine
            "allies lower case, enemies upper case: m marine, r marauder, s stalker, z zealot, g zergling, h hydralisk, c colossus; * several"
        |> ignore

        let team label first count =
            let units =
                Array.init count (fun k ->
                    let i = first + k
                    let g = glyph (state.UnitType i) (i < na)

                    if state.Alive i then
                        sprintf "%c%d:%g" g k (MathF.Round(state.Health i, 1))
                    else
                        sprintf "%c%d:--" g k)

            sb.Append(label: string).AppendLine(String.Join(" ", units)) |> ignore

        team "allies  " 0 na
        team "enemies " na l.NEnemies
        sb.ToString()

    /// The size of an SVG frame: 16 pixels per arena unit and a 24-pixel title line.
    let private frameWidth, private frameHeight = Width * 16.0f, Height * 16.0f + 24.0f

    let private svgNumber (v: float32) =
        v.ToString("0.##", Globalization.CultureInfo.InvariantCulture)

    /// Appends one frame as an <svg> element opened by `opening` (a tag with the frame's viewBox).
    let private svgFrame (sb: StringBuilder) (opening: string) (state: CombatState) =
        let l = state.Layout
        let n, na = l.N, l.NAllies
        let scale = 16.0f
        let top = 24.0f
        let w, h = frameWidth, frameHeight
        let px (x: float32) = x * scale
        let py (y: float32) = top + (Height - y) * scale
        let f = svgNumber

        let colour i = if i < na then "#1f77b4" else "#d62728"
        let line (s: string) = sb.AppendLine s |> ignore
        line opening

        line (
            sprintf
                "<rect x=\"0\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"#f7f7f2\" stroke=\"#444\"/>"
                (f top)
                (f w)
                (f (h - top))
        )

        line (
            sprintf
                "<text x=\"4\" y=\"17\" font-size=\"14\">combat:%s — step %d/%d</text>"
                l.Scenario.Name
                state.StepCount
                l.Scenario.EpisodeLimit
        )

        // attack lines under the units
        for i in 0 .. n - 1 do
            let j = targetOf l i state.Previous[i]

            if j >= 0 && state.Alive i && state.Alive j then
                let xi, yi = state.Position i
                let xj, yj = state.Position j

                line (
                    sprintf
                        "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"%s\" stroke-width=\"1\" stroke-opacity=\"0.6\"/>"
                        (f (px xi))
                        (f (py yi))
                        (f (px xj))
                        (f (py yj))
                        (colour i)
                )

        for i in 0 .. n - 1 do
            let x, y = state.Position i
            let t = state.UnitType i
            let r = l.Radius[i] * scale
            let team, k = (if i < na then "ally", i else "enemy", i - na)

            let title =
                sprintf
                    "<title>%s %d: %s, health %s/%s</title>"
                    team
                    k
                    (UnitType.name t)
                    (f (state.Health i))
                    (f l.MaxHealth[i])

            if state.Alive i then
                line (
                    sprintf
                        "<circle cx=\"%s\" cy=\"%s\" r=\"%s\" fill=\"%s\" stroke=\"#222\" stroke-width=\"0.5\">%s</circle>"
                        (f (px x))
                        (f (py y))
                        (f r)
                        (colour i)
                        title
                )

                let bw = max 12.0f (2.0f * r)
                let frac = state.Health i / l.MaxHealth[i]
                let bx, by = px x - bw / 2.0f, py y - r - 5.0f

                line (
                    sprintf
                        "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"3\" fill=\"#ccc\"/><rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"3\" fill=\"#2ca02c\"/>"
                        (f bx)
                        (f by)
                        (f bw)
                        (f bx)
                        (f by)
                        (f (bw * frac))
                )
            else
                line (
                    sprintf
                        "<circle cx=\"%s\" cy=\"%s\" r=\"%s\" fill=\"none\" stroke=\"#999\" stroke-opacity=\"0.5\">%s</circle>"
                        (f (px x))
                        (f (py y))
                        (f r)
                        title
                )

        line "</svg>"

    /// <summary>An SVG frame (a standalone <c>&lt;svg&gt;</c> document): the 32 × 32 arena at 16 pixels per
    /// unit, north up, with a title line; every unit as a circle of its type's radius, blue for allies and
    /// red for enemies, with a health bar above it and a thin line to the unit it attacked in the previous step;
    /// dead units as faint grey outlines. Each circle has a <c>&lt;title&gt;</c> naming the unit, its type
    /// and health, shown on hover.</summary>
    /// <param name="state">The state.</param>
    let svg (state: CombatState) : string =
        let sb = StringBuilder()
        let w, h = svgNumber frameWidth, svgNumber frameHeight

        svgFrame
            sb
            (sprintf
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%s\" height=\"%s\" viewBox=\"0 0 %s %s\" font-family=\"sans-serif\">"
                w
                h
                w
                h)
            state

        sb.ToString()

    /// <summary>An SVG sheet of an episode: the frames of <paramref name="states"/> (as <c>CombatRender.svg</c>
    /// draws them) at half size, left to right and top to bottom, <paramref name="columns"/> to a row.</summary>
    /// <param name="columns">Frames per row, at least 1.</param>
    /// <param name="states">The states to draw, e.g. every state of an episode.</param>
    /// <exception cref="System.ArgumentException">No states, or <paramref name="columns"/> is below 1.</exception>
    let svgEpisode (columns: int) (states: CombatState[]) : string =
        if isNull states || states.Length = 0 then
            invalidArg (nameof states) "CombatRender.svgEpisode: no states to draw"

        if columns < 1 then
            invalidArg (nameof columns) (sprintf "CombatRender.svgEpisode: columns must be at least 1, got %d" columns)

        let cw, ch = frameWidth / 2.0f, frameHeight / 2.0f
        let cols = min columns states.Length
        let rows = (states.Length + cols - 1) / cols
        let sb = StringBuilder()

        sb.AppendLine(
            sprintf
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%s\" height=\"%s\" viewBox=\"0 0 %s %s\" font-family=\"sans-serif\">"
                (svgNumber (cw * float32 cols))
                (svgNumber (ch * float32 rows))
                (svgNumber (cw * float32 cols))
                (svgNumber (ch * float32 rows))
        )
        |> ignore

        states
        |> Array.iteri (fun k state ->
            let opening =
                sprintf
                    "<svg x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" viewBox=\"0 0 %s %s\">"
                    (svgNumber (cw * float32 (k % cols)))
                    (svgNumber (ch * float32 (k / cols)))
                    (svgNumber cw)
                    (svgNumber ch)
                    (svgNumber frameWidth)
                    (svgNumber frameHeight)

            svgFrame sb opening state)

        sb.AppendLine("</svg>") |> ignore
        sb.ToString()
