using Xunit;

namespace Qmix.Tests;

/// <summary>Acting with a trained policy, saving and loading it, and evaluating it.</summary>
public class PolicyTests
{
    /// <summary>A policy trained briefly on the two-step game (shared by the tests of this class).</summary>
    static readonly Lazy<Policy> twoStep = new(() =>
    {
        using var trainer = new Trainer(Environments.TwoStep(), Settings.TwoStep with { TotalSteps = 4_000 });
        return trainer.Train().Policy;
    });

    /// <summary>One hand-stepped episode: the actions chosen and the return.</summary>
    static (List<int[]> Actions, double Return) Play(Policy policy, MultiAgentEnvironment env, ulong seed)
    {
        var actions = new List<int[]>();
        double ret = 0;
        env.Reset(seed);
        policy.Reset();
        while (!env.IsDone)
        {
            var a = policy.Act(env.Observations, env.AvailableActions);
            actions.Add(a);
            ret += env.Step(a).Reward;
        }
        return (actions, ret);
    }

    [Fact]
    public void Acting_by_hand_plays_the_two_step_optimum()
    {
        var (actions, ret) = Play(twoStep.Value.Clone(), Environments.TwoStep(), seed: 0);
        Assert.Equal(8.0, ret);
        Assert.Equal(2, actions.Count);
        Assert.Equal([1, 1], actions[1]);
    }

    [Fact]
    public void A_saved_and_loaded_policy_acts_as_before()
    {
        using var dir = new TempDir();
        var env = Environments.Combat("3m");
        using var trainer = new Trainer(env, new TrainingOptions { TotalSteps = 200, BatchSize = 2, BufferSize = 4, TestEpisodes = 0, Seed = 7 });
        var policy = trainer.Train().Policy;
        var before = Play(policy, env, seed: 3);

        var path = Path.Combine(dir.Path, "policies", "3m");
        policy.Save(path);
        Assert.True(File.Exists(path + ".safetensors"));
        foreach (var loaded in new[] { Policy.Load(path), Policy.Load(path + ".safetensors", env.Spec), Policy.Load(path, env.Spec, trainer.Options) })
        {
            Assert.Equal(env.Spec, loaded.Spec);
            Assert.Equal(trainer.Options, loaded.Options);
            var after = Play(loaded, env, seed: 3);
            Assert.Equal(before.Return, after.Return);
            Assert.Equal(before.Actions.Count, after.Actions.Count);
            Assert.True(before.Actions.Zip(after.Actions).All(p => p.First.SequenceEqual(p.Second)));
        }

        // the trainer's checkpoint holds the same model
        trainer.Save(Path.Combine(dir.Path, "checkpoint"));
        var fromCheckpoint = Policy.Load(Path.Combine(dir.Path, "checkpoint"));
        Assert.Equal(before.Actions.Count, Play(fromCheckpoint, env, seed: 3).Actions.Count);
    }

    [Fact]
    public void Reset_forgets_the_memory_and_actions_are_available()
    {
        var env = Environments.Combat("3m");
        using var trainer = new Trainer(env, new TrainingOptions { TotalSteps = 0 });
        var policy = trainer.Policy;
        env.Reset(1);
        var obs = env.Observations;
        var avail = env.AvailableActions;
        var first = policy.Act(obs, avail);
        policy.Reset();
        Assert.Equal(first, policy.Act(obs, avail));
        policy.Reset();
        Assert.Equal(first, policy.Clone().Act(obs, avail));
        Assert.All(first, (u, agent) => Assert.True(avail[agent * env.Spec.Actions + u]));
    }

    [Fact]
    public void Acting_into_a_span_matches_the_array_overload_and_allocates_nothing()
    {
        var env = Environments.Combat("3m");
        using var trainer = new Trainer(env, new TrainingOptions { TotalSteps = 0, Seed = 3 });
        var byArray = trainer.Policy.Clone();
        var bySpan = trainer.Policy.Clone();
        var actions = new int[env.Spec.Agents];
        env.Reset(5);
        for (var t = 0; t < 20 && !env.IsDone; t++)
        {
            var obs = env.Observations;
            var avail = env.AvailableActions;
            var expected = byArray.Act(obs, avail);
            bySpan.Act(obs, avail, actions);
            Assert.Equal(expected, actions);
            env.Step(expected);
        }

        env.Reset(6);
        var o = env.Observations;
        var av = env.AvailableActions;
        for (var i = 0; i < 100; i++) bySpan.Act(o, av, actions);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++) bySpan.Act(o, av, actions);
        Assert.Equal(0L, GC.GetAllocatedBytesForCurrentThread() - before);

        var wrong = Assert.Throws<ArgumentException>(() => bySpan.Act(o, av, new int[2]));
        Assert.Equal("actions", wrong.ParamName);
        Assert.Contains("expected 3", wrong.Message);
        Assert.Equal("observations", Assert.Throws<ArgumentException>(() => bySpan.Act(o.AsSpan(1), av, actions)).ParamName);
    }

    [Fact]
    public void Evaluation_is_deterministic_and_reports_wins()
    {
        var env = Environments.Combat("3m");
        using var trainer = new Trainer(env, new TrainingOptions { TotalSteps = 0 });
        var a = Evaluation.Run(trainer.Policy, env, episodes: 3, seed: 11);
        var b = Evaluation.Run(trainer.Policy, env, episodes: 3, seed: 11);
        Assert.Equal(a.Returns, b.Returns);
        Assert.Equal(a.EpisodeLengths, b.EpisodeLengths);
        Assert.Equal(3, a.Episodes);
        Assert.NotNull(a.WinRate);
        Assert.All(a.EpisodeLengths, l => Assert.InRange(l, 1, env.Spec.EpisodeLimit));
        Assert.Equal(a.Returns.Average(), a.MeanReturn, 5);
    }

    [Fact]
    public void Bad_input_to_a_policy_is_rejected()
    {
        var policy = twoStep.Value.Clone();
        var obs = new float[8];
        var avail = Enumerable.Repeat(true, 4).ToArray();
        Assert.Equal("observations", Assert.Throws<ArgumentNullException>(() => policy.Act(null!, avail)).ParamName);
        Assert.Equal("availableActions", Assert.Throws<ArgumentNullException>(() => policy.Act(obs, null!)).ParamName);
        var wrong = Assert.Throws<ArgumentException>(() => policy.Act(new float[7], avail));
        Assert.Equal("observations", wrong.ParamName);
        Assert.Contains("expected 8", wrong.Message);
        Assert.Equal("availableActions", Assert.Throws<ArgumentException>(() => policy.Act(obs, new bool[3])).ParamName);
        Assert.Equal("availableActions", Assert.Throws<ArgumentException>(() => policy.Act(obs, [true, true, false, false])).ParamName);

        Assert.Equal("path", Assert.Throws<ArgumentNullException>(() => policy.Save(null!)).ParamName);
        Assert.Equal("path", Assert.Throws<ArgumentException>(() => Policy.Load(" ")).ParamName);
        Assert.Equal("spec", Assert.Throws<ArgumentNullException>(() => Policy.Load("x", null!)).ParamName);
        Assert.Throws<FileNotFoundException>(() => Policy.Load(Path.Combine(Path.GetTempPath(), "no-such-qmix-model")));
        Assert.Throws<FileNotFoundException>(() =>
            Policy.Load(Path.Combine(Path.GetTempPath(), "no-such-qmix-model"), Environments.TwoStep().Spec));
    }

    [Fact]
    public void A_model_for_other_sizes_is_refused()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "two-step");
        twoStep.Value.Save(path);
        Assert.Equal("spec", Assert.Throws<ArgumentException>(() => Policy.Load(path, Environments.Checkers().Spec)).ParamName);
        // without the sidecar the shapes decide
        File.Delete(path + ".options.json");
        Assert.Throws<FileNotFoundException>(() => Policy.Load(path));
        Assert.Throws<InvalidDataException>(() => Policy.Load(path, Environments.Checkers().Spec));
        // the wrong options for the right spec: the shapes differ
        Assert.Throws<InvalidDataException>(() => Policy.Load(path, Environments.TwoStep().Spec, new TrainingOptions()));
        Assert.Equal(Environments.TwoStep().Spec, Policy.Load(path, Environments.TwoStep().Spec, twoStep.Value.Options).Spec);
    }

    [Fact]
    public void Bad_input_to_an_evaluation_is_rejected()
    {
        var policy = twoStep.Value;
        var env = Environments.TwoStep();
        Assert.Equal("policy", Assert.Throws<ArgumentNullException>(() => Evaluation.Run(null!, env)).ParamName);
        Assert.Equal("environment", Assert.Throws<ArgumentNullException>(() => Evaluation.Run(policy, null!)).ParamName);
        Assert.Equal("episodes", Assert.Throws<ArgumentOutOfRangeException>(() => Evaluation.Run(policy, env, 0)).ParamName);
        Assert.Equal("environment", Assert.Throws<ArgumentException>(() => Evaluation.Run(policy, Environments.NonMonotonic())).ParamName);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.Throws<OperationCanceledException>(() => Evaluation.Run(policy, env, 5, 0, cts.Token));
    }

    [Fact]
    public void A_policy_plays_a_variant_of_its_map_with_the_same_sizes_but_not_another_map()
    {
        using var trainer = new Trainer(Environments.Create("combat:3m"), new TrainingOptions { TotalSteps = 0 });
        var policy = trainer.Train().Policy;
        var variant = Environments.Create("combat:3m,cooldown=fixed");
        Assert.NotEqual(policy.Spec.Name, variant.Spec.Name);
        Assert.Equal(3, Evaluation.Run(policy, variant, 3).Returns.Count);
        // negative control: combat:5m has other sizes
        var e = Assert.Throws<ArgumentException>(() => Evaluation.Run(policy, Environments.Create("combat:5m"), 3));
        Assert.Contains("combat:5m", e.Message);
    }
}
