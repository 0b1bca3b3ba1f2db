using Xunit;

namespace Qmix.Tests;

/// <summary>A small deterministic game written in C#: each episode a symbol k in 0..2 is drawn from the seed; both
/// agents see it (and the step), and the team scores 1 at each of 3 steps where both agents choose k. Agent 1 may
/// never choose (k + 1) mod 3. The episode is truncated after 3 steps; it is won when every step scored.</summary>
sealed class MatchGame : IMultiAgentEnvironment
{
    int symbol, step, score;

    public int Resets { get; private set; }
    public int Steps { get; private set; }

    public EnvironmentSpec Spec { get; } = new("match", agents: 2, actions: 3, observationSize: 4, stateSize: 4, episodeLimit: 3);

    public void Reset(ulong seed)
    {
        symbol = new Random((int)(seed % int.MaxValue)).Next(3);
        step = score = 0;
        Resets++;
    }

    public StepResult Step(int[] actions)
    {
        Steps++;
        if (actions[1] == (symbol + 1) % 3) throw new InvalidOperationException("unavailable action taken");
        var reward = actions[0] == symbol && actions[1] == symbol ? 1f : 0f;
        score += (int)reward;
        step++;
        var last = step == 3;
        return new StepResult(reward, Terminated: false, Truncated: last, Won: last ? score == 3 : null);
    }

    float[] Own => [symbol == 0 ? 1 : 0, symbol == 1 ? 1 : 0, symbol == 2 ? 1 : 0, step / 3f];

    public float[] Observations => [.. Own, .. Own];

    public float[] State => Own;

    public bool[] AvailableActions => [true, true, true, .. Enumerable.Range(0, 3).Select(u => u != (symbol + 1) % 3)];
}

/// <summary>An environment that breaks the contract: its observations are one value short.</summary>
sealed class ShortObservations : IMultiAgentEnvironment
{
    public EnvironmentSpec Spec { get; } = new("short", 1, 2, 3, 1, 5);
    public void Reset(ulong seed) { }
    public StepResult Step(int[] actions) => new(0f, false);
    public float[] Observations => new float[2];
    public float[] State => new float[1];
    public bool[] AvailableActions => [true, true];
}

/// <summary>A user's own environment, trained on and evaluated like a built-in one.</summary>
public class CustomEnvironmentTests
{
    static TrainingOptions Options => new()
    {
        TotalSteps = 3_000,
        EpsilonAnnealSteps = 1_500,
        BatchSize = 16,
        BufferSize = 500,
        TargetUpdateInterval = 50,
        AgentHiddenSize = 16,
        MixingEmbeddingSize = 8,
        TestInterval = 1_000,
        TestEpisodes = 5,
        Seed = 4,
    };

    [Fact]
    public void Qmix_learns_a_CSharp_game_and_is_evaluated_on_it()
    {
        var game = new MatchGame();
        using var trainer = new Trainer(game, Options);
        var result = trainer.Train();
        Assert.Equal(3_000, result.Steps);
        Assert.Equal(1_000, result.Episodes);
        Assert.NotNull(result.TestWinRate);

        var eval = Evaluation.Run(result.Policy, game, episodes: 30, seed: 9);
        Assert.Equal(3.0, eval.MeanReturn);
        Assert.Equal(1.0, eval.WinRate);
        Assert.All(eval.EpisodeLengths, l => Assert.Equal(3, l));

        // one instance, one episode at a time: stepped exactly once per environment step, never replayed
        var testSteps = result.Evaluations.Count * 5 * 3;
        Assert.Equal(3_000 + testSteps + 30 * 3, game.Steps);
    }

    [Fact]
    public void Parallel_episodes_give_the_same_run_on_one_instance_and_with_a_factory()
    {
        var options = Options with { TotalSteps = 600, ParallelEnvironments = 4, TestEpisodes = 4 };
        var single = new MatchGame();
        using var a = new Trainer(single, options);
        var made = new List<MatchGame>();
        using var b = new Trainer(Environments.Custom(() => { var g = new MatchGame(); made.Add(g); return g; }), options);
        var ra = a.Train();
        var rb = b.Train();
        Assert.Equal(ra.Steps, rb.Steps);
        Assert.Equal(ra.Loss, rb.Loss);
        Assert.Equal(ra.Evaluations, rb.Evaluations);
        // one instance per parallel episode (the first made when wrapping), each stepped once per step
        Assert.Equal(4, made.Count);
        Assert.True(single.Steps > made.Sum(g => g.Steps), "the single instance replays episodes");
        Assert.Equal(ra.Steps + ra.Evaluations.Count * 4 * 3, made.Sum(g => g.Steps));
    }

    [Fact]
    public void A_wrapped_game_can_be_stepped_and_played_by_hand()
    {
        var env = Environments.Custom(new MatchGame());
        Assert.Equal("match", env.Name);
        Assert.Equal(new EnvironmentSpec("match", 2, 3, 4, 4, 3), env.Spec);
        env.Reset(5);
        Assert.Equal(8, env.Observations.Length);
        Assert.Contains("match at step 0", env.Render());
        var k = Array.IndexOf(env.State, 1f);
        Assert.Equal(1f, env.Step([k, k]).Reward);
        Assert.Equal(0f, env.Step([k, (k + 2) % 3]).Reward);
        var last = env.Step([k, k]);
        Assert.True(last.Truncated);
        Assert.False(last.Won);
        Assert.True(env.IsDone);
        // a handle is not wrapped twice
        Assert.Same(env, Environments.Custom(env));
    }

    [Fact]
    public void A_broken_environment_is_reported()
    {
        using var trainer = new Trainer(new ShortObservations(), new TrainingOptions { TotalSteps = 10 });
        var e = Assert.Throws<InvalidOperationException>(() => trainer.Train());
        Assert.Contains("Observations has 2 values, expected 3", e.Message);
        Assert.Equal("environment", Assert.Throws<ArgumentNullException>(() => Environments.Custom((IMultiAgentEnvironment)null!)).ParamName);
        Assert.Equal("factory", Assert.Throws<ArgumentNullException>(() => Environments.Custom((Func<IMultiAgentEnvironment>)null!)).ParamName);
        Assert.Equal("factory", Assert.Throws<ArgumentException>(() => Environments.Custom(() => null!)).ParamName);
    }
}
