using Qmix;

namespace CSharpSnippets;

static class OptionsSnippet
{
    public static void Run()
    {
        #region options
        // the defaults are PyMARL's QMIX on StarCraft; for the two-step game:
        // small networks and uniform exploration, as in the paper
        var options = new TrainingOptions
        {
            Algorithm = Algorithm.Qmix,
            TotalSteps = 10_000,
            AgentHiddenSize = 16,
            MixingEmbeddingSize = 8,
            HypernetworkLayers = 1,
            BufferSize = 500,
            TargetUpdateInterval = 100,
            EpsilonStart = 1.0,
            EpsilonFinish = 1.0,
            TestInterval = 2_000,
            TestEpisodes = 1,
            Seed = 1,
        };
        Console.WriteLine($"{options.Algorithm}, {options.TotalSteps} steps, "
            + $"lr {options.LearningRate}, γ {options.Gamma}, batch {options.BatchSize}");

        // options are immutable records: variants with `with`, each setting checked when set
        var vdn = options with { Algorithm = Algorithm.Vdn };
        Console.WriteLine($"{vdn.Algorithm}, {vdn.TotalSteps} steps");
        try
        {
            _ = options with { Gamma = 1.5 };
        }
        catch (ArgumentOutOfRangeException e)
        {
            Console.WriteLine(e.Message.Split('\n')[0]);
        }

        // the same settings as a preset: the paper's matrix-game setting
        var preset = TrainingOptions.Preset(TrainingPreset.PaperMatrixGames)
            with { TestInterval = 2_000 };
        Console.WriteLine($"the preset is the same: {preset == options}");
        #endregion
    }
}
