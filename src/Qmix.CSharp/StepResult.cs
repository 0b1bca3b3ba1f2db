namespace Qmix;

/// <summary>The outcome of one joint action.</summary>
/// <param name="Reward">The team reward of the transition.</param>
/// <param name="Terminated">A true end of the episode (the team won, lost or finished): the learner does not
/// bootstrap through it.</param>
/// <param name="Truncated">The episode was cut off (e.g. at its step limit) without a true end: it stops, but the
/// learner bootstraps through it.</param>
/// <param name="Won">Whether the team won, for environments with a notion of winning; null otherwise.</param>
/// <param name="DeadAllies">The team's dead units after the step, for environments with two armies; null otherwise.
/// Set both <paramref name="DeadAllies"/> and <paramref name="DeadEnemies"/> or neither, never negative: training
/// reports their means at the end of an episode (<see cref="TrainingProgress.TrainDeadAllies"/>).</param>
/// <param name="DeadEnemies">The opponents' dead units after the step, for environments with two armies; null
/// otherwise.</param>
public readonly record struct StepResult(
    float Reward, bool Terminated, bool Truncated = false, bool? Won = null, int? DeadAllies = null, int? DeadEnemies = null)
{
    /// <summary>Whether the episode is over: <see cref="Terminated"/> or <see cref="Truncated"/>.</summary>
    public bool Done => Terminated || Truncated;
}
