namespace Qmix;

/// <summary>The outcome of greedy episodes run by <see cref="Evaluation.Run"/>.</summary>
public sealed record EvaluationResult
{
    /// <summary>The number of episodes.</summary>
    public int Episodes => Returns.Count;

    /// <summary>The mean of <see cref="Returns"/>.</summary>
    public required double MeanReturn { get; init; }

    /// <summary>The fraction of episodes won, for environments that report wins (episodes that report nothing
    /// count as not won); null for environments without a notion of winning.</summary>
    public double? WinRate { get; init; }

    /// <summary>Each episode's undiscounted return, in order.</summary>
    public required IReadOnlyList<double> Returns { get; init; }

    /// <summary>Each episode's length in steps, in order.</summary>
    public required IReadOnlyList<int> EpisodeLengths { get; init; }
}
