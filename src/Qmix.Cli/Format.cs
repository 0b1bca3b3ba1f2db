using System.Globalization;

namespace Qmix.Cli;

/// <summary>How the commands print numbers, in one place so that <c>train</c>, <c>eval</c> and <c>plot</c> agree: win
/// rates (and other fractions) as percentages with a space before the sign ("40 %", "83.5 %"), other measured
/// quantities at 3 significant digits ("1.22", "0.582", "12,300"), counts with thousands separators; always in the
/// invariant culture.</summary>
internal static class Format
{
    static readonly CultureInfo inv = CultureInfo.InvariantCulture;

    /// <summary>A fraction as a percentage with at most one decimal: 0.4 → "40 %", 0.835 → "83.5 %", 0.03125 →
    /// "3.1 %"; "–" for none.</summary>
    public static string Percent(double? fraction) =>
        fraction is { } f && double.IsFinite(f) ? (f * 100).ToString("0.#", inv) + " %" : fraction is null ? "–" : Number(fraction);

    /// <summary>A quantity at 3 significant digits: 1.21933 → "1.22", 0.5821 → "0.582", 60 → "60", 12,345 → "12,300",
    /// 0.0000123 → "1.23e-05"; "–" for none, "NaN" and "∞" as such.</summary>
    public static string Number(double? value)
    {
        if (value is not { } v) return "–";
        if (double.IsNaN(v)) return "NaN";
        if (double.IsInfinity(v)) return v > 0 ? "∞" : "-∞";
        if (v == 0) return "0";
        var magnitude = (int)Math.Floor(Math.Log10(Math.Abs(v)));
        if (magnitude < -3 || magnitude >= 15) return v.ToString("0.##e+00", inv);
        // rounded to 3 significant digits, then written without trailing zeros
        var scale = Math.Pow(10, 2 - magnitude);
        var rounded = magnitude >= 2 ? Math.Round(v / Math.Pow(10, magnitude - 2)) * Math.Pow(10, magnitude - 2) : Math.Round(v * scale) / scale;
        return Math.Abs(rounded) >= 1000 ? rounded.ToString("N0", inv) : rounded.ToString("0.#####", inv);
    }

    /// <summary>A count with thousands separators: 50013 → "50,013".</summary>
    public static string Count(long value) => value.ToString("N0", inv);
}
