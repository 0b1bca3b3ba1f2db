module Qmix.Functional.Tests.NonFiniteActingTests

open System
open Expecto
open Qmix.Tests
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs
open Qmix.Functional.Tests.CheckpointTests

/// Parameters with one value of one tensor replaced.
let private planted (name: string) (index: int) (value: float32) (p: QParams<'M>) : QParams<'M> =
    Tree.named p
    |> Array.map (fun (n, t) ->
        if n = name then
            let data = t.ToArray()
            data[index] <- value
            n, Tensor.ofArray (t.Shape.ToArray()) data
        else
            n, t)
    |> Tree.ofNamed p

let ``a NaN Q-value while collecting names the agent, the environment and the step`` () =
    let trainer = Training.create tiny MatrixGames.twoStep
    let state = Training.init trainer
    let cfg = trainer.Learner.Config.Agent
    // negative control: the unplanted parameters run
    Runner.runEpisodes MatrixGames.twoStep cfg state.Learner.Params.Agent (fun _ -> 0.5f) 0 3 (Rng.key 1UL)
    |> ignore

    let bad = planted "agent.fc2.bias" 1 nanf state.Learner.Params

    let e =
        Expect.throwsOf<NonFiniteQValueException>(fun () ->
            Runner.runEpisodes MatrixGames.twoStep cfg bad.Agent (fun _ -> 0.5f) 0 3 (Rng.key 1UL)
            |> ignore)

    Expect.equal (e.Agent) 0 "e.Agent"
    Expect.equal (e.Step) 0 "e.Step"
    Expect.equal (e.Action) 1 "e.Action"
    Expect.stringContains e.Message "agent 0 at step 0" "the message"
    // evaluation (greedy) too
    Expect.throwsOf<NonFiniteQValueException>(fun () ->
        Runner.evaluate MatrixGames.twoStep cfg bad.Agent 2 2 (Rng.key 1UL) |> ignore)
    |> ignore

let ``a NaN parameter stops the training loop through the divergence stop, keeping the state before`` () =
    let trainer = Training.create { tiny with TotalSteps = 60 } MatrixGames.twoStep
    let state = Training.init trainer
    // negative control: the same state trains to the end
    Expect.equal
        ((Training.run trainer ignore state).Counters.Step)
        60
        "(Training.run trainer ignore state).Counters.Step"

    let bad =
        { state with
            Learner =
                { state.Learner with
                    Params = planted "agent.fc2.bias" 0 infinityf state.Learner.Params
                }
        }

    let e =
        Expect.throwsOf<TrainingDivergedException>(fun () -> Training.run trainer ignore bad |> ignore)

    Expect.stringContains e.Message "training diverged at step 0" "the message"
    Expect.stringContains e.Message "agent 0" "the message"
    Expect.stringContains e.Message "Q-value Infinity" "the message"
    let kept = e.LastGoodState :?> TrainingState<MixerParams>
    Expect.equal (kept.Counters.Step) 0 "kept.Counters.Step"

[<Tests>]
let tests =
    testList
        "NonFiniteActing"
        [
            testCase
                "a NaN Q-value while collecting names the agent, the environment and the step"
                ``a NaN Q-value while collecting names the agent, the environment and the step``
            testCase
                "a NaN parameter stops the training loop through the divergence stop, keeping the state before"
                ``a NaN parameter stops the training loop through the divergence stop, keeping the state before``
        ]
