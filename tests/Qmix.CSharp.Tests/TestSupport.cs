namespace Qmix.Tests;

/// <summary>Reports progress on the calling thread (Progress&lt;T&gt; would post to the thread pool).</summary>
sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}

/// <summary>A fresh directory under the temp directory, deleted on dispose.</summary>
sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("qmix-csharp-tests-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

static class Settings
{
    /// <summary>The QMIX paper's two-step setting (§5): uniform exploration, small networks, 10k steps.</summary>
    public static TrainingOptions TwoStep => new()
    {
        Algorithm = Algorithm.Qmix,
        TotalSteps = 10_000,
        Seed = 2,
        AgentHiddenSize = 16,
        MixingEmbeddingSize = 8,
        HypernetworkLayers = 1,
        BufferSize = 500,
        TargetUpdateInterval = 100,
        EpsilonStart = 1,
        EpsilonFinish = 1,
        TestEpisodes = 0,
    };

    /// <summary>A short run for tests that do not need learning.</summary>
    public static TrainingOptions Short => TwoStep with { TotalSteps = 600, BatchSize = 8, BufferSize = 50, TestInterval = 200, TestEpisodes = 2 };
}
