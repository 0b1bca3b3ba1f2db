using System.CommandLine;
using System.Globalization;

namespace Qmix.Cli;

/// <summary><c>qmix bench</c>: the performance targets in one table. Learner updates at the PyTorch reference's
/// sizes (with GFLOP/s and the share of the floor set by the matmul kernel's peak), acting steps, the replay buffer's
/// memory and sampling time, and environment throughput; each against its target, PyTorch's time measured in the
/// same run when python3 with torch and the reference script are there.</summary>
internal static class BenchCommand
{
    /// <summary>Learner updates may allocate less than this per update, counted over every thread.</summary>
    const double LearnerAllocationLimit = 64 * 1024;

    /// <summary>Largest GC heap for 5000 3s5z-like episodes: 3 GB (3·10⁹ bytes).</summary>
    const double ReplayMemoryLimit = 3e9;

    public static Command Create(Io io)
    {
        var quick = new Option<bool>("--quick") { Description = "A few iterations and a small replay buffer, no PyTorch run unless asked for (a smoke test; the numbers are rough)" };
        var json = new Option<string?>("--json") { Description = "Also write every row, the FLOP counts, the kernel peak and the machine as JSON to FILE", HelpName = "FILE" };
        var torch = new Option<string?>("--torch") { Description = "The PyTorch reference script (default: shared/ref/qmix_torch.py above the current or the program's directory); 'off' skips the comparison", HelpName = "FILE" };
        var python = new Option<string?>("--python") { Description = "The Python with torch to run the reference (default: /usr/bin/python3, then python3 on the PATH)", HelpName = "PATH" };
        var torchOutput = new Option<string?>("--torch-output") { Description = "Read the reference's output captured in FILE (`OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python3 qmix_torch.py bench 1 > FILE`) instead of running it", HelpName = "FILE" };
        var replayEpisodes = new Option<int?>("--replay-episodes") { Description = "Episodes of 3s5z-like size held by the replay buffer whose memory and sampling are measured (default 5000, about 2.7 GB and 10 s; 100 with --quick); 0 skips the replay rows", HelpName = "N" };
        var envs = new Option<string[]>("--env") { Description = "Environments to step (default combat:3m, lbf:10x10-3p-3f, two-step)", AllowMultipleArgumentsPerToken = true, HelpName = "NAME" };
        var large = new Option<bool>("--large") { Description = "Accepted for old scripts: the 3s5z-like update is always timed now", Hidden = true };
        var command = new Command("bench", "Measure the performance targets: learner updates against PyTorch and the kernel's floor, acting steps, replay memory and sampling, environment steps")
        {
            quick, json, torch, python, torchOutput, replayEpisodes, envs, large,
        };
        command.SetAction(r => Run(io, new Settings(
            r.GetValue(quick), r.GetValue(json), r.GetValue(torch), r.GetValue(python), r.GetValue(torchOutput),
            r.GetValue(replayEpisodes), r.GetValue(envs))));
        return command;
    }

    sealed record Settings(
        bool Quick, string? Json, string? Torch, string? Python, string? TorchOutput, int? ReplayEpisodes, string[]? Envs);

    static int Run(Io io, Settings settings)
    {
        var quick = settings.Quick;
        var names = settings.Envs is { Length: > 0 } ? settings.Envs : ["combat:3m", "lbf:10x10-3p-3f", "two-step"];
        foreach (var n in names) Names.Environment(n);
        var episodes = settings.ReplayEpisodes ?? (quick ? 100 : 5000);
        if (episodes is < 0 or > 0 and < 32)
            throw new UsageException($"--replay-episodes must be 0 (skip) or at least 32 (one batch), got {episodes}");

        // the cores a learner update may use (its default is every core), for the floor
        var cores = System.Environment.ProcessorCount;
        io.Out.WriteLine($"qmix {LibraryInfo.Version} bench on {cores} cores{(quick ? " (quick: rough numbers)" : "")}");

        // PyTorch first, in its own process, so that nothing of ours runs beside it
        var torch = Reference(io, settings);
        var rows = new List<BenchRow>();

        // one untimed round of everything first, then a pause: tiered compilation optimises methods on a background
        // thread, which would otherwise share the two cores with the first timings
        if (!quick)
        {
            Benchmarks.LearnerUpdate(BenchmarkSize.ThreeM, 1, 5);
            Benchmarks.LearnerUpdate(BenchmarkSize.ThreeS5Z, 1, 2);
            Benchmarks.ActingStep(500);
            Benchmarks.ActingStepBatch(16, 200);
            Thread.Sleep(1000);
        }

        var peak = Benchmarks.KernelPeak(quick ? 0.05 : 0.5);
        rows.Add(new BenchRow
        {
            Operation = "matmul kernel peak (one thread)", Sizes = $"{peak.Shape}, {peak.Isa}", Ours = peak.MinMilliseconds,
            Gflops = peak.Gflops, Note = "the best of five batches; the floor's peak",
        }.Judged());

        var flops = new List<FlopInfo>();
        BenchmarkResult? large = null;
        foreach (var size in new[] { BenchmarkSize.ThreeM, BenchmarkSize.ThreeS5Z })
        {
            var result = size == BenchmarkSize.ThreeM
                ? Benchmarks.LearnerUpdate(size, quick ? 2 : 30, quick ? 1 : 10)
                : Benchmarks.LearnerUpdate(size, quick ? 1 : 10, quick ? 0 : 3);
            if (size == BenchmarkSize.ThreeS5Z) large = result;
            var count = Benchmarks.LearnerUpdateFlops(size);
            flops.Add(new FlopInfo(result.Name, count.Sizes, count.Total, count.Terms));
            var torchMs = Lookup(torch.Timings?.LearnerUpdateMilliseconds, result.Sizes);
            rows.Add(new BenchRow
            {
                Operation = result.Name, Sizes = result.Sizes, Ours = result.MedianMilliseconds,
                Iterations = result.Iterations, PyTorch = torchMs, Baseline = "PyTorch", BaselineMilliseconds = torchMs,
                Target = "≤ 0.25× PyTorch", TargetLimit = 0.25,
                Stretch = size == BenchmarkSize.ThreeM ? "≤ 0.20×" : null,
                StretchLimit = size == BenchmarkSize.ThreeM ? 0.20 : null,
                AllocatedBytes = result.AllocatedBytesAllThreads ?? result.AllocatedBytes,
                AllocationScope = result.AllocatedBytesAllThreads is null ? "timing thread" : "all threads",
                AllocationTarget = "< 64 KB", AllocationLimit = LearnerAllocationLimit,
                Flops = count.Total, FloorMilliseconds = count.FloorMilliseconds(peak.Gflops, cores),
                Note = torchMs is null ? MissingTorch(torch, $"learner_update {result.Sizes}") : null,
            }.Judged());
        }

        var differing = Benchmarks.LearnerThreadsDiffer(BenchmarkSize.ThreeM, quick ? 1 : 3);
        rows.Add(new BenchRow
        {
            Operation = "1 thread vs 2: differing results", Sizes = "3m-like, online parameters and losses after updates",
            Unit = "values", Ours = differing, Target = "0 (bit-identical)", TargetLimit = 0,
        }.Judged());

        var acting = Benchmarks.ActingStep(quick ? 50 : 2000);
        var actingRow = ActingRow(acting, torch);
        rows.Add(actingRow);
        AddActingBatchRow(rows, actingRow, quick);

        ReplayInfo? replay = null;
        if (episodes > 0)
        {
            var r = Benchmarks.ReplayBuffer(BenchmarkSize.ThreeS5Z, episodes, 32, quick ? 5 : 50);
            replay = new ReplayInfo(r.Episodes, r.Sizes, r.HeapBytes, r.PayloadBytes, r.PaddedBytes, r.BuildSeconds, r.AllocatingMilliseconds);
            rows.Add(new BenchRow
            {
                Operation = $"replay memory ({r.Episodes} 3s5z-like episodes)", Sizes = r.Sizes, Unit = "bytes",
                Ours = r.HeapBytes, Target = "≤ 3 GB", TargetLimit = ReplayMemoryLimit,
                Note = $"GC heap the buffer holds; payload {BenchText.Bytes(r.PayloadBytes)} ({BenchText.Bytes(r.PaddedBytes)} padded to the limit), built in {r.BuildSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s",
            }.Judged());
            rows.Add(new BenchRow
            {
                Operation = "replay sample (32 episodes)", Sizes = r.Sample.Sizes, Ours = r.Sample.MedianMilliseconds,
                Iterations = r.Sample.Iterations, Baseline = large!.Name, BaselineMilliseconds = large.MedianMilliseconds,
                Target = "≤ 0.05× 3s5z-like update", TargetLimit = 0.05,
                AllocatedBytes = r.Sample.AllocatedBytesAllThreads ?? r.Sample.AllocatedBytes,
                AllocationScope = r.Sample.AllocatedBytesAllThreads is null ? "timing thread" : "all threads",
                Note = $"Replay.sampleInto, reused memory, as training samples; min {BenchText.Time(r.Sample.MinMilliseconds)}. "
                    + $"Replay.sample into new arrays takes {BenchText.Time(r.AllocatingMilliseconds)} (median)",
            }.Judged());
            // the buffer is garbage now: give its memory back before the environments run
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        }

        foreach (var name in names)
        {
            var e = Benchmarks.EnvironmentSteps(name, quick ? 200 : 20_000);
            rows.Add(new BenchRow
            {
                Operation = e.Name, Sizes = e.Sizes, Ours = e.MedianMilliseconds, Iterations = e.Iterations,
                AllocatedBytes = e.AllocatedBytes, AllocationScope = "timing thread",
                Note = (e.PerSecond / 1e6).ToString("0.00", CultureInfo.InvariantCulture) + " M steps/s (the mean)",
            }.Judged());
        }

        var report = new BenchReport
        {
            Machine = MachineInfo.Current(peak.Isa),
            Quick = quick,
            PyTorch = new PyTorchInfo(torch.Timings is not null, torch.SkipReason, torch.Timings?.Header, torch.Python,
                torch.Script, torch.Timings?.Unparsable ?? [], torch.Output),
            Peak = peak,
            CoresUsed = cores,
            Flops = flops,
            Rows = rows,
            Replay = replay,
        };
        io.Write(BenchText.Table(report));
        Explain(io, report);
        if (settings.Json is { } path)
        {
            if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir) Directory.CreateDirectory(dir);
            File.WriteAllText(path, report.ToJson() + "\n");
            io.Out.WriteLine($"wrote {path}");
        }
        return Cli.Ok;
    }

    static BenchRow ActingRow(BenchmarkResult acting, PyTorchRun torch)
    {
        var torchMs = Lookup(torch.Timings?.ActingStepMicroseconds, "n=3 A=9 O=30") / 1000;
        return new BenchRow
        {
            Operation = acting.Name, Sizes = acting.Sizes, Ours = acting.MedianMilliseconds, Iterations = acting.Iterations,
            PyTorch = torchMs, Baseline = "PyTorch", BaselineMilliseconds = torchMs,
            Target = "≤ 0.10× PyTorch", TargetLimit = 0.10,
            AllocatedBytes = acting.AllocatedBytesAllThreads ?? acting.AllocatedBytes,
            AllocationScope = acting.AllocatedBytesAllThreads is null ? "timing thread" : "all threads",
            AllocationTarget = "0 B", AllocationLimit = 1,
            Note = torchMs is null ? MissingTorch(torch, "acting_step n=3 A=9 O=30") : null,
        }.Judged();
    }

    /// <summary>INTEGRATION POINT (the acting work): the row for 16 environments stepped together. Until
    /// <c>Benchmarks.ActingStepBatch(int environments = 16, int iterations = 2000)</c> is on this branch the row says
    /// it was not measured; at the merge, replace the body by the commented lines (check whether ActingStepBatch
    /// reports one step of all environments, as assumed here, or already one environment's share).</summary>
    static void AddActingBatchRow(List<BenchRow> rows, BenchRow single, bool quick)
    {
        const int environments = 16;
        var batch = Benchmarks.ActingStepBatch(environments, quick ? 50 : 2000);
        rows.Add(ActingBatchRow(batch, environments, single));
    }

    static BenchRow ActingBatchRow(BenchmarkResult batch, int environments, BenchRow single) => new BenchRow
    {
        Operation = $"acting, {environments} envs (per env)", Sizes = batch.Sizes,
        // ActingStepBatch already reports per environment
        Ours = batch.MedianMilliseconds, Iterations = batch.Iterations,
        Baseline = single.Operation, BaselineMilliseconds = single.Ours,
        Target = "< 1× acting step", TargetLimit = 1, TargetStrict = true,
        AllocatedBytes = batch.AllocatedBytesAllThreads ?? batch.AllocatedBytes,
        AllocationScope = batch.AllocatedBytesAllThreads is null ? "timing thread" : "all threads",
        AllocationTarget = "0 B", AllocationLimit = 1,
    }.Judged();

    /// <summary>A reference time by sizes; null when the reference did not run or printed no parsable line for
    /// them (never 0).</summary>
    static double? Lookup(IReadOnlyDictionary<string, double>? times, string sizes) =>
        times is not null && times.TryGetValue(sizes, out var value) ? value : null;

    static string MissingTorch(PyTorchRun torch, string line) => torch.Timings is null
        ? "no PyTorch time: " + torch.SkipReason
        : $"no PyTorch time: the reference printed no parsable `{line}` line";

    /// <summary>The reference's timings: from captured output, from a run, or skipped with the reason.</summary>
    static PyTorchRun Reference(Io io, Settings settings)
    {
        if (settings.TorchOutput is { } captured)
            return PyTorchReference.FromOutput(File.ReadAllText(captured), captured);
        if (settings.Torch == "off")
            return new PyTorchRun { SkipReason = "--torch off", Output = "" };
        if (settings.Quick && settings.Torch is null && settings.Python is null)
            return new PyTorchRun { SkipReason = "--quick (give --torch FILE or --python PATH to run the reference anyway, or --torch-output FILE)", Output = "" };
        io.Out.WriteLine("timing the PyTorch reference on one thread (about 5 s)…");
        return PyTorchReference.Run(settings.Torch, settings.Python);
    }

    static void Explain(Io io, BenchReport report)
    {
        var inv = CultureInfo.InvariantCulture;
        var o = io.Out;
        o.WriteLine("ratio: ours / the target's baseline (PyTorch's time measured in the same run, or the row named). "
            + "allocated/op: every thread (GC.GetTotalAllocatedBytes); * the timing thread only. KB = 1024 B, MB = 1024² B, GB = 10⁹ B.");
        if (report.Peak is { } peak)
        {
            var total = peak.Gflops * report.CoresUsed;
            o.WriteLine($"floor: peak {peak.Gflops.ToString("0.0", inv)} GFLOP/s (matmulNN {peak.Shape}, one thread, {peak.Isa}) × {report.CoresUsed} cores = "
                + $"{total.ToString("0.0", inv)} GFLOP/s; floor time = FLOPs / {total.ToString("0.0", inv)} GFLOP/s; share of the floor = floor time / our time.");
        }
        o.WriteLine("FLOPs of one learner update (matrix products, [m,k]·[k,n] = 2·m·k·n; a backward pass = 2× its forward):");
        foreach (var f in report.Flops)
        {
            var floor = report.Rows.FirstOrDefault(r => r.Operation == f.Operation)?.FloorMilliseconds;
            o.WriteLine($"  {f.Operation} {f.Sizes}: {BenchText.Gflop(f.Total)}"
                + (floor is { } ms ? $", floor {BenchText.Time(ms)}" : ""));
            foreach (var t in f.Terms) o.WriteLine($"    {t.Name,-50} {t.Formula,-70} {BenchText.Gflop(t.Flops)}");
        }
        if (report.Replay is { } r)
            o.WriteLine($"replay: {r.Episodes} episodes ({r.Sizes}) hold {BenchText.Bytes(r.HeapBytes)} of GC heap; their arrays' payload is "
                + $"{BenchText.Bytes(r.PayloadBytes)} ({BenchText.Bytes(r.PayloadBytes / (double)r.Episodes)} per episode; {BenchText.Bytes(r.PaddedBytes)} padded to the limit); built in {r.BuildSeconds.ToString("0.0", inv)} s.");
        foreach (var row in report.Rows.Where(r => r.Note is not null))
            o.WriteLine($"{row.Operation}: {row.Note}");
        var torch = report.PyTorch;
        if (torch.Measured)
            o.WriteLine($"PyTorch: {torch.Header ?? "(no header line)"}; {torch.Python} {torch.Script}"
                + (torch.Python == "captured output" ? "" : " bench 1, OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1"));
        else
            o.WriteLine($"PyTorch comparison skipped: {torch.SkipReason}");
        foreach (var line in torch.Unparsable)
            o.WriteLine($"PyTorch output line not understood (no ratio taken from it): {line}");
    }
}
