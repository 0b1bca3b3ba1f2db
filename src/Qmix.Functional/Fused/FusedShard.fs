namespace Qmix.Functional

open System
open System.Numerics
open System.Threading.Tasks
open Qmix.Tensors


/// <summary>One shard of a fused update: a contiguous range of the batch's episodes, with every buffer its forward
/// and backward passes need. Shards run in parallel; each writes its own gradient.</summary>
[<Sealed>]
type internal FusedShard(plan: FusedPlan, layout: FusedLayout) =
    let n, a, d, h, s, k = plan.N, plan.A, plan.D, plan.H, plan.S, plan.K

    let e, he, ne, layers, nonNeg =
        match plan.Mixer with
        | FusedQmix q -> q.Embed, q.HypernetEmbed, plan.N * q.Embed, q.HypernetLayers, q.NonNegative
        | _ -> 0, 0, 0, 0, Abs

    let online = AgentActs(true)
    let target = AgentActs(false)
    let mixOnline = MixActs()
    let mixTarget = MixActs()
    // the packed layout: local episodes sorted by the steps they need (longest first); at step t the first act[t]
    // of them are live, and their rows start at mixer row off[t] (agent row N·off[t])
    let mutable eps: int[] = Array.Empty()
    let mutable act: int[] = Array.Empty()
    let mutable off: int[] = Array.Empty()
    let mutable x: float32[] = Array.Empty()
    let mutable sIn: float32[] = Array.Empty()
    let mutable ones: float32[] = Array.Empty()
    let mutable chosen: float32[] = Array.Empty()
    let mutable actions: int[] = Array.Empty()
    let mutable greedy: int[] = Array.Empty()
    let mutable tmax: float32[] = Array.Empty()
    let mutable y: float32[] = Array.Empty()
    let mutable mask: float32[] = Array.Empty()
    let mutable dqtot: float32[] = Array.Empty()
    let mutable dq: float32[] = Array.Empty()
    let mutable dQ: float32[] = Array.Empty()
    let mutable dhs: float32[] = Array.Empty()
    let mutable dgr: float32[] = Array.Empty()
    let mutable dgz: float32[] = Array.Empty()
    let mutable dgin: float32[] = Array.Empty()
    let mutable dghn: float32[] = Array.Empty()
    let mutable carry: float32[] = Array.Empty()
    let mutable da1: float32[] = Array.Empty()
    let mutable dw1: float32[] = Array.Empty()
    let mutable dhw1h: float32[] = Array.Empty()
    let mutable dwf: float32[] = Array.Empty()
    let mutable dhwfh: float32[] = Array.Empty()
    let mutable dhid: float32[] = Array.Empty()
    let mutable dvh: float32[] = Array.Empty()
    let mutable dv: float32[] = Array.Empty()
    let dW1T = Array.zeroCreate<float32>(d * h)

    let grow = FusedKernels.grow

    let growAgent (acts: AgentActs) (rows: int) (stepRows: int) =
        let kept = if acts.Keep then rows else stepRows
        acts.A1 <- grow acts.A1 (rows * h)

        for g in 0..2 do
            acts.Gi[g] <- grow acts.Gi[g] ((FusedKernels.ChunkRows + stepRows) * h)

        acts.Rg <- grow acts.Rg (kept * h)
        acts.Zg <- grow acts.Zg (kept * h)
        acts.Ng <- grow acts.Ng (kept * h)
        acts.Ghn <- grow acts.Ghn (kept * h)
        acts.Hs <- grow acts.Hs (rows * h)
        acts.Hp <- grow acts.Hp (if acts.Keep then rows * h else 0)
        acts.Zeros <- grow acts.Zeros (stepRows * h)
        acts.Q <- grow acts.Q (rows * a)

    let growMix (acts: MixActs) (m: int) =
        acts.Hw1h <- grow acts.Hw1h (m * he)
        acts.W1raw <- grow acts.W1raw (m * ne)
        acts.W1 <- grow acts.W1 (m * ne)
        acts.Hid <- grow acts.Hid (m * e)
        acts.Hwfh <- grow acts.Hwfh (m * he)
        acts.Wfraw <- grow acts.Wfraw (m * e)
        acts.Wf <- grow acts.Wf (m * e)
        acts.Vh <- grow acts.Vh (m * e)
        acts.Out <- grow acts.Out (m * k)

    /// The gradient of this shard's part of the loss, in the flat layout.
    member val Grad = Array.zeroCreate<float32> layout.Total

    /// The shard's sums after <c>Run</c>.
    member val Sums = Unchecked.defaultof<ShardSums> with get, set

    /// Grows every buffer to hold <paramref name="bs"/> episodes of <paramref name="t1"/> steps.
    member _.Ensure(bs: int, t1: int) =
        let r = bs * n
        let rows = t1 * r
        let m1 = t1 * bs

        if eps.Length < bs then
            eps <- Array.zeroCreate bs

        if act.Length < t1 + 1 then
            act <- Array.zeroCreate (t1 + 1)
            off <- Array.zeroCreate (t1 + 1)

        x <- grow x (rows * d)
        sIn <- grow sIn (m1 * s)
        ones <- grow ones (max rows m1)
        Array.Fill(ones, 1.0f)
        growAgent online rows r
        growAgent target rows r
        growMix mixOnline m1
        growMix mixTarget m1
        chosen <- grow chosen (rows)

        actions <-
            if actions.Length >= rows then
                actions
            else
                Array.zeroCreate rows

        greedy <-
            if greedy.Length >= rows then
                greedy
            else
                Array.zeroCreate rows

        tmax <- grow tmax rows
        y <- grow y (m1 * k)
        mask <- grow mask m1
        dqtot <- grow dqtot (m1 * k)
        dq <- grow dq rows
        dQ <- grow dQ (rows * a)
        dhs <- grow dhs ((FusedKernels.ChunkRows + r) * h)
        dgr <- grow dgr ((FusedKernels.ChunkRows + r) * h)
        dgz <- grow dgz ((FusedKernels.ChunkRows + r) * h)
        dgin <- grow dgin ((FusedKernels.ChunkRows + r) * h)
        dghn <- grow dghn ((FusedKernels.ChunkRows + r) * h)
        carry <- grow carry (r * h)
        da1 <- grow da1 ((FusedKernels.ChunkRows + r) * h)
        dw1 <- grow dw1 (m1 * ne)
        dhw1h <- grow dhw1h (m1 * he)
        dwf <- grow dwf (m1 * e)
        dhwfh <- grow dhwfh (m1 * he)
        dhid <- grow dhid (m1 * e)
        dvh <- grow dvh (m1 * e)
        dv <- grow dv m1

    /// Writes the live rows' agent inputs, hypernetwork inputs and taken actions.
    member private _.Pack(batch: EpisodeBatch) =
        let t1 = batch.MaxSeqLength
        let o = plan.ObsDim
        let rows = n * off[t1]
        Array.Clear(x, 0, rows * d)

        for t in 0 .. t1 - 1 do
            for le in 0 .. act[t] - 1 do
                let ep = eps[le]
                let mr = off[t] + le

                for ag in 0 .. n - 1 do
                    let row = mr * n + ag
                    let src = (ep * t1 + t) * n + ag
                    let at = row * d
                    Array.Copy(batch.Obs, src * o, x, at, o)
                    let mutable c = at + o

                    if plan.LastAction then
                        if t > 0 then
                            x[c + batch.Actions[src - n]] <- 1.0f

                        c <- c + a

                    if plan.AgentId then
                        x[c + ag] <- 1.0f

                    actions[row] <- batch.Actions[src]

                let dst = mr * s
                let st = ep * t1 + t
                let sd = plan.StateDim
                let no = n * o

                match plan.Hyper with
                | GlobalState -> Array.Copy(batch.State, st * sd, sIn, dst, sd)
                | AllObservations -> Array.Copy(batch.Obs, st * no, sIn, dst, no)
                | StateAndObservations ->
                    Array.Copy(batch.State, st * sd, sIn, dst, sd)
                    Array.Copy(batch.Obs, st * no, sIn, dst + sd, no)

    /// The last step (exclusive) of the chunk of steps starting at c0: as many as fit ChunkRows rows, at least one.
    member private _.ChunkEnd(c0: int, t1: int) =
        let mutable c1 = c0 + 1

        while c1 < t1 && n * (off[c1 + 1] - off[c0]) <= FusedKernels.ChunkRows do
            c1 <- c1 + 1

        c1

    /// The first step of the chunk of steps ending (exclusive) at c1, going backwards.
    member private _.ChunkStart(c1: int) =
        let mutable c0 = c1 - 1

        while c0 > 0 && n * (off[c1] - off[c0 - 1]) <= FusedKernels.ChunkRows do
            c0 <- c0 - 1

        c0

    /// The agents' Q-values over the live rows of every step, the GRU carried through time; the batched layers
    /// run a chunk of steps at a time so that their outputs are still in cache when the recurrence reads them.
    member private sh.AgentForward(theta: float32[], pk: FusedPacked, acts: AgentActs, t1: int) =
        let mutable c0 = 0

        while c0 < t1 do
            let c1 = sh.ChunkEnd(c0, t1)
            let r0 = n * off[c0]
            let rc = n * (off[c1] - off[c0])

            if rc > 0 then
                // fc1 and ReLU over the chunk's rows
                let a1 = Span(acts.A1, r0 * h, rc * h)
                FusedKernels.fillSpanRows a1 rc h (ReadOnlySpan(theta, layout.Fc1Bias, h))
                Kernels.matmulNN (rc, d, h, ReadOnlySpan(x, r0 * d, rc * d), ReadOnlySpan pk.Fc1T, a1, true)
                VectorKernels.relu a1
                // the GRU's input side of every gate over the chunk (r and z carry their hidden-side biases too)
                for g in 0..2 do
                    let gi = Span(acts.Gi[g], 0, rc * h)
                    FusedKernels.fillSpanRows gi rc h (ReadOnlySpan(pk.GateBias, g * h, h))
                    Kernels.matmulNN (rc, h, h, Span.op_Implicit a1, ReadOnlySpan pk.WihT[g], gi, true)
                // the recurrence: the hidden side of the gates, step by step over the live rows
                let pr = FusedProfile.Now()

                for t in c0 .. c1 - 1 do
                    let r = n * act[t]

                    if r > 0 then
                        let rh = r * h
                        let at = n * off[t] * h
                        let lt = at - r0 * h
                        let so = if acts.Keep then at else 0
                        let ghn = Span(acts.Ghn, so, rh)
                        // the input side of r and z, to which the hidden side is added in place
                        let preR = Span(acts.Gi[0], lt, rh)
                        let preZ = Span(acts.Gi[1], lt, rh)
                        FusedKernels.fillSpanRows ghn r h (ReadOnlySpan(theta, layout.RnnBiasHh + 2 * h, h))

                        // h_{t−1} of the rows still live: the first rows of the previous step (zeros at t = 0)
                        let hp =
                            if t > 0 then
                                ReadOnlySpan(acts.Hs, n * off[t - 1] * h, rh)
                            else
                                ReadOnlySpan(acts.Zeros, 0, rh)

                        if acts.Keep then
                            hp.CopyTo(Span(acts.Hp, at, rh))

                        let pm = FusedProfile.Now()

                        if t > 0 then
                            Kernels.matmulNN (r, h, h, hp, ReadOnlySpan pk.WhhT[0], preR, true)
                            Kernels.matmulNN (r, h, h, hp, ReadOnlySpan pk.WhhT[1], preZ, true)
                            Kernels.matmulNN (r, h, h, hp, ReadOnlySpan pk.WhhT[2], ghn, true)

                        FusedProfile.Add(FusedPhase.RecurrenceMatmuls, pm)
                        let rg = Span(acts.Rg, so, rh)
                        let zg = Span(acts.Zg, so, rh)
                        let ng = Span(acts.Ng, so, rh)
                        let hs = Span(acts.Hs, at, rh)
                        // r = σ(·), z = σ(·), n = tanh(gi_n + r ⊙ gh_n), h' = n + z ⊙ (h − n), in one pass
                        let pgates = FusedProfile.Now()

                        VectorKernels.gruGatesForward (
                            Span.op_Implicit preR,
                            Span.op_Implicit preZ,
                            ReadOnlySpan(acts.Gi[2], lt, rh),
                            Span.op_Implicit ghn,
                            hp,
                            rg,
                            zg,
                            ng,
                            hs
                        )

                        FusedProfile.Add(FusedPhase.RecurrenceGates, pgates)

                FusedProfile.Add(FusedPhase.AgentForwardRecurrence, pr)
                // fc2 over the chunk's rows
                let q = Span(acts.Q, r0 * a, rc * a)
                FusedKernels.fillSpanRows q rc a (ReadOnlySpan(theta, layout.Fc2Bias, a))
                Kernels.matmulNN (rc, h, a, ReadOnlySpan(acts.Hs, r0 * h, rc * h), ReadOnlySpan pk.Fc2T, q, true)

            c0 <- c1

    /// Q_tot [m, K] of agent Qs [m, N] under the mixer, keeping what the backward pass reads.
    member private _.MixForward(theta: float32[], pk: FusedPacked, acts: MixActs, m: int, q: float32[]) =
        let sx = ReadOnlySpan(sIn, 0, m * s)

        match plan.Mixer with
        | FusedVdn ->
            for i in 0 .. m - 1 do
                let mutable sum = 0.0f

                for ag in 0 .. n - 1 do
                    sum <- sum + q[i * n + ag]

                acts.Out[i] <- sum
        | FusedIql -> Array.Copy(q, acts.Out, m * n)
        | FusedQmix _ ->
            // W1 = nonneg(hyper_w_1(s)) [m, N, E]
            let w1raw = Span(acts.W1raw, 0, m * ne)

            if layers = 2 then
                FusedKernels.fillRows acts.Hw1h m he (ReadOnlySpan(theta, layout.HyperW1HiddenBias, he))
                Kernels.matmulNN (m, s, he, sx, ReadOnlySpan pk.W1aT, Span(acts.Hw1h, 0, m * he), true)
                VectorKernels.relu (Span(acts.Hw1h, 0, m * he))
                FusedKernels.fillRows acts.W1raw m ne (ReadOnlySpan(theta, layout.HyperW1OutputBias, ne))
                Kernels.matmulNN (m, he, ne, ReadOnlySpan(acts.Hw1h, 0, m * he), ReadOnlySpan pk.W1bT, w1raw, true)
            else
                FusedKernels.fillRows acts.W1raw m ne (ReadOnlySpan(theta, layout.HyperW1HiddenBias, ne))
                Kernels.matmulNN (m, s, ne, sx, ReadOnlySpan pk.W1aT, w1raw, true)

            FusedKernels.nonNegative nonNeg (ReadOnlySpan(acts.W1raw, 0, m * ne)) (Span(acts.W1, 0, m * ne))
            // hidden = ELU(b1(s) + Σ_a Q_a W1[a])
            FusedKernels.fillRows acts.Hid m e (ReadOnlySpan(theta, layout.HyperB1Bias, e))
            Kernels.matmulNN (m, s, e, sx, ReadOnlySpan pk.Hb1T, Span(acts.Hid, 0, m * e), true)

            for i in 0 .. m - 1 do
                let row = Span(acts.Hid, i * e, e)

                for ag in 0 .. n - 1 do
                    Prim.MultiplyAdd(ReadOnlySpan(acts.W1, (i * n + ag) * e, e), q[i * n + ag], row, row)

            for i in 0 .. m * e - 1 do
                let v = acts.Hid[i]

                if not (v > 0.0f) then
                    acts.Hid[i] <- MathF.Exp v - 1.0f
            // W_final = nonneg(hyper_w_final(s)) [m, E]
            let wfraw = Span(acts.Wfraw, 0, m * e)

            if layers = 2 then
                FusedKernels.fillRows acts.Hwfh m he (ReadOnlySpan(theta, layout.HyperWFinalHiddenBias, he))
                Kernels.matmulNN (m, s, he, sx, ReadOnlySpan pk.WfaT, Span(acts.Hwfh, 0, m * he), true)
                VectorKernels.relu (Span(acts.Hwfh, 0, m * he))
                FusedKernels.fillRows acts.Wfraw m e (ReadOnlySpan(theta, layout.HyperWFinalOutputBias, e))
                Kernels.matmulNN (m, he, e, ReadOnlySpan(acts.Hwfh, 0, m * he), ReadOnlySpan pk.WfbT, wfraw, true)
            else
                FusedKernels.fillRows acts.Wfraw m e (ReadOnlySpan(theta, layout.HyperWFinalHiddenBias, e))
                Kernels.matmulNN (m, s, e, sx, ReadOnlySpan pk.WfaT, wfraw, true)

            FusedKernels.nonNegative nonNeg (ReadOnlySpan(acts.Wfraw, 0, m * e)) (Span(acts.Wf, 0, m * e))
            // V(s) = V2 · ReLU(V1 s)
            FusedKernels.fillRows acts.Vh m e (ReadOnlySpan(theta, layout.VHiddenBias, e))
            Kernels.matmulNN (m, s, e, sx, ReadOnlySpan pk.V1T, Span(acts.Vh, 0, m * e), true)
            VectorKernels.relu (Span(acts.Vh, 0, m * e))
            let v2 = ReadOnlySpan(theta, layout.VOutput, e)
            let v2b = theta[layout.VOutputBias]
            // Q_tot = hidden · W_final + V(s)
            for i in 0 .. m - 1 do
                let v = v2b + Prim.Dot(ReadOnlySpan(acts.Vh, i * e, e), v2)
                acts.Out[i] <- Prim.Dot(ReadOnlySpan(acts.Hid, i * e, e), ReadOnlySpan(acts.Wf, i * e, e)) + v

    /// Back through one hypernetwork of QMIX's mixer (one layer, or Linear → ReLU → Linear): from the gradient of its
    /// output [m, width] to its weights' gradients in g.
    member private _.HypernetBack
        (
            theta: float32[],
            g: float32[],
            m: int,
            dOut: ReadOnlySpan<float32>,
            width: int,
            hidden: float32[],
            dHidden: float32[],
            wa: int,
            waB: int,
            wb: int,
            wbB: int
        ) =
        let sx = ReadOnlySpan(sIn, 0, m * s)

        if layers = 2 then
            // the output layer, then back through the ReLU to the first layer
            Kernels.matmulTN (width, m, he, dOut, ReadOnlySpan(hidden, 0, m * he), Span(g, wb, width * he), false)
            FusedKernels.colSum ones dOut m width (Span(g, wbB, width))
            Kernels.matmulNN (m, width, he, dOut, ReadOnlySpan(theta, wb, width * he), Span(dHidden, 0, m * he), false)
            VectorKernels.reluBack (ReadOnlySpan(hidden, 0, m * he)) (Span(dHidden, 0, m * he))
            let dh = ReadOnlySpan(dHidden, 0, m * he)
            Kernels.matmulTN (he, m, s, dh, sx, Span(g, wa, he * s), false)
            FusedKernels.colSum ones dh m he (Span(g, waB, he))
        else
            Kernels.matmulTN (width, m, s, dOut, sx, Span(g, wa, width * s), false)
            FusedKernels.colSum ones dOut m width (Span(g, waB, width))

    /// The mixer's backward pass over m rows: from dQ_tot [m, K] to dQ_a [m, N] and the mixer's gradient.
    member private sh.MixBackward(theta: float32[], acts: MixActs, m: int, q: float32[], g: float32[]) =
        match plan.Mixer with
        | FusedVdn ->
            for i in 0 .. m - 1 do
                for ag in 0 .. n - 1 do
                    dq[i * n + ag] <- dqtot[i]
        | FusedIql -> Array.Copy(dqtot, dq, m * n)
        | FusedQmix _ ->
            let sx = ReadOnlySpan(sIn, 0, m * s)
            let v2 = ReadOnlySpan(theta, layout.VOutput, e)
            // through Q_tot = hidden · W_final + V and hidden = ELU(pre)
            for i in 0 .. m - 1 do
                let dy = dqtot[i]
                dv[i] <- dy

                for j in 0 .. e - 1 do
                    let hid = acts.Hid[i * e + j]
                    dwf[i * e + j] <- dy * hid
                    let dh = dy * acts.Wf[i * e + j]
                    dhid[i * e + j] <- (if hid > 0.0f then dh else dh * (hid + 1.0f))

                    // V's hidden layer: dV2 · ReLU'
                    let vh = acts.Vh[i * e + j]
                    dvh[i * e + j] <- (if vh > 0.0f then dy * v2[j] else 0.0f)
                // through pre = b1 + Σ_a Q_a W1[a]
                let dpre = ReadOnlySpan(dhid, i * e, e)

                for ag in 0 .. n - 1 do
                    let row = (i * n + ag) * e
                    dq[i * n + ag] <- Prim.Dot(dpre, ReadOnlySpan(acts.W1, row, e))
                    Prim.Multiply(dpre, q[i * n + ag], Span(dw1, row, e))
            // through the non-negativity
            FusedKernels.nonNegativeBack nonNeg (ReadOnlySpan(acts.W1raw, 0, m * ne)) (Span(dw1, 0, m * ne))
            FusedKernels.nonNegativeBack nonNeg (ReadOnlySpan(acts.Wfraw, 0, m * e)) (Span(dwf, 0, m * e))
            let dpre = ReadOnlySpan(dhid, 0, m * e)
            // hyper_b_1
            Kernels.matmulTN (e, m, s, dpre, sx, Span(g, layout.HyperB1, e * s), false)
            FusedKernels.colSum ones dpre m e (Span(g, layout.HyperB1Bias, e))
            // hyper_w_1 and hyper_w_final
            sh.HypernetBack(
                theta,
                g,
                m,
                ReadOnlySpan(dw1, 0, m * ne),
                ne,
                acts.Hw1h,
                dhw1h,
                layout.HyperW1Hidden,
                layout.HyperW1HiddenBias,
                layout.HyperW1Output,
                layout.HyperW1OutputBias
            )

            sh.HypernetBack(
                theta,
                g,
                m,
                ReadOnlySpan(dwf, 0, m * e),
                e,
                acts.Hwfh,
                dhwfh,
                layout.HyperWFinalHidden,
                layout.HyperWFinalHiddenBias,
                layout.HyperWFinalOutput,
                layout.HyperWFinalOutputBias
            )
            // V
            let dvs = ReadOnlySpan(dv, 0, m)
            Kernels.matmulTN (1, m, e, dvs, ReadOnlySpan(acts.Vh, 0, m * e), Span(g, layout.VOutput, e), false)
            FusedKernels.colSum ones dvs m 1 (Span(g, layout.VOutputBias, 1))
            let dvhs = ReadOnlySpan(dvh, 0, m * e)
            Kernels.matmulTN (e, m, s, dvhs, sx, Span(g, layout.VHidden, e * s), false)
            FusedKernels.colSum ones dvhs m e (Span(g, layout.VHiddenBias, e))

    /// The agents' backward pass: from dQ [rows, A] to the agent's gradient (accumulated into g, which starts at
    /// zero), back through time a chunk of steps at a time.
    member private sh.AgentBackward(theta: float32[], t1: int, g: float32[]) =
        let acts = online
        Array.Clear dW1T
        let mutable c1 = t1

        while c1 > 0 do
            let c0 = sh.ChunkStart c1
            let r0 = n * off[c0]
            let rc = n * (off[c1] - off[c0])

            if rc > 0 then
                let pf = FusedProfile.Now()
                let dQs = ReadOnlySpan(dQ, r0 * a, rc * a)
                // fc2
                Kernels.matmulTN (
                    a,
                    rc,
                    h,
                    dQs,
                    ReadOnlySpan(acts.Hs, r0 * h, rc * h),
                    Span(g, layout.Fc2Weight, a * h),
                    true
                )

                FusedKernels.colSumAdd ones dQs rc a (Span(g, layout.Fc2Bias, a))

                Kernels.matmulNN (
                    rc,
                    a,
                    h,
                    dQs,
                    ReadOnlySpan(theta, layout.Fc2Weight, a * h),
                    Span(dhs, 0, rc * h),
                    false
                )

                FusedProfile.Add(FusedPhase.AgentBackwardFc2, pf)
                let pr = FusedProfile.Now()
                // the recurrence, backwards; carry holds dL/dh_t of step t's live rows, flowing in from step t+1
                for t in c1 - 1 .. -1 .. c0 do
                    let r = n * act[t]

                    if r > 0 then
                        let rh = r * h
                        let at = n * off[t] * h
                        let lt = at - r0 * h
                        let dd = Span(dhs, lt, rh)

                        if t < t1 - 1 && act[t + 1] > 0 then
                            let carried = n * act[t + 1] * h
                            Prim.Add(dd.Slice(0, carried), ReadOnlySpan(carry, 0, carried), dd.Slice(0, carried))

                        VectorKernels.gruGatesBack (
                            dd,
                            ReadOnlySpan(acts.Rg, at, rh),
                            ReadOnlySpan(acts.Zg, at, rh),
                            ReadOnlySpan(acts.Ng, at, rh),
                            ReadOnlySpan(acts.Ghn, at, rh),
                            (if t > 0 then
                                 ReadOnlySpan(acts.Hp, at, rh)
                             else
                                 ReadOnlySpan<float32>.Empty),
                            Span(dgr, lt, rh),
                            Span(dgz, lt, rh),
                            Span(dgin, lt, rh),
                            Span(dghn, lt, rh)
                        )

                        if t > 0 then
                            // dh_{t−1} = dh ⊙ z + Σ_gates dGh · W_hh
                            let c = Span(carry, 0, rh)
                            dd.CopyTo c

                            for gi in 0..2 do
                                let src =
                                    match gi with
                                    | 0 -> dgr
                                    | 1 -> dgz
                                    | _ -> dghn

                                Kernels.matmulNN (
                                    r,
                                    h,
                                    h,
                                    ReadOnlySpan(src, lt, rh),
                                    ReadOnlySpan(theta, layout.RnnWeightHh + gi * h * h, h * h),
                                    c,
                                    true
                                )

                FusedProfile.Add(FusedPhase.AgentBackwardRecurrence, pr)
                let pw = FusedProfile.Now()
                // W_hh and b_hh: rows of steps t ≥ 1 pair with their h_{t−1}
                let skip = if c0 = 0 then n * act[0] else 0

                for gi in 0..2 do
                    let gg =
                        match gi with
                        | 0 -> dgr
                        | 1 -> dgz
                        | _ -> dghn

                    Kernels.matmulTN (
                        h,
                        rc - skip,
                        h,
                        ReadOnlySpan(gg, skip * h, (rc - skip) * h),
                        ReadOnlySpan(acts.Hp, (r0 + skip) * h, (rc - skip) * h),
                        Span(g, layout.RnnWeightHh + gi * h * h, h * h),
                        true
                    )

                    FusedKernels.colSumAdd
                        ones
                        (ReadOnlySpan(gg, 0, rc * h))
                        rc
                        h
                        (Span(g, layout.RnnBiasHh + gi * h, h))
                // W_ih and b_ih, and dA1 = Σ_gates dGi · W_ih
                let a1 = ReadOnlySpan(acts.A1, r0 * h, rc * h)
                let da = Span(da1, 0, rc * h)

                for gi in 0..2 do
                    let src =
                        match gi with
                        | 0 -> dgr
                        | 1 -> dgz
                        | _ -> dgin

                    let gg = ReadOnlySpan(src, 0, rc * h)
                    Kernels.matmulTN (h, rc, h, gg, a1, Span(g, layout.RnnWeightIh + gi * h * h, h * h), true)
                    FusedKernels.colSumAdd ones gg rc h (Span(g, layout.RnnBiasIh + gi * h, h))

                    Kernels.matmulNN (
                        rc,
                        h,
                        h,
                        gg,
                        ReadOnlySpan(theta, layout.RnnWeightIh + gi * h * h, h * h),
                        da,
                        gi > 0
                    )
                // fc1 through the ReLU: dW1ᵀ [D, H] += Xᵀ · dA1 (H wide, so the kernel runs full panels)
                VectorKernels.reluBack a1 da
                let das = Span.op_Implicit da
                Kernels.matmulTN (d, rc, h, ReadOnlySpan(x, r0 * d, rc * d), das, Span dW1T, true)
                FusedKernels.colSumAdd ones das rc h (Span(g, layout.Fc1Bias, h))
                FusedProfile.Add(FusedPhase.AgentBackwardWeights, pw)

            c1 <- c0

        for i in 0 .. h - 1 do
            for j in 0 .. d - 1 do
                g[layout.Fc1Weight + i * d + j] <- dW1T[j * h + i]

    /// <summary>The steps an episode needs computed: up to and including the one after its last masked-in step
    /// (whose target value bootstraps it); 0 when no step counts. Later steps change neither the loss nor its
    /// gradient, so they are skipped.</summary>
    static member StepsOf(batch: EpisodeBatch, ep: int) =
        let mutable last = -1

        for t in 0 .. batch.MaxSeqLength - 2 do
            if EpisodeBatch.maskAt batch ep t <> 0.0f then
                last <- t

        if last < 0 then 0 else last + 2

    /// <summary>This shard's forward and backward passes over the given episodes (sorted by their needed steps,
    /// longest first): fills <c>Grad</c> and <c>Sums</c>.</summary>
    member sh.Run
        (
            batch: EpisodeBatch,
            episodes: int[],
            steps: int[],
            theta: float32[],
            thetaTarget: float32[],
            pk: FusedPacked,
            pkTarget: FusedPacked,
            maskSum: float32
        ) =
        let t1 = batch.MaxSeqLength
        let t = t1 - 1
        let bs = episodes.Length
        sh.Ensure(bs, t1)
        Array.Clear sh.Grad
        // the packed layout: live episodes per step and where their rows start
        Array.Copy(episodes, eps, bs)
        off[0] <- 0

        for tt in 0 .. t1 - 1 do
            let mutable live = 0

            while live < bs && steps[eps[live]] > tt do
                live <- live + 1

            act[tt] <- live
            off[tt + 1] <- off[tt] + live

        let m = off[t]
        let m1 = off[t1]
        let p0 = FusedProfile.Now()
        sh.Pack batch
        FusedProfile.Add(FusedPhase.PackInputs, p0)
        // estimated Qs of the online and the target agents over every live step
        let p0 = FusedProfile.Now()
        sh.AgentForward(theta, pk, online, t1)
        FusedProfile.Add(FusedPhase.AgentForwardOnline, p0)
        let p0 = FusedProfile.Now()
        sh.AgentForward(thetaTarget, pkTarget, target, t1)
        FusedProfile.Add(FusedPhase.AgentForwardTarget, p0)
        // chosen-action Qs and the greedy actions over available actions (online ones for double Q)
        let pg = FusedProfile.Now()
        let avail = batch.AvailActions
        let pickFrom = if plan.DoubleQ then online.Q else target.Q

        for tt in 0 .. t1 - 1 do
            for le in 0 .. act[tt] - 1 do
                for ag in 0 .. n - 1 do
                    let row = (off[tt] + le) * n + ag
                    let src = (eps[le] * t1 + tt) * n + ag

                    if tt < t then
                        chosen[row] <- online.Q[row * a + actions[row]]

                    let pick = TdLearning.greedy pickFrom (row * a) avail (src * a) a
                    greedy[row] <- pick
                    tmax[row] <- target.Q[row * a + pick]

        FusedProfile.Add(FusedPhase.GreedyTargetMax, pg)
        // target values from the target mixer at every live step
        let p0 = FusedProfile.Now()
        sh.MixForward(thetaTarget, pkTarget, mixTarget, m1, tmax)
        FusedProfile.Add(FusedPhase.MixerForwardTarget, p0)
        // one-step or TD(λ) targets, backwards through each episode
        let pt = FusedProfile.Now()
        let lambda = plan.Lambda
        let next = mixTarget.Out

        for tt in t - 1 .. -1 .. 0 do
            for le in 0 .. act[tt] - 1 do
                let ep = eps[le]
                let row = off[tt] + le
                mask[row] <- EpisodeBatch.maskAt batch ep tt

                if le < act[tt + 1] then
                    let nextRow = off[tt + 1] + le
                    let lastCounted = tt + 1 = t || mask[nextRow] = 0.0f

                    for j in 0 .. k - 1 do
                        y[row * k + j] <-
                            TdLearning.target
                                plan.Gamma
                                lambda
                                batch.Reward[ep * t1 + tt]
                                batch.Terminated[ep * t1 + tt]
                                lastCounted
                                next[nextRow * k + j]
                                y[nextRow * k + j]
                else
                    // no later step: the mask is 0 here
                    for j in 0 .. k - 1 do
                        y[row * k + j] <- 0.0f

        FusedProfile.Add(FusedPhase.TargetsLoss, pt)
        // Q_tot of the taken joint actions
        let p0 = FusedProfile.Now()
        sh.MixForward(theta, pk, mixOnline, m, chosen)
        FusedProfile.Add(FusedPhase.MixerForwardOnline, p0)
        // the masked TD error, the loss's sums and dL/dQ_tot
        let pl = FusedProfile.Now()
        let coef = 2.0f * plan.LossScale / maskSum
        let mutable sums = Unchecked.defaultof<ShardSums>

        for i in 0 .. m - 1 do
            let mk = mask[i]

            for j in 0 .. k - 1 do
                let qt = mixOnline.Out[i * k + j]
                let yv = y[i * k + j]
                let td = (qt - yv) * mk
                sums.Loss <- sums.Loss + float (td * td)
                sums.TdAbs <- sums.TdAbs + float (abs td * mk)
                sums.Q <- sums.Q + float (qt * mk)
                sums.Y <- sums.Y + float (yv * mk)
                dqtot[i * k + j] <- coef * mk * td

        FusedProfile.Add(FusedPhase.TargetsLoss, pl)
        sh.Sums <- sums
        // back through the mixer to the chosen Qs, then through the agents
        let p0 = FusedProfile.Now()
        sh.MixBackward(theta, mixOnline, m, chosen, sh.Grad)
        FusedProfile.Add(FusedPhase.MixerBackward, p0)
        let rows = n * m1
        Array.Clear(dQ, 0, rows * a)

        for row in 0 .. m * n - 1 do
            dQ[row * a + actions[row]] <- dq[row]

        sh.AgentBackward(theta, t1, sh.Grad)

/// <summary>The fused engine's memory in a learner workspace: its plan and layout, the two halves' shards and the
/// packed weights of the online and the target networks.</summary>
[<Sealed; AllowNullLiteral>]
type internal FusedScratch(plan: FusedPlan, layout: FusedLayout) =
    /// The plan the buffers are sized for.
    member _.Plan = plan
    /// The parameter layout the buffers are sized for.
    member _.Layout = layout
    /// One shard per half of the batch.
    member val Shards = Array.init 2 (fun _ -> FusedShard(plan, layout))
    /// The online (0) and target (1) weights, transposed.
    member val Packed = Array.init 2 (fun _ -> FusedPacked(plan))
