/// Shared FsCheck generators: small environment specs and episodes laid out as Episode documents (filled steps,
/// the final next-observation at index Length, zero padding after it), and a fixed-seed runner.
module Qmix.Functional.Tests.Generators

open FsCheck
open FsCheck.FSharp
open Qmix.Functional

/// A small spec: 1–3 agents, 1–4 actions, widths 1–3, episode limit 1–6.
let spec: Gen<EnvSpec> =
    gen {
        let! n = Gen.choose (1, 3)
        let! a = Gen.choose (1, 4)
        let! o = Gen.choose (1, 3)
        let! s = Gen.choose (1, 3)
        let! limit = Gen.choose (1, 6)

        return
            {
                Name = "gen"
                NAgents = n
                NActions = a
                ObsDim = o
                StateDim = s
                EpisodeLimit = limit
            }
    }

/// A value in [-1, 1] on a grid of 1/1000, never exactly 0 (so filled entries are told from padding).
let private value =
    Gen.choose (1, 1000)
    |> Gen.zip (Gen.elements [ -1.0f; 1.0f ])
    |> Gen.map (fun (sign, i) -> sign * float32 i / 1000.0f)

/// `width` values per step for steps 0..last, zero after (layout [T+1, width]).
let private steps (spec: EnvSpec) (last: int) (width: int) =
    let t1 = spec.EpisodeLimit + 1

    Gen.arrayOfLength ((last + 1) * width) value
    |> Gen.map (fun xs -> Array.append xs (Array.zeroCreate ((t1 - last - 1) * width)))

/// An episode of the spec whose team reward at step 0 is `tag` (to tell episodes apart in a batch).
let taggedEpisode (spec: EnvSpec) (tag: int) : Gen<Episode> =
    gen {
        let n, a, t1 = spec.NAgents, spec.NActions, spec.EpisodeLimit + 1
        let! length = Gen.choose (1, spec.EpisodeLimit)
        let! terminated = Gen.elements [ true; false ]
        let! won = Gen.elements [ None; Some true; Some false ]
        let! obs = steps spec length (n * spec.ObsDim)
        let! state = steps spec length spec.StateDim
        let! chosen = Gen.arrayOfLength (length * n) (Gen.choose (0, a - 1))

        let! otherAvail =
            Gen.arrayOfLength ((length + 1) * n * a) (Gen.elements [ 0.0f; 1.0f ])

        let! reward = steps spec (length - 1) 1
        let actions = Array.append chosen (Array.zeroCreate ((t1 - length) * n))
        // the chosen action is always available; the rest at random, up to the last observation
        let avail = Array.zeroCreate (t1 * n * a)

        for i in 0 .. otherAvail.Length - 1 do
            avail[i] <- otherAvail[i]

        for i in 0 .. chosen.Length - 1 do
            avail[i * a + chosen[i]] <- 1.0f

        reward[0] <- float32 tag

        return
            {
                Spec = spec
                Length = length
                Obs = obs
                State = state
                Actions = actions
                AvailActions = avail
                Reward = reward
                Terminated = terminated
                Won = won
            }
    }

/// `count` episodes of the spec, tagged 1..count in order.
let episodes (spec: EnvSpec) (count: int) : Gen<Episode[]> =
    Array.init count (fun i -> taggedEpisode spec (i + 1)) |> Gen.sequenceToArray

/// The tag of an episode.
let tag (e: Episode) = int e.Reward[0]

/// The tags of a batch's episodes, in batch order.
let batchTags (b: EpisodeBatch) =
    Array.init b.BatchSize (fun i -> int b.Reward[i * b.MaxSeqLength])

/// A property over values drawn from `g` (no shrinking: the failing case is reported as drawn).
let forAll (g: Gen<'a>) (body: 'a -> unit) = Prop.forAll (Arb.fromGen g) body

/// A property over values drawn from `g` whose failing case is shrunk through `shrink` (smaller candidates that the
/// generator could also have drawn), so the report shows a minimal counterexample.
let forAllShrinking (g: Gen<'a>) (shrink: 'a -> seq<'a>) (body: 'a -> unit) =
    Prop.forAll (Arb.fromGenShrink (g, shrink)) body

/// Runs a property `tests` times from the fixed replay seed (1, 1), throwing on a counterexample.
let check (tests: int) (prop: Property) =
    Check.One(Config.QuickThrowOnFailure.WithReplay(1UL, 1UL).WithMaxTest(tests).WithQuietOnSuccess(true), prop)
