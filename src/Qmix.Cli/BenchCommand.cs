using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Spectre.Console;

namespace Qmix.Cli;

/// <summary><c>qmix bench</c>: a learner update, an acting step and environment throughput, and the ratio to
/// PyTorch when python3 with torch and the reference script are there.</summary>
internal static class BenchCommand
{
    public static Command Create(Io io)
    {
        var large = new Option<bool>("--large") { Description = "Also time the 3s5z-like learner update (8 agents, limit 150)" };
        var quick = new Option<bool>("--quick") { Description = "A few iterations only (a smoke test; the numbers are rough)" };
        var torch = new Option<string?>("--torch") { Description = "The PyTorch reference script (default: shared/ref/qmix_torch.py beside an ancestor of the current directory); 'off' skips the comparison", HelpName = "FILE" };
        var envs = new Option<string[]>("--env") { Description = "Environments to step (default combat:3m, lbf:10x10-3p-3f, two-step)", AllowMultipleArgumentsPerToken = true, HelpName = "NAME" };
        var command = new Command("bench", "Time a learner update at the PyTorch reference's sizes, an acting step and environment steps per second")
        {
            large, quick, torch, envs,
        };
        command.SetAction(r => Run(io, r.GetValue(large), r.GetValue(quick), r.GetValue(torch), r.GetValue(envs)));
        return command;
    }

    static int Run(Io io, bool large, bool quick, string? torchScript, string[]? envNames)
    {
        var names = envNames is { Length: > 0 } ? envNames : ["combat:3m", "lbf:10x10-3p-3f", "two-step"];
        foreach (var n in names) Names.Environment(n);
        io.Out.WriteLine($"qmix {LibraryInfo.Version} bench on {System.Environment.ProcessorCount} cores{(quick ? " (quick: rough numbers)" : "")}");
        var results = new List<BenchmarkResult>
        {
            Benchmarks.LearnerUpdate(BenchmarkSize.ThreeM, quick ? 2 : 20, quick ? 1 : 10),
        };
        if (large) results.Add(Benchmarks.LearnerUpdate(BenchmarkSize.ThreeS5Z, quick ? 1 : 5, quick ? 0 : 2));
        results.Add(Benchmarks.ActingStep(quick ? 50 : 2000));
        results.AddRange(names.Select(n => Benchmarks.EnvironmentSteps(n, quick ? 200 : 20_000)));

        var reference = quick || torchScript == "off" ? null : Torch(io, torchScript);
        var inv = CultureInfo.InvariantCulture;
        var table = new Table().Border(TableBorder.Simple)
            .AddColumn("operation").AddColumn("sizes").AddColumn(new TableColumn("median").RightAligned())
            .AddColumn(new TableColumn("per second").RightAligned()).AddColumn(new TableColumn("allocated").RightAligned())
            .AddColumn(new TableColumn("PyTorch").RightAligned()).AddColumn(new TableColumn("PyTorch / ours").RightAligned());
        foreach (var r in results)
        {
            double? torchMs = reference is null ? null
                : r.Name.Contains("3m-like", StringComparison.Ordinal) ? reference.Value.Update3m
                : r.Name.Contains("3s5z-like", StringComparison.Ordinal) ? reference.Value.Update3s5z
                : r.Name.StartsWith("acting", StringComparison.Ordinal) ? reference.Value.ActMs
                : null;
            table.AddRow(Markup.Escape(r.Name), Markup.Escape(r.Sizes), Time(r.MedianMilliseconds),
                r.PerSecond.ToString("N0", inv), Bytes(r.AllocatedBytes),
                torchMs is { } t ? Time(t) : "–",
                torchMs is { } t2 ? (t2 / r.MedianMilliseconds).ToString("0.00", inv) + "×" : "–");
        }
        io.Write(table);
        if (reference is null && !quick && torchScript != "off")
            io.Out.WriteLine("PyTorch ratio: not measured (needs python3 with torch, and shared/ref/qmix_torch.py or --torch FILE)");
        return Cli.Ok;
    }

    static string Time(double ms) => ms >= 1
        ? ms.ToString("0.00", CultureInfo.InvariantCulture) + " ms"
        : (ms * 1000).ToString("0.0", CultureInfo.InvariantCulture) + " µs";

    static string Bytes(double b) => b >= 1 << 20
        ? (b / (1 << 20)).ToString("0.0", CultureInfo.InvariantCulture) + " MB"
        : b >= 1024 ? (b / 1024).ToString("0.0", CultureInfo.InvariantCulture) + " KB" : b.ToString("0", CultureInfo.InvariantCulture) + " B";

    /// <summary>The reference's timings: `python3 qmix_torch.py bench 1` on one thread; null when python3, torch or
    /// the script is missing.</summary>
    static (double Update3m, double? Update3s5z, double ActMs)? Torch(Io io, string? script)
    {
        script ??= FindReference();
        if (script is null || !File.Exists(script)) return null;
        if (Python("-c \"import torch\"", out _) != 0) return null;
        io.Out.WriteLine($"timing the PyTorch reference ({script}, one thread)…");
        if (Python($"\"{script}\" bench 1", out var output) != 0) return null;
        var updates = Regex.Matches(output, @"learner_update B=\d+ T=(\d+).*?median_ms ([\d.]+)");
        var act = Regex.Match(output, @"acting_step.*?median_us ([\d.]+)");
        double? Update(string limit) => updates.FirstOrDefault(m => m.Groups[1].Value == limit) is { } m
            ? double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture) : null;
        if (Update("60") is not { } u3m || !act.Success) return null;
        return (u3m, Update("150"), double.Parse(act.Groups[1].Value, CultureInfo.InvariantCulture) / 1000);
    }

    static string? FindReference()
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "ref", "qmix_torch.py");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    static int Python(string arguments, out string output)
    {
        output = "";
        try
        {
            var start = new ProcessStartInfo("python3", arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
            start.Environment["OPENBLAS_NUM_THREADS"] = "1";
            start.Environment["OMP_NUM_THREADS"] = "1";
            using var p = Process.Start(start)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            p.StandardError.ReadToEnd();
            p.WaitForExit();
            output = stdout.Result;
            return p.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return -1;
        }
    }
}
