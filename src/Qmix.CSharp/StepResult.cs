namespace Qmix;

/// <summary>The outcome of one joint action.</summary>
/// <param name="Reward">The team reward of the transition.</param>
/// <param name="Terminated">A true end of the episode (the team won, lost or finished): the learner does not
/// bootstrap through it.</param>
/// <param name="Truncated">The episode was cut off (e.g. at its step limit) without a true end: it stops, but the
/// learner bootstraps through it.</param>
/// <param name="Won">Whether the team won, for environments with a notion of winning; null otherwise.</param>
public readonly record struct StepResult(float Reward, bool Terminated, bool Truncated = false, bool? Won = null)
{
    /// <summary>Whether the episode is over: <see cref="Terminated"/> or <see cref="Truncated"/>.</summary>
    public bool Done => Terminated || Truncated;
}
