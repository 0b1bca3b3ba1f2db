namespace Qmix.Functional

#nowarn "9" // NativePtr: the kernels read arrays pinned for the call through pointers, without bounds checks.

open System
open System.Runtime.CompilerServices
open Microsoft.FSharp.NativeInterop
open Qmix.Tensors

type private TP = System.Numerics.Tensors.TensorPrimitives

/// <summary>An agent's network gave a NaN or infinite Q-value while acting: its parameters hold NaN or infinite values
/// (a diverged update, or a damaged model), and no action can be chosen from it. The message names the agent, the step
/// and the value; acting stops instead of picking an arbitrary action.</summary>
type NonFiniteQValueException(message: string, agent: int, step: int, action: int, value: float32) =
    inherit ArithmeticException(message)

    /// <summary>The agent whose Q-value was not finite.</summary>
    member _.Agent = agent

    /// <summary>The step of the episode (from 0) at which it was computed, or −1 when the caller does not count
    /// steps.</summary>
    member _.Step = step

    /// <summary>The action whose Q-value it was.</summary>
    member _.Action = action

    /// <summary>The value (NaN or ±∞).</summary>
    member _.Value = value

/// A linear map packed for acting: Wᵀ stored [K, Np] row-major (row p holds input p's weight to every output), the
/// outputs zero-padded from N to Np, a multiple of 16; the bias zero-padded the same way.
type internal PackedLinear =
    {
        /// Wᵀ, [K, Np].
        W: float32[]
        /// The bias, [Np].
        B: float32[]
        /// Inputs.
        K: int
        /// Outputs.
        N: int
        /// Outputs padded to a multiple of 16.
        Np: int
    }

/// One agent network packed for acting. The GRU's gates are split into four maps so that each writes a buffer of
/// its own: r and z read [x ‖ h] (W_ih's rows over W_hh's, the two biases summed), n's input part reads x and its
/// hidden part h.
type internal PackedNet =
    | PackedRnn of
        fc1: PackedLinear *
        r: PackedLinear *
        z: PackedLinear *
        ni: PackedLinear *
        nh: PackedLinear *
        fc2: PackedLinear
    | PackedMlp of fc1: PackedLinear * fc2: PackedLinear * fc3: PackedLinear

/// <summary>The agents' networks made ready for acting: the weights packed once, every buffer allocated once, so that
/// a step of up to <c>MaxRows</c> agent rows (E environments × N agents, agent-major within an environment) runs
/// fused SIMD kernels and allocates nothing. Build one with <c>Actor.create</c> and step it with
/// <c>Actor.greedy</c> or <c>Actor.qValues</c>.</summary>
/// <remarks>An actor holds copies of the weights it was built from: build a new one after the parameters change.
/// It holds scratch buffers too, so it is not thread-safe: give each thread its own.</remarks>
[<Sealed>]
type Actor
    internal
    (
        config: AgentConfig,
        spec: EnvSpec,
        maxRows: int,
        isa: Kernels.Isa,
        nets: PackedNet[],
        hiddenDim: int,
        widths: int[]
    ) =
    let inputDim = Agent.inputDim config spec
    let aP = (spec.NActions + 15) / 16 * 16

    // one buffer per quantity, [MaxRows, padded width]
    let buffer (width: int) =
        Array.zeroCreate<float32>(maxRows * width)

    let xin = Array.zeroCreate<float32>(maxRows * inputDim)
    let bufs = widths |> Array.map buffer
    let q = buffer aP

    /// <summary>The agent network's settings the actor was built with.</summary>
    member _.Config = config

    /// <summary>The environment's sizes the actor was built for.</summary>
    member _.Spec = spec

    /// <summary>The most rows (environments × agents) one step may have.</summary>
    member _.MaxRows = maxRows

    /// <summary>The instruction set the kernels run on.</summary>
    member _.Isa = isa

    /// <summary>The width of one agent's input row (<c>Agent.inputDim</c>).</summary>
    member _.InputDim = inputDim

    /// <summary>The width of one row of the carried hidden state: the GRU's width, or 1 for the memory-less MLP
    /// (<c>Agent.hiddenDim</c>).</summary>
    member _.HiddenDim = hiddenDim

    member internal _.Nets = nets
    member internal _.Xin = xin
    /// The work buffers: RNN [x1; h; r; z; ni; nh], MLP [y1; y2], each [MaxRows, its padded width].
    member internal _.Bufs = bufs
    /// The Q-values, [MaxRows, A padded].
    member internal _.Q = q
    member internal _.QWidth = aP

/// <summary>Fused acting steps: building an <see cref="T:Qmix.Functional.Actor"/> from the agents' parameters, and
/// stepping it over spans without allocating.</summary>
/// <remarks>
/// <para>A step computes what <c>Agent.actingInputs</c> followed by <c>Agent.step</c> computes — the input rows
/// (observation ‖ one-hot previous action ‖ one-hot agent id), fc1 → ReLU → GRUCell → fc2 for the RNN agent (fc1 →
/// ReLU → fc2 → ReLU → fc3 for the MLP agent), the hidden state carried — with the weights packed once as Wᵀ [in,
/// out] so that each row times a weight matrix is a chain of broadcast fused multiply-adds over contiguous outputs
/// (512-bit vectors on AVX-512, 256-bit on AVX2, scalar elsewhere: <c>RowGemm</c> in Qmix.Tensors), and the GRU's gates through TensorPrimitives.
/// The results agree with <c>Agent.step</c> to rounding (the sums run in another order), not bit for bit.</para>
/// <para>Every architecture is supported at full speed: shared or per-agent (<c>PerAgent</c>: each network reads
/// its own agent's rows in place), RNN or MLP.</para>
/// </remarks>
[<RequireQualifiedAccess; CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Actor =
    let private lane = RowGemm.Lane
    let private padded (n: int) = (n + lane - 1) / lane * lane

    /// Wᵀ of weight rows [r0, r0 + n) of w [_, nIn] into dst rows [p0, p0 + nIn), row stride np.
    let private transposeInto (dst: float32[]) (p0: int) (np: int) (w: float32[]) (nIn: int) (r0: int) (n: int) =
        for j in 0 .. n - 1 do
            for p in 0 .. nIn - 1 do
                dst[(p0 + p) * np + j] <- w[(r0 + j) * nIn + p]

    let private checkShape (what: string) (t: Tensor) (dims: int[]) =
        if isNull t || t.Shape.ToArray() <> dims then
            invalidArg
                "p"
                (sprintf
                    "Actor.create: %s has shape %s, expected %A"
                    what
                    (if isNull t then "null" else string t.Shape)
                    dims)

    let private packLinear (what: string) (layer: Linear) (nIn: int) (nOut: int) : PackedLinear =
        checkShape (what + ".weight") layer.Weight [| nOut; nIn |]
        checkShape (what + ".bias") layer.Bias [| nOut |]
        let np = padded nOut
        let w = Array.zeroCreate (nIn * np)
        transposeInto w 0 np (layer.Weight.ToArray()) nIn 0 nOut
        let b = Array.zeroCreate np
        Array.blit (layer.Bias.ToArray()) 0 b 0 nOut

        {
            W = w
            B = b
            K = nIn
            N = nOut
            Np = np
        }

    let private packNet (prefix: string) (nIn: int) (nActions: int) (net: AgentNet) : PackedNet =
        match net with
        | RnnNet r ->
            let h = GruCell.hidden r.Rnn

            if isNull r.Fc1.Weight || r.Fc1.Weight.Rank <> 2 then
                invalidArg "p" (sprintf "Actor.create: %sfc1.weight must be [hidden, %d]" prefix nIn)

            let h1 = r.Fc1.Weight.Shape[0]
            let fc1 = packLinear (prefix + "fc1") r.Fc1 nIn h1
            checkShape (prefix + "rnn.weight_ih") r.Rnn.WeightIh [| 3 * h; h1 |]
            checkShape (prefix + "rnn.weight_hh") r.Rnn.WeightHh [| 3 * h; h |]
            checkShape (prefix + "rnn.bias_ih") r.Rnn.BiasIh [| 3 * h |]
            checkShape (prefix + "rnn.bias_hh") r.Rnn.BiasHh [| 3 * h |]
            let wih = r.Rnn.WeightIh.ToArray()
            let whh = r.Rnn.WeightHh.ToArray()
            let bih = r.Rnn.BiasIh.ToArray()
            let bhh = r.Rnn.BiasHh.ToArray()
            let hp = padded h

            // gate g's map: over [x ‖ h] when both sides feed it (r, z), else over one side
            let gate (g: int) (fromX: bool) (fromH: bool) =
                let k = (if fromX then h1 else 0) + (if fromH then h else 0)
                let w = Array.zeroCreate (k * hp)
                let b = Array.zeroCreate hp

                if fromX then
                    transposeInto w 0 hp wih h1 (g * h) h

                if fromH then
                    transposeInto w (if fromX then h1 else 0) hp whh h (g * h) h

                for j in 0 .. h - 1 do
                    b[j] <-
                        (if fromX then bih[g * h + j] else 0.0f)
                        + (if fromH then bhh[g * h + j] else 0.0f)

                { W = w; B = b; K = k; N = h; Np = hp }

            PackedRnn(
                fc1,
                gate 0 true true,
                gate 1 true true,
                gate 2 true false,
                gate 2 false true,
                packLinear (prefix + "fc2") r.Fc2 h nActions
            )
        | MlpNet m ->
            if isNull m.Fc1.Weight || m.Fc1.Weight.Rank <> 2 then
                invalidArg "p" (sprintf "Actor.create: %sfc1.weight must be [hidden, %d]" prefix nIn)

            let h1 = m.Fc1.Weight.Shape[0]

            if isNull m.Fc2.Weight || m.Fc2.Weight.Rank <> 2 then
                invalidArg "p" (sprintf "Actor.create: %sfc2.weight must be [hidden, %d]" prefix h1)

            let h2 = m.Fc2.Weight.Shape[0]

            PackedMlp(
                packLinear (prefix + "fc1") m.Fc1 nIn h1,
                packLinear (prefix + "fc2") m.Fc2 h1 h2,
                packLinear (prefix + "fc3") m.Fc3 h2 nActions
            )

    /// <summary>An actor on a chosen instruction set (for tests and benchmarks); one the machine lacks falls back to
    /// the next slower one it has.</summary>
    /// <param name="isa">The instruction set.</param>
    /// <param name="cfg">The agent network's settings (which inputs it takes).</param>
    /// <param name="spec">The environment's sizes.</param>
    /// <param name="p">The agents' parameters; they are copied, so later steps do not read them.</param>
    /// <param name="maxRows">The most rows (environments × agents) a step will have, at least 1.</param>
    /// <returns>The actor.</returns>
    /// <exception cref="System.ArgumentException"><paramref name="maxRows"/> is below 1, a parameter has the wrong
    /// shape for the settings and spec (the message names it), or per-agent parameters are not one network per
    /// agent.</exception>
    let createWith (isa: Kernels.Isa) (cfg: AgentConfig) (spec: EnvSpec) (p: AgentParams) (maxRows: int) : Actor =
        if maxRows < 1 then
            invalidArg (nameof maxRows) (sprintf "Actor.create: maxRows must be at least 1, got %d" maxRows)

        let isa = Kernels.supported isa

        let nIn = Agent.inputDim cfg spec

        let nets =
            match p with
            | Shared net -> [| packNet "" nIn spec.NActions net |]
            | PerAgent nets ->
                if isNull nets || nets.Length <> spec.NAgents then
                    invalidArg
                        (nameof p)
                        (sprintf
                            "Actor.create: %d per-agent networks for N=%d agents"
                            (if isNull nets then 0 else nets.Length)
                            spec.NAgents)

                nets
                |> Array.mapi (fun a net -> packNet (sprintf "%d." a) nIn spec.NActions net)

        let isRnn =
            match nets[0] with
            | PackedRnn _ -> true
            | PackedMlp _ -> false

        if
            nets
            |> Array.exists (fun n ->
                (match n with
                 | PackedRnn _ -> true
                 | PackedMlp _ -> false)
                <> isRnn)
        then
            invalidArg (nameof p) "Actor.create: the per-agent networks mix RNN and MLP agents"

        let widths (net: PackedNet) =
            match net with
            | PackedRnn(fc1, r, z, ni, nh, _) -> [| fc1.Np; r.Np; r.Np; z.Np; ni.Np; nh.Np |]
            | PackedMlp(fc1, fc2, _) -> [| fc1.Np; fc2.Np |]

        let w0 = widths nets[0]

        if nets |> Array.exists (fun n -> widths n <> w0) then
            invalidArg (nameof p) "Actor.create: the per-agent networks differ in width"

        let hiddenDim =
            match nets[0] with
            | PackedRnn(_, r, _, _, _, _) -> r.N
            | PackedMlp _ -> 1

        Actor(cfg, spec, maxRows, isa, nets, hiddenDim, w0)

    /// <summary>An actor for up to <paramref name="maxRows"/> rows, on the fastest instruction set the machine
    /// has.</summary>
    /// <param name="cfg">The agent network's settings (which inputs it takes).</param>
    /// <param name="spec">The environment's sizes.</param>
    /// <param name="p">The agents' parameters; they are copied (packed), so the actor does not read them again.</param>
    /// <param name="maxRows">The most rows (environments × agents) a step will have, at least 1.</param>
    /// <returns>The actor.</returns>
    /// <exception cref="System.ArgumentException"><paramref name="maxRows"/> is below 1, or a parameter has the wrong
    /// shape for the settings and spec (the message names it).</exception>
    let create (cfg: AgentConfig) (spec: EnvSpec) (p: AgentParams) (maxRows: int) : Actor =
        createWith Kernels.bestIsa cfg spec p maxRows

    /// The number of rows of a step, from the previous actions, checked against the observations and hidden state.
    let private rowsOf
        (actor: Actor)
        (op: string)
        (obs: ReadOnlySpan<float32>)
        (lastActions: ReadOnlySpan<int>)
        (hidden: Span<float32>)
        =
        let spec = actor.Spec
        let n = spec.NAgents
        let rows = lastActions.Length

        if rows = 0 || rows % n <> 0 then
            invalidArg
                (nameof lastActions)
                (sprintf "Actor.%s: lastActions has %d values, not a positive multiple of N=%d" op rows n)

        if rows > actor.MaxRows then
            invalidArg
                (nameof lastActions)
                (sprintf "Actor.%s: lastActions has %d values, more than the actor's MaxRows=%d" op rows actor.MaxRows)

        if obs.Length <> rows * spec.ObsDim then
            invalidArg
                (nameof obs)
                (sprintf
                    "Actor.%s: obs has %d values, expected %d (%d rows × obs_dim=%d)"
                    op
                    obs.Length
                    (rows * spec.ObsDim)
                    rows
                    spec.ObsDim)

        if hidden.Length <> rows * actor.HiddenDim then
            invalidArg
                (nameof hidden)
                (sprintf
                    "Actor.%s: hidden has %d values, expected %d (%d rows × hidden=%d)"
                    op
                    hidden.Length
                    (rows * actor.HiddenDim)
                    rows
                    actor.HiddenDim)

        rows

    /// Writes the input rows [rows, D] into the actor's buffer.
    let private writeInputs (actor: Actor) (op: string) (obs: ReadOnlySpan<float32>) (lastActions: ReadOnlySpan<int>) =
        let cfg, spec = actor.Config, actor.Spec
        let o, a, n, d = spec.ObsDim, spec.NActions, spec.NAgents, actor.InputDim
        let xin = actor.Xin

        for row in 0 .. lastActions.Length - 1 do
            let dst = Span<float32>(xin, row * d, d)
            obs.Slice(row * o, o).CopyTo dst
            dst.Slice(o).Clear()
            let mutable c = o

            if cfg.LastAction then
                let last = lastActions[row]

                if last < -1 || last >= a then
                    invalidArg
                        (nameof lastActions)
                        (sprintf "Actor.%s: lastActions[%d] = %d is not an action in [0, %d) or -1 (none)" op row last a)

                if last >= 0 then
                    dst[c + last] <- 1.0f

                c <- c + a

            if cfg.AgentId then
                dst[c + row % n] <- 1.0f

    /// O = layer(A1 [‖ A2]) over rows first, first + step, … (count of them), all buffers pinned by the caller.
    let private apply
        (actor: Actor)
        (count: int)
        (first: int)
        (step: int)
        (a1: nativeptr<float32>, ld1: int, k1: int)
        (a2: nativeptr<float32>, ld2: int)
        (layer: PackedLinear)
        (o: nativeptr<float32>, ldo: int)
        (relu: bool)
        =
        use pw = fixed layer.W
        use pb = fixed layer.B

        RowGemm.gemm (
            actor.Isa,
            count,
            NativePtr.add a1 (first * ld1),
            step * ld1,
            k1,
            NativePtr.add a2 (first * ld2),
            step * ld2,
            layer.K - k1,
            pw,
            layer.Np,
            layer.Np,
            pb,
            NativePtr.add o (first * ldo),
            step * ldo,
            relu
        )

    /// The forward pass over the rows of a checked step: Q-values into the actor's Q buffer, the hidden state
    /// advanced in place.
    let private forward (actor: Actor) (rows: int) (hidden: Span<float32>) =
        let nets = actor.Nets
        let n = actor.Spec.NAgents
        // shared: one network over every row; per agent: network a over rows a, a + N, …
        let shared = nets.Length = 1
        let count = if shared then rows else rows / n
        let step = if shared then 1 else n
        let d = actor.InputDim
        let bufs = actor.Bufs
        let aq = actor.QWidth
        use px = fixed actor.Xin
        use pq = fixed actor.Q

        match nets[0] with
        | PackedRnn _ ->
            let h = actor.HiddenDim
            let w1, hp = bufs[0].Length / actor.MaxRows, bufs[1].Length / actor.MaxRows
            use p1 = fixed bufs[0]
            use ph = fixed bufs[1]
            use pr = fixed bufs[2]
            use pz = fixed bufs[3]
            use pni = fixed bufs[4]
            use pnh = fixed bufs[5]
            // the carried state into its padded rows (the padding stays zero)
            if hp = h then
                hidden.CopyTo(Span<float32>(bufs[1], 0, rows * h))
            else
                for row in 0 .. rows - 1 do
                    hidden.Slice(row * h, h).CopyTo(Span<float32>(bufs[1], row * hp, h))

            for i in 0 .. nets.Length - 1 do
                match nets[i] with
                | PackedRnn(fc1, r, z, ni, nh, _) ->
                    apply actor count i step (px, d, d) (px, d) fc1 (p1, w1) true
                    apply actor count i step (p1, w1, fc1.N) (ph, hp) r (pr, hp) false
                    apply actor count i step (p1, w1, fc1.N) (ph, hp) z (pz, hp) false
                    apply actor count i step (p1, w1, fc1.N) (ph, hp) ni (pni, hp) false
                    apply actor count i step (ph, hp, h) (ph, hp) nh (pnh, hp) false
                | PackedMlp _ -> ()

            // the gates over every row at once: r, z = σ(·); n = tanh(gi_n + r ⊙ gh_n); h' = n + z ⊙ (h − n)
            let len = rows * hp
            let hS = Span<float32>(bufs[1], 0, len)
            let rS = Span<float32>(bufs[2], 0, len)
            let zS = Span<float32>(bufs[3], 0, len)
            let nS = Span<float32>(bufs[4], 0, len)
            let tS = Span<float32>(bufs[5], 0, len)
            TP.Sigmoid(rS, rS)
            TP.Sigmoid(zS, zS)
            TP.MultiplyAdd(rS, tS, nS, nS)
            TP.Tanh(nS, nS)
            TP.Subtract(hS, nS, tS)
            TP.MultiplyAdd(zS, tS, nS, hS)

            if hp = h then
                hS.Slice(0, rows * h).CopyTo hidden
            else
                for row in 0 .. rows - 1 do
                    hS.Slice(row * hp, h).CopyTo(hidden.Slice(row * h, h))

            for i in 0 .. nets.Length - 1 do
                match nets[i] with
                | PackedRnn(_, _, _, _, _, fc2) -> apply actor count i step (ph, hp, h) (ph, hp) fc2 (pq, aq) false
                | PackedMlp _ -> ()
        | PackedMlp _ ->
            let w1, w2 = bufs[0].Length / actor.MaxRows, bufs[1].Length / actor.MaxRows
            use p1 = fixed bufs[0]
            use p2 = fixed bufs[1]

            for i in 0 .. nets.Length - 1 do
                match nets[i] with
                | PackedMlp(fc1, fc2, fc3) ->
                    apply actor count i step (px, d, d) (px, d) fc1 (p1, w1) true
                    apply actor count i step (p1, w1, fc1.N) (p1, w1) fc2 (p2, w2) true
                    apply actor count i step (p2, w2, fc2.N) (p2, w2) fc3 (pq, aq) false
                | PackedRnn _ -> ()

    /// <summary>One acting step's Q-values: for each row (environment e's agent a at row e·N + a), the agent's
    /// Q-values from its observation, its previous action and its hidden state, which moves on in place. Use it for
    /// ε-greedy selection; <see cref="M:Qmix.Functional.ActorModule.greedy"/> is the greedy step.</summary>
    /// <param name="actor">The actor.</param>
    /// <param name="obs">Observations [R·obs_dim], row by row.</param>
    /// <param name="lastActions">Every row's previous action [R], −1 for none (an episode's first step); R, a
    /// positive multiple of N at most <c>MaxRows</c>, is the step's number of rows.</param>
    /// <param name="hidden">The hidden state [R·HiddenDim], read and overwritten with the next one (left as it is by
    /// the MLP agent).</param>
    /// <param name="qOut">Receives the Q-values [R·A], row by row.</param>
    /// <exception cref="System.ArgumentException">A span has the wrong length (the message names it and both
    /// lengths), R exceeds <c>MaxRows</c>, or a previous action is out of range. Nothing is changed then.</exception>
    let qValues
        (actor: Actor)
        (obs: ReadOnlySpan<float32>)
        (lastActions: ReadOnlySpan<int>)
        (hidden: Span<float32>)
        (qOut: Span<float32>)
        : unit =
        let rows = rowsOf actor "qValues" obs lastActions hidden
        let a = actor.Spec.NActions

        if qOut.Length <> rows * a then
            invalidArg
                (nameof qOut)
                (sprintf "Actor.qValues: qOut has %d values, expected %d (%d rows × A=%d)" qOut.Length (rows * a) rows a)

        writeInputs actor "qValues" obs lastActions
        forward actor rows hidden
        let aq = actor.QWidth

        if aq = a then
            ReadOnlySpan<float32>(actor.Q, 0, rows * a).CopyTo qOut
        else
            for row in 0 .. rows - 1 do
                ReadOnlySpan<float32>(actor.Q, row * aq, a).CopyTo(qOut.Slice(row * a, a))

    /// <summary>Raises <see cref="T:Qmix.Functional.NonFiniteQValueException"/> for the first non-finite value among
    /// Q-values of consecutive rows (row r is agent r mod N of environment r / N), naming the agent and the
    /// step.</summary>
    /// <param name="spec">The environment's sizes (its name and N go into the message).</param>
    /// <param name="step">The step of the episode, or −1 when unknown.</param>
    /// <param name="firstRow">The row of the first values.</param>
    /// <param name="q">Q-values [rows·A], row by row.</param>
    let checkFinite (spec: EnvSpec) (step: int) (firstRow: int) (q: ReadOnlySpan<float32>) : unit =
        if not (TP.IsFiniteAll q) then
            let mutable i = 0

            while Single.IsFinite q[i] do
                i <- i + 1

            let a = spec.NActions
            let row, action = firstRow + i / a, i % a
            let agent = row % spec.NAgents

            raise (
                NonFiniteQValueException(
                    sprintf
                        "%s: agent %d%s%s has Q-value %g for action %d: its network's parameters hold NaN or infinite values (diverged training, or a damaged model); acting stops rather than pick an action"
                        spec.Name
                        agent
                        (if row >= spec.NAgents then
                             sprintf " of environment %d" (row / spec.NAgents)
                         else
                             "")
                        (if step >= 0 then sprintf " at step %d" step else "")
                        q[i]
                        action,
                    agent,
                    step,
                    action,
                    q[i]
                )
            )

    /// <summary>One greedy acting step: every row's action is the first largest Q-value among its available actions
    /// (PyMARL sets unavailable actions' Q-values to −9999999 before the argmax; skipping them picks the same action
    /// and stays right when every Q-value is below that). The hidden state moves on in place.</summary>
    /// <param name="actor">The actor.</param>
    /// <param name="obs">Observations [R·obs_dim], row by row.</param>
    /// <param name="lastActions">Every row's previous action [R], −1 for none (an episode's first step); R, a
    /// positive multiple of N at most <c>MaxRows</c>, is the step's number of rows.</param>
    /// <param name="hidden">The hidden state [R·HiddenDim], read and overwritten with the next one (left as it is by
    /// the MLP agent).</param>
    /// <param name="avail">Available actions [R·A], row by row (true = available).</param>
    /// <param name="actionsOut">Receives one action per row [R].</param>
    /// <exception cref="System.ArgumentException">A span has the wrong length (the message names it and both
    /// lengths), R exceeds <c>MaxRows</c>, a previous action is out of range, or a row has no available action.
    /// Nothing is changed then.</exception>
    /// <exception cref="Qmix.Functional.NonFiniteQValueException">A row's Q-value is NaN or infinite (its step is
    /// given as −1: the actor does not count steps).</exception>
    let greedy
        (actor: Actor)
        (obs: ReadOnlySpan<float32>)
        (lastActions: ReadOnlySpan<int>)
        (hidden: Span<float32>)
        (avail: ReadOnlySpan<bool>)
        (actionsOut: Span<int>)
        : unit =
        let rows = rowsOf actor "greedy" obs lastActions hidden
        let a = actor.Spec.NActions

        if avail.Length <> rows * a then
            invalidArg
                (nameof avail)
                (sprintf
                    "Actor.greedy: avail has %d values, expected %d (%d rows × A=%d)"
                    avail.Length
                    (rows * a)
                    rows
                    a)

        if actionsOut.Length <> rows then
            invalidArg
                (nameof actionsOut)
                (sprintf "Actor.greedy: actionsOut has %d values, expected %d (one per row)" actionsOut.Length rows)

        for row in 0 .. rows - 1 do
            if not (avail.Slice(row * a, a).Contains true) then
                invalidArg (nameof avail) (sprintf "Actor.greedy: row %d has no available action" row)

        writeInputs actor "greedy" obs lastActions
        forward actor rows hidden
        let q = actor.Q
        let aq = actor.QWidth

        // a NaN or infinite Q-value stops acting (it would otherwise pick an arbitrary action)
        for row in 0 .. rows - 1 do
            checkFinite actor.Spec -1 row (ReadOnlySpan(q, row * aq, a))

        for row in 0 .. rows - 1 do
            let mutable best = -1
            let mutable bestQ = 0.0f

            for u in 0 .. a - 1 do
                let v = q[row * aq + u]

                if avail[row * a + u] && (best < 0 || v > bestQ) then
                    best <- u
                    bestQ <- v

            actionsOut[row] <- best
