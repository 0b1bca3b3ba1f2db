namespace Qmix.Functional

open Qmix.Tensors

/// <summary>The learner's state: online and target parameters, optimiser state and counters.</summary>
type LearnerState<'M> =
    {
        /// <summary>The online parameters.</summary>
        Params: QParams<'M>
        /// <summary>The target parameters.</summary>
        Target: QParams<'M>
        /// <summary>The optimiser's state.</summary>
        Optim: OptimState<QParams<'M>>
        /// <summary>The number of updates taken.</summary>
        Updates: int
        /// <summary>The episode count at the last hard target update.</summary>
        LastTargetUpdateEpisode: int
        /// <summary>Memory the fused update reuses, handed on from state to state (not part of the state's value).
        /// Persistent by default; see <see cref="M:Qmix.Functional.Learner.recycling"/>.</summary>
        Workspace: LearnerWorkspace
    }

/// <summary>A learner: its settings, the environment's sizes and the mixer (built-in or user-defined).</summary>
type Learner<'M> =
    {
        /// <summary>The settings.</summary>
        Config: LearnerConfig
        /// <summary>The environment's sizes.</summary>
        Spec: EnvSpec
        /// <summary>The mixer.</summary>
        Mixer: Mixer<'M>
    }

/// <summary>How one update's gradient is computed. Before calling it, the update has gathered the online and the
/// target parameters into the workspace as flat vectors (in <c>Tree.leaves</c> order); the engine writes dL/dθ into the
/// workspace's gradient vector in the same order and returns the update's metrics (<c>GradNorm</c> unset). Everything
/// after the gradient (clipping, the optimiser step, the target update) is the learner's, shared by every
/// engine.</summary>
type internal IGradientEngine<'M> =
    /// The engine's name, for reports.
    abstract Name: string
    /// The gradient of the batch's loss into ws.Grad, and the metrics.
    abstract Gradient: state: LearnerState<'M> * batch: EpisodeBatch * ws: LearnerWorkspace -> LearnerMetrics
