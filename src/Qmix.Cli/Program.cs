using Qmix;

// qmix [train] [--game two-step|non-monotonic] [--algo qmix|vdn|iql|qmix-ns|qmix-lin|vdn-s|cw-qmix|ow-qmix]
//      [--steps N] [--seed S]      trains on a matrix game (the default job)
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
    var options = new MatrixGameOptions
    {
        Game = Option("--game", "two-step"),
        Algorithm = algo,
        TotalSteps = int.Parse(Option("--steps", "10000")),
        Seed = ulong.Parse(Option("--seed", "1")),
    };
    Console.WriteLine($"qmix {LibraryInfo.Version}: training {options.Algorithm} on {options.Game} for {options.TotalSteps} steps (seed {options.Seed}, uniform exploration)");
    var progress = new SyncProgress(p =>
        Console.WriteLine($"  step {p.Step,7}  episode {p.Episode,6}  loss {p.Loss,10:F5}  {p.StepsPerSecond,9:F0} steps/s"));
    var result = MatrixGameTraining.Train(options, progress);
    Console.WriteLine($"greedy return {result.GreedyReturn} (best possible {result.BestReturn}) after {result.Episodes} episodes in {result.Seconds:F1} s");
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
