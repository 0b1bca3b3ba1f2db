namespace Qmix;

/// <summary>Where a training run is, reported through <see cref="IProgress{T}"/> by <see cref="Trainer.Train"/>.
/// Values not known yet (before the first update, collection or evaluation) are null.</summary>
public sealed record TrainingProgress
{
    /// <summary>Environment steps taken so far.</summary>
    public required int Step { get; init; }

    /// <summary>The run's total steps (<see cref="TrainingOptions.TotalSteps"/>).</summary>
    public required int TotalSteps { get; init; }

    /// <summary>Episodes collected so far.</summary>
    public required int Episode { get; init; }

    /// <summary>Learner updates taken so far.</summary>
    public required int Updates { get; init; }

    /// <summary>ε of the last collection.</summary>
    public double? Epsilon { get; init; }

    /// <summary>The loss of the last learner update.</summary>
    public double? Loss { get; init; }

    /// <summary>The mean Q_tot of the taken joint actions in the last learner update (PyMARL's
    /// <c>q_taken_mean</c>): an estimate of the return, so it should stay near the returns the environment
    /// pays.</summary>
    public double? QTakenMean { get; init; }

    /// <summary>The mean TD target in the last learner update (PyMARL's <c>target_mean</c>).</summary>
    public double? TargetMean { get; init; }

    /// <summary>The mean |TD error| in the last learner update (PyMARL's <c>td_error_abs</c>).</summary>
    public double? MeanAbsoluteTDError { get; init; }

    /// <summary>The gradient norm of the last learner update, before clipping (PyMARL's <c>grad_norm</c>).</summary>
    public double? GradientNorm { get; init; }

    /// <summary>The mean return of the last collected (exploring) episodes.</summary>
    public double? TrainReturn { get; init; }

    /// <summary>The win rate of the last collected episodes, for environments that report wins.</summary>
    public double? TrainWinRate { get; init; }

    /// <summary>The mean length of the last collected episodes (PyMARL's <c>ep_length_mean</c>).</summary>
    public double? TrainEpisodeLength { get; init; }

    /// <summary>The team's mean dead units at the end of the last collected episodes, for environments with two
    /// armies.</summary>
    public double? TrainDeadAllies { get; init; }

    /// <summary>The opponents' mean dead units at the end of the last collected episodes, for environments with two
    /// armies.</summary>
    public double? TrainDeadEnemies { get; init; }

    /// <summary>The mean return of the last greedy evaluation.</summary>
    public double? TestReturn { get; init; }

    /// <summary>The win rate of the last greedy evaluation, for environments that report wins.</summary>
    public double? TestWinRate { get; init; }

    /// <summary>The mean episode length of the last greedy evaluation (PyMARL's <c>test_ep_length_mean</c>).</summary>
    public double? TestEpisodeLength { get; init; }

    /// <summary>The team's mean dead units at the end of the last greedy evaluation's episodes, for environments with
    /// two armies.</summary>
    public double? TestDeadAllies { get; init; }

    /// <summary>The opponents' mean dead units at the end of the last greedy evaluation's episodes, for environments
    /// with two armies.</summary>
    public double? TestDeadEnemies { get; init; }

    /// <summary>The warnings of this call of <see cref="Trainer.Train"/> so far, in order (see
    /// <see cref="TrainingWarning"/>); empty on a healthy run.</summary>
    public IReadOnlyList<TrainingWarning> Warnings { get; init; } = [];

    /// <summary>Environment steps per second of wall-clock time since this call of <see cref="Trainer.Train"/>
    /// started.</summary>
    public required double StepsPerSecond { get; init; }

    /// <summary>Wall-clock time since this call of <see cref="Trainer.Train"/> started.</summary>
    public required TimeSpan Elapsed { get; init; }

    /// <summary>The fraction of <see cref="TotalSteps"/> done, in [0, 1].</summary>
    public double Fraction => TotalSteps <= 0 ? 1.0 : Math.Clamp((double)Step / TotalSteps, 0.0, 1.0);
}
