namespace Qmix;

/// <summary>One greedy evaluation during training (<see cref="TrainingOptions.TestEpisodes"/> episodes with ε = 0),
/// raised by <see cref="Trainer.Evaluated"/> and listed in <see cref="TrainingResult.Evaluations"/>.</summary>
/// <param name="Step">Environment steps taken when it ran.</param>
/// <param name="Episode">Episodes collected when it ran.</param>
/// <param name="MeanReturn">The mean return of its episodes.</param>
/// <param name="WinRate">Their win rate, for environments that report wins; null otherwise.</param>
public sealed record TrainingEvaluation(int Step, int Episode, double MeanReturn, double? WinRate);
