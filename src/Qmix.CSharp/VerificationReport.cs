namespace Qmix;

/// <summary>The outcome of checking one property of one mixer at points drawn from a seed.</summary>
public sealed record VerificationReport
{
    /// <summary>The property checked: <c>monotonicity</c> (∂Q_tot/∂Q_a ≥ 0 for every agent a) or
    /// <c>argmax decomposition</c> (the agents' greedy actions maximise Q_tot).</summary>
    public required string Property { get; init; }

    /// <summary>The mixer's name, e.g. <c>qmix</c>.</summary>
    public required string Mixer { get; init; }

    /// <summary>Whether the mixer claims to be monotonic (and so to decompose the argmax).</summary>
    public required bool Claimed { get; init; }

    /// <summary>True when no counterexample was found.</summary>
    public required bool Passed { get; init; }

    /// <summary>The number of cases examined (each a batch of points), the failing one included.</summary>
    public required int CasesChecked { get; init; }

    /// <summary>The seed the cases (and the mixer's parameters) were drawn from.</summary>
    public required ulong Seed { get; init; }

    /// <summary>The first counterexample, described for people (the state, the agent Qs or Q table, and what
    /// failed); null when the check passed.</summary>
    public string? Counterexample { get; init; }

    /// <summary>The verdict on one line, then the counterexample, if any.</summary>
    public required string Description { get; init; }

    /// <summary>The <see cref="Description"/>.</summary>
    /// <returns>The description.</returns>
    public override string ToString() => Description;
}
