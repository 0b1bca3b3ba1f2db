using System.Globalization;
using System.Text.Json;
using System.Xml.Linq;
using Xunit;
using F = Qmix.Functional;

namespace Qmix.Tests;

/// <summary>The numbers of a run directory: float32 values written with no more digits than the float32 needs
/// (0.001, not the widened 0.0010000000474974513; 0.2, not the float32 noise 0.20000002), presets that still narrow
/// to the core's exact float32 settings, and a curves.svg whose stacked panels line up.</summary>
public class RunRecorderDigitsTests
{
    static readonly CultureInfo inv = CultureInfo.InvariantCulture;

    /// <summary>The significant digits of a number as written: "0.0010000000474974513" → 20, "1E-08" → 1.</summary>
    static int Digits(string number)
    {
        var mantissa = number.TrimStart('-').Split('e', 'E')[0].Replace(".", "");
        var trimmed = mantissa.TrimStart('0').TrimEnd('0');
        return Math.Max(1, trimmed.Length);
    }

    /// <summary>Why a number has more digits than its float32 needs (more than the float32's shortest round-trip
    /// digits, or more than float32's 7 significant digits); null when it has not. Whole numbers are exact and
    /// pass.</summary>
    static string? TooManyDigits(string number)
    {
        if (number.IndexOfAny(['.', 'e', 'E']) < 0) return null;
        var value = double.Parse(number, inv);
        if (!double.IsFinite(value)) return null;
        var shortest = ((float)value).ToString("R", inv);
        var need = Math.Min(7, Digits(shortest));
        return Digits(number) > need ? $"{number} has {Digits(number)} significant digits; its float32 needs {need} ({shortest})" : null;
    }

    /// <summary>Wall-clock values: doubles rounded to fixed decimals, not float32 values.</summary>
    static readonly HashSet<string> clocks = ["elapsed_seconds", "steps_per_second", "seconds", "started"];

    /// <summary>The numbers of a JSON document with their paths.</summary>
    static IEnumerable<(string Path, string Number)> Numbers(JsonElement e, string path)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Number:
                yield return (path, e.GetRawText());
                break;
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject().Where(p => !clocks.Contains(p.Name)))
                    foreach (var n in Numbers(p.Value, path + "." + p.Name)) yield return n;
                break;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in e.EnumerateArray())
                    foreach (var n in Numbers(item, $"{path}[{i++}]")) yield return n;
                break;
        }
    }

    /// <summary>The check on a run directory: every number of config.json, summary.json, metrics.jsonl and
    /// metrics.csv has no more digits than its float32 needs. Returns the offenders.</summary>
    static List<string> Offenders(string dir)
    {
        var found = new List<string>();
        void Json(string file, string text)
        {
            using var doc = JsonDocument.Parse(text);
            foreach (var (path, number) in Numbers(doc.RootElement, file))
                if (TooManyDigits(number) is { } why) found.Add($"{path}: {why}");
        }
        Json("config.json", File.ReadAllText(Path.Combine(dir, "config.json")));
        Json("summary.json", File.ReadAllText(Path.Combine(dir, "summary.json")));
        foreach (var (line, i) in File.ReadAllLines(Path.Combine(dir, "metrics.jsonl")).Select((l, i) => (l, i)))
            Json($"metrics.jsonl:{i + 1}", line);
        var csv = File.ReadAllLines(Path.Combine(dir, "metrics.csv"));
        var header = csv[0].Split(',');
        foreach (var (row, r) in csv.Skip(1).Select((l, r) => (l, r)))
        {
            var cells = row.Split(',');
            for (var c = 0; c < Math.Min(cells.Length, header.Length); c++)
                if (!clocks.Contains(header[c]) && double.TryParse(cells[c], NumberStyles.Float, inv, out _) && TooManyDigits(cells[c]) is { } why)
                    found.Add($"metrics.csv:{r + 2} {header[c]}: {why}");
        }
        return found;
    }

    static string Train(TempDir tmp)
    {
        // pymarl2's float32 settings (lr 0.001, γ 0.99, λ 0.6, ε 0.05, Adam's β) reach config.json
        var dir = Path.Combine(tmp.Path, "run");
        var (code, output, error) = CliTests.Qmix("train", "--env", "two-step", "--preset", "pymarl2", "--steps", "600", "--batch-size", "16",
            "--epsilon-anneal", "500", "--test-interval", "200", "--test-episodes", "4", "-o", dir);
        Assert.True(code == 0, output + error);
        return dir;
    }

    [Fact]
    public void A_run_writes_its_numbers_with_no_more_digits_than_their_float32_needs()
    {
        using var tmp = new TempDir();
        var dir = Train(tmp);
        Assert.Empty(Offenders(dir));
        var config = File.ReadAllText(Path.Combine(dir, "config.json"));
        Assert.Contains("\"lr\": 0.001,", config);
        Assert.Contains("\"gamma\": 0.99,", config);
        Assert.Contains("\"epsilon_finish\": 0.05,", config);
        // the metrics have fractional values to check (losses, Q-values, ε)
        Assert.Contains(File.ReadAllLines(Path.Combine(dir, "metrics.csv")).Skip(1), l => l.Split(',')[5].Contains('.'));
    }

    [Fact]
    public void Negative_control_the_digits_check_finds_widened_floats_and_float32_noise()
    {
        Assert.NotNull(TooManyDigits(((double)0.001f).ToString("R", inv))); // 0.0010000000474974513
        Assert.NotNull(TooManyDigits("0.20000002")); // a float32 of its own, but noise at 8 digits
        Assert.NotNull(TooManyDigits("9.99999993922529E-09"));
        Assert.Null(TooManyDigits("0.001"));
        Assert.Null(TooManyDigits("1E-08"));
        Assert.Null(TooManyDigits("0.9246575"));
        Assert.Null(TooManyDigits("2088"));

        // a run directory written the old way: config.json with the widened preset values, a metric at float32's
        // shortest digits of a noisy value
        using var tmp = new TempDir();
        var dir = Train(tmp);
        var configPath = Path.Combine(dir, "config.json");
        File.WriteAllText(configPath, File.ReadAllText(configPath).Replace("\"lr\": 0.001,", "\"lr\": 0.0010000000474974513,"));
        var csvPath = Path.Combine(dir, "metrics.csv");
        var csv = File.ReadAllLines(csvPath);
        var cells = csv[^1].Split(',');
        cells[4] = "0.20000002"; // epsilon
        csv[^1] = string.Join(",", cells);
        File.WriteAllLines(csvPath, csv);
        var found = Offenders(dir);
        Assert.Contains(found, f => f.StartsWith("config.json.options.lr", StringComparison.Ordinal));
        Assert.Contains(found, f => f.Contains("epsilon: 0.20000002", StringComparison.Ordinal));
    }

    [Fact]
    public void A_metric_is_rounded_to_float32_s_7_significant_digits()
    {
        Assert.Equal(0.2, RunRecorder.Tidy(0.20000002f));
        Assert.Equal(0.1, RunRecorder.Tidy(0.1f));
        Assert.Equal(0.9246575, RunRecorder.Tidy(0.9246575f));
        Assert.Equal(-1234.568, RunRecorder.Tidy(-1234.5678f));
        Assert.Null(RunRecorder.Tidy(null));
        Assert.True(double.IsNaN(RunRecorder.Tidy(double.NaN)!.Value));
    }

    [Fact]
    public void Preset_settings_read_as_written_and_narrow_to_the_core_s_exact_float32()
    {
        var preset = F.TrainingPresets.pymarl2;
        var options = TrainingOptions.Preset(TrainingPreset.PyMarl2);
        Assert.Equal(0.001, options.LearningRate);
        Assert.Equal(0.99, options.Gamma);
        Assert.Equal(0.05, options.EpsilonFinish);
        // through config.json and back, the core gets the preset's float32 settings bit for bit
        var core = TrainingOptions.FromJson(options.ToJson()).ToConfig(null);
        Check(preset, core);

        // and any float32 survives the trip through its shortest digits
        var random = new Random(7);
        Span<byte> bytes = stackalloc byte[4];
        for (var i = 0; i < 200_000; i++)
        {
            random.NextBytes(bytes);
            var f = BitConverter.ToSingle(bytes);
            if (!float.IsFinite(f)) continue;
            Assert.Equal(BitConverter.SingleToInt32Bits(f), BitConverter.SingleToInt32Bits((float)TrainingOptions.D(f)));
        }
    }

    /// <summary>The check: the core's float32 learner and exploration settings equal the preset's exactly.</summary>
    static void Check(F.TrainingConfig preset, F.TrainingConfig core)
    {
        Assert.Equal(preset.Learner.Optimizer, core.Learner.Optimizer);
        Assert.Equal(preset.Learner.Gamma, core.Learner.Gamma);
        Assert.Equal(preset.Learner.LossScale, core.Learner.LossScale);
        Assert.Equal(preset.Learner.GradNormClip, core.Learner.GradNormClip);
        Assert.Equal(preset.Learner.Target, core.Learner.Target);
        Assert.Equal(preset.Epsilon, core.Epsilon);
    }

    [Fact]
    public void Negative_control_the_float32_check_finds_a_setting_one_ulp_off()
    {
        var preset = F.TrainingPresets.pymarl2;
        var options = TrainingOptions.Preset(TrainingPreset.PyMarl2);
        var off = options with { Gamma = TrainingOptions.D(MathF.BitIncrement(0.99f)) };
        Assert.ThrowsAny<Exception>(() => Check(preset, TrainingOptions.FromJson(off.ToJson()).ToConfig(null)));
        // rounding to fewer digits than the float32 needs would change it too
        var rounded = options with { Gamma = double.Parse(MathF.BitIncrement(0.99f).ToString("G6", inv), inv) };
        Assert.Equal(0.99f, (float)rounded.Gamma);
        Assert.NotEqual(MathF.BitIncrement(0.99f), (float)rounded.Gamma);
    }

    [Fact]
    public void A_run_whose_config_holds_widened_float32_settings_resumes_with_the_same_settings_asked()
    {
        using var tmp = new TempDir();
        var dir = Train(tmp);
        var configPath = Path.Combine(dir, "config.json");
        var config = File.ReadAllText(configPath);
        string[] again = ["train", "--env", "two-step", "--preset", "pymarl2", "--steps", "600", "--batch-size", "16",
            "--epsilon-anneal", "500", "--test-interval", "200", "--test-episodes", "4", "-o", dir, "--resume"];
        // a run recorded before config.json wrote float32 settings with their shortest digits
        File.WriteAllText(configPath, config.Replace("\"lr\": 0.001,", "\"lr\": 0.0010000000474974513,")
            .Replace("\"gamma\": 0.99,", "\"gamma\": 0.9900000095367432,"));
        var (code, output, error) = CliTests.Qmix(again);
        Assert.True(code == 0, output + error);
        Assert.Contains("complete already", output);

        // negative control: a setting that differs as a float32 (0.00100001 is not 0.001f) is still a mismatch
        File.WriteAllText(configPath, config.Replace("\"lr\": 0.001,", "\"lr\": 0.00100001,"));
        (code, output, error) = CliTests.Qmix(again);
        Assert.Equal(2, code);
        Assert.Contains("lr: 0.00100001 in the run, 0.001 asked", error);
    }

    /// <summary>The x-axis line ends (x1, x2) of each panel of a stacked curves.svg.</summary>
    static List<(string X1, string X2)> PanelAxes(string svg)
    {
        XNamespace ns = "http://www.w3.org/2000/svg";
        return XDocument.Parse(svg).Root!.Elements(ns + "svg")
            .Select(panel => panel.Descendants(ns + "g").First(g => (string?)g.Attribute("class") == "axes").Elements(ns + "line").First())
            .Select(l => ((string)l.Attribute("x1")!, (string)l.Attribute("x2")!))
            .ToList();
    }

    [Fact]
    public void The_panels_of_a_run_s_curves_line_up()
    {
        using var tmp = new TempDir();
        var dir = Train(tmp);
        var axes = PanelAxes(File.ReadAllText(Path.Combine(dir, "curves.svg")));
        Assert.True(axes.Count >= 3, $"{axes.Count} panels");
        Assert.Single(axes.Distinct());

        // negative control: the same panels drawn one by one do not line up
        var records = RunDirectory.Load(dir).Metrics;
        var returns = new ChartSeries("test return", RunDirectory.Curve(records, RunMetric.TestReturn));
        var errors = new ChartSeries("TD |error| and grad norm", RunDirectory.Curve(records, RunMetric.GradientNorm));
        var apart = Charts.Stack([Charts.Line("run", "step", "return", [returns]), Charts.Line("", "step", "TD error, gradient", [errors])]);
        Assert.NotEqual(1, PanelAxes(apart).Distinct().Count());
    }
}
