// A large checkpoint saved and loaded by hand, not part of the test suite: a replay buffer whose observations alone
// pass 2^31 float32 values (8.7 GB), written with Checkpoint.save and read back with Checkpoint.load.
//
//   ./build.sh build
//   /usr/bin/time -v dotnet fsi tests/Qmix.Functional.Tests/LargeCheckpoint.fsx [EPISODES] [DIR]
//
// EPISODES defaults to 1560 (obs 2,172,760,200 values); 540 gives a 3 GB buffer. DIR defaults to the temporary
// directory; the checkpoint is deleted at the end. Each phase prints its time, the bytes it allocated and the peak
// resident memory so far; /usr/bin/time -v reports the whole run's peak.
#r "../../src/Qmix.Functional/bin/Release/net10.0/Qmix.Tensors.dll"
#r "../../src/Qmix.Functional/bin/Release/net10.0/Qmix.Functional.dll"

open System
open System.Diagnostics
open System.IO
open Qmix.Tensors
open Qmix.Functional

let args = fsi.CommandLineArgs |> Array.skip 1
let count = if args.Length > 0 then int args[0] else 1560

let dir =
    if args.Length > 1 then
        args[1]
    else
        Path.Combine(Path.GetTempPath(), "qmix-large-checkpoint")

// 27 agents with 285-wide observations over 180 steps, as SMAC's 27m_vs_30m, with a small state and few actions so
// that the observations are most of the buffer
let spec =
    {
        Name = "large-obs"
        NAgents = 27
        NActions = 6
        ObsDim = 285
        StateDim = 48
        EpisodeLimit = 180
    }

let t1 = spec.EpisodeLimit + 1

/// Episode i's values, the same every time they are made.
let episode (i: int) =
    let fill (len: int) (salt: int) =
        let a = GC.AllocateUninitializedArray<float32> len

        for j in 0 .. len - 1 do
            a[j] <- float32 ((i * 7919 + j * 31 + salt) &&& 1023)

        a

    {
        Spec = spec
        // every episode at the limit, so that the buffer (which keeps recorded steps only) holds all 181 rows of each
        Length = spec.EpisodeLimit
        Obs = fill (t1 * spec.NAgents * spec.ObsDim) 1
        State = fill (t1 * spec.StateDim) 2
        Actions = Array.init (t1 * spec.NAgents) (fun j -> (i + j) % spec.NActions)
        AvailActions =
            fill (t1 * spec.NAgents * spec.NActions) 3
            |> Array.map (fun x -> if x > 511.0f then 1.0f else 0.0f)
        Reward = fill t1 4
        Terminated = i % 2 = 0
        Won = if i % 3 = 0 then None else Some(i % 3 = 1)
    }

let gb (bytes: int64) = float bytes / 1e9

let peak () =
    Process.GetCurrentProcess().Refresh()
    gb (Process.GetCurrentProcess().PeakWorkingSet64)

let phase (name: string) (f: unit -> 'T) =
    let clock = Stopwatch.StartNew()
    let before = GC.GetAllocatedBytesForCurrentThread()
    let result = f ()
    let allocated = GC.GetAllocatedBytesForCurrentThread() - before

    printfn
        "%-6s %7.1f s   allocated %11.3f MB   peak resident so far %6.2f GB"
        name
        clock.Elapsed.TotalSeconds
        (float allocated / 1e6)
        (peak ())

    result

let learner = Learner.builtIn LearnerConfig.defaults spec Vdn
let path = Path.Combine(dir, "model")

let counters =
    {
        Step = 1
        Episode = count
        LastTestStep = 0
        LastSaveStep = 0
        Key = Rng.key 2UL
    }

/// Builds the buffer and saves it; the buffer is garbage once this returns.
let build () =
    let replay =
        phase "build" (fun () -> Replay.addMany (Seq.init count episode) (Replay.empty count))

    let obsValues = int64 count * int64 (t1 * spec.NAgents * spec.ObsDim)
    printfn "%d episodes; obs %d values (2^31 = %d), %.2f GB" count obsValues (1L <<< 31) (gb (4L * obsValues))

    let ckpt =
        {
            Learner = Learner.init learner (Rng.key 1UL)
            Replay = replay
            Counters = counters
        }

    phase "save" (fun () -> Checkpoint.save path learner "large" ckpt)

build ()
GC.Collect()
GC.WaitForPendingFinalizers()
GC.Collect()

for f in Directory.GetFiles dir |> Array.sort do
    printfn "%-28s %15d bytes" (Path.GetFileName f) (FileInfo(f).Length)

let loaded = phase "load" (fun () -> Checkpoint.load path learner)

phase "check" (fun () ->
    if Replay.count loaded.Replay <> count || loaded.Counters <> counters then
        failwith "the counts differ"

    for i in 0 .. count - 1 do
        if Replay.item i loaded.Replay <> episode i then
            failwithf "episode %d differs" i

        // the episodes made to compare with are garbage at once: collect them before they pile up
        if i % 64 = 63 then
            GC.Collect())

printfn "every episode equal to the one saved"
Directory.Delete(dir, true)
