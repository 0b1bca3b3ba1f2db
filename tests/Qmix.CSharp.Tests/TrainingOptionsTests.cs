using Xunit;

namespace Qmix.Tests;

/// <summary>The options' defaults are the F# core's (the QMIX paper's), and each setting checks its range.</summary>
public class TrainingOptionsTests
{
    [Fact]
    public void The_defaults_are_the_cores_defaults()
    {
        Assert.Equal(Qmix.Functional.TrainingConfig.defaults, new TrainingOptions().ToConfig(null));
    }

    [Fact]
    public void The_presets_are_the_cores_presets()
    {
        Assert.Equal(Qmix.Functional.TrainingPresets.pymarl, TrainingOptions.Preset(TrainingPreset.PyMarl).ToConfig(null));
        Assert.Equal(Qmix.Functional.TrainingPresets.pymarl2, TrainingOptions.Preset(TrainingPreset.PyMarl2).ToConfig(null));
        Assert.Equal(Qmix.Functional.TrainingPresets.paperMatrixGames, TrainingOptions.Preset(TrainingPreset.PaperMatrixGames).ToConfig(null));
        // the paper's matrix-game numbers (§5): ε = 1 throughout, a 16-unit agent, one-layer hypernetworks of width 8
        var m = TrainingOptions.Preset(TrainingPreset.PaperMatrixGames);
        Assert.Equal((1.0, 1.0, 16, 8, 1, 500, 100, 10_000),
            (m.EpsilonStart, m.EpsilonFinish, m.AgentHiddenSize, m.MixingEmbeddingSize, m.HypernetworkLayers, m.BufferSize, m.TargetUpdateInterval, m.TotalSteps));
        // pymarl2's numbers, as its algs/qmix.yaml and the specs give them
        var p2 = TrainingOptions.Preset(TrainingPreset.PyMarl2);
        Assert.Equal((8, 128, 5000, Optimizer.Adam, 1e-3, 0.6, 0.5, 100_000),
            (p2.ParallelEnvironments, p2.BatchSize, p2.BufferSize, p2.Optimizer, Math.Round(p2.LearningRate, 6), Math.Round(p2.TDLambda!.Value, 6),
                p2.LossScale, p2.EpsilonAnnealSteps));
        // the negative control: the two presets differ
        Assert.NotEqual(TrainingOptions.Preset(TrainingPreset.PyMarl).ToConfig(null), p2.ToConfig(null));
        Assert.Equal(1, TrainingOptions.Preset(TrainingPreset.PaperMatrixGames).EpsilonFinish);
        Assert.Throws<ArgumentOutOfRangeException>(() => TrainingOptions.Preset((TrainingPreset)42));
    }

    [Fact]
    public void Every_algorithm_maps_onto_a_configuration()
    {
        foreach (var algo in Enum.GetValues<Algorithm>())
        {
            var o = new TrainingOptions { Algorithm = algo, Optimizer = Optimizer.Adam, TDLambda = 0.8, Tau = 0.01 };
            var cfg = o.ToConfig("runs/x/model");
            Assert.Equal(algo is Algorithm.CwQmix or Algorithm.OwQmix, cfg.Learner.Weighted is not null);
            Assert.True(cfg.Learner.Optimizer.IsAdam);
            Assert.True(cfg.Learner.Target.IsTdLambda);
            Assert.True(cfg.Learner.TargetUpdate.IsSoft);
            Assert.Equal("runs/x/model", cfg.CheckpointPath.Value);
        }
    }

    [Fact]
    public void Out_of_range_settings_name_the_setting()
    {
        void Bad(string name, Func<TrainingOptions> make) =>
            Assert.Equal(name, Assert.Throws<ArgumentOutOfRangeException>(() => make()).ParamName);

        Bad("BatchSize", () => new TrainingOptions { BatchSize = 0 });
        Bad("TotalSteps", () => new TrainingOptions { TotalSteps = -1 });
        Bad("Gamma", () => new TrainingOptions { Gamma = 1.5 });
        Bad("LearningRate", () => new TrainingOptions { LearningRate = 0 });
        Bad("LearningRate", () => new TrainingOptions { LearningRate = double.NaN });
        Bad("TDLambda", () => new TrainingOptions { TDLambda = -0.1 });
        Bad("Tau", () => new TrainingOptions { Tau = 0 });
        Bad("EpsilonStart", () => new TrainingOptions { EpsilonStart = 2 });
        Bad("HypernetworkLayers", () => new TrainingOptions { HypernetworkLayers = 3 });
        Bad("RmsPropAlpha", () => new TrainingOptions { RmsPropAlpha = 1 });
        Bad("WeightedAlpha", () => new TrainingOptions { WeightedAlpha = 0 });
        Bad("ParallelEnvironments", () => new TrainingOptions { ParallelEnvironments = 0 });
        Bad("TestInterval", () => new TrainingOptions { TestInterval = 0 });
        Bad("Algorithm", () => new TrainingOptions { Algorithm = (Algorithm)42 });
        Assert.Equal("CheckpointDirectory", Assert.Throws<ArgumentException>(() => new TrainingOptions { CheckpointDirectory = "" }).ParamName);
    }

    [Fact]
    public void Options_are_values()
    {
        var a = new TrainingOptions { Seed = 3 };
        Assert.Equal(a, new TrainingOptions { Seed = 3 });
        Assert.NotEqual(a, a with { Seed = 4 });
    }
}
