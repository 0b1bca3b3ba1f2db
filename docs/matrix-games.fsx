(**
---
title: Matrix games
category: Environments
categoryindex: 2
index: 2
---

# Matrix games

`Qmix.Functional.Envs.MatrixGames` holds the small cooperative games on which value factorisation is usually
first tested: the QMIX paper's two-step game, the non-monotonic 3 × 3 game of QTRAN and Weighted QMIX, and Claus
& Boutilier's (1998) climbing and penalty games, played once or repeated for 25 rounds. See
[Environments](environments.html) for the `Env<'S>` contract they share.

Common to all of them: two agents receive one team reward; payoff tables are written with agent 0's action down
the rows and agent 1's across the columns; every action is always available; there is no randomness (the keys
are ignored) and no win flag; stepping a finished episode raises an `ArgumentException`. The specs and tables
below are printed by the code.
*)
#r "../src/Qmix.Cli/bin/Release/net10.0/System.Numerics.Tensors.dll"
#r "../src/Qmix.Cli/bin/Release/net10.0/Qmix.Tensors.dll"
#r "../src/Qmix.Cli/bin/Release/net10.0/Qmix.Functional.dll"

open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

let describe (spec: EnvSpec) =
    sprintf
        "%s: N = %d agents, A = %d actions, obs_dim %d, state_dim %d, episode_limit %d"
        spec.Name
        spec.NAgents
        spec.NActions
        spec.ObsDim
        spec.StateDim
        spec.EpisodeLimit

let noKey = Rng.key 0UL

let vector (v: float32[]) =
    v |> Array.map (sprintf "%g") |> String.concat " " |> sprintf "[%s]"

(**
## Registered names

The matrix games in `Registry.all`, with their specs as `Registry.make` builds them and the registry's
descriptions:
*)
let isMatrixGame (name: string) =
    name = "two-step" || name.StartsWith "matrix:"

for entry in Registry.all |> List.filter (fun e -> isMatrixGame e.Name) do
    printfn
        "%s\n    %s\n    %s"
        entry.Name
        (describe (Registry.make entry.Name).Spec)
        entry.Description
(*** include-output ***)

(**
The spec of `matrix:non-monotonic` keeps the name `non-monotonic`, which saved checkpoints carry.

## The two-step game

The QMIX paper's game (Rashid et al. 2018, §5), `MatrixGames.twoStep`: 2 agents with actions A = 0 and B = 1,
two steps. The first step pays 0, and agent 0's action alone picks the next state: A leads to state 2A, where
every joint action pays 7; B leads to state 2B, which pays the matrix [[0, 1], [1, 8]]. The episode terminates
after the second step. The global state is the one-hot of the current state over (1, 2A, 2B, end), and each agent
observes that same one-hot (as in yamoling/multi-agent-rlenv's `two_steps.py`; the agent network adds the agent's
id). The registry's text frames of the three states:
*)
let twoStep = MatrixGames.twoStep
let start = twoStep.Reset noKey
let state2A, _ = twoStep.Step start [| 0; 1 |] noKey
let state2B, _ = twoStep.Step start [| 1; 0 |] noKey

for s in [ start; state2A; state2B ] do
    printfn "%s\n" (MatrixGames.renderTwoStep s)

printfn "%s" (describe twoStep.Spec)

printfn
    "global states: 1 %s, 2A %s, 2B %s"
    (vector (twoStep.GlobalState start))
    (vector (twoStep.GlobalState state2A))
    (vector (twoStep.GlobalState state2B))
(*** include-output ***)

(**
The return of every sequence of joint actions, found by playing it (agent 1's first action changes nothing):
*)
let returnOf (first: int[]) (second: int[]) =
    let s1, t1 = twoStep.Step start first noKey
    let _, t2 = twoStep.Step s1 second noKey
    t1.Reward + t2.Reward

let joint =
    [
        for a0 in 0..1 do
            for a1 in 0..1 -> [| a0; a1 |]
    ]

let label (u: int[]) =
    sprintf "(%c,%c)" "AB".[u[0]] "AB".[u[1]]

printfn "first \\ second  %s" (joint |> List.map label |> String.concat "  ")

for first in joint do
    printfn
        "%-15s  %s"
        (label first)
        (joint
         |> List.map (fun second -> sprintf "%5g" (returnOf first second))
         |> String.concat "  ")
(*** include-output ***)

(**
The optimum, 8, needs agent 0 to pick B and then both agents to pick B; A guarantees 7. A value factorisation
must represent Q_tot in 2B well enough to see that B is worth more than A in state 1.

**What the tests reproduce** (`tests/Qmix.Functional.Tests/PaperTests.fs`, seeds 1–3, 10 000 steps of uniform
exploration each, a 16-unit RNN agent and QMIX's one-layer hypernetworks with embedding 8): QMIX's greedy policy
earns 8 and its learned Q_tot in 2B matches the payoff [[0, 1], [1, 8]] within 0.1 for every joint action; VDN's
greedy policy earns 7, as in the paper. The paper's ablations earn their table's returns too: IQL 7, VDN-S 7,
QMIX-Lin 7, QMIX-NS 8. One such run of QMIX and of VDN, seed 1, with the tests' settings:
*)
let smallQmix =
    { QmixConfig.defaults with
        Embed = 8
        HypernetLayers = 1
    }

/// The tests' settings: uniform exploration throughout, one environment, batches of 32 from the last 500
/// episodes, hard target updates every 100 episodes, no test episodes during training.
let paperConfig (mixer: MixerConfig) (steps: int) =
    { TrainingPresets.paperMatrixGames with
        Mixer = mixer
        TotalSteps = steps
        TestInterval = 100_000
        TestEpisodes = 0
        Seed = 1UL
    }

/// Trains, then returns the return of one greedy episode (the games are deterministic).
let greedyReturn (env: Env<'S>) (cfg: TrainingConfig) =
    let trainer = Training.create cfg env
    let trained = Training.init trainer |> Training.run trainer ignore

    (Runner.evaluate env cfg.Learner.Agent trained.Learner.Params.Agent 1 1 (Rng.key 99UL))
        .MeanReturn

for name, mixer in [ "QMIX", Qmix smallQmix; "VDN", Vdn ] do
    printfn
        "two-step, %-4s greedy return %g"
        name
        (greedyReturn twoStep (paperConfig mixer 10_000))
(*** include-output ***)

(**
The command line trains on it too: `./build.sh run train --game two-step --algo vdn`.

## One-step games

`MatrixGames.oneShot payoff name` makes a single-step game from any square payoff matrix: 2 agents, one action
each, `payoff[u0, u1]` paid to the team, then the episode terminates. Observations and global state are the
constant 1. Three are built in.

### The non-monotonic game

`MatrixGames.nonMonotonic` (QTRAN; Weighted QMIX, Rashid et al. 2020). The optimum (0, 0) = 8 needs both agents
to commit to action 0; one agent alone pays −12.
*)
let ready (env: Env<OneShotState>) = env.Reset noKey

/// The best joint actions and their payoff, found by playing each joint action.
let best (env: Env<OneShotState>) =
    let a = env.Spec.NActions

    let payoffs =
        [
            for u0 in 0 .. a - 1 do
                for u1 in 0 .. a - 1 ->
                    (u0, u1), (snd (env.Step (ready env) [| u0; u1 |] noKey)).Reward
        ]

    let top = payoffs |> List.map snd |> List.max

    sprintf
        "best: %g at %s"
        top
        (payoffs
         |> List.filter (fun (_, r) -> r = top)
         |> List.map (fst >> string)
         |> String.concat " and ")

let showOneShot (env: Env<OneShotState>) (payoff: float32[,]) =
    printfn "%s" (describe env.Spec)
    printfn "%s" (MatrixGames.renderOneShot payoff (ready env))
    printfn "%s" (best env)

showOneShot MatrixGames.nonMonotonic (MatrixGames.nonMonotonicPayoff ())
(*** include-output ***)

(**
A monotonic factorisation cannot represent this payoff: QMIX's Q_tot is monotonic in each agent's Q, so
whichever way it orders an agent's Qs, some joint action is off by at least 6. Trained on uniform data, VDN and
QMIX usually settle in the "safe" region worth 0. Weighted QMIX learns an unrestricted estimate Q̂* and weights
QMIX's projection towards the joint actions that matter (centrally weighted, CW, or optimistically weighted, OW).

**What the tests reproduce** (`PaperTests.fs`, 3000 steps of uniform exploration, α = 0.1 as in the paper, a
32-wide Q̂* mixer): VDN misses the optimum on seeds 1–3; QMIX cannot fit the payoff (some joint value is off by at
least 5.9) and misses the optimum on at least 3 of seeds 1–5 (it finds one of two fits, the paper's
[[−8, −8, −8], [−8, 0, 0], [−8, 0, 0]], greedy in the safe region, or [[8, −6, −6], [−6, −6, −6], [−6, −6, −6]],
greedy at (0, 0)); CW-QMIX and OW-QMIX learn Q̂* within 0.5 of the payoff and their greedy joint action is
(0, 0) on seeds 1–3. One run of each, seed 1:
*)
let weighted (weighting: Weighting) (cfg: TrainingConfig) =
    { cfg with
        Learner =
            { cfg.Learner with
                Weighted =
                    Some
                        { WeightedConfig.defaults with
                            Weighting = weighting
                            Alpha = 0.1f
                            CentralEmbed = 32
                        }
            }
    }

let nonMonotonicRuns =
    [
        "VDN", paperConfig Vdn 3000
        "QMIX", paperConfig (Qmix smallQmix) 3000
        "CW-QMIX", paperConfig (Qmix smallQmix) 3000 |> weighted Centralised
        "OW-QMIX", paperConfig (Qmix smallQmix) 3000 |> weighted Optimistic
    ]

for name, cfg in nonMonotonicRuns do
    printfn
        "non-monotonic, %-7s greedy return %g"
        name
        (greedyReturn MatrixGames.nonMonotonic cfg)
(*** include-output ***)

(**
A greedy return of 8 means the greedy joint action is (0, 0), the only one paying 8. On the command line:
`./build.sh run train --game non-monotonic --algo cw-qmix --steps 3000`.

### The climbing game

`MatrixGames.climbing` plays Claus & Boutilier's climbing game in their labelling (`MatrixGames.climbingPayoff`).
The optimum (0, 0) = 11 is guarded by −30 miscoordination penalties, so independent learners drift to the
(1, 1) = 7 or (2, 2) = 5 equilibria. EPyMARL's `matrixgames` package plays the transposed matrix, i.e. the same
game with the agents swapped.
*)
showOneShot MatrixGames.climbing (MatrixGames.climbingPayoff ())
(*** include-output ***)

(**
### The penalty game

`MatrixGames.penalty` is Claus & Boutilier's penalty game [[10, 0, k], [0, 2, 0], [k, 0, 10]] with k = −100
(`MatrixGames.DefaultPenalty`, the hardest of EPyMARL's settings). Two optima, (0, 0) and (2, 2), pay 10;
miscoordinating between them pays k; the safe (1, 1) pays 2. EPyMARL writes the same game with agent 1's actions
0 and 2 swapped. Another k is one line: `MatrixGames.oneShot (MatrixGames.penaltyPayoff -25.0f) "penalty-25"`.
*)
showOneShot MatrixGames.penalty (MatrixGames.penaltyPayoff MatrixGames.DefaultPenalty)
(*** include-output ***)

(** After its one joint action, the episode is over, and stepping it again raises: *)
let played, outcome =
    MatrixGames.penalty.Step (ready MatrixGames.penalty) [| 0; 2 |] noKey

printfn
    "%s"
    (MatrixGames.renderOneShot
        (MatrixGames.penaltyPayoff MatrixGames.DefaultPenalty)
        played)

printfn
    "reward %g, terminated %b, truncated %b"
    outcome.Reward
    outcome.Terminated
    outcome.Truncated

try
    MatrixGames.penalty.Step played [| 0; 0 |] noKey |> ignore
with :? System.ArgumentException as e ->
    printfn "%s" e.Message
(*** include-output ***)

(**
## Repeated games

`MatrixGames.repeated rounds observation payoff name` plays a one-step game round after round, as EPyMARL's
`matrixgames` environments under a time limit. Every round pays `payoff[u0, u1]`; the episode limit is the
number of rounds, the last round reports `Truncated = true`, and `Terminated` is always false (a time limit, not
a true end, so the learner bootstraps through it). The observation is either `Constant` (every agent sees 1, as
EPyMARL's `-nostate` variants) or `LastJointAction` (the one-hots of both agents' previous actions, as the
`-laststate` variants). The two registered games are the climbing and penalty games for 25 rounds
(`MatrixGames.DefaultRounds`) with constant observations: `matrix:climbing-repeated` (best return 25 × 11 = 275)
and `matrix:penalty-repeated` (best return 25 × 10 = 250).

The registry's frame marks the previous joint action. Three rounds of the penalty game, then the whole episode
at the optimum:
*)
let penaltyRepeated = MatrixGames.penaltyRepeated
let penaltyPayoff = MatrixGames.penaltyPayoff MatrixGames.DefaultPenalty

let afterRounds =
    [ [| 1; 1 |]; [| 0; 2 |]; [| 2; 2 |] ]
    |> List.scan
        (fun (s, _) u -> penaltyRepeated.Step s u noKey)
        (penaltyRepeated.Reset noKey, Env.transition 0.0f false false)

for s, _ in afterRounds do
    printfn "%s\n" (MatrixGames.renderRepeated penaltyPayoff s)
(*** include-output ***)

let playConstant (env: Env<RepeatedState>) (u: int[]) =
    let rec go s total =
        let next, tr = env.Step s u noKey

        if tr.Terminated || tr.Truncated then
            next, tr, total + tr.Reward
        else
            go next (total + tr.Reward)

    go (env.Reset noKey) 0.0f

for env in [ MatrixGames.climbingRepeated; MatrixGames.penaltyRepeated ] do
    let final, lastStep, total = playConstant env [| 0; 0 |]

    printfn
        "%s, (0, 0) every round: %d rounds, return %g, last round terminated %b, truncated %b"
        env.Spec.Name
        final.Round
        total
        lastStep.Terminated
        lastStep.Truncated
(*** include-output ***)

(** With `LastJointAction`, each agent observes both previous actions (width 2 · A), and the global state is the
same vector; before the first round both count as action 0, as in EPyMARL: *)
let climbingLast =
    MatrixGames.repeated
        10
        LastJointAction
        (MatrixGames.climbingPayoff ())
        "climbing-last-action"

let s0 = climbingLast.Reset noKey
let s1, _ = climbingLast.Step s0 [| 1; 2 |] noKey
printfn "%s" (describe climbingLast.Spec)
printfn "state before round 1: %s" (vector (climbingLast.GlobalState s0))
printfn "state after (1, 2):   %s" (vector (climbingLast.GlobalState s1))
(*** include-output ***)
