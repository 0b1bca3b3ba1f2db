// How much of a trained combat policy's outcome is chance inside the battle, not in its starting position: each of
// RESETS starting positions is played PLAYS times greedily with the reset key fixed and the step keys varied (the
// simulator's cooldown jitter and the scripted enemy's random choices). Not part of the test suite.
//
//   ./build.sh build
//   dotnet fsi tests/Qmix.Functional.Tests/StartChance.fsx RUN_DIR [ENV] [RESETS] [PLAYS]
//
// RUN_DIR is a run directory of qmix train with the default agent and mixer (pymarl2's QMIX); ENV defaults to
// combat:3m, RESETS to 100 and PLAYS to 20. It prints the win rate over all plays and how many starting positions
// were won in every play, lost in every play, or decided by the step keys.
#r "../../src/Qmix.Functional/bin/Release/net10.0/Qmix.Tensors.dll"
#r "../../src/Qmix.Functional/bin/Release/net10.0/Qmix.Functional.dll"

open System.IO
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

let args = fsi.CommandLineArgs |> Array.skip 1

if args.Length < 1 then
    failwith "usage: dotnet fsi StartChance.fsx RUN_DIR [ENV] [RESETS] [PLAYS]"

let run = args[0]
let envName = if args.Length > 1 then args[1] else "combat:3m"
let resets = if args.Length > 2 then int args[2] else 100
let plays = if args.Length > 3 then int args[3] else 20
let env = Registry.make envName
let cfg = TrainingPresets.pymarl2
let learner = Learner.builtIn cfg.Learner env.Spec cfg.Mixer
let p = Checkpoint.loadModel (Path.Combine(run, "checkpoints", "model")) learner
let mutable always, never, wins = 0, 0, 0

for r in 0 .. resets - 1 do
    // every play of this start resets to the same state; the evaluation's keys drive the steps
    let start = Rng.key (uint64 (1000 + r))

    let fixedStart =
        { env with
            Reset = fun _ -> env.Reset start
        }

    let stats =
        Runner.evaluate fixedStart cfg.Learner.Agent p.Agent plays plays (Rng.key (uint64 (5000 + r)))

    let won = int (round (float (Option.get stats.WinRate) * float plays))
    wins <- wins + won

    if won = plays then
        always <- always + 1
    elif won = 0 then
        never <- never + 1

printfn
    "%s on %s: %d starts x %d plays, win rate %.1f %%; starts won in every play %d, lost in every play %d, decided by the step keys %d"
    run
    envName
    resets
    plays
    (100.0 * float wins / float (resets * plays))
    always
    never
    (resets - always - never)
