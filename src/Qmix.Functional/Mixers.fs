namespace Qmix.Functional

open Qmix.Tensors

/// <summary>How a hypernetwork's output is made non-negative.</summary>
type NonNegative =
    /// <summary>|x|, as in the QMIX paper and PyMARL.</summary>
    | Abs
    /// <summary>log(1 + eˣ), one of pymarl2's alternatives (smooth, never exactly zero).</summary>
    | Softplus

/// <summary>What the mixer's hypernetworks read.</summary>
type HyperInput =
    /// <summary>The global state (the paper's choice, the default).</summary>
    | GlobalState
    /// <summary>The concatenation of all agents' observations.</summary>
    | AllObservations
    /// <summary>The global state followed by all agents' observations.</summary>
    | StateAndObservations

/// <summary>QMIX mixer settings, with PyMARL's defaults in <c>QmixConfig.defaults</c>.</summary>
type QmixConfig =
    {
        /// <summary>The mixing network's hidden width (<c>mixing_embed_dim</c>, 32).</summary>
        Embed: int
        /// <summary>Hypernetwork depth for W1 and W_final: 1 (the ICML paper) or 2 (PyMARL's default).</summary>
        HypernetLayers: int
        /// <summary>The hidden width of 2-layer hypernetworks (<c>hypernet_embed</c>, 64).</summary>
        HypernetEmbed: int
        /// <summary>How mixing weights are made non-negative (abs).</summary>
        NonNegative: NonNegative
    }

    /// <summary>PyMARL's QMIX mixer: embed 32, 2-layer hypernetworks of width 64, abs.</summary>
    static member defaults =
        {
            Embed = 32
            HypernetLayers = 2
            HypernetEmbed = 64
            NonNegative = Abs
        }

/// <summary>The choice of mixer. Every mixer maps agent Qs [..., N] and a hypernetwork input [..., D] to
/// [..., K] with K = 1, except <c>Independent</c> (K = N).</summary>
type MixerConfig =
    /// <summary>QMIX: a monotonic mixing network whose weights come from hypernetworks of the state.</summary>
    | Qmix of QmixConfig
    /// <summary>VDN: Q_tot = Σ_a Q_a.</summary>
    | Vdn
    /// <summary>IQL: no mixer; each agent's Q is trained on the team reward.</summary>
    | Independent
    /// <summary>The paper's QMIX-NS ablation: QMIX's mixing network with free non-negative weights and biases
    /// (learned constants), not functions of the state.</summary>
    | QmixNs of QmixConfig
    /// <summary>The paper's QMIX-Lin ablation: Q_tot = Σ_a w_a(s) Q_a + b(s), w ≥ 0, no hidden layer.</summary>
    | QmixLin of QmixConfig
    /// <summary>The paper's VDN-S ablation: Q_tot = Σ_a Q_a + V(s).</summary>
    | VdnS of QmixConfig

/// <summary>A two-layer network Linear → ReLU → Linear, named like PyTorch's <c>nn.Sequential</c>
/// (<c>0.weight</c>, <c>2.weight</c>).</summary>
type TwoLayer =
    {
        /// <summary>The first layer (<c>0</c>).</summary>
        [<ParamName "0">]
        Hidden: Linear
        /// <summary>The second layer (<c>2</c>; index 1 is the ReLU).</summary>
        [<ParamName "2">]
        Output: Linear
    }

/// <summary>A hypernetwork of depth 1 or 2.</summary>
type Hypernet =
    /// <summary>One Linear layer.</summary>
    | OneLayer of Linear
    /// <summary>Linear → ReLU → Linear.</summary>
    | TwoLayers of TwoLayer

/// <summary>QMIX's mixer parameters, named as PyMARL's <c>QMixer</c>.</summary>
type QmixMixer =
    {
        /// <summary>Hypernetwork for W1 (state → N·embed).</summary>
        [<ParamName "hyper_w_1">]
        HyperW1: Hypernet
        /// <summary>Hypernetwork for b1 (state → embed), one layer.</summary>
        [<ParamName "hyper_b_1">]
        HyperB1: Linear
        /// <summary>Hypernetwork for W_final (state → embed).</summary>
        [<ParamName "hyper_w_final">]
        HyperWFinal: Hypernet
        /// <summary>The state value V(s) (state → embed → 1).</summary>
        [<ParamName "V">]
        V: TwoLayer
    }

/// <summary>QMIX-NS parameters: the mixing network's weights and biases as free parameters.</summary>
type QmixNsMixer =
    {
        /// <summary>Raw first-layer weights [N, embed] (made non-negative in the forward pass).</summary>
        [<ParamName "w_1">]
        W1: Tensor
        /// <summary>First-layer bias [embed].</summary>
        [<ParamName "b_1">]
        B1: Tensor
        /// <summary>Raw final weights [embed] (made non-negative in the forward pass).</summary>
        [<ParamName "w_final">]
        WFinal: Tensor
        /// <summary>The final bias [1], a learned constant.</summary>
        [<ParamName "b_final">]
        BFinal: Tensor
    }

/// <summary>QMIX-Lin parameters: state-dependent non-negative weights and a state-dependent bias.</summary>
type QmixLinMixer =
    {
        /// <summary>Hypernetwork for the per-agent weights (state → N).</summary>
        [<ParamName "hyper_w_1">]
        HyperW1: Hypernet
        /// <summary>The state-dependent bias V(s).</summary>
        [<ParamName "V">]
        V: TwoLayer
    }

/// <summary>The parameters of a built-in mixer. Cases are transparent in parameter names.</summary>
type MixerParams =
    /// <summary>QMIX.</summary>
    | QmixParams of QmixMixer
    /// <summary>VDN and IQL have no parameters.</summary>
    | NoParams
    /// <summary>QMIX-NS.</summary>
    | QmixNsParams of QmixNsMixer
    /// <summary>QMIX-Lin.</summary>
    | QmixLinParams of QmixLinMixer
    /// <summary>VDN-S: the state value V(s).</summary>
    | VdnSParams of TwoLayer

/// <summary>What the learner knows of a mixer's form beyond its functions. The fused engine runs the built-in QMIX,
/// VDN and IQL mixers from it; any mixer whose structure is <c>Opaque</c> (every one you write) runs on the gradient
/// tape, which needs only <c>Forward</c>.</summary>
type MixerStructure<'P> =
    /// <summary>Known only by its functions.</summary>
    | Opaque
    /// <summary>Q_tot = Σ_a Q_a (VDN).</summary>
    | Summed
    /// <summary>Every agent's Q is its own output (IQL).</summary>
    | Unmixed
    /// <summary>QMIX's hypernetwork mixer with its settings, and the QMIX tensors of its parameters (None when the
    /// parameters are another mixer's).</summary>
    | Hypernetworks of QmixConfig * parameters: ('P -> QmixMixer option)

/// <summary>A mixer: parameters of type <c>'P</c> and a pure forward pass. Built-in mixers come from
/// <see cref="M:Qmix.Functional.Mixers.create"/>; a user-defined mixer is any such record and plugs into the learner
/// and the verifier like a built-in one.</summary>
type Mixer<'P> =
    {
        /// <summary>A short name for reports, e.g. <c>qmix</c>.</summary>
        Name: string
        /// <summary>Whether the mixer claims ∂Q_tot/∂Q_a ≥ 0 (and so argmax decomposition); the verifier checks it.</summary>
        ClaimsMonotonic: bool
        /// <summary>The width K of the output: 1 for a mixer, N for independent learners.</summary>
        Outputs: int
        /// <summary>Fresh parameters from a key.</summary>
        Init: Key -> 'P
        /// <summary>Q_tot [..., K] from agent Qs [..., N] and the hypernetwork input [..., D].</summary>
        Forward: 'P -> Tensor -> Tensor -> Tensor
        /// <summary>The mixer's known form (<c>Opaque</c> for your own: it runs on the gradient tape).</summary>
        Structure: MixerStructure<'P>
    }

/// <summary>Built-in mixers and their hypernetwork inputs.</summary>
[<RequireQualifiedAccess>]
module Mixers =
    /// <summary>The width D of the hypernetwork input for a choice of input.</summary>
    let inputDim (input: HyperInput) (spec: EnvSpec) : int =
        match input with
        | GlobalState -> spec.StateDim
        | AllObservations -> spec.NAgents * spec.ObsDim
        | StateAndObservations -> spec.StateDim + spec.NAgents * spec.ObsDim

    /// <summary>The hypernetwork input for every step of a batch, time-major [T', B, D].</summary>
    let batchInputs (input: HyperInput) (spec: EnvSpec) (batch: EpisodeBatch) : Tensor =
        let b, t, s = batch.BatchSize, batch.MaxSeqLength, batch.StateDim
        let no = batch.NAgents * batch.ObsDim
        let d = inputDim input spec
        let data = Array.zeroCreate (t * b * d)

        for k in 0 .. t - 1 do
            for e in 0 .. b - 1 do
                let dst = (k * b + e) * d
                let src = e * t + k

                match input with
                | GlobalState -> System.Array.Copy(batch.State, src * s, data, dst, s)
                | AllObservations -> System.Array.Copy(batch.Obs, src * no, data, dst, no)
                | StateAndObservations ->
                    System.Array.Copy(batch.State, src * s, data, dst, s)
                    System.Array.Copy(batch.Obs, src * no, data, dst + s, no)

        Tensor.ofArray [| t; b; d |] data

    /// <summary>The hypernetwork input for one acting step: states [E·S] and observations [E·N·O] give [E, D].</summary>
    let actingInputs (input: HyperInput) (spec: EnvSpec) (states: float32[]) (obs: float32[]) : Tensor =
        let s, no = spec.StateDim, spec.NAgents * spec.ObsDim
        let e = states.Length / s

        match input with
        | GlobalState -> Tensor.ofArray [| e; s |] states
        | AllObservations -> Tensor.ofArray [| e; no |] obs
        | StateAndObservations -> Tensor.concat -1 [ Tensor.ofArray [| e; s |] states; Tensor.ofArray [| e; no |] obs ]

    let private nonNegative (how: NonNegative) (x: Tensor) =
        match how with
        | Abs -> Tensor.abs x
        | Softplus -> Tensor.softplus x

    let private twoLayerInit (key: Key) (i: int) (h: int) (o: int) : TwoLayer =
        let k1, k2 = Rng.split key

        {
            Hidden = Linear.init k1 i h
            Output = Linear.init k2 h o
        }

    let private twoLayer (p: TwoLayer) (x: Tensor) =
        x |> Linear.forward p.Hidden |> Tensor.relu |> Linear.forward p.Output

    let private hypernetInit (cfg: QmixConfig) (key: Key) (i: int) (o: int) : Hypernet =
        match cfg.HypernetLayers with
        | 1 -> OneLayer(Linear.init key i o)
        | 2 -> TwoLayers(twoLayerInit key i cfg.HypernetEmbed o)
        | n -> invalidArg (nameof cfg) (sprintf "QMIX: HypernetLayers must be 1 or 2, got %d" n)

    let private hypernet (p: Hypernet) (x: Tensor) =
        match p with
        | OneLayer l -> Linear.forward l x
        | TwoLayers t -> twoLayer t x

    /// <summary>Flattens agent Qs [..., N] and the input [..., D] to rows [M, N] and [M, D], checking they agree.</summary>
    let private rows (name: string) (n: int) (d: int) (qs: Tensor) (s: Tensor) =
        if qs.Rank < 1 || qs.Shape[-1] <> n then
            invalidArg (nameof qs) (sprintf "%s mixer: agent Qs must be [..., N=%d], got %O" name n qs.Shape)

        if s.Rank < 1 || s.Shape[-1] <> d then
            invalidArg
                (nameof s)
                (sprintf "%s mixer: the hypernetwork input must be [..., D=%d], got %O" name d s.Shape)

        let m = qs.Numel / n

        if s.Numel / d <> m || s.Rank <> qs.Rank then
            invalidArg
                (nameof s)
                (sprintf
                    "%s mixer: agent Qs %O and hypernetwork input %O have different leading axes"
                    name
                    qs.Shape
                    s.Shape)

        let lead = qs.Shape.ToArray()[.. qs.Rank - 2]
        Tensor.reshape [| m; n |] qs, Tensor.reshape [| m; d |] s, Array.append lead [| 1 |]

    /// QMIX's forward pass with a given map of the hypernetworks' weights (the non-negative one, or none for the
    /// verifier's negative control).
    let private qmixForwardWith
        (weights: Tensor -> Tensor)
        (cfg: QmixConfig)
        (n: int)
        (d: int)
        (p: QmixMixer)
        (qs: Tensor)
        (s: Tensor)
        : Tensor =
        let e = cfg.Embed
        let q, st, outDims = rows "qmix" n d qs s
        let m = q.Shape[0]
        // first layer: non-negative weights [M, N, E] from the state, bias [M, E]
        let w1 = hypernet p.HyperW1 st |> weights |> Tensor.reshape [| m; n; e |]

        let b1 = Linear.forward p.HyperB1 st

        let hidden =
            Tensor.mul (Tensor.reshape [| m; n; 1 |] q) w1 |> Tensor.sumAxis 1 false

        let hidden = Tensor.add hidden b1 |> Tensor.elu
        // final layer: non-negative weights [M, E] and the state value V(s) [M, 1]
        let wf = hypernet p.HyperWFinal st |> weights
        let v = twoLayer p.V st

        Tensor.add (Tensor.mul hidden wf |> Tensor.sumAxis 1 true) v
        |> Tensor.reshape outDims

    /// <summary>QMIX's forward pass: hidden = ELU(Q·|W1(s)| + b1(s)); Q_tot = hidden·|W_final(s)| + V(s).</summary>
    let qmixForward (cfg: QmixConfig) (n: int) (d: int) (p: QmixMixer) (qs: Tensor) (s: Tensor) : Tensor =
        qmixForwardWith (nonNegative cfg.NonNegative) cfg n d p qs s

    let private build (cfg: MixerConfig) (n: int) (d: int) : Mixer<MixerParams> =
        if n < 1 then
            invalidArg (nameof n) (sprintf "mixer: needs at least one agent, got N=%d" n)

        match cfg with
        | Qmix q
        | QmixNs q
        | QmixLin q
        | VdnS q when
            q.Embed < 1
            || q.HypernetEmbed < 1
            || (q.HypernetLayers <> 1 && q.HypernetLayers <> 2)
            ->
            invalidArg
                (nameof cfg)
                (sprintf "mixer: Embed and HypernetEmbed must be positive and HypernetLayers 1 or 2, got %A" q)
        | Qmix q ->
            let init key =
                let k = Rng.splitN 4 key

                QmixParams
                    {
                        HyperW1 = hypernetInit q k[0] d (q.Embed * n)
                        HyperB1 = Linear.init k[1] d q.Embed
                        HyperWFinal = hypernetInit q k[2] d q.Embed
                        V = twoLayerInit k[3] d q.Embed 1
                    }

            let forward p (qs: Tensor) (s: Tensor) =
                match p with
                | QmixParams m -> qmixForward q n d m qs s
                | other -> invalidArg "p" (sprintf "qmix mixer: got parameters of another mixer (%A)" other)

            {
                Name = "qmix"
                ClaimsMonotonic = true
                Outputs = 1
                Init = init
                Forward = forward
                Structure =
                    Hypernetworks(
                        q,
                        function
                        | QmixParams m -> Some m
                        | _ -> None
                    )
            }
        | Vdn ->
            {
                Name = "vdn"
                ClaimsMonotonic = true
                Outputs = 1
                Init = fun _ -> NoParams
                Forward =
                    fun _ (qs: Tensor) (s: Tensor) ->
                        let q, _, outDims = rows "vdn" n s.Shape[-1] qs s
                        Tensor.sumAxis 1 true q |> Tensor.reshape outDims
                Structure = Summed
            }
        | Independent ->
            {
                Name = "iql"
                ClaimsMonotonic = true
                Outputs = n
                Init = fun _ -> NoParams
                Forward =
                    fun _ (qs: Tensor) (s: Tensor) ->
                        rows "iql" n s.Shape[-1] qs s |> ignore
                        qs
                Structure = Unmixed
            }
        | QmixNs q ->
            let e = q.Embed

            let init key =
                let k = Rng.splitN 4 key

                let u (k: Key) (fanIn: int) (dims: int[]) =
                    let b = 1.0f / sqrt (float32 fanIn)
                    Rng.uniformRange k -b b (Shape dims)

                QmixNsParams
                    {
                        W1 = u k[0] n [| n; e |]
                        B1 = u k[1] n [| e |]
                        WFinal = u k[2] e [| e |]
                        BFinal = u k[3] e [| 1 |]
                    }

            let forward p (qs: Tensor) (s: Tensor) =
                match p with
                | QmixNsParams m ->
                    let qr, _, outDims = rows "qmix-ns" n s.Shape[-1] qs s
                    // hidden = ELU(Q·|W1| + b1) with the same weights for every state
                    let hidden =
                        Tensor.matmul qr (nonNegative q.NonNegative m.W1)
                        |> Tensor.add m.B1
                        |> Tensor.elu

                    let wf = nonNegative q.NonNegative m.WFinal |> Tensor.reshape [| e; 1 |]
                    Tensor.add (Tensor.matmul hidden wf) m.BFinal |> Tensor.reshape outDims
                | other -> invalidArg "p" (sprintf "qmix-ns mixer: got parameters of another mixer (%A)" other)


            {
                Name = "qmix-ns"
                ClaimsMonotonic = true
                Outputs = 1
                Init = init
                Forward = forward
                Structure = Opaque
            }
        | QmixLin q ->
            let init key =
                let k1, k2 = Rng.split key

                QmixLinParams
                    {
                        HyperW1 = hypernetInit q k1 d n
                        V = twoLayerInit k2 d q.Embed 1
                    }

            let forward p (qs: Tensor) (s: Tensor) =
                match p with
                | QmixLinParams m ->
                    let q', st, outDims = rows "qmix-lin" n d qs s
                    // Q_tot = Σ_a |w_a(s)| Q_a + V(s)
                    let w = hypernet m.HyperW1 st |> nonNegative q.NonNegative

                    Tensor.add (Tensor.mul q' w |> Tensor.sumAxis 1 true) (twoLayer m.V st)
                    |> Tensor.reshape outDims
                | other -> invalidArg "p" (sprintf "qmix-lin mixer: got parameters of another mixer (%A)" other)

            {
                Name = "qmix-lin"
                ClaimsMonotonic = true
                Outputs = 1
                Init = init
                Forward = forward
                Structure = Opaque
            }
        | VdnS q ->
            {
                Name = "vdn-s"
                ClaimsMonotonic = true
                Outputs = 1
                Init = fun key -> VdnSParams(twoLayerInit key d q.Embed 1)
                Forward =
                    fun p (qs: Tensor) (s: Tensor) ->
                        match p with
                        | VdnSParams v ->
                            let q', st, outDims = rows "vdn-s" n d qs s
                            // Q_tot = Σ_a Q_a + V(s)
                            Tensor.add (Tensor.sumAxis 1 true q') (twoLayer v st) |> Tensor.reshape outDims
                        | other -> invalidArg "p" (sprintf "vdn-s mixer: got parameters of another mixer (%A)" other)
                Structure = Opaque
            }

    /// The configuration of every mixer record <c>create</c> made, by identity.
    let private made =
        System.Runtime.CompilerServices.ConditionalWeakTable<obj, MixerConfig>()

    /// <summary>The configuration a built-in mixer was made from, or None for any other mixer (one written by a user,
    /// or a copy of a built-in one with changed fields). The learner runs its fused update only for built-in
    /// mixers.</summary>
    let builtInConfig (mixer: Mixer<'P>) : MixerConfig option =
        match made.TryGetValue(box mixer) with
        | true, cfg -> Some cfg
        | _ -> None

    /// <summary>A built-in mixer for N agents and a hypernetwork input of width D.</summary>
    /// <param name="cfg">The choice of mixer.</param>
    /// <param name="n">The number of agents N.</param>
    /// <param name="d">The width D of the hypernetwork input (see <see cref="M:Qmix.Functional.Mixers.inputDim"/>).</param>
    let create (cfg: MixerConfig) (n: int) (d: int) : Mixer<MixerParams> =
        let mixer = build cfg n d
        made.AddOrUpdate(box mixer, cfg)
        mixer

    /// <summary>QMIX's mixer with the hypernetworks' weights used as they come, without the absolute value (or
    /// softplus) that makes them non-negative: not monotonic, the verifier's negative control
    /// (<c>qmix verify --mixer qmix-no-abs</c>). Its parameters are QMIX's, drawn the same way.</summary>
    /// <param name="cfg">QMIX's settings (<c>NonNegative</c> is ignored).</param>
    /// <param name="n">The number of agents N.</param>
    /// <param name="d">The width D of the hypernetwork input.</param>
    let qmixWithoutAbs (cfg: QmixConfig) (n: int) (d: int) : Mixer<MixerParams> =
        { create (Qmix cfg) n d with
            Name = "qmix-no-abs"
            ClaimsMonotonic = false
            Forward =
                fun p qs s ->
                    match p with
                    | QmixParams m -> qmixForwardWith id cfg n d m qs s
                    | other -> invalidArg "p" (sprintf "qmix-no-abs mixer: got parameters of another mixer (%A)" other)
            Structure = Opaque
        }
