using System.Xml.Linq;
using Xunit;

namespace Qmix.Tests;

/// <summary>SVG charts through the facade.</summary>
public class ChartsTests
{
    static IReadOnlyList<ChartPoint> Curve(double slope, double offset) =>
        Enumerable.Range(0, 11).Select(i => new ChartPoint(i * 1000, offset + slope * i)).ToArray();

    static List<XElement> Elements(string svg, string name) =>
        XDocument.Parse(svg).Descendants().Where(e => e.Name.LocalName == name).ToList();

    [Fact]
    public void A_line_chart_is_well_formed_SVG_with_every_series()
    {
        var svg = Charts.Line("returns & wins", "step", "return",
            [new ChartSeries("test <return>", Curve(1, 0)), new ChartSeries("train return", Curve(0.5, 1))]);
        var lines = Elements(svg, "polyline");
        Assert.Equal(["test <return>", "train return"], lines.Select(l => (string?)l.Attribute("data-series")));
        Assert.Contains(Elements(svg, "text"), t => t.Value == "returns & wins");
    }

    [Fact]
    public void A_band_chart_draws_a_mean_and_a_band_per_group()
    {
        var groups = new[]
        {
            new SeedGroup("qmix", [Curve(1, 0), Curve(1.2, 0.5), Curve(0.8, -0.5)]),
            new SeedGroup("vdn", [Curve(0.5, 0), Curve(0.6, 0.2)]),
        };
        var svg = Charts.Band("", "step", "test return", groups, new ChartOptions { YMin = 0 });
        Assert.Equal(["qmix", "vdn"], Elements(svg, "polyline").Select(l => (string?)l.Attribute("data-series")));
        Assert.Equal(2, Elements(svg, "path").Count(p => (string?)p.Attribute("class") == "band"));
        Assert.Contains(Elements(svg, "text"), t => t.Value == "qmix (3 seeds)");

        var band = Charts.MeanBand(groups[0].Runs);
        Assert.Equal(11, band.Count);
        Assert.Equal(10, band[^1].Mean, 9);
        Assert.True(band[^1].Lower < band[^1].Mean && band[^1].Mean < band[^1].Upper);
    }

    [Fact]
    public void Stacked_charts_are_one_well_formed_document()
    {
        var a = Charts.Line("a", "step", "return", [new ChartSeries("a", Curve(1, 0))]);
        var b = Charts.Line("", "step", "win rate", [new ChartSeries("b", Curve(0.1, 0))], new ChartOptions { Height = 300, YMin = 0, YMax = 1 });
        var doc = XDocument.Parse(Charts.Stack([a, b]));
        Assert.Equal("720", (string?)doc.Root!.Attribute("width"));
        Assert.Equal("720", (string?)doc.Root!.Attribute("height"));
        Assert.Equal(2, doc.Root.Elements().Count(e => e.Name.LocalName == "svg"));
    }

    [Fact]
    public void Bad_input_is_rejected_naming_the_argument()
    {
        Assert.Equal("series", Assert.Throws<ArgumentException>(() => Charts.Line("", "", "", [])).ParamName);
        var nan = Assert.Throws<ArgumentException>(() => Charts.Line("", "", "", [new ChartSeries("flat", [new ChartPoint(double.NaN, 1)])]));
        Assert.Equal("series", nan.ParamName);
        Assert.Contains("flat", nan.Message);
        Assert.Equal("groups", Assert.Throws<ArgumentException>(() => Charts.Band("", "", "", [new SeedGroup("g", [])])).ParamName);
        Assert.Throws<ArgumentNullException>(() => Charts.Line("", "", "", null!));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ChartOptions { Width = 10 });
    }
}
