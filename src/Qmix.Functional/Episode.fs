namespace Qmix.Functional

open System

/// <summary>One recorded episode, padded to <c>episode_limit + 1</c> time steps (PyMARL's layout). Step
/// <c>t &lt; Length</c> holds a transition: the observation, state and available actions before it, the joint action,
/// and the reward it earned. Index <c>Length</c> holds the observation and state the last transition led to; the
/// rest is zero padding. The arrays are never changed after the episode is built.</summary>
type Episode =
    {
        /// <summary>The sizes of the environment that produced the episode.</summary>
        Spec: EnvSpec
        /// <summary>The number of transitions L (1 ≤ L ≤ episode_limit); steps 0..L−1 are filled.</summary>
        Length: int
        /// <summary>Observations, [T+1, N, obs_dim] with T = episode_limit.</summary>
        Obs: float32[]
        /// <summary>Global states, [T+1, state_dim].</summary>
        State: float32[]
        /// <summary>Joint actions, [T+1, N] (0 in the padding).</summary>
        Actions: int[]
        /// <summary>Available-action masks, [T+1, N, A] (1 = available).</summary>
        AvailActions: float32[]
        /// <summary>Team rewards, [T+1]; index t belongs to the transition t → t+1.</summary>
        Reward: float32[]
        /// <summary>Whether the last transition (index L−1) was a true termination; false when the limit cut the
        /// episode, so the learner bootstraps through it.</summary>
        Terminated: bool
        /// <summary>Whether the team won, for environments that report it.</summary>
        Won: bool option
    }

/// <summary>A batch of episodes in PyMARL's layout: B episodes of <c>MaxSeqLength</c> time steps each, arrays flat
/// and row-major. Float flags (terminated, filled) are 0 or 1.</summary>
type EpisodeBatch =
    {
        /// <summary>The number of episodes B.</summary>
        BatchSize: int
        /// <summary>The time steps per episode T' (the longest filled episode plus one, or episode_limit + 1).</summary>
        MaxSeqLength: int
        /// <summary>The number of agents N.</summary>
        NAgents: int
        /// <summary>The number of actions A.</summary>
        NActions: int
        /// <summary>The observation width.</summary>
        ObsDim: int
        /// <summary>The state width.</summary>
        StateDim: int
        /// <summary>Observations, [B, T', N, obs_dim].</summary>
        Obs: float32[]
        /// <summary>States, [B, T', state_dim].</summary>
        State: float32[]
        /// <summary>Actions, [B, T', N].</summary>
        Actions: int[]
        /// <summary>Available-action masks, [B, T', N, A].</summary>
        AvailActions: float32[]
        /// <summary>Rewards, [B, T'].</summary>
        Reward: float32[]
        /// <summary>Termination flags, [B, T'] (1 at a true end).</summary>
        Terminated: float32[]
        /// <summary>Filled flags, [B, T'] (1 where a transition was recorded).</summary>
        Filled: float32[]
    }

/// <summary>Functions over episodes.</summary>
[<RequireQualifiedAccess>]
module Episode =
    /// <summary>The number of time steps stored, episode_limit + 1.</summary>
    let steps (episode: Episode) = episode.Spec.EpisodeLimit + 1

    /// <summary>The undiscounted return: the sum of the rewards of the filled steps.</summary>
    let totalReward (episode: Episode) =
        let mutable s = 0.0f

        for t in 0 .. episode.Length - 1 do
            s <- s + episode.Reward[t]

        s

    /// <summary>Checks that every array of an episode has the size its spec implies.</summary>
    /// <exception cref="System.ArgumentException">An array has the wrong size (the message names it and both
    /// sizes), or the length is outside 1..episode_limit.</exception>
    let validate (episode: Episode) : unit =
        let s = episode.Spec
        let t1 = s.EpisodeLimit + 1

        let check (name: string) (actual: int) (expected: int) =
            if actual <> expected then
                invalidArg
                    (nameof episode)
                    (sprintf "episode of %s: %s has %d values, expected %d" s.Name name actual expected)

        if episode.Length < 1 || episode.Length > s.EpisodeLimit then
            invalidArg
                (nameof episode)
                (sprintf "episode of %s: length %d is outside 1..%d" s.Name episode.Length s.EpisodeLimit)

        check "obs [T+1, N, obs_dim]" episode.Obs.Length (t1 * s.NAgents * s.ObsDim)
        check "state [T+1, state_dim]" episode.State.Length (t1 * s.StateDim)
        check "actions [T+1, N]" episode.Actions.Length (t1 * s.NAgents)
        check "avail_actions [T+1, N, A]" episode.AvailActions.Length (t1 * s.NAgents * s.NActions)
        check "reward [T+1]" episode.Reward.Length t1

/// <summary>Reusable memory for episode batches stacked at full length (episode_limit + 1 steps), for a loop that
/// stacks a batch, learns from it, then stacks the next: once grown it allocates nothing. A batch stacked into it is
/// overwritten by the next one, so a loop that owns it is its only user.</summary>
[<Sealed; AllowNullLiteral>]
type BatchBuffer() =
    member val internal Batch: EpisodeBatch option = None with get, set

/// <summary>Functions over episode batches.</summary>
[<RequireQualifiedAccess>]
module EpisodeBatch =
    /// <summary>Checks that every array of a batch has the size its dimensions imply.</summary>
    /// <exception cref="System.ArgumentException">An array has the wrong size; the message names it, its layout and
    /// both sizes.</exception>
    let validate (batch: EpisodeBatch) : unit =
        let b, t = batch.BatchSize, batch.MaxSeqLength

        if b < 1 || t < 2 then
            invalidArg
                (nameof batch)
                (sprintf "episode batch: needs at least 1 episode and 2 time steps, got B=%d T'=%d" b t)

        // the name is formatted only when a check fails
        let check (name: unit -> string) (arr: Array) (expected: int) =
            if isNull arr then
                invalidArg (nameof batch) (sprintf "episode batch: %s is null" (name ()))

            if arr.Length <> expected then
                invalidArg
                    (nameof batch)
                    (sprintf "episode batch: %s has %d values, expected %d" (name ()) arr.Length expected)

        let n, a = batch.NAgents, batch.NActions

        check
            (fun () -> sprintf "obs [B=%d, T'=%d, N=%d, obs_dim=%d]" b t n batch.ObsDim)
            batch.Obs
            (b * t * n * batch.ObsDim)

        check
            (fun () -> sprintf "state [B=%d, T'=%d, state_dim=%d]" b t batch.StateDim)
            batch.State
            (b * t * batch.StateDim)

        check (fun () -> sprintf "actions [B=%d, T'=%d, N=%d]" b t n) batch.Actions (b * t * n)

        check (fun () -> sprintf "avail_actions [B=%d, T'=%d, N=%d, A=%d]" b t n a) batch.AvailActions (b * t * n * a)

        check (fun () -> sprintf "reward [B=%d, T'=%d]" b t) batch.Reward (b * t)
        check (fun () -> sprintf "terminated [B=%d, T'=%d]" b t) batch.Terminated (b * t)
        check (fun () -> sprintf "filled [B=%d, T'=%d]" b t) batch.Filled (b * t)

        for i in 0 .. batch.Actions.Length - 1 do
            let u = batch.Actions[i]

            if u < 0 || u >= a then
                invalidArg (nameof batch) (sprintf "episode batch: actions[%d] = %d is outside 0..%d" i u (a - 1))

    /// <summary>The loss mask of step <paramref name="t"/> of episode <paramref name="e"/>: 1 when the step is filled
    /// and no termination came before it, else 0 (PyMARL's <c>mask[:, 1:] *= 1 − terminated[:, :-1]</c>).</summary>
    let maskAt (batch: EpisodeBatch) (e: int) (t: int) : float32 =
        let t1 = batch.MaxSeqLength
        let filled = batch.Filled[e * t1 + t]

        let alive =
            if t = 0 then
                1.0f
            else
                1.0f - batch.Terminated[e * t1 + t - 1]

        filled * alive

    /// The spec episodes share, after checking each of them; the messages name the caller.
    let private commonSpec (caller: string) (episodes: Episode[]) =
        if isNull episodes || episodes.Length = 0 then
            invalidArg (nameof episodes) (sprintf "EpisodeBatch.%s: no episodes" caller)

        let spec = episodes[0].Spec

        for e in episodes do
            if e.Spec <> spec then
                invalidArg
                    (nameof episodes)
                    (sprintf "EpisodeBatch.%s: episodes of %A and %A cannot share a batch" caller spec e.Spec)

            Episode.validate e

        spec

    /// <summary>Stacks episodes (of one spec) into a batch, truncated to the longest filled episode plus one step
    /// (the step holding the last next-observation).</summary>
    /// <exception cref="System.ArgumentException">No episodes, or episodes of different specs.</exception>
    let ofEpisodes (episodes: Episode[]) : EpisodeBatch =
        let spec = commonSpec "ofEpisodes" episodes

        let b = episodes.Length
        let mutable longest = 0

        for e in episodes do
            longest <- max longest e.Length

        let t = longest + 1
        let n, a, o, s = spec.NAgents, spec.NActions, spec.ObsDim, spec.StateDim

        // Every element of a gathered array is overwritten by one copy of each episode's first t steps, so it is
        // allocated without zeroing.
        let gather (width: int) (pick: Episode -> 'T[]) =
            let rows = t * width
            let out = GC.AllocateUninitializedArray<'T>(b * rows)

            for i in 0 .. b - 1 do
                Array.Copy(pick episodes[i], 0, out, i * rows, rows)

            out

        let terminated = Array.zeroCreate<float32>(b * t)
        let filled = Array.zeroCreate<float32>(b * t)

        for i in 0 .. b - 1 do
            let e = episodes[i]
            Array.Fill(filled, 1.0f, i * t, e.Length)

            if e.Terminated then
                terminated[i * t + e.Length - 1] <- 1.0f

        {
            BatchSize = b
            MaxSeqLength = t
            NAgents = n
            NActions = a
            ObsDim = o
            StateDim = s
            Obs = gather (n * o) (fun e -> e.Obs)
            State = gather s (fun e -> e.State)
            Actions = gather n (fun e -> e.Actions)
            AvailActions = gather (n * a) (fun e -> e.AvailActions)
            Reward = gather 1 (fun e -> e.Reward)
            Terminated = terminated
            Filled = filled
        }

    /// A batch of b episodes of t steps of a spec in a buffer's memory (its arrays as the last use left them), grown
    /// when its sizes differ.
    let internal reuse (buffer: BatchBuffer) (spec: EnvSpec) (b: int) (t: int) : EpisodeBatch =
        let n, a, o, s = spec.NAgents, spec.NActions, spec.ObsDim, spec.StateDim

        match buffer.Batch with
        | Some x when
            x.BatchSize = b
            && x.MaxSeqLength = t
            && x.NAgents = n
            && x.NActions = a
            && x.ObsDim = o
            && x.StateDim = s
            ->
            x
        | _ ->
            let x =
                {
                    BatchSize = b
                    MaxSeqLength = t
                    NAgents = n
                    NActions = a
                    ObsDim = o
                    StateDim = s
                    Obs = Array.zeroCreate (b * t * n * o)
                    State = Array.zeroCreate (b * t * s)
                    Actions = Array.zeroCreate (b * t * n)
                    AvailActions = Array.zeroCreate (b * t * n * a)
                    Reward = Array.zeroCreate (b * t)
                    Terminated = Array.zeroCreate (b * t)
                    Filled = Array.zeroCreate (b * t)
                }

            buffer.Batch <- Some x
            x

    /// Runs stack i for every episode i of a batch of b, the two halves of the batch on two threads when there are
    /// two processors.
    let internal stackAll (b: int) (stack: int -> unit) : unit =
        if b >= 2 && Environment.ProcessorCount > 1 then
            let half = (b + 1) / 2

            System.Threading.Tasks.Parallel.Invoke(
                (fun () ->
                    for i in 0 .. half - 1 do
                        stack i),
                (fun () ->
                    for i in half .. b - 1 do
                        stack i)
            )
        else
            for i in 0 .. b - 1 do
                stack i

    /// <summary>Stacks episodes of one spec into a buffer's memory at full length (episode_limit + 1 steps; PyMARL's
    /// truncation to the longest episode is not applied, and the learner's fused update skips the padding): the same
    /// transitions as <c>ofEpisodes</c>, without allocating once the buffer has held a batch of these sizes. The batch
    /// returned is overwritten by the buffer's next use.</summary>
    /// <exception cref="System.ArgumentException">No episodes, or episodes of different specs.</exception>
    let stackInto (buffer: BatchBuffer) (episodes: Episode[]) : EpisodeBatch =
        let spec = commonSpec "stackInto" episodes

        let b, t = episodes.Length, spec.EpisodeLimit + 1
        let n, a, s = spec.NAgents, spec.NActions, spec.StateDim
        let o = spec.ObsDim
        let batch = reuse buffer spec b t
        Array.Clear batch.Terminated
        Array.Clear batch.Filled

        // each episode's recorded steps are copied and the rest zeroed (what an episode holds there), two halves of
        // the batch on two threads
        let stack (i: int) =
            let e = episodes[i]
            let kept = e.Length + 1

            let put (src: 'T[]) (dst: 'T[]) (width: int) =
                Array.Copy(src, 0, dst, i * t * width, kept * width)
                Array.Clear(dst, (i * t + kept) * width, (t - kept) * width)

            put e.Obs batch.Obs (n * o)
            put e.State batch.State s
            put e.Actions batch.Actions n
            put e.AvailActions batch.AvailActions (n * a)
            put e.Reward batch.Reward 1
            Array.Fill(batch.Filled, 1.0f, i * t, e.Length)

            if e.Terminated then
                batch.Terminated[i * t + e.Length - 1] <- 1.0f

        stackAll b stack
        batch
