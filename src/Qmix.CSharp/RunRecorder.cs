using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Qmix;

/// <summary>Trains and records a run in a directory of its own: <c>config.json</c> (everything needed to repeat the
/// run), <c>metrics.jsonl</c> and <c>metrics.csv</c> (one record per progress report, per greedy evaluation and per
/// warning; the columns are listed in <see cref="MetricsRecord"/>), <c>curves.svg</c> (test and training return
/// against steps, the win rate where the environment reports wins, then the learner's diagnostics: Q-values and TD
/// targets beside the largest return recorded, TD error and gradient norm, episode lengths, and dead units where the
/// environment reports them), <c>checkpoints/</c> (the trainer's checkpoint: <c>model.safetensors</c> and its
/// companions) and <c>summary.json</c> (how the run ended, with its warnings). <see cref="RunDirectory.Load"/> reads
/// it back.</summary>
/// <example>
/// <code>
/// using var run = RunRecorder.Create("runs/3m", Environments.Combat("3m"), new TrainingOptions { TotalSteps = 300_000 });
/// RunSummary summary = run.Train(new Progress&lt;TrainingProgress&gt;(p =&gt; Console.WriteLine(p.Step)));
/// </code>
/// </example>
/// <remarks>The metrics files are flushed after every record, so a run that is killed keeps what it recorded.
/// When training is cancelled, the trainer writes its checkpoint, the recorder writes <c>curves.svg</c> and
/// <c>summary.json</c> (with <see cref="RunSummary.Completed"/> false), and the cancellation is rethrown.
/// <see cref="Resume(string, IMultiAgentEnvironment?)"/> continues such a run, or a killed one, from its last checkpoint.</remarks>
public sealed partial class RunRecorder : IDisposable
{
    /// <summary>The file names of a run directory.</summary>
    internal const string ConfigFile = "config.json", MetricsJsonFile = "metrics.jsonl", MetricsCsvFile = "metrics.csv",
        CurvesFile = "curves.svg", SummaryFile = "summary.json", CheckpointFolder = "checkpoints", ModelStem = "model";

    readonly StreamWriter jsonl, csv;
    readonly List<MetricsRecord> records = [];
    readonly List<TrainingWarning> warnings = [];
    readonly Stopwatch clock = Stopwatch.StartNew();
    readonly Lock gate = new();
    TrainingProgress? last;
    bool disposed;
    // the seconds a resumed run had trained before (0 for a new run): elapsed times continue from there
    double secondsBefore;

    RunRecorder(string directory, MultiAgentEnvironment environment, TrainingOptions options, string? command)
        : this(directory, environment, null, options)
    {
        Config = new RunConfig
        {
            Environment = environment.Name,
            Spec = RunEnvironmentSpec.From(environment.Spec),
            Options = options with { CheckpointDirectory = null },
            LibraryVersion = LibraryInfo.Version,
            Started = DateTimeOffset.Now,
            Command = command,
        };
        System.IO.Directory.CreateDirectory(directory);
        RunJson.WriteFile(Path.Combine(directory, ConfigFile), JsonSerializer.Serialize(Config, RunJson.Indented));
        jsonl = new StreamWriter(Path.Combine(directory, MetricsJsonFile), append: false);
        csv = new StreamWriter(Path.Combine(directory, MetricsCsvFile), append: false);
        csv.WriteLine(string.Join(",", MetricsRecord.CsvColumns));
        csv.Flush();
    }

    /// <summary>The part shared by a new run and a resumed one: the trainer, whose checkpoints go to
    /// <c>checkpoints/</c>, and the handlers that record its evaluations and warnings. <paramref name="config"/> is
    /// the existing run's, or null for a new run (whose constructor sets it).</summary>
    RunRecorder(string directory, MultiAgentEnvironment environment, RunConfig? config, TrainingOptions options)
    {
        Directory = directory;
        Config = config!;
        jsonl = null!;
        csv = null!;
        Trainer = new Trainer(environment, options with { CheckpointDirectory = Path.Combine(directory, CheckpointFolder) });
        Trainer.Evaluated += (_, e) => Record(new MetricsRecord
        {
            Kind = MetricsKind.Evaluation,
            Step = e.Step,
            Episode = e.Episode,
            Updates = Trainer.Updates,
            TestReturn = Tidy(e.MeanReturn),
            TestWinRate = Tidy(e.WinRate),
            TestEpisodeLength = Tidy(e.MeanEpisodeLength),
            TestDeadAllies = Tidy(e.DeadAllies),
            TestDeadEnemies = Tidy(e.DeadEnemies),
            ElapsedSeconds = Math.Round(secondsBefore + clock.Elapsed.TotalSeconds, 3),
        });
        Trainer.Warned += (_, w) =>
        {
            lock (gate) warnings.Add(w);
            Record(new MetricsRecord
            {
                Kind = MetricsKind.Warning,
                Step = w.Step,
                Episode = w.Episode,
                Updates = Trainer.Updates,
                QTakenMean = w.Quantity == "q_taken_mean" ? Tidy(w.Value) : null,
                TargetMean = w.Quantity == "target_mean" ? Tidy(w.Value) : null,
                ElapsedSeconds = Math.Round(secondsBefore + clock.Elapsed.TotalSeconds, 3),
                Warning = w.Message,
            });
        };
    }

    /// <summary>Starts a run: creates the directory, writes <c>config.json</c>, opens the metrics files and creates
    /// the trainer (whose checkpoints go to <c>checkpoints/</c>).</summary>
    /// <param name="directory">The run directory; created when missing. It must not hold a run already.</param>
    /// <param name="environment">The environment, built-in or a user's own.</param>
    /// <param name="options">The settings; null for the defaults. Their
    /// <see cref="TrainingOptions.CheckpointDirectory"/> is replaced by the run's <c>checkpoints/</c>.</param>
    /// <param name="command">The command line that started the run, recorded in <c>config.json</c>; may be
    /// null.</param>
    /// <returns>The recorder, owning its trainer.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="directory"/> or <paramref name="environment"/> is
    /// null.</exception>
    /// <exception cref="ArgumentException"><paramref name="directory"/> is empty, or the options do not fit
    /// together.</exception>
    /// <exception cref="IOException">The directory already holds a run (a <c>config.json</c>), or cannot be
    /// written.</exception>
    public static RunRecorder Create(
        string directory, IMultiAgentEnvironment environment, TrainingOptions? options = null, string? command = null)
    {
        Guard.NotEmpty(directory, nameof(directory));
        ArgumentNullException.ThrowIfNull(environment);
        options ??= new TrainingOptions();
        options.Validate(nameof(options));
        if (File.Exists(Path.Combine(directory, ConfigFile)))
            throw new IOException($"{directory} already holds a run ({ConfigFile}); choose another directory");
        return new RunRecorder(directory, MultiAgentEnvironment.From(environment, nameof(environment)), options, command);
    }

    /// <summary>The run directory.</summary>
    public string Directory { get; }

    /// <summary>What <c>config.json</c> holds.</summary>
    public RunConfig Config { get; }

    /// <summary>The trainer of the run (its options write checkpoints to <c>checkpoints/</c>). Set its
    /// <see cref="Trainer.ProgressInterval"/> to record progress more or less often.</summary>
    public Trainer Trainer { get; }

    /// <summary>The records written so far, in order.</summary>
    public IReadOnlyList<MetricsRecord> Records
    {
        get
        {
            lock (gate) return records.ToArray();
        }
    }

    /// <summary>The warnings recorded so far (Q-values out of their plausible range), in order.</summary>
    public IReadOnlyList<TrainingWarning> Warnings
    {
        get
        {
            lock (gate) return warnings.ToArray();
        }
    }

    /// <summary>What <c>summary.json</c> holds, once <see cref="Train"/> has ended (completed, cancelled or failed);
    /// null before.</summary>
    public RunSummary? Summary { get; private set; }

    /// <summary>The path of <c>curves.svg</c>.</summary>
    public string CurvesPath => Path.Combine(Directory, CurvesFile);

    /// <summary>Trains to the end on the calling thread, recording every progress report and evaluation; then writes
    /// <c>curves.svg</c> and <c>summary.json</c> (the trainer has written the checkpoint).</summary>
    /// <param name="progress">Also receives every progress report, after it is recorded; may be null.</param>
    /// <param name="cancellationToken">Stops training between two iterations; the checkpoint, curves and summary
    /// are written before the cancellation is rethrown.</param>
    /// <returns>The summary.</returns>
    /// <exception cref="OperationCanceledException">Training was cancelled (<see cref="Summary"/> tells where it
    /// stopped).</exception>
    /// <exception cref="TrainingDivergedException">The loss became NaN or infinite (the curves and summary are
    /// written).</exception>
    /// <exception cref="CheckpointFailedException">A checkpoint could not be written and the options say stop (the
    /// curves and summary are written; the run resumes from its previous checkpoint).</exception>
    [OverloadResolutionPriority(1)]
    public RunSummary Train(IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var recording = new RecordingProgress(this, progress);
        var started = clock.Elapsed;
        try
        {
            var result = Trainer.Train(recording, cancellationToken);
            return Finish(secondsBefore + result.Elapsed.TotalSeconds, null);
        }
        catch (OperationCanceledException)
        {
            Finish(secondsBefore + (clock.Elapsed - started).TotalSeconds, "cancelled");
            throw;
        }
        catch (Exception e) when (e is TrainingDivergedException or InvalidOperationException or CheckpointFailedException)
        {
            Finish(secondsBefore + (clock.Elapsed - started).TotalSeconds, e.Message);
            throw;
        }
    }

    /// <summary>Trains to the end on the calling thread, as
    /// <see cref="Train(IProgress{TrainingProgress}, CancellationToken)"/> does, calling <paramref name="onProgress"/>
    /// synchronously with every report (on the training thread, in order, each before this method returns) after it
    /// is recorded.</summary>
    /// <param name="onProgress">Called with every report; an exception it throws ends training and propagates. Null
    /// for none.</param>
    /// <param name="cancellationToken">Stops training between two iterations.</param>
    /// <returns>The summary.</returns>
    /// <exception cref="OperationCanceledException">Training was cancelled.</exception>
    /// <exception cref="TrainingDivergedException">The loss became NaN or infinite.</exception>
    public RunSummary Train(Action<TrainingProgress>? onProgress, CancellationToken cancellationToken = default) =>
        Train(onProgress is null ? null : new Trainer.CallbackProgress(onProgress), cancellationToken);

    /// <summary>Records a progress report (<see cref="Train(IProgress{TrainingProgress}, CancellationToken)"/> does this
    /// for every report).</summary>
    /// <param name="progress">The report.</param>
    /// <exception cref="ArgumentNullException"><paramref name="progress"/> is null.</exception>
    public void Record(TrainingProgress progress)
    {
        ArgumentNullException.ThrowIfNull(progress);
        last = progress;
        Record(new MetricsRecord
        {
            Kind = MetricsKind.Progress,
            Step = progress.Step,
            Episode = progress.Episode,
            Updates = progress.Updates,
            Epsilon = Tidy(progress.Epsilon),
            Loss = Tidy(progress.Loss),
            QTakenMean = Tidy(progress.QTakenMean),
            TargetMean = Tidy(progress.TargetMean),
            MeanAbsoluteTDError = Tidy(progress.MeanAbsoluteTDError),
            GradientNorm = Tidy(progress.GradientNorm),
            TrainReturn = Tidy(progress.TrainReturn),
            TrainWinRate = Tidy(progress.TrainWinRate),
            TrainEpisodeLength = Tidy(progress.TrainEpisodeLength),
            TrainDeadAllies = Tidy(progress.TrainDeadAllies),
            TrainDeadEnemies = Tidy(progress.TrainDeadEnemies),
            TestReturn = Tidy(progress.TestReturn),
            TestWinRate = Tidy(progress.TestWinRate),
            TestEpisodeLength = Tidy(progress.TestEpisodeLength),
            TestDeadAllies = Tidy(progress.TestDeadAllies),
            TestDeadEnemies = Tidy(progress.TestDeadEnemies),
            StepsPerSecond = Math.Round(progress.StepsPerSecond, 1),
            ElapsedSeconds = Math.Round(secondsBefore + clock.Elapsed.TotalSeconds, 3),
        });
    }

    void Record(MetricsRecord record)
    {
        lock (gate)
        {
            if (disposed) return;
            records.Add(record);
            jsonl.WriteLine(JsonSerializer.Serialize(record, RunJson.Line));
            jsonl.Flush();
            csv.WriteLine(record.ToCsv());
            csv.Flush();
        }
    }

    RunSummary Finish(double seconds, string? stoppedBecause)
    {
        var all = Records;
        var tests = all.Where(r => r.Kind == MetricsKind.Evaluation).ToList();
        var model = Path.Combine(Directory, CheckpointFolder, ModelStem + ".safetensors");
        var summary = new RunSummary
        {
            Environment = Config.Environment,
            Algorithm = Config.Options.Algorithm,
            Seed = Config.Options.Seed,
            Completed = stoppedBecause is null && Trainer.IsComplete,
            StoppedBecause = stoppedBecause,
            Steps = Trainer.Step,
            TotalSteps = Config.Options.TotalSteps,
            Episodes = Trainer.Episode,
            Updates = Trainer.Updates,
            Seconds = Math.Round(seconds, 3),
            FinalTestReturn = tests.Count > 0 ? tests[^1].TestReturn : null,
            FinalTestWinRate = tests.Count > 0 ? tests[^1].TestWinRate : null,
            BestTestReturn = tests.Count > 0 ? tests.Max(t => t.TestReturn) : null,
            FinalTrainReturn = Tidy(last?.TrainReturn),
            FinalLoss = Tidy(last?.Loss),
            Evaluations = tests.Count,
            Warnings = Warnings is { Count: > 0 } ws ? ws : null,
            Checkpoint = File.Exists(model) ? Path.Combine(CheckpointFolder, ModelStem + ".safetensors").Replace('\\', '/') : null,
        };
        Charts.Save(CurvesPath, CurvesSvg(all, Config.Environment, Config.Options.Algorithm, Config.Options.Seed));
        RunJson.WriteFile(Path.Combine(Directory, SummaryFile), JsonSerializer.Serialize(summary, RunJson.Indented));
        Summary = summary;
        return summary;
    }

    /// <summary>The learning curves of a run's records: returns (test and training) against steps, and, below, the
    /// win rates when the environment reports wins; then the learner's diagnostics — the Q-values (Q taken and the TD
    /// target, with the largest |return| recorded as a dashed line: the values estimate returns, so they should stay
    /// near it), the TD error and the gradient norm before clipping, the episode lengths, and the dead units where
    /// the environment reports casualties. A note when there is nothing to draw yet.</summary>
    internal static string CurvesSvg(IReadOnlyList<MetricsRecord> records, string environment, Algorithm algorithm, ulong seed)
    {
        var title = $"{RunDirectory.AlgorithmName(algorithm)} on {environment}, seed {seed}";
        var returns = new List<ChartSeries>();
        var wins = new List<ChartSeries>();
        var values = new List<ChartSeries>();
        var errors = new List<ChartSeries>();
        var lengths = new List<ChartSeries>();
        var dead = new List<ChartSeries>();
        void Add(List<ChartSeries> to, string name, RunMetric metric)
        {
            var points = RunDirectory.Curve(records, metric);
            if (points.Count > 0) to.Add(new ChartSeries(name, points));
        }
        // a value of the exploring episodes is one collection's: noisy, so drawn as a moving average
        void AddSmoothed(List<ChartSeries> to, string name, RunMetric metric)
        {
            var points = RunDirectory.Curve(records, metric);
            if (points.Count > 0) to.Add(new ChartSeries($"{name} (mean of {Window})", MovingAverage(points)));
        }
        Add(returns, "test return", RunMetric.TestReturn);
        AddSmoothed(returns, "train return", RunMetric.TrainReturn);
        Add(wins, "test win rate", RunMetric.TestWinRate);
        Add(wins, "train win rate", RunMetric.TrainWinRate);
        Add(values, "Q taken", RunMetric.QTakenMean);
        Add(values, "target", RunMetric.TargetMean);
        Add(errors, "TD |error|", RunMetric.MeanAbsoluteTDError);
        Add(errors, "grad norm", RunMetric.GradientNorm);
        Add(lengths, "test episodes", RunMetric.TestEpisodeLength);
        AddSmoothed(lengths, "train episodes", RunMetric.TrainEpisodeLength);
        Add(dead, "test dead allies", RunMetric.TestDeadAllies);
        Add(dead, "test dead enemies", RunMetric.TestDeadEnemies);
        AddSmoothed(dead, "train dead allies", RunMetric.TrainDeadAllies);
        AddSmoothed(dead, "train dead enemies", RunMetric.TrainDeadEnemies);
        if (returns.Count == 0)
            return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"80\" viewBox=\"0 0 720 80\" font-family=\"sans-serif\">"
                + $"<text x=\"12\" y=\"44\" font-size=\"14\">{System.Security.SecurityElement.Escape(title)}: no metrics recorded yet</text></svg>\n";
        var panel = new ChartOptions { Height = 300 };
        // the panels share their x range and plot-area edges, so that their x axes line up one above the other
        var charts = new List<(string, string, IReadOnlyList<ChartSeries>, ChartOptions?)> { (title, "return", returns, null) };
        if (wins.Count > 0)
            charts.Add(("", "win rate", wins, panel with { YMin = 0, YMax = 1 }));
        if (values.Count > 0)
        {
            // the largest |return| recorded (test or training mean): an honest Q-value lives near it
            var largest = records
                .SelectMany(r => new[] { r.TestReturn, r.TrainReturn })
                .Where(v => v is { } x && double.IsFinite(x))
                .Select(v => Math.Abs(v!.Value))
                .DefaultIfEmpty(0)
                .Max();
            charts.Add(("learner diagnostics", "Q value", values, panel with
            {
                ReferenceLines = [new ChartReferenceLine("largest |return| recorded", largest)],
            }));
        }
        if (errors.Count > 0)
            charts.Add(("", "TD error, gradient", errors, panel with { YMin = 0 }));
        if (lengths.Count > 0)
            charts.Add(("", "episode length", lengths, panel with { YMin = 0 }));
        if (dead.Count > 0)
            charts.Add(("", "dead units", dead, panel with { YMin = 0 }));
        return Charts.Stack(Charts.AlignedLines("step", charts));
    }

    const int Window = 5;

    /// <summary>The mean of each point's y and the y of up to <see cref="Window"/> − 1 points before it.</summary>
    static IReadOnlyList<ChartPoint> MovingAverage(IReadOnlyList<ChartPoint> points) =>
        points.Select((p, i) =>
        {
            var from = Math.Max(0, i - Window + 1);
            var sum = 0.0;
            for (var j = from; j <= i; j++) sum += points[j].Y;
            return p with { Y = sum / (i - from + 1) };
        }).ToArray();

    /// <summary>A value from float32 arithmetic rounded to float32's 7 significant digits: 0.1, not the widened
    /// 0.10000000149011612, and 0.2, not the float32 noise 0.20000002 (a metric is a record to read, not a state to
    /// restore: the checkpoint keeps the training state).</summary>
    internal static double? Tidy(double? value) =>
        value is { } v && double.IsFinite(v) && Math.Abs(v) <= float.MaxValue
            ? double.Parse(((float)v).ToString("G7", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)
            : value;

    /// <summary>Closes the metrics files and disposes the trainer.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            if (disposed) return;
            disposed = true;
            jsonl.Dispose();
            csv.Dispose();
        }
        Trainer.Dispose();
    }

    /// <summary>Records each report, then passes it on (on the training thread).</summary>
    sealed class RecordingProgress(RunRecorder recorder, IProgress<TrainingProgress>? inner) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            recorder.Record(value);
            inner?.Report(value);
        }
    }
}
