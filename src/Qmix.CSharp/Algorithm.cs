namespace Qmix;

/// <summary>The value-factorisation algorithms the facade can train: QMIX, its baselines and the QMIX paper's
/// ablations, and Weighted QMIX.</summary>
public enum Algorithm
{
    /// <summary>QMIX: a monotonic mixing network whose non-negative weights come from hypernetworks of the
    /// state.</summary>
    Qmix,

    /// <summary>VDN: the joint value is the sum of the agents' utilities.</summary>
    Vdn,

    /// <summary>Independent Q-learners, each trained on the team reward (no mixer).</summary>
    Iql,

    /// <summary>The QMIX paper's QMIX-NS ablation: QMIX's mixing network with state-independent non-negative
    /// weights (no hypernetworks).</summary>
    QmixNs,

    /// <summary>The QMIX paper's QMIX-Lin ablation: state-dependent non-negative weights, no hidden mixing
    /// layer.</summary>
    QmixLin,

    /// <summary>The QMIX paper's VDN-S ablation: the sum of the agents' utilities plus a state value V(s).</summary>
    VdnS,

    /// <summary>Centrally-weighted QMIX (Weighted QMIX, Rashid et al. 2020).</summary>
    CwQmix,

    /// <summary>Optimistically-weighted QMIX (Weighted QMIX, Rashid et al. 2020).</summary>
    OwQmix,
}
