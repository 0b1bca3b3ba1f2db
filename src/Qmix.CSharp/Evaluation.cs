using Microsoft.FSharp.Core;
using Qmix.Tensors;
using F = Qmix.Functional;

namespace Qmix;

/// <summary>Greedy evaluation: runs a policy's agents with ε = 0 for a number of episodes and reports the returns,
/// the win rate and the episode lengths.</summary>
public static class Evaluation
{
    static readonly FSharpFunc<int, float> greedy = FuncConvert.FromFunc<int, float>(_ => 0f);

    /// <summary>Runs greedy episodes of a policy in an environment, one after the other. Each episode starts from
    /// a fresh memory; the policy's own memory (<see cref="Policy.Act(float[], bool[])"/>) is not touched.</summary>
    /// <param name="policy">The policy.</param>
    /// <param name="environment">The environment, built-in or a user's own; its spec must equal the
    /// policy's.</param>
    /// <param name="episodes">How many episodes (at least 1).</param>
    /// <param name="seed">The seed of the episodes: the same policy, environment and seed give the same
    /// result.</param>
    /// <param name="cancellationToken">Stops between two episodes.</param>
    /// <returns>The episodes' returns, win rate and lengths.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="policy"/> or <paramref name="environment"/> is
    /// null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="episodes"/> is below 1.</exception>
    /// <exception cref="ArgumentException">The environment's sizes (agents, actions, observation and state widths,
    /// episode limit) differ from the policy's; its name may differ, so a policy plays a variant of the map it was
    /// trained on (e.g. <c>combat:3m,cooldown=fixed</c> for <c>combat:3m</c>).</exception>
    /// <exception cref="OperationCanceledException">The evaluation was cancelled.</exception>
    /// <exception cref="InvalidOperationException">A user's environment broke its contract.</exception>
    /// <exception cref="NonFiniteQValueException">An agent's Q-value is NaN or infinite (the message names the
    /// episode, the agent and the step).</exception>
    public static EvaluationResult Run(
        Policy policy, IMultiAgentEnvironment environment, int episodes = 100, ulong seed = 0,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(environment);
        Guard.AtLeast(episodes, 1, nameof(episodes));
        var env = MultiAgentEnvironment.From(environment, nameof(environment));
        // the sizes must agree; the name may differ (a policy for combat:3m plays combat:3m,cooldown=fixed)
        var (ps, es) = (policy.Spec, env.Spec);
        if ((ps.Agents, ps.Actions, ps.ObservationSize, ps.StateSize, ps.EpisodeLimit) != (es.Agents, es.Actions, es.ObservationSize, es.StateSize, es.EpisodeLimit))
            throw new ArgumentException($"the policy is for {policy.Spec}, the environment is {env.Spec}", nameof(environment));

        var key = Rng.key(seed);
        var all = new List<F.Episode>(episodes);
        for (var i = 0; i < episodes; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                var (run, _) = F.Runner.runEpisodes(
                    env.Core, policy.AgentConfig, policy.Parameters.Agent, greedy, 0, 1, Rng.foldIn(i, key));
                all.Add(run[0]);
            }
            catch (F.NonFiniteQValueException e)
            {
                throw new NonFiniteQValueException($"episode {i}: {e.Message}", e.Agent, e.Step, e);
            }
        }
        var stats = F.Runner.stats(all.ToArray());
        return new EvaluationResult
        {
            MeanReturn = stats.MeanReturn,
            WinRate = stats.WinRate is { } w ? w.Value : null,
            Returns = stats.Returns.Select(r => (double)r).ToArray(),
            EpisodeLengths = all.Select(e => e.Length).ToArray(),
        };
    }
}
