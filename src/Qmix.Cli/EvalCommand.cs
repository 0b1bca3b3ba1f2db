using System.CommandLine;
using System.Globalization;
using System.Security;
using System.Text;

namespace Qmix.Cli;

/// <summary><c>qmix eval</c>: greedy episodes of a run's (or a checkpoint's) policy: return, win rate, episode
/// lengths; optionally one episode's frames as text or SVG.</summary>
internal static class EvalCommand
{
    public static Command Create(Io io)
    {
        var path = new Argument<string>("RUN_DIR_OR_CHECKPOINT") { Description = "A run directory, or a model file (NAME.safetensors with its NAME.options.json)" };
        var episodes = new Option<int>("--episodes") { Description = "Greedy episodes", DefaultValueFactory = _ => 100, HelpName = "N" };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the episodes", DefaultValueFactory = _ => 0UL };
        var env = new Option<string?>("--env") { Description = "The environment; default the run's (or the model's spec name)", HelpName = "NAME" };
        var render = new Option<string?>("--render")
        {
            Description = "Also play one episode and show its frames: text (printed) or svg (written to --frames; the environment's " +
                "graphical frames, or its text frames in monospace for environments without a graphical renderer: the matrix games)",
        };
        render.AcceptOnlyFromAmong("text", "svg");
        var frames = new Option<string?>("--frames") { Description = "The SVG file of --render svg; default episode.svg in the run directory (or beside the model)", HelpName = "FILE" };
        var command = new Command("eval", "Evaluate a trained policy greedily: mean return, win rate, episode lengths")
        {
            path, episodes, seed, env, render, frames,
        };
        command.SetAction(r => Run(io, r.GetValue(path)!, r.GetValue(episodes), r.GetValue(seed), r.GetValue(env), r.GetValue(render), r.GetValue(frames)));
        return command;
    }

    static int Run(Io io, string path, int episodes, ulong seed, string? envName, string? render, string? framesPath)
    {
        if (episodes < 1) throw new UsageException($"--episodes {episodes}: at least 1");
        Policy policy;
        string folder;
        if (Directory.Exists(path))
        {
            var run = RunDirectory.Load(path);
            if (run.CheckpointPath is null) throw new UsageException($"{path} has no checkpoint (checkpoints/model.safetensors)");
            policy = run.LoadPolicy();
            envName ??= run.Config.Environment;
            folder = path;
        }
        else
        {
            if (!File.Exists(path)) throw new UsageException($"{path}: no such run directory or model file");
            policy = Policy.Load(path);
            envName ??= Names.RegisteredName(policy.Spec.Name)
                ?? throw new UsageException($"the model is for '{policy.Spec.Name}', which is not a built-in environment; pass --env");
            folder = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        }
        var env = Names.Environment(envName);
        var result = Evaluation.Run(policy, env, episodes, seed);
        var inv = CultureInfo.InvariantCulture;
        var returns = result.Returns;
        var mean = result.MeanReturn;
        var sd = returns.Count > 1 ? Math.Sqrt(returns.Sum(x => (x - mean) * (x - mean)) / (returns.Count - 1)) : 0;
        var lengths = result.EpisodeLengths;
        io.Out.WriteLine($"{RunDirectory.AlgorithmName(policy.Options.Algorithm)} policy on {envName}, {result.Episodes} greedy episodes (seed {seed}):");
        io.Out.WriteLine($"  return        mean {Format.Number(mean)}  sd {Format.Number(sd)}  min {Format.Number(returns.Min())}  max {Format.Number(returns.Max())}");
        io.Out.WriteLine(result.WinRate is { } w ? $"  win rate      {Format.Percent(w)}" : "  win rate      – (the environment reports no wins)");
        io.Out.WriteLine($"  episode length mean {Format.Number(lengths.Average())}  min {Format.Count(lengths.Min())}  max {Format.Count(lengths.Max())}");

        if (render is null) return Cli.Ok;
        var graphical = render == "svg" && env.SupportsSvg;
        var frames = PlayOne(policy, env, seed, graphical);
        if (render == "text")
        {
            foreach (var f in frames)
            {
                io.Out.WriteLine(f.Caption);
                io.Out.WriteLine(f.Text.TrimEnd());
                io.Out.WriteLine();
            }
        }
        else
        {
            var file = framesPath ?? Path.Combine(folder, "episode.svg");
            var title = $"{envName}: one greedy episode (seed {seed})";
            Charts.Save(file, graphical
                ? Charts.FrameSheet(title, frames.Select(f => f.Svg!).ToList(), frames.Select(f => f.SvgCaption).ToList())
                : Sheet(title, frames.Select(f => (f.Caption, f.Text)).ToList()));
            io.Out.WriteLine($"frames: {file} ({frames.Count} {(graphical ? "graphical" : "text")} frames)");
        }
        return Cli.Ok;
    }

    /// <summary>A frame of an episode: its caption (one line, and two lines for the SVG sheet), its text frame, and its
    /// graphical frame when asked for.</summary>
    sealed record Frame(string Caption, string SvgCaption, string Text, string? Svg);

    /// <summary>One greedy episode played by hand: a frame per state. The outcome (won or lost) is named on the last
    /// frame only, where the environment reports it.</summary>
    static List<Frame> PlayOne(Policy policy, MultiAgentEnvironment env, ulong seed, bool graphical)
    {
        var frames = new List<Frame>();
        policy = policy.Clone();
        env.Reset(seed);
        frames.Add(new("t = 0", "t = 0", env.Render(), graphical ? env.RenderSvg() : null));
        var total = 0.0;
        var inv = CultureInfo.InvariantCulture;
        while (!env.IsDone)
        {
            var actions = policy.Act(env.Observations, env.AvailableActions);
            var step = env.Step(actions);
            total += step.Reward;
            var won = env.IsDone && step.Won is { } w ? (w ? ", won" : ", lost") : "";
            var head = $"t = {env.StepCount}";
            var acted = $"actions ({string.Join(", ", actions)})";
            var paid = $"reward {Format.Number(step.Reward)}, return {Format.Number(total)}{won}";
            frames.Add(new($"{head}: {acted}, {paid}", $"{head}: {paid}\n{acted}", env.Render(), graphical ? env.RenderSvg() : null));
        }
        return frames;
    }

    /// <summary>Text frames as an SVG sheet: one monospace block per frame, left to right, wrapping.</summary>
    static string Sheet(string title, List<(string Caption, string Frame)> frames)
    {
        const double fs = 12, lh = 14.5, cw = 7.3, pad = 14;
        var blocks = frames.Select(f => (f.Caption, Lines: f.Frame.TrimEnd().Split('\n').Select(l => l.TrimEnd('\r')).ToArray())).ToList();
        var bw = blocks.Max(b => Math.Max(b.Lines.Max(l => l.Length) * cw, b.Caption.Length * cw * 0.8)) + 2 * pad;
        var bh = blocks.Max(b => b.Lines.Length) * lh + 2 * lh + 2 * pad;
        var columns = Math.Max(1, Math.Min(blocks.Count, (int)(1400 / bw)));
        var rows = (blocks.Count + columns - 1) / columns;
        double width = columns * bw, height = rows * bh + 30;
        var inv = CultureInfo.InvariantCulture;
        var b = new StringBuilder();
        b.Append(inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:0}\" height=\"{height:0}\" viewBox=\"0 0 {width:0} {height:0}\" font-family=\"monospace\" font-size=\"{fs}\">\n");
        b.Append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        b.Append(inv, $"<text x=\"{pad}\" y=\"20\" font-family=\"sans-serif\" font-size=\"15\" font-weight=\"bold\">{SecurityElement.Escape(title)}</text>\n");
        for (var i = 0; i < blocks.Count; i++)
        {
            double x = i % columns * bw, y = 30 + i / columns * bh;
            b.Append(inv, $"<g class=\"frame\" transform=\"translate({x:0.#},{y:0.#})\">");
            b.Append(inv, $"<rect x=\"4\" y=\"4\" width=\"{bw - 8:0.#}\" height=\"{bh - 8:0.#}\" fill=\"#f7f7f7\" stroke=\"#cccccc\" rx=\"4\"/>");
            b.Append(inv, $"<text x=\"{pad}\" y=\"{pad + lh:0.#}\" font-family=\"sans-serif\" font-size=\"{fs * 0.85:0.#}\" fill=\"#555555\">{SecurityElement.Escape(blocks[i].Caption)}</text>");
            for (var j = 0; j < blocks[i].Lines.Length; j++)
                b.Append(inv, $"<text x=\"{pad}\" y=\"{pad + (j + 2.5) * lh:0.#}\" xml:space=\"preserve\">{SecurityElement.Escape(blocks[i].Lines[j])}</text>");
            b.Append("</g>\n");
        }
        b.Append("</svg>\n");
        return b.ToString();
    }
}
