(**
---
title: Environments
category: Environments
categoryindex: 2
index: 1
---

# Environments

Every environment of Qmix.Functional (the matrix games, the ma-gym grid worlds, Level-Based Foraging and
the combat simulator) is a value of one type, `Env<'S>`: a record of pure functions over an immutable state
`'S`. The learner, the runner, `VecEnv` and the registry see nothing else, so an environment you write
yourself is treated exactly like a built-in one. Every example on this page runs when the site is built.

The families have their own pages:

* [Matrix games](matrix-games.html): the QMIX paper's two-step game, the non-monotonic 3 × 3 game, and Claus &
  Boutilier's climbing and penalty games, played once or repeated.
* [Grid worlds](grid-worlds.html): ma-gym's Checkers, Switch2/Switch4 and PredatorPrey 5 × 5/7 × 7, and
  Level-Based Foraging.
* [Combat](combat.html): a SMAX-style simulator with the QMIX paper's StarCraft maps.

## The contract

| field | type | what it gives |
|---|---|---|
| `Spec` | `EnvSpec` | the sizes, named as in PyMARL's `env_info`: `NAgents` (N), `NActions` (A, the same for every agent), `ObsDim`, `StateDim`, `EpisodeLimit`, and the `Name` |
| `Reset` | `Key -> 'S` | the first state of a fresh episode |
| `Step` | `'S -> int[] -> Key -> 'S * Transition` | the next state and the transition for a joint action (one action index per agent) |
| `Observations` | `'S -> float32[]` | every agent's observation, agent after agent: N · `ObsDim` values |
| `GlobalState` | `'S -> float32[]` | the global state the mixer sees: `StateDim` values |
| `AvailableActions` | `'S -> bool[]` | the action mask, agent after agent: N · A flags, `true` = available |

All randomness comes from the `Key` passed in (`Qmix.Tensors.Rng`): the same state, joint action and key always
give the same result, and stepping never changes the state stepped from. The test suite checks these laws for
every registered environment (`tests/Qmix.Functional.Tests/EnvLaws.fs`): determinism, no mutation, the spec's
sizes and finite values at every state, at least one available action per agent, an end by the episode limit at
the latest, an `ArgumentException` naming the agent and the action for a bad joint action (wrong length, out of
range, unavailable), and `VecEnv` agreeing with single calls.

### Transitions: terminated or truncated

A `Transition` carries the team `Reward`, two ways an episode can end, and extra `Info`:

* `Terminated`: a true end (the two-step game's second step, every apple eaten, an army wiped out). The
  learner does not bootstrap through it: the target is the reward alone.
* `Truncated`: the episode reached `EpisodeLimit`. It ends, but the state was not terminal, so the learner
  bootstraps through it (reward + γ · the target network's value of the next state), as PyMARL does at its
  episode limit.
* `Info.Won`: on the last step of an episode, `Some true` (won) or `Some false` (lost or drawn) where the environment has a notion of winning (combat); `None` on earlier steps and elsewhere.
* `Info.AgentRewards`: per-agent rewards where the environment has them (the grid worlds and foraging; the team
  reward is their sum).

A random legal policy and an episode loop, written once for any `Env<'S>`:
*)
#r "../src/Qmix.Cli/bin/Release/net10.0/System.Numerics.Tensors.dll"
#r "../src/Qmix.Cli/bin/Release/net10.0/Qmix.Tensors.dll"
#r "../src/Qmix.Cli/bin/Release/net10.0/Qmix.Functional.dll"

open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

/// One available action per agent, drawn uniformly with the key.
let randomActions (env: Env<'S>) (state: 'S) (key: Key) : int[] =
    let n, a = env.Spec.NAgents, env.Spec.NActions
    let avail = env.AvailableActions state

    Array.init n (fun agent ->
        let legal =
            [|
                for u in 0 .. a - 1 do
                    if avail[agent * a + u] then
                        u
            |]

        legal[int (Rng.bits key (uint64 agent) % uint64 legal.Length)])

/// Plays one episode with random legal actions: the first state and the (next state, transition) of each step.
let playRandom (env: Env<'S>) (key: Key) : 'S * ('S * Transition) list =
    let resetKey, stepKey = Rng.split key

    let rec go state t acc =
        let actionKey, envKey = Rng.split (Rng.foldIn t stepKey)
        let next, tr = env.Step state (randomActions env state actionKey) envKey
        let acc = (next, tr) :: acc

        if tr.Terminated || tr.Truncated then
            List.rev acc
        else
            go next (t + 1) acc

    let first = env.Reset resetKey
    first, go first 0 []

(** One random episode of PredatorPrey 5 × 5: its length, the return, how it ended, and the per-agent rewards of
its last step. *)
let _, steps = playRandom PredatorPrey.predatorPrey5x5 (Rng.key 3UL)
let _, last = List.last steps

printfn
    "steps %d, return %g"
    steps.Length
    (steps |> List.sumBy (fun (_, tr) -> tr.Reward))

printfn
    "last step: reward %g, terminated %b, truncated %b"
    last.Reward
    last.Terminated
    last.Truncated

printfn
    "per-agent rewards: %s, won: %A"
    (Option.get last.Info.AgentRewards |> Array.map string |> String.concat ", ")
    last.Info.Won
(*** include-output ***)

(**
### Many copies at once: VecEnv

`VecEnv.reset env keys` and `VecEnv.step env states actions keys` reset or step N copies of an environment,
spread over the cores. Copy i is reset or stepped exactly as alone, so the result does not depend on the
number of threads. Here, 32 copies of Level-Based Foraging take one random step; the result is compared with
32 single calls, and copy 0 is drawn before and after:
*)
let lbf = Lbf.env "10x10-3p-3f"
let copies = 32
let states = VecEnv.reset lbf (Rng.splitN copies (Rng.key 10UL))

let actions =
    states
    |> Array.mapi (fun i s -> randomActions lbf s (Rng.foldIn i (Rng.key 11UL)))

let stepKeys = Rng.splitN copies (Rng.key 12UL)
let nextStates, transitions = VecEnv.step lbf states actions stepKeys
let single = Array.init copies (fun i -> lbf.Step states[i] actions[i] stepKeys[i])

printfn
    "%d copies stepped; the same as single calls: %b"
    copies
    (single = Array.zip nextStates transitions)

printfn "%s%s" (Lbf.render states[0]) (Lbf.render nextStates[0])
(*** include-output ***)

(**
## Bring your own environment

An environment is a record, so writing one means filling six fields. The example below is a small coordination
game, *rendezvous*: two agents on a line of five cells start on different cells; each step, each moves left,
stays or moves right (moving off the line is unavailable). Each step costs 0.1 until they stand on the same cell,
which pays 1 and terminates the episode; after 10 steps it is truncated. Each agent observes the one-hots of
its own cell and the other's; the global state is both agents' cells.
*)

/// Where a rendezvous episode stands. Never mutated: a step builds a new one.
type RendezvousState = { Time: int; Cells: int[] }

let lineLength = 5

/// One-hot of agent i's cell, then one-hot of the other agent's cell.
let view (s: RendezvousState) (i: int) =
    let v = Array.zeroCreate (2 * lineLength)
    v[s.Cells[i]] <- 1.0f
    v[lineLength + s.Cells[1 - i]] <- 1.0f
    v

let ended (s: RendezvousState) = s.Cells[0] = s.Cells[1] || s.Time >= 10

let rendezvousUnchecked: Env<RendezvousState> =
    {
        Spec =
            {
                Name = "rendezvous"
                NAgents = 2
                NActions = 3
                ObsDim = 2 * lineLength
                StateDim = 2 * lineLength
                EpisodeLimit = 10
            }
        Reset =
            fun key ->
                let a = int (Rng.bits key 0UL % uint64 lineLength)

                let b =
                    (a + 1 + int (Rng.bits key 1UL % uint64 (lineLength - 1))) %
                        lineLength

                { Time = 0; Cells = [| a; b |] }
        Step =
            fun s actions _ ->
                // action 0 = left, 1 = stay, 2 = right
                let cells = Array.map2 (fun c u -> c + u - 1) s.Cells actions
                let next = { Time = s.Time + 1; Cells = cells }
                let met = cells[0] = cells[1]

                next,
                Env.transition
                    (if met then 1.0f else -0.1f)
                    met
                    (not met && next.Time = 10)
        Observations = fun s -> Array.append (view s 0) (view s 1)
        GlobalState = fun s -> view s 0
        AvailableActions =
            fun s ->
                [|
                    for c in s.Cells do
                        yield! [| c > 0; true; c < lineLength - 1 |]
                |]
    }

(** `Env.validateActions` checks a joint action against the spec and the mask, with the messages the built-in
environments give; wrapping `Step` with it (and refusing to step a finished episode) gives the same guarantees: *)
let rendezvous =
    { rendezvousUnchecked with
        Step =
            fun s actions key ->
                Env.validateActions rendezvousUnchecked s actions

                if ended s then
                    invalidArg
                        "state"
                        "rendezvous: the episode has ended; reset for a new one"

                rendezvousUnchecked.Step s actions key
    }

/// A text frame: the line, with each agent's index on its cell (* when they meet).
let renderRendezvous (s: RendezvousState) =
    let cell c =
        match s.Cells[0] = c, s.Cells[1] = c with
        | true, true -> "*"
        | true, false -> "0"
        | false, true -> "1"
        | false, false -> "."

    sprintf "step %2d  %s" s.Time (String.concat " " (List.init lineLength cell))

let first, episode = playRandom rendezvous (Rng.key 5UL)

for s in first :: List.map fst episode do
    printfn "%s" (renderRendezvous s)

printfn
    "return %g, terminated %b"
    (episode |> List.sumBy (fun (_, tr) -> tr.Reward))
    (snd (List.last episode)).Terminated
(*** include-output ***)

(** A bad joint action is refused with the agent and the action named: *)
try
    rendezvous.Step first [| 0; 7 |] (Rng.key 0UL) |> ignore
with :? System.ArgumentException as e ->
    printfn "%s" e.Message
(*** include-output ***)

(**
Nothing else is needed to train on it: `Training.create` takes any `Env<'S>`. A short QMIX run (4000 steps,
ε from 1 to 0.05 over the first 2000, a 32-unit agent), then the greedy policy against the random one over
200 episodes:
*)
let trainingConfig =
    { TrainingConfig.defaults with
        Learner =
            { LearnerConfig.defaults with
                Agent =
                    { AgentConfig.defaults with
                        Hidden = 32
                    }
                TargetUpdate = HardEvery 100
            }
        TotalSteps = 4000
        BufferSize = 500
        Epsilon =
            {
                Start = 1.0f
                Finish = 0.05f
                AnnealSteps = 2000
            }
        TestInterval = 100_000
        TestEpisodes = 0
        Seed = 1UL
    }

let trainer = Training.create trainingConfig rendezvous
let trained = Training.init trainer |> Training.run trainer ignore

let greedy =
    Runner.evaluate
        rendezvous
        trainingConfig.Learner.Agent
        trained.Learner.Params.Agent
        200
        8
        (Rng.key 99UL)

let randomReturn =
    List.init 200 (fun i ->
        playRandom rendezvous (Rng.key (1000UL + uint64 i))
        |> snd
        |> List.sumBy (fun (_, tr) -> tr.Reward))
    |> List.average

printfn
    "mean return over 200 episodes: greedy QMIX %.2f, random %.2f"
    greedy.MeanReturn
    randomReturn
(*** include-output ***)

(**
To give it a name beside the built-in environments, make an `EnvEntry`: it boxes the states, so entries of
different state types sit in one list. (The built-in list, `Registry.all`, is fixed; a new built-in environment is
one line in `src/Qmix.Functional/Envs/Registry.fs`.)
*)
let rendezvousEntry =
    EnvEntry.create
        "rendezvous"
        "two agents on a line of 5 cells must meet"
        (fun () -> rendezvous)
        renderRendezvous

let myRegistry = Registry.all @ [ rendezvousEntry ]
let boxedEnv = (myRegistry |> List.find (fun e -> e.Name = "rendezvous")).Make()

printfn
    "%d entries, the last %s: %s"
    myRegistry.Length
    boxedEnv.Spec.Name
    (rendezvousEntry.RenderText(boxedEnv.Reset(Rng.key 5UL)))
(*** include-output ***)

(**
## The registry

`Registry.all` lists the built-in environments by name: a family prefix and a colon, then the variant
(`matrix:climbing`, `lbf:10x10-3p-3f`, `combat:3m`); an environment alone in its family keeps its plain name
(`two-step`, `checkers`). `Registry.make name` makes one, with its states boxed (`Env<obj>`); `Registry.find`
gives the whole entry, with its description, a text renderer (`RenderText`) and, for every environment but the
matrix games, a graphical one (`RenderSvg`, an option; `SvgSheet.compose` lays the frames of an episode out as a
sheet, as `qmix eval --render svg` does); `Registry.tryFind` returns an option. Every registered environment, with its spec as the code reports it:
*)
printfn "%-24s %3s %3s %4s %5s %5s" "name" "N" "A" "obs" "state" "limit"

for entry in Registry.all do
    let spec = (Registry.make entry.Name).Spec

    printfn
        "%-24s %3d %3d %4d %5d %5d\n    %s"
        entry.Name
        spec.NAgents
        spec.NActions
        spec.ObsDim
        spec.StateDim
        spec.EpisodeLimit
        entry.Description
(*** include-output ***)

(**
Each made environment's `Spec.Name` is its registered name, except `matrix:non-monotonic`, whose spec keeps the
name `non-monotonic` that saved checkpoints carry:
*)
[
    for e in Registry.all do
        let name = (e.Make()).Spec.Name

        if name <> e.Name then
            yield e.Name, name
]
(*** include-it ***)

(** An unknown name is an `ArgumentException` that lists the known ones: *)
try
    Registry.make "chess" |> ignore
with :? System.ArgumentException as e ->
    printfn "%s" (e.Message.Substring(0, 120) + " ...")
(*** include-output ***)

(**
A registered environment plays like any other; its text renderer takes the boxed states it returns.
One random episode of `switch2`, its last frame:
*)
let switchEntry = Registry.find "switch2"
let switchEnv = switchEntry.Make()
let _, switchSteps = playRandom switchEnv (Rng.key 2UL)
let lastState, lastTransition = List.last switchSteps
printfn "%s" (switchEntry.RenderText lastState)

printfn
    "steps %d, terminated %b, truncated %b"
    switchSteps.Length
    lastTransition.Terminated
    lastTransition.Truncated
(*** include-output ***)
