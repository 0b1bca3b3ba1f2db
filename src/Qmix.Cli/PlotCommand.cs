using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace Qmix.Cli;

/// <summary><c>qmix plot</c>: learning curves of several runs on one chart; runs of the same configuration (seeds)
/// drawn as their mean with a 95% confidence band.</summary>
internal static class PlotCommand
{
    /// <summary>The curves by name: each <see cref="RunMetric"/> in kebab-case (test-return, …, q-taken-mean,
    /// mean-absolute-td-error, gradient-norm, test-episode-length, test-dead-enemies, …).</summary>
    static readonly Dictionary<string, RunMetric> byName = Enum.GetValues<RunMetric>()
        .ToDictionary(m => JsonNamingPolicy.KebabCaseLower.ConvertName(m.ToString()), m => m);

    static readonly string[] metrics = [.. byName.Keys];

    public static Command Create(Io io)
    {
        var paths = new Argument<string[]>("RUN_DIR") { Description = "Run directories, or folders of run directories (e.g. the --out of 'train --seeds')", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out") { Description = "The SVG file to write", DefaultValueFactory = _ => "plot.svg", HelpName = "FILE" };
        var metric = new Option<string>("--metric") { Description = "The curve", DefaultValueFactory = _ => "test-return" };
        metric.AcceptOnlyFromAmong(metrics);
        var title = new Option<string?>("--title") { Description = "The chart's title" };
        var command = new Command("plot", "Plot learning curves of runs: one line per configuration, the mean and 95% band over its seeds")
        {
            paths, output, metric, title,
        };
        command.SetAction(r => Run(io, r.GetValue(paths)!, r.GetValue(output)!, r.GetValue(metric)!, r.GetValue(title)));
        return command;
    }

    static RunMetric Metric(string name) => byName.GetValueOrDefault(name, RunMetric.TestReturn);

    /// <summary>The run directories a path names: itself, or the runs directly inside it.</summary>
    public static IReadOnlyList<string> Expand(string path)
    {
        if (RunDirectory.IsRunDirectory(path)) return [path];
        if (!Directory.Exists(path)) throw new UsageException($"{path}: no such directory");
        var inside = Directory.GetDirectories(path).Where(RunDirectory.IsRunDirectory)
            .OrderBy(d => d, StringComparer.Ordinal).ToArray();
        if (inside.Length == 0) throw new UsageException($"{path} is not a run directory (no config.json) and holds none");
        return inside;
    }

    /// <summary>Runs grouped by configuration (everything but the seed), each group named "ALGO on ENV" (with the
    /// differing settings when two groups would share a name).</summary>
    public static IReadOnlyList<SeedGroup> Groups(IReadOnlyList<RunDirectory> runs, RunMetric metric)
    {
        var groups = runs
            .GroupBy(r => r.Config.Environment + "\n" + (r.Config.Options with { Seed = 0, CheckpointDirectory = null }).ToJson())
            .Select(g => (Runs: g.ToList(), Name: $"{RunDirectory.AlgorithmName(g.First().Config.Options.Algorithm)} on {g.First().Config.Environment}"))
            .ToList();
        // name clashes: add the settings that differ from the first group of that name
        var named = new List<SeedGroup>();
        foreach (var g in groups)
        {
            var name = g.Name;
            var twins = groups.Where(o => o.Name == g.Name).ToList();
            if (twins.Count > 1)
            {
                var reference = Settings(twins[0].Runs[0]);
                var mine = Settings(g.Runs[0]);
                var diff = mine.Where(p => !reference.TryGetValue(p.Key, out var v) || v != p.Value)
                    .Select(p => $"{p.Key}={p.Value}").ToList();
                name += diff.Count > 0 ? $" ({string.Join(", ", diff.Take(3))})" : $" #{twins.IndexOf(g) + 1}";
            }
            var curves = g.Runs.Select(r => r.Curve(metric)).Where(c => c.Count > 0).ToList();
            if (curves.Count > 0) named.Add(new SeedGroup(name, curves));
        }
        return named;
    }

    static Dictionary<string, string> Settings(RunDirectory run)
    {
        using var doc = JsonDocument.Parse((run.Config.Options with { Seed = 0 }).ToJson());
        return doc.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.ToString());
    }

    static int Run(Io io, string[] paths, string output, string metricName, string? title)
    {
        var dirs = paths.SelectMany(Expand).Distinct().ToList();
        var runs = dirs.Select(RunDirectory.Load).ToList();
        var metric = Metric(metricName);
        var groups = Groups(runs, metric);
        if (groups.Count == 0)
            throw new UsageException($"no run has a {metricName} curve (e.g. no greedy evaluations: test_episodes 0)");
        var label = metricName.Replace('-', ' ');
        var options = metric is RunMetric.TestWinRate or RunMetric.TrainWinRate ? new ChartOptions { YMin = 0, YMax = 1 } : null;
        Charts.Save(output, Charts.Band(title ?? $"{label} by step", "step", label, groups, options));

        var table = new Table().Border(TableBorder.Simple)
            .AddColumn("configuration").AddColumn(new TableColumn("seeds").RightAligned())
            .AddColumn(new TableColumn("last step").RightAligned()).AddColumn(new TableColumn($"final {label}").RightAligned())
            .AddColumn(new TableColumn("95% interval").RightAligned());
        // win rates as percentages, as train and eval print them
        Func<double, string> value = metric is RunMetric.TestWinRate or RunMetric.TrainWinRate ? w => Format.Percent(w) : v => Format.Number(v);
        foreach (var g in groups)
        {
            var band = Charts.MeanBand(g.Runs);
            var last = band[^1];
            table.AddRow(Markup.Escape(g.Name), g.Runs.Count.ToString(CultureInfo.InvariantCulture),
                Format.Count((long)last.X), value(last.Mean),
                g.Runs.Count > 1 ? Markup.Escape($"[{value(last.Lower)}, {value(last.Upper)}]") : "–");
        }
        io.Write(table);
        io.Out.WriteLine($"plot: {output} ({runs.Count} run{(runs.Count == 1 ? "" : "s")}, {groups.Count} configuration{(groups.Count == 1 ? "" : "s")})");
        return Cli.Ok;
    }
}
