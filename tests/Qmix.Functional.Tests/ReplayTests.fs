/// Replay buffer laws (FIFO eviction, sampling without replacement, determinism, immutability) as FsCheck
/// properties with a fixed seed; EpisodeBatch layout and bad-input checks.
module Qmix.Functional.Tests.ReplayTests

open System
open Expecto
open Qmix.Tests
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

/// Smaller fillings: without the last episode (the others keep their tags 1..k), or with a smaller capacity.
let private shrinkFilling (capacity: int, eps: Episode[]) =
    seq {
        if eps.Length > 0 then
            yield capacity, eps[.. eps.Length - 2]

        if capacity > 1 then
            yield capacity - 1, eps
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
        Expect.equal idx.Length n "idx.Length"
        Seq.iter (fun i -> Expect.inRange i 0 (Replay.count buffer - 1) "i") idx

        match duplicates idx with
        | [] -> ()
        | d -> failwithf "sampled positions %A repeat %A" idx d)

/// A deliberately wrong sampler: uniform WITH replacement.
let withReplacement (key: Key) (n: int) (buffer: Replay) =
    Array.init n (fun i -> Rng.intBelow (Rng.foldIn i key) (Replay.count buffer))

// ---------------------------------------------------------------- capacity and eviction

let ``count never exceeds capacity and totalAdded counts every episode`` () =
    forAllShrinking filling shrinkFilling (fun (capacity, eps) ->
        let mutable buffer = Replay.empty capacity

        for e in eps do
            buffer <- Replay.add e buffer
            Expect.inRange (Replay.count buffer) 1 capacity "Replay.count buffer"

        Expect.equal (Replay.count buffer) (min eps.Length capacity) "Replay.count buffer"
        Expect.equal (Replay.totalAdded buffer) (int64 eps.Length) "Replay.totalAdded buffer"
        Expect.equal (Replay.capacity buffer) capacity "Replay.capacity buffer")

let ``after k adds the buffer holds exactly the last min(k, capacity) episodes, oldest first`` () =
    forAllShrinking filling shrinkFilling (fun (capacity, eps) ->
        let buffer = Replay.empty capacity |> Replay.addMany eps
        let expected = eps[max 0 (eps.Length - capacity) ..]
        let held = Replay.episodes buffer
        Expect.equal held.Length expected.Length "held.Length"
        // the same episode values (stored compactly, expanded back to the padded layout)
        Array.iter2 (fun (e: Episode) h -> Expect.equal h e "the episode read back") expected held
        Expect.equal (Array.map tag held) (Array.map tag expected) "Array.map tag held"

        for i in 0 .. held.Length - 1 do
            Expect.equal (Replay.item i buffer) held[i] "Replay.item i buffer")

let ``add returns a new buffer and leaves the old one unchanged`` () =
    forAll filling (fun (capacity, eps) ->
        let before = Replay.empty capacity |> Replay.addMany eps
        let snapshot = Replay.episodes before
        let count, total = Replay.count before, Replay.totalAdded before

        if eps.Length > 0 then
            let extra = Gen.sampleWithSeed (Rnd(7UL, 1UL)) 10 1 (taggedEpisode eps[0].Spec 99)
            let after = Replay.add extra[0] before
            Expect.equal (tag (Replay.episodes after |> Array.last)) 99 "tag (Replay.episodes after |> Array.last)"
            Expect.notEqual after before "after"

        Expect.equal (Replay.count before) count "Replay.count before"
        Expect.equal (Replay.totalAdded before) total "Replay.totalAdded before"

        Array.iter2 (fun (e: Episode) h -> Expect.equal h e "the episode read back") snapshot (Replay.episodes before))

let ``a buffer of capacity 5000 holds each episode's recorded steps only`` () =
    let s =
        {
            Name = "big"
            NAgents = 8
            NActions = 10
            ObsDim = 80
            StateDim = 120
            EpisodeLimit = 120
        }

    let eps =
        Gen.sampleWithSeed (Rnd(3UL, 1UL)) 10 1 (episodes s 30) |> Array.exactlyOne

    let buffer =
        Seq.init 6000 (fun i -> eps[i % eps.Length])
        |> Seq.fold (fun b x -> Replay.add x b) (Replay.empty 5000)

    Expect.equal (Replay.count buffer) 5000 "Replay.count buffer"
    Expect.equal (Replay.totalAdded buffer) 6000L "Replay.totalAdded buffer"

    // each episode of L steps: L + 1 rows of obs and state (float32), actions (int32), rewards, and the
    // available-action mask as bits; the padding to the limit is not kept
    let storedBytes (e: Episode) =
        let rows = int64 (e.Length + 1)
        rows * int64 (4 * (8 * 80 + 120) + 4 * 8 + 4) + (rows * 80L + 7L) / 8L

    let expected =
        Seq.init 6000 (fun i -> eps[i % eps.Length])
        |> Seq.skip 1000
        |> Seq.sumBy storedBytes

    Expect.equal (Replay.bytes buffer) expected "Replay.bytes of the 5000 episodes held"
    let padded = 5000L * 121L * int64 (4 * (8 * 80 + 120 + 8 * 10 + 8 + 1))

    Expect.isLessThan
        (Replay.bytes buffer)
        (padded * 3L / 5L)
        "episodes of random lengths in 1..120 take about half their padded size"

// ---------------------------------------------------------------- sampling

let ``sampling never returns an episode twice in a batch`` () =
    [
        "the sampled positions", (200, noDuplicatesLaw Replay.sampleIndices)
        "the batch's episodes, in the sampled order",
        (100,
         forAll sampling (fun (buffer, n, key) ->
             let tags = Replay.sample key n buffer |> batchTags
             Expect.isEmpty (duplicates tags) "duplicates tags"
             // and the batch holds the episodes at the sampled positions, in that order
             let expected =
                 Replay.sampleIndices key n buffer
                 |> Array.map (fun i -> tag (Replay.item i buffer))

             Expect.equal tags expected "tags"))
    ]

let ``negative control: the duplicate checker reports a sampler with replacement`` () =
    Expect.equal (duplicates [| 3; 1; 3; 2; 1 |]) ([ 3; 1 ]) "duplicates [| 3; 1; 3; 2; 1 |]"
    Expect.isEmpty (duplicates [| 0; 1; 2 |]) "duplicates [| 0; 1; 2 |]"
    // the same law, run on a sampler that draws with replacement, finds a counterexample
    let ex =
        Expect.throwsAnyOf<exn>(fun () -> check 200 (noDuplicatesLaw withReplacement))

    Expect.stringContains ex.Message "repeat" "ex.Message"

let ``the same key gives the same batch`` () =
    forAll sampling (fun (buffer, n, key) ->
        Expect.equal
            (Replay.sampleIndices key n buffer)
            (Replay.sampleIndices key n buffer)
            "Replay.sampleIndices key n buffer"

        Expect.equal (Replay.sample key n buffer) (Replay.sample key n buffer) "Replay.sample key n buffer")

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
    Seq.iter (fun c -> Expect.inRange c 480 720 "c") counts

let ``the batch is truncated to the longest filled episode plus one, with filled and terminated flags`` () =
    forAll sampling (fun (buffer, n, key) ->
        let idx = Replay.sampleIndices key n buffer
        let eps = idx |> Array.map (fun i -> Replay.item i buffer)
        let b = Replay.sample key n buffer
        let s = eps[0].Spec
        let t = b.MaxSeqLength
        EpisodeBatch.validate b
        Expect.equal b.BatchSize n "b.BatchSize"
        Expect.equal t ((eps |> Array.map (fun e -> e.Length) |> Array.max) + 1) "t"

        Expect.equal
            (b.NAgents, b.NActions, b.ObsDim, b.StateDim)
            (s.NAgents, s.NActions, s.ObsDim, s.StateDim)
            "(b.NAgents, b.NActions, b.ObsDim, b.StateDim)"

        for i in 0 .. n - 1 do
            let e = eps[i]

            for k in 0 .. t - 1 do
                Expect.equal (b.Filled[i * t + k]) (if k < e.Length then 1.0f else 0.0f) "b.Filled[i * t + k]"

                Expect.equal
                    (b.Terminated[i * t + k])
                    (if e.Terminated && k = e.Length - 1 then 1.0f else 0.0f)
                    "b.Terminated[i * t + k]"

            // the first T' steps of every array, unchanged
            let rows (w: int) (arr: 'T[]) = arr[i * t * w .. (i + 1) * t * w - 1]
            let no = s.NAgents * s.ObsDim
            Expect.equal (rows no b.Obs) (e.Obs[.. t * no - 1]) "rows no b.Obs"
            Expect.equal (rows s.StateDim b.State) (e.State[.. t * s.StateDim - 1]) "rows s.StateDim b.State"
            Expect.equal (rows s.NAgents b.Actions) (e.Actions[.. t * s.NAgents - 1]) "rows s.NAgents b.Actions"
            let na = s.NAgents * s.NActions
            Expect.equal (rows na b.AvailActions) (e.AvailActions[.. t * na - 1]) "rows na b.AvailActions"
            Expect.equal (rows 1 b.Reward) (e.Reward[.. t - 1]) "rows 1 b.Reward")

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
        Expect.isTrue (b.Obs.Length * sizeof<float32> > 2048) "b.Obs.Length * sizeof<float32> > 2048"
        Expect.equal b.Obs (stacked eps t (s.NAgents * s.ObsDim) (fun e -> e.Obs)) "b.Obs"
        Expect.equal b.State (stacked eps t s.StateDim (fun e -> e.State)) "b.State"
        Expect.equal b.Actions (stacked eps t s.NAgents (fun e -> e.Actions)) "b.Actions"
        Expect.equal b.AvailActions (stacked eps t (s.NAgents * s.NActions) (fun e -> e.AvailActions)) "b.AvailActions"
        Expect.equal b.Reward (stacked eps t 1 (fun e -> e.Reward)) "b.Reward"

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

let ``empty refuses a capacity below 1, naming the argument`` () =
    let ex = Expect.throwsOf<ArgumentException>(fun () -> Replay.empty 0 |> ignore)
    Expect.equal ex.ParamName "capacity" "ex.ParamName"
    Expect.stringContains ex.Message "got 0" "ex.Message"
    Expect.equal (Replay.empty 1 |> Replay.capacity) 1 "Replay.empty 1 |> Replay.capacity"

let ``add refuses an episode of another spec, naming both specs`` () =
    let other =
        { oneSpec with
            Name = "beta"
            ObsDim = 5
        }

    let buffer = Replay.empty 4 |> Replay.add (oneEpisode oneSpec 1)

    let ex =
        Expect.throwsOf<ArgumentException>(fun () -> Replay.add (oneEpisode other 2) buffer |> ignore)

    Expect.equal ex.ParamName "episode" "ex.ParamName"
    Expect.stringContains ex.Message "beta (N=2, A=3, obs_dim=5" "ex.Message"
    Expect.stringContains ex.Message "alpha (N=2, A=3, obs_dim=2" "ex.Message"
    Expect.equal (Replay.spec buffer) (Some oneSpec) "Replay.spec buffer"
    Expect.equal (Replay.spec (Replay.empty 4)) None "Replay.spec (Replay.empty 4)"

let ``add validates the episode's arrays`` () =
    let e = oneEpisode oneSpec 1

    let ex =
        Expect.throwsOf<ArgumentException>(fun () ->
            Replay.add { e with State = e.State[1..] } (Replay.empty 3) |> ignore)

    Expect.stringContains ex.Message "state [T+1, state_dim]" "ex.Message"

    let ex =
        Expect.throwsOf<ArgumentException>(fun () -> Replay.add { e with Length = 0 } (Replay.empty 3) |> ignore)

    Expect.stringContains ex.Message "length 0" "ex.Message"

let ``sample refuses n above the count or below 1, and canSample agrees`` () =
    let buffer =
        Replay.empty 8 |> Replay.addMany [ for i in 1..3 -> oneEpisode oneSpec i ]

    Expect.isTrue (Replay.canSample 3 buffer) "Replay.canSample 3 buffer"
    Expect.isFalse (Replay.canSample 4 buffer) "Replay.canSample 4 buffer"
    Expect.isFalse (Replay.canSample 0 buffer) "Replay.canSample 0 buffer"
    let key = Rng.key 1UL

    let ex =
        Expect.throwsOf<ArgumentException>(fun () -> Replay.sample key 4 buffer |> ignore)

    Expect.equal ex.ParamName "n" "ex.ParamName"
    Expect.stringContains ex.Message "cannot draw 4 episodes" "ex.Message"
    Expect.stringContains ex.Message "holding 3" "ex.Message"

    let ex =
        Expect.throwsOf<ArgumentException>(fun () -> Replay.sampleIndices key 0 buffer |> ignore)

    Expect.equal ex.ParamName "n" "ex.ParamName"

    Expect.throwsOf<ArgumentException>(fun () -> Replay.sample key 1 (Replay.empty 2) |> ignore)
    |> ignore

    Expect.equal ((Replay.sample key 3 buffer).BatchSize) 3 "(Replay.sample key 3 buffer).BatchSize"

let ``buffers with equal contents are equal`` () =
    let eps = [ for i in 1..4 -> oneEpisode oneSpec i ]
    let a = Replay.empty 3 |> Replay.addMany eps
    let b = Replay.empty 3 |> Replay.addMany eps
    Expect.equal b a "b"
    Expect.equal (b.GetHashCode()) (a.GetHashCode()) "b.GetHashCode()"
    // the same episodes held, but a different history
    Expect.notEqual (Replay.empty 3 |> Replay.addMany eps[1..]) a "Replay.empty 3 |> Replay.addMany eps[1..]"
    Expect.equal (string a) "Replay(capacity=3, count=3, totalAdded=4)" "string a"

let private validBatch () =
    EpisodeBatch.ofEpisodes [| oneEpisode oneSpec 1; oneEpisode oneSpec 2 |]

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
        let ex = Expect.throwsOf<ArgumentException>(fun () -> EpisodeBatch.validate bad)
        Expect.equal ex.ParamName "batch" "ex.ParamName"
        Expect.stringContains ex.Message name "ex.Message"

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
            Expect.throwsOf<ArgumentException>(fun () -> EpisodeBatch.ofEpisodes [| e; bad |] |> ignore)

        Expect.stringContains ex.Message name "ex.Message"

    let ex =
        Expect.throwsOf<ArgumentException>(fun () -> EpisodeBatch.ofEpisodes [||] |> ignore)

    Expect.equal ex.ParamName "episodes" "ex.ParamName"
    let other = oneEpisode { oneSpec with Name = "beta" } 2

    let ex =
        Expect.throwsOf<ArgumentException>(fun () -> EpisodeBatch.ofEpisodes [| e; other |] |> ignore)

    Expect.stringContains ex.Message "cannot share a batch" "ex.Message"

// ---------------------------------------------------------------- compact storage

/// The batch EpisodeBatch.ofEpisodes stacks from the padded episodes themselves (its own gathering code), with each
/// observation and state value passed through `round`.
let private reference (round: float32 -> float32) (picked: Episode[]) =
    picked
    |> Array.map (fun e ->
        { e with
            Obs = Array.map round e.Obs
            State = Array.map round e.State
        })
    |> EpisodeBatch.ofEpisodes

let private toHalf (x: float32) = float32 (Half.op_Explicit x: Half)

let ``a buffer samples the batch stacked from the episodes it was given`` () =
    forAll sampling (fun (buffer, n, key) ->
        let held = Replay.episodes buffer
        let picked = Replay.sampleIndices key n buffer |> Array.map (fun i -> held[i])
        Expect.equal (Replay.sample key n buffer) (reference id picked) "a float32 buffer: the exact batch"

        let half =
            Replay.restoreWith Float16 (Replay.capacity buffer) (Replay.totalAdded buffer) held

        let batch = Replay.sample key n half
        Expect.equal batch (reference toHalf picked) "a float16 buffer: every observation and state rounded to half"

        // within half precision's rounding of each value (the generator's values lie in [-1, 1])
        let exact = reference id picked

        Array.iter2
            (fun (x: float32) (y: float32) ->
                Expect.isLessThanOrEqual (abs (x - y)) (abs x * 0.00049f + 1e-7f) "the rounding of one value")
            exact.Obs
            batch.Obs)

let ``float16 halves the bytes of observations and states; masks are bits unless they hold other values`` () =
    let s =
        {
            Name = "small"
            NAgents = 2
            NActions = 3
            ObsDim = 40
            StateDim = 50
            EpisodeLimit = 6
        }

    let e =
        Gen.sampleWithSeed (Rnd(5UL, 3UL)) 10 1 (taggedEpisode s 1) |> Array.exactlyOne

    let rows = int64 (e.Length + 1)
    let single = Replay.empty 4 |> Replay.add e |> Replay.bytes
    let half = Replay.emptyWith Float16 4 |> Replay.add e |> Replay.bytes
    Expect.equal (single - half) (rows * 2L * (2L * 40L + 50L)) "float16 saves 2 bytes per observation and state value"
    Expect.equal single (rows * (4L * (2L * 40L + 50L) + 4L * 2L + 4L) + (rows * 6L + 7L) / 8L) "float32: masks as bits"

    // negative control: a mask value other than 0 and 1 is kept as it is, and the episode reads back unchanged
    let odd =
        { e with
            AvailActions = Array.copy e.AvailActions
        }

    odd.AvailActions[1] <- 0.5f
    let buffer = Replay.empty 4 |> Replay.add odd
    Expect.equal (Replay.item 0 buffer) odd "an episode whose mask holds 0.5"
    Expect.equal (Replay.bytes buffer) (single - (rows * 6L + 7L) / 8L + rows * 6L * 4L) "its mask kept as float32"

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
        Expect.equal tb (s.EpisodeLimit + 1) "tb"

        for e in 0..4 do
            for t in 0 .. tb - 1 do
                let inA = t < ta
                let filled = if inA then a.Filled[e * ta + t] else 0.0f
                Expect.equal (b.Filled[e * tb + t]) filled "b.Filled[e * tb + t]"

                if inA then
                    Expect.equal (b.Reward[e * tb + t]) (a.Reward[e * ta + t]) "b.Reward[e * tb + t]"
                    Expect.equal (b.Terminated[e * tb + t]) (a.Terminated[e * ta + t]) "b.Terminated[e * tb + t]"

                    for i in 0 .. s.NAgents * s.ObsDim - 1 do
                        Expect.equal
                            (b.Obs[(e * tb + t) * s.NAgents * s.ObsDim + i])
                            (a.Obs[(e * ta + t) * s.NAgents * s.ObsDim + i])
                            "b.Obs[(e * tb + t) * s.NAgents * s.ObsDim + i]"

                    for i in 0 .. s.StateDim - 1 do
                        Expect.equal
                            (b.State[(e * tb + t) * s.StateDim + i])
                            (a.State[(e * ta + t) * s.StateDim + i])
                            "b.State[(e * tb + t) * s.StateDim + i]"

                    for i in 0 .. s.NAgents - 1 do
                        Expect.equal
                            (b.Actions[(e * tb + t) * s.NAgents + i])
                            (a.Actions[(e * ta + t) * s.NAgents + i])
                            "b.Actions[(e * tb + t) * s.NAgents + i]"

        b

    let b1 = agree (Rng.key 1UL)
    let obs1 = Array.copy b1.Obs
    let b2 = agree (Rng.key 2UL)
    // the second batch reuses the first one's memory, and overwrote it
    Expect.isTrue (obj.ReferenceEquals(b1.Obs, b2.Obs)) "same instance: b2.Obs"
    // negative control: another key draws other episodes, so the comparison above can tell batches apart
    Expect.notEqual b2.Obs obs1 "b2.Obs"

[<Tests>]
let tests =
    testList
        "Replay"
        [
            testPropertyWithConfig
                (Replay.config 100)
                "count never exceeds capacity and totalAdded counts every episode"
                (``count never exceeds capacity and totalAdded counts every episode`` ())
            testPropertyWithConfig
                (Replay.config 100)
                "after k adds the buffer holds exactly the last min(k, capacity) episodes, oldest first"
                (``after k adds the buffer holds exactly the last min(k, capacity) episodes, oldest first`` ())
            testPropertyWithConfig
                (Replay.config 100)
                "add returns a new buffer and leaves the old one unchanged"
                (``add returns a new buffer and leaves the old one unchanged`` ())
            testSequenced (
                testCase
                    "a buffer of capacity 5000 holds each episode's recorded steps only"
                    ``a buffer of capacity 5000 holds each episode's recorded steps only``
            )
            testList
                "sampling never returns an episode twice in a batch"
                [
                    for label, (cases, p) in ``sampling never returns an episode twice in a batch`` () ->
                        testPropertyWithConfig (Replay.config cases) label p
                ]
            testCase
                "negative control: the duplicate checker reports a sampler with replacement"
                ``negative control: the duplicate checker reports a sampler with replacement``
            testPropertyWithConfig
                (Replay.config 100)
                "the same key gives the same batch"
                (``the same key gives the same batch`` ())
            testCase "sampling covers the buffer uniformly" ``sampling covers the buffer uniformly``
            testPropertyWithConfig
                (Replay.config 200)
                "the batch is truncated to the longest filled episode plus one, with filled and terminated flags"
                (``the batch is truncated to the longest filled episode plus one, with filled and terminated flags`` ())
            testSequenced (
                testCase
                    "batches too large to be zeroed on allocation hold the episodes' values and nothing else"
                    ``batches too large to be zeroed on allocation hold the episodes' values and nothing else``
            )
            testCase
                "empty refuses a capacity below 1, naming the argument"
                ``empty refuses a capacity below 1, naming the argument``
            testCase
                "add refuses an episode of another spec, naming both specs"
                ``add refuses an episode of another spec, naming both specs``
            testCase "add validates the episode's arrays" ``add validates the episode's arrays``
            testCase
                "sample refuses n above the count or below 1, and canSample agrees"
                ``sample refuses n above the count or below 1, and canSample agrees``
            testCase "buffers with equal contents are equal" ``buffers with equal contents are equal``
            testCase
                "EpisodeBatch.validate names an array of the wrong size"
                ``EpisodeBatch.validate names an array of the wrong size``
            testCase
                "EpisodeBatch.ofEpisodes names an episode array of the wrong size"
                ``EpisodeBatch.ofEpisodes names an episode array of the wrong size``
            testCase
                "sampleInto stacks the episodes sample draws, at full length, into reused memory"
                ``sampleInto stacks the episodes sample draws, at full length, into reused memory``
            testPropertyWithConfig
                (Replay.config 200)
                "a buffer samples the batch stacked from the episodes it was given"
                ``a buffer samples the batch stacked from the episodes it was given``
            testCase
                "float16 halves the bytes of observations and states; masks are bits unless they hold other values"
                ``float16 halves the bytes of observations and states; masks are bits unless they hold other values``
        ]
