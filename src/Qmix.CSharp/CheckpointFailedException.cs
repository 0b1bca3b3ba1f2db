namespace Qmix;

/// <summary>A checkpoint could not be written and <see cref="TrainingOptions.OnCheckpointFailure"/> is
/// <see cref="CheckpointFailure.Stop"/>: training stopped after the iteration whose checkpoint failed. The previous
/// checkpoint is kept as it was and loads; the trainer keeps its state (so <see cref="Trainer.Save"/> can be tried again,
/// elsewhere). The message names the file and the cause (the inner exception).</summary>
public sealed class CheckpointFailedException : IOException
{
    /// <summary>The start of every such message, which a run's summary keeps (<c>stopped_because</c>).</summary>
    public const string Prefix = "checkpoint not written: ";

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed (prefixed with <see cref="Prefix"/>).</param>
    /// <param name="step">The step of the checkpoint that failed.</param>
    /// <param name="inner">The cause.</param>
    public CheckpointFailedException(string message, int step, Exception? inner) : base(Prefix + message, inner) => Step = step;

    /// <summary>The step of the checkpoint that failed.</summary>
    public int Step { get; }
}
