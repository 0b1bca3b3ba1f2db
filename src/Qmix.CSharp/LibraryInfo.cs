namespace Qmix;

/// <summary>Describes the library: its version and what this build can do.</summary>
public static class LibraryInfo
{
    /// <summary>The library's version, as major.minor.build.</summary>
    public static string Version => Qmix.Functional.About.version;

    /// <summary>One line per capability available in this build.</summary>
    public static IReadOnlyList<string> Capabilities { get; } =
    [
        .. Microsoft.FSharp.Collections.ListModule.ToArray(Qmix.Functional.About.capabilities),
        "C# facade (namespace Qmix): Environments, Trainer (Train/TrainAsync, progress, cancellation, checkpoints), Policy, Evaluation, MixerVerification",
        "Run directories: RunRecorder writes config.json, metrics.jsonl/.csv, curves.svg, checkpoints/ and summary.json; RunDirectory reads them back",
        "Charts: SVG line charts and mean ± 95% bands over seeds from C# (Charts.Line, Charts.Band); quick timings (Benchmarks)",
    ];
}
