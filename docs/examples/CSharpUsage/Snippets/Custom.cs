using Qmix;
using CSharpUsage; // ColourGame.cs

namespace CSharpSnippets;

static class CustomSnippet
{
    public static void Run()
    {
        #region custom
        // a C# environment (ColourGame.cs above) trains and evaluates like a built-in one
        var options = new TrainingOptions
        {
            TotalSteps = 4_000,
            EpsilonAnnealSteps = 2_000,
            BufferSize = 500,
            AgentHiddenSize = 16,
            MixingEmbeddingSize = 8,
            TestInterval = 1_000,
            TestEpisodes = 20,
            Seed = 2,
        };
        using var trainer = new Trainer(new ColourGame(), options);
        trainer.Evaluated += (_, e) => Console.WriteLine(
            $"step {e.Step,5}: test return {e.MeanReturn:F2}, win rate {e.WinRate:P0}");
        var result = trainer.Train();
        var check = Evaluation.Run(result.Policy, new ColourGame(), episodes: 100, seed: 99);
        Console.WriteLine($"100 new episodes: mean return {check.MeanReturn:F2}, "
            + $"win rate {check.WinRate:P0}");
        #endregion
    }
}
