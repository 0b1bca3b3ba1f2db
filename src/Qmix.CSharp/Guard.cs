using System.Diagnostics.CodeAnalysis;

namespace Qmix;

/// <summary>Argument checks at the facade's boundary: every failure names the argument.</summary>
internal static class Guard
{
    public static T NotNull<T>([NotNull] T? value, string name) where T : class =>
        value ?? throw new ArgumentNullException(name);

    public static string NotEmpty([NotNull] string? value, string name)
    {
        ArgumentNullException.ThrowIfNull(value, name);
        if (string.IsNullOrWhiteSpace(value)) throw new ArgumentException($"{name} must not be empty", name);
        return value;
    }

    public static int AtLeast(int value, int min, string name) =>
        value >= min ? value : throw new ArgumentOutOfRangeException(name, value, $"{name} must be at least {min}, got {value}");

    public static double Positive(double value, string name) =>
        double.IsFinite(value) && value > 0
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must be a positive finite number, got {value}");

    /// <summary>value in [min, max] (both inclusive), finite.</summary>
    public static double InRange(double value, double min, double max, string name) =>
        double.IsFinite(value) && value >= min && value <= max
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must be in [{min}, {max}], got {value}");

    /// <summary>value in (min, max] (min exclusive), finite.</summary>
    public static double InHalfOpen(double value, double min, double max, string name) =>
        double.IsFinite(value) && value > min && value <= max
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must be in ({min}, {max}], got {value}");

    /// <summary>value in [min, max) (max exclusive), finite.</summary>
    public static double InClosedOpen(double value, double min, double max, string name) =>
        double.IsFinite(value) && value >= min && value < max
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must be in [{min}, {max}), got {value}");

    public static double NonNegative(double value, string name) =>
        double.IsFinite(value) && value >= 0
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must be a non-negative finite number, got {value}");
}
