using Qmix;

namespace CSharpSnippets;

static class PolicySnippet
{
    public static void Run()
    {
        #region policy
        // decentralised execution: each agent acts on its own observation and memory
        // (the policy saved by the training example above)
        var policy = Policy.Load("models/two-step");
        var game = Environments.TwoStep();
        game.Reset(seed: 7);
        policy.Reset(); // at the start of every episode
        var episodeReturn = 0f;
        while (!game.IsDone)
        {
            int[] actions = policy.Act(game.Observations, game.AvailableActions);
            var outcome = game.Step(actions);
            episodeReturn += outcome.Reward;
            Console.WriteLine($"actions ({string.Join(", ", actions)}) → reward {outcome.Reward}");
        }
        Console.WriteLine($"return {episodeReturn}");
        #endregion
    }
}
