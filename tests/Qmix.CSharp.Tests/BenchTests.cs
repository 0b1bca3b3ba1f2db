using System.Text.Json;
using Xunit;

namespace Qmix.Tests;

/// <summary>Output of the PyTorch reference (`qmix_torch.py bench 1`) captured on the project's machine.</summary>
static class ReferenceOutput
{
    public const string Good = """
        torch 1.13.0a0, threads 1
        learner_update B=32 T=60 n=3 A=9 O=30 S=48: median_ms 51.93 min_ms 48.50
        learner_update B=32 T=150 n=8 A=14 O=80 S=120: median_ms 255.55 min_ms 248.37
        acting_step n=3 A=9 O=30: median_us 92.41

        """;

    /// <summary>The 3m-like line with a damaged number ("5l.93"): it must not give a ratio.</summary>
    public static string Corrupted => Good.Replace("median_ms 51.93", "median_ms 5l.93", StringComparison.Ordinal);
}

/// <summary>One quick `qmix bench` run against captured reference output, written as JSON, shared by the tests that
/// read it.</summary>
public sealed class QuickBench : IDisposable
{
    readonly TempDir tmp = new();

    public QuickBench()
    {
        var captured = Path.Combine(tmp.Path, "torch.txt");
        File.WriteAllText(captured, ReferenceOutput.Good);
        Json = Path.Combine(tmp.Path, "out", "bench.json");
        (ExitCode, Output, Error) = CliTests.Qmix("bench", "--quick", "--env", "two-step", "--torch-output", captured, "--json", Json);
    }

    public string Json { get; }
    public int ExitCode { get; }
    public string Output { get; }
    public string Error { get; }
    public string Temp => tmp.Path;

    public void Dispose() => tmp.Dispose();
}

/// <summary>`qmix bench` and the measurements behind it: the table's rows, the JSON, the PyTorch reference's parser and
/// runner, the FLOP count.</summary>
public class BenchTests(QuickBench bench) : IClassFixture<QuickBench>
{
    static readonly string[] RowNames =
    [
        "matmul kernel peak (one thread)", "learner update (3m-like)", "learner update (3s5z-like)",
        "1 thread vs 2: differing results", "acting step (3 agents)", "acting, 16 envs (per env)",
        "replay memory (100 3s5z-like episodes)", "replay sample (32 episodes)", "environment step (two-step)",
    ];

    static JsonElement Row(JsonElement root, string operation) =>
        root.GetProperty("rows").EnumerateArray().Single(r => r.GetProperty("operation").GetString() == operation);

    [Fact]
    public void The_table_has_every_row_and_the_floor_and_FLOP_terms_below_it()
    {
        Assert.True(bench.ExitCode == 0, bench.Output + bench.Error);
        foreach (var name in RowNames) Assert.Contains(name, bench.Output);
        foreach (var column in new[] { "ours", "PyTorch", "ratio", "target", "met", "GFLOP/s", "floor share", "allocated/op" })
            Assert.Contains(column, bench.Output);
        Assert.Contains("floor: peak", bench.Output);
        Assert.Contains("online agents: forward + backward, T+1 = 61 steps", bench.Output);
        Assert.Contains("target mixer: forward, B·(T+1) = 1952 rows", bench.Output);
        Assert.Contains("PyTorch: torch 1.13.0a0, threads 1", bench.Output);
        Assert.Contains("≤ 0.25× PyTorch", bench.Output);
        Assert.Contains($"wrote {bench.Json}", bench.Output);
    }

    [Fact]
    public void The_JSON_holds_every_row_with_ratios_against_the_reference_and_the_machine()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(bench.Json));
        var root = doc.RootElement;
        Assert.Equal(RowNames, root.GetProperty("rows").EnumerateArray().Select(r => r.GetProperty("operation").GetString()));
        var machine = root.GetProperty("machine");
        Assert.Equal(System.Environment.ProcessorCount, machine.GetProperty("cores").GetInt32());
        Assert.Contains(machine.GetProperty("isa").GetString(), new[] { "Vector512", "Vector256", "Scalar" });
        Assert.StartsWith(".NET", machine.GetProperty("dotnet").GetString());
        Assert.False(string.IsNullOrEmpty(machine.GetProperty("date").GetString()));
        Assert.True(root.GetProperty("quick").GetBoolean());
        Assert.True(root.GetProperty("pytorch").GetProperty("measured").GetBoolean());

        var m3 = Row(root, "learner update (3m-like)");
        var ours = m3.GetProperty("ours").GetDouble();
        Assert.Equal(51.93, m3.GetProperty("pytorch").GetDouble());
        Assert.Equal(ours / 51.93, m3.GetProperty("ratio").GetDouble(), 9);
        Assert.Equal(m3.GetProperty("ratio").GetDouble() <= 0.25, m3.GetProperty("targetMet").GetBoolean());
        Assert.Equal(65536, m3.GetProperty("allocationLimit").GetDouble());
        Assert.Equal("all threads", m3.GetProperty("allocationScope").GetString());
        var flops = m3.GetProperty("flops").GetDouble();
        Assert.Equal(flops / (ours / 1e3) / 1e9, m3.GetProperty("gflops").GetDouble(), 6);
        var peak = root.GetProperty("peak").GetProperty("gflops").GetDouble();
        var cores = root.GetProperty("coresUsed").GetInt32();
        Assert.Equal(flops / (peak * 1e9 * cores) * 1e3, m3.GetProperty("floorMilliseconds").GetDouble(), 6);
        Assert.Equal(m3.GetProperty("floorMilliseconds").GetDouble() / ours, m3.GetProperty("floorShare").GetDouble(), 9);

        Assert.Equal(255.55, Row(root, "learner update (3s5z-like)").GetProperty("pytorch").GetDouble());
        var acting = Row(root, "acting step (3 agents)");
        Assert.Equal(0.09241, acting.GetProperty("pytorch").GetDouble(), 9);
        Assert.Equal(0.10, acting.GetProperty("targetLimit").GetDouble());

        var memory = Row(root, "replay memory (100 3s5z-like episodes)");
        Assert.Equal("bytes", memory.GetProperty("unit").GetString());
        var payload = root.GetProperty("replay").GetProperty("payloadBytes").GetInt64();
        var padded = root.GetProperty("replay").GetProperty("paddedBytes").GetInt64();
        Assert.Equal(100L * 532_124, padded);
        // episodes of lengths in [limit/2, limit] keep their recorded steps only, masks as bits
        Assert.InRange(payload, padded * 0.35, padded * 0.9);
        // the heap the buffer holds: the payload plus bookkeeping (each episode's five arrays, their headers and
        // records, the list), within 20 % (a collection that finishes background work between the two readings moves
        // it by a few per cent); a second copy of the episodes would double it
        Assert.InRange(memory.GetProperty("ours").GetDouble(), payload * 0.98, payload * 1.20);
        Assert.True(memory.GetProperty("met").GetBoolean());

        var sample = Row(root, "replay sample (32 episodes)");
        Assert.Equal("learner update (3s5z-like)", sample.GetProperty("baseline").GetString());
        Assert.Equal(sample.GetProperty("ours").GetDouble() / Row(root, "learner update (3s5z-like)").GetProperty("ours").GetDouble(),
            sample.GetProperty("ratio").GetDouble(), 9);

        var terms = root.GetProperty("flops")[0].GetProperty("terms");
        Assert.Equal(4, terms.GetArrayLength());
        Assert.Equal(flops, terms.EnumerateArray().Sum(t => t.GetProperty("flops").GetDouble()));
    }

    [Fact]
    public void The_parser_reads_the_reference_output()
    {
        var t = PyTorchReference.Parse(ReferenceOutput.Good);
        Assert.Equal("torch 1.13.0a0, threads 1", t.Header);
        Assert.Equal(51.93, t.LearnerUpdateMilliseconds["B=32 T=60 n=3 A=9 O=30 S=48"]);
        Assert.Equal(255.55, t.LearnerUpdateMilliseconds["B=32 T=150 n=8 A=14 O=80 S=120"]);
        Assert.Equal(92.41, t.ActingStepMicroseconds["n=3 A=9 O=30"]);
        Assert.Empty(t.Unparsable);
        // the keys are the sizes our learner benchmark prints, so rows find their reference by them
        Assert.Equal(Benchmarks.LearnerUpdateFlops(BenchmarkSize.ThreeM).Sizes, t.LearnerUpdateMilliseconds.Keys.First());
    }

    [Theory]
    [InlineData("learner_update B=32 T=60 n=3 A=9 O=30 S=48: median_ms 5l.93 min_ms 48.50")]
    [InlineData("learner_update B=32 T=60 n=3 A=9 O=30 S=48: median_ms nan min_ms 48.50")]
    [InlineData("learner_update B=32 T=60 n=3 A=9 O=30 S=48: median_ms -51.93 min_ms 48.50")]
    [InlineData("learner_update B=32 T=60 n=3 A=9 O=30 S=48: median_ms 0 min_ms 0")]
    [InlineData("learner_update B=32 T=60 n=3 A=9 O=30 S=48: median_ms 51.93")]
    [InlineData("lerner_update B=32 T=60 n=3 A=9 O=30 S=48: median_ms 51.93 min_ms 48.50")]
    [InlineData("acting_step n=3 A=9 O=30: median_us")]
    public void A_damaged_timing_line_is_reported_as_unparsable_and_gives_no_time(string line)
    {
        // negative control: a parser that took the first number it saw would report 5 ms here
        var t = PyTorchReference.Parse("torch 1.13.0a0, threads 1\n" + line + "\n");
        Assert.Empty(t.LearnerUpdateMilliseconds);
        Assert.Empty(t.ActingStepMicroseconds);
        Assert.Equal(new[] { line }, t.Unparsable);
    }

    [Fact]
    public void A_corrupted_reference_line_is_printed_as_not_understood_and_its_row_gets_no_ratio()
    {
        var captured = Path.Combine(bench.Temp, "corrupted.txt");
        File.WriteAllText(captured, ReferenceOutput.Corrupted);
        var json = Path.Combine(bench.Temp, "corrupted.json");
        var (code, output, error) = CliTests.Qmix("bench", "--quick", "--env", "two-step", "--replay-episodes", "0",
            "--torch-output", captured, "--json", json);
        Assert.True(code == 0, output + error);
        Assert.Contains("PyTorch output line not understood (no ratio taken from it): learner_update B=32 T=60 n=3 A=9 O=30 S=48: median_ms 5l.93", output);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var m3 = Row(doc.RootElement, "learner update (3m-like)");
        Assert.Equal(JsonValueKind.Null, m3.GetProperty("pytorch").ValueKind);
        Assert.Equal(JsonValueKind.Null, m3.GetProperty("ratio").ValueKind);
        Assert.Equal(JsonValueKind.Null, m3.GetProperty("targetMet").ValueKind);
        Assert.Contains("no parsable", m3.GetProperty("note").GetString());
        // the other lines still count
        Assert.Equal(255.55, Row(doc.RootElement, "learner update (3s5z-like)").GetProperty("pytorch").GetDouble());
        Assert.DoesNotContain(doc.RootElement.GetProperty("rows").EnumerateArray(), r => r.GetProperty("operation").GetString()!.StartsWith("replay", StringComparison.Ordinal));
    }

    [Fact]
    public void A_missing_python_prints_why_the_comparison_was_skipped()
    {
        var script = Path.Combine(bench.Temp, "qmix_torch.py");
        File.WriteAllText(script, "# stands in for the reference\n");
        var missing = Path.Combine(bench.Temp, "no-such-dir", "python3");
        var (code, output, error) = CliTests.Qmix("bench", "--quick", "--env", "two-step", "--replay-episodes", "0",
            "--torch", script, "--python", missing);
        Assert.True(code == 0, output + error);
        Assert.Contains($"PyTorch comparison skipped: no python3 with torch: {missing}: not found", output);
        Assert.Contains("no PyTorch time", output + error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_replay_smaller_than_one_batch_is_a_usage_error()
    {
        var (code, _, error) = CliTests.Qmix("bench", "--quick", "--replay-episodes", "5");
        Assert.Equal(2, code);
        Assert.Contains("--replay-episodes must be 0 (skip) or at least 32 (one batch), got 5", error);
    }

    [Fact]
    public void Skip_reasons_name_a_missing_script_a_python_without_torch_and_off()
    {
        var run = PyTorchReference.Run(Path.Combine(bench.Temp, "absent.py"));
        Assert.Null(run.Timings);
        Assert.Contains("absent.py does not exist", run.SkipReason);

        var (code, output, _) = CliTests.Qmix("bench", "--quick", "--env", "two-step", "--replay-episodes", "0", "--torch", "off");
        Assert.Equal(0, code);
        Assert.Contains("PyTorch comparison skipped: --torch off", output);

        if (OperatingSystem.IsWindows()) return;
        var script = Path.Combine(bench.Temp, "ref.py");
        File.WriteAllText(script, "# stands in for the reference\n");
        var noTorch = FakePython("no-torch", "echo \"ModuleNotFoundError: No module named 'torch'\" >&2; exit 1");
        run = PyTorchReference.Run(script, noTorch);
        Assert.Null(run.Timings);
        Assert.Equal($"no python3 with torch: {noTorch}: cannot import torch (ModuleNotFoundError: No module named 'torch')", run.SkipReason);
    }

    [Fact]
    public void The_runner_runs_the_reference_on_one_thread_and_parses_what_it_prints()
    {
        if (OperatingSystem.IsWindows()) return;
        var script = Path.Combine(bench.Temp, "ref-ok.py");
        File.WriteAllText(script, "# stands in for the reference\n");
        var output = Path.Combine(bench.Temp, "ref-output.txt");
        File.WriteAllText(output, ReferenceOutput.Good);
        // fails unless called as `python -c ...` (the torch check) or `python SCRIPT bench 1` with one BLAS thread
        var python = FakePython("with-torch", $$"""
            if [ "$1" = "-c" ]; then exit 0; fi
            if [ "$1" != "{{script}}" ] || [ "$2" != bench ] || [ "$3" != 1 ]; then echo "arguments: $*" >&2; exit 3; fi
            if [ "$OPENBLAS_NUM_THREADS" != 1 ] || [ "$OMP_NUM_THREADS" != 1 ]; then echo "threads not set" >&2; exit 4; fi
            cat "{{output}}"
            """);
        var run = PyTorchReference.Run(script, python);
        Assert.True(run.Timings is not null, run.SkipReason);
        Assert.Equal(python, run.Python);
        Assert.Equal(51.93, run.Timings.LearnerUpdateMilliseconds["B=32 T=60 n=3 A=9 O=30 S=48"]);

        var failing = FakePython("failing", "if [ \"$1\" = \"-c\" ]; then exit 0; fi; echo 'RuntimeError: boom' >&2; exit 7");
        run = PyTorchReference.Run(script, failing);
        Assert.Null(run.Timings);
        Assert.EndsWith("bench 1 exited with code 7 (RuntimeError: boom)", run.SkipReason);
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    string FakePython(string name, string body)
    {
        var path = Path.Combine(bench.Temp, name);
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    [Fact]
    public void The_FLOP_count_of_a_3m_like_update_is_about_1_6_GFLOP()
    {
        var f = Benchmarks.LearnerUpdateFlops(BenchmarkSize.ThreeM);
        Assert.InRange(f.Total, 1.4e9, 1.8e9);
        Assert.Equal(4, f.Terms.Count);
        Assert.Equal(f.Terms.Sum(t => t.Flops), f.Total);
        // one agent step by hand: 96 rows, fc1 42→64, GRU gates 64→192 twice, fc2 64→9
        var step = 2.0 * 96 * (42 * 64 + 2 * 64 * 192 + 64 * 9);
        Assert.Equal(3 * 61 * step, f.Terms[0].Flops);
        Assert.Equal(61 * step, f.Terms[1].Flops);
        var large = Benchmarks.LearnerUpdateFlops(BenchmarkSize.ThreeS5Z);
        Assert.InRange(large.Total, 10e9, 13e9);
        Assert.Equal(f.Total / (100e9 * 2) * 1e3, f.FloorMilliseconds(100, 2), 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => f.FloorMilliseconds(0, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => f.FloorMilliseconds(100, 0));
    }

    [Fact]
    public void The_kernel_peak_and_the_replay_benchmark_measure_what_they_say()
    {
        var peak = Benchmarks.KernelPeak(0.02);
        Assert.True(peak.Gflops > 0.5, $"{peak.Gflops} GFLOP/s");
        Assert.Equal(2.0 * 96 * 64 * 192 / (peak.MinMilliseconds / 1e3) / 1e9, peak.Gflops, 6);

        var replay = Benchmarks.ReplayBuffer(BenchmarkSize.ThreeM, episodes: 40, batchSize: 32, samples: 3);
        Assert.Equal(40, replay.Episodes);
        var perEpisode = 61 * (3 * 30 + 48 + 3 + 3 * 9 + 1) * 4L;
        Assert.Equal(40 * perEpisode, replay.PaddedBytes);
        Assert.InRange(replay.PayloadBytes, replay.PaddedBytes * 0.35, replay.PaddedBytes * 0.9);
        Assert.Equal(3, replay.Sample.Iterations);
        Assert.NotNull(replay.Sample.AllocatedBytesAllThreads);
        Assert.True(replay.AllocatingMilliseconds > 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => Benchmarks.ReplayBuffer(episodes: 10, batchSize: 32));
    }
}
