using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Xunit;

namespace Qmix.Tests;

/// <summary>An uninterrupted run of <c>qmix train</c> that the interrupted ones are compared with (made once).</summary>
public sealed class UninterruptedRun : IDisposable
{
    readonly TempDir tmp = new();

    /// <summary>The settings: the two-step game for 40,000 steps (several seconds), seed 3.</summary>
    public static readonly string[] Settings = ["train", "--env", "two-step", "--steps", "40000", "--seed", "3"];

    public UninterruptedRun()
    {
        Directory = Path.Combine(tmp.Path, "uninterrupted");
        var (code, output, error) = CliTests.Qmix([.. Settings, "--save-interval", "0", "--out", Directory]);
        Assert.True(code == 0, output + error);
    }

    public string Directory { get; }

    public void Dispose() => tmp.Dispose();
}

/// <summary>Runs survive real signals and crashes: <c>qmix train</c> in its own process, stopped by SIGINT or killed by
/// SIGKILL in the middle of a checkpoint write, then continued with <c>qmix train --resume DIR</c>; the final
/// parameters, optimiser state and replay buffer equal the uninterrupted run's bit for bit.</summary>
public class ResumeProcessTests(UninterruptedRun reference) : IClassFixture<UninterruptedRun>
{
    static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "qmix.dll");

    static Process Start(IEnumerable<string> args, string? saveHook = null)
    {
        Assert.False(OperatingSystem.IsWindows(), "these tests send POSIX signals");
        var start = new ProcessStartInfo("dotnet", [Dll, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (saveHook is not null) start.Environment["QMIX_TEST_SAVE_PAUSE"] = saveHook;
        return Process.Start(start)!;
    }

    /// <summary>Runs qmix in its own process to the end.</summary>
    static (int Code, string Output) Run(params string[] args)
    {
        using var p = Start(args);
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail("qmix did not finish within 5 minutes");
        }
        return (p.ExitCode, output.Result + error.Result);
    }

    /// <summary>Waits until a condition holds, the process still running.</summary>
    static void WaitFor(Process p, Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (p.HasExited) Assert.Fail($"qmix ended (exit code {p.ExitCode}) before {what}: {p.StandardError.ReadToEnd()}");
            if (clock.Elapsed > TimeSpan.FromMinutes(3)) { p.Kill(true); Assert.Fail($"no {what} within 3 minutes"); }
            Thread.Sleep(20);
        }
    }

    /// <summary>The largest step of a progress record in a run's metrics so far.</summary>
    static int ProgressStep(string dir)
    {
        var file = Path.Combine(dir, "metrics.jsonl");
        if (!File.Exists(file)) return -1;
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        var step = -1;
        while (reader.ReadLine() is { } line)
        {
            try
            {
                using var doc = JsonDocument.Parse(line);
                step = Math.Max(step, doc.RootElement.GetProperty("step").GetInt32());
            }
            catch (JsonException) { } // a line being written
        }
        return step;
    }

    /// <summary>Every tensor of a run's checkpoint files (model and training state) as raw bits, by file and name.</summary>
    static SortedDictionary<string, int[]> CheckpointBits(string dir)
    {
        var all = new SortedDictionary<string, int[]>(StringComparer.Ordinal);
        foreach (var file in new[] { "model.safetensors", "model.train.safetensors" })
            foreach (var t in Qmix.Tensors.Safetensors.load(Path.Combine(dir, "checkpoints", file)).Tensors)
                all[$"{file}:{t.Item1}"] = t.Item2.ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();
        return all;
    }

    void AssertSameAsReference(string dir)
    {
        var expected = CheckpointBits(reference.Directory);
        var actual = CheckpointBits(dir);
        Assert.Equal(expected.Keys, actual.Keys);
        foreach (var (name, bits) in expected)
            Assert.True(bits.AsSpan().SequenceEqual(actual[name]), $"{name} differs from the uninterrupted run's");
        Assert.True(RunDirectory.Load(dir).Summary!.Completed);
    }

    [Fact]
    public void Sigint_mid_training_then_resume_ends_bit_identical_to_an_uninterrupted_run()
    {
        using var tmp = new TempDir();
        var dir = Path.Combine(tmp.Path, "run");
        using (var p = Start([.. UninterruptedRun.Settings, "--save-interval", "0", "--out", dir]))
        {
            var output = p.StandardOutput.ReadToEndAsync();
            WaitFor(p, () => ProgressStep(dir) >= 1000, "a progress record past step 1,000");
            using (var kill = Process.Start("kill", ["-INT", p.Id.ToString(CultureInfo.InvariantCulture)])!) kill.WaitForExit();
            Assert.True(p.WaitForExit(TimeSpan.FromMinutes(2)), "qmix train did not stop within 2 minutes of SIGINT");
            Assert.True(p.ExitCode == 130, $"exit code {p.ExitCode}: {output.Result}{p.StandardError.ReadToEnd()}");
        }
        // stopped mid-training, with the checkpoint the stop wrote
        var stoppedAt = RunDirectory.Load(dir).CheckpointStep();
        Assert.True(stoppedAt is > 0 and < 40000, $"checkpoint at step {stoppedAt}");

        // negative control of the comparison: the stopped run's parameters are not yet the finished run's
        Assert.NotEqual(CheckpointBits(reference.Directory)["model.safetensors:agent.fc1.weight"], CheckpointBits(dir)["model.safetensors:agent.fc1.weight"]);

        var (code, text) = Run("train", "--resume", dir);
        Assert.True(code == 0, text);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"continuing {dir} from step {stoppedAt:N0}"), text);
        AssertSameAsReference(dir);
    }

    [Theory]
    [InlineData("staged")]
    [InlineData("swapping")]
    public void Sigkill_during_a_checkpoint_write_keeps_the_previous_checkpoint_and_the_run_resumes_from_it(string point)
    {
        using var tmp = new TempDir();
        var dir = Path.Combine(tmp.Path, "run");
        var marker = Path.Combine(tmp.Path, "paused");
        // checkpoints every 4,000 steps; the third save waits at the point, and is killed there
        using (var p = Start([.. UninterruptedRun.Settings, "--save-interval", "4000", "--out", dir], $"3:{point}:{marker}"))
        {
            WaitFor(p, () => File.Exists(marker), $"the third save reaching '{point}'");
            p.Kill(); // SIGKILL: no handler runs
            p.WaitForExit();
        }
        var files = Directory.GetFiles(Path.Combine(dir, "checkpoints")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        // the kill happened mid-save: the new set is staged (.new), and while swapping the previous one is aside (.bak)
        Assert.Contains("model.train.safetensors.new", files);
        if (point == "swapping") Assert.Contains("model.json.bak", files);
        if (point == "swapping") Assert.DoesNotContain("model.json", files);

        // the previous checkpoint (the second save's) loads, and the run continues from it
        var (code, text) = Run("train", "--resume", dir);
        Assert.True(code == 0, text);
        Assert.Contains("continuing", text);
        Assert.Contains("(its checkpoint)", text);
        var from = int.Parse(text.Split("from step ")[1].Split(' ')[0], NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
        Assert.InRange(from, 8000, 11999);
        AssertSameAsReference(dir);
    }

    [Fact]
    public void A_finished_run_given_more_steps_trains_on_to_them_as_a_longer_run_would()
    {
        using var tmp = new TempDir();
        var dir = Path.Combine(tmp.Path, "run");
        var (code, output, error) = CliTests.Qmix("train", "--env", "two-step", "--steps", "20000", "--seed", "3", "--save-interval", "0", "--out", dir);
        Assert.True(code == 0, output + error);
        var before = RunDirectory.Load(dir).Metrics.Count;
        // negative control: without more steps, a finished run has nothing to do
        (code, output, _) = CliTests.Qmix("train", "--resume", dir);
        Assert.Equal(0, code);
        Assert.Contains("complete already", output);

        (code, output, error) = CliTests.Qmix("train", "--resume", dir, "--steps", "40000");
        Assert.True(code == 0, output + error);
        Assert.Contains("from step 20,000", output);
        var run = RunDirectory.Load(dir);
        Assert.Equal(40000, run.Config.Options.TotalSteps);
        Assert.True(run.Metrics.Count > before, "the metrics are appended to");
        Assert.Equal(40000, run.Metrics.Max(m => m.Step));
        AssertSameAsReference(dir);

        // a run is not shortened
        (code, _, error) = CliTests.Qmix("train", "--resume", dir, "--steps", "30000");
        Assert.Equal(2, code);
        Assert.Contains("extended, not shortened", error);
    }
}
