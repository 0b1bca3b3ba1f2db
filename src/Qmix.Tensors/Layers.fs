namespace Qmix.Tensors

open System

type private TP = System.Numerics.Tensors.TensorPrimitives

/// <summary>
/// Fused layers: one op each, with a hand-written backward, in PyTorch's conventions (weights stored
/// [out, in]; GRUCell gates in the order r, z, n with separate input and hidden biases).
/// </summary>
[<RequireQualifiedAccess>]
module Layers =
    /// rows × width view of x's elements (its last axis is the feature axis).
    let private rowsOf (op: string) (x: Tensor) (width: int) (what: string) =
        if x.Rank < 1 || x.Shape[-1] <> width then
            invalidArg (nameof x) (sprintf "%s: %s of shape %O does not end with %d features" op what x.Shape width)

        x.Numel / max 1 width

    /// column sums of g [rows, n] added into db [n].
    let private addColumnSums (rows: int, n: int, g: ReadOnlySpan<float32>, db: Span<float32>) =
        for r in 0 .. rows - 1 do
            TP.Add(db, g.Slice(r * n, n), db)

    /// <summary>A linear layer y = x·Wᵀ + b over the last axis of x: x [..., in], W [out, in], b [out].</summary>
    /// <exception cref="System.ArgumentException">The shapes disagree; the message names them.</exception>
    let linear (weight: Tensor) (bias: Tensor) (x: Tensor) : Tensor =
        if weight.Rank <> 2 then
            invalidArg (nameof weight) (sprintf "linear: the weight must be [out, in], got %O" weight.Shape)

        let nOut, nIn = weight.Shape[0], weight.Shape[1]

        if not (isNull bias) && (bias.Rank <> 1 || bias.Shape[0] <> nOut) then
            invalidArg (nameof bias) (sprintf "linear: bias %O does not match weight %O" bias.Shape weight.Shape)

        if x.Rank < 1 || x.Shape[-1] <> nIn then
            invalidArg (nameof x) (sprintf "linear: input %O does not match weight %O" x.Shape weight.Shape)

        let rows = rowsOf "linear" x nIn "input"
        let dims = x.Shape.ToArray()
        dims[dims.Length - 1] <- nOut
        let out = Tensor.Uninit(Shape dims)
        let y = out.WritableSpan
        Kernels.matmulNT (rows, nIn, nOut, x.Span, weight.Span, y, false)

        if not (isNull bias) then
            let b = bias.Span

            for r in 0 .. rows - 1 do
                let row = y.Slice(r * nOut, nOut)
                TP.Add(row, b, row)

        match Track.tapeN [| x; weight; bias |] with
        | null -> out
        | tape ->
            Track.attach tape out (fun g ->
                let g = ReadOnlySpan g
                // dX = G·W
                if x.IsTracked then
                    Kernels.matmulNN (rows, nOut, nIn, g, weight.Span, Span(Track.grad x), true)
                // dW = Gᵀ·X
                if weight.IsTracked then
                    Kernels.matmulTN (nOut, rows, nIn, g, x.Span, Span(Track.grad weight), true)
                // db = column sums of G
                if not (isNull bias) && bias.IsTracked then
                    addColumnSums (rows, nOut, g, Span(Track.grad bias)))

    /// <summary>
    /// One step of PyTorch's GRUCell over a batch: x [B, in], h [B, H], W_ih [3H, in], W_hh [3H, H],
    /// b_ih and b_hh [3H], gates stacked r, z, n:
    /// r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
    /// n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h.
    /// </summary>
    /// <exception cref="System.ArgumentException">The shapes disagree; the message names them.</exception>
    let gruCell
        (weightIh: Tensor)
        (weightHh: Tensor)
        (biasIh: Tensor)
        (biasHh: Tensor)
        (x: Tensor)
        (h: Tensor)
        : Tensor =
        if weightHh.Rank <> 2 || weightHh.Shape[0] <> 3 * weightHh.Shape[1] then
            invalidArg (nameof weightHh) (sprintf "gruCell: weight_hh must be [3H, H], got %O" weightHh.Shape)

        let hid = weightHh.Shape[1]

        if weightIh.Rank <> 2 || weightIh.Shape[0] <> 3 * hid then
            invalidArg
                (nameof weightIh)
                (sprintf "gruCell: weight_ih %O does not match weight_hh %O" weightIh.Shape weightHh.Shape)

        let nIn = weightIh.Shape[1]

        for b, name in [ biasIh, "bias_ih"; biasHh, "bias_hh" ] do
            if b.Rank <> 1 || b.Shape[0] <> 3 * hid then
                invalidArg name (sprintf "gruCell: %s must be [%d], got %O" name (3 * hid) b.Shape)

        if x.Rank <> 2 || x.Shape[1] <> nIn then
            invalidArg (nameof x) (sprintf "gruCell: input %O does not match weight_ih %O" x.Shape weightIh.Shape)

        let batch = x.Shape[0]

        if h.Rank <> 2 || h.Shape[0] <> batch || h.Shape[1] <> hid then
            invalidArg
                (nameof h)
                (sprintf
                    "gruCell: hidden state %O does not match input %O and weight_hh %O"
                    h.Shape
                    x.Shape
                    weightHh.Shape)

        let g3 = 3 * hid
        // gate pre-activations from the input and from the hidden state
        let gi = Tensor.Uninit(Shape [| batch; g3 |])
        let gh = Tensor.Uninit(Shape [| batch; g3 |])
        Kernels.matmulNT (batch, nIn, g3, x.Span, weightIh.Span, gi.WritableSpan, false)
        Kernels.matmulNT (batch, hid, g3, h.Span, weightHh.Span, gh.WritableSpan, false)
        let out = Tensor.Uninit(Shape [| batch; hid |])
        // r, z, n saved for the backward pass, [B, 3H] in gate order
        let gates = Tensor.Uninit(Shape [| batch; g3 |])
        let giS = gi.WritableSpan
        let ghS = gh.WritableSpan
        let gateS = gates.WritableSpan
        let hS = h.Span
        let outS = out.WritableSpan
        let bi = biasIh.Span
        let bh = biasHh.Span

        for b in 0 .. batch - 1 do
            let gir = giS.Slice(b * g3, g3)
            let ghr = ghS.Slice(b * g3, g3)
            TP.Add(gir, bi, gir)
            TP.Add(ghr, bh, ghr)
            let gRow = gateS.Slice(b * g3, g3)
            // r and z: σ(input part + hidden part)
            TP.Add(gir.Slice(0, 2 * hid), ghr.Slice(0, 2 * hid), gRow.Slice(0, 2 * hid))
            TP.Sigmoid(gRow.Slice(0, 2 * hid), gRow.Slice(0, 2 * hid))
            // n = tanh(input part + r ⊙ hidden part)
            let nS = gRow.Slice(2 * hid, hid)
            TP.MultiplyAdd(gRow.Slice(0, hid), ghr.Slice(2 * hid, hid), gir.Slice(2 * hid, hid), nS)
            TP.Tanh(nS, nS)
            // h' = n + z ⊙ (h − n)
            let o = outS.Slice(b * hid, hid)
            TP.Subtract(hS.Slice(b * hid, hid), nS, o)
            TP.MultiplyAdd(gRow.Slice(hid, hid), o, nS, o)

        match Track.tapeN [| x; h; weightIh; weightHh; biasIh; biasHh |] with
        | null -> out
        | tape ->
            Track.attach tape out (fun dOut ->
                let dgi = tape.Rent(batch * g3)
                let dgh = tape.Rent(batch * g3)
                let gateS = gates.Span
                let ghS = gh.Span
                let hS = h.Span
                let dh = Track.grad h

                for b in 0 .. batch - 1 do
                    for j in 0 .. hid - 1 do
                        let r = gateS[b * g3 + j]
                        let z = gateS[b * g3 + hid + j]
                        let n = gateS[b * g3 + 2 * hid + j]
                        let hPrev = hS[b * hid + j]
                        let d = dOut[b * hid + j]
                        // through h' = (1 − z) n + z h
                        let dn = d * (1.0f - z)
                        let dz = d * (hPrev - n)

                        if not (isNull dh) then
                            dh[b * hid + j] <- dh[b * hid + j] + d * z
                        // through n = tanh(a_n), a_n = gi_n + r ⊙ gh_n
                        let dan = dn * (1.0f - n * n)
                        let dr = dan * ghS[b * g3 + 2 * hid + j]
                        // through the sigmoids
                        let dar = dr * r * (1.0f - r)
                        let daz = dz * z * (1.0f - z)
                        dgi[b * g3 + j] <- dar
                        dgi[b * g3 + hid + j] <- daz
                        dgi[b * g3 + 2 * hid + j] <- dan
                        dgh[b * g3 + j] <- dar
                        dgh[b * g3 + hid + j] <- daz
                        dgh[b * g3 + 2 * hid + j] <- dan * r

                let dgiS = ReadOnlySpan dgi
                let dghS = ReadOnlySpan dgh
                // input side: dx = dGi·W_ih, dW_ih = dGiᵀ·x, db_ih = Σ dGi
                if x.IsTracked then
                    Kernels.matmulNN (batch, g3, nIn, dgiS, weightIh.Span, Span(Track.grad x), true)

                if weightIh.IsTracked then
                    Kernels.matmulTN (g3, batch, nIn, dgiS, x.Span, Span(Track.grad weightIh), true)

                if biasIh.IsTracked then
                    addColumnSums (batch, g3, dgiS, Span(Track.grad biasIh))
                // hidden side: dh += dGh·W_hh, dW_hh = dGhᵀ·h, db_hh = Σ dGh
                if not (isNull dh) then
                    Kernels.matmulNN (batch, g3, hid, dghS, weightHh.Span, Span dh, true)

                if weightHh.IsTracked then
                    Kernels.matmulTN (g3, batch, hid, dghS, h.Span, Span(Track.grad weightHh), true)

                if biasHh.IsTracked then
                    addColumnSums (batch, g3, dghS, Span(Track.grad biasHh)))
