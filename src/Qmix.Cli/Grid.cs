using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Qmix.Cli;

/// <summary>One part of a grid: every environment × algorithm × preset × seed of it is a cell. A grid is the union of
/// its blocks (the paper's grid trains QMIX on more maps than VDN and IQL, and 3m on more seeds).</summary>
/// <param name="Envs">Environment names.</param>
/// <param name="Algos">Algorithm names.</param>
/// <param name="Seeds">Seeds.</param>
/// <param name="Presets">Preset names; null for each environment's default (or the grid's).</param>
internal sealed record GridBlock(IReadOnlyList<string> Envs, IReadOnlyList<string> Algos, IReadOnlyList<ulong> Seeds, IReadOnlyList<string>? Presets);

/// <summary>One cell of a grid: a run directory <c>OUT/ENV/ALGO-PRESET/seed-S</c> that <c>qmix train</c> would
/// make.</summary>
internal sealed record GridCell(string Env, string Algo, string Preset, ulong Seed, string Dir, TrainingOptions Options, EnvironmentSpec Spec)
{
    /// <summary>The cell's group: the seeds of one environment, algorithm and preset.</summary>
    public (string Env, string Algo, string Preset) Group => (Env, Algo, Preset);

    /// <summary>The cell as a path under the grid's folder, e.g. <c>combat-3m/qmix-pymarl2/seed-1</c>.</summary>
    public string Name => $"{Grid.FolderName(Env)}/{Algo}-{Preset}/seed-{Seed}";

    /// <summary>The memory a cell's training holds at most (<see cref="Grid.MemoryEstimate"/>).</summary>
    public long MemoryBytes => Grid.MemoryEstimate(Spec, Options);
}

/// <summary>A reproduction grid: environments × algorithms × seeds × presets, each cell an ordinary run directory; and
/// the settings every cell shares.</summary>
internal sealed record Grid
{
    /// <summary>The default steps between a cell's checkpoints.</summary>
    public const int DefaultSaveInterval = 50_000;

    /// <summary>The default number of greedy episodes that give a cell's final win rate.</summary>
    public const int DefaultEvalEpisodes = 200;

    /// <summary>The blocks whose union is the grid.</summary>
    public required IReadOnlyList<GridBlock> Blocks { get; init; }

    /// <summary>The preset of blocks that name none; null for each environment's default.</summary>
    public string? DefaultPreset { get; init; }

    /// <summary>Steps per cell; null for the preset's.</summary>
    public int? Steps { get; init; }

    /// <summary>Replay buffer episodes; null for the preset's.</summary>
    public int? Buffer { get; init; }

    /// <summary>Steps between a cell's checkpoints.</summary>
    public int SaveInterval { get; init; } = DefaultSaveInterval;

    /// <summary>Greedy episodes for a finished cell's final win rate; 0 for the last in-training test.</summary>
    public int EvalEpisodes { get; init; } = DefaultEvalEpisodes;

    /// <summary>Cells trained at once.</summary>
    public int Parallel { get; init; } = 2;

    /// <summary>Whether a finished cell keeps its training state (<c>checkpoints/model.train.safetensors</c>: target
    /// networks, optimiser, replay buffer). False deletes it once the cell is evaluated: the policy, metrics,
    /// summary and evaluation stay, and a grid of the large maps needs a few GB of disk instead of tens.</summary>
    public bool KeepReplay { get; init; }

    /// <summary>The grid's folder.</summary>
    public string Out { get; init; } = Path.Combine("runs", "reproduce");

    /// <summary>A JSON file of training options applied over each preset (as <c>qmix train --config</c>); null for
    /// none.</summary>
    public string? Config { get; init; }

    // ------------------------------------------------------------------ the paper's grid

    /// <summary>The QMIX paper's StarCraft comparison: QMIX on the six maps, VDN and IQL on 3m, 2s3z, 3s5z and
    /// 1c3s5z; seeds 1..3, 1..5 on 3m; each map's default preset (pymarl2, as <c>qmix train</c>) unless a preset is
    /// named, and the paper's horizon of 2,050,000 steps unless <c>--steps</c> says otherwise.</summary>
    public static Grid Paper() => new()
    {
        Blocks =
        [
            new GridBlock(["combat:3m"], ["qmix", "vdn", "iql"], Range(1, 5), null),
            new GridBlock(["combat:5m", "combat:8m"], ["qmix"], Range(1, 3), null),
            new GridBlock(["combat:2s3z", "combat:3s5z", "combat:1c3s5z"], ["qmix", "vdn", "iql"], Range(1, 3), null),
        ],
    };

    static ulong[] Range(ulong from, ulong to) => [.. Enumerable.Range((int)from, (int)(to - from + 1)).Select(i => (ulong)i)];

    // ------------------------------------------------------------------ names

    /// <summary>Environment names from a comma-separated list, keeping a combat map's rules with it:
    /// <c>combat:3m,smax,combat:2s3z</c> is <c>combat:3m,smax</c> and <c>combat:2s3z</c>.</summary>
    public static IReadOnlyList<string> SplitEnvs(string text)
    {
        var list = new List<string>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (list.Count > 0 && list[^1].StartsWith("combat:", StringComparison.Ordinal) && !part.Contains(':')
                && !Environments.Names.Contains(part))
                list[^1] += "," + part;
            else list.Add(part);
        }
        return list;
    }

    /// <summary>Names from a comma-separated list.</summary>
    public static IReadOnlyList<string> SplitList(string text) =>
        text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    /// <summary>An environment's folder name: every character but letters, digits, '.', '_' and '-' becomes '-'
    /// (<c>combat:3m,smax</c> → <c>combat-3m-smax</c>).</summary>
    public static string FolderName(string env) =>
        new(env.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '-').ToArray());

    // ------------------------------------------------------------------ cells

    /// <summary>The grid's cells, block by block, each environment × algorithm × preset × seed in the order given;
    /// a cell named twice counts once.</summary>
    /// <exception cref="UsageException">An unknown environment, algorithm or preset, options that do not fit
    /// together, or two environments with the same folder name.</exception>
    public IReadOnlyList<GridCell> Cells()
    {
        string? configJson = null;
        if (Config is not null) (_, configJson) = Names.ReadConfig(Config);
        var cells = new List<GridCell>();
        var seen = new HashSet<string>();
        var folders = new Dictionary<string, string>();
        foreach (var block in Blocks)
        {
            if (block.Envs.Count == 0) throw new UsageException("the grid names no environment (--envs)");
            if (block.Algos.Count == 0) throw new UsageException("the grid names no algorithm (--algos)");
            if (block.Seeds.Count == 0) throw new UsageException("the grid names no seed (--seeds)");
            foreach (var given in block.Envs)
            {
                var env = Names.RegisteredName(given) ?? given; // non-monotonic is matrix:non-monotonic
                var spec = Names.Environment(env).Spec;
                var folder = FolderName(env);
                if (folders.TryGetValue(folder, out var other) && other != env)
                    throw new UsageException($"environments {other} and {env} would share the folder {folder}");
                folders[folder] = env;
                foreach (var algoName in block.Algos)
                {
                    var algo = RunDirectory.AlgorithmName(Names.Algorithm(algoName));
                    var presets = block.Presets ?? (DefaultPreset is { } p ? [p] : [Names.PresetName(Names.DefaultPreset(env))]);
                    foreach (var presetName in presets)
                    {
                        var preset = Names.Preset(presetName);
                        var presetText = Names.PresetName(preset);
                        var options = CellOptions(preset, configJson, algo, Steps, Buffer, SaveInterval);
                        if (options.BufferSize < options.BatchSize)
                            throw new UsageException($"{env}, {algo}, {presetText}: a buffer of {options.BufferSize} episodes cannot fill a batch of {options.BatchSize} (--buffer)");
                        foreach (var seed in block.Seeds)
                        {
                            var dir = Path.Combine(Out, folder, $"{algo}-{presetText}", $"seed-{seed}");
                            if (seen.Add(dir)) cells.Add(new GridCell(env, algo, presetText, seed, dir, options with { Seed = seed }, spec));
                        }
                    }
                }
            }
        }
        return cells;
    }

    /// <summary>A cell's options, made as <c>qmix train</c> makes them: the preset, then the options file, then the
    /// algorithm, steps, buffer and checkpoint interval (the seed is set per cell).</summary>
    public static TrainingOptions CellOptions(TrainingPreset preset, string? configJson, string algo, int? steps, int? buffer, int saveInterval)
    {
        var options = TrainingOptions.Preset(preset);
        if (configJson is not null) options = options.WithJson(configJson);
        options = options with { Algorithm = Names.Algorithm(algo) };
        if (steps is { } n) options = options with { TotalSteps = n };
        if (buffer is { } b) options = options with { BufferSize = b };
        return options with { SaveInterval = saveInterval };
    }

    // ------------------------------------------------------------------ memory

    /// <summary>The memory a cell holds at most, in bytes: its replay buffer at its fullest
    /// (<see cref="TrainingOptions.ReplayBytes"/>: every episode at the limit, or the steps a shorter run records), plus
    /// the learner's working memory for a batch, batch × (limit + 1) × N ×
    /// (6·hidden + obs + A) × 8 bytes (activations of the online and target passes), plus 150 MB for the
    /// process.</summary>
    public static long MemoryEstimate(EnvironmentSpec spec, TrainingOptions options) =>
        (long)(ResidentFactor * (options.ReplayBytes(spec) + LearnerBytes(spec, options)));

    /// <summary>The process's resident memory over its live data: the garbage collector's heap keeps room beyond
    /// what is live (measured: a combat:1c3s5z cell with a full buffer of 5000 episodes, 10.3 GB of live data, held
    /// about 11.8 GB).</summary>
    public const double ResidentFactor = 1.2;

    /// <summary>The most bytes of one episode in the replay buffer (<see cref="TrainingOptions.ReplayEpisodeBytes"/>:
    /// an episode at the limit, in the options' replay precision).</summary>
    public static long EpisodeBytes(EnvironmentSpec spec, TrainingOptions options) => options.ReplayEpisodeBytes(spec);

    /// <summary>The learner's working memory for a batch and the process's own: batch × (limit + 1) × N ×
    /// (6·hidden + obs + A) × 8 bytes + 150 MB.</summary>
    public static long LearnerBytes(EnvironmentSpec spec, TrainingOptions options) =>
        options.BatchSize * (spec.EpisodeLimit + 1L) * spec.Agents * (6L * options.AgentHiddenSize + spec.ObservationSize + spec.Actions) * 8
        + 150L * 1024 * 1024;

    /// <summary>Bytes as "2.7 GB" or "310 MB".</summary>
    public static string Bytes(long bytes) => bytes >= 1L << 30
        ? string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.0} GB")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):0} MB");

    /// <summary>The check of the cells that run at once against the memory available: null when they fit (with a
    /// warning when they take more than 80% of it), a usage error suggesting a smaller <c>--parallel</c> or
    /// <c>--buffer</c> otherwise.</summary>
    /// <param name="cells">The cells to train.</param>
    /// <param name="parallel">Cells at once.</param>
    /// <param name="available">The memory available (<c>GC.GetGCMemoryInfo().TotalAvailableMemoryBytes</c>).</param>
    /// <param name="warning">A warning when the cells fit with little room to spare; null otherwise.</param>
    public static UsageException? CheckMemory(IReadOnlyList<GridCell> cells, int parallel, long available, out string? warning)
    {
        warning = null;
        if (cells.Count == 0) return null;
        var largest = cells.OrderByDescending(c => c.MemoryBytes).ToList();
        var top = largest[0];
        if (top.MemoryBytes <= Budget(available))
        {
            // cells that do not fit beside another of their size wait for memory (MemoryGate): say which
            var alone = cells.Where(c => parallel > 1 && 2 * c.MemoryBytes > Budget(available)).Select(c => c.Env).Distinct().ToList();
            if (alone.Count > 0)
                warning = $"note: the cells of {string.Join(", ", alone)} ({Bytes(top.MemoryBytes)} each) train one at a time: " +
                          $"two would need more than the {Bytes(Budget(available))} this grid may use";
            return null;
        }
        var head = $"a cell of {top.Env} ({top.Algo}) may need {Bytes(top.MemoryBytes)}, more than the {Bytes(Budget(available))} this grid may use " +
                   $"({Bytes(available)} available)";
        // one cell alone does not fit: a buffer that does, with the learner and process around it
        var buffer = (long)Math.Floor((Budget(available) / ResidentFactor - LearnerBytes(top.Spec, top.Options)) / EpisodeBytes(top.Spec, top.Options));
        return new UsageException(buffer >= top.Options.BatchSize
            ? $"{head}: use --buffer {buffer} (or less)"
            : $"{head}: this machine cannot hold a cell of {top.Env}");
    }

    /// <summary>The memory a grid's cells may hold together: 90% of what is available, leaving the rest to the
    /// system.</summary>
    public static long Budget(long available) => (long)(0.9 * available);

    // ------------------------------------------------------------------ commands

    /// <summary>The <c>qmix train</c> command line of a cell: every setting explicit, <c>--resume</c> so that running it
    /// again (a requeued job) continues the cell.</summary>
    public string CommandLine(GridCell cell)
    {
        var args = new List<string>
        {
            "qmix", "train", "--env", cell.Env, "--algo", cell.Algo, "--preset", cell.Preset,
            "--steps", cell.Options.TotalSteps.ToString(CultureInfo.InvariantCulture),
            "--seed", cell.Seed.ToString(CultureInfo.InvariantCulture),
            "--save-interval", cell.Options.SaveInterval.ToString(CultureInfo.InvariantCulture),
        };
        if (Buffer is { } b) args.AddRange(["--buffer", b.ToString(CultureInfo.InvariantCulture)]);
        if (Config is not null) args.AddRange(["--config", Config]);
        args.AddRange(["--out", cell.Dir, "--resume"]);
        return string.Join(" ", args.Select(Quote));
    }

    /// <summary>A word for a POSIX shell: as it is when it is plain, single-quoted otherwise.</summary>
    public static string Quote(string word) =>
        word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "_./:=,+-@%".Contains(c))
            ? word
            : "'" + word.Replace("'", "'\\''") + "'";

    /// <summary>A Slurm batch script running the cells as a job array: task i runs cell i's command line (each
    /// continuing its cell when it is run again).</summary>
    public string SlurmScript(IReadOnlyList<GridCell> cells)
    {
        var memory = cells.Count == 0 ? 0 : cells.Max(c => c.MemoryBytes);
        // the estimate, a fifth more, and room for the runtime, in MB
        var mb = (long)Math.Ceiling(memory * 1.2 / (1 << 20)) + 512;
        var inv = CultureInfo.InvariantCulture;
        var b = new StringBuilder();
        b.Append("#!/bin/bash\n");
        b.Append(inv, $"# qmix reproduce: {cells.Count} cells of {Out}, one per array task (qmix {LibraryInfo.Version}).\n");
        b.Append("# Submit from the directory the paths are relative to, with `qmix` on the PATH: sbatch THIS_FILE.\n");
        b.Append("# A task stopped before its end (time limit, preemption) writes a checkpoint on SIGINT, and submitting\n");
        b.Append("# the script again continues every cell from its checkpoint (finished cells end at once).\n");
        b.Append("# Afterwards, the table and plots: qmix reproduce (the same grid) --report\n");
        b.Append("#SBATCH --job-name=qmix-reproduce\n");
        b.Append(inv, $"#SBATCH --array=0-{Math.Max(0, cells.Count - 1)}\n");
        b.Append("#SBATCH --cpus-per-task=2\n");
        b.Append(inv, $"#SBATCH --mem={mb}M\n");
        b.Append("#SBATCH --signal=B:INT@300\n");
        b.Append(inv, $"#SBATCH --output={Quote(Path.Combine(Out, "slurm-%A_%a.out"))}\n");
        b.Append("set -euo pipefail\n");
        b.Append("cells=(\n");
        foreach (var cell in cells) b.Append("  ").Append(Quote(CommandLine(cell))).Append('\n');
        b.Append(")\n");
        b.Append("# exec: the command itself receives Slurm's SIGINT\n");
        b.Append("eval \"exec ${cells[$SLURM_ARRAY_TASK_ID]}\"\n");
        return b.ToString();
    }

    // ------------------------------------------------------------------ grid files

    static readonly string[] fileKeys =
        ["envs", "algos", "seeds", "preset", "presets", "steps", "buffer", "save_interval", "eval_episodes", "parallel", "keep_replay", "out", "config", "blocks"];

    /// <summary>A grid from a JSON file with the command's fields (<c>envs</c>, <c>algos</c>, <c>seeds</c>,
    /// <c>preset</c>, <c>steps</c>, <c>buffer</c>, <c>save_interval</c>, <c>eval_episodes</c>, <c>parallel</c>,
    /// <c>out</c>, <c>config</c>), and optionally <c>blocks</c>: a list of objects with <c>envs</c>, <c>algos</c>,
    /// <c>seeds</c> and <c>preset</c> whose union is the grid (fields they leave out come from the top level). Lists
    /// are JSON arrays or comma-separated strings; seeds also "1..5". A relative <c>config</c> is relative to the
    /// file.</summary>
    /// <exception cref="UsageException">The file is missing, not JSON, or has an unknown key or a value of the wrong
    /// type.</exception>
    public static Grid FromFile(string path)
    {
        if (!File.Exists(path)) throw new UsageException($"--grid {path}: no such file");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new UsageException($"--grid {path}: not valid JSON: {e.Message}");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new UsageException($"--grid {path}: expected a JSON object");
            var fields = Fields(root, path, fileKeys);
            var top = Block(fields, path, null);
            var blocks = new List<GridBlock>();
            if (fields.TryGetValue("blocks", out var list))
            {
                if (list.ValueKind != JsonValueKind.Array) throw new UsageException($"--grid {path}: \"blocks\" must be a list of objects");
                foreach (var item in list.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.Object) throw new UsageException($"--grid {path}: \"blocks\" must be a list of objects");
                    blocks.Add(Block(Fields(item, path, ["envs", "algos", "seeds", "preset", "presets"]), path, top));
                }
            }
            else blocks.Add(top);
            var config = Text(fields, "config", path);
            if (config is not null && !Path.IsPathRooted(config))
            {
                var full = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".", config));
                var relative = Path.GetRelativePath(Directory.GetCurrentDirectory(), full);
                config = relative.StartsWith("..", StringComparison.Ordinal) ? full : relative;
            }
            return new Grid
            {
                Blocks = blocks,
                Steps = Int(fields, "steps", path),
                Buffer = Int(fields, "buffer", path),
                SaveInterval = Int(fields, "save_interval", path) ?? DefaultSaveInterval,
                EvalEpisodes = Int(fields, "eval_episodes", path) ?? DefaultEvalEpisodes,
                Parallel = Int(fields, "parallel", path) ?? 2,
                KeepReplay = Bool(fields, "keep_replay", path) ?? false,
                Out = Text(fields, "out", path) ?? Path.Combine("runs", "reproduce"),
                Config = config,
            };
        }
    }

    static bool? Bool(Dictionary<string, JsonElement> fields, string key, string path) =>
        !fields.TryGetValue(key, out var v) ? null
        : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean()
        : throw new UsageException($"--grid {path}: \"{key}\" must be true or false, not {v.GetRawText()}");

    static Dictionary<string, JsonElement> Fields(JsonElement obj, string path, string[] known)
    {
        var fields = new Dictionary<string, JsonElement>();
        foreach (var p in obj.EnumerateObject())
        {
            var key = p.Name.Replace('-', '_').ToLowerInvariant();
            if (!known.Contains(key)) throw new UsageException($"--grid {path}: unknown field \"{p.Name}\"; the fields are: {string.Join(", ", known)}");
            fields[key] = p.Value.Clone();
        }
        return fields;
    }

    static GridBlock Block(Dictionary<string, JsonElement> fields, string path, GridBlock? outer)
    {
        var envs = List(fields, "envs", path, SplitEnvs) ?? outer?.Envs ?? [];
        var algos = List(fields, "algos", path, SplitList) ?? outer?.Algos ?? [];
        var presets = List(fields, "preset", path, SplitList) ?? List(fields, "presets", path, SplitList) ?? outer?.Presets;
        IReadOnlyList<ulong> seeds = outer?.Seeds ?? [1];
        if (fields.TryGetValue("seeds", out var s))
            seeds = s.ValueKind switch
            {
                JsonValueKind.String => Names.Seeds(s.GetString()!),
                JsonValueKind.Number when s.TryGetUInt64(out var one) => [one],
                JsonValueKind.Array when s.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Number && e.TryGetUInt64(out _)) =>
                    s.EnumerateArray().Select(e => e.GetUInt64()).Distinct().ToArray(),
                _ => throw new UsageException($"--grid {path}: \"seeds\" must be \"1..5\", \"1,2,3\", a number or a list of numbers"),
            };
        return new GridBlock(envs, algos, seeds, presets);
    }

    static IReadOnlyList<string>? List(Dictionary<string, JsonElement> fields, string key, string path, Func<string, IReadOnlyList<string>> split)
    {
        if (!fields.TryGetValue(key, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.String => split(v.GetString()!),
            JsonValueKind.Array when v.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String) =>
                v.EnumerateArray().Select(e => e.GetString()!.Trim()).ToArray(),
            _ => throw new UsageException($"--grid {path}: \"{key}\" must be a list of names or a comma-separated string"),
        };
    }

    static int? Int(Dictionary<string, JsonElement> fields, string key, string path) =>
        !fields.TryGetValue(key, out var v) ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i
        : throw new UsageException($"--grid {path}: \"{key}\" must be a whole number");

    static string? Text(Dictionary<string, JsonElement> fields, string key, string path) =>
        !fields.TryGetValue(key, out var v) ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()
        : throw new UsageException($"--grid {path}: \"{key}\" must be a string");
}
