using System.CommandLine;
using System.Text;
using System.Text.Json;
using Qmix.Cli;
using Xunit;

namespace Qmix.Tests;

/// <summary>`qmix reproduce`: the grid's expansion, resuming, results, printed commands and scripts, and the memory
/// check; `qmix train --resume`.</summary>
public class ReproduceTests
{
    static (int Code, string Out, string Err) Qmix(params string[] args) => CliTests.Qmix(args);

    /// <summary>Tiny runs: two-step with small batches and buffers.</summary>
    static string TinyConfig(string dir)
    {
        var file = Path.Combine(dir, "tiny.json");
        File.WriteAllText(file, """{"batch_size": 8, "buffer_size": 50, "test_interval": 100, "test_episodes": 2}""");
        return file;
    }

    static ReproduceCommand.Request Request(
        string[]? envs = null, string[]? algos = null, string? seeds = null, string? grid = null, bool paper = false, string? @out = null,
        int? steps = null, string? config = null, int? buffer = null, int? saveInterval = null) =>
        new(envs, algos, seeds, null, steps, buffer, saveInterval, null, null, false, @out, config, grid, paper, null, false, false);

    /// <summary>A command line split as a POSIX shell splits words (plain words and single quotes).</summary>
    static string[] ShellWords(string line)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        var inWord = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (c == '\'')
            {
                var end = line.IndexOf('\'', i + 1);
                word.Append(line, i + 1, end - i - 1);
                i = end;
                inWord = true;
            }
            else if (c == '\\' && i + 1 < line.Length)
            {
                word.Append(line[++i]);
                inWord = true;
            }
            else if (char.IsWhiteSpace(c))
            {
                if (inWord) words.Add(word.ToString());
                word.Clear();
                inWord = false;
            }
            else
            {
                word.Append(c);
                inWord = true;
            }
        }
        if (inWord) words.Add(word.ToString());
        return [.. words];
    }

    // ------------------------------------------------------------------ expansion

    [Fact]
    public void The_grid_expands_to_every_environment_algorithm_preset_and_seed()
    {
        var grid = ReproduceCommand.BuildGrid(Request(["combat:3m,smax,two-step"], ["qmix,vdn"], "1..2", @out: "g"));
        var cells = grid.Cells();
        Assert.Equal(8, cells.Count);
        Assert.Equal(["combat:3m,smax", "two-step"], cells.Select(c => c.Env).Distinct());
        Assert.Equal(Path.Combine("g", "combat-3m-smax", "qmix-pymarl2", "seed-1"), cells[0].Dir);
        Assert.Equal(Path.Combine("g", "two-step", "vdn-paper-matrix-games", "seed-2"), cells[^1].Dir);
        Assert.All(cells, c => Assert.Equal(c.Seed, c.Options.Seed));
        Assert.All(cells, c => Assert.Equal(Grid.DefaultSaveInterval, c.Options.SaveInterval));
        Assert.Equal(Algorithm.Vdn, cells[^1].Options.Algorithm);
        Assert.Equal(TrainingOptions.Preset(TrainingPreset.PyMarl2).BatchSize, cells[0].Options.BatchSize);

        Assert.Equal(["combat:3m,smax", "combat:2s3z", "checkers"], Grid.SplitEnvs("combat:3m,smax,combat:2s3z,checkers"));
        Assert.Equal(["combat:2s3z,reward=smax,state=raw"], Grid.SplitEnvs("combat:2s3z,reward=smax,state=raw"));
        Assert.Throws<UsageException>(() => ReproduceCommand.BuildGrid(Request(["combat:99z"])).Cells());
        Assert.Throws<UsageException>(() => ReproduceCommand.BuildGrid(Request(["two-step"], ["qmax"])).Cells());
        Assert.Throws<UsageException>(() => ReproduceCommand.BuildGrid(Request()));
    }

    [Fact]
    public void The_paper_grid_is_qmix_on_six_maps_and_vdn_and_iql_on_four_with_five_seeds_on_3m()
    {
        var cells = ReproduceCommand.BuildGrid(Request(paper: true)).Cells();
        Assert.Equal(48, cells.Count);
        Assert.Equal(15, cells.Count(c => c.Env == "combat:3m"));
        Assert.Equal(["qmix"], cells.Where(c => c.Env is "combat:5m" or "combat:8m").Select(c => c.Algo).Distinct());
        Assert.Equal(["qmix", "vdn", "iql"], cells.Where(c => c.Env == "combat:1c3s5z").Select(c => c.Algo).Distinct());
        Assert.Equal(6, cells.Select(c => c.Env).Distinct().Count());
        // each map's default preset, as qmix train uses it
        Assert.All(cells, c => Assert.Equal("pymarl2", c.Preset));

        // one seed of each, and the same grid from a JSON file
        Assert.Equal(6 + 4 * 2, ReproduceCommand.BuildGrid(Request(paper: true, seeds: "1")).Cells().Count);
        using var tmp = new TempDir();
        var file = Path.Combine(tmp.Path, "grid.json");
        File.WriteAllText(file, """
            {
              "preset": "pymarl2",
              "algos": ["qmix", "vdn", "iql"],
              "blocks": [
                {"envs": ["combat:3m"], "seeds": "1..5"},
                {"envs": "combat:5m,combat:8m", "algos": "qmix", "seeds": [1, 2, 3]},
                {"envs": ["combat:2s3z", "combat:3s5z", "combat:1c3s5z"], "seeds": "1..3"}
              ]
            }
            """);
        var fromFile = ReproduceCommand.BuildGrid(Request(grid: file)).Cells();
        Assert.Equal(cells.Select(c => c.Dir), fromFile.Select(c => c.Dir));
        Assert.Equal(cells.Select(c => c.Options), fromFile.Select(c => c.Options));

        File.WriteAllText(file, """{"envs": ["two-step"], "learning_rate": 0.1}""");
        var bad = Assert.Throws<UsageException>(() => ReproduceCommand.BuildGrid(Request(grid: file)));
        Assert.Contains("learning_rate", bad.Message);
        File.WriteAllText(file, """{"envs": ["two-step"], "keep_replay": "yes"}""");
        bad = Assert.Throws<UsageException>(() => ReproduceCommand.BuildGrid(Request(grid: file)));
        Assert.Contains("keep_replay", bad.Message);
        File.WriteAllText(file, """{"envs": ["two-step"], "keep_replay": true}""");
        Assert.True(ReproduceCommand.BuildGrid(Request(grid: file)).KeepReplay);
    }

    // ------------------------------------------------------------------ training, skipping, resuming

    [Fact]
    public void A_grid_trains_its_cells_and_a_second_run_skips_the_finished_ones()
    {
        using var tmp = new TempDir();
        var config = TinyConfig(tmp.Path);
        var outDir = Path.Combine(tmp.Path, "grid");
        string[] args = ["reproduce", "--envs", "two-step", "--algos", "qmix,vdn", "--seeds", "1..2", "--steps", "300", "--config", config,
            "--eval-episodes", "5", "--out", outDir];
        var (code, output, error) = Qmix(args);
        Assert.True(code == 0, output + error);
        var cells = ReproduceCommand.BuildGrid(Request(["two-step"], ["qmix,vdn"], "1..2", @out: outDir, steps: 300, config: config)).Cells();
        foreach (var cell in cells)
        {
            var run = RunDirectory.Load(cell.Dir);
            Assert.True(run.Summary!.Completed);
            Assert.Equal(300, run.Summary.Steps);
            Assert.True(File.Exists(Path.Combine(cell.Dir, "eval.json")));
            // a finished cell keeps its policy and drops its training state (replay buffer) unless --keep-replay
            Assert.True(File.Exists(Path.Combine(cell.Dir, "checkpoints", "model.safetensors")));
            Assert.False(File.Exists(Path.Combine(cell.Dir, "checkpoints", "model.train.safetensors")));
        }
        Assert.True(File.Exists(Path.Combine(outDir, "results.md")));
        Assert.True(File.Exists(Path.Combine(outDir, "two-step.svg")));
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json"))))
        {
            var groups = doc.RootElement.GetProperty("groups");
            Assert.Equal(2, groups.GetArrayLength());
            Assert.All(groups.EnumerateArray(), g => Assert.Equal(2, g.GetProperty("seeds_done").GetInt32()));
            // two-step reports no wins: no win rates, a final return
            Assert.All(groups.EnumerateArray(), g => Assert.Equal(JsonValueKind.Null, g.GetProperty("final_win_rate").ValueKind));
            Assert.All(groups.EnumerateArray(), g => Assert.Equal(JsonValueKind.Number, g.GetProperty("final_return").ValueKind));
            // the divergence evidence: the largest |q_taken_mean| logged (updates ran) and no warning
            Assert.All(groups.EnumerateArray(), g => Assert.True(g.GetProperty("largest_q_taken_mean").GetDouble() > 0));
            Assert.All(groups.EnumerateArray(), g => Assert.Equal(0, g.GetProperty("warnings").GetInt32()));
            Assert.All(groups.EnumerateArray().SelectMany(g => g.GetProperty("cells").EnumerateArray()),
                c => Assert.StartsWith("eval.json (5 episodes)", c.GetProperty("final_from").GetString()));
        }

        // again: nothing trains, the metrics files are untouched
        var metrics = Path.Combine(cells[0].Dir, "metrics.jsonl");
        var (bytes, written) = (File.ReadAllBytes(metrics), File.GetLastWriteTimeUtc(metrics));
        var evalWritten = File.GetLastWriteTimeUtc(Path.Combine(cells[0].Dir, "eval.json"));
        (code, output, error) = Qmix(args);
        Assert.True(code == 0, output + error);
        Assert.Contains("4 done, 0 partial, 0 not started", output);
        Assert.DoesNotContain("starting", output);
        Assert.DoesNotContain("evaluating", output);
        Assert.Equal(bytes, File.ReadAllBytes(metrics));
        Assert.Equal(written, File.GetLastWriteTimeUtc(metrics));
        Assert.Equal(evalWritten, File.GetLastWriteTimeUtc(Path.Combine(cells[0].Dir, "eval.json")));

        // the same folder asked with other settings is refused before anything trains
        (code, _, error) = Qmix([.. args.Select(a => a == "300" ? "400" : a)]);
        Assert.Equal(2, code);
        Assert.Contains("total_steps", error);
    }

    [Fact]
    public void An_interrupted_cell_continues_from_its_checkpoint_and_ends_like_an_uninterrupted_one()
    {
        using var tmp = new TempDir();
        var config = TinyConfig(tmp.Path);
        string[] Args(string dir) =>
            ["reproduce", "--envs", "two-step", "--algos", "qmix", "--seeds", "1", "--steps", "400", "--config", config,
             "--save-interval", "100", "--eval-episodes", "0", "--out", dir];
        var whole = Path.Combine(tmp.Path, "whole");
        var (code, output, error) = Qmix([.. Args(whole), "--keep-replay"]);
        Assert.True(code == 0, output + error);
        Assert.True(File.Exists(Path.Combine(whole, "two-step", "qmix-paper-matrix-games", "seed-1", "checkpoints", "model.train.safetensors")));

        // the cell as the grid makes it, stopped at step ~250 (as by Ctrl+C)
        var stoppedOut = Path.Combine(tmp.Path, "stopped");
        var cell = ReproduceCommand.BuildGrid(Request(["two-step"], ["qmix"], "1", @out: stoppedOut, steps: 400, config: config, saveInterval: 100)).Cells().Single();
        using (var cts = new CancellationTokenSource())
        using (var run = RunRecorder.Create(cell.Dir, Environments.TwoStep(), cell.Options))
        {
            run.Trainer.ProgressInterval = TimeSpan.Zero;
            Assert.ThrowsAny<OperationCanceledException>(() => run.Train(new SyncProgress(p => { if (p.Step >= 250) cts.Cancel(); }), cts.Token));
        }
        var at = RunDirectory.Load(cell.Dir).CheckpointStep()!.Value;
        Assert.InRange(at, 250, 260);
        (code, output, _) = Qmix([.. Args(stoppedOut), "--dry-run"]);
        Assert.Equal(0, code);
        Assert.Contains($"partial at step {at}", output);

        (code, output, error) = Qmix(Args(stoppedOut));
        Assert.True(code == 0, output + error);
        Assert.Contains($"continuing from step {at}", output);
        var resumed = RunDirectory.Load(cell.Dir);
        Assert.True(resumed.Summary!.Completed);
        Assert.Equal(400, resumed.Summary.Steps);
        var reference = RunDirectory.Load(Path.Combine(whole, "two-step", "qmix-paper-matrix-games", "seed-1"));
        Assert.Equal(reference.Summary!.Episodes, resumed.Summary.Episodes);
        static List<(int, double?)> Tests(RunDirectory r) =>
            r.Metrics.Where(m => m.Kind == MetricsKind.Evaluation).Select(m => (m.Step, m.TestReturn)).ToList();
        Assert.Equal(Tests(reference), Tests(resumed));
    }

    [Fact]
    public void Train_resume_continues_a_run_once_and_refuses_other_settings()
    {
        using var tmp = new TempDir();
        var config = TinyConfig(tmp.Path);
        var dir = Path.Combine(tmp.Path, "run");
        string[] args = ["train", "--steps", "300", "--config", config, "--save-interval", "100", "--buffer", "40", "--out", dir, "--resume"];
        var (code, output, error) = Qmix(args);
        Assert.True(code == 0, output + error);
        Assert.Equal(100, RunDirectory.Load(dir).Config.Options.SaveInterval);
        Assert.Equal(40, RunDirectory.Load(dir).Config.Options.BufferSize);
        (code, output, error) = Qmix(args);
        Assert.True(code == 0, output + error);
        Assert.Contains("complete already", output);
        (code, output, error) = Qmix("train", "--out", dir, "--resume");
        Assert.True(code == 0, output + error);
        Assert.Contains("complete already", output);
        (code, _, error) = Qmix([.. args.Select(a => a == "40" ? "50" : a)]);
        Assert.Equal(2, code);
        Assert.Contains("buffer_size: 40 in the run, 50 asked", error);
        // more steps extend the run instead (ResumeProcessTests checks the result against a longer run)
        (code, output, error) = Qmix([.. args.Select(a => a == "300" ? "500" : a)]);
        Assert.True(code == 0, output + error);
        Assert.Contains("from step 300", output);
        Assert.True(RunDirectory.Load(dir).Summary!.Completed);
        Assert.Equal(500, RunDirectory.Load(dir).Summary!.Steps);
    }

    // ------------------------------------------------------------------ results

    /// <summary>A finished (or partial) cell written by hand: its config as the grid makes it, test win rates at steps
    /// 1000, 2000, ..., a summary when done.</summary>
    static void FakeCell(GridCell cell, double[] testWins, bool done)
    {
        Directory.CreateDirectory(cell.Dir);
        var spec = cell.Spec;
        var config = new RunConfig
        {
            Environment = cell.Env,
            Spec = new RunEnvironmentSpec(spec.Name, spec.Agents, spec.Actions, spec.ObservationSize, spec.StateSize, spec.EpisodeLimit),
            Options = cell.Options,
            LibraryVersion = LibraryInfo.Version,
        };
        File.WriteAllText(Path.Combine(cell.Dir, "config.json"), JsonSerializer.Serialize(config, RunJson.Indented));
        var records = testWins.Select((w, i) => new MetricsRecord
        {
            Kind = MetricsKind.Evaluation, Step = 1000 * (i + 1), Episode = 40 * (i + 1), TestWinRate = w, TestReturn = 10 * w,
            ElapsedSeconds = 10 * (i + 1),
        });
        File.WriteAllLines(Path.Combine(cell.Dir, "metrics.jsonl"), records.Select(r => JsonSerializer.Serialize(r, RunJson.Line)));
        if (!done) return;
        var summary = new RunSummary
        {
            Environment = cell.Env, Algorithm = cell.Options.Algorithm, Seed = cell.Seed, Completed = true, Steps = 1000 * testWins.Length,
            TotalSteps = 1000 * testWins.Length, Episodes = 40 * testWins.Length, Updates = 40 * testWins.Length, Seconds = 10 * testWins.Length,
            FinalTestWinRate = testWins[^1], FinalTestReturn = 10 * testWins[^1], Evaluations = testWins.Length,
        };
        File.WriteAllText(Path.Combine(cell.Dir, "summary.json"), JsonSerializer.Serialize(summary, RunJson.Indented));
    }

    [Fact]
    public void The_results_give_the_medians_of_hand_made_runs()
    {
        using var tmp = new TempDir();
        var outDir = Path.Combine(tmp.Path, "grid");
        var cells = ReproduceCommand.BuildGrid(Request(["combat:3m"], ["qmix,vdn"], "1..3", @out: outDir, steps: 4000)).Cells();
        var qmix = cells.Where(c => c.Algo == "qmix").ToList();
        var vdn = cells.Where(c => c.Algo == "vdn").ToList();
        // qmix: final 0.2, 0.9, 0.4 (median 0.4, mean 0.5); 50% reached never, at 2000 and at 3000; 90% only by seed 2
        FakeCell(qmix[0], [0.1, 0.3, 0.2, 0.2], done: true);
        FakeCell(qmix[1], [0.2, 0.5, 0.9, 0.9], done: true);
        FakeCell(qmix[2], [0.1, 0.2, 0.6, 0.4], done: true);
        // vdn: one seed done (0.6); a partial seed that reached 1.0, which must not count; one not started
        FakeCell(vdn[0], [0.1, 0.2, 0.6, 0.6], done: true);
        FakeCell(vdn[1], [1.0], done: false);

        string[] args = ["reproduce", "--envs", "combat:3m", "--algos", "qmix,vdn", "--seeds", "1..3", "--steps", "4000", "--out", outDir, "--report"];
        var (code, output, error) = Qmix([.. args, "--eval-episodes", "0"]);
        Assert.True(code == 0, output + error);
        Assert.Contains("4 done, 1 partial, 1 not started", output);
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json"))))
        {
            var groups = doc.RootElement.GetProperty("groups").EnumerateArray().ToList();
            var q = groups[0];
            Assert.Equal("qmix", q.GetProperty("algorithm").GetString());
            Assert.Equal(3, q.GetProperty("seeds_done").GetInt32());
            var final = q.GetProperty("final_win_rate");
            Assert.Equal(0.4, final.GetProperty("median").GetDouble(), 12);
            Assert.NotEqual(0.5, final.GetProperty("median").GetDouble(), 6); // negative control: not the mean
            Assert.InRange(final.GetProperty("lower").GetDouble(), 0.2, 0.4);
            Assert.InRange(final.GetProperty("upper").GetDouble(), 0.4, 0.9);
            Assert.Equal(0.6, q.GetProperty("best_win_rate").GetDouble(), 12); // best 0.3, 0.9, 0.6
            Assert.Equal(3000, q.GetProperty("steps_to_50").GetDouble());
            Assert.Equal(30, q.GetProperty("seconds_to_50").GetDouble());
            Assert.Equal(JsonValueKind.Null, q.GetProperty("steps_to_90").ValueKind); // two of three never
            Assert.Equal(4.0, q.GetProperty("final_return").GetDouble(), 12);

            var v = groups[1];
            Assert.Equal(1, v.GetProperty("seeds_done").GetInt32());
            Assert.Equal(3, v.GetProperty("seeds").GetInt32());
            Assert.Equal(0.6, v.GetProperty("final_win_rate").GetProperty("median").GetDouble(), 12);
            Assert.Equal(0.6, v.GetProperty("final_win_rate").GetProperty("upper").GetDouble(), 12);
            Assert.Equal(0.6, v.GetProperty("best_win_rate").GetDouble(), 12);
        }
        var md = File.ReadAllText(Path.Combine(outDir, "results.md"));
        Assert.Contains("| combat:3m | qmix | pymarl2 | 3/3 | 40% [", md);
        Assert.Contains("percentile bootstrap", md);
        Assert.True(File.Exists(Path.Combine(outDir, "combat-3m.svg")));

        // an eval.json of the final checkpoint takes the place of the last test
        var eval = new CellEval(200, 0, 4000, 3.0, 0.3, 50);
        File.WriteAllText(Path.Combine(qmix[1].Dir, "eval.json"), JsonSerializer.Serialize(eval, GridJson.Options));
        (code, output, error) = Qmix([.. args, "--eval-episodes", "200"]);
        Assert.True(code == 0, output + error);
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json"))))
        {
            var q = doc.RootElement.GetProperty("groups")[0];
            Assert.Equal(0.3, q.GetProperty("final_win_rate").GetProperty("median").GetDouble(), 12); // 0.2, 0.3, 0.4
            Assert.Equal("eval.json (200 episodes)", q.GetProperty("cells")[1].GetProperty("final_from").GetString());
            Assert.StartsWith("last test", q.GetProperty("cells")[0].GetProperty("final_from").GetString());
        }
    }

    [Fact]
    public void Medians_and_bootstrap_intervals()
    {
        Assert.Equal(2.5, GridResults.Median([4, 1, 3, 2]));
        Assert.Equal(3, GridResults.Median([5, 1, 3]));
        Assert.Equal(double.PositiveInfinity, GridResults.Median([1, double.PositiveInfinity, double.PositiveInfinity]));
        var same = GridResults.MedianInterval([0.7, 0.7, 0.7]);
        Assert.Equal(new Interval(0.7, 0.7, 0.7), same);
        var spread = GridResults.MedianInterval([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]);
        Assert.Equal(0.5, spread.Median, 12);
        Assert.True(spread.Lower < 0.5 && spread.Upper > 0.5);
        Assert.InRange(spread.Lower, 0.1, 0.5);
        Assert.InRange(spread.Upper, 0.5, 0.9);
        Assert.Equal(spread, GridResults.MedianInterval([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])); // a fixed seed
        // negative control: an outlier moves the mean, not the median
        Assert.Equal(0.5, GridResults.MedianInterval([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 90]).Median, 12);
    }

    // ------------------------------------------------------------------ printing

    [Fact]
    public void Printed_commands_are_qmix_train_command_lines_that_make_the_grid_s_cells()
    {
        using var tmp = new TempDir();
        var config = TinyConfig(tmp.Path);
        var outDir = Path.Combine(tmp.Path, "my grid"); // a space, to be quoted
        string[] args = ["reproduce", "--envs", "two-step,combat:3m,smax", "--algos", "qmix,vdn", "--seeds", "1..2", "--steps", "200",
            "--buffer", "40", "--config", config, "--out", outDir];
        var (code, output, error) = Qmix([.. args, "--print", "commands"]);
        Assert.True(code == 0, output + error);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(8, lines.Length);

        var root = new RootCommand { TrainCommand.Create(new Io(TextWriter.Null, TextWriter.Null, live: false)) };
        foreach (var line in lines)
        {
            var words = ShellWords(line);
            Assert.Equal(["qmix", "train"], words[..2]);
            Assert.Empty(root.Parse(words[1..]).Errors);
        }

        // the first line, run, makes the grid's first cell with the grid's settings
        var cells = ReproduceCommand.BuildGrid(Request(["two-step,combat:3m,smax"], ["qmix,vdn"], "1..2", @out: outDir, steps: 200, config: config, buffer: 40)).Cells();
        (code, output, error) = Qmix(ShellWords(lines[0])[1..]);
        Assert.True(code == 0, output + error);
        var made = RunDirectory.Load(cells[0].Dir);
        Assert.Empty(Resumption.Differences(made.Config, cells[0].Env, cells[0].Options));
        (code, output, error) = Qmix([.. args, "--dry-run"]);
        Assert.True(code == 0, output + error);
        Assert.Contains("8 cells: 1 done, 0 partial, 7 not started", output);

        // the Slurm script: an array of one task per cell, each the same command line
        (code, output, error) = Qmix([.. args, "--print", "slurm"]);
        Assert.True(code == 0, output + error);
        Assert.StartsWith("#!/bin/bash", output);
        Assert.Contains("#SBATCH --array=0-7\n", output);
        var entries = output.Split('\n').SkipWhile(l => l != "cells=(").Skip(1).TakeWhile(l => l != ")").ToList();
        Assert.Equal(lines, entries.Select(e => ShellWords(e.Trim()).Single()));
        Assert.Contains("${cells[$SLURM_ARRAY_TASK_ID]}", output);
    }

    // ------------------------------------------------------------------ memory

    [Fact]
    public void The_memory_check_refuses_an_absurd_buffer_and_suggests_what_fits()
    {
        using var tmp = new TempDir();
        // (the buffer is bounded by the steps a run records, so both are absurd)
        var (code, output, error) = Qmix("reproduce", "--envs", "combat:3m", "--buffer", "50000000", "--steps", "500000000", "--out", tmp.Path);
        Assert.Equal(2, code);
        Assert.Contains("available", error);
        Assert.Contains("--buffer", error);
        Assert.Empty(Directory.GetDirectories(tmp.Path));

        // 3s5z's 5000 episodes at the limit: several GB, as the formula says (observations and states as float32,
        // actions as int32, masks as bits, rewards), with the collector's room around the live data
        var cell = ReproduceCommand.BuildGrid(Request(["combat:3s5z"], seeds: "1..2")).Cells()[0];
        var replay = (long)Math.Ceiling(5000.0 * 151 * ((8 * 205 + 264) * 4 + 8 * 4 + 8 * 13 / 8.0 + 4));
        Assert.InRange(cell.MemoryBytes, Grid.ResidentFactor * replay, Grid.ResidentFactor * (replay + (1L << 30)));
        var cells = ReproduceCommand.BuildGrid(Request(["combat:3s5z"], seeds: "1..2")).Cells();
        // two fit: no note
        Assert.Null(Grid.CheckMemory(cells, 2, 3 * cell.MemoryBytes, out var none));
        Assert.Null(none);
        // one fits, two do not: the grid runs, its cells one at a time, and says so
        Assert.Null(Grid.CheckMemory(cells, 2, cell.MemoryBytes * 3 / 2, out var alone));
        Assert.Contains("combat:3s5z", alone);
        Assert.Contains("one at a time", alone);
        Assert.Null(Grid.CheckMemory(cells, 1, cell.MemoryBytes * 3 / 2, out var single));
        Assert.Null(single);
        // not even one: refused, with a buffer that fits
        Assert.Contains("--buffer", Grid.CheckMemory(cells, 2, cell.MemoryBytes / 2, out _)!.Message);
    }
}
