namespace Qmix.Functional

/// <summary>What the library offers, as plain text: used by the command line and the documentation.</summary>
[<RequireQualifiedAccess>]
module About =
    /// <summary>The library's name.</summary>
    let name = "Qmix.Functional"

    /// <summary>The version of the library assembly.</summary>
    let version =
        let v = typeof<Qmix.Tensors.Tensor>.Assembly.GetName().Version
        sprintf "%d.%d.%d" v.Major v.Minor v.Build

    /// <summary>One line per capability that is available in this build.</summary>
    let capabilities: string list =
        [
            "Tensors: float32, row-major, immutable values (Qmix.Tensors.Tensor)"
            "Reverse-mode autodiff over parameter trees named like PyTorch state_dicts (Autodiff.valueAndGrad, Tree)"
            "Fused Linear and GRUCell layers with PyTorch's conventions and initialisation (Layers, Nn)"
            "Optimisers as pure state transitions: RMSprop, Adam, global-norm clipping (Optim)"
            "Splittable counter-based random keys, Threefry-2x64-20 (Rng)"
            "Safetensors checkpoints, portable to and from PyTorch (Safetensors)"
            "Gradient checks against float64 finite differences (GradCheck)"
            "Arenas: pooled tensor storage, reused across gradient computations (Arena)"
            "Agents: PyMARL's RNN agent and EPyMARL's MLP agent, shared or one per agent (Agent)"
            "Mixers: QMIX (1- or 2-layer hypernetworks, abs or softplus), VDN, IQL, QMIX-NS, QMIX-Lin, VDN-S, user-defined (Mixers)"
            "Learner: PyMARL's QMIX update with double Q, TD(lambda), Weighted QMIX (CW/OW), matching PyTorch (Learner)"
            "Replay: an immutable episode buffer with uniform sampling without replacement (Replay)"
            "Runner: epsilon-greedy episodes in lockstep over N environments, greedy evaluation (Runner)"
            "Training: PyMARL's loop as a fold with events, resumable checkpoints (Training, Checkpoint)"
            "Verify: monotonicity and argmax-decomposition checks of any mixer with counterexamples (Verify)"
            "Plots: standalone SVG line charts with nice ticks and a legend, learning curves from training events, the mean of several seeds with a 95% confidence band (Plots)"
            "Environments as pure step functions, registered by name (Envs.Registry): the two-step game, the non-monotonic, climbing and penalty matrix games, Checkers, Switch2/4, PredatorPrey 5x5/7x7, Level-Based Foraging, a SMAX-style combat simulator with the QMIX paper's maps"
            "Vectorised stepping of N environments over the cores, identical to N single steps (VecEnv)"
        ]
