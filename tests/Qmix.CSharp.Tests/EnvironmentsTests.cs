using Xunit;

namespace Qmix.Tests;

/// <summary>The catalogue of built-in environments and stepping one by hand.</summary>
public class EnvironmentsTests
{
    [Fact]
    public void The_catalogue_names_every_family_with_sizes()
    {
        Assert.Contains("two-step", Environments.Names);
        Assert.Contains("checkers", Environments.Names);
        Assert.Contains("combat:3m", Environments.Names);
        Assert.Contains("lbf:10x10-3p-3f", Environments.Names);
        Assert.Equal(Environments.Names, Environments.Catalogue.Select(e => e.Name));
        Assert.All(Environments.Catalogue, e =>
        {
            Assert.False(string.IsNullOrWhiteSpace(e.Description));
            Assert.True(e.Spec.Agents >= 1 && e.Spec.Actions >= 1 && e.Spec.EpisodeLimit >= 1);
        });
        Assert.Contains("3m", Environments.CombatMaps);
        Assert.Contains("10x10-3p-3f", Environments.LbfTasks);
    }

    [Fact]
    public void Typed_factories_make_each_family()
    {
        Assert.Equal(new EnvironmentSpec("two-step", 2, 2, 4, 4, 2), Environments.TwoStep().Spec);
        Assert.Equal("matrix:non-monotonic", Environments.NonMonotonic().Name);
        Assert.Equal("matrix:climbing", Environments.Climbing().Name);
        Assert.Equal("matrix:climbing-repeated", Environments.Climbing(repeated: true).Name);
        Assert.Equal("matrix:penalty-repeated", Environments.Penalty(repeated: true).Name);
        Assert.Equal(2, Environments.Checkers().Spec.Agents);
        Assert.Equal(4, Environments.Switch(4).Spec.Agents);
        Assert.Equal(4, Environments.PredatorPrey(7).Spec.Agents);
        Assert.Equal(3, Environments.Lbf("10x10-3p-3f").Spec.Agents);
        var combat = Environments.Combat("3m");
        Assert.Equal("combat:3m", combat.Name);
        Assert.Equal(3, combat.Spec.Agents);
        Assert.Equal(60, combat.Spec.EpisodeLimit);
        foreach (var name in Environments.Names) Assert.Equal(name, Environments.Create(name).Name);
    }

    [Fact]
    public void The_two_step_game_can_be_stepped_by_hand()
    {
        var env = Environments.TwoStep();
        env.Reset(seed: 0);
        Assert.Equal(8, env.Observations.Length);
        Assert.Equal(4, env.State.Length);
        Assert.All(env.AvailableActions, Assert.True);
        Assert.Contains("two-step", env.Render(), StringComparison.OrdinalIgnoreCase);
        var first = env.Step([1, 0]);
        Assert.Equal(new StepResult(0f, false), first);
        var second = env.Step([1, 1]);
        Assert.Equal(8f, second.Reward);
        Assert.True(second.Terminated && second.Done);
        Assert.True(env.IsDone);
        Assert.Equal(2, env.StepCount);
        Assert.Throws<InvalidOperationException>(() => env.Step([0, 0]));
    }

    [Fact]
    public void An_episode_at_its_limit_is_reported_truncated()
    {
        var env = Environments.Climbing(repeated: true);
        env.Reset(1);
        StepResult r = default;
        for (var t = 0; t < env.Spec.EpisodeLimit; t++) r = env.Step([0, 0]);
        Assert.True(r.Done);
        Assert.True(env.IsDone);
    }

    [Fact]
    public void Names_are_found_in_any_case_and_a_family_takes_its_full_name()
    {
        Assert.Equal("combat:3m", Environments.Combat("combat:3m").Name);
        Assert.Equal("combat:3s5z", Environments.Combat("3S5Z").Name);
        Assert.Equal("two-step", Environments.Create("Two-Step").Name);
        Assert.Equal("combat:2s3z", Environments.Create("COMBAT:2s3z").Name);
        Assert.Equal("lbf:10x10-3p-3f", Environments.Lbf("lbf:10x10-3p-3f").Name);
        // still only the registered names
        Assert.Throws<ArgumentException>(() => Environments.Combat("combat:4m"));
        Assert.Throws<ArgumentException>(() => Environments.Create("two_step"));
    }

    [Fact]
    public void Unknown_names_are_reported_with_the_known_ones()
    {
        var e = Assert.Throws<ArgumentException>(() => Environments.Create("chess"));
        Assert.Equal("name", e.ParamName);
        Assert.Contains("chess", e.Message);
        Assert.Contains("two-step", e.Message);
        var map = Assert.Throws<ArgumentException>(() => Environments.Combat("4m"));
        Assert.Equal("map", map.ParamName);
        Assert.Contains("3s5z", map.Message);
        var task = Assert.Throws<ArgumentException>(() => Environments.Lbf("9x9-1p-1f"));
        Assert.Equal("task", task.ParamName);
        Assert.Contains("10x10-3p-3f", task.Message);
        Assert.Equal("name", Assert.Throws<ArgumentNullException>(() => Environments.Create(null!)).ParamName);
        Assert.Equal("map", Assert.Throws<ArgumentNullException>(() => Environments.Combat(null!)).ParamName);
        Assert.Equal("agents", Assert.Throws<ArgumentOutOfRangeException>(() => Environments.Switch(3)).ParamName);
        Assert.Equal("gridSize", Assert.Throws<ArgumentOutOfRangeException>(() => Environments.PredatorPrey(6)).ParamName);
    }

    [Fact]
    public void Bad_hand_steps_are_rejected()
    {
        var env = Environments.TwoStep();
        Assert.Throws<InvalidOperationException>(() => env.Step([0, 0]));
        Assert.Throws<InvalidOperationException>(() => env.Observations);
        env.Reset(0);
        Assert.Equal("actions", Assert.Throws<ArgumentNullException>(() => env.Step(null!)).ParamName);
        Assert.Equal("actions", Assert.Throws<ArgumentException>(() => env.Step([0, 0, 0])).ParamName);
        Assert.Equal("actions", Assert.Throws<ArgumentException>(() => env.Step([0, 2])).ParamName);
    }

    [Fact]
    public void A_spec_checks_its_sizes()
    {
        Assert.Equal("name", Assert.Throws<ArgumentNullException>(() => new EnvironmentSpec(null!, 1, 1, 1, 1, 1)).ParamName);
        Assert.Equal("name", Assert.Throws<ArgumentException>(() => new EnvironmentSpec(" ", 1, 1, 1, 1, 1)).ParamName);
        Assert.Equal("agents", Assert.Throws<ArgumentOutOfRangeException>(() => new EnvironmentSpec("x", 0, 1, 1, 1, 1)).ParamName);
        Assert.Equal("actions", Assert.Throws<ArgumentOutOfRangeException>(() => new EnvironmentSpec("x", 1, 0, 1, 1, 1)).ParamName);
        Assert.Equal("observationSize", Assert.Throws<ArgumentOutOfRangeException>(() => new EnvironmentSpec("x", 1, 1, 0, 1, 1)).ParamName);
        Assert.Equal("stateSize", Assert.Throws<ArgumentOutOfRangeException>(() => new EnvironmentSpec("x", 1, 1, 1, 0, 1)).ParamName);
        Assert.Equal("episodeLimit", Assert.Throws<ArgumentOutOfRangeException>(() => new EnvironmentSpec("x", 1, 1, 1, 1, 0)).ParamName);
        Assert.NotEqual(new EnvironmentSpec("x", 1, 1, 1, 1, 1), new EnvironmentSpec("x", 1, 1, 1, 1, 2));
    }

    [Fact]
    public void Combat_draws_graphical_frames_and_reports_the_outcome_only_at_the_end()
    {
        var env = Environments.Create("combat:3m");
        Assert.True(env.SupportsSvg);
        Assert.Throws<InvalidOperationException>(() => env.RenderSvg());
        env.Reset(seed: 1);
        var svg = System.Xml.Linq.XDocument.Parse(env.RenderSvg());
        // the units are circles (3 allies, 3 enemies), each with a health bar (two rects)
        Assert.Equal(6, svg.Descendants().Count(e => e.Name.LocalName == "circle"));
        Assert.True(svg.Descendants().Count(e => e.Name.LocalName == "rect") >= 1 + 2 * 6);
        // hold position (stop, action 1, where it is available) to the end: no outcome before the last step
        var results = new List<StepResult>();
        var n = env.Spec.Actions;
        while (!env.IsDone)
        {
            var available = env.AvailableActions;
            results.Add(env.Step([.. Enumerable.Range(0, 3).Select(a =>
                Enumerable.Range(0, n).OrderBy(u => u == 1 ? -1 : u).First(u => available[a * n + u]))]));
        }
        Assert.True(results.Count > 1);
        Assert.All(results.SkipLast(1), r => Assert.Null(r.Won));
        Assert.NotNull(results[^1].Won);
        Assert.DoesNotContain("lost", env.Render());
    }

    [Fact]
    public void Every_environment_but_the_matrix_games_draws_SVG_and_the_others_say_they_cannot()
    {
        foreach (var name in Environments.Names)
        {
            var env = Environments.Create(name);
            env.Reset(seed: 2);
            var matrix = name == "two-step" || name.StartsWith("matrix:", StringComparison.Ordinal);
            Assert.Equal(!matrix, env.SupportsSvg);
            if (matrix)
            {
                // negative control: no graphical renderer, and the error names the environment
                var e = Assert.Throws<NotSupportedException>(() => env.RenderSvg());
                Assert.Contains(name, e.Message);
            }
            else
            {
                Assert.Equal("svg", System.Xml.Linq.XDocument.Parse(env.RenderSvg()).Root!.Name.LocalName);
            }
        }
        var custom = Environments.Custom(new MatchGame());
        Assert.False(custom.SupportsSvg);
        custom.Reset(seed: 0);
        Assert.Throws<NotSupportedException>(() => custom.RenderSvg());
    }

    [Fact]
    public void A_frame_sheet_lays_out_frames_under_their_captions()
    {
        var env = Environments.Combat("3m");
        env.Reset(seed: 0);
        var first = env.RenderSvg();
        env.Step([1, 1, 1]);
        var sheet = System.Xml.Linq.XDocument.Parse(Charts.FrameSheet("3m", [first, env.RenderSvg()], ["t = 0", "t = 1\nactions (1, 1, 1)"]));
        var cells = sheet.Root!.Elements().Where(e => (string?)e.Attribute("class") == "frame").ToList();
        Assert.Equal(2, cells.Count);
        Assert.Equal(["t = 1", "actions (1, 1, 1)"], cells[1].Elements().Where(e => e.Name.LocalName == "text").Select(e => e.Value));
        Assert.All(cells, c => Assert.Equal(6, c.Descendants().Count(e => e.Name.LocalName == "circle")));
        Assert.Throws<ArgumentException>(() => Charts.FrameSheet("3m", [first], ["a", "b"]));
        Assert.Throws<ArgumentException>(() => Charts.FrameSheet("3m", []));
        Assert.Throws<ArgumentOutOfRangeException>(() => Charts.FrameSheet("3m", [first], columns: 0));
    }
}
