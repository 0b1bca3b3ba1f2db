namespace Qmix.Functional

open System.Collections.Immutable
open Qmix.Tensors

/// <summary>An immutable episode replay buffer with PyMARL's semantics: it holds at most <c>Capacity</c> episodes of
/// one environment spec, evicts the oldest first, and samples episodes uniformly without replacement. Adding returns
/// a new buffer and leaves the old one as it was; the two share every episode they have in common.</summary>
/// <remarks>The episodes are kept in a persistent balanced tree (<c>System.Collections.Immutable.ImmutableList</c>),
/// so adding, evicting and reading one episode each cost O(log capacity) and never copy the stored episodes. Each
/// episode is kept compactly: its recorded steps only (not the padding up to the episode limit), its available-action
/// masks as bits, and its observations and states in the buffer's <see cref="T:Qmix.Functional.ReplayPrecision"/>.
/// Two buffers are equal when they have the same capacity and precision, the same count of episodes ever added, and
/// equal episodes in the same order.</remarks>
[<CustomEquality; NoComparison>]
type Replay =
    private
        {
            capacity: int
            precision: ReplayPrecision
            /// <exclude/>
            stored: ImmutableList<StoredEpisode>
            totalAdded: int64
        }

    /// <summary>The most episodes the buffer holds (PyMARL's <c>buffer_size</c>).</summary>
    member r.Capacity = r.capacity

    /// <summary>How the buffer stores observations and states.</summary>
    member r.Precision = r.precision

    /// <summary>The number of episodes held, at most <c>Capacity</c>.</summary>
    member r.Count = r.stored.Count

    /// <summary>The number of episodes ever added, evicted ones included.</summary>
    member r.TotalAdded = r.totalAdded

    /// <summary>Equal capacity and precision, equal count of episodes ever added, and equal episodes in the same
    /// order.</summary>
    override r.Equals(other: obj) =
        match other with
        | :? Replay as o ->
            r.capacity = o.capacity
            && r.precision = o.precision
            && r.totalAdded = o.totalAdded
            && r.stored.Count = o.stored.Count
            && Seq.forall2 (fun (a: StoredEpisode) b -> obj.ReferenceEquals(a, b) || a = b) r.stored o.stored
        | _ -> false

    /// <summary>A hash of the capacity, the count of episodes ever added and the number held.</summary>
    override r.GetHashCode() =
        System.HashCode.Combine(r.capacity, r.totalAdded, r.stored.Count)

    /// <summary>A short description: capacity, count and episodes ever added.</summary>
    override r.ToString() =
        sprintf "Replay(capacity=%d, count=%d, totalAdded=%d)" r.capacity r.stored.Count r.totalAdded

/// <summary>Functions over replay buffers. Every function returns a new buffer or a value; none changes its
/// argument.</summary>
[<RequireQualifiedAccess>]
module Replay =
    let private specText (s: EnvSpec) =
        sprintf
            "%s (N=%d, A=%d, obs_dim=%d, state_dim=%d, episode_limit=%d)"
            s.Name
            s.NAgents
            s.NActions
            s.ObsDim
            s.StateDim
            s.EpisodeLimit

    /// <summary>An empty buffer holding at most <paramref name="capacity"/> episodes, storing observations and states
    /// in a given precision.</summary>
    /// <param name="precision">How observations and states are stored (<c>Float32</c> keeps them exactly).</param>
    /// <param name="capacity">The most episodes held, at least 1 (PyMARL's <c>buffer_size</c>, 5000 for QMIX).</param>
    /// <exception cref="System.ArgumentException"><paramref name="capacity"/> is less than 1.</exception>
    let emptyWith (precision: ReplayPrecision) (capacity: int) : Replay =
        if capacity < 1 then
            invalidArg (nameof capacity) (sprintf "Replay.empty: capacity must be at least 1, got %d" capacity)

        {
            capacity = capacity
            precision = precision
            stored = ImmutableList<StoredEpisode>.Empty
            totalAdded = 0L
        }

    /// <summary>An empty buffer holding at most <paramref name="capacity"/> episodes, storing them exactly
    /// (<c>Float32</c>).</summary>
    /// <param name="capacity">The most episodes held, at least 1 (PyMARL's <c>buffer_size</c>, 5000 for QMIX).</param>
    /// <exception cref="System.ArgumentException"><paramref name="capacity"/> is less than 1.</exception>
    let empty (capacity: int) : Replay = emptyWith Float32 capacity

    /// <summary>How the buffer stores observations and states.</summary>
    let precision (buffer: Replay) : ReplayPrecision = buffer.Precision

    /// <summary>The bytes the episodes held take in memory (their arrays as stored, without the objects around
    /// them).</summary>
    let bytes (buffer: Replay) : int64 =
        Seq.sumBy StoredEpisode.bytes buffer.stored

    /// <summary>The most bytes one recorded step of an environment takes in a buffer of a given precision: its
    /// observations, state, actions, available-action mask (as bits) and reward. An episode of L steps takes
    /// L + 1 of them.</summary>
    /// <param name="spec">The environment's sizes.</param>
    /// <param name="precision">How observations and states are stored.</param>
    let stepBytes (spec: EnvSpec) (precision: ReplayPrecision) : float = StoredEpisode.stepBytes spec precision

    /// <summary>The most bytes a buffer can hold for a run: <paramref name="capacity"/> episodes at the episode
    /// limit, or, when the run records fewer steps than that, its steps (each episode of L steps takes L + 1 rows of
    /// <see cref="M:Qmix.Functional.ReplayModule.stepBytes"/>).</summary>
    /// <param name="spec">The environment's sizes.</param>
    /// <param name="precision">How observations and states are stored.</param>
    /// <param name="capacity">The most episodes held.</param>
    /// <param name="recordedSteps">The most environment steps the run records (its steps, plus what its last
    /// collection may run past them).</param>
    let mostBytes (spec: EnvSpec) (precision: ReplayPrecision) (capacity: int) (recordedSteps: int64) : int64 =
        let full = int64 capacity * int64 (spec.EpisodeLimit + 1)
        let recorded = max 0L recordedSteps
        let rows = min full (recorded + min (int64 capacity) recorded)
        int64 (ceil (float rows * stepBytes spec precision))

    /// <summary>The most episodes the buffer holds.</summary>
    let capacity (buffer: Replay) : int = buffer.Capacity

    /// <summary>The number of episodes held.</summary>
    let count (buffer: Replay) : int = buffer.Count

    /// <summary>The number of episodes ever added, evicted ones included (for checkpoints and logs).</summary>
    let totalAdded (buffer: Replay) : int64 = buffer.TotalAdded

    /// <summary>The spec of the episodes held, or <c>None</c> for an empty buffer.</summary>
    let spec (buffer: Replay) : EnvSpec option =
        if buffer.stored.IsEmpty then
            None
        else
            Some buffer.stored[0].spec

    /// <summary>Adds an episode, evicting the oldest one when the buffer is full.</summary>
    /// <param name="episode">The episode; it is checked with <see cref="M:Qmix.Functional.EpisodeModule.validate"/>
    /// and must have the spec of the episodes already held.</param>
    /// <param name="buffer">The buffer, left unchanged.</param>
    /// <returns>A new buffer holding the last <c>Capacity</c> episodes, oldest first.</returns>
    /// <exception cref="System.ArgumentException">The episode's arrays do not match its spec, or its spec differs from
    /// that of the episodes held (the message names both specs).</exception>
    let add (episode: Episode) (buffer: Replay) : Replay =
        if obj.ReferenceEquals(episode, null) then
            nullArg (nameof episode)

        Episode.validate episode

        match spec buffer with
        | Some s when s <> episode.Spec ->
            invalidArg
                (nameof episode)
                (sprintf
                    "Replay.add: the episode's spec %s differs from the spec of the episodes in the buffer, %s"
                    (specText episode.Spec)
                    (specText s))
        | _ -> ()

        let kept =
            if buffer.stored.Count >= buffer.capacity then
                buffer.stored.RemoveAt 0
            else
                buffer.stored

        { buffer with
            stored = kept.Add(StoredEpisode.ofEpisode buffer.precision episode)
            totalAdded = buffer.totalAdded + 1L
        }

    /// <summary>Adds episodes in order (a fold of <see cref="M:Qmix.Functional.ReplayModule.add"/>).</summary>
    /// <param name="episodes">The episodes, oldest first.</param>
    /// <param name="buffer">The buffer, left unchanged.</param>
    /// <exception cref="System.ArgumentException">An episode is invalid or of another spec (see <c>add</c>).</exception>
    let addMany (episodes: Episode seq) (buffer: Replay) : Replay =
        if isNull episodes then
            nullArg (nameof episodes)

        Seq.fold (fun b e -> add e b) buffer episodes

    /// <summary>A buffer of a given precision holding given episodes (oldest first) with a given count of episodes
    /// ever added, as a checkpoint recorded it. The episodes are read one at a time, so a lazy sequence is never held
    /// whole in its padded layout.</summary>
    /// <exception cref="System.ArgumentException">More episodes than the capacity, fewer added than held, or an
    /// invalid episode.</exception>
    let restoreWith (precision: ReplayPrecision) (capacity: int) (totalAdded: int64) (episodes: Episode seq) : Replay =
        if isNull episodes then
            nullArg (nameof episodes)

        let mutable b = emptyWith precision capacity
        let mutable n = 0L

        for e in episodes do
            n <- n + 1L

            if n > int64 capacity then
                invalidArg
                    (nameof episodes)
                    (sprintf "Replay.restore: more than %d episodes exceed the capacity %d" capacity capacity)

            b <- add e b

        if totalAdded < n then
            invalidArg
                (nameof totalAdded)
                (sprintf "Replay.restore: %d episodes added in all, but %d held" totalAdded n)

        { b with totalAdded = totalAdded }

    /// <summary>A buffer holding given episodes (oldest first) exactly (<c>Float32</c>) with a given count of
    /// episodes ever added, as a checkpoint recorded it.</summary>
    /// <exception cref="System.ArgumentException">More episodes than the capacity, fewer added than held, or an
    /// invalid episode.</exception>
    let restore (capacity: int) (totalAdded: int64) (episodes: Episode[]) : Replay =
        if isNull episodes then
            nullArg (nameof episodes)

        if episodes.Length > capacity then
            invalidArg
                (nameof episodes)
                (sprintf "Replay.restore: %d episodes exceed the capacity %d" episodes.Length capacity)

        restoreWith Float32 capacity totalAdded episodes

    /// <summary>The episodes held, oldest first, each expanded to the padded layout of
    /// <see cref="T:Qmix.Functional.Episode"/> as it is read (a full buffer read whole takes its uncompressed
    /// size).</summary>
    let toSeq (buffer: Replay) : Episode seq =
        buffer.stored |> Seq.map StoredEpisode.toEpisode

    /// <summary>The episodes held, oldest first, each expanded to the padded layout of
    /// <see cref="T:Qmix.Functional.Episode"/> (new arrays: the buffer's uncompressed size).</summary>
    let episodes (buffer: Replay) : Episode[] = toSeq buffer |> Seq.toArray

    /// <summary>The episode at a position, 0 being the oldest held.</summary>
    /// <exception cref="System.ArgumentException"><paramref name="index"/> is outside 0..count−1.</exception>
    let item (index: int) (buffer: Replay) : Episode =
        if index < 0 || index >= buffer.Count then
            invalidArg (nameof index) (sprintf "Replay.item: index %d is outside 0..%d" index (buffer.Count - 1))

        StoredEpisode.toEpisode buffer.stored[index]

    /// The episode at a position as the buffer stores it.
    let internal stored (index: int) (buffer: Replay) : StoredEpisode = buffer.stored[index]

    /// <summary>Whether <see cref="M:Qmix.Functional.ReplayModule.sample"/> can draw <paramref name="n"/> episodes:
    /// <c>1 ≤ n ≤ count</c> (PyMARL's <c>can_sample</c>).</summary>
    let canSample (n: int) (buffer: Replay) : bool = n >= 1 && n <= buffer.Count

    /// <summary>The positions (0 = oldest held) of <paramref name="n"/> distinct episodes drawn uniformly without
    /// replacement, in the order <see cref="M:Qmix.Functional.ReplayModule.sample"/> stacks them:
    /// <c>Rng.choice key count n</c>.</summary>
    /// <param name="key">The key; the same key and buffer always give the same positions.</param>
    /// <param name="n">The number of episodes, in 1..count.</param>
    /// <param name="buffer">The buffer.</param>
    /// <exception cref="System.ArgumentException"><paramref name="n"/> is less than 1 or more than the episodes
    /// held.</exception>
    let sampleIndices (key: Key) (n: int) (buffer: Replay) : int[] =
        if n < 1 then
            invalidArg (nameof n) (sprintf "Replay.sample: n must be at least 1, got %d" n)

        if n > buffer.Count then
            invalidArg
                (nameof n)
                (sprintf
                    "Replay.sample: cannot draw %d episodes without replacement from a buffer holding %d (see Replay.canSample)"
                    n
                    buffer.Count)

        Rng.choice key buffer.Count n

    /// <summary>A batch of <paramref name="n"/> distinct episodes drawn uniformly without replacement, stacked by
    /// <see cref="M:Qmix.Functional.EpisodeBatchModule.ofEpisodes"/> (so truncated to the longest filled episode plus
    /// one step).</summary>
    /// <param name="key">The key; the same key and buffer always give the same batch.</param>
    /// <param name="n">The batch size B, in 1..count.</param>
    /// <param name="buffer">The buffer.</param>
    /// <exception cref="System.ArgumentException"><paramref name="n"/> is less than 1 or more than the episodes
    /// held.</exception>
    let sample (key: Key) (n: int) (buffer: Replay) : EpisodeBatch =
        let picked = sampleIndices key n buffer |> Array.map (fun i -> buffer.stored[i])
        let spec = picked[0].spec
        let t = (picked |> Array.maxBy (fun e -> e.length)).length + 1
        let batch = EpisodeBatch.reuse (BatchBuffer()) spec n t
        EpisodeBatch.stackAll n (fun i -> StoredEpisode.stackAt batch i picked[i])
        batch

    /// <summary>Like <c>sample</c> (the same episodes for the same key), stacked at full length into a buffer's
    /// reused memory (as <see cref="M:Qmix.Functional.EpisodeBatchModule.stackInto"/> does): no allocation once the
    /// buffer has held a batch of these sizes. The batch is overwritten by the buffer's next use.</summary>
    /// <exception cref="System.ArgumentException"><paramref name="n"/> is less than 1 or more than the episodes
    /// held.</exception>
    let sampleInto (target: BatchBuffer) (key: Key) (n: int) (buffer: Replay) : EpisodeBatch =
        let picked = sampleIndices key n buffer |> Array.map (fun i -> buffer.stored[i])
        let spec = picked[0].spec
        let batch = EpisodeBatch.reuse target spec n (spec.EpisodeLimit + 1)
        System.Array.Clear batch.Terminated
        System.Array.Clear batch.Filled
        EpisodeBatch.stackAll n (fun i -> StoredEpisode.stackAt batch i picked[i])
        batch
