using Qmix;

// qmix [train] [--env NAME | --game two-step|non-monotonic] [--algo qmix|vdn|iql|qmix-ns|qmix-lin|vdn-s|cw-qmix|ow-qmix]
//      [--steps N] [--seed S]      trains on an environment (the default job: the two-step game)
// qmix info                        prints what this build provides
var argList = args.ToList();
if (argList.FirstOrDefault() == "info")
{
    Console.WriteLine($"qmix {LibraryInfo.Version}: cooperative multi-agent reinforcement learning by value factorisation");
    Console.WriteLine("This build provides:");
    foreach (var line in LibraryInfo.Capabilities) Console.WriteLine($"  - {line}");
    return 0;
}
if (argList.FirstOrDefault() == "train") argList.RemoveAt(0);

string Option(string name, string fallback)
{
    var i = argList.IndexOf(name);
    if (i < 0) return fallback;
    if (i + 1 >= argList.Count) throw new ArgumentException($"{name} needs a value");
    return argList[i + 1];
}

try
{
    var algo = Option("--algo", "qmix") switch
    {
        "qmix" => Algorithm.Qmix,
        "vdn" => Algorithm.Vdn,
        "iql" => Algorithm.Iql,
        "qmix-ns" => Algorithm.QmixNs,
        "qmix-lin" => Algorithm.QmixLin,
        "vdn-s" => Algorithm.VdnS,
        "cw-qmix" => Algorithm.CwQmix,
        "ow-qmix" => Algorithm.OwQmix,
        var a => throw new ArgumentException($"unknown --algo '{a}'"),
    };
    var envName = Option("--env", Option("--game", "two-step") switch
    {
        "non-monotonic" => "matrix:non-monotonic",
        var g => g,
    });
    var env = Environments.Create(envName);
    var steps = int.Parse(Option("--steps", "10000"));
    var matrixGame = envName == "two-step" || envName.StartsWith("matrix:", StringComparison.Ordinal);
    // matrix games as in the QMIX paper's §5: uniform exploration, small networks, greedy test every 1000 steps
    var options = matrixGame
        ? new TrainingOptions
        {
            RnnHidden = 16, MixingEmbed = 8, HypernetLayers = 1, BufferSize = 500, TargetUpdateInterval = 100,
            EpsilonStart = 1, EpsilonFinish = 1, TestInterval = 1000, TestEpisodes = 1,
        }
        : new TrainingOptions();
    options = options with { Algorithm = algo, TotalSteps = steps, Seed = ulong.Parse(Option("--seed", "1")) };
    Console.WriteLine($"qmix {LibraryInfo.Version}: training {options.Algorithm} on {env.Name} for {options.TotalSteps} steps (seed {options.Seed})");
    using var trainer = new Trainer(env, options) { ProgressInterval = TimeSpan.FromSeconds(1) };
    var progress = new SyncProgress(p =>
        Console.WriteLine($"  step {p.Step,7}  episode {p.Episode,6}  ε {p.Epsilon,5:F2}  loss {p.Loss,10:F5}  test return {p.TestReturn,7:F2}  {p.StepsPerSecond,9:F0} steps/s"));
    var result = trainer.Train(progress);
    var eval = Evaluation.Run(result.Policy, env, episodes: 20, seed: options.Seed);
    Console.WriteLine($"greedy return {eval.MeanReturn} over {eval.Episodes} episodes after {result.Episodes} training episodes in {result.Elapsed.TotalSeconds:F1} s");
    return 0;
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"qmix: {e.Message}");
    return 2;
}

/// <summary>Reports progress on the calling thread (Progress&lt;T&gt; would post to the thread pool).</summary>
sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}
