using Xunit;

namespace Qmix.Tests;

/// <summary>Monotonicity and argmax-decomposition checks through the facade, and the negative control.</summary>
public class MixerVerificationTests
{
    [Fact]
    public void Every_algorithms_mixer_passes_both_checks()
    {
        foreach (var algo in Enum.GetValues<Algorithm>())
        {
            var r = MixerVerification.Check(algo, agents: 3, actions: 3, stateSize: 5, trials: 10, seed: 2);
            Assert.True(r.Passed, r.ToString());
            Assert.Equal("monotonicity", r.Monotonicity.Property);
            Assert.Equal("argmax decomposition", r.ArgmaxDecomposition.Property);
            Assert.Equal(10, r.Monotonicity.CasesChecked);
            Assert.Null(r.Monotonicity.Counterexample);
            Assert.Equal(2UL, r.ArgmaxDecomposition.Seed);
            Assert.Contains("passed 10 cases", r.Monotonicity.Description);
        }
        Assert.Equal("cw-qmix", MixerVerification.Check(Algorithm.CwQmix, trials: 1).Mixer);
    }

    [Fact]
    public void Mixers_are_found_by_name()
    {
        foreach (var name in MixerVerification.MixerNames.Where(n => n != MixerVerification.NegativeControl))
            Assert.Equal(name, MixerVerification.Check(name, trials: 2).Mixer);
        var r = MixerVerification.Check("QMIX", trials: 3, options: new TrainingOptions { HypernetworkLayers = 1, NonNegativeWeights = NonNegativeWeights.Softplus });
        Assert.True(r.Passed);
        Assert.Equal("qmix", r.Mixer);
    }

    [Fact]
    public void The_negative_control_fails_with_a_counterexample()
    {
        var r = MixerVerification.CheckNegativeControl(seed: 1);
        Assert.False(r.Passed);
        Assert.False(r.Monotonicity.Passed);
        Assert.False(r.Monotonicity.Claimed);
        Assert.False(r.ArgmaxDecomposition.Passed);
        Assert.Contains("the greedy tuple (", r.ArgmaxDecomposition.Counterexample);
        Assert.InRange(r.Monotonicity.CasesChecked, 1, 100);
        Assert.NotNull(r.Monotonicity.Counterexample);
        Assert.Contains("agent Qs = [", r.Monotonicity.Counterexample);
        Assert.Contains("qmix-no-abs", r.Monotonicity.Description);
        Assert.Contains("FAILED", r.Monotonicity.Description);
        Assert.Contains("counterexample", r.ToString());
        Assert.False(MixerVerification.Check("qmix-no-abs").Monotonicity.Passed);
    }

    [Fact]
    public void Bad_arguments_are_rejected()
    {
        var e = Assert.Throws<ArgumentException>(() => MixerVerification.Check("qtran"));
        Assert.Equal("mixer", e.ParamName);
        Assert.Contains("qmix-lin", e.Message);
        Assert.Equal("mixer", Assert.Throws<ArgumentNullException>(() => MixerVerification.Check((string)null!)).ParamName);
        Assert.Equal("agents", Assert.Throws<ArgumentOutOfRangeException>(() => MixerVerification.Check(Algorithm.Qmix, agents: 0)).ParamName);
        Assert.Equal("actions", Assert.Throws<ArgumentOutOfRangeException>(() => MixerVerification.Check(Algorithm.Qmix, actions: 0)).ParamName);
        Assert.Equal("stateSize", Assert.Throws<ArgumentOutOfRangeException>(() => MixerVerification.Check(Algorithm.Qmix, stateSize: 0)).ParamName);
        Assert.Equal("trials", Assert.Throws<ArgumentOutOfRangeException>(() => MixerVerification.CheckNegativeControl(trials: 0)).ParamName);
        Assert.Equal("algorithm", Assert.Throws<ArgumentOutOfRangeException>(() => MixerVerification.Check((Algorithm)99)).ParamName);
        var big = Assert.Throws<ArgumentException>(() => MixerVerification.Check(Algorithm.Vdn, agents: 10, actions: 10));
        Assert.Equal("actions", big.ParamName);
    }
}
