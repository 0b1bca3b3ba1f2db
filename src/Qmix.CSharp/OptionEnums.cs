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

/// <summary>Named training settings (<see cref="TrainingOptions.Preset"/>).</summary>
public enum TrainingPreset
{
    /// <summary>The QMIX paper's settings as PyMARL runs them on SMAC: RMSprop lr 5e-4, batches of 32 episodes, one
    /// environment per update, one-step targets, ε over 50,000 steps (<c>new TrainingOptions()</c>).</summary>
    PyMarl,

    /// <summary>pymarl2's fine-tuned QMIX: 8 environments per update, batches of 128 episodes, TD(λ) with λ = 0.6, Adam
    /// lr 1e-3, the loss halved, ε over 100,000 steps, 32 greedy test episodes every 10,000 steps.</summary>
    PyMarl2,

    /// <summary>The QMIX paper's matrix-game settings (§5): uniform exploration (ε = 1), GRU width 16, mixing width 8
    /// with one-layer hypernetworks, a buffer of 500 episodes, a target copy every 100 episodes, 10,000 steps, one
    /// greedy test episode every 250 steps.</summary>
    PaperMatrixGames,
}

/// <summary>What training does when a checkpoint cannot be written (a full disk, a read-only directory): in either case
/// the failure is reported and the previous checkpoint is kept as it was, loadable.</summary>
public enum CheckpointFailure
{
    /// <summary>Train on: the failure is a warning (quantity <c>checkpoint</c>), and the next checkpoint is tried an
    /// interval later (the default: a long run is not lost to a disk that fills for a while).</summary>
    Continue,

    /// <summary>Stop: <see cref="Trainer.Train(IProgress{TrainingProgress}, CancellationToken)"/> throws
    /// <see cref="CheckpointFailedException"/> after the iteration whose checkpoint failed, so that no training goes
    /// unsaved; the run continues later from the previous checkpoint.</summary>
    Stop,
}

/// <summary>What a checkpoint holds of the replay buffer.</summary>
public enum CheckpointReplay
{
    /// <summary>The whole buffer (the default): a resumed run continues bit-identically to an uninterrupted one. The
    /// buffer dominates the checkpoint's size: the steps its episodes recorded (a full 5000-episode buffer of
    /// combat:3m is about 100 MB; of combat:3s5z at most 5.4 GB, with every episode at its limit).</summary>
    Full,

    /// <summary>No episode: the checkpoint holds the parameters, targets, optimiser and counters only (a few MB), and a
    /// resumed run starts with an empty buffer that it refills before its next update, so it is not bit-identical to an
    /// uninterrupted one.</summary>
    None,
}

/// <summary>How the replay buffer stores the observations and states of its episodes.</summary>
public enum ReplayPrecision
{
    /// <summary>32-bit floats, exactly as recorded (the default).</summary>
    Float32,

    /// <summary>16-bit floats (IEEE half precision): half the memory of observations and states; each value is rounded
    /// to 11 significant bits (0, 1 and small integers exactly).</summary>
    Float16,
}
