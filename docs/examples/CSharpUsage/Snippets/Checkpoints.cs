using Qmix;

namespace CSharpSnippets;

static class CheckpointsSnippet
{
    public static void Run()
    {
        #region checkpoints
        // a checkpoint holds everything (parameters, optimiser, replay buffer, counters),
        // so a resumed run is exact
        var options = TrainingOptions.Preset(TrainingPreset.PaperMatrixGames)
            with { TestEpisodes = 0 };
        var checkpoint = Path.Combine("checkpoint", "model");
        var firstHalf = options with { TotalSteps = 5_000 };
        using (var first = new Trainer(Environments.TwoStep(), firstHalf))
        {
            first.Train();
            first.Save(checkpoint);
        }
        using var resumed = new Trainer(Environments.TwoStep(), options);
        resumed.Resume(checkpoint);
        Console.WriteLine($"resumed at step {resumed.Step}, episode {resumed.Episode}");
        var result = resumed.Train();
        var files = Directory.GetFiles(Path.GetDirectoryName(checkpoint)!)
            .Select(Path.GetFileName)
            .Order();
        Console.WriteLine($"finished at step {result.Steps}");
        Console.WriteLine($"files: {string.Join(", ", files)}");
        #endregion
    }
}
