using Xunit;

namespace Qmix.Tests;

/// <summary>The facade's matrix-game training, used as a C# user would.</summary>
public class MatrixGameTrainingTests
{
    [Fact]
    public void Qmix_learns_the_two_step_optimum_and_reports_progress()
    {
        var reports = new List<TrainingProgress>();
        var result = MatrixGameTraining.Train(
            new MatrixGameOptions { Game = "two-step", Algorithm = Algorithm.Qmix, TotalSteps = 10_000, Seed = 2 },
            new ListProgress(reports));
        Assert.Equal(8.0, result.GreedyReturn);
        Assert.Equal(10_000, result.Steps);
        Assert.NotEmpty(reports);
        Assert.True(reports.Zip(reports.Skip(1)).All(p => p.First.Step < p.Second.Step));
    }

    [Fact]
    public void An_unknown_game_is_named_in_the_error()
    {
        var e = Assert.Throws<ArgumentException>(() => MatrixGameTraining.Train(new MatrixGameOptions { Game = "chess" }));
        Assert.Contains("chess", e.Message);
    }

    [Fact]
    public void Cancellation_stops_training()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.Throws<OperationCanceledException>(() => MatrixGameTraining.Train(new MatrixGameOptions(), null, cts.Token));
    }

    sealed class ListProgress(List<TrainingProgress> list) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => list.Add(value);
    }
}
