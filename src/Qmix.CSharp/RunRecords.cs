namespace Qmix;

/// <summary>Everything needed to repeat a run, as a run directory's <c>config.json</c> holds it: the environment's
/// name, every training option (the seed among them) and the library's version.</summary>
public sealed record RunConfig
{
    /// <summary>The format marker of <c>config.json</c>.</summary>
    public const string FormatName = "qmix/run-config/1";

    /// <summary>The format marker (<see cref="FormatName"/>).</summary>
    public string Format { get; init; } = FormatName;

    /// <summary>The environment's name, e.g. <c>combat:3m</c> (for <see cref="Environments.Create"/>; a user's own
    /// environment is named by its spec).</summary>
    public required string Environment { get; init; }

    /// <summary>The environment's sizes when the run started.</summary>
    public required RunEnvironmentSpec Spec { get; init; }

    /// <summary>The seed (the same as <see cref="TrainingOptions.Seed"/>, repeated for the reader).</summary>
    public ulong Seed => Options.Seed;

    /// <summary>Every training option, as the run used them (without the checkpoint folder, which is always the run
    /// directory's <c>checkpoints/</c>).</summary>
    public required TrainingOptions Options { get; init; }

    /// <summary>The library's version that made the run.</summary>
    public required string LibraryVersion { get; init; }

    /// <summary>When the run started.</summary>
    public DateTimeOffset Started { get; init; }

    /// <summary>The command that started the run, when it came from the command line; informative only.</summary>
    public string? Command { get; init; }
}

/// <summary>An environment's sizes as a run directory records them (see <see cref="EnvironmentSpec"/>).</summary>
/// <param name="Name">The spec's name.</param>
/// <param name="Agents">The number of agents.</param>
/// <param name="Actions">The number of actions of every agent.</param>
/// <param name="ObservationSize">The width of one agent's observation.</param>
/// <param name="StateSize">The width of the global state.</param>
/// <param name="EpisodeLimit">The most steps of an episode.</param>
public sealed record RunEnvironmentSpec(string Name, int Agents, int Actions, int ObservationSize, int StateSize, int EpisodeLimit)
{
    internal static RunEnvironmentSpec From(EnvironmentSpec s) =>
        new(s.Name, s.Agents, s.Actions, s.ObservationSize, s.StateSize, s.EpisodeLimit);
}

/// <summary>What a line of <c>metrics.jsonl</c> (and a row of <c>metrics.csv</c>) records.</summary>
public enum MetricsKind
{
    /// <summary>A progress report of the trainer: counters, ε, loss, the last training and test returns, speed.</summary>
    Progress,

    /// <summary>A greedy evaluation: the test return and win rate at a step.</summary>
    Evaluation,
}

/// <summary>One record of a run's metrics: a line of <c>metrics.jsonl</c> and a row of <c>metrics.csv</c>. Values
/// not known (before the first update, or not part of this kind of record) are null.</summary>
public sealed record MetricsRecord
{
    /// <summary>A progress report or an evaluation.</summary>
    public required MetricsKind Kind { get; init; }

    /// <summary>Environment steps taken.</summary>
    public required int Step { get; init; }

    /// <summary>Episodes collected.</summary>
    public required int Episode { get; init; }

    /// <summary>Learner updates taken.</summary>
    public int Updates { get; init; }

    /// <summary>ε of the last collection.</summary>
    public double? Epsilon { get; init; }

    /// <summary>The loss of the last learner update.</summary>
    public double? Loss { get; init; }

    /// <summary>The mean return of the last collected (exploring) episodes.</summary>
    public double? TrainReturn { get; init; }

    /// <summary>Their win rate, for environments that report wins.</summary>
    public double? TrainWinRate { get; init; }

    /// <summary>The mean return of the greedy evaluation (for a progress record: the last one).</summary>
    public double? TestReturn { get; init; }

    /// <summary>Its win rate, for environments that report wins.</summary>
    public double? TestWinRate { get; init; }

    /// <summary>Environment steps per second of the current training call.</summary>
    public double? StepsPerSecond { get; init; }

    /// <summary>Seconds since the run (this recorder) started.</summary>
    public double ElapsedSeconds { get; init; }

    /// <summary>The columns of <c>metrics.csv</c>, in order.</summary>
    public static IReadOnlyList<string> CsvColumns { get; } =
    [
        "kind", "step", "episode", "updates", "epsilon", "loss", "train_return", "train_win_rate", "test_return",
        "test_win_rate", "steps_per_second", "elapsed_seconds",
    ];

    /// <summary>The record as a row of <c>metrics.csv</c> (invariant culture, empty cells for nulls).</summary>
    /// <returns>The comma-separated values, in the order of <see cref="CsvColumns"/>.</returns>
    public string ToCsv()
    {
        static string N(double? v) => v is { } x ? x.ToString("R", System.Globalization.CultureInfo.InvariantCulture) : "";
        return string.Join(",", Kind == MetricsKind.Progress ? "progress" : "evaluation", Step, Episode, Updates,
            N(Epsilon), N(Loss), N(TrainReturn), N(TrainWinRate), N(TestReturn), N(TestWinRate), N(StepsPerSecond),
            N(ElapsedSeconds));
    }
}

/// <summary>How a run ended, as a run directory's <c>summary.json</c> holds it.</summary>
public sealed record RunSummary
{
    /// <summary>The environment's name.</summary>
    public required string Environment { get; init; }

    /// <summary>The algorithm.</summary>
    public required Algorithm Algorithm { get; init; }

    /// <summary>The seed.</summary>
    public required ulong Seed { get; init; }

    /// <summary>True when the run took all its steps; false when it was stopped (cancelled, or it failed).</summary>
    public required bool Completed { get; init; }

    /// <summary>Why the run stopped early (e.g. <c>cancelled</c>, or the error); null when it completed.</summary>
    public string? StoppedBecause { get; init; }

    /// <summary>Environment steps taken.</summary>
    public required int Steps { get; init; }

    /// <summary>The steps the run was to take.</summary>
    public required int TotalSteps { get; init; }

    /// <summary>Episodes collected.</summary>
    public required int Episodes { get; init; }

    /// <summary>Learner updates taken.</summary>
    public required int Updates { get; init; }

    /// <summary>Wall-clock seconds of training.</summary>
    public required double Seconds { get; init; }

    /// <summary>The mean return of the last greedy evaluation; null when none ran.</summary>
    public double? FinalTestReturn { get; init; }

    /// <summary>The win rate of the last greedy evaluation, for environments that report wins.</summary>
    public double? FinalTestWinRate { get; init; }

    /// <summary>The best mean return of the greedy evaluations; null when none ran.</summary>
    public double? BestTestReturn { get; init; }

    /// <summary>The mean return of the last collected (exploring) episodes.</summary>
    public double? FinalTrainReturn { get; init; }

    /// <summary>The loss of the last update.</summary>
    public double? FinalLoss { get; init; }

    /// <summary>The number of greedy evaluations.</summary>
    public required int Evaluations { get; init; }

    /// <summary>The checkpoint's model file relative to the run directory (<c>checkpoints/model.safetensors</c>); null
    /// when none was written.</summary>
    public string? Checkpoint { get; init; }
}

/// <summary>A learning curve of a run directory (<see cref="RunDirectory.Curve"/>).</summary>
public enum RunMetric
{
    /// <summary>The mean return of the greedy evaluations.</summary>
    TestReturn,

    /// <summary>The mean return of the exploring training episodes (from the progress records).</summary>
    TrainReturn,

    /// <summary>The win rate of the greedy evaluations.</summary>
    TestWinRate,

    /// <summary>The win rate of the training episodes.</summary>
    TrainWinRate,

    /// <summary>The learner's loss.</summary>
    Loss,

    /// <summary>ε of the exploring episodes.</summary>
    Epsilon,
}
