namespace Qmix.Functional.Envs

open System
open System.Globalization
open System.Security
open System.Text
open System.Text.RegularExpressions

/// <summary>Sheets of SVG frames: the standalone frames an environment's SVG renderer draws (e.g.
/// <c>CombatRender.svg</c>), laid out left to right and top to bottom, each under its own caption.</summary>
[<RequireQualifiedAccess>]
module SvgSheet =
    /// The width of a cell of the sheet, in pixels: frames are scaled to it.
    [<Literal>]
    let CellWidth = 320.0

    let private captionFont, private captionLine, private pad = 12.0, 15.0, 6.0

    let private number (v: float) =
        v.ToString("0.##", CultureInfo.InvariantCulture)

    let private attribute (tag: string) (name: string) =
        let m = Regex.Match(tag, "\\s" + name + "\\s*=\\s*\"([^\"]*)\"")
        if m.Success then Some m.Groups[1].Value else None

    /// A frame's opening <svg> tag, its size and its content.
    let private parse (index: int) (svg: string) =
        let fail why =
            invalidArg "frames" (sprintf "SvgSheet.compose: frame %d is not an SVG document (%s)" index why)

        if isNull svg then
            fail "null"

        let start = svg.IndexOf("<svg", StringComparison.Ordinal)

        if start < 0 then
            fail "no <svg> element"

        let close = svg.IndexOf('>', start)
        let finish = svg.LastIndexOf("</svg>", StringComparison.Ordinal)

        if close < 0 || finish < close then
            fail "the <svg> element is not closed"

        let tag = svg.Substring(start, close - start)

        let size name =
            match attribute tag name with
            | Some v ->
                match Double.TryParse(v.Replace("px", ""), NumberStyles.Float, CultureInfo.InvariantCulture) with
                | true, x when x > 0.0 && Double.IsFinite x -> x
                | _ -> fail (sprintf "%s=\"%s\" is not a positive number" name v)
            | None -> fail (sprintf "no %s" name)

        let width, height = size "width", size "height"

        let viewBox =
            defaultArg (attribute tag "viewBox") (sprintf "0 0 %s %s" (number width) (number height))

        tag, width, height, viewBox, svg.Substring(close + 1, finish - close - 1)

    /// <summary>A sheet of frames: a bold title line, then one cell per frame, <paramref name="columns"/> to a row;
    /// each cell holds the frame's caption (one text line per line of the caption, clipped to the cell) above the
    /// frame scaled to <c>SvgSheet.CellWidth</c> pixels wide.</summary>
    /// <param name="title">The sheet's title.</param>
    /// <param name="columns">Frames per row, at least 1.</param>
    /// <param name="captions">One caption per frame (lines separated by <c>\n</c>, may be empty), or an empty array
    /// for none.</param>
    /// <param name="frames">Standalone SVG documents, each with a <c>width</c> and a <c>height</c> on its root
    /// element.</param>
    /// <returns>An SVG document.</returns>
    /// <exception cref="System.ArgumentException">No frames, <paramref name="columns"/> below 1, captions that do not
    /// match the frames one to one, or a frame that is not an SVG document with a size.</exception>
    let compose (title: string) (columns: int) (captions: string[]) (frames: string[]) : string =
        if isNull frames || frames.Length = 0 then
            invalidArg (nameof frames) "SvgSheet.compose: no frames to lay out"

        if columns < 1 then
            invalidArg (nameof columns) (sprintf "SvgSheet.compose: columns must be at least 1, got %d" columns)

        let captions = if isNull captions then [||] else captions

        if captions.Length <> 0 && captions.Length <> frames.Length then
            invalidArg
                (nameof captions)
                (sprintf
                    "SvgSheet.compose: %d captions for %d frames (give one per frame, or none)"
                    captions.Length
                    frames.Length)

        let parsed = frames |> Array.mapi parse

        let lines =
            Array.init frames.Length (fun i ->
                if captions.Length = 0 || isNull captions[i] then
                    [||]
                else
                    captions[i].Replace("\r", "").Split('\n'))

        let captionHeight =
            (lines |> Array.map Array.length |> Array.max |> float) * captionLine

        let scaled =
            parsed |> Array.map (fun (_, w, h, _, _) -> h * CellWidth / w) |> Array.max

        let cellW, cellH = CellWidth + 2.0 * pad, captionHeight + scaled + 2.0 * pad
        let cols = min columns frames.Length
        let rows = (frames.Length + cols - 1) / cols
        let top = 30.0
        let width, height = cellW * float cols, top + cellH * float rows
        let sb = StringBuilder()
        let line (s: string) = sb.AppendLine s |> ignore

        line (
            sprintf
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%s\" height=\"%s\" viewBox=\"0 0 %s %s\" font-family=\"sans-serif\">"
                (number width)
                (number height)
                (number width)
                (number height)
        )

        line "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"

        line (
            sprintf
                "<text x=\"%s\" y=\"20\" font-size=\"15\" font-weight=\"bold\">%s</text>"
                (number pad)
                (SecurityElement.Escape(if isNull title then "" else title))
        )

        parsed
        |> Array.iteri (fun k (tag, w, h, viewBox, content) ->
            let x, y = cellW * float (k % cols), top + cellH * float (k / cols)

            line (
                sprintf
                    "<svg class=\"frame\" x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\">"
                    (number x)
                    (number y)
                    (number cellW)
                    (number cellH)
            )

            lines[k]
            |> Array.iteri (fun j text ->
                line (
                    sprintf
                        "<text x=\"%s\" y=\"%s\" font-size=\"%s\" fill=\"#333333\" xml:space=\"preserve\">%s</text>"
                        (number pad)
                        (number (pad + float (j + 1) * captionLine - 3.0))
                        (number captionFont)
                        (SecurityElement.Escape text)
                ))

            let font =
                match attribute tag "font-family" with
                | Some f -> sprintf " font-family=\"%s\"" f
                | None -> ""

            line (
                sprintf
                    "<svg x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" viewBox=\"%s\"%s>"
                    (number pad)
                    (number (pad + captionHeight))
                    (number CellWidth)
                    (number (h * CellWidth / w))
                    viewBox
                    font
            )

            line content
            line "</svg></svg>")

        line "</svg>"
        sb.ToString()
