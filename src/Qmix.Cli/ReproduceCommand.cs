using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Qmix.Cli;

/// <summary><c>qmix reproduce</c>: a grid of environments × algorithms × seeds × presets, each cell an ordinary run
/// directory, trained a few at a time and resumably; then a results table, <c>results.md</c>/<c>results.json</c> and
/// a learning-curve plot per environment. It can also print the grid as <c>qmix train</c> command lines or a Slurm
/// array script.</summary>
internal static class ReproduceCommand
{
    public static Command Create(Io io)
    {
        var envs = new Option<string[]>("--envs") { Description = "Environments, comma-separated (a combat map keeps its rules: combat:3m,smax,combat:2s3z)", HelpName = "ENV,..." };
        var algos = new Option<string[]>("--algos") { Description = "Algorithms, comma-separated; default qmix", HelpName = "ALGO,..." };
        var seeds = new Option<string?>("--seeds") { Description = "Seeds, e.g. 1..3 or 1,2,5; default 1..3", HelpName = "A..B" };
        var preset = new Option<string[]>("--preset", "--presets") { Description = "Presets, comma-separated (pymarl, pymarl2, paper-matrix-games); default each environment's (pymarl2 on the combat maps)", HelpName = "NAME,..." };
        var steps = new Option<int?>("--steps") { Description = "Environment steps per cell; default the preset's", HelpName = "N" };
        var buffer = new Option<int?>("--buffer") { Description = "Episodes each cell's replay buffer keeps; default the preset's (5000)", HelpName = "N" };
        var saveInterval = new Option<int?>("--save-interval") { Description = $"Steps between a cell's checkpoints, so that a stopped grid loses little; default {Grid.DefaultSaveInterval:N0}", HelpName = "N" };
        var evalEpisodes = new Option<int?>("--eval-episodes") { Description = $"Greedy episodes that give a finished cell's final win rate (kept in its eval.json); 0 for its last in-training test; default {Grid.DefaultEvalEpisodes}", HelpName = "K" };
        var parallel = new Option<int?>("--parallel") { Description = "Cells trained at once; default 2", HelpName = "N" };
        var keepReplay = new Option<bool>("--keep-replay") { Description = "Keep a finished cell's training state (checkpoints/model.train.safetensors, with the replay buffer); by default it is deleted once the cell is evaluated" };
        var output = new Option<string?>("--out") { Description = "The grid's folder: OUT/ENV/ALGO-PRESET/seed-S, results.md, results.json, ENV.svg; default runs/reproduce", HelpName = "DIR" };
        var config = new Option<string?>("--config") { Description = "Training options as JSON, applied over each preset (as qmix train --config)", HelpName = "FILE" };
        var grid = new Option<string?>("--grid") { Description = "A JSON grid with the same fields (envs, algos, seeds, preset, steps, ...; blocks for a union of grids)", HelpName = "FILE" };
        var paper = new Option<bool>("--paper") { Description = "The QMIX paper's comparison: qmix on the six paper maps, vdn and iql on 3m, 2s3z, 3s5z, 1c3s5z; seeds 1..3 (1..5 on 3m)" };
        var print = new Option<string?>("--print") { Description = "Print the grid instead of training it: commands (one qmix train line per cell) or slurm (an array job script)", HelpName = "WHAT" };
        print.AcceptOnlyFromAmong("commands", "slurm");
        var dryRun = new Option<bool>("--dry-run") { Description = "List the cells, their state (done, partial at step X, not started) and memory, and train nothing" };
        var report = new Option<bool>("--report") { Description = "Train nothing: write the results of the cells already there (e.g. after a Slurm array)" };
        var command = new Command("reproduce", "Train a grid of environments × algorithms × seeds × presets, resumably, and tabulate and plot the results")
        {
            envs, algos, seeds, preset, steps, buffer, saveInterval, evalEpisodes, parallel, keepReplay, output, config, grid, paper, print, dryRun, report,
        };
        command.SetAction(r => Run(io, new Request(
            r.GetValue(envs), r.GetValue(algos), r.GetValue(seeds), r.GetValue(preset), r.GetValue(steps), r.GetValue(buffer),
            r.GetValue(saveInterval), r.GetValue(evalEpisodes), r.GetValue(parallel), r.GetValue(keepReplay), r.GetValue(output), r.GetValue(config),
            r.GetValue(grid), r.GetValue(paper), r.GetValue(print), r.GetValue(dryRun), r.GetValue(report))));
        return command;
    }

    internal sealed record Request(
        string[]? Envs, string[]? Algos, string? Seeds, string[]? Presets, int? Steps, int? Buffer, int? SaveInterval, int? EvalEpisodes,
        int? Parallel, bool KeepReplay, string? Out, string? Config, string? GridFile, bool Paper, string? Print, bool DryRun, bool Report);

    /// <summary>The grid a request names: --paper or --grid FILE or the flags, the flags replacing what the grid
    /// sets (a list flag replaces that list in every block).</summary>
    internal static Grid BuildGrid(Request q)
    {
        if (q.Paper && q.GridFile is not null) throw new UsageException("--paper and --grid name two grids: give one");
        var envs = q.Envs is { Length: > 0 } e ? e.SelectMany(Grid.SplitEnvs).ToArray() : null;
        var algos = q.Algos is { Length: > 0 } a ? a.SelectMany(Grid.SplitList).ToArray() : null;
        var presets = q.Presets is { Length: > 0 } p ? p.SelectMany(Grid.SplitList).ToArray() : null;
        var seeds = q.Seeds is not null ? Names.Seeds(q.Seeds) : null;
        Grid grid;
        if (q.Paper) grid = Grid.Paper();
        else if (q.GridFile is not null) grid = Grid.FromFile(q.GridFile);
        else
        {
            if (envs is null) throw new UsageException("name the environments (--envs combat:3m,combat:2s3z), a grid file (--grid FILE) or --paper");
            grid = new Grid { Blocks = [new GridBlock(envs, ["qmix"], Names.Seeds("1..3"), null)] };
        }
        grid = grid with
        {
            Blocks = grid.Blocks.Select(b => new GridBlock(envs ?? b.Envs, algos ?? b.Algos, seeds ?? b.Seeds, presets ?? b.Presets)).ToArray(),
            Steps = q.Steps ?? grid.Steps,
            Buffer = q.Buffer ?? grid.Buffer,
            SaveInterval = q.SaveInterval ?? grid.SaveInterval,
            EvalEpisodes = q.EvalEpisodes ?? grid.EvalEpisodes,
            Parallel = q.Parallel ?? grid.Parallel,
            KeepReplay = q.KeepReplay || grid.KeepReplay,
            Out = q.Out ?? grid.Out,
            Config = q.Config ?? grid.Config,
        };
        if (grid.Steps is < 0) throw new UsageException($"--steps {grid.Steps}: at least 0");
        if (grid.Buffer is < 1) throw new UsageException($"--buffer {grid.Buffer}: at least 1");
        if (grid.SaveInterval < 0) throw new UsageException($"--save-interval {grid.SaveInterval}: at least 0");
        if (grid.EvalEpisodes < 0) throw new UsageException($"--eval-episodes {grid.EvalEpisodes}: at least 0");
        if (grid.Parallel < 1) throw new UsageException($"--parallel {grid.Parallel}: at least 1");
        return grid;
    }

    /// <summary>One cell being trained, as the display sees it.</summary>
    sealed class CellRun(int index, GridCell cell)
    {
        public int Index { get; } = index;
        public GridCell Cell { get; } = cell;
        public volatile TrainingProgress? Latest;
        public volatile string Status = "waiting";
        public volatile string? Evaluated;
        public int ResumedAt = -1;
        public TimeSpan? PrintedAt;
    }

    sealed class Reporter(CellRun run) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => run.Latest = value;
    }

    static int Run(Io io, Request q)
    {
        var grid = BuildGrid(q);
        var cells = grid.Cells();
        if (q.Print == "commands")
        {
            foreach (var cell in cells) io.Out.WriteLine(grid.CommandLine(cell));
            return Cli.Ok;
        }
        if (q.Print == "slurm")
        {
            io.Out.Write(grid.SlurmScript(cells));
            return Cli.Ok;
        }

        // a cell that holds a run started with other settings stops everything before anything trains
        foreach (var cell in cells.Where(c => RunDirectory.IsRunDirectory(c.Dir)))
        {
            var diff = Resumption.Differences(RunDirectory.Load(cell.Dir).Config, cell.Env, cell.Options);
            if (diff.Count > 0) throw Resumption.Mismatch(cell.Dir, diff);
        }
        var states = cells.ToDictionary(c => c, c => Resumption.StateOf(c.Dir));
        var available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        var inv = CultureInfo.InvariantCulture;
        string Counts() =>
            $"{states.Values.Count(s => s == RunState.Done)} done, {states.Values.Count(s => s == RunState.Partial)} partial, " +
            $"{states.Values.Count(s => s == RunState.NotStarted)} not started" +
            (states.Values.Any(s => s == RunState.Failed) ? $", {states.Values.Count(s => s == RunState.Failed)} failed" : "");

        if (q.DryRun)
        {
            var table = new Table().Border(TableBorder.Simple).AddColumn("#").AddColumn("cell").AddColumn("state")
                .AddColumn(new TableColumn("steps").RightAligned()).AddColumn(new TableColumn("memory").RightAligned());
            foreach (var (cell, i) in cells.Select((c, i) => (c, i)))
                table.AddRow(i.ToString(inv), Markup.Escape(cell.Dir), Markup.Escape(Resumption.Describe(cell.Dir)),
                    cell.Options.TotalSteps.ToString("N0", inv), Grid.Bytes(cell.MemoryBytes));
            io.Write(table);
            io.Out.WriteLine($"{cells.Count} cells: {Counts()}");
            var check = Grid.CheckMemory(cells.Where(c => states[c] is RunState.NotStarted or RunState.Partial).ToList(), grid.Parallel, available, out var note);
            io.Out.WriteLine(check is not null ? $"memory: {check.Message}" : note ?? $"memory: fits ({grid.Parallel} at once, {Grid.Bytes(available)} available)");
            return Cli.Ok;
        }

        var cancelled = false;
        var failed = false;
        if (!q.Report)
        {
            var todo = cells.Where(c => states[c] is RunState.NotStarted or RunState.Partial).ToList();
            if (Grid.CheckMemory(todo, grid.Parallel, available, out var warning) is { } refused) throw refused;
            io.Out.WriteLine($"qmix {LibraryInfo.Version}: reproduce, {cells.Count} cells ({Counts()}), {Math.Min(grid.Parallel, Math.Max(1, todo.Count))} at once -> {grid.Out}");
            foreach (var env in cells.GroupBy(c => c.Env))
                io.Out.WriteLine($"  {env.Key}: {string.Join(", ", env.Select(c => $"{c.Algo}-{c.Preset}").Distinct())}; " +
                                 $"{env.First().Options.TotalSteps:N0} steps; about {Grid.Bytes(env.Max(c => c.MemoryBytes))} of memory per cell");
            if (warning is not null) io.Out.WriteLine("  " + warning);
            (cancelled, failed) = Train(io, grid, todo, cells, available);
        }

        // results: the evaluations still missing (unless stopped), then the table and files
        if (grid.EvalEpisodes > 0 && !cancelled)
        {
            foreach (var cell in cells.Where(c => Resumption.StateOf(c.Dir) == RunState.Done))
            {
                var summary = RunDirectory.Load(cell.Dir).Summary!;
                if (CellEval.Read(cell.Dir, grid.EvalEpisodes, summary.Steps) is not null) continue;
                io.Out.WriteLine($"  evaluating {cell.Name}: {grid.EvalEpisodes} greedy episodes");
                CellEval.Ensure(cell.Dir, grid.EvalEpisodes, CancellationToken.None);
            }
        }
        var groups = GridResults.Groups(cells, grid.EvalEpisodes);
        var (head, rows) = GridResults.Table(groups);
        var results = new Table().Border(TableBorder.Simple);
        foreach (var (c, i) in head.Select((c, i) => (c, i))) results.AddColumn(i < 3 ? new TableColumn(Markup.Escape(c)) : new TableColumn(Markup.Escape(c)).RightAligned());
        foreach (var row in rows) results.AddRow(row.Select(Markup.Escape).ToArray());
        io.Write(results);
        var plots = GridResults.Write(grid, cells, groups);
        foreach (var cell in cells) states[cell] = Resumption.StateOf(cell.Dir);
        io.Out.WriteLine($"{cells.Count} cells: {Counts()}");
        io.Out.WriteLine($"results: {Path.Combine(grid.Out, "results.md")}, {Path.Combine(grid.Out, "results.json")}");
        if (plots.Count > 0) io.Out.WriteLine($"  plots: {string.Join(", ", plots)}");
        if (cancelled) io.Out.WriteLine("stopped: run the same command again to continue from the checkpoints");
        return cancelled ? Cli.Cancelled : failed || states.Values.Any(s => s == RunState.Failed) ? Cli.Failed : Cli.Ok;
    }

    /// <summary>Trains the cells a few at a time, each continued from its checkpoint when it has one, and evaluates
    /// each that finishes. Returns whether Ctrl+C stopped it and whether a cell failed.</summary>
    static (bool Cancelled, bool Failed) Train(Io io, Grid grid, List<GridCell> todo, IReadOnlyList<GridCell> all, long available)
    {
        var runs = todo.Select(c => new CellRun(all.ToList().IndexOf(c), c)).ToList();
        if (runs.Count == 0) return (false, false);
        using var cts = new CancellationTokenSource();
        // the first Ctrl+C stops after the current iteration and writes checkpoints; a second one aborts
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using (Interrupts.CancelOnFirst(cts))
        {
            // N workers take the cells in the grid's order (a semaphore would let them start in any order); a cell
            // starts when its memory fits beside the cells already training
            var queue = new System.Collections.Concurrent.ConcurrentQueue<CellRun>(runs);
            var memory = new MemoryGate(Grid.Budget(available));
            var tasks = Enumerable.Range(0, Math.Min(grid.Parallel, runs.Count))
                .Select(_ => Task.Run(() =>
                {
                    while (queue.TryDequeue(out var run))
                    {
                        var bytes = run.Cell.MemoryBytes;
                        if (!memory.Enter(bytes, cts.Token))
                        {
                            run.Status = "not started";
                            continue;
                        }
                        try
                        {
                            TrainCell(run, grid, log, io.Live, cts.Token);
                        }
                        finally
                        {
                            memory.Exit(bytes);
                        }
                    }
                }, CancellationToken.None))
                .ToArray();
            Display(io, runs, tasks, log, cts, all.Count);
        }
        return (cts.IsCancellationRequested, runs.Any(r => r.Status.StartsWith("failed", StringComparison.Ordinal)));
    }

    static void TrainCell(CellRun run, Grid grid, System.Collections.Concurrent.ConcurrentQueue<string> log, bool live, CancellationToken ct)
    {
        if (ct.IsCancellationRequested)
        {
            run.Status = "not started";
            return;
        }
        RunRecorder? recorder = null;
        var head = $"[{run.Index + 1}] {run.Cell.Name}";
        try
        {
            var cell = run.Cell;
            if (RunDirectory.IsRunDirectory(cell.Dir))
            {
                recorder = RunRecorder.Resume(cell.Dir, Names.Environment(cell.Env));
                run.ResumedAt = recorder.Trainer.Step;
                log.Enqueue(string.Create(CultureInfo.InvariantCulture, $"{head}: continuing from step {run.ResumedAt:N0}{(run.ResumedAt == 0 ? " (no checkpoint)" : "")}"));
            }
            else
            {
                recorder = RunRecorder.Create(cell.Dir, Names.Environment(cell.Env), cell.Options, grid.CommandLine(cell));
                log.Enqueue($"{head}: starting");
            }
            recorder.Trainer.ProgressInterval = live ? TimeSpan.FromMilliseconds(250) : TimeSpan.FromSeconds(1);
            run.Status = "training";
            var summary = recorder.Train(new Reporter(run), ct);
            // the trainer (and its replay buffer) can go before the evaluation
            recorder.Dispose();
            recorder = null;
            var win = summary.FinalTestWinRate is { } w ? $", last test win rate {Format.Percent(w)}" : "";
            log.Enqueue(string.Create(CultureInfo.InvariantCulture,
                $"{head}: done, {summary.Steps:N0} steps in {Names.Duration(TimeSpan.FromSeconds(summary.Seconds))}; final test return {Format.Number(summary.FinalTestReturn)}{win}"));
            run.Status = "done";
            if (grid.EvalEpisodes > 0)
            {
                run.Status = "evaluating";
                var e = CellEval.Ensure(cell.Dir, grid.EvalEpisodes, ct);
                if (e is not null)
                    log.Enqueue(string.Create(CultureInfo.InvariantCulture,
                        $"{head}: {e.Episodes} greedy episodes: return {Format.Number(e.MeanReturn)}{(e.WinRate is { } ew ? $", win rate {Format.Percent(ew)}" : "")}"));
                run.Status = "done";
            }
            if (!grid.KeepReplay) DropTrainingState(cell.Dir);
        }
        catch (OperationCanceledException)
        {
            run.Status = run.Status is "evaluating" or "done" ? "done" : "stopped";
            if (run.Status == "stopped") log.Enqueue($"{head}: stopped at step {recorder?.Trainer.Step ?? 0:N0}, checkpoint written");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            run.Status = "failed: " + e.Message;
            log.Enqueue($"{head}: failed: {e.Message}");
        }
        finally
        {
            recorder?.Dispose();
        }
    }

    /// <summary>Deletes a finished cell's training state (targets, optimiser, replay buffer), keeping its policy.</summary>
    internal static void DropTrainingState(string cellDir)
    {
        var path = Path.Combine(cellDir, "checkpoints", "model.train.safetensors");
        if (File.Exists(path)) File.Delete(path);
    }

    static void Display(Io io, List<CellRun> runs, Task[] tasks, System.Collections.Concurrent.ConcurrentQueue<string> log, CancellationTokenSource cts, int cells)
    {
        if (io.Live)
        {
            io.Console.Live(Table(runs, cells, cts.IsCancellationRequested))
                .AutoClear(true)
                .Overflow(VerticalOverflow.Ellipsis)
                .Start(ctx =>
                {
                    while (!Task.WaitAll(tasks, 250)) ctx.UpdateTarget(Table(runs, cells, cts.IsCancellationRequested));
                });
            while (log.TryDequeue(out var line)) io.Out.WriteLine("  " + line);
            return;
        }
        // plain lines: what starts and ends, and each training cell's progress every 15 seconds
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
            while (log.TryDequeue(out var line)) io.Out.WriteLine("  " + line);
            foreach (var run in runs.Where(r => r.Status == "training"))
            {
                if (run.Latest is not { } p || (run.PrintedAt is { } at && clock.Elapsed - at < TimeSpan.FromSeconds(15))) continue;
                run.PrintedAt = clock.Elapsed;
                io.Out.WriteLine("  " + Line(run, p));
            }
            if (done) break;
        }
        while (log.TryDequeue(out var rest)) io.Out.WriteLine("  " + rest);
    }

    static string Line(CellRun run, TrainingProgress p)
    {
        var win = p.TestWinRate is { } w ? ", win " + Format.Percent(w) : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"[{run.Index + 1}] {run.Cell.Name}: step {p.Step:N0}/{p.TotalSteps:N0} ({Format.Percent(Math.Floor(p.Fraction * 100) / 100)}), test return {Format.Number(p.TestReturn)}{win}, {p.StepsPerSecond:N0} steps/s, {Eta(p)}");
    }

    static string Eta(TrainingProgress p) =>
        p.StepsPerSecond > 0 && p.Step < p.TotalSteps
            ? "ETA " + Names.Duration(TimeSpan.FromSeconds((p.TotalSteps - p.Step) / p.StepsPerSecond))
            : "ETA –";

    static IRenderable Table(List<CellRun> runs, int cells, bool stopping)
    {
        var t = new Table().Border(TableBorder.Rounded).Expand();
        foreach (var c in new[] { "#", "cell", "progress", "step", "test return", "win rate", "steps/s", "time", "" })
            t.AddColumn(new TableColumn(c).RightAligned());
        t.Columns[1].LeftAligned();
        t.Columns[2].LeftAligned();
        t.Columns[^1].LeftAligned();
        foreach (var run in runs.Where(r => r.Status is "training" or "evaluating"))
        {
            var p = run.Latest;
            var fraction = p?.Fraction ?? 0;
            const int width = 20;
            var filled = (int)Math.Round(fraction * width);
            t.AddRow(
                new Text((run.Index + 1).ToString(CultureInfo.InvariantCulture)),
                new Text(run.Cell.Name),
                new Markup($"[green]{new string('━', filled)}[/][grey]{new string('─', width - filled)}[/] {Format.Percent(Math.Floor(fraction * 100) / 100),5}"),
                new Text(p is null ? "–" : $"{p.Step:N0}/{p.TotalSteps:N0}"),
                new Text(Format.Number(p?.TestReturn)),
                new Text(Format.Percent(p?.TestWinRate)),
                new Text(p is null ? "–" : p.StepsPerSecond.ToString("N0", CultureInfo.InvariantCulture)),
                new Text(p is null ? "–" : Eta(p)),
                new Text(stopping && run.Status == "training" ? "stopping…" : run.Status));
        }
        var done = runs.Count(r => r.Status == "done");
        var waiting = runs.Count(r => r.Status == "waiting");
        var caption = $"{runs.Count} of {cells} cells to train: {done} done, {waiting} waiting" +
                      (runs.Any(r => r.Status.StartsWith("failed", StringComparison.Ordinal)) ? $", {runs.Count(r => r.Status.StartsWith("failed", StringComparison.Ordinal))} failed" : "");
        if (stopping) caption += "\n[yellow]stopping after the current iteration; writing checkpoints (Ctrl+C again to abort)[/]";
        return t.Caption(caption);
    }
}
