namespace Qmix.Functional

open System
open Qmix.Tensors

/// <summary>How TD targets are built.</summary>
type TdTarget =
    /// <summary>y_t = r_t + γ (1 − terminated_t) Q'_{t+1} (PyMARL).</summary>
    | OneStep
    /// <summary>TD(λ) targets built backwards through the episode (pymarl2's <c>build_td_lambda_targets</c>).</summary>
    | TdLambda of lambda: float32

/// <summary>How the target networks follow the online networks.</summary>
type TargetUpdate =
    /// <summary>Copy the online parameters every so many episodes (PyMARL: 200).</summary>
    | HardEvery of episodes: int
    /// <summary>Polyak averaging after every update: θ' ← τθ + (1 − τ)θ'.</summary>
    | Soft of tau: float32

/// <summary>The optimiser and its settings.</summary>
type Optimizer =
    /// <summary>RMSprop (PyMARL: lr 5e-4, α 0.99, eps 1e-5).</summary>
    | RmsProp of RmsPropConfig
    /// <summary>Adam (pymarl2: lr 1e-3).</summary>
    | Adam of AdamConfig

/// <summary>How the learner computes an update.</summary>
type LearnerEngine =
    /// <summary>The fused update (hand-written forward and backward passes over reused buffers, the batch split into
    /// two halves run in parallel) wherever the configuration allows it: a shared RNN agent with the QMIX, VDN or IQL
    /// mixer, without Weighted QMIX. Anything else runs on the gradient tape.</summary>
    | Auto
    /// <summary>Always the gradient tape (<c>Autodiff</c>), for any agent, mixer and loss.</summary>
    | Tape

/// <summary>The learner's settings, with PyMARL's QMIX defaults in <c>LearnerConfig.defaults</c>.</summary>
type LearnerConfig =
    {
        /// <summary>The agent network.</summary>
        Agent: AgentConfig
        /// <summary>What the mixer's hypernetworks read (the global state by default).</summary>
        HyperInput: HyperInput
        /// <summary>Discount γ (0.99).</summary>
        Gamma: float32
        /// <summary>Double Q: the argmax at t+1 from the online agents, its value from the target networks (true).</summary>
        DoubleQ: bool
        /// <summary>One-step (default) or TD(λ) targets.</summary>
        Target: TdTarget
        /// <summary>A factor on the loss (1; pymarl2 uses 0.5).</summary>
        LossScale: float32
        /// <summary>Global gradient-norm clipping threshold (10).</summary>
        GradNormClip: float32
        /// <summary>The optimiser (RMSprop lr 5e-4, α 0.99, eps 1e-5).</summary>
        Optimizer: Optimizer
        /// <summary>Target-network updates (a hard copy every 200 episodes).</summary>
        TargetUpdate: TargetUpdate
        /// <summary>Weighted QMIX (CW or OW) with its centralised Q̂*; None for plain QMIX (the default).</summary>
        Weighted: WeightedConfig option
        /// <summary>How updates are computed (<c>Auto</c>: the fused update where it applies).</summary>
        Engine: LearnerEngine
        /// <summary>Threads an update may use: 0 for as many as the machine has (at most 2, one per half of the batch),
        /// 1 for the calling thread only. Results are bit-identical for every value.</summary>
        Threads: int
    }

    /// <summary>PyMARL's QMIX learner (src/config/default.yaml and algs/qmix.yaml).</summary>
    static member defaults =
        {
            Agent = AgentConfig.defaults
            HyperInput = GlobalState
            Gamma = 0.99f
            DoubleQ = true
            Target = OneStep
            LossScale = 1.0f
            GradNormClip = 10.0f
            Optimizer =
                RmsProp
                    {
                        Lr = 5e-4f
                        Alpha = 0.99f
                        Eps = 1e-5f
                        Momentum = 0.0f
                    }
            TargetUpdate = HardEvery 200
            Weighted = None
            Engine = Auto
            Threads = 0
        }

/// <summary>Everything the learner trains: the agents, the mixer and, for Weighted QMIX, Q̂*. Parameter names are
/// PyTorch state_dict names: <c>agent.fc1.weight</c>, <c>mixer.hyper_w_1.0.weight</c>,
/// <c>central_agent.fc1.weight</c>, <c>central_mixer.net.0.weight</c>.</summary>
type QParams<'M> =
    {
        /// <summary>The agent networks.</summary>
        Agent: AgentParams
        /// <summary>The mixer's parameters.</summary>
        Mixer: 'M
        /// <summary>Weighted QMIX's Q̂*, or None.</summary>
        [<ParamName "">]
        Central: CentralQ option
    }

/// <summary>The optimiser's state over the learner's parameters.</summary>
type OptimState<'P> =
    /// <summary>RMSprop's running averages.</summary>
    | RmsPropState of RmsPropState<'P>
    /// <summary>Adam's moments.</summary>
    | AdamState of AdamState<'P>

/// <summary>What one update reports.</summary>
type LearnerMetrics =
    {
        /// <summary>The loss that was minimised.</summary>
        Loss: float32
        /// <summary>The global gradient norm before clipping.</summary>
        GradNorm: float32
        /// <summary>The mean |TD error| over filled steps.</summary>
        TdErrorAbs: float32
        /// <summary>The mean Q_tot of the taken joint actions over filled steps.</summary>
        QTakenMean: float32
        /// <summary>The mean target over filled steps.</summary>
        TargetMean: float32
        /// <summary>Weighted QMIX: the loss of Q̂* (0 otherwise).</summary>
        CentralLoss: float32
        /// <summary>Weighted QMIX: the mean weight w over filled steps (1 otherwise).</summary>
        WeightMean: float32
    }
