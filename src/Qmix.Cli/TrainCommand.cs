using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Qmix.Cli;

/// <summary><c>qmix train</c>: trains one run, or several seeds in parallel, each in a run directory, with a live
/// progress display; Ctrl+C stops cleanly after writing a checkpoint.</summary>
internal static class TrainCommand
{
    public static Command Create(Io io)
    {
        var env = new Option<string?>("--env", "-e", "--game") { Description = $"The environment: {string.Join(", ", Environments.Names)} (sizes in 'qmix envs'; a combat map takes variants, e.g. combat:3m,state=raw); default two-step", HelpName = "NAME" };
        var algo = new Option<string?>("--algo", "-a") { Description = $"The algorithm: {string.Join(", ", Names.Algorithms)}; default qmix", HelpName = "ALGO" };
        algo.AcceptOnlyFromAmong([.. Names.Algorithms]);
        var steps = new Option<int?>("--steps") { Description = "Environment steps to train for; default 10,000 on the matrix games, the paper's 2,050,000 otherwise. The parallel environments finish their episodes, so a run can end a few steps past N (the summary says so)", HelpName = "N" };
        var seed = new Option<ulong?>("--seed") { Description = "The seed of the run; default 1", HelpName = "S" };
        var seeds = new Option<string?>("--seeds") { Description = "Several seeds, e.g. 1..5 or 1,3,7: trained in parallel, each in OUT/seed-S, plotted together in OUT/curves.svg", HelpName = "A..B" };
        var config = new Option<string?>("--config") { Description = "Training options as JSON (snake_case keys, e.g. {\"lr\": 0.001, \"batch_size\": 16}), or a run's config.json to repeat it", HelpName = "FILE" };
        var output = new Option<string?>("--out", "-o", "--output") { Description = "The run directory; default runs/ENV-ALGO-TIME", HelpName = "DIR" };
        var preset = new Option<string?>("--preset") { Description = "The settings to start from: pymarl (the QMIX paper's), pymarl2 (fine-tuned QMIX) or paper-matrix-games; default paper-matrix-games on the matrix games, pymarl2 otherwise", HelpName = "NAME" };
        preset.AcceptOnlyFromAmong([.. Names.Presets]);
        var parallel = new Option<int?>("--parallel") { Description = "Seeds trained at once; default the number of cores", HelpName = "N" };
        var settings = TrainingFlags.Create();
        var resume = new Option<string?>("--resume")
        {
            Description = "Continue the run in DIR (or in --out) from its checkpoint, with its own settings; given more --steps, a finished run trains on to them. Other settings given must be the run's",
            HelpName = "DIR",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var command = new Command("train", "Train agents on an environment, recording a run directory (config.json, metrics.jsonl/.csv, curves.svg, checkpoints/, summary.json)")
        {
            env, algo, preset, steps, seed, seeds, config, output, parallel, resume,
        };
        foreach (var option in settings.Options) command.Options.Add(option);
        command.SetAction(r => Run(io, new Request(
            r.GetValue(env), r.GetValue(algo), r.GetValue(preset), r.GetValue(steps), r.GetValue(seed), r.GetValue(seeds), r.GetValue(config),
            Resumption.Directory(r.GetValue(output), r.GetResult(resume) is not null, r.GetValue(resume)), r.GetValue(parallel),
            r.GetResult(resume) is not null, settings.Json(r), settings, "qmix " + string.Join(" ", r.Tokens.Select(t => t.Value)))));
        return command;
    }

    sealed record Request(
        string? Env, string? Algo, string? Preset, int? Steps, ulong? Seed, string? Seeds, string? Config, string? Out, int? Parallel,
        bool Resume, string? Settings, TrainingFlags Flags, string CommandLine)
    {
        /// <summary>Whether any setting of the run is given (a resumed run is then checked against them).</summary>
        public bool SetsOptions => Env is not null || Algo is not null || Preset is not null || Steps is not null || Seed is not null
                                   || Seeds is not null || Config is not null || Settings is not null;
    }

    /// <summary>One seed's run as the display sees it.</summary>
    sealed class SeedRun(ulong seed, RunRecorder recorder, int resumedAt)
    {
        public ulong Seed { get; } = seed;
        public RunRecorder Recorder { get; } = recorder;
        /// <summary>The step a resumed run continued from; -1 for a new run.</summary>
        public int ResumedAt { get; } = resumedAt;
        public volatile TrainingProgress? Latest;
        public volatile string Status = "waiting";
        /// <summary>The last checkpoint written, and those not printed yet.</summary>
        public volatile CheckpointWritten? Saved;
        public readonly System.Collections.Concurrent.ConcurrentQueue<CheckpointWritten> Saves = new();
        public TrainingProgress? Printed;
        public TimeSpan? PrintedAt;
        readonly List<TrainingWarning> warnings = [];
        int printedWarnings;

        /// <summary>Keeps a warning of the run (on its training thread).</summary>
        public void Warn(TrainingWarning w)
        {
            lock (warnings) warnings.Add(w);
        }

        /// <summary>The warnings so far.</summary>
        public IReadOnlyList<TrainingWarning> Warnings
        {
            get
            {
                lock (warnings) return warnings.ToArray();
            }
        }

        /// <summary>The warnings not printed yet, marked printed.</summary>
        public IReadOnlyList<TrainingWarning> Unprinted()
        {
            lock (warnings)
            {
                var fresh = warnings.Skip(printedWarnings).ToArray();
                printedWarnings = warnings.Count;
                return fresh;
            }
        }
    }

    static int Run(Io io, Request q)
    {
        // the configuration: preset, then the config file, then the flags
        string? configEnv = null, configJson = null;
        if (q.Config is not null) (configEnv, configJson) = Names.ReadConfig(q.Config);
        // a run continued without naming its environment keeps its own
        var existing = q.Resume && q.Env is null && configEnv is null ? ExistingConfig(q) : null;
        var envName = q.Env ?? configEnv ?? existing?.Environment ?? "two-step";
        envName = Names.RegisteredName(envName) ?? envName; // non-monotonic is matrix:non-monotonic
        Names.Environment(envName);
        var presetUsed = q.Preset is not null ? Names.Preset(q.Preset) : Names.DefaultPreset(envName);
        // a run continued starts from its own settings, the flags given then change them (and are checked below)
        var options = existing is not null && q.Preset is null && configJson is null ? existing.Options : TrainingOptions.Preset(presetUsed);
        if (configJson is not null) options = WithConfig(options, configJson, q.Config!);
        if (q.Settings is not null) options = q.Flags.Apply(options, q.Settings);
        if (q.Algo is not null) options = options with { Algorithm = Names.Algorithm(q.Algo) };
        if (q.Steps is { } n) options = options with { TotalSteps = n >= 0 ? n : throw new UsageException($"--steps {n}: at least 0") };
        if (q.Seed is { } s) options = options with { Seed = s };
        var seeds = q.Seeds is not null ? Names.Seeds(q.Seeds) : [options.Seed];
        if (TrainingFlags.EpsilonWarning(options) is { } epsilonWarning) io.Out.WriteLine("  warning: " + epsilonWarning);
        var parallel = q.Parallel is { } pl ? (pl >= 1 ? pl : throw new UsageException($"--parallel {pl}: at least 1")) : System.Environment.ProcessorCount;
        // refused up front when the replay buffer cannot fit, rather than killed when it fills
        if (TrainMemory.Check(envName, Names.Environment(envName).Spec, options, Math.Min(parallel, seeds.Count),
                GC.GetGCMemoryInfo().TotalAvailableMemoryBytes) is { } tooBig) throw tooBig;
        var algoName = RunDirectory.AlgorithmName(options.Algorithm);
        var outDir = q.Out ?? Path.Combine("runs",
            $"{envName.Replace(':', '-')}-{algoName}-{DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}");
        var multi = seeds.Count > 1;

        var runs = new List<SeedRun>();
        var finished = new List<(ulong Seed, string Dir, string State)>(); // runs --resume found done or failed
        try
        {
            foreach (var seed in seeds)
            {
                var dir = multi ? Path.Combine(outDir, $"seed-{seed}") : outDir;
                RunRecorder recorder;
                var resumedAt = -1;
                if (q.Resume && RunDirectory.IsRunDirectory(dir))
                {
                    var run0 = RunDirectory.Load(dir);
                    // more steps than the run was started for extend it; any other setting must be the run's
                    var extend = Resumption.Extends(run0.Config, options.TotalSteps);
                    if (q.SetsOptions && Resumption.Differences(run0.Config, envName, options with { Seed = seed, TotalSteps = run0.Config.Options.TotalSteps }) is { Count: > 0 } diff)
                        throw Resumption.Mismatch(dir, diff);
                    if (q.SetsOptions && options.TotalSteps < run0.Config.Options.TotalSteps)
                        throw Resumption.Mismatch(dir, [$"total_steps: {run0.Config.Options.TotalSteps} in the run, {options.TotalSteps} asked (a run is extended, not shortened)"]);
                    if (Resumption.StateOf(run0) is RunState.Failed || (Resumption.StateOf(run0) is RunState.Done && !extend))
                    {
                        finished.Add((seed, dir, Resumption.Describe(dir)));
                        continue;
                    }
                    recorder = extend
                        ? RunRecorder.Resume(dir, options.TotalSteps, Names.Environment(run0.Config.Environment))
                        : RunRecorder.Resume(dir, Names.Environment(run0.Config.Environment));
                    resumedAt = recorder.Trainer.Step;
                }
                else recorder = RunRecorder.Create(dir, Names.Environment(envName), options with { Seed = seed }, q.CommandLine);
                recorder.Trainer.ProgressInterval = io.Live ? TimeSpan.FromMilliseconds(150) : TimeSpan.FromSeconds(1);
                var run = new SeedRun(seed, recorder, resumedAt);
                recorder.Trainer.Warned += (_, w) => run.Warn(w);
                recorder.Trainer.CheckpointWritten += (_, c) =>
                {
                    run.Saved = c;
                    run.Saves.Enqueue(c);
                };
                runs.Add(run);
            }
        }
        catch
        {
            foreach (var r in runs) r.Recorder.Dispose();
            throw;
        }

        io.Out.WriteLine($"qmix {LibraryInfo.Version}: training {algoName} on {envName} for {options.TotalSteps:N0} steps, " +
                         (multi ? $"seeds {string.Join(", ", seeds)} ({Math.Min(parallel, seeds.Count)} at once)" : $"seed {seeds[0]}") +
                         $" -> {outDir}");
        foreach (var (seed, dir, state) in finished)
            io.Out.WriteLine($"  {(multi ? $"seed {seed}: " : "")}{dir} is {(state == "done" ? "complete already: nothing to train" : state + "; not retried (remove it to start over)")}");
        foreach (var run in runs.Where(r => r.ResumedAt >= 0))
            io.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {(multi ? $"seed {run.Seed}: " : "")}continuing {run.Recorder.Directory} from step {run.ResumedAt:N0} {(run.ResumedAt == 0 ? "(it has no checkpoint)" : "(its checkpoint)")}"));
        if (runs.Count == 0) return finished.Any(f => f.State != "done") ? Cli.Failed : Cli.Ok;
        if (configJson is null && existing is null)
            io.Out.WriteLine($"  settings: preset {Names.PresetName(presetUsed)}" +
                             (presetUsed == TrainingPreset.PaperMatrixGames ? " (the QMIX paper's matrix-game setup: uniform exploration, small networks)" : "") +
                             "; every option is in config.json");

        using var cts = new CancellationTokenSource();
        // the first Ctrl+C stops after the current iteration and writes checkpoints; a second one aborts
        var interrupts = Interrupts.CancelOnFirst(cts);
        try
        {
            using var slots = new SemaphoreSlim(parallel);
            var tasks = runs.Select(run => Task.Run(() =>
            {
                slots.Wait(cts.Token);
                try
                {
                    run.Status = "training";
                    run.Recorder.Train(new Reporter(run), cts.Token);
                    run.Status = "done";
                }
                catch (OperationCanceledException)
                {
                    run.Status = "stopped";
                }
                catch (Exception e) when (e is TrainingDivergedException or InvalidOperationException or CheckpointFailedException)
                {
                    run.Status = "failed: " + e.Message;
                }
                finally
                {
                    slots.Release();
                }
            }, CancellationToken.None)).ToArray();

            Display(io, runs, tasks, cts, multi);
            // a seed cancelled before it started has no summary
            foreach (var run in runs.Where(r => r.Recorder.Summary is null && r.Status == "waiting")) run.Status = "stopped";
        }
        finally
        {
            interrupts.Dispose();
            foreach (var r in runs) r.Recorder.Dispose();
        }

        return Report(io, runs, outDir, multi, envName, algoName);
    }

    /// <summary>The options with a config file's applied; a value that does not fit is a usage error naming the
    /// file.</summary>
    static TrainingOptions WithConfig(TrainingOptions options, string json, string path)
    {
        try
        {
            return options.WithJson(json);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--config {path}: {Cli.Plain(e)}");
        }
    }

    /// <summary>The configuration of the run that <c>--resume</c> continues (the first seed's that exists), or
    /// null.</summary>
    static RunConfig? ExistingConfig(Request q)
    {
        if (q.Out is null) return null;
        var dirs = q.Seeds is not null ? Names.Seeds(q.Seeds).Select(s => Path.Combine(q.Out, $"seed-{s}")) : [q.Out];
        return dirs.Where(RunDirectory.IsRunDirectory).Select(d => RunDirectory.Load(d).Config).FirstOrDefault();
    }

    sealed class Reporter(SeedRun run) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => run.Latest = value;
    }

    static void Display(Io io, List<SeedRun> runs, Task[] tasks, CancellationTokenSource cts, bool multi)
    {
        if (io.Live)
        {
            io.Console.Live(Table(runs, cts.IsCancellationRequested))
                .AutoClear(false)
                .Overflow(VerticalOverflow.Ellipsis)
                .Start(ctx =>
                {
                    while (!Task.WaitAll(tasks, 150)) ctx.UpdateTarget(Table(runs, cts.IsCancellationRequested));
                    ctx.UpdateTarget(Table(runs, false));
                });
            return;
        }
        // plain lines: one per seed every few seconds, and the last one
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var stopping = false;
        while (true)
        {
            var done = Task.WaitAll(tasks, 200);
            if (cts.IsCancellationRequested && !stopping)
            {
                stopping = true;
                io.Out.WriteLine("  stopping after the current iteration; writing checkpoints (Ctrl+C again to abort)");
            }
            foreach (var run in runs)
            {
                foreach (var w in run.Unprinted()) io.Out.WriteLine(WarningLine(w, multi ? run.Seed : null));
                while (run.Saves.TryDequeue(out var saved))
                    io.Out.WriteLine($"  {(multi ? $"seed {run.Seed}: " : "")}{CheckpointLine(saved)}");
                var p = run.Latest;
                if (p is null || ReferenceEquals(p, run.Printed)) continue;
                if (!done && run.PrintedAt is { } at && clock.Elapsed - at < TimeSpan.FromSeconds(2)) continue;
                run.Printed = p;
                run.PrintedAt = clock.Elapsed;
                io.Out.WriteLine(Line(p, multi ? run.Seed : null));
            }
            if (done) break;
        }
    }

    static string Line(TrainingProgress p, ulong? seed)
    {
        var inv = CultureInfo.InvariantCulture;
        var head = seed is { } s ? $"  seed {s,-3}" : " ";
        var win = p.TestWinRate is { } w ? $"  win {Format.Percent(w)}" : "";
        return string.Create(inv,
            $"{head} step {p.Step,9:N0}/{p.TotalSteps:N0} {Format.Percent(Math.Floor(p.Fraction * 100) / 100),5}  episode {p.Episode,8:N0}  ε {Format.Number(p.Epsilon)}  " +
            $"loss {Format.Number(p.Loss)}  Q {Format.Number(p.QTakenMean)}  TD|err| {Format.Number(p.MeanAbsoluteTDError)}  " +
            $"return train {Format.Number(p.TrainReturn)} test {Format.Number(p.TestReturn)}{win}  " +
            $"{p.StepsPerSecond,8:N0} steps/s  {Eta(p)}");
    }

    /// <summary>A checkpoint written, as printed: "checkpoint at step 4,000: 412 MB (5,000 episodes of replay) in 1.3 s".</summary>
    static string CheckpointLine(CheckpointWritten c) =>
        string.Create(CultureInfo.InvariantCulture, $"checkpoint at step {c.Step:N0}: {Size(c)}");

    static string Size(CheckpointWritten c) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{Grid.Bytes(c.Bytes)}, {(c.ReplayEpisodes > 0 ? $"{c.ReplayEpisodes:N0} episodes of replay" : "no replay")}, written in {c.Elapsed.TotalSeconds:0.0} s; " +
            $"the replay buffer holds {Grid.Bytes(c.ReplayMemoryBytes)} in memory");

    /// <summary>A warning as printed: "warning: MESSAGE", with the seed when several train.</summary>
    static string WarningLine(TrainingWarning w, ulong? seed) =>
        seed is { } s ? $"  warning (seed {s}): {w.Message}" : $"  warning: {w.Message}";

    static string Eta(TrainingProgress p) =>
        p.Step >= p.TotalSteps ? $"took {Names.Duration(p.Elapsed)}"
        : p.StepsPerSecond > 0 && p.Elapsed >= TimeSpan.FromSeconds(1) ? $"ETA {Names.Duration(TimeSpan.FromSeconds((p.TotalSteps - p.Step) / p.StepsPerSecond))}"
        : "ETA –";

    static IRenderable Table(List<SeedRun> runs, bool stopping)
    {
        var t = new Table().Border(TableBorder.Rounded).Expand();
        foreach (var c in new[] { "seed", "progress", "step", "episode", "ε", "loss", "Q taken", "TD |err|", "train return", "test return", "win rate", "steps/s", "time", "" })
            t.AddColumn(new TableColumn(c).RightAligned());
        t.Columns[1].LeftAligned();
        t.Columns[^1].LeftAligned();
        foreach (var run in runs)
        {
            var p = run.Latest;
            var fraction = p?.Fraction ?? 0;
            const int width = 24;
            var filled = (int)Math.Round(fraction * width);
            var bar = $"[green]{new string('━', filled)}[/][grey]{new string('─', width - filled)}[/] {Format.Percent(Math.Floor(fraction * 100) / 100),5}";
            var status = run.Status == "training" && stopping ? "stopping…" : run.Status;
            t.AddRow(
                new Markup(run.Seed.ToString(CultureInfo.InvariantCulture)),
                new Markup(bar),
                new Text(p is null ? "–" : $"{p.Step:N0}/{p.TotalSteps:N0}"),
                new Text(p is null ? "–" : p.Episode.ToString("N0", CultureInfo.InvariantCulture)),
                new Text(Format.Number(p?.Epsilon)),
                new Text(Format.Number(p?.Loss)),
                // a run with a warning shows its Q-values in yellow
                new Markup(run.Warnings.Count > 0
                    ? $"[yellow]{Markup.Escape(Format.Number(p?.QTakenMean))}[/]"
                    : Markup.Escape(Format.Number(p?.QTakenMean))),
                new Text(Format.Number(p?.MeanAbsoluteTDError)),
                new Text(Format.Number(p?.TrainReturn)),
                new Markup($"[bold]{Format.Number(p?.TestReturn)}[/]"),
                new Text(Format.Percent(p?.TestWinRate)),
                new Text(p is null ? "–" : p.StepsPerSecond.ToString("N0", CultureInfo.InvariantCulture)),
                new Text(p is null ? "–" : Eta(p)),
                new Markup(Markup.Escape(status.Length > 40 ? status[..40] + "…" : status)));
        }
        var caption = new List<string>();
        foreach (var run in runs)
            foreach (var w in run.Warnings)
                caption.Add($"[yellow]warning{(runs.Count > 1 ? $" (seed {run.Seed})" : "")}: {Markup.Escape(Short(w))}[/]");
        if (stopping) caption.Add("[yellow]stopping after the current iteration; writing checkpoints (Ctrl+C again to abort)[/]");
        if (caption.Count > 0) t.Caption(string.Join("\n", caption));
        return t;
    }

    /// <summary>A warning in a few words for the live table: "q_taken_mean = 1.2E+04 at step 4,000, above the
    /// bound 100 (in full after the table and in summary.json)".</summary>
    static string Short(TrainingWarning w) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{w.Quantity} = {Format.Number(w.Value)} at step {w.Step:N0}, above the bound {Format.Number(w.Bound)} (in full below and in summary.json)");

    /// <summary>The steps a run took, saying so when its last batch of episodes ran past the steps asked for (the
    /// parallel environments finish whole episodes): "50,013 steps (the last batch of episodes finished past
    /// 50,000)".</summary>
    internal static string StepsTaken(RunSummary s) =>
        s.Steps > s.TotalSteps
            ? string.Create(CultureInfo.InvariantCulture, $"{s.Steps:N0} steps (the last batch of episodes finished past {s.TotalSteps:N0})")
            : string.Create(CultureInfo.InvariantCulture, $"{s.Steps:N0} steps");

    static int Report(Io io, List<SeedRun> runs, string outDir, bool multi, string envName, string algoName)
    {
        var o = io.Out;
        // the warnings the display has not printed in full (all of them after a live table)
        foreach (var run in runs)
            foreach (var w in run.Unprinted())
                o.WriteLine(WarningLine(w, multi ? run.Seed : null));
        foreach (var run in runs)
        {
            var s = run.Recorder.Summary;
            var head = multi ? $"seed {run.Seed}: " : "";
            if (s is null)
            {
                o.WriteLine($"{head}not started");
                continue;
            }
            var win = s.FinalTestWinRate is { } w ? $", test win rate {Format.Percent(w)}" : "";
            var verdict = s.Completed ? "done" : run.Status.StartsWith("failed", StringComparison.Ordinal) ? run.Status : $"stopped at step {s.Steps:N0}";
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{head}{verdict}: {StepsTaken(s)}, {s.Episodes:N0} episodes in {Format.Number(s.Seconds)} s; final test return {Format.Number(s.FinalTestReturn)}{win}"));
            if (multi) continue;
            o.WriteLine($"run directory: {run.Recorder.Directory}");
            o.WriteLine($"  plot:        {run.Recorder.CurvesPath}");
            if (s.Checkpoint is { } c)
                o.WriteLine($"  checkpoint:  {Path.Combine(run.Recorder.Directory, c)}{(run.Saved is { } sv ? $" ({Size(sv)})" : "")}");
            o.WriteLine($"  metrics:     {Path.Combine(run.Recorder.Directory, RunFiles.MetricsCsv)}, {RunFiles.MetricsJson}; summary.json, config.json");
            o.WriteLine($"next: qmix eval {run.Recorder.Directory}   |   qmix plot {run.Recorder.Directory}");
        }
        if (multi)
        {
            var plot = Path.Combine(outDir, "curves.svg");
            var groups = PlotCommand.Groups(Directory.GetDirectories(outDir, "seed-*").Order(StringComparer.Ordinal)
                .Where(RunDirectory.IsRunDirectory).Select(RunDirectory.Load).Where(r => r.Summary is not null).ToList(), RunMetric.TestReturn);
            if (groups.Count > 0)
            {
                Charts.Save(plot, Charts.Band($"{algoName} on {envName}", "step", "test return", groups));
                o.WriteLine($"run directories: {outDir}/seed-*");
                o.WriteLine($"  plot (mean and 95% band over the seeds): {plot}");
            }
            else o.WriteLine($"run directories: {outDir}/seed-*");
        }
        if (runs.Any(r => r.Status.StartsWith("failed", StringComparison.Ordinal))) return Cli.Failed;
        if (runs.Any(r => r.Status == "stopped")) return Cli.Cancelled;
        return Cli.Ok;
    }
}

/// <summary>The file names of a run directory, for messages.</summary>
internal static class RunFiles
{
    public const string MetricsCsv = "metrics.csv", MetricsJson = "metrics.jsonl";
}
