using Qmix;

namespace CSharpSnippets;

static class EvaluationSnippet
{
    public static void Run()
    {
        #region evaluation
        var policy = Policy.Load("models/two-step");
        var evaluation = Evaluation.Run(policy, Environments.TwoStep(), episodes: 20, seed: 1);
        Console.WriteLine($"{evaluation.Episodes} greedy episodes: "
            + $"mean return {evaluation.MeanReturn}, "
            + $"lengths {evaluation.EpisodeLengths.Min()} to {evaluation.EpisodeLengths.Max()}, "
            + $"win rate {evaluation.WinRate?.ToString() ?? "n/a (the game has no wins)"}");
        #endregion
    }
}
