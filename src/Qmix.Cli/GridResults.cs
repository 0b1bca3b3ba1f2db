using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Qmix.Cli;

/// <summary>A finished cell's greedy evaluation, as <c>eval.json</c> in its run directory holds it: written once, so
/// that the results do not run it again.</summary>
/// <param name="Episodes">Greedy episodes.</param>
/// <param name="Seed">The seed of the episodes (0, as <c>qmix eval</c>'s default: every cell plays the same
/// episodes).</param>
/// <param name="Step">The step of the evaluated checkpoint (the run's last).</param>
/// <param name="MeanReturn">The mean return.</param>
/// <param name="WinRate">The win rate; null for environments without wins.</param>
/// <param name="MeanEpisodeLength">The mean episode length.</param>
internal sealed record CellEval(int Episodes, ulong Seed, int Step, double MeanReturn, double? WinRate, double MeanEpisodeLength)
{
    /// <summary>The format marker.</summary>
    public string Format { get; init; } = "qmix/eval/1";

    public const string FileName = "eval.json";

    /// <summary>The evaluation of a cell when it is there and of its last checkpoint with this many episodes; null
    /// otherwise.</summary>
    public static CellEval? Read(string dir, int episodes, int step)
    {
        var file = Path.Combine(dir, FileName);
        if (!File.Exists(file)) return null;
        try
        {
            var e = JsonSerializer.Deserialize<CellEval>(File.ReadAllText(file), GridJson.Options);
            return e is not null && e.Episodes == episodes && e.Step == step && e.Seed == 0 ? e : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The evaluation of a finished cell: read from <c>eval.json</c>, or run (greedy episodes of its
    /// checkpoint's policy through <see cref="Evaluation.Run"/>, seed 0) and written there. Null when the cell has no
    /// checkpoint or summary.</summary>
    public static CellEval? Ensure(string dir, int episodes, CancellationToken ct)
    {
        var run = RunDirectory.Load(dir);
        if (run.Summary is not { } s || run.CheckpointPath is null) return null;
        if (Read(dir, episodes, s.Steps) is { } known) return known;
        var result = Evaluation.Run(run.LoadPolicy(), Names.Environment(run.Config.Environment), episodes, 0, ct);
        var eval = new CellEval(episodes, 0, s.Steps, result.MeanReturn, result.WinRate, result.EpisodeLengths.Average());
        var tmp = Path.Combine(dir, FileName + ".tmp");
        File.WriteAllText(tmp, JsonSerializer.Serialize(eval, GridJson.Options));
        File.Move(tmp, Path.Combine(dir, FileName), overwrite: true);
        return eval;
    }
}

/// <summary>The JSON settings of the grid's files: snake_case, indented.</summary>
internal static class GridJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        // readable text: apostrophes and dashes as they are
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}

/// <summary>A median over seeds with its 95% interval.</summary>
/// <param name="Median">The median.</param>
/// <param name="Lower">The interval's lower end.</param>
/// <param name="Upper">The interval's upper end.</param>
internal sealed record Interval(double Median, double Lower, double Upper);

/// <summary>What one cell contributes to the results: its state, steps and time, final and best win rate, steps and
/// time to 50% and 90% test win, and its divergence evidence: the largest absolute <c>q_taken_mean</c> its metrics
/// logged and the number of diagnostics warnings it gave.</summary>
internal sealed record CellResult(
    ulong Seed, string Dir, string State, int? Steps, double? Seconds, double? FinalWinRate, double? FinalReturn, string? FinalFrom,
    double? BestWinRate,
    [property: JsonPropertyName("steps_to_50")] int? StepsTo50,
    [property: JsonPropertyName("seconds_to_50")] double? SecondsTo50,
    [property: JsonPropertyName("steps_to_90")] int? StepsTo90,
    [property: JsonPropertyName("seconds_to_90")] double? SecondsTo90,
    double? LargestQTakenMean, int Warnings);

/// <summary>The results of one group of cells (an environment, algorithm and preset over its seeds): medians over the
/// seeds that are done.</summary>
internal sealed record GroupResult(
    string Environment, string Algorithm, string Preset, int Seeds, int SeedsDone, int SeedsFailed,
    Interval? FinalWinRate, double? BestWinRate,
    [property: JsonPropertyName("steps_to_50")] double? StepsTo50,
    [property: JsonPropertyName("seconds_to_50")] double? SecondsTo50,
    [property: JsonPropertyName("steps_to_90")] double? StepsTo90,
    [property: JsonPropertyName("seconds_to_90")] double? SecondsTo90,
    double? FinalReturn, double? LargestQTakenMean, int Warnings, IReadOnlyList<CellResult> Cells);

/// <summary>What <c>results.json</c> holds.</summary>
internal sealed record GridResultsFile(
    string Format, string LibraryVersion, DateTimeOffset Written, string Out, int Cells, int EvalEpisodes, string FinalWinRate,
    string IntervalMethod, string TimeTo, IReadOnlyList<GroupResult> Groups);

/// <summary>The results of a grid: per group of seeds, the final greedy win rate (median and 95% interval), the best
/// one, steps and seconds to 50% and 90% test win, the final test return; a table, <c>results.md</c>,
/// <c>results.json</c> and a learning-curve plot per environment.</summary>
internal static class GridResults
{
    /// <summary>Bootstrap resamples for the interval of a median.</summary>
    public const int Resamples = 10_000;

    public const string IntervalMethod =
        "95% percentile bootstrap interval of the median over the seeds done (10,000 resamples of the seeds with replacement, fixed seed)";

    public const string TimeToText =
        "the first in-training greedy test at or above the rate: its step and training wall-clock seconds; median over the seeds done, " +
        "a seed that never reached it counting as never (null, shown as —, when the median never did)";

    // ------------------------------------------------------------------ statistics

    /// <summary>The median (the mean of the two middle values for an even count); +∞ values count as larger than any
    /// other.</summary>
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("no values", nameof(values));
        var sorted = values.Order().ToArray();
        var n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    /// <summary>The q-quantile of sorted values, interpolating linearly between order statistics (Hyndman and Fan's
    /// type 7, numpy's default).</summary>
    public static double Quantile(double[] sorted, double q)
    {
        var h = (sorted.Length - 1) * q;
        var lo = (int)Math.Floor(h);
        var hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
    }

    /// <summary>The median with its 95% percentile-bootstrap interval: the 2.5% and 97.5% quantiles of the medians of
    /// <see cref="Resamples"/> resamples drawn with replacement (a fixed seed, so the same values give the same
    /// interval). One value gives a zero-width interval.</summary>
    public static Interval MedianInterval(IReadOnlyList<double> values)
    {
        var median = Median(values);
        if (values.Count == 1) return new Interval(median, median, median);
        var random = new Random(1);
        var medians = new double[Resamples];
        var sample = new double[values.Count];
        for (var r = 0; r < Resamples; r++)
        {
            for (var i = 0; i < sample.Length; i++) sample[i] = values[random.Next(values.Count)];
            medians[r] = Median(sample);
        }
        Array.Sort(medians);
        return new Interval(median, Quantile(medians, 0.025), Quantile(medians, 0.975));
    }

    /// <summary>The median of values where null means never (+∞); null when the median is never.</summary>
    static double? MedianOrNever(IEnumerable<double?> values)
    {
        var list = values.Select(v => v ?? double.PositiveInfinity).ToList();
        if (list.Count == 0) return null;
        var m = Median(list);
        return double.IsPositiveInfinity(m) ? null : m;
    }

    static double? MedianOf(IEnumerable<double?> values)
    {
        var list = values.Where(v => v is not null).Select(v => v!.Value).ToList();
        return list.Count == 0 ? null : Median(list);
    }

    // ------------------------------------------------------------------ per cell and group

    /// <summary>A cell's contribution: from its summary and metrics, and its <c>eval.json</c> when
    /// <paramref name="evalEpisodes"/> is above 0 (when the cell has none yet, the last in-training test stands in and
    /// <see cref="CellResult.FinalFrom"/> says so).</summary>
    public static CellResult Cell(GridCell cell, int evalEpisodes)
    {
        if (!RunDirectory.IsRunDirectory(cell.Dir))
            return new CellResult(cell.Seed, cell.Dir, "not started", null, null, null, null, null, null, null, null, null, null, null, 0);
        var run = RunDirectory.Load(cell.Dir);
        var state = Resumption.Describe(cell.Dir);
        var tests = run.Metrics.Where(m => m.Kind == MetricsKind.Evaluation).ToList();
        (int?, double?) First(double rate) =>
            tests.FirstOrDefault(t => t.TestWinRate >= rate) is { } t ? (t.Step, t.ElapsedSeconds) : (null, null);
        var (s50, t50) = First(0.5);
        var (s90, t90) = First(0.9);
        var hasWins = tests.Any(t => t.TestWinRate is not null);
        var best = tests.Select(t => t.TestWinRate).Where(w => w is not null).DefaultIfEmpty(null).Max();
        var summary = run.Summary;
        double? finalWin = summary?.FinalTestWinRate, finalReturn = summary?.FinalTestReturn;
        string? from = summary is null ? null : $"last test ({run.Config.Options.TestEpisodes} episodes)";
        if (evalEpisodes > 0 && summary is { Completed: true } && CellEval.Read(cell.Dir, evalEpisodes, summary.Steps) is { } e)
        {
            finalWin = e.WinRate;
            finalReturn = e.MeanReturn;
            from = $"eval.json ({e.Episodes} episodes)";
        }
        return new CellResult(cell.Seed, cell.Dir, state, summary?.Steps ?? run.CheckpointStep(), summary?.Seconds,
            hasWins ? finalWin : null, finalReturn, from, best,
            hasWins ? s50 : null, hasWins ? t50 : null, hasWins ? s90 : null, hasWins ? t90 : null,
            run.Metrics.Select(m => m.QTakenMean is { } q ? Math.Abs(q) : (double?)null).Max(), summary?.Warnings?.Count ?? 0);
    }

    /// <summary>The groups of the cells, in the order of their first cells: medians over the seeds that are done
    /// (and, for the times to a win rate, over every seed done, a seed that never reached it counting as
    /// never).</summary>
    public static IReadOnlyList<GroupResult> Groups(IReadOnlyList<GridCell> cells, int evalEpisodes)
    {
        var groups = new List<GroupResult>();
        foreach (var g in cells.GroupBy(c => c.Group))
        {
            var results = g.Select(c => Cell(c, evalEpisodes)).ToList();
            var done = results.Where(r => r.State == "done").ToList();
            var wins = done.Where(r => r.FinalWinRate is not null).Select(r => r.FinalWinRate!.Value).ToList();
            var hasWins = done.Any(r => r.BestWinRate is not null);
            groups.Add(new GroupResult(
                g.Key.Env, g.Key.Algo, g.Key.Preset, results.Count, done.Count, results.Count(r => r.State.StartsWith("failed", StringComparison.Ordinal)),
                wins.Count > 0 ? MedianInterval(wins) : null,
                MedianOf(done.Select(r => r.BestWinRate)),
                hasWins ? MedianOrNever(done.Select(r => (double?)r.StepsTo50)) : null,
                hasWins ? MedianOrNever(done.Select(r => r.SecondsTo50)) : null,
                hasWins ? MedianOrNever(done.Select(r => (double?)r.StepsTo90)) : null,
                hasWins ? MedianOrNever(done.Select(r => r.SecondsTo90)) : null,
                MedianOf(done.Select(r => r.FinalReturn)),
                results.Select(r => r.LargestQTakenMean).Max(), results.Sum(r => r.Warnings),
                results));
        }
        return groups;
    }

    // ------------------------------------------------------------------ files

    static string FinalText(int evalEpisodes) => evalEpisodes > 0
        ? $"the greedy win rate of {evalEpisodes} episodes (seed 0) of each seed's final policy (its eval.json); the last in-training test where a seed has none yet"
        : "the win rate of each seed's last in-training greedy test";

    /// <summary>Writes <c>results.json</c>, <c>results.md</c> and one <c>ENV.svg</c> per environment into the grid's
    /// folder; returns the plots written.</summary>
    public static IReadOnlyList<string> Write(Grid grid, IReadOnlyList<GridCell> cells, IReadOnlyList<GroupResult> groups)
    {
        Directory.CreateDirectory(grid.Out);
        var file = new GridResultsFile("qmix/reproduce-results/1", LibraryInfo.Version, DateTimeOffset.Now, grid.Out, cells.Count,
            grid.EvalEpisodes, FinalText(grid.EvalEpisodes), IntervalMethod, TimeToText, groups);
        WriteText(Path.Combine(grid.Out, "results.json"), JsonSerializer.Serialize(file, GridJson.Options));
        var plots = Plots(grid, cells);
        WriteText(Path.Combine(grid.Out, "results.md"), Markdown(grid, cells, groups, plots));
        return plots;
    }

    static void WriteText(string path, string text)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, text);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Per environment, the test win rate (the test return where the environment reports no wins) against
    /// steps: one band (mean and 95% t-interval over the seeds done, as <c>qmix plot</c> draws) per algorithm and
    /// preset.</summary>
    static IReadOnlyList<string> Plots(Grid grid, IReadOnlyList<GridCell> cells)
    {
        var written = new List<string>();
        foreach (var env in cells.GroupBy(c => c.Env))
        {
            var runs = env.Where(c => Resumption.StateOf(c.Dir) == RunState.Done).Select(c => (Cell: c, Run: RunDirectory.Load(c.Dir))).ToList();
            if (runs.Count == 0) continue;
            var wins = runs.Any(r => r.Run.Curve(RunMetric.TestWinRate).Count > 0);
            var metric = wins ? RunMetric.TestWinRate : RunMetric.TestReturn;
            var presets = env.Select(c => c.Preset).Distinct().Count();
            var groups = runs.GroupBy(r => (r.Cell.Algo, r.Cell.Preset))
                .Select(g => new SeedGroup(presets > 1 ? $"{g.Key.Algo} ({g.Key.Preset})" : g.Key.Algo,
                    g.Select(r => r.Run.Curve(metric)).Where(c => c.Count > 0).ToList()))
                .Where(g => g.Runs.Count > 0).ToList();
            if (groups.Count == 0) continue;
            var label = wins ? "test win rate" : "test return";
            var path = Path.Combine(grid.Out, Grid.FolderName(env.Key) + ".svg");
            Charts.Save(path, Charts.Band($"{env.Key}: {label}, mean and 95% band over the seeds done", "step", label, groups,
                wins ? new ChartOptions { YMin = 0, YMax = 1 } : null));
            written.Add(path);
        }
        return written;
    }

    // ------------------------------------------------------------------ text

    static readonly string[] columns =
        ["environment", "algorithm", "preset", "seeds done", "final win rate (median [95% CI])", "best win rate", "steps to 50%", "time to 50%",
         "steps to 90%", "time to 90%", "final test return", "largest |Q taken|", "warnings"];

    /// <summary>The table's columns, and a row per group.</summary>
    public static (string[] Columns, List<string[]> Rows) Table(IReadOnlyList<GroupResult> groups)
    {
        var rows = groups.Select(g => new[]
        {
            g.Environment, g.Algorithm, g.Preset,
            $"{g.SeedsDone}/{g.Seeds}" + (g.SeedsFailed > 0 ? $" ({g.SeedsFailed} failed)" : ""),
            g.FinalWinRate is { } w ? $"{Percent(w.Median)} [{Percent(w.Lower)}, {Percent(w.Upper)}]" : Dash,
            g.BestWinRate is { } b ? Percent(b) : Dash,
            g.StepsTo50 is { } s50 ? s50.ToString("N0", CultureInfo.InvariantCulture) : Dash,
            g.SecondsTo50 is { } t50 ? Time(t50) : Dash,
            g.StepsTo90 is { } s90 ? s90.ToString("N0", CultureInfo.InvariantCulture) : Dash,
            g.SecondsTo90 is { } t90 ? Time(t90) : Dash,
            g.FinalReturn is { } r ? r.ToString("0.00", CultureInfo.InvariantCulture) : Dash,
            g.LargestQTakenMean is { } q ? q.ToString("0.0", CultureInfo.InvariantCulture) : Dash,
            g.Warnings.ToString(CultureInfo.InvariantCulture),
        }).ToList();
        return (columns, rows);
    }

    const string Dash = "—";

    static string Percent(double v) => (100 * v).ToString("0.#", CultureInfo.InvariantCulture) + "%";

    static string Time(double seconds) =>
        seconds < 60 ? seconds.ToString("0.#", CultureInfo.InvariantCulture) + " s" : Names.Duration(TimeSpan.FromSeconds(seconds));

    static string Markdown(Grid grid, IReadOnlyList<GridCell> cells, IReadOnlyList<GroupResult> groups, IReadOnlyList<string> plots)
    {
        var inv = CultureInfo.InvariantCulture;
        var states = cells.Select(c => Resumption.StateOf(c.Dir)).ToList();
        var b = new StringBuilder();
        b.Append("# qmix reproduce: results\n\n");
        b.Append(inv, $"{cells.Count} cells in `{grid.Out}`: {states.Count(s => s == RunState.Done)} done, {states.Count(s => s == RunState.Partial)} partial, ");
        b.Append(inv, $"{states.Count(s => s == RunState.Failed)} failed, {states.Count(s => s == RunState.NotStarted)} not started ");
        b.Append(inv, $"(qmix {LibraryInfo.Version}, {DateTimeOffset.Now:yyyy-MM-dd HH:mm}).\n\n");
        b.Append(inv, $"- Final win rate: {FinalText(grid.EvalEpisodes)}; the {IntervalMethod}.\n");
        b.Append("- Best win rate: the best in-training greedy test of each seed, median over the seeds done.\n");
        b.Append(inv, $"- Steps and time to 50% / 90%: {TimeToText}.\n");
        b.Append("- Final test return: of the same evaluation as the final win rate, median over the seeds done.\n");
        b.Append("- Largest |Q taken| and warnings: the largest absolute `q_taken_mean` any seed's metrics logged, and the divergence ");
        b.Append("warnings all seeds gave (an episode's return is at most 20 on the combat maps).\n\n");
        var (head, rows) = Table(groups);
        b.Append("| ").Append(string.Join(" | ", head)).Append(" |\n");
        b.Append('|').Append(string.Concat(head.Select((_, i) => i < 3 ? " --- |" : " ---: |"))).Append('\n');
        foreach (var row in rows) b.Append("| ").Append(string.Join(" | ", row)).Append(" |\n");
        if (plots.Count > 0)
        {
            b.Append("\nLearning curves (mean and 95% t-band over the seeds done):\n\n");
            foreach (var p in plots) b.Append(inv, $"![{Path.GetFileNameWithoutExtension(p)}]({Path.GetFileName(p)})\n");
        }
        b.Append("\nEvery seed's final numbers are in `results.json`; every cell is a run directory (`qmix plot`, `qmix eval`).\n");
        return b.ToString();
    }
}
