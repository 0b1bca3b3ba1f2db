/// The laws every environment obeys, checked over random keys and random legal action sequences (FsCheck, fixed
/// replay seed): one line per environment, `EnvLaws.check env` (or `EnvLaws.checkWith { EnvLaws.defaults with … }`).
///
/// Per drawn seed: an episode of random legal actions is played twice and must be identical (determinism: same key
/// and actions → same observations, states, masks and transitions); at every state the observation, global state
/// and mask have the spec's sizes and finite values, and every agent has at least one available action; stepping
/// never changes the state stepped from; rewards (and per-agent rewards) are finite; the episode has ended
/// (terminated or truncated) by the episode limit at the latest; at the first and at a random later state, bad
/// joint actions (wrong length, out of range, unavailable) raise an ArgumentException naming the agent and the
/// action, and leave the state as it was; and `VecEnv.reset`/`VecEnv.step` over several copies (finished copies
/// reset) equal the single calls.
module Qmix.Functional.Tests.EnvLaws

open System
open FsCheck.FSharp
open Qmix.Tensors
open Qmix.Functional

/// How hard the laws are checked.
type LawConfig =
    {
        /// Property cases (drawn seeds); each plays one checked episode and one vectorised run.
        Cases: int
        /// Environments in the vectorised run (16 or more spreads it over 2 cores).
        VecEnvs: int
        /// Steps of the vectorised run; 0 means the episode limit.
        VecSteps: int
        /// The documented bound of every observation and global-state value (|x| ≤ bound); the registry gives each
        /// built-in environment's (`EnvEntry.FeatureBound`).
        FeatureBound: float32
    }

/// 20 cases, 24 environments stepped for one episode limit.
let defaults =
    {
        Cases = 20
        VecEnvs = 24
        VecSteps = 0
        FeatureBound = 1.0f
    }

/// What can be seen of a state: observations, global state, mask.
type private View = float32[] * float32[] * bool[]

let private view (env: Env<'S>) (s: 'S) : View =
    env.Observations s, env.GlobalState s, env.AvailableActions s

let private fail (env: Env<'S>) (seed: uint64) (t: int) (what: string) : 'a =
    failwithf "%s (seed %d, step %d): %s" env.Spec.Name seed t what

/// Sizes, finiteness and at least one available action per agent.
let private checkView (bound: float32) (env: Env<'S>) seed t ((obs, gs, avail): View) =
    let spec = env.Spec

    let size (what: string) (arr: 'a[]) (expected: int) =
        if isNull arr then
            fail env seed t (what + " is null")

        if arr.Length <> expected then
            fail env seed t (sprintf "%s has %d values, the spec says %d" what arr.Length expected)

    size "the observation" obs (spec.NAgents * spec.ObsDim)
    size "the global state" gs spec.StateDim
    size "the available-action mask" avail (spec.NAgents * spec.NActions)

    if not (Array.forall Single.IsFinite obs) then
        fail env seed t "an observation value is not finite"

    if not (Array.forall Single.IsFinite gs) then
        fail env seed t "a global state value is not finite"

    // every feature within the documented bound
    let outside (what: string) (values: float32[]) =
        match values |> Array.tryFindIndex (fun x -> abs x > bound) with
        | Some i ->
            fail env seed t (sprintf "%s value %d is %g, outside the documented bound ±%g" what i values[i] bound)
        | None -> ()

    outside "observation" obs
    outside "global state" gs

    for a in 0 .. spec.NAgents - 1 do
        if not (Array.exists id avail[a * spec.NActions .. (a + 1) * spec.NActions - 1]) then
            fail env seed t (sprintf "agent %d has no available action" a)

let private sameView (env: Env<'S>) seed t (what: string) ((o1, g1, m1): View) ((o2, g2, m2): View) =
    if o1 <> o2 || g1 <> g2 || m1 <> m2 then
        fail env seed t what

/// A uniformly random available action for every agent.
let randomLegal (spec: EnvSpec) (avail: bool[]) (key: Key) : int[] =
    Array.init spec.NAgents (fun a ->
        let legal =
            [|
                for u in 0 .. spec.NActions - 1 do
                    if avail[a * spec.NActions + u] then
                        u
            |]

        legal[Rng.intBelow (Rng.foldIn a key) legal.Length])

/// One step of a checked episode: the state stepped from, what it showed, the joint action and the transition.
type private Step<'S> =
    {
        State: 'S
        View: View
        Actions: int[]
        /// The step key.
        Key: Key
        Transition: Transition
    }

/// Plays one episode of random legal actions from the key, checking the per-state and per-step laws; returns the
/// steps and the view of the last state.
let private episode (bound: float32) (env: Env<'S>) (seed: uint64) (key: Key) : Step<'S> list * View =
    let k = Rng.splitN 3 key
    let limit = env.Spec.EpisodeLimit

    let rec go (s: 'S) (t: int) (acc: Step<'S> list) =
        let v = view env s
        checkView bound env seed t v

        if t = limit then
            List.rev acc, v
        else
            let actions = randomLegal env.Spec (let _, _, m = v in m) (Rng.foldIn t k[2])
            let stepKey = Rng.foldIn t k[1]
            let s', tr = env.Step s (Array.copy actions) stepKey
            sameView env seed t "stepping changed the state stepped from" v (view env s)

            if not (Single.IsFinite tr.Reward) then
                fail env seed t (sprintf "reward %g is not finite" tr.Reward)

            match tr.Info.AgentRewards with
            | Some r when isNull r || r.Length <> env.Spec.NAgents || not (Array.forall Single.IsFinite r) ->
                fail env seed t "the per-agent rewards are not N finite values"
            | _ -> ()

            let acc =
                {
                    State = s
                    View = v
                    Actions = actions
                    Key = stepKey
                    Transition = tr
                }
                :: acc

            if tr.Terminated || tr.Truncated then
                let v' = view env s'
                checkView bound env seed (t + 1) v'
                List.rev acc, v'
            elif t + 1 = limit then
                fail env seed t (sprintf "the episode did not end by its limit %d" limit)
            else
                go s' (t + 1) acc

    go (env.Reset k[0]) 0 []

/// Bad joint actions at a state raise ArgumentExceptions naming agent and action, and leave the state as it was.
let private checkBadActions (env: Env<'S>) (seed: uint64) (t: int) (step: Step<'S>) (key: Key) =
    let spec = env.Spec
    let n, a = spec.NAgents, spec.NActions
    let _, _, avail = step.View
    let stepKey = Rng.foldIn 0 key
    // where the state steps to, before any bad joint action is tried
    let nextBefore, _ = env.Step step.State (Array.copy step.Actions) step.Key
    let nextView = view env nextBefore

    let rejects (actions: int[]) (mentions: string list) =
        let raised =
            try
                env.Step step.State actions stepKey |> ignore
                None
            with :? ArgumentException as e ->
                Some e

        match raised with
        | None -> fail env seed t (sprintf "the bad joint action %A was accepted" actions)
        | Some e ->
            for m in mentions do
                if not (e.Message.Contains m) then
                    fail env seed t (sprintf "the error for %A does not name '%s': %s" actions m e.Message)

        sameView
            env
            seed
            t
            (sprintf "the rejected joint action %A changed the state" actions)
            step.View
            (view env step.State)

    rejects (Array.create (n + 1) 0) []

    if n > 1 then
        rejects (Array.create (n - 1) 0) []

    let agent = Rng.intBelow (Rng.foldIn 1 key) n

    for u in [ -1; a ] do
        let actions = Array.copy step.Actions
        actions[agent] <- u
        rejects actions [ sprintf "agent %d" agent; sprintf "action %d" u ]

    // an unavailable action, if the state has one
    match
        [
            for i in 0 .. n * a - 1 do
                if not avail[i] then
                    i
        ]
    with
    | [] -> ()
    | masked ->
        let i = masked[Rng.intBelow (Rng.foldIn 2 key) masked.Length]
        let actions = Array.copy step.Actions
        actions[i / a] <- i % a
        rejects actions [ sprintf "agent %d" (i / a); sprintf "action %d" (i % a) ]

    // the state still steps as it did in the episode
    let s', tr = env.Step step.State (Array.copy step.Actions) step.Key

    if tr <> step.Transition then
        fail env seed t "after rejected joint actions, the state steps to a different transition"

    sameView env seed t "after rejected joint actions, the state steps somewhere else" nextView (view env s')

/// VecEnv.reset and VecEnv.step over `count` copies equal the single calls; finished copies are reset.
let private checkVectorised (env: Env<'S>) (seed: uint64) (config: LawConfig) (key: Key) =
    let spec = env.Spec
    let count = config.VecEnvs

    let steps =
        if config.VecSteps > 0 then
            config.VecSteps
        else
            spec.EpisodeLimit

    let keysAt (stream: int) (t: int) =
        Array.init count (fun e -> Rng.foldIn e (Rng.foldIn t (Rng.foldIn stream key)))

    let resetKeys = keysAt 0 0
    let mutable states = VecEnv.reset env resetKeys
    let lengths = Array.zeroCreate<int> count

    states
    |> Array.iteri (fun e s ->
        sameView
            env
            seed
            0
            (sprintf "VecEnv.reset differs from Reset for environment %d" e)
            (view env (env.Reset resetKeys[e]))
            (view env s))

    for t in 0 .. steps - 1 do
        let actKeys, stepKeys = keysAt 1 t, keysAt 2 t

        let actions =
            states
            |> Array.mapi (fun e s -> randomLegal spec (env.AvailableActions s) actKeys[e])

        let next, transitions = VecEnv.step env states actions stepKeys

        for e in 0 .. count - 1 do
            let s1, tr1 = env.Step states[e] actions[e] stepKeys[e]

            if tr1 <> transitions[e] then
                fail env seed t (sprintf "VecEnv.step's transition differs from Step's for environment %d" e)

            sameView
                env
                seed
                t
                (sprintf "VecEnv.step's state differs from Step's for environment %d" e)
                (view env s1)
                (view env next[e])

        // finished copies start again
        let resetKeys = keysAt 3 t

        states <-
            next
            |> Array.mapi (fun e s ->
                lengths[e] <- lengths[e] + 1
                let tr = transitions[e]

                if tr.Terminated || tr.Truncated || lengths[e] >= spec.EpisodeLimit then
                    lengths[e] <- 0
                    env.Reset resetKeys[e]
                else
                    s)

/// Checks the laws with the given configuration; throws (failing the test) on the first counterexample, naming the
/// environment, the drawn seed and the step.
let checkWith (config: LawConfig) (env: Env<'S>) : unit =
    let seeds =
        Gen.choose (0, Int32.MaxValue)
        |> Gen.two
        |> Gen.map (fun (a, b) -> (uint64 a <<< 31) ||| uint64 b)

    Generators.forAll seeds (fun seed ->
        let key = Rng.key seed
        let steps, last = episode config.FeatureBound env seed key
        // determinism: the same key and actions give the same episode
        let again, last' = episode config.FeatureBound env seed key

        if List.length steps <> List.length again then
            fail env seed 0 "the same key gave episodes of different lengths"

        List.zip steps again
        |> List.iteri (fun t (x, y) ->
            sameView env seed t "the same key gave a different state" x.View y.View

            if x.Actions <> y.Actions || x.Transition <> y.Transition then
                fail env seed t "the same key and actions gave a different transition")

        sameView env seed (List.length steps) "the same key gave a different last state" last last'
        // bad joint actions, at the first state and at a random later one
        let badKey = Rng.foldIn 7 key
        let later = Rng.intBelow (Rng.foldIn 1 badKey) (List.length steps)
        checkBadActions env seed 0 (List.head steps) (Rng.foldIn 0 badKey)
        checkBadActions env seed later steps[later] (Rng.foldIn 2 badKey)
        checkVectorised env seed config (Rng.foldIn 9 key))
    |> Generators.check config.Cases

/// Checks the laws with the default configuration (`EnvLaws.defaults`).
let check (env: Env<'S>) : unit = checkWith defaults env
