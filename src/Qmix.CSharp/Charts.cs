using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;
using F = Qmix.Functional;

namespace Qmix;

/// <summary>One point of a chart.</summary>
/// <param name="X">The horizontal coordinate, e.g. environment steps.</param>
/// <param name="Y">The vertical coordinate, e.g. the test return.</param>
public readonly record struct ChartPoint(double X, double Y);

/// <summary>A named line of a <see cref="Charts.Line"/> chart.</summary>
/// <param name="Name">The legend text.</param>
/// <param name="Points">The points, drawn in this order; points with a NaN or infinite coordinate are skipped (the
/// chart notes how many).</param>
public sealed record ChartSeries(string Name, IReadOnlyList<ChartPoint> Points);

/// <summary>A horizontal reference line across a chart (<see cref="ChartOptions.ReferenceLines"/>), drawn dashed in
/// grey with its own legend entry, e.g. the largest return beside Q-values.</summary>
/// <param name="Name">The legend text.</param>
/// <param name="Y">The height of the line; the y axis covers it. Finite.</param>
public sealed record ChartReferenceLine(string Name, double Y);

/// <summary>Several runs (seeds) of one configuration for a <see cref="Charts.Band"/> chart: drawn as their mean
/// with a shaded 95% confidence band, labelled "name (n seeds)".</summary>
/// <param name="Name">The configuration's name.</param>
/// <param name="Runs">One list of points per run; runs may log at different x values (they are interpolated onto
/// a common grid, see <see cref="Charts.MeanBand"/>).</param>
public sealed record SeedGroup(string Name, IReadOnlyList<IReadOnlyList<ChartPoint>> Runs);

/// <summary>One point of a mean with its 95% confidence interval (<see cref="Charts.MeanBand"/>).</summary>
/// <param name="X">The horizontal coordinate.</param>
/// <param name="Mean">The mean of the runs at <paramref name="X"/>.</param>
/// <param name="Lower">The lower end of the 95% confidence interval of the mean.</param>
/// <param name="Upper">The upper end of the 95% confidence interval of the mean.</param>
public readonly record struct BandPoint(double X, double Mean, double Lower, double Upper);

/// <summary>How a chart looks beyond its title and labels.</summary>
public sealed record ChartOptions
{
    /// <summary>The width in pixels (720, at least 200).</summary>
    public int Width { get; init => field = Guard.AtLeast(value, 200, nameof(Width)); } = 720;

    /// <summary>The height in pixels (420, at least 150).</summary>
    public int Height { get; init => field = Guard.AtLeast(value, 150, nameof(Height)); } = 420;

    /// <summary>A value the y axis covers at least (e.g. 0 for win rates); null for the data's range.</summary>
    public double? YMin { get; init => field = value is { } v ? Finite(v, nameof(YMin)) : null; }

    /// <summary>A value the y axis covers at least (e.g. 1 for win rates); null for the data's range.</summary>
    public double? YMax { get; init => field = value is { } v ? Finite(v, nameof(YMax)) : null; }

    /// <summary>Horizontal reference lines, drawn dashed under the series (none by default); each one's height must
    /// be finite.</summary>
    public IReadOnlyList<ChartReferenceLine> ReferenceLines
    {
        get;
        init => field = value is null
            ? throw new ArgumentNullException(nameof(ReferenceLines))
            : value.Select((r, i) => r is null
                ? throw new ArgumentNullException(nameof(ReferenceLines), $"reference line {i} is null")
                : r with
                {
                    Name = r.Name ?? throw new ArgumentNullException(nameof(ReferenceLines), $"reference line {i} has no name"),
                    Y = Finite(r.Y, nameof(ReferenceLines)),
                }).ToArray();
    } = [];

    static double Finite(double v, string name) =>
        double.IsFinite(v) ? v : throw new ArgumentOutOfRangeException(name, v, $"{name} must be finite, got {v}");
}

/// <summary>Line charts as standalone SVG documents, written by the library (no plotting package needed): learning
/// curves with a legend, and the mean of several seeds with a shaded 95% confidence band.</summary>
/// <remarks>The charts have axes with "nice" ticks (1, 2 or 5 × 10^k) and compact tick labels (500k, 1.5M), the
/// Tableau 10 palette and a legend on the right. Each series is a <c>&lt;polyline class="series"
/// data-series="NAME"&gt;</c>, each band a <c>&lt;path class="band"&gt;</c>, so tests and tools can find them.</remarks>
public static class Charts
{
    /// <summary>A chart of several lines.</summary>
    /// <param name="title">The title above the plot; empty for none.</param>
    /// <param name="xLabel">The x axis label; empty for none.</param>
    /// <param name="yLabel">The y axis label; empty for none.</param>
    /// <param name="series">The lines, at least one, each with at least one finite point.</param>
    /// <param name="options">Size and y range; null for the defaults.</param>
    /// <returns>The SVG document.</returns>
    /// <exception cref="ArgumentNullException">An argument (or a series, or its points) is null.</exception>
    /// <exception cref="ArgumentException">There are no series, or a series has no finite point (the message names
    /// it).</exception>
    public static string Line(
        string title, string xLabel, string yLabel, IReadOnlyList<ChartSeries> series, ChartOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(series);
        var list = series.Select((s, i) =>
        {
            if (s is null) throw new ArgumentNullException(nameof(series), $"series {i} is null");
            ArgumentNullException.ThrowIfNull(s.Name, nameof(series));
            return new F.Series(s.Name, Points(s.Points, nameof(series)));
        }).ToList();
        if (list.Count == 0) throw new ArgumentException("no series to draw", nameof(series));
        return Wrap(() => F.Plots.lineChart(Config(title, xLabel, yLabel, options), ListModule.OfSeq(list)), nameof(series));
    }

    /// <summary>A chart of several configurations run with several seeds each: per group, the mean line of its runs
    /// over a shaded 95% confidence band (Student's t over the seeds; a single run is drawn as a plain line).</summary>
    /// <param name="title">The title above the plot; empty for none.</param>
    /// <param name="xLabel">The x axis label; empty for none.</param>
    /// <param name="yLabel">The y axis label; empty for none.</param>
    /// <param name="groups">The configurations, at least one, each with at least one run.</param>
    /// <param name="options">Size and y range; null for the defaults.</param>
    /// <returns>The SVG document.</returns>
    /// <exception cref="ArgumentNullException">An argument (or a group, or a run) is null.</exception>
    /// <exception cref="ArgumentException">There are no groups, a group has no runs, a run has no finite point, or the
    /// runs of a group do not overlap in x (the message names the group).</exception>
    public static string Band(
        string title, string xLabel, string yLabel, IReadOnlyList<SeedGroup> groups, ChartOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(groups);
        var list = groups.Select((g, i) =>
        {
            if (g is null) throw new ArgumentNullException(nameof(groups), $"group {i} is null");
            ArgumentNullException.ThrowIfNull(g.Name, nameof(groups));
            ArgumentNullException.ThrowIfNull(g.Runs, nameof(groups));
            return new F.SeedGroup(g.Name, g.Runs.Select(r => Points(r, nameof(groups))).ToArray());
        }).ToList();
        if (list.Count == 0) throw new ArgumentException("no groups to draw", nameof(groups));
        return Wrap(() => F.Plots.bandChart(Config(title, xLabel, yLabel, options), ListModule.OfSeq(list)), nameof(groups));
    }

    /// <summary>Line charts to stack one above the other with <see cref="Stack"/>, drawn so that their x axes line up:
    /// all on the x range of all their points and with the same plot-area left and right edges.</summary>
    /// <param name="xLabel">The x axis label of every panel; empty for none.</param>
    /// <param name="panels">The panels: title, y label, lines and options (each as <see cref="Line"/> takes them), at
    /// least one, all of one width.</param>
    /// <returns>The SVG documents, in the order of <paramref name="panels"/>.</returns>
    internal static IReadOnlyList<string> AlignedLines(
        string xLabel, IReadOnlyList<(string Title, string YLabel, IReadOnlyList<ChartSeries> Series, ChartOptions? Options)> panels)
    {
        var core = panels.Select(p => Tuple.Create(Config(p.Title, xLabel, p.YLabel, p.Options),
            ListModule.OfSeq(p.Series.Select(s => new F.Series(s.Name, Points(s.Points, nameof(panels))))))).ToList();
        return Wrap(() => F.Plots.alignedLineCharts(ListModule.OfSeq(core)), nameof(panels)).ToArray();
    }

    /// <summary>The mean of several runs with the 95% confidence interval of the mean at each x: every x at which
    /// some run logged, within the range all runs cover, each run interpolated linearly onto it; the interval is
    /// mean ± t·s/√n with Student's t for n − 1 degrees of freedom (lower = upper = mean for one run).</summary>
    /// <param name="runs">The runs, at least one, each with a finite point.</param>
    /// <returns>The points, by increasing x.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="runs"/> or a run is null.</exception>
    /// <exception cref="ArgumentException">There are no runs, a run has no finite point, or the runs do not overlap
    /// in x.</exception>
    public static IReadOnlyList<BandPoint> MeanBand(IReadOnlyList<IReadOnlyList<ChartPoint>> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var core = runs.Select(r => Points(r, nameof(runs))).ToArray();
        return Wrap(() => F.Statistics.meanBand(core), nameof(runs))
            .Select(p => new BandPoint(p.Item1, p.Item2, p.Item3, p.Item4)).ToArray();
    }

    /// <summary>Several charts (SVG documents from <see cref="Line"/> or <see cref="Band"/>) one above the other in
    /// one SVG document, as wide as the widest.</summary>
    /// <param name="charts">The charts, at least one.</param>
    /// <returns>The SVG document.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="charts"/> or a chart is null.</exception>
    /// <exception cref="ArgumentException">There are no charts, or one is not an SVG document with a width and a
    /// height.</exception>
    public static string Stack(IReadOnlyList<string> charts)
    {
        ArgumentNullException.ThrowIfNull(charts);
        if (charts.Count == 0) throw new ArgumentException("no charts to stack", nameof(charts));
        if (charts.Count == 1) return Guard.NotNull(charts[0], nameof(charts));
        var size = new Regex("^<svg[^>]*?\\swidth=\"(\\d+(?:\\.\\d+)?)\"[^>]*?\\sheight=\"(\\d+(?:\\.\\d+)?)\"");
        var parts = new List<(string Svg, double Width, double Height)>();
        foreach (var chart in charts)
        {
            ArgumentNullException.ThrowIfNull(chart, nameof(charts));
            var body = chart.TrimStart();
            if (body.StartsWith("<?xml", StringComparison.Ordinal)) body = body[(body.IndexOf("?>", StringComparison.Ordinal) + 2)..].TrimStart();
            var m = size.Match(body);
            if (!m.Success) throw new ArgumentException("a chart is not an SVG document with a width and a height", nameof(charts));
            parts.Add((body, double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture),
                double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)));
        }
        var w = parts.Max(p => p.Width);
        var h = parts.Sum(p => p.Height);
        var inv = CultureInfo.InvariantCulture;
        var b = new StringBuilder();
        b.Append(inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\n");
        b.Append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        var y = 0.0;
        foreach (var (svg, _, height) in parts)
        {
            // a nested <svg> placed at (0, y): the chart keeps its own coordinates
            b.Append(inv, $"<svg x=\"0\" y=\"{y}\"").Append(svg["<svg".Length..]).Append('\n');
            y += height;
        }
        b.Append("</svg>\n");
        return b.ToString();
    }

    /// <summary>A sheet of SVG frames, e.g. the <see cref="MultiAgentEnvironment.RenderSvg"/> frames of an episode:
    /// a title line, then the frames left to right and top to bottom, each scaled to 320 pixels wide under its
    /// caption.</summary>
    /// <param name="title">The sheet's title.</param>
    /// <param name="frames">The frames, at least one; standalone SVG documents with a width and a height.</param>
    /// <param name="captions">One caption per frame (several lines separated by <c>\n</c>), or null for none.</param>
    /// <param name="columns">Frames per row (4), at least 1.</param>
    /// <returns>The SVG document.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="title"/> or <paramref name="frames"/> is null.</exception>
    /// <exception cref="ArgumentException">No frames, a frame that is not an SVG document with a size, or captions that
    /// do not match the frames one to one.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="columns"/> is below 1.</exception>
    public static string FrameSheet(string title, IReadOnlyList<string> frames, IReadOnlyList<string>? captions = null,
        int columns = 4)
    {
        ArgumentNullException.ThrowIfNull(title);
        ArgumentNullException.ThrowIfNull(frames);
        Guard.AtLeast(columns, 1, nameof(columns));
        if (frames.Count == 0) throw new ArgumentException("no frames to lay out", nameof(frames));
        if (captions is not null && captions.Count != frames.Count)
            throw new ArgumentException($"{captions.Count} captions for {frames.Count} frames: give one per frame, or none",
                nameof(captions));
        return F.Envs.SvgSheet.compose(title, columns, captions?.ToArray() ?? [], frames.ToArray());
    }

    /// <summary>Writes an SVG document to a file atomically (a reader never sees half a chart); creates the
    /// folder.</summary>
    /// <param name="path">The file, e.g. <c>runs/3m/curves.svg</c>.</param>
    /// <param name="svg">The document.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static void Save(string path, string svg)
    {
        Guard.NotEmpty(path, nameof(path));
        ArgumentNullException.ThrowIfNull(svg);
        F.Plots.save(path, svg);
    }

    static Tuple<double, double>[] Points(IReadOnlyList<ChartPoint>? points, string param)
    {
        if (points is null) throw new ArgumentNullException(param, "a list of points is null");
        return points.Select(p => Tuple.Create(p.X, p.Y)).ToArray();
    }

    static F.ChartConfig Config(string title, string xLabel, string yLabel, ChartOptions? options)
    {
        ArgumentNullException.ThrowIfNull(title);
        ArgumentNullException.ThrowIfNull(xLabel);
        ArgumentNullException.ThrowIfNull(yLabel);
        options ??= new ChartOptions();
        var d = F.ChartConfig.defaults;
        var range = (options.YMin, options.YMax) switch
        {
            ({ } lo, { } hi) => FSharpOption<Tuple<double, double>>.Some(Tuple.Create(Math.Min(lo, hi), Math.Max(lo, hi))),
            ({ } lo, null) => FSharpOption<Tuple<double, double>>.Some(Tuple.Create(lo, lo)),
            (null, { } hi) => FSharpOption<Tuple<double, double>>.Some(Tuple.Create(hi, hi)),
            _ => FSharpOption<Tuple<double, double>>.None,
        };
        var references = ListModule.OfSeq(options.ReferenceLines.Select(r => new F.ReferenceLine(r.Name, r.Y)));
        return new F.ChartConfig(title, xLabel, yLabel, options.Width, options.Height, d.Palette, d.FontFamily, d.FontSize,
            d.StrokeWidth, d.BandOpacity, range, references);
    }

    /// <summary>Runs a core call, giving its argument errors the facade's parameter name.</summary>
    static T Wrap<T>(Func<T> f, string param)
    {
        try
        {
            return f();
        }
        catch (ArgumentException e) when (e.ParamName != param)
        {
            throw new ArgumentException(e.Message.Split(" (Parameter")[0], param, e);
        }
    }
}
