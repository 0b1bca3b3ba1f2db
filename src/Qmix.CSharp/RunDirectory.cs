using System.Text.Json;

namespace Qmix;

/// <summary>A run directory written by <see cref="RunRecorder"/>, read back: its configuration, its metrics, its
/// summary and its checkpoint.</summary>
public sealed class RunDirectory
{
    RunDirectory(string path, RunConfig config, IReadOnlyList<MetricsRecord> metrics, RunSummary? summary, string? checkpoint)
    {
        Path = path;
        Config = config;
        Metrics = metrics;
        Summary = summary;
        CheckpointPath = checkpoint;
    }

    /// <summary>The directory.</summary>
    public string Path { get; }

    /// <summary>What <c>config.json</c> holds: the environment, the options, the seed, the library version.</summary>
    public RunConfig Config { get; }

    /// <summary>The records of <c>metrics.jsonl</c>, in order.</summary>
    public IReadOnlyList<MetricsRecord> Metrics { get; }

    /// <summary>What <c>summary.json</c> holds; null while the run is going on (or when it was killed).</summary>
    public RunSummary? Summary { get; }

    /// <summary>The checkpoint's model file (<c>checkpoints/model.safetensors</c>); null when there is none.</summary>
    public string? CheckpointPath { get; }

    /// <summary>The environment step the checkpoint was written at, read from its sidecar
    /// (<c>checkpoints/model.json</c>); null when there is no checkpoint or its sidecar cannot be read. A run that
    /// is not complete continues from this step (<see cref="RunRecorder.Resume(string, IMultiAgentEnvironment?)"/>).</summary>
    /// <returns>The step, or null.</returns>
    public int? CheckpointStep()
    {
        if (CheckpointPath is null) return null;
        var sidecar = System.IO.Path.Combine(Path, RunRecorder.CheckpointFolder, RunRecorder.ModelStem + ".json");
        // after a crash during a save the previous sidecar may still be waiting as .bak
        if (!File.Exists(sidecar)) sidecar += ".bak";
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(sidecar));
            return doc.RootElement.GetProperty("counters").GetProperty("step").GetInt32();
        }
        catch (Exception e) when (e is IOException or JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    /// <summary>Whether a directory holds a run (a <c>config.json</c>).</summary>
    /// <param name="path">The directory.</param>
    /// <returns>True when <c>path/config.json</c> exists.</returns>
    public static bool IsRunDirectory(string path) =>
        !string.IsNullOrWhiteSpace(path) && File.Exists(System.IO.Path.Combine(path, RunRecorder.ConfigFile));

    /// <summary>Reads a run directory.</summary>
    /// <param name="path">The directory.</param>
    /// <returns>The run.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="DirectoryNotFoundException">There is no such directory.</exception>
    /// <exception cref="FileNotFoundException">The directory has no <c>config.json</c>.</exception>
    /// <exception cref="InvalidDataException">A file is not what a run directory holds (the message names the file and
    /// line).</exception>
    public static RunDirectory Load(string path)
    {
        Guard.NotEmpty(path, nameof(path));
        if (!System.IO.Directory.Exists(path)) throw new DirectoryNotFoundException($"no directory {path}");
        var configFile = System.IO.Path.Combine(path, RunRecorder.ConfigFile);
        if (!File.Exists(configFile))
            throw new FileNotFoundException($"{path} is not a run directory: it has no {RunRecorder.ConfigFile}", configFile);
        var config = Read<RunConfig>(configFile);
        if (config.Format != RunConfig.FormatName)
            throw new InvalidDataException($"{configFile}: format '{config.Format}', expected '{RunConfig.FormatName}'");

        var metrics = new List<MetricsRecord>();
        var metricsFile = System.IO.Path.Combine(path, RunRecorder.MetricsJsonFile);
        if (File.Exists(metricsFile))
        {
            var n = 0;
            // FileShare.ReadWrite: a run that is still training keeps the file open
            using var reader = new StreamReader(new FileStream(metricsFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
            while (reader.ReadLine() is { } line)
            {
                n++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                try
                {
                    metrics.Add(JsonSerializer.Deserialize<MetricsRecord>(line, RunJson.Line)!);
                }
                catch (JsonException e)
                {
                    // a run killed mid-write leaves a torn last line: keep what came before it
                    if (reader.Peek() < 0) break;
                    throw new InvalidDataException($"{metricsFile}:{n}: {e.Message}", e);
                }
            }
        }
        var summaryFile = System.IO.Path.Combine(path, RunRecorder.SummaryFile);
        var summary = File.Exists(summaryFile) ? Read<RunSummary>(summaryFile) : null;
        var model = System.IO.Path.Combine(path, RunRecorder.CheckpointFolder, RunRecorder.ModelStem + ".safetensors");
        return new RunDirectory(path, config, metrics, summary, File.Exists(model) ? model : null);
    }

    /// <summary>A learning curve of the run against environment steps.</summary>
    /// <param name="metric">Which curve.</param>
    /// <returns>The points by step (one per step: the last record wins); empty when the run has no such values
    /// (e.g. win rates of an environment without wins, dead units of one without armies).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="metric"/> is not a defined value.</exception>
    public IReadOnlyList<ChartPoint> Curve(RunMetric metric) => Curve(Metrics, metric);

    /// <summary>The environment of the run, made by its name.</summary>
    /// <returns>A new handle.</returns>
    /// <exception cref="ArgumentException">The run's environment is not a built-in one.</exception>
    public MultiAgentEnvironment CreateEnvironment() => Environments.Create(Config.Environment);

    /// <summary>The trained policy of the run's checkpoint.</summary>
    /// <returns>The policy, with a fresh memory.</returns>
    /// <exception cref="FileNotFoundException">The run has no checkpoint.</exception>
    /// <exception cref="InvalidDataException">The checkpoint is corrupt.</exception>
    public Policy LoadPolicy() =>
        CheckpointPath is { } model
            ? Policy.Load(model)
            : throw new FileNotFoundException($"{Path} has no checkpoint ({RunRecorder.CheckpointFolder}/{RunRecorder.ModelStem}.safetensors)");

    /// <summary>The name the command line uses for an algorithm: <c>qmix</c>, <c>vdn</c>, <c>cw-qmix</c>, ….</summary>
    /// <param name="algorithm">The algorithm.</param>
    /// <returns>Its name.</returns>
    public static string AlgorithmName(Algorithm algorithm) => JsonNamingPolicy.KebabCaseLower.ConvertName(algorithm.ToString());

    internal static IReadOnlyList<ChartPoint> Curve(IReadOnlyList<MetricsRecord> records, RunMetric metric)
    {
        var kind = metric is RunMetric.TestReturn or RunMetric.TestWinRate or RunMetric.TestEpisodeLength
            or RunMetric.TestDeadAllies or RunMetric.TestDeadEnemies
            ? MetricsKind.Evaluation
            : MetricsKind.Progress;
        var byStep = new SortedDictionary<int, double>();
        foreach (var r in records)
        {
            if (r.Kind != kind) continue;
            double? v = metric switch
            {
                RunMetric.TestReturn => r.TestReturn,
                RunMetric.TestWinRate => r.TestWinRate,
                RunMetric.TrainReturn => r.TrainReturn,
                RunMetric.TrainWinRate => r.TrainWinRate,
                RunMetric.Loss => r.Loss,
                RunMetric.Epsilon => r.Epsilon,
                RunMetric.QTakenMean => r.QTakenMean,
                RunMetric.TargetMean => r.TargetMean,
                RunMetric.MeanAbsoluteTDError => r.MeanAbsoluteTDError,
                RunMetric.GradientNorm => r.GradientNorm,
                RunMetric.TrainEpisodeLength => r.TrainEpisodeLength,
                RunMetric.TestEpisodeLength => r.TestEpisodeLength,
                RunMetric.TrainDeadAllies => r.TrainDeadAllies,
                RunMetric.TrainDeadEnemies => r.TrainDeadEnemies,
                RunMetric.TestDeadAllies => r.TestDeadAllies,
                RunMetric.TestDeadEnemies => r.TestDeadEnemies,
                _ => throw new ArgumentOutOfRangeException(nameof(metric), metric, $"{metric} is not a RunMetric"),
            };
            if (v is { } y) byStep[r.Step] = y;
        }
        return byStep.Select(p => new ChartPoint(p.Key, p.Value)).ToArray();
    }

    static T Read<T>(string file)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(file), RunJson.Indented)
                ?? throw new InvalidDataException($"{file}: empty");
        }
        catch (Exception e) when (e is JsonException or ArgumentException or NotSupportedException)
        {
            throw new InvalidDataException($"{file}: {e.Message}", e);
        }
    }
}
