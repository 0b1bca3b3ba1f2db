namespace Qmix.Functional.Envs

open System
open System.Globalization
open System.Text
open Qmix.Functional

/// Building blocks shared by the grid worlds (Checkers, Switch, PredatorPrey, Level-Based Foraging): ma-gym's
/// moves, action checking, per-agent transitions and a small SVG writer. Internal: each environment documents
/// the rules it uses.
module internal GridWorld =
    /// ma-gym's movement actions (Checkers, Switch, PredatorPrey): 0 = down (row+1), 1 = left (col−1),
    /// 2 = up (row−1), 3 = right (col+1), anything else (4 = no-op) stays.
    let maGymTarget (action: int) (row: int) (col: int) : struct (int * int) =
        match action with
        | 0 -> struct (row + 1, col)
        | 1 -> struct (row, col - 1)
        | 2 -> struct (row - 1, col)
        | 3 -> struct (row, col + 1)
        | _ -> struct (row, col)

    /// ma-gym's five action names, by index.
    let maGymActionNames = [| "down"; "left"; "up"; "right"; "no-op" |]

    /// The environment with every step checked first: Env.validateActions (wrong length, out of range or
    /// unavailable actions raise an ArgumentException naming the agent and the action), then the episode must
    /// not have ended (stepping an ended state raises an ArgumentException). The state is never changed.
    let validated (ended: 'S -> bool) (env: Env<'S>) : Env<'S> =
        let step = env.Step

        { env with
            Step =
                fun state actions key ->
                    Env.validateActions env state actions

                    if ended state then
                        invalidArg
                            (nameof state)
                            (sprintf "%s: the episode has ended; reset for a new one" env.Spec.Name)

                    step state actions key
        }

    /// A transition carrying per-agent rewards; the team reward is their sum (EPyMARL's default
    /// <c>reward_scalarisation = sum</c>). No grid world reports a win.
    let transition (agentRewards: float32[]) (terminated: bool) (truncated: bool) : Transition =
        {
            Reward = Array.sum agentRewards
            Terminated = terminated
            Truncated = truncated
            Info =
                {
                    Won = None
                    AgentRewards = Some agentRewards
                    Casualties = None
                }
        }

    /// Python's <c>round(x, 2)</c> for the ratios ma-gym rounds (none of them lies on a tie).
    let round2 (x: float) : float32 =
        float32 (Math.Round(x, 2, MidpointRounding.ToEven))

    /// Every agent's observation: the per-agent vectors concatenated (partial observability), or, when
    /// <paramref name="full"/>, that concatenation repeated once per agent (ma-gym's full observability).
    let observations (full: bool) (perAgent: float32[][]) : float32[] =
        let joint = Array.concat perAgent

        if full then
            Array.replicate perAgent.Length joint |> Array.concat
        else
            joint

    /// Colours for agents 0, 1, 2, …
    let agentColours =
        [|
            "#d62728"
            "#1f77b4"
            "#2ca02c"
            "#ff7f0e"
            "#9467bd"
            "#8c564b"
            "#e377c2"
            "#17becf"
            "#7f7f7f"
        |]

    /// The colour of agent <paramref name="i"/>.
    let agentColour (i: int) = agentColours[i % agentColours.Length]

    /// Side of one grid cell in SVG user units.
    [<Literal>]
    let Cell = 32

    /// Height of the caption band above the grid.
    [<Literal>]
    let Caption = 20

    /// A small SVG writer for one frame: a caption band, then a grid of cells.
    type Svg(rows: int, cols: int, caption: string) =
        let sb = StringBuilder()

        let inv (x: float) =
            x.ToString("0.##", CultureInfo.InvariantCulture)

        let escape (s: string) =
            s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;")

        do
            let w, h = cols * Cell, rows * Cell + Caption

            sb.AppendFormat(
                CultureInfo.InvariantCulture,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\">\n",
                w,
                h
            )
            |> ignore

            sb.AppendFormat(
                CultureInfo.InvariantCulture,
                "<rect x=\"0\" y=\"0\" width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n",
                w,
                h
            )
            |> ignore

            sb.AppendFormat(
                CultureInfo.InvariantCulture,
                "<text x=\"4\" y=\"14\" font-family=\"monospace\" font-size=\"12\" fill=\"black\">{0}</text>\n",
                escape caption
            )
            |> ignore

            for r in 0 .. rows - 1 do
                for c in 0 .. cols - 1 do
                    sb.AppendFormat(
                        CultureInfo.InvariantCulture,
                        "<rect x=\"{0}\" y=\"{1}\" width=\"{2}\" height=\"{2}\" fill=\"none\" stroke=\"#cccccc\"/>\n",
                        c * Cell,
                        Caption + r * Cell,
                        Cell
                    )
                    |> ignore

        /// Fills cell (row, col), inset by <paramref name="margin"/> (a fraction of the cell).
        member _.Fill(row: int, col: int, fill: string, margin: float) =
            let m = margin * float Cell

            sb.AppendFormat(
                CultureInfo.InvariantCulture,
                "<rect x=\"{0}\" y=\"{1}\" width=\"{2}\" height=\"{2}\" fill=\"{3}\"/>\n",
                inv (float (col * Cell) + m),
                inv (float (Caption + row * Cell) + m),
                inv (float Cell - 2.0 * m),
                fill
            )
            |> ignore

        /// Outlines cell (row, col) in <paramref name="stroke"/>.
        member _.Outline(row: int, col: int, stroke: string) =
            sb.AppendFormat(
                CultureInfo.InvariantCulture,
                "<rect x=\"{0}\" y=\"{1}\" width=\"{2}\" height=\"{2}\" fill=\"none\" stroke=\"{3}\" stroke-width=\"3\"/>\n",
                col * Cell + 2,
                Caption + row * Cell + 2,
                Cell - 4,
                stroke
            )
            |> ignore

        /// A disc of radius <paramref name="radius"/> (a fraction of the cell) centred in cell (row, col),
        /// offset by (dx, dy) cell fractions, with a label.
        member _.Disc(row: int, col: int, fill: string, radius: float, label: string, dx: float, dy: float) =
            let cx = (float col + 0.5 + dx) * float Cell
            let cy = float Caption + (float row + 0.5 + dy) * float Cell

            sb.AppendFormat(
                CultureInfo.InvariantCulture,
                "<circle cx=\"{0}\" cy=\"{1}\" r=\"{2}\" fill=\"{3}\"/>\n",
                inv cx,
                inv cy,
                inv (radius * float Cell),
                fill
            )
            |> ignore

            if label <> "" then
                sb.AppendFormat(
                    CultureInfo.InvariantCulture,
                    "<text x=\"{0}\" y=\"{1}\" font-family=\"sans-serif\" font-size=\"{2}\" fill=\"white\" text-anchor=\"middle\" dominant-baseline=\"central\">{3}</text>\n",
                    inv cx,
                    inv cy,
                    inv (radius * float Cell),
                    escape label
                )
                |> ignore

        /// A text label centred in cell (row, col).
        member _.Label(row: int, col: int, text: string, fill: string) =
            sb.AppendFormat(
                CultureInfo.InvariantCulture,
                "<text x=\"{0}\" y=\"{1}\" font-family=\"sans-serif\" font-size=\"14\" fill=\"{2}\" text-anchor=\"middle\" dominant-baseline=\"central\">{3}</text>\n",
                inv ((float col + 0.5) * float Cell),
                inv (float Caption + (float row + 0.5) * float Cell),
                fill,
                escape text
            )
            |> ignore

        /// The finished document.
        override _.ToString() = sb.ToString() + "</svg>\n"
