using System.Diagnostics;
using Xunit;

namespace Qmix.Tests;

/// <summary>Stopping a training command from outside: SIGTERM (what <c>kill</c> and a cluster's scheduler send) stops a
/// run after its current iteration and keeps its checkpoint, as the first Ctrl+C does.</summary>
public class InterruptsTests
{
    [Fact]
    public void Sigterm_stops_qmix_train_with_a_checkpoint_written()
    {
        // POSIX signals: the CI machines and this project's build machine are Linux
        Assert.False(OperatingSystem.IsWindows(), "this test sends SIGTERM with kill");
        using var tmp = new TempDir();
        var dir = Path.Combine(tmp.Path, "run");
        var dll = Path.Combine(AppContext.BaseDirectory, "qmix.dll");
        // a run far longer than the test, checkpointing only at its end and when stopped (--save-interval 0)
        var start = new ProcessStartInfo("dotnet", [dll, "train", "--env", "two-step", "--steps", "100000000", "--save-interval", "0", "--out", dir])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        var metrics = Path.Combine(dir, "metrics.jsonl");
        var clock = Stopwatch.StartNew();
        while (!(File.Exists(metrics) && new FileInfo(metrics).Length > 0) && clock.Elapsed < TimeSpan.FromMinutes(2) && !process.HasExited)
            Thread.Sleep(100);
        if (process.HasExited) Assert.Fail($"qmix train ended (exit code {process.ExitCode}) before it was stopped: {error.Result}");

        using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!)
        {
            kill.WaitForExit();
            Assert.Equal(0, kill.ExitCode);
        }
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"qmix train did not stop within 2 minutes of SIGTERM (waited {clock.Elapsed} for its metrics)");
        }

        // stopped as by Ctrl+C (exit code 130), with the checkpoint that only a handled stop writes
        if (process.ExitCode != 130) Assert.Fail($"exit code {process.ExitCode}: {output.Result}{error.Result}");
        Assert.True(File.Exists(Path.Combine(dir, "checkpoints", "model.safetensors")));
        Assert.False(RunDirectory.Load(dir).Summary!.Completed);
    }
}
