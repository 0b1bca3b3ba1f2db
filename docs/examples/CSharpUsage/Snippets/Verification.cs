using Qmix;

namespace CSharpSnippets;

static class VerificationSnippet
{
    public static void Run()
    {
        #region verification
        // monotonicity and argmax decomposition of a mixer, at points drawn from a seed
        VerificationResult qmix =
            MixerVerification.Check(Algorithm.Qmix, agents: 3, actions: 4, trials: 100);
        Console.WriteLine(qmix.Monotonicity.Description);
        Console.WriteLine(qmix.ArgmaxDecomposition.Description);

        // the negative control, QMIX without the absolute value, must fail
        VerificationResult control =
            MixerVerification.CheckNegativeControl(agents: 3, actions: 4, stateSize: 4);
        Console.WriteLine($"{control.Mixer}: passed {control.Passed}");
        Console.WriteLine(control.ArgmaxDecomposition.Counterexample);
        #endregion
    }
}
