namespace Qmix;

/// <summary>Both checks of one mixer: monotonicity and argmax decomposition.</summary>
/// <param name="Mixer">The mixer's name.</param>
/// <param name="Monotonicity">The monotonicity check.</param>
/// <param name="ArgmaxDecomposition">The argmax-decomposition check.</param>
public sealed record VerificationResult(string Mixer, VerificationReport Monotonicity, VerificationReport ArgmaxDecomposition)
{
    /// <summary>Whether both checks passed.</summary>
    public bool Passed => Monotonicity.Passed && ArgmaxDecomposition.Passed;

    /// <summary>The two reports, monotonicity first.</summary>
    public IReadOnlyList<VerificationReport> Reports => [Monotonicity, ArgmaxDecomposition];

    /// <summary>Both reports' descriptions, one after the other.</summary>
    /// <returns>The description.</returns>
    public override string ToString() =>
        Monotonicity.Description + System.Environment.NewLine + ArgmaxDecomposition.Description;
}
