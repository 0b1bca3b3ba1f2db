using System.Globalization;
using System.Runtime;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Spectre.Console;

namespace Qmix.Cli;

/// <summary>One row of <c>qmix bench</c>: what was measured, against what, and whether it meets its target. Times
/// are in milliseconds; a row whose <see cref="Unit"/> is <c>bytes</c> measures memory instead.</summary>
internal sealed record BenchRow
{
    /// <summary>What was measured, e.g. <c>learner update (3m-like)</c>.</summary>
    public required string Operation { get; init; }

    /// <summary>The sizes.</summary>
    public required string Sizes { get; init; }

    /// <summary><c>ms</c> (time per operation) or <c>bytes</c> (memory held).</summary>
    public string Unit { get; init; } = "ms";

    /// <summary>Our value: the median time in milliseconds, or bytes; null when not measured.</summary>
    public double? Ours { get; init; }

    /// <summary>How many timed operations.</summary>
    public int? Iterations { get; init; }

    /// <summary>PyTorch's time in milliseconds for the same operation, when the reference ran and printed it.</summary>
    [JsonPropertyName("pytorch")]
    public double? PyTorch { get; init; }

    /// <summary>What the ratio divides by: <c>PyTorch</c>, or another row (<c>learner update (3s5z-like)</c>).</summary>
    public string? Baseline { get; init; }

    /// <summary>The baseline's time in milliseconds.</summary>
    public double? BaselineMilliseconds { get; init; }

    /// <summary>Ours / baseline.</summary>
    public double? Ratio { get; init; }

    /// <summary>The time (or memory) target, as text, e.g. <c>≤ 0.25× PyTorch</c>.</summary>
    public string? Target { get; init; }

    /// <summary>The largest ratio (or byte count, for memory) that meets the target.</summary>
    public double? TargetLimit { get; init; }

    /// <summary>Whether the limit itself fails the target (a strict "less than").</summary>
    public bool TargetStrict { get; init; }

    /// <summary>Whether the time (or memory) target is met; null when unknown or there is none.</summary>
    public bool? TargetMet { get; init; }

    /// <summary>A stretch target, e.g. <c>≤ 0.20× PyTorch</c>.</summary>
    public string? Stretch { get; init; }

    /// <summary>The largest ratio that meets the stretch target.</summary>
    public double? StretchLimit { get; init; }

    /// <summary>Whether the stretch target is met.</summary>
    public bool? StretchMet { get; init; }

    /// <summary>Bytes allocated per operation (all threads for learner updates and sampling, the timing thread for
    /// acting and environment steps: see <see cref="AllocationScope"/>).</summary>
    public double? AllocatedBytes { get; init; }

    /// <summary><c>all threads</c> or <c>timing thread</c>.</summary>
    public string? AllocationScope { get; init; }

    /// <summary>The allocation target as text, e.g. <c>&lt; 64 KB</c>.</summary>
    public string? AllocationTarget { get; init; }

    /// <summary>Allocations per operation must stay below this many bytes.</summary>
    public double? AllocationLimit { get; init; }

    /// <summary>Whether the allocation target is met.</summary>
    public bool? AllocationMet { get; init; }

    /// <summary>Every target of the row met (true), one missed (false), or unknown.</summary>
    public bool? Met { get; init; }

    /// <summary>FLOPs of one operation (learner updates).</summary>
    public double? Flops { get; init; }

    /// <summary>Billions of floating-point operations per second at our time.</summary>
    public double? Gflops { get; init; }

    /// <summary>The time at the kernel's peak on every core used, in milliseconds.</summary>
    public double? FloorMilliseconds { get; init; }

    /// <summary>Floor time / our time.</summary>
    public double? FloorShare { get; init; }

    /// <summary>Anything else worth knowing (why a value is missing, the replay's payload).</summary>
    public string? Note { get; init; }

    /// <summary>Fills in the ratio, the verdicts and the floor from the values set.</summary>
    public BenchRow Judged()
    {
        var ratio = Ours is { } o && BaselineMilliseconds is { } b && b > 0 ? o / b : (double?)null;
        var value = Unit == "ms" ? ratio : Ours;
        bool? targetMet = TargetLimit is { } limit && value is { } v ? (TargetStrict ? v < limit : v <= limit) : null;
        bool? allocationMet = AllocationLimit is { } a && AllocatedBytes is { } bytes ? bytes < a : null;
        var verdicts = new[] { Target is null ? (bool?)true : targetMet, AllocationTarget is null ? true : allocationMet };
        bool? met = Target is null && AllocationTarget is null ? null
            : verdicts.Any(x => x == false) ? false
            : verdicts.All(x => x == true) ? true
            : null;
        return this with
        {
            Ratio = ratio,
            TargetMet = targetMet,
            StretchMet = StretchLimit is { } stretch && ratio is { } q ? q <= stretch : null,
            AllocationMet = allocationMet,
            Met = met,
            Gflops = Flops is { } f && Ours is { } ms && ms > 0 ? f / (ms / 1e3) / 1e9 : Gflops,
            FloorShare = FloorMilliseconds is { } floor && Ours is { } ours && ours > 0 ? floor / ours : FloorShare,
        };
    }
}

/// <summary>Everything <c>qmix bench</c> measured, as printed and as written by <c>--json</c>.</summary>
internal sealed record BenchReport
{
    public required MachineInfo Machine { get; init; }
    public required bool Quick { get; init; }
    [JsonPropertyName("pytorch")]
    public required PyTorchInfo PyTorch { get; init; }
    public KernelPeakResult? Peak { get; init; }
    public required int CoresUsed { get; init; }
    public required IReadOnlyList<FlopInfo> Flops { get; init; }
    public required IReadOnlyList<BenchRow> Rows { get; init; }
    public ReplayInfo? Replay { get; init; }

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);
}

/// <summary>Where the numbers were measured.</summary>
internal sealed record MachineInfo(
    int Cores, string Isa, [property: JsonPropertyName("dotnet")] string DotNet, string Os, string? Cpu, string Gc, string Date, string Library)
{
    public static MachineInfo Current(string isa) => new(
        System.Environment.ProcessorCount,
        isa,
        RuntimeInformation.FrameworkDescription,
        RuntimeInformation.OSDescription,
        CpuModel(),
        $"{(GCSettings.IsServerGC ? "server" : "workstation")}, {(AppContext.GetData("System.GC.Concurrent") is false ? "non-concurrent" : "concurrent")}",
        DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
        LibraryInfo.Version);

    static string? CpuModel()
    {
        try
        {
            return File.Exists("/proc/cpuinfo")
                ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))
                    ?.Split(':', 2)[1].Trim()
                : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}

/// <summary>The PyTorch reference's part of the report.</summary>
internal sealed record PyTorchInfo(
    bool Measured, string? SkipReason, string? Header, string? Python, string? Script, IReadOnlyList<string> Unparsable,
    string Output);

/// <summary>A learner update's FLOP count in the report.</summary>
internal sealed record FlopInfo(string Operation, string Sizes, double Total, IReadOnlyList<FlopTerm> Terms);

/// <summary>The replay buffer's memory in the report.</summary>
internal sealed record ReplayInfo(
    int Episodes, string Sizes, long HeapBytes, long PayloadBytes, long PaddedBytes, double BuildSeconds, double AllocatingSampleMilliseconds);

/// <summary>Formats a report as text.</summary>
internal static class BenchText
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static Table Table(BenchReport report)
    {
        var table = new Table().Border(TableBorder.Simple)
            .AddColumn("operation").AddColumn("sizes").AddColumn(new TableColumn("ours").RightAligned())
            .AddColumn(new TableColumn("PyTorch").RightAligned()).AddColumn(new TableColumn("ratio").RightAligned())
            .AddColumn("target").AddColumn("met").AddColumn(new TableColumn("GFLOP/s").RightAligned())
            .AddColumn(new TableColumn("floor share").RightAligned()).AddColumn(new TableColumn("allocated/op").RightAligned());
        foreach (var r in report.Rows)
        {
            table.AddRow(
                Markup.Escape(r.Operation),
                Markup.Escape(r.Sizes),
                Markup.Escape(Ours(r)),
                r.PyTorch is { } p ? Time(p) : r.Baseline == "PyTorch" ? "–" : "",
                r.Ratio is { } ratio ? Ratio(ratio) : "–",
                Markup.Escape(Targets(r)),
                Markup.Escape(Met(r)),
                r.Gflops is { } g ? g.ToString("0.0", Inv) : "",
                r.FloorShare is { } s ? (100 * s).ToString("0.0", Inv) + "%" : "",
                r.AllocatedBytes is { } b ? Bytes(b) + (r.AllocationScope == "all threads" ? "" : "*") : "");
        }
        return table;
    }

    static string Ours(BenchRow r) => r.Ours switch
    {
        null => "not measured",
        { } v when r.Unit == "bytes" => Bytes(v),
        { } v when r.Unit != "ms" => $"{v.ToString("0", CultureInfo.InvariantCulture)} {r.Unit}",
        { } v => Time(v),
    };

    static string Targets(BenchRow r)
    {
        var parts = new List<string>();
        if (r.Target is { } t) parts.Add(r.Stretch is { } s ? $"{t} (stretch {s})" : t);
        if (r.AllocationTarget is { } a) parts.Add(a);
        return string.Join("; ", parts);
    }

    public static string Met(BenchRow r)
    {
        if (r.Target is null && r.AllocationTarget is null) return "";
        var failed = new List<string>();
        var unknown = new List<string>();
        void Add(bool present, bool? met, string what)
        {
            if (!present) return;
            if (met == false) failed.Add(what);
            else if (met is null) unknown.Add(what);
        }
        Add(r.Target is not null, r.TargetMet, r.Unit == "bytes" ? "memory" : "time");
        Add(r.AllocationTarget is not null, r.AllocationMet, "alloc");
        var stretch = r.Stretch is null || r.StretchMet is null ? "" : r.StretchMet.Value ? ", stretch met" : ", stretch not met";
        if (failed.Count > 0)
            return "no: " + string.Join(", ", failed) + (unknown.Count > 0 ? "; " + string.Join(", ", unknown) + " ?" : "");
        if (unknown.Count > 0) return string.Join(", ", unknown) + " ?";
        return "yes" + stretch;
    }

    public static string Time(double ms) => ms >= 1
        ? ms.ToString("0.00", Inv) + " ms"
        : ms >= 1e-3 ? (ms * 1000).ToString("0.00", Inv) + " µs" : (ms * 1e6).ToString("0", Inv) + " ns";

    public static string Ratio(double r) => r.ToString(r >= 0.1 ? "0.00" : "0.000", Inv) + "×";

    public static string Bytes(double b) => b >= 1e9
        ? (b / 1e9).ToString("0.00", Inv) + " GB"
        : b >= 1 << 20 ? (b / (1 << 20)).ToString("0.0", Inv) + " MB"
        : b >= 1024 ? (b / 1024).ToString("0.0", Inv) + " KB" : b.ToString("0", Inv) + " B";

    public static string Gflop(double flops) => (flops / 1e9).ToString("0.000", Inv) + " GFLOP";
}
