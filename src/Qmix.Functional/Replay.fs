namespace Qmix.Functional

open System.Collections.Immutable
open Qmix.Tensors

/// <summary>An immutable episode replay buffer with PyMARL's semantics: it holds at most <c>Capacity</c> episodes of
/// one environment spec, evicts the oldest first, and samples episodes uniformly without replacement. Adding returns
/// a new buffer and leaves the old one as it was; the two share every episode they have in common.</summary>
/// <remarks>The episodes are kept in a persistent balanced tree (<c>System.Collections.Immutable.ImmutableList</c>),
/// so adding, evicting and reading one episode each cost O(log capacity) and never copy the stored episodes. Two
/// buffers are equal when they have the same capacity, the same count of episodes ever added, and equal episodes in the
/// same order.</remarks>
[<CustomEquality; NoComparison>]
type Replay =
    private
        {
            capacity: int
            stored: ImmutableList<Episode>
            totalAdded: int64
        }

    /// <summary>The most episodes the buffer holds (PyMARL's <c>buffer_size</c>).</summary>
    member r.Capacity = r.capacity

    /// <summary>The number of episodes held, at most <c>Capacity</c>.</summary>
    member r.Count = r.stored.Count

    /// <summary>The number of episodes ever added, evicted ones included.</summary>
    member r.TotalAdded = r.totalAdded

    /// <summary>Equal capacity, equal count of episodes ever added, and equal episodes in the same order.</summary>
    override r.Equals(other: obj) =
        match other with
        | :? Replay as o ->
            r.capacity = o.capacity
            && r.totalAdded = o.totalAdded
            && r.stored.Count = o.stored.Count
            && Seq.forall2 (fun (a: Episode) b -> obj.ReferenceEquals(a, b) || a = b) r.stored o.stored
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

    /// <summary>An empty buffer holding at most <paramref name="capacity"/> episodes.</summary>
    /// <param name="capacity">The most episodes held, at least 1 (PyMARL's <c>buffer_size</c>, 5000 for QMIX).</param>
    /// <exception cref="System.ArgumentException"><paramref name="capacity"/> is less than 1.</exception>
    let empty (capacity: int) : Replay =
        if capacity < 1 then
            invalidArg (nameof capacity) (sprintf "Replay.empty: capacity must be at least 1, got %d" capacity)

        {
            capacity = capacity
            stored = ImmutableList<Episode>.Empty
            totalAdded = 0L
        }

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
            Some buffer.stored[0].Spec

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

        {
            capacity = buffer.capacity
            stored = kept.Add episode
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

    /// <summary>A buffer holding given episodes (oldest first) with a given count of episodes ever added, as a
    /// checkpoint recorded it.</summary>
    /// <exception cref="System.ArgumentException">More episodes than the capacity, fewer added than held, or an
    /// invalid episode.</exception>
    let restore (capacity: int) (totalAdded: int64) (episodes: Episode[]) : Replay =
        if episodes.Length > capacity then
            invalidArg
                (nameof episodes)
                (sprintf "Replay.restore: %d episodes exceed the capacity %d" episodes.Length capacity)

        if totalAdded < int64 episodes.Length then
            invalidArg
                (nameof totalAdded)
                (sprintf "Replay.restore: %d episodes added in all, but %d held" totalAdded episodes.Length)

        let b = addMany episodes (empty capacity)
        { b with totalAdded = totalAdded }

    /// <summary>The episodes held, oldest first.</summary>
    let episodes (buffer: Replay) : Episode[] = Seq.toArray buffer.stored

    /// <summary>The episode at a position, 0 being the oldest held.</summary>
    /// <exception cref="System.ArgumentException"><paramref name="index"/> is outside 0..count−1.</exception>
    let item (index: int) (buffer: Replay) : Episode =
        if index < 0 || index >= buffer.Count then
            invalidArg (nameof index) (sprintf "Replay.item: index %d is outside 0..%d" index (buffer.Count - 1))

        buffer.stored[index]

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
        sampleIndices key n buffer
        |> Array.map (fun i -> buffer.stored[i])
        |> EpisodeBatch.ofEpisodes

    /// <summary>Like <c>sample</c> (the same episodes for the same key), stacked at full length into a buffer's
    /// reused memory by <see cref="M:Qmix.Functional.EpisodeBatchModule.stackInto"/>: no allocation once the buffer
    /// has held a batch of these sizes. The batch is overwritten by the buffer's next use.</summary>
    /// <exception cref="System.ArgumentException"><paramref name="n"/> is less than 1 or more than the episodes
    /// held.</exception>
    let sampleInto (target: BatchBuffer) (key: Key) (n: int) (buffer: Replay) : EpisodeBatch =
        sampleIndices key n buffer
        |> Array.map (fun i -> buffer.stored[i])
        |> EpisodeBatch.stackInto target
