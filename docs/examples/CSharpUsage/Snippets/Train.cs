using Qmix;

namespace CSharpSnippets;

static class TrainSnippet
{
    public static void Run()
    {
        #region train
        var options = TrainingOptions.Preset(TrainingPreset.PaperMatrixGames)
            with { TestInterval = 2_000 };
        using var trainer = new Trainer(Environments.TwoStep(), options);
        // a greedy evaluation every TestInterval steps
        trainer.Evaluated += (_, e) =>
            Console.WriteLine($"step {e.Step,6}: greedy return {e.MeanReturn}");
        // progress is delivered on the training thread, in order, before Train returns:
        // after each evaluation and at the end (in between, at most every ProgressInterval)
        trainer.ProgressInterval = TimeSpan.MaxValue;
        TrainingProgress? last = null;
        var result = trainer.Train(p => last = p);

        Console.WriteLine($"{result.Steps} steps, {result.Episodes} episodes, "
            + $"{result.Updates} updates");
        Console.WriteLine($"last progress: step {last?.Step} of {last?.TotalSteps}, "
            + $"loss {last?.Loss:F5}");
        result.Policy.Save("models/two-step");
        #endregion
    }
}
