using Qmix;

namespace CSharpSnippets;

static class AsyncSnippet
{
    public static async Task Run()
    {
        #region async
        // TrainAsync runs on the thread pool; cancelling stops it between two iterations,
        // and training again continues from there
        var vdn = TrainingOptions.Preset(TrainingPreset.PaperMatrixGames)
            with { Algorithm = Algorithm.Vdn, TestInterval = 2_000 };
        using var trainer = new Trainer(Environments.TwoStep(), vdn);
        using var cancel = new CancellationTokenSource();
        trainer.Evaluated += (_, e) =>
        {
            if (e.Step >= 4_000) cancel.Cancel();
        };
        try
        {
            await trainer.TrainAsync(cancellationToken: cancel.Token);
        }
        catch (OperationCanceledException)
        {
            Console.WriteLine($"cancelled at step {trainer.Step}");
        }
        var rest = await trainer.TrainAsync();
        Console.WriteLine($"continued to step {trainer.Step}; "
            + $"VDN's greedy return {rest.TestReturn}");
        #endregion
    }
}
