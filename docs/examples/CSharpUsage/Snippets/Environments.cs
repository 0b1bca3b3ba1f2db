using Qmix;

namespace CSharpSnippets;

static class EnvironmentsSnippet
{
    public static void Run()
    {
        #region environments
        // the built-in environments by name, with their sizes
        Console.WriteLine($"{Environments.Names.Count} environments, "
            + $"{Environments.CombatMaps.Count} combat maps, e.g.");
        foreach (var info in Environments.Catalogue)
            if (info.Name is "two-step" or "checkers" or "combat:3m")
                Console.WriteLine(info.Spec);

        // a typed factory gives a handle that can be stepped by hand
        var env = Environments.TwoStep();
        env.Reset(seed: 1);
        Console.WriteLine(env.Render());
        var step = env.Step([1, 1]); // agent 0 picks B: the game moves to state 2B
        Console.WriteLine($"reward {step.Reward}, done {step.Done}, "
            + $"{env.Observations.Length} observation values");
        step = env.Step([1, 1]);
        Console.WriteLine($"reward {step.Reward}, terminated {step.Terminated}");
        #endregion
    }
}
