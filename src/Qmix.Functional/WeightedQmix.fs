namespace Qmix.Functional

open Qmix.Tensors

/// <summary>The weighting of Weighted QMIX (Rashid et al., NeurIPS 2020).</summary>
type Weighting =
    /// <summary>CW-QMIX (centrally weighted): weight 1 where the taken joint action is the current greedy one or the
    /// target exceeds Q̂* of the greedy joint action, α elsewhere.</summary>
    | Centralised
    /// <summary>OW-QMIX (optimistically weighted): weight 1 where Q_tot underestimates the target (TD error &lt; 0),
    /// α elsewhere.</summary>
    | Optimistic

/// <summary>Weighted QMIX settings, with the defaults of the reference implementation in
/// <c>WeightedConfig.defaults</c>.</summary>
type WeightedConfig =
    {
        /// <summary>CW or OW.</summary>
        Weighting: Weighting
        /// <summary>The down-weighting α &lt; 1 of the other joint actions (<c>w</c>, 0.1 in the matrix-game
        /// experiments; 0.5 and 0.75 on SMAC).</summary>
        Alpha: float32
        /// <summary>The hidden width of the unrestricted centralised mixer Q̂* (<c>central_mixing_embed_dim</c>, 256).</summary>
        CentralEmbed: int
        /// <summary>The weight of the QMIX loss (<c>qmix_loss</c>, 1).</summary>
        QmixLossWeight: float32
        /// <summary>The weight of the loss of Q̂* (<c>central_loss</c>, 1).</summary>
        CentralLossWeight: float32
    }

    /// <summary>CW-QMIX with α = 0.1, a 256-wide Q̂* mixer and both losses weighted 1.</summary>
    static member defaults =
        {
            Weighting = Centralised
            Alpha = 0.1f
            CentralEmbed = 256
            QmixLossWeight = 1.0f
            CentralLossWeight = 1.0f
        }

/// <summary>The unrestricted feed-forward mixer of Q̂*: [state ‖ agent Qs] → three ReLU layers → 1, plus V(s).
/// Nothing constrains its sign, so it can represent non-monotonic joint values.</summary>
type CentralMixer =
    {
        /// <summary>Input layer, [state ‖ Qs] → embed.</summary>
        [<ParamName "net.0">]
        Fc1: Linear
        /// <summary>Hidden layer, embed → embed.</summary>
        [<ParamName "net.2">]
        Fc2: Linear
        /// <summary>Hidden layer, embed → embed.</summary>
        [<ParamName "net.4">]
        Fc3: Linear
        /// <summary>Output layer, embed → 1.</summary>
        [<ParamName "net.6">]
        Out: Linear
        /// <summary>The state value V(s).</summary>
        [<ParamName "V">]
        V: TwoLayer
    }

/// <summary>Q̂*: its own agent network and an unrestricted mixer, trained alongside QMIX.</summary>
type CentralQ =
    {
        /// <summary>The central agent network (same architecture as the QMIX agents).</summary>
        [<ParamName "central_agent">]
        Agent: AgentParams
        /// <summary>The unrestricted mixer.</summary>
        [<ParamName "central_mixer">]
        Mixer: CentralMixer
    }

/// <summary>Weighted QMIX's centralised Q̂*.</summary>
[<RequireQualifiedAccess>]
module CentralQ =
    /// <summary>Fresh Q̂* parameters.</summary>
    let init (cfg: WeightedConfig) (agent: AgentConfig) (spec: EnvSpec) (inputDim: int) (key: Key) : CentralQ =
        if cfg.CentralEmbed < 1 then
            invalidArg (nameof cfg) (sprintf "Weighted QMIX: CentralEmbed must be positive, got %d" cfg.CentralEmbed)

        if not (cfg.Alpha > 0.0f && cfg.Alpha <= 1.0f) then
            invalidArg (nameof cfg) (sprintf "Weighted QMIX: Alpha must be in (0, 1], got %g" cfg.Alpha)

        let k = Rng.splitN 7 key
        let e = cfg.CentralEmbed

        {
            Agent = Agent.init agent spec k[0]
            Mixer =
                {
                    Fc1 = Linear.init k[1] (inputDim + spec.NAgents) e
                    Fc2 = Linear.init k[2] e e
                    Fc3 = Linear.init k[3] e e
                    Out = Linear.init k[4] e 1
                    V =
                        {
                            Hidden = Linear.init k[5] inputDim e
                            Output = Linear.init k[6] e 1
                        }
                }
        }

    /// <summary>Q̂* [..., 1] from agent Qs [..., N] and the hypernetwork input [..., D].</summary>
    let mix (m: CentralMixer) (qs: Tensor) (s: Tensor) : Tensor =
        let x = Tensor.concat -1 [ s; qs ]

        let adv =
            x
            |> Linear.forward m.Fc1
            |> Tensor.relu
            |> Linear.forward m.Fc2
            |> Tensor.relu
            |> Linear.forward m.Fc3
            |> Tensor.relu
            |> Linear.forward m.Out

        let v = s |> Linear.forward m.V.Hidden |> Tensor.relu |> Linear.forward m.V.Output
        Tensor.add adv v
