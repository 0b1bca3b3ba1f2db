(**
---
title: Combat
category: Environments
categoryindex: 2
index: 4
---

# Combat: a SMAX-style simulator with the QMIX paper's maps

`Qmix.Functional.Envs.Combat` is a pure re-implementation of JaxMARL's SMAX (itself after SMAC), with the
colossus added for `1c3s5z`. States are immutable, steps are pure functions of (state, joint action, key),
and all randomness comes from the key. See [Environments](environments.html) for the contract it shares with the other
environments.

## Rules in brief

* A continuous 32 × 32 arena; one environment step is 8 world ticks of 1/16 time unit.
* Unit types (SMAX's numbers; the colossus from StarCraft II, as on SMAC's maps, converted with SMAX's
  conventions — health 200 + 150 shields, one hit of 10 per attack, range 7, no splash):

| type | speed | damage | range | sight | radius | health | cooldown |
|---|---|---|---|---|---|---|---|
| marine | 3.15 | 9 | 5 | 9 | 0.375 | 45 | 0.61 |
| marauder | 2.25 | 10 | 6 | 10 | 0.5625 | 125 | 1.07 |
| stalker | 4.13 | 13 | 6 | 10 | 0.625 | 160 | 1.87 |
| zealot | 3.15 | 8 | 2 | 9 | 0.5 | 150 | 0.86 |
| zergling | 4.13 | 5 | 2 | 8 | 0.375 | 35 | 0.5 |
| hydralisk | 3.15 | 12 | 5 | 9 | 0.625 | 80 | 0.59 |
| colossus | 3.15 | 10 | 7 | 10 | 1.0 | 350 | 1.07 |

* Actions per agent (SMAX's layout): 0 north, 1 east, 2 south, 3 west, 4 stop, 5 + k attack enemy k.
  Stop is always available and is a dead unit's only action; an attack is available when the enemy is
  alive and strictly within attack range. Attacks resolve simultaneously, so draws happen.
* Three rules differ between SMAC and SMAX; `CombatRules` picks each, and the default is SMAC's on all three
  (see *SMAC's rules or SMAX's* below):
  * Reward — SMAC's (the default): the enemies' health lost in health points, plus 10 per kill, plus 200 for a win
    (all enemies dead, an ally alive), scaled so that an episode pays at most 20. SMAX's: the health lost as
    fractions, averaged over the enemies, plus 1 for a win; at most 2.
  * Global state — normalised as SMAC's (the default): per unit the health fraction, cooldown fraction, position
    relative to the centre over 16 and the type one-hot, then every agent's previous action one-hot; every value
    in [−1, 1]. SMAX's raw `world_state`: raw positions (0–32), raw cooldowns, team and type indices.
  * Walls — blocking (the default, as on SMAC's maps): the boundary stops a unit. Lethal (SMAX's): a unit that
    reaches the boundary dies.
* `Terminated` when an army is wiped out; the step that reaches the episode limit is `Truncated`. Every step's
  `Info.Casualties` counts the dead on each side.
* Observation: SMAX's `unit_list` — 13 features per other unit and 10 own (14 and 11 on maps with a
  colossus, whose type one-hot is 7 wide), every value in [−1, 1].
* Enemies: SMAX's scripted heuristic (attack the closest ally in range and stick to it; otherwise walk to a
  random visible ally or across the map).

## Scenarios
*)
#r "../src/Qmix.Cli/bin/Release/net10.0/System.Numerics.Tensors.dll"
#r "../src/Qmix.Cli/bin/Release/net10.0/Qmix.Tensors.dll"
#r "../src/Qmix.Cli/bin/Release/net10.0/Qmix.Functional.dll"

open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

for KeyValue(name, scenario) in Combat.scenarios do
    let spec = Combat.spec scenario

    printfn
        "%-13s agents %2d  actions %2d  obs %3d  state %3d  limit %3d"
        name
        spec.NAgents
        spec.NActions
        spec.ObsDim
        spec.StateDim
        spec.EpisodeLimit
(*** include-output ***)

(**
The QMIX paper's six maps keep the paper's episode limits (3m and 5m 60, 8m and 2s3z 120, 3s5z 150,
1c3s5z 180); the others use SMAX's 100. A limit is changed by copying the scenario:
`Combat.make { Combat.scenario "3m" with EpisodeLimit = 100 }`.

## Playing an episode

The environment is an `Env<CombatState>` like any other; `CombatScripts.heuristic` is a baseline policy (each ally
attacks the nearest enemy in range until it dies, else walks toward the nearest enemy).
*)
let env = Combat.make (Combat.scenario "3m")
let key = Rng.key 1UL

/// Every state of one episode, the first included, with the heuristic playing the allies.
let episode =
    let rec play (state: CombatState) (acc: CombatState list) =
        let next, transition =
            env.Step
                state
                (CombatScripts.heuristic state)
                (Rng.foldIn state.StepCount key)

        if transition.Terminated || transition.Truncated then
            List.rev (next :: acc)
        else
            play next (next :: acc)

    let first = env.Reset key
    play first [ first ] |> Array.ofList

printfn "%s" (CombatRender.text (Array.last episode))
(*** include-output ***)

(*** hide ***)
/// An SVG document shown inline on the site; printed as text in plain `dotnet fsi`.
type Svg = Svg of string

/// A sheet of frames, shown across the whole text column (docs/content/qmix.css), so that its half-scale
/// frames are drawn at a readable size.
type Sheet = Sheet of string

#if HAS_FSI_ADDHTMLPRINTER
fsi.AddHtmlPrinter(fun (Svg svg) ->
    Seq.empty,
    "<div class=\"chart\">" + svg.Substring(max 0 (svg.IndexOf "<svg")) + "</div>")

fsi.AddHtmlPrinter(fun (Sheet svg) ->
    Seq.empty,
    "<div class=\"chart frames\">"
    + svg.Substring(max 0 (svg.IndexOf "<svg"))
    + "</div>")
#endif

(**
`CombatRender.svg` draws a frame as SVG: units as circles of their radius (allies blue, enemies red) with health
bars, a line from each unit to the one it attacked in the previous step, dead units as grey outlines (hover over
a unit for its type and health). The state after three steps:
*)
CombatRender.svg episode[3] |> Svg
(*** include-it ***)

(**
`CombatRender.svgEpisode columns states` draws a sheet of frames at half scale, `columns` to a row; every third
step of the episode, two to a row:
*)
episode
|> Array.mapi (fun i s -> i, s)
|> Array.filter (fun (i, _) -> i % 3 = 0 || i = episode.Length - 1)
|> Array.map snd
|> CombatRender.svgEpisode 2
|> Sheet
(*** include-it ***)

(**
## The heuristic's win rate

Measured with `Combat.heuristicWinRate scenario 1000 (Rng.key 2024UL)` (1000 episodes per map, against the
scripted enemy; [Reproducing the paper](reproducing-the-paper.html) measures them again, over 500 episodes, each
time the site is built):

| map | 3m | 5m | 8m | 2s3z | 3s5z | 1c3s5z |
|---|---|---|---|---|---|---|
| this heuristic vs SMAX's enemy | 50.2 % | 48.6 % | 51.9 % | 49.0 % | 51.7 % | 49.9 % |
| the paper's heuristic vs StarCraft II's AI | 76 % | 60 % | 95 % | 82 % | 45 % | 70 % |

On these mirror maps the heuristic meets a scripted enemy of much the same kind, so it wins about half the
time. On the asymmetric maps it nearly always loses (5m_vs_6m 0.1 %, 3s_vs_5z 0 %, 3s5z_vs_3s6z 0 %,
6h_vs_8z 0 %, 10m_vs_11m 3.4 %, 27m_vs_30m 1.3 %); uniformly random play wins none of them.
A short run:
*)
Combat.heuristicWinRate (Combat.scenario "3m") 100 (Rng.key 2024UL)
(*** include-it ***)

(**
## Throughput

`./build.sh bench combat` steps one environment per thread with random legal actions. On this 2-core machine
(shared with other jobs, so the numbers vary between runs; these are from a quiet moment): combat:3m about
0.94 million steps/s on one thread and 1.79 million on both cores; combat:3s5z about 0.26 million on one
thread and 0.50 million on both. A step allocates about 355 bytes on 3m (the new state, its arrays, the
transition) and nothing inside the tick loop.

## Differences from SMAX

The episode takes at most `EpisodeLimit` steps (SMAX's time-out comes one step later); the random
streams differ (same distributions); movement directions are exact unit vectors; the scripted enemy reads
positions from the state rather than from its observation; stepping a finished episode raises instead of
resetting; the colossus and the maps 5m and 1c3s5z are additions. See the API docs of `Combat` for details.
*)

(**
## SMAC's rules or SMAX's

An environment's name says which rules it plays: `combat:3m` plays SMAC's; a rule that differs is appended,
`combat:3m,reward=smax`, `combat:3m,state=raw`, `combat:3m,walls=lethal`, or `combat:3m,smax` for all three of
SMAX's. One more rule belongs to neither: `cooldown=fixed` resets a weapon's cooldown to exactly its type's after an
attack, without SMAX's random jitter of [−1/16, 2/16) time units (kept under both rule sets), so that the only chance
left in a battle is the scripted enemy's choice of a unit to approach — a way to measure how much of a policy's
losses is luck. The same names work in `qmix train --env`, `Environments.Create` and `Registry.make`; from F#,
`Combat.makeWith CombatRules.smax scenario`.
*)
for name in [ "combat:3m"; "combat:3m,reward=smax"; "combat:3m,smax" ] do
    let spec = (Registry.make name).Spec
    printfn "%-45s state %3d" spec.Name spec.StateDim
(*** include-output ***)

(**
Why SMAC's by default: fed SMAX's raw state, QMIX's hypernetworks turn positions of up to 32 into mixing weights
as large, Q_tot grows far past any return the map pays, and the learner diverges; SMAX's reward pays no kill
bonus, and on the heterogeneous maps QMIX then learns nothing. The ablation on the
[Reproducing the paper](reproducing-the-paper.html) page measures each rule.

## A coordinated baseline: focus fire

`CombatScripts.heuristic` attacks the nearest enemy, which is also what SMAX's scripted enemy does, so it meets its
mirror image and wins about half its battles. `CombatScripts.focusFire` coordinates: the team picks the weakest enemy
that any ally can reach, every ally that can shoots it (one that cannot shoots the weakest enemy it can reach),
and the others close in. Over 1000 episodes on the paper's maps:
*)
for map in Combat.paperMaps do
    let scenario = Combat.scenario map
    let heuristic = Combat.heuristicWinRate scenario 1000 (Rng.key 2024UL)
    let focus = Combat.focusFireWinRate scenario 1000 (Rng.key 2024UL)

    printfn
        "%-8s heuristic %5.1f%%   focus fire %5.1f%%"
        map
        (100.0 * heuristic)
        (100.0 * focus)
(*** include-output ***)

(**
Focus fire wins most battles on the heterogeneous maps (86–90 %) but only 54–62 % of the marine mirrors, where
every unit is alike and the battle turns on who shoots first: what a coordinated script wins against this enemy,
and a line a learner must clear.
*)
