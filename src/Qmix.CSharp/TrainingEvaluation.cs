namespace Qmix;

/// <summary>One greedy evaluation during training (<see cref="TrainingOptions.TestEpisodes"/> episodes with ε = 0),
/// raised by <see cref="Trainer.Evaluated"/> and listed in <see cref="TrainingResult.Evaluations"/>.</summary>
/// <param name="Step">Environment steps taken when it ran.</param>
/// <param name="Episode">Episodes collected when it ran.</param>
/// <param name="MeanReturn">The mean return of its episodes.</param>
/// <param name="WinRate">Their win rate, for environments that report wins; null otherwise.</param>
public sealed record TrainingEvaluation(int Step, int Episode, double MeanReturn, double? WinRate)
{
    /// <summary>The mean length of its episodes in environment steps (PyMARL's <c>test_ep_length_mean</c>): a greedy
    /// policy that stalls runs into the episode limit.</summary>
    public double MeanEpisodeLength { get; init; }

    /// <summary>The mean number of the team's dead units at the end of an episode, for environments with two armies
    /// (the combat maps); null otherwise.</summary>
    public double? DeadAllies { get; init; }

    /// <summary>The mean number of the opponents' dead units at the end of an episode, for environments with two
    /// armies; null otherwise.</summary>
    public double? DeadEnemies { get; init; }
}
