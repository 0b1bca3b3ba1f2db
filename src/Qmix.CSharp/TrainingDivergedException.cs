namespace Qmix;

/// <summary>Training stopped because the loss or the gradient norm became NaN or infinite. The trainer keeps its state
/// from before the update that diverged (so <see cref="Trainer.Save"/> writes the last good state), and a checkpoint
/// already on disk is untouched.</summary>
public sealed class TrainingDivergedException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What diverged, and where.</param>
    /// <param name="step">The environment step of the update that diverged.</param>
    /// <param name="episode">The episode count of that update.</param>
    public TrainingDivergedException(string message, int step, int episode) : base(message)
    {
        Step = step;
        Episode = episode;
    }

    /// <summary>The environment step of the update that diverged.</summary>
    public int Step { get; }

    /// <summary>The episode count of the update that diverged.</summary>
    public int Episode { get; }
}
