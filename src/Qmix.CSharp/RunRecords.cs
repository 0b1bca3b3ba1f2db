using System.Text.Json.Serialization;

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

    /// <summary>A greedy evaluation: the test return, win rate, episode length and casualties at a step.</summary>
    Evaluation,

    /// <summary>A warning: a learner quantity left its plausible range (see <see cref="TrainingWarning"/>); the record
    /// holds the message and the quantity's value in its own column.</summary>
    Warning,
}

/// <summary>One record of a run's metrics: a line of <c>metrics.jsonl</c> and a row of <c>metrics.csv</c>. Values
/// not known (before the first update, or not part of this kind of record) are null.</summary>
/// <remarks>The keys of <c>metrics.jsonl</c> and the columns of <c>metrics.csv</c> are the property names in
/// snake_case: <c>kind</c>, <c>step</c>, <c>episode</c>, <c>updates</c>, <c>epsilon</c>; the learner's <c>loss</c>,
/// <c>q_taken_mean</c>, <c>target_mean</c>, <c>td_error_abs</c> and <c>grad_norm</c> (PyMARL's names); the
/// exploring episodes' <c>train_return</c>, <c>train_win_rate</c>, <c>train_episode_length</c>,
/// <c>train_dead_allies</c>, <c>train_dead_enemies</c>; the greedy evaluation's <c>test_return</c>,
/// <c>test_win_rate</c>, <c>test_episode_length</c>, <c>test_dead_allies</c>, <c>test_dead_enemies</c>;
/// <c>steps_per_second</c>, <c>elapsed_seconds</c>, and <c>warning</c>.</remarks>
public sealed record MetricsRecord
{
    /// <summary>A progress report, an evaluation or a warning.</summary>
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

    /// <summary>The mean Q_tot of the taken joint actions in the last learner update (<c>q_taken_mean</c>).</summary>
    public double? QTakenMean { get; init; }

    /// <summary>The mean TD target in the last learner update (<c>target_mean</c>).</summary>
    public double? TargetMean { get; init; }

    /// <summary>The mean |TD error| in the last learner update (<c>td_error_abs</c>).</summary>
    [JsonPropertyName("td_error_abs")]
    public double? MeanAbsoluteTDError { get; init; }

    /// <summary>The gradient norm of the last learner update, before clipping (<c>grad_norm</c>).</summary>
    [JsonPropertyName("grad_norm")]
    public double? GradientNorm { get; init; }

    /// <summary>The mean return of the last collected (exploring) episodes.</summary>
    public double? TrainReturn { get; init; }

    /// <summary>Their win rate, for environments that report wins.</summary>
    public double? TrainWinRate { get; init; }

    /// <summary>Their mean length in environment steps (<c>train_episode_length</c>, PyMARL's
    /// <c>ep_length_mean</c>).</summary>
    public double? TrainEpisodeLength { get; init; }

    /// <summary>The team's mean dead units at the end of those episodes, for environments with two armies
    /// (<c>train_dead_allies</c>).</summary>
    public double? TrainDeadAllies { get; init; }

    /// <summary>The opponents' mean dead units at the end of those episodes, for environments with two armies
    /// (<c>train_dead_enemies</c>).</summary>
    public double? TrainDeadEnemies { get; init; }

    /// <summary>The mean return of the greedy evaluation (for a progress record: the last one).</summary>
    public double? TestReturn { get; init; }

    /// <summary>Its win rate, for environments that report wins.</summary>
    public double? TestWinRate { get; init; }

    /// <summary>The mean length of its episodes (<c>test_episode_length</c>, PyMARL's
    /// <c>test_ep_length_mean</c>).</summary>
    public double? TestEpisodeLength { get; init; }

    /// <summary>The team's mean dead units at the end of its episodes, for environments with two armies
    /// (<c>test_dead_allies</c>).</summary>
    public double? TestDeadAllies { get; init; }

    /// <summary>The opponents' mean dead units at the end of its episodes, for environments with two armies
    /// (<c>test_dead_enemies</c>).</summary>
    public double? TestDeadEnemies { get; init; }

    /// <summary>Environment steps per second of the current training call.</summary>
    public double? StepsPerSecond { get; init; }

    /// <summary>Seconds since the run (this recorder) started.</summary>
    public double ElapsedSeconds { get; init; }

    /// <summary>For a warning record, the warning's message (<see cref="TrainingWarning.Message"/>); null
    /// otherwise.</summary>
    public string? Warning { get; init; }

    /// <summary>The columns of <c>metrics.csv</c>, in order.</summary>
    public static IReadOnlyList<string> CsvColumns { get; } =
    [
        "kind", "step", "episode", "updates", "epsilon", "loss", "q_taken_mean", "target_mean", "td_error_abs",
        "grad_norm", "train_return", "train_win_rate", "train_episode_length", "train_dead_allies",
        "train_dead_enemies", "test_return", "test_win_rate", "test_episode_length", "test_dead_allies",
        "test_dead_enemies", "steps_per_second", "elapsed_seconds", "warning",
    ];

    /// <summary>The record as a row of <c>metrics.csv</c> (invariant culture, empty cells for nulls, the warning
    /// quoted as CSV quotes text).</summary>
    /// <returns>The comma-separated values, in the order of <see cref="CsvColumns"/>.</returns>
    public string ToCsv()
    {
        static string N(double? v) => v is { } x ? x.ToString("R", System.Globalization.CultureInfo.InvariantCulture) : "";
        static string Text(string? t) => t is null ? "" : "\"" + t.Replace("\"", "\"\"") + "\"";
        var kind = Kind switch
        {
            MetricsKind.Progress => "progress",
            MetricsKind.Evaluation => "evaluation",
            _ => "warning",
        };
        return string.Join(",", kind, Step, Episode, Updates, N(Epsilon), N(Loss), N(QTakenMean), N(TargetMean),
            N(MeanAbsoluteTDError), N(GradientNorm), N(TrainReturn), N(TrainWinRate), N(TrainEpisodeLength), N(TrainDeadAllies),
            N(TrainDeadEnemies), N(TestReturn), N(TestWinRate), N(TestEpisodeLength), N(TestDeadAllies),
            N(TestDeadEnemies), N(StepsPerSecond), N(ElapsedSeconds), Text(Warning));
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

    /// <summary>The run's warnings (Q-values out of their plausible range, see <see cref="TrainingWarning"/>), in
    /// order; null when there were none.</summary>
    public IReadOnlyList<TrainingWarning>? Warnings { get; init; }

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

    /// <summary>The mean Q_tot of the taken joint actions (<c>q_taken_mean</c>).</summary>
    QTakenMean,

    /// <summary>The mean TD target (<c>target_mean</c>).</summary>
    TargetMean,

    /// <summary>The mean |TD error| (<c>td_error_abs</c>).</summary>
    MeanAbsoluteTDError,

    /// <summary>The gradient norm before clipping (<c>grad_norm</c>).</summary>
    GradientNorm,

    /// <summary>The mean length of the training episodes.</summary>
    TrainEpisodeLength,

    /// <summary>The mean length of the greedy evaluations' episodes.</summary>
    TestEpisodeLength,

    /// <summary>The team's mean dead units at the end of the training episodes (environments with two armies).</summary>
    TrainDeadAllies,

    /// <summary>The opponents' mean dead units at the end of the training episodes.</summary>
    TrainDeadEnemies,

    /// <summary>The team's mean dead units at the end of the greedy evaluations' episodes.</summary>
    TestDeadAllies,

    /// <summary>The opponents' mean dead units at the end of the greedy evaluations' episodes.</summary>
    TestDeadEnemies,
}
