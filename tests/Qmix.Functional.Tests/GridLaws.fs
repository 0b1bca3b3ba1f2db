/// Laws every grid world must obey, checked over random keys and random legal joint actions, and the bad-input
/// checks (wrong length, out-of-range action: an ArgumentException naming agent and action, state unchanged).
module Qmix.Functional.Tests.GridLaws

open System
open FsCheck.FSharp
open Expecto
open Qmix.Tests
open Qmix.Tensors
open Qmix.Functional

/// A uniformly random available action per agent, drawn from the key.
let randomActions (spec: EnvSpec) (avail: bool[]) (key: Key) : int[] =
    Array.init spec.NAgents (fun i ->
        let legal =
            [|
                for u in 0 .. spec.NActions - 1 do
                    if avail[i * spec.NActions + u] then
                        u
            |]

        legal[Rng.intBelow (Rng.foldIn i key) legal.Length])

/// Everything a state shows to the outside (to check that stepping does not change it).
let snapshot (env: Env<'S>) (render: 'S -> string) (s: 'S) =
    env.Observations s, env.GlobalState s, env.AvailableActions s, render s

/// Sizes equal the spec, every agent has an action, every value is finite.
let checkShapes (env: Env<'S>) (s: 'S) =
    let spec = env.Spec

    let obs, state, avail =
        env.Observations s, env.GlobalState s, env.AvailableActions s

    Expect.equal obs.Length (spec.NAgents * spec.ObsDim) "obs.Length"
    Expect.equal state.Length spec.StateDim "state.Length"
    Expect.equal avail.Length (spec.NAgents * spec.NActions) "avail.Length"
    Expect.isTrue (Array.forall Single.IsFinite obs) "observations finite"
    Expect.isTrue (Array.forall Single.IsFinite state) "state finite"

    for i in 0 .. spec.NAgents - 1 do
        Expect.isTrue
            (Array.exists id avail[i * spec.NActions .. (i + 1) * spec.NActions - 1])
            (sprintf "agent %d has an action" i)

/// Plays one episode from the seed with random legal actions, checking at every step: shapes, determinism of
/// reset and step (same state, actions and key → equal results), the input state unchanged, finite rewards
/// whose per-agent parts sum to the team reward, and the end by the episode limit (truncated only there).
/// Returns the number of steps taken.
let checkEpisode (env: Env<'S>) (render: 'S -> string) (seed: uint64) : int =
    let spec = env.Spec
    let kReset, kRun = Rng.split (Rng.key seed)
    let s0 = env.Reset kReset
    Expect.isTrue (s0 = env.Reset kReset) "reset is deterministic"
    let mutable s = s0
    let mutable t = 0
    let mutable ended = false

    while not ended do
        checkShapes env s
        let kAct, kStep = Rng.split (Rng.foldIn t kRun)
        let actions = randomActions spec (env.AvailableActions s) kAct
        let before = snapshot env render s
        let s1, tr = env.Step s actions kStep
        let s2, tr2 = env.Step s actions kStep
        Expect.isTrue (s1 = s2) "step is deterministic"
        Expect.isTrue (tr = tr2) "step is deterministic"
        Expect.isTrue (before = snapshot env render s) "the input state is unchanged"
        Expect.isTrue (Single.IsFinite tr.Reward) "reward finite"

        match tr.Info.AgentRewards with
        | Some rs ->
            Expect.equal rs.Length spec.NAgents "rs.Length"
            Expect.isTrue (Array.forall Single.IsFinite rs) "Array.forall Single.IsFinite rs"
            Expect.roundedEqual (float tr.Reward) (float (Array.sum rs)) 5 "float tr.Reward"
        | None -> ()

        t <- t + 1
        Expect.isFalse (tr.Terminated && tr.Truncated) "terminated and truncated at once"
        ended <- tr.Terminated || tr.Truncated
        Expect.isTrue (t <= spec.EpisodeLimit) "episode within its limit"
        Expect.isTrue (ended || t < spec.EpisodeLimit) "the episode ends at its limit"
        Expect.isTrue (not tr.Truncated || t = spec.EpisodeLimit) "truncated only at the limit"
        s <- s1

    checkShapes env s

    Expect.throwsOf<ArgumentException>(fun () -> env.Step s (Array.create spec.NAgents 0) kRun |> ignore)
    |> ignore

    t

/// Runs `checkEpisode` as an FsCheck property over `episodes` random seeds.
let checkLaws (episodes: int) (env: Env<'S>) (render: 'S -> string) =
    Generators.check
        episodes
        (Generators.forAll (Gen.choose (0, Int32.MaxValue)) (fun seed ->
            checkEpisode env render (uint64 seed) |> ignore))

/// Bad joint actions from state `s`: wrong lengths, each agent's action out of range (−1 and A) → an
/// ArgumentException whose message names the agent and the action; null → ArgumentNullException; `s` unchanged,
/// and stepping it afterwards still gives what it gave before.
let checkBadInput (env: Env<'S>) (render: 'S -> string) (s: 'S) =
    let spec = env.Spec
    let key = Rng.key 7UL
    let before = snapshot env render s
    let good = Array.create spec.NAgents (spec.NActions - 1)
    let expected = env.Step s good key

    for length in [ 0; spec.NAgents - 1; spec.NAgents + 1 ] do
        let ex =
            Expect.throwsOf<ArgumentException>(fun () -> env.Step s (Array.create length 0) key |> ignore)

        Expect.stringContains ex.Message (sprintf "got %d" length) "ex.Message"

    for i in 0 .. spec.NAgents - 1 do
        for u in [ -1; spec.NActions ] do
            let actions = Array.copy good
            actions[i] <- u

            let ex =
                Expect.throwsOf<ArgumentException>(fun () -> env.Step s actions key |> ignore)

            Expect.stringContains ex.Message (sprintf "agent %d" i) "ex.Message"
            Expect.stringContains ex.Message (sprintf "action %d" u) "ex.Message"

    Expect.throwsOf<ArgumentNullException>(fun () -> env.Step s null key |> ignore)
    |> ignore

    Expect.isTrue (before = snapshot env render s) "the state is unchanged"
    Expect.isTrue (expected = env.Step s good key) "the state steps as before"
