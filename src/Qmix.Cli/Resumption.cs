using System.Globalization;
using System.Text.Json;

namespace Qmix.Cli;

/// <summary>Where a run directory stands, for the commands that continue runs (<c>qmix train --resume</c>,
/// <c>qmix reproduce</c>).</summary>
internal enum RunState
{
    /// <summary>No run in the directory (no <c>config.json</c>).</summary>
    NotStarted,

    /// <summary>A run that has not finished: stopped by Ctrl+C, or killed; it continues from its checkpoint (from step 0
    /// when it has none).</summary>
    Partial,

    /// <summary>A run that took all its steps (<c>summary.json</c> says completed).</summary>
    Done,

    /// <summary>A run that stopped on an error (training diverged): continuing would repeat it, so it is left
    /// alone.</summary>
    Failed,
}

/// <summary>Run directories that commands continue: their state, and whether they were started with the settings asked
/// for now.</summary>
internal static class Resumption
{
    /// <summary>The state of a run directory (a missing one is not started).</summary>
    public static RunState StateOf(string dir) =>
        RunDirectory.IsRunDirectory(dir) ? StateOf(RunDirectory.Load(dir)) : RunState.NotStarted;

    /// <summary>The state of a loaded run.</summary>
    public static RunState StateOf(RunDirectory run) => run.Summary switch
    {
        { Completed: true } => RunState.Done,
        // a run stopped because its checkpoint could not be written continues from the previous one
        { StoppedBecause: { } why } when why != "cancelled" && !why.StartsWith(CheckpointFailedException.Prefix, StringComparison.Ordinal) => RunState.Failed,
        _ => RunState.Partial,
    };

    /// <summary>The state in words: "done", "partial at step 12,000" (the checkpoint's), "partial, no checkpoint
    /// (starts over)", "failed: MESSAGE", "not started".</summary>
    public static string Describe(string dir)
    {
        if (!RunDirectory.IsRunDirectory(dir)) return "not started";
        var run = RunDirectory.Load(dir);
        return StateOf(run) switch
        {
            RunState.Done => "done",
            RunState.Failed => "failed: " + run.Summary!.StoppedBecause,
            _ => run.CheckpointStep() is { } step
                ? string.Create(CultureInfo.InvariantCulture, $"partial at step {step:N0}")
                : "partial, no checkpoint (starts over)",
        };
    }

    /// <summary>The settings in which a run differs from the ones asked for, e.g. <c>total_steps: 1000 in the run,
    /// 2000 asked</c> (the environment first); empty when they agree. The seed is a setting like the others; the
    /// checkpoint folder is not compared.</summary>
    public static IReadOnlyList<string> Differences(RunConfig config, string environment, TrainingOptions asked)
    {
        var diff = new List<string>();
        if (config.Environment != environment) diff.Add($"environment: {config.Environment} in the run, {environment} asked");
        using var have = JsonDocument.Parse(config.Options.ToJson());
        using var want = JsonDocument.Parse((asked with { CheckpointDirectory = null }).ToJson());
        foreach (var p in want.RootElement.EnumerateObject())
        {
            var was = have.RootElement.TryGetProperty(p.Name, out var v) ? v.GetRawText() : "(none)";
            if (was != p.Value.GetRawText() && !SameFloat(v, p.Value)) diff.Add($"{p.Name}: {was} in the run, {p.Value.GetRawText()} asked");
        }
        return diff;
    }

    /// <summary>The run directory of <c>qmix train</c>: <c>--resume DIR</c> names it (then <c>--out</c>, if given, must be
    /// the same), otherwise <c>--out</c>.</summary>
    /// <param name="output">The <c>--out</c> value, or null.</param>
    /// <param name="resume">Whether <c>--resume</c> is given.</param>
    /// <param name="resumeDir">Its value, or null when it is given alone.</param>
    public static string? Directory(string? output, bool resume, string? resumeDir)
    {
        if (!resume || resumeDir is null) return output;
        if (output is not null && Path.GetFullPath(output) != Path.GetFullPath(resumeDir))
            throw new UsageException($"--resume {resumeDir} and --out {output} name different run directories: give one of them");
        if (!System.IO.Directory.Exists(resumeDir))
            throw new UsageException($"--resume {resumeDir}: no such run directory");
        return resumeDir;
    }

    /// <summary>Whether a run asked to train to <paramref name="totalSteps"/> is extended: more steps than it was started
    /// for.</summary>
    public static bool Extends(RunConfig config, int totalSteps) => totalSteps > config.Options.TotalSteps;

    /// <summary>Whether two settings are fractional numbers that name the same float32, which is what the core trains
    /// with: a run whose config.json holds a preset's setting widened (0.0010000000474974513, as runs made before
    /// config.json wrote float32 settings with their shortest digits) agrees with the same setting asked now
    /// (0.001).</summary>
    static bool SameFloat(JsonElement a, JsonElement b) =>
        a.ValueKind == JsonValueKind.Number && b.ValueKind == JsonValueKind.Number
        && (a.GetRawText().IndexOfAny(['.', 'e', 'E']) >= 0 || b.GetRawText().IndexOfAny(['.', 'e', 'E']) >= 0)
        && (float)a.GetDouble() == (float)b.GetDouble();

    /// <summary>A usage error for a run directory started with other settings.</summary>
    public static UsageException Mismatch(string dir, IReadOnlyList<string> differences) =>
        new($"{dir} holds a run with other settings ({string.Join("; ", differences.Take(4))}" +
            (differences.Count > 4 ? $"; {differences.Count - 4} more" : "") +
            "): choose another directory, or remove it to start over");
}
