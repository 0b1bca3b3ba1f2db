// The facade used as a C# application would. docs/csharp.fsx shows each region of this
// file and the output of running it: each section prints a "== name ==" line first, so
// the page can place the output under its code. Lines stay within 88 characters, the
// width of the page's code column.
using Qmix;
using CSharpUsage;

var work = Directory.CreateTempSubdirectory("qmix-csharp-usage-").FullName;

Section("environments");
#region environments
// the built-in environments by name, with their sizes
Console.WriteLine($"{Environments.Names.Count} environments, "
    + $"{Environments.CombatMaps.Count} combat maps, e.g.");
foreach (var info in Environments.Catalogue)
    if (info.Name is "two-step" or "checkers" or "combat:3m")
        Console.WriteLine(info.Spec);

// a typed factory gives a handle that can be stepped by hand
var env = Environments.TwoStep();
env.Reset(seed: 1);
Console.WriteLine(env.Render());
var step = env.Step([1, 1]); // agent 0 picks B: the game moves to state 2B
Console.WriteLine($"reward {step.Reward}, done {step.Done}, "
    + $"{env.Observations.Length} observation values");
step = env.Step([1, 1]);
Console.WriteLine($"reward {step.Reward}, terminated {step.Terminated}");
#endregion

Section("options");
#region options
// the defaults are PyMARL's QMIX on StarCraft; for the two-step game:
// small networks and uniform exploration, as in the paper
var options = new TrainingOptions
{
    Algorithm = Algorithm.Qmix,
    TotalSteps = 10_000,
    RnnHidden = 16,
    MixingEmbed = 8,
    HypernetLayers = 1,
    BufferSize = 500,
    TargetUpdateInterval = 100,
    EpsilonStart = 1.0,
    EpsilonFinish = 1.0,
    TestInterval = 2_000,
    TestEpisodes = 1,
    Seed = 1,
};
Console.WriteLine($"{options.Algorithm}, {options.TotalSteps} steps, lr {options.Lr}, "
    + $"γ {options.Gamma}, batch {options.BatchSize}");

// options are immutable records: variants with `with`, each setting checked when set
var vdn = options with { Algorithm = Algorithm.Vdn };
try
{
    _ = options with { Gamma = 1.5 };
}
catch (ArgumentOutOfRangeException e)
{
    Console.WriteLine(e.Message.Split('\n')[0]);
}
#endregion

Section("train");
#region train
using (var trainer = new Trainer(Environments.TwoStep(), options))
{
    // a greedy evaluation every TestInterval steps
    trainer.Evaluated += (_, e) =>
        Console.WriteLine($"step {e.Step,6}: greedy return {e.MeanReturn}");
    // progress after each evaluation and at the end (and, in between, at most
    // every ProgressInterval)
    trainer.ProgressInterval = TimeSpan.MaxValue;
    TrainingProgress? last = null;
    var result = trainer.Train(new Reporter(p => last = p));

    Console.WriteLine($"{result.Steps} steps, {result.Episodes} episodes, "
        + $"{result.Updates} updates");
    Console.WriteLine($"last progress: step {last?.Step} of {last?.TotalSteps}, "
        + $"loss {last?.Loss:F5}");
    result.Policy.Save(Path.Combine(work, "two-step"));
}
#endregion

Section("async");
#region async
// TrainAsync runs on the thread pool; cancelling stops it between two iterations,
// and training again continues from there
using (var trainer = new Trainer(Environments.TwoStep(), vdn))
{
    using var cancel = new CancellationTokenSource();
    trainer.Evaluated += (_, e) =>
    {
        if (e.Step >= 4_000) cancel.Cancel();
    };
    try
    {
        await trainer.TrainAsync(cancellationToken: cancel.Token);
    }
    catch (OperationCanceledException)
    {
        Console.WriteLine($"cancelled at step {trainer.Step}");
    }
    var rest = await trainer.TrainAsync();
    Console.WriteLine($"continued to step {trainer.Step}; "
        + $"VDN's greedy return {rest.TestReturn}");
}
#endregion

Section("policy");
#region policy
// decentralised execution: each agent acts on its own observation and memory
var policy = Policy.Load(Path.Combine(work, "two-step"));
var game = Environments.TwoStep();
game.Reset(seed: 7);
policy.Reset(); // at the start of every episode
var episodeReturn = 0f;
while (!game.IsDone)
{
    int[] actions = policy.Act(game.Observations, game.AvailableActions);
    var outcome = game.Step(actions);
    episodeReturn += outcome.Reward;
    Console.WriteLine($"actions ({string.Join(", ", actions)}) → reward {outcome.Reward}");
}
Console.WriteLine($"return {episodeReturn}");
#endregion

Section("evaluation");
#region evaluation
var evaluation = Evaluation.Run(policy, Environments.TwoStep(), episodes: 20, seed: 1);
Console.WriteLine($"{evaluation.Episodes} greedy episodes: "
    + $"mean return {evaluation.MeanReturn}, "
    + $"lengths {evaluation.EpisodeLengths.Min()} to {evaluation.EpisodeLengths.Max()}, "
    + $"win rate {evaluation.WinRate?.ToString() ?? "n/a (the game has no wins)"}");
#endregion

Section("checkpoints");
#region checkpoints
// a checkpoint holds everything (parameters, optimiser, replay buffer, counters),
// so a resumed run is exact
var checkpoint = Path.Combine(work, "checkpoint", "model");
using (var first = new Trainer(Environments.TwoStep(),
           options with { TotalSteps = 5_000, TestEpisodes = 0 }))
{
    first.Train();
    first.Save(checkpoint);
}
using (var resumed = new Trainer(Environments.TwoStep(), options with { TestEpisodes = 0 }))
{
    resumed.Resume(checkpoint);
    Console.WriteLine($"resumed at step {resumed.Step}, episode {resumed.Episode}");
    var result = resumed.Train();
    var files = Directory.GetFiles(Path.GetDirectoryName(checkpoint)!)
        .Select(Path.GetFileName)
        .Order();
    Console.WriteLine($"finished at step {result.Steps}");
    Console.WriteLine($"files: {string.Join(", ", files)}");
}
#endregion

Section("custom");
#region custom
// a C# environment (ColourGame.cs) is trained on and evaluated like a built-in one
var colourOptions = new TrainingOptions
{
    TotalSteps = 4_000,
    EpsilonAnnealSteps = 2_000,
    BufferSize = 500,
    RnnHidden = 16,
    MixingEmbed = 8,
    TestInterval = 1_000,
    TestEpisodes = 20,
    Seed = 2,
};
using (var trainer = new Trainer(new ColourGame(), colourOptions))
{
    trainer.Evaluated += (_, e) => Console.WriteLine(
        $"step {e.Step,5}: test return {e.MeanReturn:F2}, win rate {e.WinRate:P0}");
    var result = trainer.Train();
    var check = Evaluation.Run(result.Policy, new ColourGame(), episodes: 100, seed: 99);
    Console.WriteLine($"100 new episodes: mean return {check.MeanReturn:F2}, "
        + $"win rate {check.WinRate:P0}");
}
#endregion

Section("verification");
#region verification
// monotonicity and argmax decomposition of a mixer, at points drawn from a seed
VerificationResult qmix =
    MixerVerification.Check(Algorithm.Qmix, agents: 3, actions: 4, trials: 100);
Console.WriteLine(qmix.Monotonicity.Description);
Console.WriteLine(qmix.ArgmaxDecomposition.Description);

// the negative control, QMIX without the absolute value, must fail
VerificationResult control =
    MixerVerification.CheckNegativeControl(agents: 3, actions: 4, stateSize: 4);
Console.WriteLine($"{control.Mixer}: passed {control.Passed}");
Console.WriteLine(control.ArgmaxDecomposition.Counterexample);
#endregion

Directory.Delete(work, recursive: true);
return 0;

static void Section(string name) => Console.WriteLine($"== {name} ==");

/// <summary>Reports progress on the training thread (a <see cref="Progress{T}"/> would
/// post it to the thread pool, and console output could come out of order).</summary>
sealed class Reporter(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}
