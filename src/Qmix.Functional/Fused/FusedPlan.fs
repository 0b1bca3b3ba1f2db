namespace Qmix.Functional

open System
open System.Numerics
open System.Threading.Tasks
open Qmix.Tensors


/// <summary>The mixer a fused update runs.</summary>
type internal FusedMixer =
    /// QMIX's hypernetwork mixer.
    | FusedQmix of QmixConfig
    /// Q_tot = Σ_a Q_a.
    | FusedVdn
    /// No mixer: every agent's Q is its own output.
    | FusedIql

/// <summary>What a fused update needs to know: sizes, the inputs' layout, the mixer and the TD settings.</summary>
type internal FusedPlan =
    {
        /// Agents N.
        N: int
        /// Actions A.
        A: int
        /// Observation width.
        ObsDim: int
        /// State width.
        StateDim: int
        /// Agent input width D.
        D: int
        /// GRU width H.
        H: int
        /// Hypernetwork input width.
        S: int
        /// Whether the agent input has the previous action's one-hot.
        LastAction: bool
        /// Whether the agent input has the agent id's one-hot.
        AgentId: bool
        /// What the hypernetworks read.
        Hyper: HyperInput
        /// The mixer.
        Mixer: FusedMixer
        /// The mixer's output width K (N for IQL, else 1).
        K: int
        /// Discount γ.
        Gamma: float32
        /// TD(λ)'s λ (0: one-step targets).
        Lambda: float32
        /// Double Q.
        DoubleQ: bool
        /// The loss factor.
        LossScale: float32
    }

/// <summary>Where each parameter starts in the flat parameter vector (the order of <c>Tree.leaves</c>); −1 for
/// parameters the mixer does not have (VDN and IQL have none; a one-layer hypernetwork has no output layer).</summary>
type internal FusedLayout =
    {
        /// The length of the flat vector.
        Total: int
        /// The agent: fc1's weight [H, D] and bias, the GRU's W_ih and W_hh [3H, ·] and their biases, fc2's weight
        /// [A, H] and bias.
        Fc1Weight: int
        Fc1Bias: int
        RnnWeightIh: int
        RnnWeightHh: int
        RnnBiasIh: int
        RnnBiasHh: int
        Fc2Weight: int
        Fc2Bias: int
        /// hyper_w_1: its first layer (the only one with one layer) and, with two layers, its output layer.
        HyperW1Hidden: int
        HyperW1HiddenBias: int
        HyperW1Output: int
        HyperW1OutputBias: int
        /// hyper_b_1.
        HyperB1: int
        HyperB1Bias: int
        /// hyper_w_final: its first layer (the only one with one layer) and, with two layers, its output layer.
        HyperWFinalHidden: int
        HyperWFinalHiddenBias: int
        HyperWFinalOutput: int
        HyperWFinalOutputBias: int
        /// V(s): its hidden and output layers.
        VHidden: int
        VHiddenBias: int
        VOutput: int
        VOutputBias: int
    }

/// <summary>Weights of one network set (agent and mixer) transposed to [in, out], so that every forward matmul reads
/// its right operand in place; repacked once per update.</summary>
[<Sealed>]
type internal FusedPacked(plan: FusedPlan) =
    let h, d, a = plan.H, plan.D, plan.A

    let e, he, ne =
        match plan.Mixer with
        | FusedQmix q -> q.Embed, q.HypernetEmbed, plan.N * q.Embed
        | _ -> 0, 0, 0

    let layers =
        match plan.Mixer with
        | FusedQmix q -> q.HypernetLayers
        | _ -> 0

    /// fc1ᵀ [D, H].
    member val Fc1T = Array.zeroCreate<float32>(d * h)
    /// W_ih's gate blocks transposed, r | z | n, each [H, H].
    member val WihT = Array.init 3 (fun _ -> Array.zeroCreate<float32>(h * h))
    /// W_hh's gate blocks transposed, r | z | n, each [H, H].
    member val WhhT = Array.init 3 (fun _ -> Array.zeroCreate<float32>(h * h))
    /// fc2ᵀ [H, A].
    member val Fc2T = Array.zeroCreate<float32>(h * a)
    /// The GRU's input-side biases with the hidden-side biases of r and z folded in (they add before the sigmoid):
    /// b_ir + b_hr | b_iz + b_hz | b_in.
    member val GateBias = Array.zeroCreate<float32>(3 * h)
    /// hyper_w_1's first layer transposed: [S, HE] (two layers) or [S, N·E].
    member val W1aT = Array.zeroCreate<float32>(plan.S * (if layers = 2 then he else ne))
    /// hyper_w_1's second layer transposed [HE, N·E].
    member val W1bT = Array.zeroCreate<float32>(if layers = 2 then he * ne else 0)
    /// hyper_w_final's first layer transposed: [S, HE] (two layers) or [S, E].
    member val WfaT = Array.zeroCreate<float32>(plan.S * (if layers = 2 then he else e))
    /// hyper_w_final's second layer transposed [HE, E].
    member val WfbT = Array.zeroCreate<float32>(if layers = 2 then he * e else 0)
    /// hyper_b_1 transposed [S, E].
    member val Hb1T = Array.zeroCreate<float32>(plan.S * e)
    /// V's first layer transposed [S, E].
    member val V1T = Array.zeroCreate<float32>(plan.S * e)

    /// Transposes the weights of the flat parameter vector theta into this pack.
    member pk.Fill(theta: float32[], layout: FusedLayout) =
        let tr (off: int) (rows: int) (cols: int) (dst: float32[]) =
            let src = ReadOnlySpan(theta, off, rows * cols)

            for r in 0 .. rows - 1 do
                for c in 0 .. cols - 1 do
                    dst[c * rows + r] <- src[r * cols + c]

        tr layout.Fc1Weight h d pk.Fc1T

        for g in 0..2 do
            tr (layout.RnnWeightIh + g * h * h) h h pk.WihT[g]
            tr (layout.RnnWeightHh + g * h * h) h h pk.WhhT[g]

        tr layout.Fc2Weight a h pk.Fc2T

        for j in 0 .. 3 * h - 1 do
            pk.GateBias[j] <-
                theta[layout.RnnBiasIh + j]
                + (if j < 2 * h then theta[layout.RnnBiasHh + j] else 0.0f)

        match plan.Mixer with
        | FusedQmix _ ->
            if layers = 2 then
                tr layout.HyperW1Hidden he plan.S pk.W1aT
                tr layout.HyperW1Output ne he pk.W1bT
                tr layout.HyperWFinalHidden he plan.S pk.WfaT
                tr layout.HyperWFinalOutput e he pk.WfbT
            else
                tr layout.HyperW1Hidden ne plan.S pk.W1aT
                tr layout.HyperWFinalHidden e plan.S pk.WfaT

            tr layout.HyperB1 e plan.S pk.Hb1T
            tr layout.VHidden e plan.S pk.V1T
        | _ -> ()
