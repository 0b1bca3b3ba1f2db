namespace Qmix;

/// <summary>The optimiser of the learner.</summary>
public enum Optimizer
{
    /// <summary>RMSprop, as in the QMIX paper and PyMARL (lr 5e-4, α 0.99, eps 1e-5).</summary>
    RmsProp,

    /// <summary>Adam (pymarl2 uses it with lr 1e-3).</summary>
    Adam,
}

/// <summary>The agents' network architecture.</summary>
public enum AgentNetwork
{
    /// <summary>PyMARL's recurrent agent: fc → ReLU → GRU cell → fc, the hidden state carried through the
    /// episode (the default).</summary>
    Rnn,

    /// <summary>EPyMARL's feed-forward agent: fc → ReLU → fc → ReLU → fc, no memory.</summary>
    Mlp,
}

/// <summary>What the mixer's hypernetworks read.</summary>
public enum MixerInput
{
    /// <summary>The global state (the QMIX paper's choice, the default).</summary>
    State,

    /// <summary>The concatenation of all agents' observations.</summary>
    AllObservations,

    /// <summary>The global state followed by all agents' observations.</summary>
    StateAndObservations,
}

/// <summary>How QMIX makes its mixing weights non-negative.</summary>
public enum NonNegativeWeights
{
    /// <summary>The absolute value, as in the QMIX paper (the default).</summary>
    Abs,

    /// <summary>softplus(x) = log(1 + eˣ), smooth and never exactly zero.</summary>
    Softplus,
}
