namespace Qmix.Functional

open Qmix.Tensors

/// <summary>A linear exploration schedule: ε falls (or rises) linearly from <c>Start</c> to <c>Finish</c> over
/// <c>AnnealSteps</c> environment steps and stays at <c>Finish</c> afterwards (PyMARL's
/// <c>DecayThenFlatSchedule</c> with <c>decay: linear</c>). PyMARL's defaults are in
/// <c>EpsilonSchedule.defaults</c>.</summary>
type EpsilonSchedule =
    {
        /// <summary>ε at step 0 (<c>epsilon_start</c>, 1.0).</summary>
        Start: float32
        /// <summary>ε from step <c>AnnealSteps</c> on (<c>epsilon_finish</c>, 0.05).</summary>
        Finish: float32
        /// <summary>The number of environment steps the change takes (<c>epsilon_anneal_time</c>, 50 000); 0 or
        /// less means ε is <c>Finish</c> from the start.</summary>
        AnnealSteps: int
    }

    /// <summary>PyMARL's QMIX schedule: 1.0 → 0.05 over 50 000 environment steps.</summary>
    static member defaults =
        {
            Start = 1.0f
            Finish = 0.05f
            AnnealSteps = 50_000
        }

/// <summary>What one call of the runner collected, besides the episodes themselves.</summary>
type RunStats =
    {
        /// <summary>The undiscounted return of each episode, in environment order.</summary>
        Returns: float32[]
        /// <summary>The mean of <c>Returns</c>.</summary>
        MeanReturn: float32
        /// <summary>The fraction of episodes whose last transition reported <c>Won = Some true</c>; <c>None</c> when
        /// no episode's last transition reported a win flag at all (the environment has no notion of winning).
        /// Episodes that report nothing count as not won, as in PyMARL's <c>battle_won_mean</c>.</summary>
        WinRate: float32 option
        /// <summary>The environment steps taken: the sum of the episodes' lengths.</summary>
        Steps: int
        /// <summary>The mean episode length in environment steps: <c>Steps</c> over the number of episodes (PyMARL's
        /// <c>ep_length_mean</c>).</summary>
        MeanLength: float32
        /// <summary>The mean number of the team's dead units at the end of an episode, over the episodes whose last
        /// transition reported <c>Info.Casualties</c>; <c>None</c> when none did (the environment has no armies, or
        /// the statistics come from <see cref="M:Qmix.Functional.Runner.stats"/>, which sees episodes only).</summary>
        DeadAllies: float32 option
        /// <summary>The mean number of the opponents' dead units at the end of an episode, over the same episodes as
        /// <c>DeadAllies</c>; <c>None</c> when none reported casualties.</summary>
        DeadEnemies: float32 option
    }

/// <summary>The exploration schedule.</summary>
[<RequireQualifiedAccess>]
module Epsilon =
    /// <summary>ε at a global environment step: <c>Start + (Finish − Start) · clamp(step / AnnealSteps, 0, 1)</c>,
    /// so <c>Start</c> at step 0 (and before), <c>Finish</c> from step <c>AnnealSteps</c> on.</summary>
    /// <param name="schedule">The schedule.</param>
    /// <param name="step">The global environment step count (PyMARL's <c>t_env</c>).</param>
    let at (schedule: EpsilonSchedule) (step: int) : float32 =
        if schedule.AnnealSteps <= 0 then
            schedule.Finish
        else
            let frac = System.Math.Clamp(float step / float schedule.AnnealSteps, 0.0, 1.0)
            float32 (float schedule.Start + (float schedule.Finish - float schedule.Start) * frac)

/// <summary>Acting in environments: ε-greedy action selection and running batches of episodes in lockstep with the
/// agents' networks.</summary>
[<RequireQualifiedAccess>]
module Runner =
    /// One row's ε-greedy choice among the available actions avail[at .. at+A): with probability ε a uniformly
    /// random available action, else the first largest Q-value among the available ones; −1 when no action is
    /// available.
    let private selectRow
        (key: Key)
        (epsilon: float32)
        (q: System.ReadOnlySpan<float32>)
        (avail: bool[])
        (at: int)
        : int =
        let nActions = q.Length
        let mutable count = 0

        for u in 0 .. nActions - 1 do
            if avail[at + u] then
                count <- count + 1

        let explore, pick = Rng.split key

        if count = 0 then
            -1
        elif epsilon > 0.0f && Rng.float32 explore < epsilon then
            // the k-th available action, k uniform in [0, count)
            let mutable k = Rng.intBelow pick count
            let mutable u = -1

            while k >= 0 do
                u <- u + 1

                if avail[at + u] then
                    k <- k - 1

            u
        else
            let mutable best = -1
            let mutable bestQ = 0.0f

            for u in 0 .. nActions - 1 do
                if avail[at + u] && (best < 0 || q[u] > bestQ) then
                    best <- u
                    bestQ <- q[u]

            best

    let private checkEpsilon (epsilon: float32) =
        if not (epsilon >= 0.0f && epsilon <= 1.0f) then
            invalidArg (nameof epsilon) (sprintf "Runner: ε must be in [0, 1], got %g" epsilon)

    /// <summary>ε-greedy action selection, one action per row (PyMARL's <c>EpsilonGreedyActionSelector</c>): with
    /// probability ε an action drawn uniformly from the row's available actions, otherwise the greedy action, the
    /// largest Q-value among the available actions (the first on ties). An unavailable action is never chosen,
    /// whatever its Q-value: PyMARL masks such Q-values to a huge negative number before the argmax; here they are
    /// skipped, which gives the same choice and stays right for Q-values below the mask value.</summary>
    /// <param name="key">The key; row r draws from <c>Rng.foldIn r key</c> only, so the result is a pure function of
    /// the key and the inputs.</param>
    /// <param name="epsilon">The exploration probability, in [0, 1]; 0 is greedy.</param>
    /// <param name="qs">Q-values [R, A].</param>
    /// <param name="avail">Available-action mask [R·A], row-major (true = available).</param>
    /// <returns>One action index per row, [R].</returns>
    /// <exception cref="System.ArgumentException">ε is outside [0, 1], <paramref name="qs"/> is not [R, A], the mask
    /// has the wrong size (both sizes named), or a row has no available action.</exception>
    let selectActions (key: Key) (epsilon: float32) (qs: Tensor) (avail: bool[]) : int[] =
        checkEpsilon epsilon

        if isNull qs || qs.Rank <> 2 then
            invalidArg (nameof qs) "Runner.selectActions: Q-values must be a tensor [R, A]"

        if isNull avail then
            nullArg (nameof avail)

        let r, a = qs.Shape[0], qs.Shape[1]

        if avail.Length <> r * a then
            invalidArg
                (nameof avail)
                (sprintf
                    "Runner.selectActions: the available-action mask has %d values, expected %d (R=%d × A=%d)"
                    avail.Length
                    (r * a)
                    r
                    a)

        let q = Tensor.toArray qs

        Array.init r (fun row ->
            let u =
                selectRow (Rng.foldIn row key) epsilon (System.ReadOnlySpan(q, row * a, a)) avail (row * a)

            if u < 0 then
                invalidArg (nameof avail) (sprintf "Runner.selectActions: row %d has no available action" row)

            u)

    /// Reads the observations, state and mask of one environment state, checking their sizes.
    let private observe (env: Env<'S>) (state: 'S) =
        let spec = env.Spec
        let name = spec.Name

        let check (what: string) (actual: int) (expected: int) (layout: string) =
            if actual <> expected then
                invalidArg
                    (nameof env)
                    (sprintf "%s: %s has %d values, expected %d (%s)" name what actual expected layout)

        let obs = env.Observations state

        if isNull obs then
            invalidArg (nameof env) (sprintf "%s: the observations are null" name)

        check
            "the observation"
            obs.Length
            (spec.NAgents * spec.ObsDim)
            (sprintf "N=%d × obs_dim=%d" spec.NAgents spec.ObsDim)

        let gs = env.GlobalState state

        if isNull gs then
            invalidArg (nameof env) (sprintf "%s: the global state is null" name)

        check "the global state" gs.Length spec.StateDim (sprintf "state_dim=%d" spec.StateDim)
        let avail = env.AvailableActions state

        if isNull avail then
            invalidArg (nameof env) (sprintf "%s: the available-action mask is null" name)

        check
            "the available-action mask"
            avail.Length
            (spec.NAgents * spec.NActions)
            (sprintf "N=%d × A=%d" spec.NAgents spec.NActions)

        obs, gs, avail

    /// One episode under construction: the padded arrays of an Episode, written step by step.
    type private Recorder(spec: EnvSpec) =
        let t1 = spec.EpisodeLimit + 1
        let n, a = spec.NAgents, spec.NActions

        member val Obs = Array.zeroCreate<float32>(t1 * n * spec.ObsDim)
        member val State = Array.zeroCreate<float32>(t1 * spec.StateDim)
        member val Actions = Array.zeroCreate<int>(t1 * n)
        member val Avail = Array.zeroCreate<float32>(t1 * n * a)
        member val Reward = Array.zeroCreate<float32> t1

        /// Stores what is seen at time step t.
        member r.Observe(t: int, obs: float32[], state: float32[], avail: bool[]) =
            System.Array.Copy(obs, 0, r.Obs, t * obs.Length, obs.Length)
            System.Array.Copy(state, 0, r.State, t * state.Length, state.Length)

            for i in 0 .. avail.Length - 1 do
                r.Avail[t * avail.Length + i] <- if avail[i] then 1.0f else 0.0f

    /// The statistics of recorded episodes, with what each episode's last transition reported as its casualties
    /// (None for an episode that reported none).
    let internal statsWith (episodes: Episode[]) (casualties: Casualties option[]) : RunStats =
        if isNull episodes || episodes.Length = 0 then
            invalidArg (nameof episodes) "Runner.stats: no episodes"

        if isNull casualties || casualties.Length <> episodes.Length then
            invalidArg (nameof casualties) "Runner.stats: one casualty report (or None) per episode is needed"

        let returns = episodes |> Array.map Episode.totalReward

        let winRate =
            if episodes |> Array.exists (fun ep -> ep.Won.IsSome) then
                let wins = episodes |> Array.filter (fun ep -> ep.Won = Some true) |> Array.length
                Some(float32 wins / float32 episodes.Length)
            else
                None

        let steps = episodes |> Array.sumBy (fun ep -> ep.Length)
        // the mean over the episodes that reported casualties
        let reported = casualties |> Array.choose id

        let meanOf (count: Casualties -> int) =
            if reported.Length = 0 then
                None
            else
                Some(float32 (reported |> Array.sumBy (count >> float)) / float32 reported.Length)

        {
            Returns = returns
            MeanReturn = Array.average returns
            WinRate = winRate
            Steps = steps
            MeanLength = float32 steps / float32 episodes.Length
            DeadAllies = meanOf _.DeadAllies
            DeadEnemies = meanOf _.DeadEnemies
        }

    /// <summary>The statistics of recorded episodes: their returns, mean return, win rate (from each episode's
    /// <c>Won</c>; <c>None</c> when no episode reports one, and episodes that report nothing count as not won),
    /// the steps they took (the sum of their lengths) and their mean length. An episode does not keep its
    /// casualties, so <c>DeadAllies</c> and <c>DeadEnemies</c> are <c>None</c> here; the statistics that
    /// <see cref="M:Qmix.Functional.Runner.runEpisodes"/> and <see cref="M:Qmix.Functional.Runner.evaluate"/>
    /// return have them.</summary>
    /// <exception cref="System.ArgumentException">No episodes.</exception>
    let stats (episodes: Episode[]) : RunStats =
        if isNull episodes then
            invalidArg (nameof episodes) "Runner.stats: no episodes"

        statsWith episodes (Array.create episodes.Length None)

    /// The episodes of a run (see runEpisodes) and what each one's last transition reported as its casualties.
    let internal runEpisodesWithCasualties
        (env: Env<'S>)
        (agentCfg: AgentConfig)
        (agent: AgentParams)
        (epsilonAt: int -> float32)
        (tEnv: int)
        (nEnvs: int)
        (key: Key)
        : Episode[] * Casualties option[] =
        if nEnvs < 1 then
            invalidArg (nameof nEnvs) (sprintf "Runner.runEpisodes: nEnvs must be at least 1, got %d" nEnvs)

        let spec = env.Spec

        if spec.EpisodeLimit < 1 then
            invalidArg
                (nameof env)
                (sprintf "%s: the episode limit must be at least 1, got %d" spec.Name spec.EpisodeLimit)

        let n, a, o = spec.NAgents, spec.NActions, spec.ObsDim
        let limit = spec.EpisodeLimit

        let keys =
            Array.init nEnvs (fun e ->
                let k = Rng.splitN 3 (Rng.foldIn e key)
                struct (k[0], k[1], k[2]))

        let states =
            Array.init nEnvs (fun e -> let struct (reset, _, _) = keys[e] in env.Reset reset)

        let recorders = Array.init nEnvs (fun _ -> Recorder spec)
        // what each environment currently shows, and its agents' previous actions
        let obs = Array.zeroCreate<float32[]> nEnvs
        let avail = Array.zeroCreate<bool[]> nEnvs
        let lastActions = Array.create (nEnvs * n) -1
        let lengths = Array.zeroCreate<int> nEnvs
        let terminated = Array.zeroCreate<bool> nEnvs
        let won = Array.zeroCreate<bool option> nEnvs
        let casualties = Array.create nEnvs None

        for e in 0 .. nEnvs - 1 do
            let ob, gs, av = observe env states[e]
            recorders[e].Observe(0, ob, gs, av)
            obs[e] <- ob
            avail[e] <- av

        // the environments still running, in order; the hidden state has one block of N rows for each
        let mutable live = Array.init nEnvs id
        // the fused step, its weights packed once for the run; its buffers hold every environment's rows
        let actor = Actor.create agentCfg spec agent (nEnvs * n)
        let hd = actor.HiddenDim
        let h = Array.zeroCreate<float32>(nEnvs * n * hd)
        let obsIn = Array.zeroCreate<float32>(nEnvs * n * o)
        let lastIn = Array.zeroCreate<int>(nEnvs * n)
        let qData = Array.zeroCreate<float32>(nEnvs * n * a)
        let mutable stepCount = tEnv
        let mutable t = 0

        while live.Length > 0 do
            let rows = live.Length * n
            let epsilon = epsilonAt stepCount
            checkEpsilon epsilon

            // one batched forward pass over the running environments' agents
            live
            |> Array.iteri (fun i e ->
                System.Array.Copy(obs[e], 0, obsIn, i * n * o, n * o)
                System.Array.Copy(lastActions, e * n, lastIn, i * n, n))

            Actor.qValues
                actor
                (System.ReadOnlySpan(obsIn, 0, rows * o))
                (System.ReadOnlySpan(lastIn, 0, rows))
                (System.Span(h, 0, rows * hd))
                (System.Span(qData, 0, rows * a))

            // a NaN or infinite Q-value stops the run, naming the agent and the step
            live
            |> Array.iteri (fun i e -> Actor.checkFinite spec t (e * n) (System.ReadOnlySpan(qData, i * n * a, n * a)))

            let ended = Array.zeroCreate<bool> live.Length

            live
            |> Array.iteri (fun i e ->
                let struct (_, stepKey, actKey) = keys[e]
                let actKey = Rng.foldIn t actKey
                // ε-greedy actions of environment e's agents
                let actions =
                    Array.init n (fun ag ->
                        let row = i * n + ag
                        let q = System.ReadOnlySpan(qData, row * a, a)
                        let u = selectRow (Rng.foldIn ag actKey) epsilon q avail[e] (ag * a)

                        if u < 0 then
                            invalidArg
                                (nameof env)
                                (sprintf "%s: agent %d has no available action at step %d" spec.Name ag t)

                        u)

                // recorded before the step, so an environment that writes into the array cannot change the record
                let rec' = recorders[e]
                System.Array.Copy(actions, 0, rec'.Actions, t * n, n)
                System.Array.Copy(actions, 0, lastActions, e * n, n)
                let state', tr = env.Step states[e] actions (Rng.foldIn t stepKey)
                rec'.Reward[t] <- tr.Reward
                states[e] <- state'
                // what the transition led to, at index t + 1
                let ob, gs, av = observe env state'
                rec'.Observe(t + 1, ob, gs, av)
                obs[e] <- ob
                avail[e] <- av

                if tr.Terminated || tr.Truncated || t + 1 >= limit then
                    lengths[e] <- t + 1
                    terminated[e] <- tr.Terminated
                    won[e] <- tr.Info.Won
                    casualties[e] <- tr.Info.Casualties
                    ended[i] <- true)

            stepCount <- stepCount + live.Length
            t <- t + 1

            if Array.contains true ended then
                // keep the hidden rows of the environments still running, moved down in order
                let keep = [| 0 .. live.Length - 1 |] |> Array.filter (fun i -> not ended[i])

                keep
                |> Array.iteri (fun j i -> System.Array.Copy(h, i * n * hd, h, j * n * hd, n * hd))

                live <- keep |> Array.map (fun i -> live[i])

        let episodes =
            Array.init nEnvs (fun e ->
                let r = recorders[e]

                {
                    Spec = spec
                    Length = lengths[e]
                    Obs = r.Obs
                    State = r.State
                    Actions = r.Actions
                    AvailActions = r.Avail
                    Reward = r.Reward
                    Terminated = terminated[e]
                    Won = won[e]
                })

        episodes, casualties

    /// <summary>Runs <paramref name="nEnvs"/> episodes in lockstep, ε-greedy, and records them.</summary>
    /// <remarks>
    /// <para>Every time step makes one batched forward pass of the agents over the rows of all environments still
    /// running (the fused <c>Actor.qValues</c>, which computes what <c>Agent.actingInputs</c> then <c>Agent.step</c>
    /// compute, to rounding; row <c>e·N + a</c> is agent a of environment e).
    /// The agents' hidden state starts at zero in every episode and is carried per agent; the previous action is
    /// −1 (none) at t = 0. An environment stops at a true termination, when it reports truncation, or when its
    /// episode reaches <c>Spec.EpisodeLimit</c> transitions (the runner cuts it there even if the environment would
    /// go on); the run ends when every environment has stopped.</para>
    /// <para>Exploration: the actions of time step k (k = 0, 1, …) are chosen with ε =
    /// <c>epsilonAt (tEnv + s_k)</c>, where s_k counts the environment steps taken in this run before step k, i.e.
    /// the sum over earlier time steps of the number of environments then running. So the global step counter
    /// advances by one per environment transition, all environments of one time step share one ε, and the run
    /// ends with the counter at <c>tEnv + stats.Steps</c>. (PyMARL's runners instead hold <c>t_env</c> fixed for
    /// a whole run and add the run's steps at its end; pass <c>fun _ -> Epsilon.at schedule tEnv</c> to get that
    /// behaviour exactly.)</para>
    /// <para>Randomness: environment e uses <c>Rng.foldIn e key</c>, split into its reset key, its step keys
    /// (folded with the time step) and its action keys (folded with the time step, then the agent). An
    /// environment's episode is thus the same whatever the number of environments beside it, given the same ε.
    /// The same key always gives the same episodes.</para>
    /// <para>Each episode is padded to <c>episode_limit + 1</c> steps (see <see cref="T:Qmix.Functional.Episode"/>):
    /// index <c>Length</c> holds the observation, state and available actions the last transition led to.
    /// <c>Terminated</c> is the last transition's own flag (false when the episode was truncated), and <c>Won</c>
    /// the last transition's <c>Info.Won</c>. The statistics' <c>DeadAllies</c> and <c>DeadEnemies</c> average the
    /// last transitions' <c>Info.Casualties</c> (the episode record does not keep them).</para>
    /// </remarks>
    /// <param name="env">The environment.</param>
    /// <param name="agentCfg">The agent network's settings (which inputs it takes).</param>
    /// <param name="agent">The agents' parameters.</param>
    /// <param name="epsilonAt">ε as a function of the global environment step, e.g. <c>Epsilon.at schedule</c>.
    /// Its values must lie in [0, 1].</param>
    /// <param name="tEnv">The global environment step count at the start of the run (PyMARL's <c>t_env</c>).</param>
    /// <param name="nEnvs">The number of environments (episodes), at least 1.</param>
    /// <param name="key">The key of the run.</param>
    /// <returns>The episodes, in environment order, and their statistics.</returns>
    /// <exception cref="System.ArgumentException"><paramref name="nEnvs"/> is less than 1, ε is outside [0, 1], or
    /// the environment returns an observation, state or available-action mask of the wrong size (the message
    /// names the environment, the quantity and both sizes), or leaves an agent no available action.</exception>
    /// <exception cref="Qmix.Functional.NonFiniteQValueException">An agent's Q-value is NaN or infinite (the message
    /// names the agent, the environment and the step).</exception>
    let runEpisodes
        (env: Env<'S>)
        (agentCfg: AgentConfig)
        (agent: AgentParams)
        (epsilonAt: int -> float32)
        (tEnv: int)
        (nEnvs: int)
        (key: Key)
        : Episode[] * RunStats =
        let episodes, casualties =
            runEpisodesWithCasualties env agentCfg agent epsilonAt tEnv nEnvs key

        episodes, statsWith episodes casualties

    /// <summary>Test episodes: greedy (ε = 0) runs of <paramref name="nEnvs"/> environments in lockstep until
    /// <paramref name="nEpisodes"/> episodes are done (the last run may use fewer environments); run i uses
    /// <c>Rng.foldIn i key</c>. Report these as test statistics, apart from the training episodes' own.</summary>
    /// <param name="env">The environment.</param>
    /// <param name="agentCfg">The agent network's settings.</param>
    /// <param name="agent">The agents' parameters.</param>
    /// <param name="nEpisodes">The number of test episodes, at least 1.</param>
    /// <param name="nEnvs">The number of environments run in lockstep, at least 1.</param>
    /// <param name="key">The key of the evaluation.</param>
    /// <returns>The statistics of the test episodes (returns, mean return, win rate, steps, mean length and, where
    /// the environment reports them, the mean dead units at the end of an episode).</returns>
    /// <exception cref="System.ArgumentException"><paramref name="nEpisodes"/> or <paramref name="nEnvs"/> is less
    /// than 1, or the environment returns arrays of the wrong size.</exception>
    /// <exception cref="Qmix.Functional.NonFiniteQValueException">An agent's Q-value is NaN or infinite.</exception>
    let evaluate
        (env: Env<'S>)
        (agentCfg: AgentConfig)
        (agent: AgentParams)
        (nEpisodes: int)
        (nEnvs: int)
        (key: Key)
        : RunStats =
        if nEpisodes < 1 then
            invalidArg (nameof nEpisodes) (sprintf "Runner.evaluate: nEpisodes must be at least 1, got %d" nEpisodes)

        if nEnvs < 1 then
            invalidArg (nameof nEnvs) (sprintf "Runner.evaluate: nEnvs must be at least 1, got %d" nEnvs)

        let runs = (nEpisodes + nEnvs - 1) / nEnvs

        let runs =
            Array.init runs (fun i ->
                let size = min nEnvs (nEpisodes - i * nEnvs)
                runEpisodesWithCasualties env agentCfg agent (fun _ -> 0.0f) 0 size (Rng.foldIn i key))

        statsWith (runs |> Array.collect fst) (runs |> Array.collect snd)
