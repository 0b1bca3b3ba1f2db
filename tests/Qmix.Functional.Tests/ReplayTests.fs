/// Replay buffer laws (FIFO eviction, sampling without replacement, determinism, immutability) as FsCheck
/// properties with a fixed seed; EpisodeBatch layout and bad-input checks.
module Qmix.Functional.Tests.ReplayTests

open System
open Xunit
open FsCheck
open FsCheck.FSharp
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Tests.Generators

/// A spec, a capacity in 1..6 and 0..15 tagged episodes to add.
let private filling =
    gen {
        let! s = spec
        let! capacity = Gen.choose (1, 6)
        let! k = Gen.choose (0, 15)
        let! eps = episodes s k
        return capacity, eps
    }

/// A non-empty buffer, a batch size in 1..count and a key.
let private sampling =
    gen {
        let! capacity, eps = filling |> Gen.filter (fun (_, eps) -> eps.Length > 0)
        let buffer = Replay.empty capacity |> Replay.addMany eps
        let! n = Gen.choose (1, Replay.count buffer)
        let! seed = Gen.choose (0, Int32.MaxValue)
        return buffer, n, Rng.key (uint64 seed)
    }

/// The values that occur more than once, in order of first repetition.
let duplicates (xs: int[]) : int list =
    xs
    |> Array.countBy id
    |> Array.filter (fun (_, c) -> c > 1)
    |> Array.map fst
    |> Array.toList

/// The no-duplicates law for a sampler of positions: n positions, all in range, none twice.
let noDuplicatesLaw (sampler: Key -> int -> Replay -> int[]) =
    forAll sampling (fun (buffer, n, key) ->
        let idx = sampler key n buffer
        Assert.Equal(n, idx.Length)
        Assert.All(idx, fun i -> Assert.InRange(i, 0, Replay.count buffer - 1))

        match duplicates idx with
        | [] -> ()
        | d -> failwithf "sampled positions %A repeat %A" idx d)

/// A deliberately wrong sampler: uniform WITH replacement.
let withReplacement (key: Key) (n: int) (buffer: Replay) =
    Array.init n (fun i -> Rng.intBelow (Rng.foldIn i key) (Replay.count buffer))

// ---------------------------------------------------------------- capacity and eviction

[<Fact>]
let ``count never exceeds capacity and totalAdded counts every episode`` () =
    check 100
    <| forAll filling (fun (capacity, eps) ->
        let mutable buffer = Replay.empty capacity

        for e in eps do
            buffer <- Replay.add e buffer
            Assert.InRange(Replay.count buffer, 1, capacity)

        Assert.Equal(min eps.Length capacity, Replay.count buffer)
        Assert.Equal(int64 eps.Length, Replay.totalAdded buffer)
        Assert.Equal(capacity, Replay.capacity buffer))

[<Fact>]
let ``after k adds the buffer holds exactly the last min(k, capacity) episodes, oldest first`` () =
    check 100
    <| forAll filling (fun (capacity, eps) ->
        let buffer = Replay.empty capacity |> Replay.addMany eps
        let expected = eps[max 0 (eps.Length - capacity) ..]
        let held = Replay.episodes buffer
        Assert.Equal(expected.Length, held.Length)
        // the same episode values (by reference: nothing is copied)
        Array.iter2 (fun (e: Episode) h -> Assert.Same(e, h)) expected held
        Assert.Equal<int[]>(Array.map tag expected, Array.map tag held)

        for i in 0 .. held.Length - 1 do
            Assert.Same(held[i], Replay.item i buffer))

[<Fact>]
let ``add returns a new buffer and leaves the old one unchanged`` () =
    check 100
    <| forAll filling (fun (capacity, eps) ->
        let before = Replay.empty capacity |> Replay.addMany eps
        let snapshot = Replay.episodes before
        let count, total = Replay.count before, Replay.totalAdded before

        if eps.Length > 0 then
            let extra = Gen.sampleWithSeed (Rnd(7UL, 1UL)) 10 1 (taggedEpisode eps[0].Spec 99)
            let after = Replay.add extra[0] before
            Assert.Equal(99, tag (Replay.episodes after |> Array.last))
            Assert.NotEqual(before, after)

        Assert.Equal(count, Replay.count before)
        Assert.Equal(total, Replay.totalAdded before)
        Array.iter2 (fun (e: Episode) h -> Assert.Same(e, h)) snapshot (Replay.episodes before))

[<Fact>]
let ``a buffer of capacity 5000 takes thousands of adds without copying episodes`` () =
    let s =
        {
            Name = "big"
            NAgents = 8
            NActions = 10
            ObsDim = 80
            StateDim = 120
            EpisodeLimit = 120
        }

    let e =
        Gen.sampleWithSeed (Rnd(3UL, 1UL)) 10 1 (taggedEpisode s 1) |> Array.exactlyOne

    let sw = Diagnostics.Stopwatch.StartNew()

    let buffer =
        Seq.replicate 6000 e |> Seq.fold (fun b x -> Replay.add x b) (Replay.empty 5000)

    Assert.Equal(5000, Replay.count buffer)
    Assert.Equal(6000L, Replay.totalAdded buffer)
    Assert.All(Replay.episodes buffer, fun h -> Assert.Same(e, h))
    // 6000 adds of an episode of ~80k floats: well under a second when nothing is copied
    Assert.True(sw.Elapsed.TotalSeconds < 10.0, sprintf "6000 adds took %O" sw.Elapsed)

// ---------------------------------------------------------------- sampling

[<Fact>]
let ``sampling never returns an episode twice in a batch`` () =
    check 200 (noDuplicatesLaw Replay.sampleIndices)

    check 100
    <| forAll sampling (fun (buffer, n, key) ->
        let tags = Replay.sample key n buffer |> batchTags
        Assert.Empty(duplicates tags)
        // and the batch holds the episodes at the sampled positions, in that order
        let expected =
            Replay.sampleIndices key n buffer
            |> Array.map (fun i -> tag (Replay.item i buffer))

        Assert.Equal<int[]>(expected, tags))

[<Fact>]
let ``negative control: the duplicate checker reports a sampler with replacement`` () =
    Assert.Equal<int list>([ 3; 1 ], duplicates [| 3; 1; 3; 2; 1 |])
    Assert.Empty(duplicates [| 0; 1; 2 |])
    // the same law, run on a sampler that draws with replacement, finds a counterexample
    let ex =
        Assert.ThrowsAny<exn>(fun () -> check 200 (noDuplicatesLaw withReplacement))

    Assert.Contains("repeat", ex.Message)

[<Fact>]
let ``the same key gives the same batch`` () =
    check 100
    <| forAll sampling (fun (buffer, n, key) ->
        Assert.Equal<int[]>(Replay.sampleIndices key n buffer, Replay.sampleIndices key n buffer)
        Assert.Equal(Replay.sample key n buffer, Replay.sample key n buffer))

[<Fact>]
let ``sampling covers the buffer uniformly`` () =
    let s = Gen.sampleWithSeed (Rnd(5UL, 1UL)) 10 1 spec |> Array.exactlyOne

    let eps =
        Gen.sampleWithSeed (Rnd(5UL, 1UL)) 10 1 (episodes s 10) |> Array.exactlyOne

    let buffer = Replay.empty 10 |> Replay.addMany eps
    let counts = Array.zeroCreate 10

    for i in 0..1999 do
        for j in Replay.sampleIndices (Rng.foldIn i (Rng.key 11UL)) 3 buffer do
            counts[j] <- counts[j] + 1

    // 6000 draws, 600 expected per episode; ±5 standard deviations is ±~120
    Assert.All(counts, fun c -> Assert.InRange(c, 480, 720))

[<Fact>]
let ``the batch is truncated to the longest filled episode plus one, with filled and terminated flags`` () =
    check 200
    <| forAll sampling (fun (buffer, n, key) ->
        let idx = Replay.sampleIndices key n buffer
        let eps = idx |> Array.map (fun i -> Replay.item i buffer)
        let b = Replay.sample key n buffer
        let s = eps[0].Spec
        let t = b.MaxSeqLength
        EpisodeBatch.validate b
        Assert.Equal(n, b.BatchSize)
        Assert.Equal((eps |> Array.map (fun e -> e.Length) |> Array.max) + 1, t)
        Assert.Equal((s.NAgents, s.NActions, s.ObsDim, s.StateDim), (b.NAgents, b.NActions, b.ObsDim, b.StateDim))

        for i in 0 .. n - 1 do
            let e = eps[i]

            for k in 0 .. t - 1 do
                Assert.Equal((if k < e.Length then 1.0f else 0.0f), b.Filled[i * t + k])
                Assert.Equal((if e.Terminated && k = e.Length - 1 then 1.0f else 0.0f), b.Terminated[i * t + k])

            // the first T' steps of every array, unchanged
            let rows (w: int) (arr: 'T[]) = arr[i * t * w .. (i + 1) * t * w - 1]
            let no = s.NAgents * s.ObsDim
            Assert.Equal<float32[]>(e.Obs[.. t * no - 1], rows no b.Obs)
            Assert.Equal<float32[]>(e.State[.. t * s.StateDim - 1], rows s.StateDim b.State)
            Assert.Equal<int[]>(e.Actions[.. t * s.NAgents - 1], rows s.NAgents b.Actions)
            let na = s.NAgents * s.NActions
            Assert.Equal<float32[]>(e.AvailActions[.. t * na - 1], rows na b.AvailActions)
            Assert.Equal<float32[]>(e.Reward[.. t - 1], rows 1 b.Reward))

[<Fact>]
let ``batches too large to be zeroed on allocation hold the episodes' values and nothing else`` () =
    // EpisodeBatch.ofEpisodes allocates the arrays it fills completely without zeroing them (the GC zeroes arrays
    // of up to 2 KB anyway), so stack episodes large enough to skip it, many times over, into memory the GC hands
    // back after collections, and compare every element with a plain stacking
    let s =
        {
            Name = "wide"
            NAgents = 4
            NActions = 9
            ObsDim = 64
            StateDim = 100
            EpisodeLimit = 40
        }

    let t1 = s.EpisodeLimit + 1

    let episode (i: int) =
        let r = Random i
        let len = 10 + r.Next 31

        let fill n =
            Array.init n (fun _ -> float32 (r.NextDouble()) + 1.0f)

        {
            Spec = s
            Length = len
            Obs = fill (t1 * s.NAgents * s.ObsDim)
            State = fill (t1 * s.StateDim)
            Actions = Array.init (t1 * s.NAgents) (fun _ -> 1 + r.Next(s.NActions - 1))
            AvailActions = fill (t1 * s.NAgents * s.NActions)
            Reward = fill t1
            Terminated = i % 2 = 0
            Won = None
        }

    let buffer = Replay.empty 64 |> Replay.addMany (Seq.init 64 episode)

    let stacked (eps: Episode[]) (t: int) (w: int) (pick: Episode -> 'T[]) =
        Array.concat [ for e in eps -> (pick e)[.. t * w - 1] ]

    for draw in 0..29 do
        let key = Rng.foldIn draw (Rng.key 5UL)

        let eps =
            Replay.sampleIndices key 16 buffer |> Array.map (fun i -> Replay.item i buffer)

        let b = Replay.sample key 16 buffer
        let t = b.MaxSeqLength
        Assert.True(b.Obs.Length * sizeof<float32> > 2048)
        Assert.Equal<float32[]>(stacked eps t (s.NAgents * s.ObsDim) (fun e -> e.Obs), b.Obs)
        Assert.Equal<float32[]>(stacked eps t s.StateDim (fun e -> e.State), b.State)
        Assert.Equal<int[]>(stacked eps t s.NAgents (fun e -> e.Actions), b.Actions)
        Assert.Equal<float32[]>(stacked eps t (s.NAgents * s.NActions) (fun e -> e.AvailActions), b.AvailActions)
        Assert.Equal<float32[]>(stacked eps t 1 (fun e -> e.Reward), b.Reward)

        if draw % 5 = 4 then
            GC.Collect()

// ---------------------------------------------------------------- bad input

let private oneSpec =
    {
        Name = "alpha"
        NAgents = 2
        NActions = 3
        ObsDim = 2
        StateDim = 3
        EpisodeLimit = 4
    }

let private oneEpisode (s: EnvSpec) (tag: int) =
    Gen.sampleWithSeed (Rnd(uint64 tag, 1UL)) 10 1 (taggedEpisode s tag)
    |> Array.exactlyOne

[<Fact>]
let ``empty refuses a capacity below 1, naming the argument`` () =
    let ex = Assert.Throws<ArgumentException>(fun () -> Replay.empty 0 |> ignore)
    Assert.Equal("capacity", ex.ParamName)
    Assert.Contains("got 0", ex.Message)
    Assert.Equal(1, Replay.empty 1 |> Replay.capacity)

[<Fact>]
let ``add refuses an episode of another spec, naming both specs`` () =
    let other =
        { oneSpec with
            Name = "beta"
            ObsDim = 5
        }

    let buffer = Replay.empty 4 |> Replay.add (oneEpisode oneSpec 1)

    let ex =
        Assert.Throws<ArgumentException>(fun () -> Replay.add (oneEpisode other 2) buffer |> ignore)

    Assert.Equal("episode", ex.ParamName)
    Assert.Contains("beta (N=2, A=3, obs_dim=5", ex.Message)
    Assert.Contains("alpha (N=2, A=3, obs_dim=2", ex.Message)
    Assert.Equal(Some oneSpec, Replay.spec buffer)
    Assert.Equal(None, Replay.spec (Replay.empty 4))

[<Fact>]
let ``add validates the episode's arrays`` () =
    let e = oneEpisode oneSpec 1

    let ex =
        Assert.Throws<ArgumentException>(fun () ->
            Replay.add { e with State = e.State[1..] } (Replay.empty 3) |> ignore)

    Assert.Contains("state [T+1, state_dim]", ex.Message)

    let ex =
        Assert.Throws<ArgumentException>(fun () -> Replay.add { e with Length = 0 } (Replay.empty 3) |> ignore)

    Assert.Contains("length 0", ex.Message)

[<Fact>]
let ``sample refuses n above the count or below 1, and canSample agrees`` () =
    let buffer =
        Replay.empty 8 |> Replay.addMany [ for i in 1..3 -> oneEpisode oneSpec i ]

    Assert.True(Replay.canSample 3 buffer)
    Assert.False(Replay.canSample 4 buffer)
    Assert.False(Replay.canSample 0 buffer)
    let key = Rng.key 1UL

    let ex =
        Assert.Throws<ArgumentException>(fun () -> Replay.sample key 4 buffer |> ignore)

    Assert.Equal("n", ex.ParamName)
    Assert.Contains("cannot draw 4 episodes", ex.Message)
    Assert.Contains("holding 3", ex.Message)

    let ex =
        Assert.Throws<ArgumentException>(fun () -> Replay.sampleIndices key 0 buffer |> ignore)

    Assert.Equal("n", ex.ParamName)

    Assert.Throws<ArgumentException>(fun () -> Replay.sample key 1 (Replay.empty 2) |> ignore)
    |> ignore

    Assert.Equal(3, (Replay.sample key 3 buffer).BatchSize)

[<Fact>]
let ``buffers with equal contents are equal`` () =
    let eps = [ for i in 1..4 -> oneEpisode oneSpec i ]
    let a = Replay.empty 3 |> Replay.addMany eps
    let b = Replay.empty 3 |> Replay.addMany eps
    Assert.Equal(a, b)
    Assert.Equal(a.GetHashCode(), b.GetHashCode())
    // the same episodes held, but a different history
    Assert.NotEqual(a, Replay.empty 3 |> Replay.addMany eps[1..])
    Assert.Equal("Replay(capacity=3, count=3, totalAdded=4)", string a)

let private validBatch () =
    EpisodeBatch.ofEpisodes [| oneEpisode oneSpec 1; oneEpisode oneSpec 2 |]

[<Fact>]
let ``EpisodeBatch.validate names an array of the wrong size`` () =
    let b = validBatch ()
    EpisodeBatch.validate b

    let cases: (string * EpisodeBatch) list =
        [
            "obs [B=2", { b with Obs = b.Obs[1..] }
            "state [B=2",
            { b with
                State = Array.append b.State [| 0.0f |]
            }
            "actions [B=2", { b with Actions = b.Actions[1..] }
            "avail_actions [B=2",
            { b with
                AvailActions = b.AvailActions[1..]
            }
            "reward [B=2", { b with Reward = b.Reward[1..] }
            "terminated [B=2",
            { b with
                Terminated = b.Terminated[1..]
            }
            "filled [B=2", { b with Filled = b.Filled[1..] }
            "filled", { b with Filled = null }
            "actions[0] = 7",
            { b with
                Actions = Array.append [| 7 |] b.Actions[1..]
            }
            "at least 1 episode", { b with BatchSize = 0 }
        ]

    for name, bad in cases do
        let ex = Assert.Throws<ArgumentException>(fun () -> EpisodeBatch.validate bad)
        Assert.Equal("batch", ex.ParamName)
        Assert.Contains(name, ex.Message)

[<Fact>]
let ``EpisodeBatch.ofEpisodes names an episode array of the wrong size`` () =
    let e = oneEpisode oneSpec 1

    let cases: (string * Episode) list =
        [
            "obs [T+1, N, obs_dim] has 19 values, expected 20", { e with Obs = e.Obs[1..] }
            "state [T+1, state_dim]", { e with State = e.State[1..] }
            "actions [T+1, N]",
            { e with
                Actions = Array.append e.Actions [| 0 |]
            }
            "avail_actions [T+1, N, A]",
            { e with
                AvailActions = e.AvailActions[1..]
            }
            "reward [T+1]", { e with Reward = e.Reward[1..] }
            "length 5 is outside 1..4", { e with Length = 5 }
        ]

    for name, bad in cases do
        let ex =
            Assert.Throws<ArgumentException>(fun () -> EpisodeBatch.ofEpisodes [| e; bad |] |> ignore)

        Assert.Contains(name, ex.Message)

    let ex =
        Assert.Throws<ArgumentException>(fun () -> EpisodeBatch.ofEpisodes [||] |> ignore)

    Assert.Equal("episodes", ex.ParamName)
    let other = oneEpisode { oneSpec with Name = "beta" } 2

    let ex =
        Assert.Throws<ArgumentException>(fun () -> EpisodeBatch.ofEpisodes [| e; other |] |> ignore)

    Assert.Contains("cannot share a batch", ex.Message)

[<Fact>]
let ``sampleInto stacks the episodes sample draws, at full length, into reused memory`` () =
    let s =
        {
            Name = "small"
            NAgents = 2
            NActions = 3
            ObsDim = 4
            StateDim = 5
            EpisodeLimit = 6
        }

    let episodes =
        Array.init 12 (fun tag ->
            Gen.sampleWithSeed (Rnd(uint64 (tag + 1), 7UL)) 10 1 (taggedEpisode s tag)
            |> Array.exactlyOne)

    let replay = Replay.addMany episodes (Replay.empty 20)
    let target = BatchBuffer()

    let agree (key: Key) =
        let a = Replay.sample key 5 replay
        let b = Replay.sampleInto target key 5 replay
        let ta, tb = a.MaxSeqLength, b.MaxSeqLength
        Assert.Equal(s.EpisodeLimit + 1, tb)

        for e in 0..4 do
            for t in 0 .. tb - 1 do
                let inA = t < ta
                let filled = if inA then a.Filled[e * ta + t] else 0.0f
                Assert.Equal(filled, b.Filled[e * tb + t])

                if inA then
                    Assert.Equal(a.Reward[e * ta + t], b.Reward[e * tb + t])
                    Assert.Equal(a.Terminated[e * ta + t], b.Terminated[e * tb + t])

                    for i in 0 .. s.NAgents * s.ObsDim - 1 do
                        Assert.Equal(
                            a.Obs[(e * ta + t) * s.NAgents * s.ObsDim + i],
                            b.Obs[(e * tb + t) * s.NAgents * s.ObsDim + i]
                        )

                    for i in 0 .. s.StateDim - 1 do
                        Assert.Equal(a.State[(e * ta + t) * s.StateDim + i], b.State[(e * tb + t) * s.StateDim + i])

                    for i in 0 .. s.NAgents - 1 do
                        Assert.Equal(a.Actions[(e * ta + t) * s.NAgents + i], b.Actions[(e * tb + t) * s.NAgents + i])

        b

    let b1 = agree (Rng.key 1UL)
    let obs1 = Array.copy b1.Obs
    let b2 = agree (Rng.key 2UL)
    // the second batch reuses the first one's memory, and overwrote it
    Assert.Same(b1.Obs, b2.Obs)
    // negative control: another key draws other episodes, so the comparison above can tell batches apart
    Assert.NotEqual<float32[]>(obs1, b2.Obs)
