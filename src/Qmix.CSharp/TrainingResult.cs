namespace Qmix;

/// <summary>What a call of <see cref="Trainer.Train"/> (or <see cref="Trainer.TrainAsync"/>) achieved.</summary>
public sealed record TrainingResult
{
    /// <summary>Environment steps taken in total (the run's, including those of earlier calls or a resumed
    /// checkpoint).</summary>
    public required int Steps { get; init; }

    /// <summary>Episodes collected in total.</summary>
    public required int Episodes { get; init; }

    /// <summary>Learner updates taken in total.</summary>
    public required int Updates { get; init; }

    /// <summary>The wall-clock time of this call.</summary>
    public required TimeSpan Elapsed { get; init; }

    /// <summary>The loss of the last update of this call; null when it took none.</summary>
    public double? Loss { get; init; }

    /// <summary>The mean return of the last greedy evaluation of this call; null when it ran none.</summary>
    public double? TestReturn { get; init; }

    /// <summary>The win rate of the last greedy evaluation of this call, for environments that report wins.</summary>
    public double? TestWinRate { get; init; }

    /// <summary>The warnings of this call (Q-values out of their plausible range), in order; empty on a healthy
    /// run.</summary>
    public IReadOnlyList<TrainingWarning> Warnings { get; init; } = [];

    /// <summary>The greedy evaluations of this call, in order.</summary>
    public required IReadOnlyList<TrainingEvaluation> Evaluations { get; init; }

    /// <summary>The trained greedy policy (with a fresh memory).</summary>
    public required Policy Policy { get; init; }

    /// <summary>The checkpoint written at the end (its <c>.safetensors</c> path) when
    /// <see cref="TrainingOptions.CheckpointDirectory"/> is set; null otherwise.</summary>
    public string? CheckpointPath { get; init; }
}
