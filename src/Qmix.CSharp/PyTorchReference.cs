using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Qmix;

/// <summary>The timings printed by the PyTorch reference (<c>qmix_torch.py bench 1</c>).</summary>
public sealed record PyTorchTimings
{
    /// <summary>The reference's first line, e.g. <c>torch 1.13.0, threads 1</c>; null when it printed none.</summary>
    public string? Header { get; init; }

    /// <summary>The median time of one learner update in milliseconds, by sizes in the form of
    /// <see cref="BenchmarkResult.Sizes"/> of <see cref="Benchmarks.LearnerUpdate"/>, e.g.
    /// <c>B=32 T=60 n=3 A=9 O=30 S=48</c>.</summary>
    public required IReadOnlyDictionary<string, double> LearnerUpdateMilliseconds { get; init; }

    /// <summary>The mean time of one greedy acting step in microseconds, by sizes, e.g. <c>n=3 A=9 O=30</c>.</summary>
    public required IReadOnlyDictionary<string, double> ActingStepMicroseconds { get; init; }

    /// <summary>Lines that look like timings (they start with <c>learner_update</c> or <c>acting_step</c>, or
    /// mention a median) but do not have the reference's form or hold no positive finite number: their timings are
    /// unknown, never guessed.</summary>
    public required IReadOnlyList<string> Unparsable { get; init; }
}

/// <summary>One attempt to time the PyTorch reference: its timings, or why there are none.</summary>
public sealed record PyTorchRun
{
    /// <summary>The timings; null when the comparison was skipped (see <see cref="SkipReason"/>).</summary>
    public PyTorchTimings? Timings { get; init; }

    /// <summary>Why there are no timings (no python3 with torch, no script, the script failed); null when
    /// measured.</summary>
    public string? SkipReason { get; init; }

    /// <summary>The Python interpreter that ran the reference, or where the output came from.</summary>
    public string? Python { get; init; }

    /// <summary>The reference script, or the file of captured output.</summary>
    public string? Script { get; init; }

    /// <summary>The reference's standard output (empty when it did not run).</summary>
    public required string Output { get; init; }
}

/// <summary>Runs and reads the PyTorch reference of one QMIX learner update (<c>shared/ref/qmix_torch.py</c>), so
/// that our timings can be compared with PyTorch's measured on the same machine at the same time. The reference runs
/// on one thread (<c>OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1</c>, <c>bench 1</c>), PyTorch's fastest setting on a
/// 2-core machine.</summary>
public static partial class PyTorchReference
{
    /// <summary>The interpreters tried in order when none is given: Debian's (where <c>apt-get install
    /// python3-torch</c> puts torch), then <c>python3</c> on the PATH.</summary>
    public static IReadOnlyList<string> DefaultPythons { get; } = ["/usr/bin/python3", "python3"];

    /// <summary>The script's path below an ancestor directory: <c>shared/ref/qmix_torch.py</c>.</summary>
    public static string ScriptRelativePath { get; } = Path.Combine("shared", "ref", "qmix_torch.py");

    [GeneratedRegex(@"^learner_update (B=\d+ T=\d+ n=\d+ A=\d+ O=\d+ S=\d+): median_ms (\S+) min_ms (\S+)$")]
    private static partial Regex LearnerLine();

    [GeneratedRegex(@"^acting_step (n=\d+ A=\d+ O=\d+): median_us (\S+)$")]
    private static partial Regex ActingLine();

    /// <summary>Reads the reference's output: the header, one <c>learner_update … median_ms X min_ms Y</c> line per
    /// size and <c>acting_step … median_us X</c>. A line that looks like a timing but does not parse goes to
    /// <see cref="PyTorchTimings.Unparsable"/> and gives no timing.</summary>
    /// <param name="output">The reference's standard output.</param>
    /// <returns>The timings found.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="output"/> is null.</exception>
    public static PyTorchTimings Parse(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        string? header = null;
        var learner = new Dictionary<string, double>(StringComparer.Ordinal);
        var acting = new Dictionary<string, double>(StringComparer.Ordinal);
        var unparsable = new List<string>();
        foreach (var raw in output.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0) continue;
            if (header is null && line.StartsWith("torch ", StringComparison.Ordinal))
            {
                header = line;
                continue;
            }
            var looksLikeTiming = line.StartsWith("learner_update", StringComparison.Ordinal)
                || line.StartsWith("acting_step", StringComparison.Ordinal)
                || line.Contains("median_", StringComparison.Ordinal);
            if (!looksLikeTiming) continue;
            if (LearnerLine().Match(line) is { Success: true } l && Positive(l.Groups[2].Value) is { } ms
                && Positive(l.Groups[3].Value) is not null)
                learner[l.Groups[1].Value] = ms;
            else if (ActingLine().Match(line) is { Success: true } a && Positive(a.Groups[2].Value) is { } us)
                acting[a.Groups[1].Value] = us;
            else
                unparsable.Add(line);
        }
        return new PyTorchTimings
        {
            Header = header, LearnerUpdateMilliseconds = learner, ActingStepMicroseconds = acting, Unparsable = unparsable,
        };
    }

    static double? Positive(string text) =>
        double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var v)
        && double.IsFinite(v) && v > 0
            ? v
            : null;

    /// <summary>Looks for <c>shared/ref/qmix_torch.py</c> below each of the directories and their ancestors.</summary>
    /// <param name="startDirectories">Where to start, e.g. the current directory and the program's.</param>
    /// <returns>The first script found, or null.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="startDirectories"/> is null.</exception>
    public static string? FindScript(IEnumerable<string> startDirectories)
    {
        ArgumentNullException.ThrowIfNull(startDirectories);
        foreach (var start in startDirectories)
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, ScriptRelativePath);
                if (File.Exists(candidate)) return candidate;
            }
        }
        return null;
    }

    /// <summary>Reads output of the reference captured earlier (e.g. on the same machine by
    /// <c>OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python3 qmix_torch.py bench 1 &gt; FILE</c>).</summary>
    /// <param name="output">The captured output.</param>
    /// <param name="source">Where it came from (a file name), kept in <see cref="PyTorchRun.Script"/>.</param>
    /// <returns>The run, with the parsed timings.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static PyTorchRun FromOutput(string output, string source)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(source);
        return new PyTorchRun { Timings = Parse(output), Python = "captured output", Script = source, Output = output };
    }

    /// <summary>Runs <c>python3 qmix_torch.py bench 1</c> on one thread and reads its timings. When the script, a
    /// Python with torch, or a successful run is missing, the result says why instead of throwing.</summary>
    /// <param name="script">The reference script; null looks for <c>shared/ref/qmix_torch.py</c> above the current
    /// directory and above the program's directory.</param>
    /// <param name="python">The interpreter; null tries <see cref="DefaultPythons"/> in order and takes the first
    /// that imports torch.</param>
    /// <param name="timeout">The longest the reference may run (default 10 minutes; it takes about 5 s).</param>
    /// <returns>The timings, or the reason they are missing.</returns>
    public static PyTorchRun Run(string? script = null, string? python = null, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromMinutes(10);
        script ??= FindScript([Directory.GetCurrentDirectory(), AppContext.BaseDirectory]);
        if (script is null)
            return Skipped($"the reference script {ScriptRelativePath} was not found above {Directory.GetCurrentDirectory()} or {AppContext.BaseDirectory}", null, null);
        if (!File.Exists(script)) return Skipped($"the reference script {script} does not exist", null, script);

        var reasons = new List<string>();
        string? chosen = null;
        foreach (var candidate in python is null ? DefaultPythons : [python])
        {
            var (code, _, error) = Execute(candidate, ["-c", "import torch"], TimeSpan.FromMinutes(1));
            if (code == 0)
            {
                chosen = candidate;
                break;
            }
            reasons.Add($"{candidate}: {(code is null ? error : "cannot import torch (" + LastLine(error) + ")")}");
        }
        if (chosen is null) return Skipped("no python3 with torch: " + string.Join("; ", reasons), python, script);

        var (exit, output, stderr) = Execute(chosen, [script, "bench", "1"], limit);
        if (exit != 0)
            return Skipped(exit is null ? $"{chosen} {script} bench 1: {stderr}"
                : $"{chosen} {script} bench 1 exited with code {exit} ({LastLine(stderr)})", chosen, script) with { Output = output };
        return new PyTorchRun { Timings = Parse(output), Python = chosen, Script = script, Output = output };
    }

    static PyTorchRun Skipped(string reason, string? python, string? script) =>
        new() { SkipReason = reason, Python = python, Script = script, Output = "" };

    static string LastLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) is { Length: > 0 } lines
            ? lines[^1]
            : "no message";

    /// <summary>Runs a program on one BLAS/OpenMP thread; the exit code is null when it could not start or ran
    /// past the limit (then the error says which).</summary>
    static (int? Code, string Output, string Error) Execute(string program, IReadOnlyList<string> arguments, TimeSpan limit)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        start.Environment["OPENBLAS_NUM_THREADS"] = "1";
        start.Environment["OMP_NUM_THREADS"] = "1";
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new Win32Exception("no process");
        }
        catch (Win32Exception e)
        {
            return (null, "", $"not found ({e.Message})");
        }
        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(limit))
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
                return (null, output.Result, $"still running after {limit.TotalSeconds:0} s, stopped");
            }
            process.WaitForExit();
            return (process.ExitCode, output.Result, error.Result);
        }
    }
}
