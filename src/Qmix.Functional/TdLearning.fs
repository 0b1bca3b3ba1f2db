namespace Qmix.Functional

open System

/// <summary>The pieces of Q-learning that every learner engine computes the same way, written once: the masked
/// greedy action, the one-step or TD(λ) target, and the loss normaliser (the number of steps the loss counts).
/// The tape engine and the fused engine both call them, so they cannot drift apart.</summary>
[<RequireQualifiedAccess>]
module TdLearning =
    /// <summary>The value PyMARL gives unavailable actions before any max.</summary>
    [<Literal>]
    let Masked = -9999999.0f

    /// <summary>The greedy action among the available ones, the first on ties: the argmax over u of
    /// <c>q[qAt + u]</c>, reading <c>Masked</c> where <c>avail[availAt + u]</c> is 0 (PyMARL's
    /// <c>q[avail == 0] = -9999999; q.max(dim=3)</c>).</summary>
    /// <param name="q">Q-values; the row starts at <paramref name="qAt"/>.</param>
    /// <param name="qAt">Where the row of Q-values starts.</param>
    /// <param name="avail">Availability (1 or 0); the row starts at <paramref name="availAt"/>.</param>
    /// <param name="availAt">Where the row of availabilities starts.</param>
    /// <param name="a">The number of actions A.</param>
    let inline greedy (q: float32[]) (qAt: int) (avail: float32[]) (availAt: int) (a: int) : int =
        let mutable best = Single.NegativeInfinity
        let mutable arg = 0

        for u in 0 .. a - 1 do
            let v = if avail[availAt + u] = 0.0f then Masked else q[qAt + u]

            if v > best then
                best <- v
                arg <- u

        arg

    /// <summary>One step of the targets, built backwards through an episode (pymarl2's
    /// <c>build_td_lambda_targets</c>; λ = 0 gives PyMARL's one-step target):
    /// y_t = r_t + γ (1 − terminated_t) · (Q'_{t+1} when t + 1 is the last counted step, else
    /// (1 − λ) Q'_{t+1} + λ y_{t+1}).</summary>
    /// <param name="gamma">The discount γ.</param>
    /// <param name="lambda">TD(λ)'s λ (0 for one-step targets).</param>
    /// <param name="reward">r_t.</param>
    /// <param name="terminated">terminated_t (1 or 0).</param>
    /// <param name="lastCounted">Whether step t + 1 ends the steps the loss counts (the episode's last, or padding
    /// after it), so that nothing beyond it bootstraps.</param>
    /// <param name="next">The target network's value Q'_{t+1}.</param>
    /// <param name="nextTarget">The target y_{t+1} (read only when <paramref name="lastCounted"/> is false).</param>
    let inline target
        (gamma: float32)
        (lambda: float32)
        (reward: float32)
        (terminated: float32)
        (lastCounted: bool)
        (next: float32)
        (nextTarget: float32)
        : float32 =
        let notDone = 1.0f - terminated

        let boot =
            if lastCounted then
                next
            else
                (1.0f - lambda) * next + lambda * nextTarget

        reward + gamma * notDone * boot

    /// <summary>λ of a target choice: 0 for one-step targets.</summary>
    let lambdaOf (target: TdTarget) : float32 =
        match target with
        | OneStep -> 0.0f
        | TdLambda l -> l

    /// <summary>The steps the loss counts over a batch: the sum of <c>EpisodeBatch.maskAt</c> over every episode and
    /// step t &lt; T (episode by episode). The loss is the masked squared TD error's sum over this times the mixer's
    /// output width.</summary>
    /// <exception cref="System.ArgumentException">No step counts (the batch has nothing to learn from).</exception>
    let countedSteps (batch: EpisodeBatch) : float32 =
        let b, t1 = batch.BatchSize, batch.MaxSeqLength
        let mutable counted = 0.0f

        for e in 0 .. b - 1 do
            for t in 0 .. t1 - 2 do
                counted <- counted + EpisodeBatch.maskAt batch e t

        if counted <= 0.0f then
            invalidArg (nameof batch) "episode batch: no filled step to learn from"

        counted
