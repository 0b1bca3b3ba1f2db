(**
---
title: Grid worlds
category: Environments
categoryindex: 2
index: 3
---

# Grid worlds

Four families of small grid environments, each a pure re-implementation of its upstream code:

* **Checkers**, **Switch** and **PredatorPrey** after ma-gym (koulanurag/ma-gym), the grid worlds of the VDN and
  QMIX line of work;
* **Level-Based Foraging** after semitable/lb-foraging v3, as the EPyMARL benchmark runs it.

See [Environments](environments.html) for the `Env<'S>` contract they share. Common to all four:

* Each step reports per-agent rewards in `Info.AgentRewards`; the team reward is their sum (EPyMARL's default
  `reward_scalarisation = sum`). No grid world reports a win.
* An episode terminates when its task is done and is truncated at its step limit.
* Stepping a finished episode raises an `ArgumentException` (one upstream behaviour dropped: the originals let
  it happen); a bad joint action raises one naming the agent and the action.
* States are immutable records and all randomness comes from the keys; Checkers and Switch have none.
* The ma-gym worlds share ma-gym's five actions: 0 = down (row + 1), 1 = left (column − 1), 2 = up (row − 1),
  3 = right (column + 1), 4 = no-op, all always available. Agents move one after the other, in index order.

## The registered grid worlds

Every grid world in `Registry.all`, with its spec as the code reports it:
*)
#r "../src/Qmix.Cli/bin/Release/net10.0/System.Numerics.Tensors.dll"
#r "../src/Qmix.Cli/bin/Release/net10.0/Qmix.Tensors.dll"
#r "../src/Qmix.Cli/bin/Release/net10.0/Qmix.Functional.dll"

open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

let isGridWorld (name: string) =
    [ "checkers"; "switch"; "predator-prey"; "lbf:" ] |> List.exists name.StartsWith

printfn "%-22s %3s %3s %4s %5s %5s" "name" "N" "A" "obs" "state" "limit"

for entry in Registry.all |> List.filter (fun e -> isGridWorld e.Name) do
    let s = (Registry.make entry.Name).Spec

    printfn
        "%-22s %3d %3d %4d %5d %5d\n    %s"
        entry.Name
        s.NAgents
        s.NActions
        s.ObsDim
        s.StateDim
        s.EpisodeLimit
        entry.Description
(*** include-output ***)

(**
`obs` is one agent's observation width (the environment returns N of them), `state` the global state's, and
`limit` the episode limit in steps.
*)
let describe (spec: EnvSpec) =
    sprintf
        "%s: N %d, A %d, obs_dim %d, state_dim %d, episode_limit %d"
        spec.Name
        spec.NAgents
        spec.NActions
        spec.ObsDim
        spec.StateDim
        spec.EpisodeLimit

let rewardsOf (tr: Transition) =
    Option.get tr.Info.AgentRewards
    |> Array.map (sprintf "%g")
    |> String.concat ", "

let noKey = Rng.key 0UL

(**
## Checkers

`Checkers` (ma-gym `checkers.py`; Sunehag et al., VDN, §4.2). Two agents on a 3 × 8 board. Columns 0–5 hold
fruit (rows 0 and 2: apples on even columns, lemons on odd ones; row 1 the other way round, 9 of each);
columns 6–7 are empty. Agent 0 starts at (0, 6), agent 1 at (2, 6).

* **Moves**: a move succeeds when the target is on the board and not the other agent's cell; entering a fruit
  cell eats it.
* **Rewards**: every agent gets the step cost (−0.01) each step; agent 0 is sensitive (apple +10, lemon −10),
  agent 1 is not (apple +1, lemon −1). The team does best when agent 1 clears lemons out of agent 0's way.
* **End**: terminated when the last apple is eaten, truncated after 100 steps.
* **Observation** (47 per agent): its position [round(row / 3, 2), round(column / 7, 2)], then the 3 × 3 window
  around it, each cell a one-hot over (lemon, apple, agent 0, agent 1, wall). The global state is both agents'
  vectors (94).
* **Upstream quirks kept**: the row is divided by 3 although rows run 0..2 (the column by 7); the wall channel
  exists but is never set. **Dropped**: zero rewards after the end (stepping raises here).
* **Variants**: ma-gym's `-v1` (full observability), `-v2` (a clock: steps / limit appended) and `-v3` (both), as
  `Checkers.make { Checkers.defaults with … }`.

The defaults, and the start:
*)
let c = Checkers.defaults

printfn
    "defaults: step cost %g, max steps %d, full observability %b, clock %b\n"
    c.StepCost
    c.MaxSteps
    c.FullObservable
    c.Clock

let checkers = Checkers.env
let checkersStart = checkers.Reset noKey
printfn "%s" (Checkers.render checkersStart)
(*** include-output ***)

(** Agent 1 steps left onto a lemon, then up onto an apple, while agent 0 waits; the per-agent rewards of each step: *)
let checkers1, checkersT1 = checkers.Step checkersStart [| 4; 1 |] noKey
let checkers2, checkersT2 = checkers.Step checkers1 [| 4; 2 |] noKey

printfn
    "step 1 rewards: %s; step 2 rewards: %s\n"
    (rewardsOf checkersT1)
    (rewardsOf checkersT2)

printfn "%s" (Checkers.render checkers2)
(*** include-output ***)

(** The variants' specs: *)
for config in
    [
        { Checkers.defaults with
            FullObservable = true
        }
        { Checkers.defaults with Clock = true }
        { Checkers.defaults with
            FullObservable = true
            Clock = true
        }
    ] do
    printfn "%s" (describe (Checkers.make config).Spec)
(*** include-output ***)

(**
## Switch2 and Switch4

`Switch` (ma-gym `switch_one_corridor.py`). A 3 × 7 grid whose middle three columns are wall except for row 1:
a one-cell-wide corridor. Agents start on one side and must reach a goal on the other, so those crossing in
opposite directions must take turns. Agents (start → goal): 0: (0, 1) → (0, 6); 1: (0, 5) → (0, 0);
2: (2, 1) → (2, 6); 3: (2, 5) → (2, 0). Switch2 has agents 0 and 1, Switch4 all four.

* **Moves**: a move succeeds when the target is on the grid, not a wall and not occupied by any agent (an agent
  at its goal keeps the cell and no longer moves).
* **Rewards** per agent: −0.1 each step until it reaches its goal, +5 on that step (instead of the cost), 0
  afterwards.
* **End**: terminated when every agent is at its goal, truncated after 50 steps.
* **Observation** (2 per agent): [round(row / 2, 2), round(column / 6, 2)]; the global state is all agents'
  vectors.
* **Upstream notes**: ma-gym's `Switch` class turns the clock on by default, but its registered `-v0`/`-v1` ids
  turn it off; the defaults here follow `-v0`. **Dropped**: stepping after the end (ma-gym keeps going) raises.
* **Variants**: `-v1`/`-v2`/`-v3` as for Checkers, and 3 agents, through `Switch.make { Switch.config2 with … }`.
*)
let sc = Switch.config2

printfn
    "Switch2 defaults: %d agents, step cost %g, goal reward %g, max steps %d, full observability %b, clock %b\n"
    sc.Agents
    sc.StepCost
    Switch.GoalReward
    sc.MaxSteps
    sc.FullObservable
    sc.Clock

printfn "%s" (Switch.render (Switch.switch4.Reset noKey))
(*** include-output ***)

(**
In the frame, `#` is wall, a digit an agent, a lower-case letter an empty goal (`a` is agent 0's), and `*` marks
an agent at its goal. A scripted Switch2 episode: agent 0 crosses first while agent 1 waits, then agent 1 crosses.
*)
let switch2 = Switch.switch2
// agent 0: down, right × 5, up; agent 1: wait × 6, down, left × 5, up
let plan0 = [ 0; 3; 3; 3; 3; 3; 2 ] @ List.replicate 6 4
let plan1 = List.replicate 6 4 @ [ 0; 1; 1; 1; 1; 1; 2 ]

let switchStates, switchTransitions =
    List.zip plan0 plan1
    |> List.fold
        (fun (states, trs) (u0, u1) ->
            let next, tr = switch2.Step (List.head states) [| u0; u1 |] noKey
            next :: states, tr :: trs)
        ([ switch2.Reset noKey ], [])
    |> fun (states, trs) -> List.rev states, List.rev trs

for t in [ 4; 7; 13 ] do
    printfn "%s" (Switch.render switchStates[t])

let lastSwitch = List.last switchTransitions

printfn
    "return %g, terminated %b"
    (switchTransitions |> List.sumBy (fun tr -> tr.Reward))
    lastSwitch.Terminated
(*** include-output ***)

(**
## PredatorPrey 5 × 5 and 7 × 7

`PredatorPrey` (ma-gym `predator_prey.py`). The agents are predators that must surround prey together:
2 predators and 1 prey on a 5 × 5 grid, or 4 predators and 2 prey on 7 × 7.

* **Reset** (random): each predator on a random vacant cell, then each prey on a random vacant cell with no
  predator orthogonally next to it.
* **Moves**: predators move in index order, only into empty cells (prey and other predators block). Then each
  free prey, in index order: with one predator orthogonally next to it, every agent gets the penalty (−0.5); with
  two or more, every agent gets the capture reward (+5) and the prey leaves the grid. A free prey then moves:
  it draws up to five moves from (down, left, up, right, stay) with probabilities (0.175, 0.175, 0.175, 0.175,
  0.3) and takes the first whose destination has no predator next to it (else it stays), moving only into an
  empty cell on the grid.
* **Rewards**: every agent gets the step cost (−0.01) plus the penalties and captures above, so all agents get
  the same reward and the team reward is N times it.
* **End**: terminated when every prey is captured, truncated after 100 steps.
* **Observation** (28 per agent): [row / (H − 1), column / (W − 1)], the 5 × 5 window around the agent with 1
  where a free prey is, then steps / limit. The global state is all agents' vectors.
* **Upstream quirks kept**: reset never uses the last row or column (ma-gym's exclusive bound); a prey's
  candidate move is judged by the predators next to its destination even when that destination is off the grid
  or occupied (the move then fails and the prey stays), and a "stay" candidate by the predators next to the prey
  itself. **Dropped**: stepping after the end raises.
* **Variants**: `PredatorPrey.withStationaryPrey` (ma-gym `-v2`), full observability (`-v1`), both (`-v3`).

The 5 × 5 defaults, and a random start of each size (`P` is a free prey, a digit a predator):
*)
let pc = PredatorPrey.config5x5

printfn
    "5x5 defaults: %dx%d grid, %d predators, %d prey, prey moves %s, penalty %g, step cost %g, capture reward %g, max steps %d, full observability %b\n"
    pc.GridRows
    pc.GridCols
    pc.Predators
    pc.Prey
    (pc.PreyMoveProbs |> List.map string |> String.concat "/")
    pc.Penalty
    pc.StepCost
    pc.CaptureReward
    pc.MaxSteps
    pc.FullObservable

for env in [ PredatorPrey.predatorPrey5x5; PredatorPrey.predatorPrey7x7 ] do
    printfn "%s\n%s" (describe env.Spec) (PredatorPrey.render (env.Reset(Rng.key 4UL)))

for config in
    [
        PredatorPrey.withStationaryPrey PredatorPrey.config7x7
        { PredatorPrey.config7x7 with
            FullObservable = true
        }
    ] do
    printfn "%s" (describe (PredatorPrey.make config).Spec)
(*** include-output ***)

(**
## Level-Based Foraging

`Lbf` (lb-foraging v3, `foraging/environment.py`). Players with levels (1 or 2) collect food items with levels on
a square field; a food is loaded when the players loading it from orthogonally adjacent cells have levels
summing at least to the food's level.

* **Reset** (random): each player on a random empty cell with a random level; then the foods, at a row and
  column in [1, S − 2], none within the 3 × 3 neighbourhood of another nor two cells away along a row or column.
  A food's level is random up to the sum of the three lowest player levels; in the `-coop` tasks every food gets
  that highest level, so the players must load together.
* **Actions** (6): 0 = none, 1 = north, 2 = south, 3 = west, 4 = east, 5 = load. All are reported available (as in
  EPyMARL); an invalid one (a move off the field or onto food, a load with no food next to the player) acts as
  none. `MaskInvalidActions = true` reports them unavailable instead.
* **Moves** are simultaneous: a cell claimed by two or more players is entered by none of them.
* **Rewards**: a loaded food pays each member of the loading group `level · food level / (group level sum ·
  total food level of the episode)`, so clearing the field pays the team exactly 1. A failed load pays 0 (the
  `Penalty` option, 0 in every registered task). The team reward is the sum over players.
* **End**: terminated when no food is left, truncated after 50 steps.
* **Observation** (3F + 3P per player): (row, column, level) of each food in view, then of the player itself and
  of each other visible player, unused slots (−1, −1, 0). The `-2s` tasks see 2 cells in each direction, with
  coordinates relative to the view's corner; the others see the whole field. The global state is all
  players' observations.
* **Upstream quirks kept**: head-on swaps are not blocked; a player may enter the cell of a player whose own move
  was blocked, so two players can share a cell; near the top or left border, other players up to 2 · sight away
  count as visible; the adjacent-food search tests `row > 1` and `col > 1` for north and west (harmless: food
  never lies on the border). **Changed**: loading players are taken in index order (lb-foraging pops them from a
  Python set, which matters only for a player next to two foods); players are placed avoiding only the players
  placed before them; stepping after the end raises.

The six registered tasks, configured by name with `Lbf.config` (or made with `Lbf.env`):
*)
let lbfTasks =
    Registry.all
    |> List.map (fun e -> e.Name)
    |> List.filter (fun n -> n.StartsWith "lbf:")

printfn
    "%-22s %5s %7s %5s %5s %5s %6s %7s"
    "task"
    "field"
    "players"
    "foods"
    "sight"
    "coop"
    "levels"
    "limit"

for task in lbfTasks do
    let c = Lbf.config task

    printfn
        "%-22s %5d %7d %5d %5d %5b %3d-%-2d %7d"
        task
        c.FieldSize
        c.Players
        c.MaxFood
        c.Sight
        c.ForceCoop
        c.MinPlayerLevel
        c.MaxPlayerLevel
        c.MaxEpisodeSteps
(*** include-output ***)

(**
Every task `Lbf.tasks` names is registered (an empty list here means none is missing):
*)
Lbf.tasks |> List.filter (fun t -> not (List.contains ("lbf:" + t) lbfTasks))
(*** include-it ***)

(**
In the frame, `..` is an empty cell, `*k` a food of level k, and a letter with a digit a player (`A` is agent 0)
and its level. A simple team heuristic shows the rules at work: every player heads for the same food (the one
nearest to the team), player i for the cell next to it on side i (north, south, west, east, then round again),
and loads once there; the load succeeds when enough levels have arrived.
*)
let heuristic (s: LbfState) : int[] =
    let n, players = s.FieldSize, s.Rows.Length
    let at i = s.Rows[i], s.Cols[i]
    let distance (r1, c1) (r2, c2) = abs (r1 - r2) + abs (c1 - c2)

    let foods =
        [
            for i in 0 .. n * n - 1 do
                if s.Food[i] > 0 then
                    i / n, i % n
        ]

    match foods with
    | [] -> Array.zeroCreate players
    | _ ->
        let fr, fc =
            foods
            |> List.minBy (fun f ->
                List.sumBy (fun i -> distance (at i) f) [ 0 .. players - 1 ])

        let sides = [| fr - 1, fc; fr + 1, fc; fr, fc - 1; fr, fc + 1 |]
        // (action, (row change, column change)): north, south, west, east
        let moves = [| 1, (-1, 0); 2, (1, 0); 3, (0, -1); 4, (0, 1) |]

        Array.init players (fun i ->
            let goal = sides[i % 4]
            let r, c = at i

            let free (r', c') =
                r' >= 0
                && r' < n
                && c' >= 0
                && c' < n
                && s.Food[r' * n + c'] = 0
                && not (
                    List.exists (fun j -> j <> i && at j = (r', c')) [ 0 .. players - 1 ]
                )

            if (r, c) = goal then
                5
            else
                moves
                |> Array.tryFind (fun (_, (dr, dc)) ->
                    free (r + dr, c + dc)
                    && distance (r + dr, c + dc) goal < distance (r, c) goal)
                |> Option.map fst
                |> Option.defaultValue 0)

let playHeuristic (env: Env<LbfState>) (key: Key) =
    let rec go s t acc =
        let next, tr = env.Step s (heuristic s) (Rng.foldIn t key)
        let acc = (next, tr) :: acc

        if tr.Terminated || tr.Truncated then
            List.rev acc
        else
            go next (t + 1) acc

    let first = env.Reset key
    first, go first 0 []

let coop = Lbf.env "8x8-2p-2f-coop"
let coopStart, coopSteps = playHeuristic coop (Rng.key 6UL)
printfn "%s" (describe coop.Spec)
printfn "%s" (Lbf.render coopStart)

match coopSteps |> List.tryFindIndex (fun (_, tr) -> tr.Reward > 0.0f) with
| Some t ->
    let s, tr = coopSteps[t]

    printfn
        "step %d loads food; per-agent rewards %s\n%s"
        (t + 1)
        (rewardsOf tr)
        (Lbf.render s)
| None -> printfn "no food loaded"

let coopEnd, coopLast = List.last coopSteps

printfn
    "return %g after %d steps, terminated %b"
    (coopSteps |> List.sumBy (fun (_, tr) -> tr.Reward))
    coopEnd.Steps
    coopLast.Terminated
(*** include-output ***)

(** The heuristic's mean return over 100 episodes of each task (1 would clear every field). It reads the state,
not the observations, so the sight makes no difference to it: *)
for task in lbfTasks do
    let lbfEnv = Lbf.env task

    let returns =
        [
            for i in 0..99 ->
                playHeuristic lbfEnv (Rng.key (uint64 (1000 + i)))
                |> snd
                |> List.sumBy (fun (_, tr) -> tr.Reward)
        ]

    printfn "%-22s %.2f" lbfEnv.Spec.Name (List.average returns)
(*** include-output ***)
