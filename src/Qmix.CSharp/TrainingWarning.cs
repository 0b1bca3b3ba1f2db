using System.Globalization;
using F = Qmix.Functional;

namespace Qmix;

/// <summary>A learner quantity left its plausible range during training: the Q-values are diverging. Raised once per
/// quantity by <see cref="Trainer.Warned"/>, listed in <see cref="TrainingResult.Warnings"/> and recorded by
/// <see cref="RunRecorder"/> (a <c>warning</c> record in <c>metrics.jsonl</c>/<c>metrics.csv</c> and the
/// <c>warnings</c> of <c>summary.json</c>).</summary>
/// <remarks>The check: <c>|q_taken_mean|</c> or <c>|target_mean|</c> is NaN or infinite, or above a bound —
/// <see cref="TrainingOptions.QValueBound"/> when it is set, otherwise 2 × the largest return an episode seen so far
/// can be worth (the sum of its rewards' magnitudes, plus its mean <c>|r|</c> per step over <c>1 / (1 − γ)</c> more steps for an episode cut at its limit),
/// and at least 10. A healthy run stays far below it: Q_tot estimates a return.</remarks>
/// <param name="Step">Environment steps when the update that showed it was taken.</param>
/// <param name="Episode">Episodes collected then.</param>
/// <param name="Quantity">The quantity, by its metrics column: <c>q_taken_mean</c> (the mean Q_tot of the taken joint
/// actions) or <c>target_mean</c> (the mean TD target).</param>
/// <param name="Value">Its value in that update (NaN or infinite when it stopped being finite).</param>
/// <param name="Bound">The bound its magnitude exceeded.</param>
/// <param name="Message">The warning in words, naming the quantity, its value and the bound.</param>
public sealed record TrainingWarning(int Step, int Episode, string Quantity, double Value, double Bound, string Message)
{
    internal static TrainingWarning From(F.DiagnosticWarning w) =>
        new(w.Step, w.Episode, F.Diagnostics.name(w.Quantity), Shortest(w.Value), Shortest(w.Bound), F.Diagnostics.describe(w));

    /// <summary>A float32 as the double with its shortest digits (2.1892743, not 2.189274311065674).</summary>
    static double Shortest(float v) =>
        float.IsFinite(v) ? double.Parse(v.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) : v;
}
