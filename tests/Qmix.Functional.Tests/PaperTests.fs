/// Paper reproductions: the QMIX paper's two-step game (Rashid et al. 2018, §5, with its table of ablations) and the
/// non-monotonic 3×3 game of Weighted QMIX (Rashid et al. 2020), each trained from scratch on uniform data (ε = 1).
/// Every number asserted here is what training learned; nothing is planted.
module Qmix.Functional.Tests.PaperTests

open Expecto
open Qmix.Tests
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

/// A small QMIX mixer: embed 8 and one-layer hypernetworks (the ICML paper's), enough for 2 agents.
let private smallQmix =
    { QmixConfig.defaults with
        Embed = 8
        HypernetLayers = 1
    }

/// The paper's matrix-game preset (uniform exploration, a 16-unit RNN agent, hard target updates every 100 episodes,
/// batches of 32 from the last 500 episodes) with a mixer, a step budget and a seed, and no test episodes.
let private config (mixer: MixerConfig) (steps: int) (seed: uint64) =
    { TrainingPresets.paperMatrixGames with
        Mixer = mixer
        TotalSteps = steps
        TestInterval = 100_000
        TestEpisodes = 0
        Seed = seed
    }

/// Weighted QMIX on top of a configuration, with the paper's α = 0.1 for the matrix game and a 32-wide Q̂* mixer.
let private weighted (weighting: Weighting) (cfg: TrainingConfig) =
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

let private train (env: Env<'S>) (cfg: TrainingConfig) =
    let trainer = Training.create cfg env
    trainer, Training.init trainer |> Training.run trainer ignore

/// The return of one greedy (ε = 0) episode; both games are deterministic, so one episode is the policy's value.
let private greedyReturn (env: Env<'S>) (trainer: Trainer<'S, MixerParams>) (state: TrainingState<MixerParams>) =
    (Runner.evaluate env trainer.Config.Learner.Agent state.Learner.Params.Agent 1 1 (Rng.key 99UL)).MeanReturn

let private seeds = [ 1UL; 2UL; 3UL ]

let private report (results: (uint64 * float32) list) =
    results
    |> List.map (fun (s, r) -> sprintf "seed %d: %g" s r)
    |> String.concat ", "

// ---------------------------------------------------------------------------------------------------------------
// The two-step game

let private twoStepSteps = 10_000

let private payoff2B = array2D [ [ 0.0f; 1.0f ]; [ 1.0f; 8.0f ] ]

/// Q_tot(2B, a0, a1) as learned, for agent 1's first action f (agent 0's is B, which leads to 2B): one recorded
/// episode per (f, a0, a1) in PyMARL's layout, the agents unrolled over it with the learner's own inputs (at t = 1 each
/// agent sees the one-hot of 2B and its own previous action), their Qs of (a0, a1) at t = 1 mixed by the learned
/// mixer with the global state of 2B. Returns [f, a0, a1].
let private qTot2B (trainer: Trainer<TwoStepState, MixerParams>) (state: TrainingState<MixerParams>) =
    let spec = MatrixGames.twoStep.Spec
    let cfg = trainer.Learner.Config
    let p = state.Learner.Params

    let cases =
        [|
            for f in 0..1 do
                for a0 in 0..1 do
                    for a1 in 0..1 -> f, a0, a1
        |]

    let b = cases.Length

    let oneHot i =
        Array.init 4 (fun j -> if i = j then 1.0f else 0.0f)
    // states over t = 0, 1, 2: 1, 2B, end
    let states = [| oneHot 0; oneHot 2; oneHot 3 |]
    let perEpisode (one: float32[]) = Array.replicate b one |> Array.concat

    let batch =
        {
            BatchSize = b
            MaxSeqLength = 3
            NAgents = 2
            NActions = 2
            ObsDim = 4
            StateDim = 4
            Obs = states |> Array.collect (fun s -> Array.append s s) |> perEpisode
            State = Array.concat states |> perEpisode
            Actions = cases |> Array.collect (fun (f, a0, a1) -> [| 1; f; a0; a1; 0; 0 |])
            AvailActions = Array.create (b * 3 * 2 * 2) 1.0f
            Reward = [| 0.0f; 0.0f; 0.0f |] |> perEpisode
            Terminated = [| 0.0f; 1.0f; 0.0f |] |> perEpisode
            Filled = [| 1.0f; 1.0f; 0.0f |] |> perEpisode
        }

    EpisodeBatch.validate batch
    // agent Qs [T' = 3, B·N, A]
    let qs =
        Agent.unroll p.Agent 2 (Agent.batchInputs cfg.Agent spec batch)
        |> Tensor.toArray
    // at t = 1, the Q of each agent's action of the case: [1, B, N]
    let chosen =
        cases
        |> Array.mapi (fun e (_, a0, a1) -> [| qs[((b + e) * 2 + 0) * 2 + a0]; qs[((b + e) * 2 + 1) * 2 + a1] |])
        |> Array.concat
        |> Tensor.ofArray [| 1; b; 2 |]

    let hyper = Mixers.batchInputs cfg.HyperInput spec batch |> Tensor.slice 0 1 1
    let qTot = trainer.Learner.Mixer.Forward p.Mixer chosen hyper |> Tensor.toArray
    Array3D.init 2 2 2 (fun f a0 a1 -> qTot[f * 4 + a0 * 2 + a1])

let ``Two-step game: QMIX's greedy policy earns 8 and its Q_tot in 2B is the payoff [[0,1],[1,8]]`` () =
    let env = MatrixGames.twoStep

    for seed in seeds do
        let trainer, state = train env (config (Qmix smallQmix) twoStepSteps seed)
        Expect.isTrue (greedyReturn env trainer state = 8.0f) (sprintf "QMIX, seed %d: greedy return is not 8" seed)
        let q = qTot2B trainer state
        // every joint action in 2B is seen under uniform exploration, after either first action of agent 1
        for f in 0..1 do
            for a0 in 0..1 do
                for a1 in 0..1 do
                    Expect.isTrue
                        (abs (q[f, a0, a1] - payoff2B[a0, a1]) < 0.1f)
                        (sprintf
                            "QMIX, seed %d: Q_tot(2B, %d, %d) after agent 1's first action %d is %g, the payoff is %g"
                            seed
                            a0
                            a1
                            f
                            q[f, a0, a1]
                            payoff2B[a0, a1])

let ``Two-step game: VDN's greedy policy settles on 7`` () =
    let env = MatrixGames.twoStep

    let results =
        [
            for seed in seeds ->
                let trainer, state = train env (config Vdn twoStepSteps seed)
                seed, greedyReturn env trainer state
        ]

    Expect.isTrue (results |> List.forall (fun (_, r) -> r = 7.0f)) ("VDN's greedy returns: " + report results)

/// The paper's table for the two-step game (Rashid et al. 2018, Table 1): IQL 7, VDN-S 7, QMIX-Lin 7, QMIX-NS 8.
let ``Two-step game: the paper's ablations earn their table's returns`` (name: string, expected: float32) =
    let env = MatrixGames.twoStep

    let mixer =
        match name with
        | "iql" -> Independent
        | "vdn-s" -> VdnS smallQmix
        | "qmix-lin" -> QmixLin smallQmix
        | "qmix-ns" -> QmixNs smallQmix
        | other -> failwithf "unknown ablation %s" other

    let results =
        [
            for seed in seeds ->
                let trainer, state = train env (config mixer twoStepSteps seed)
                seed, greedyReturn env trainer state
        ]

    Expect.isTrue
        (results |> List.forall (fun (_, r) -> r = expected))
        (sprintf "%s's greedy returns (expected %g): %s" name expected (report results))

// ---------------------------------------------------------------------------------------------------------------
// The non-monotonic 3×3 game [[8, −12, −12], [−12, 0, 0], [−12, 0, 0]]; the optimum (0, 0) is the only joint
// action paying 8, so a greedy return of 8 means the greedy joint action is (0, 0).

let private nonMonotonicSteps = 3000

let private payoff3 =
    array2D [ [ 8.0f; -12.0f; -12.0f ]; [ -12.0f; 0.0f; 0.0f ]; [ -12.0f; 0.0f; 0.0f ] ]

/// The learned joint values of all 9 joint actions, [a0, a1]: the mixer over the agents' Qs, and Q̂* (Weighted
/// QMIX's centralised estimate) when it is trained.
let private jointValues (trainer: Trainer<OneShotState, MixerParams>) (state: TrainingState<MixerParams>) =
    let env = MatrixGames.nonMonotonic

    let x =
        Agent.actingInputs trainer.Learner.Config.Agent env.Spec [| 1.0f; 1.0f |] [| -1; -1 |]

    let s = Tensor.ofArray [| 9; 1 |] (Array.create 9 1.0f)

    let agentQs (agent: AgentParams) =
        fst (Agent.step agent 2 x (Agent.initHidden agent 2)) |> Tensor.toArray

    let joint (q: float32[]) =
        [|
            for a0 in 0..2 do
                for a1 in 0..2 -> [| q[a0]; q[3 + a1] |]
        |]
        |> Array.concat
        |> Tensor.ofArray [| 9; 2 |]

    let table (v: float32[]) =
        Array2D.init 3 3 (fun a0 a1 -> v[a0 * 3 + a1])

    let p = state.Learner.Params

    let qTot =
        trainer.Learner.Mixer.Forward p.Mixer (joint (agentQs p.Agent)) s
        |> Tensor.toArray
        |> table

    let central =
        p.Central
        |> Option.map (fun c -> CentralQ.mix c.Mixer (joint (agentQs c.Agent)) s |> Tensor.toArray |> table)

    qTot, central

let private maxError (values: float32[,]) =
    Seq.max (
        seq {
            for a0 in 0..2 do
                for a1 in 0..2 -> abs (values[a0, a1] - payoff3[a0, a1])
        }
    )

let ``Non-monotonic game: VDN misses the optimum (0, 0)`` () =
    let env = MatrixGames.nonMonotonic

    let results =
        [
            for seed in seeds ->
                let trainer, state = train env (config Vdn nonMonotonicSteps seed)
                seed, greedyReturn env trainer state
        ]

    Expect.isTrue (results |> List.forall (fun (_, r) -> r < 8.0f)) ("VDN's greedy returns: " + report results)

/// QMIX's fit is monotonic in each agent's Q, so it cannot reproduce this payoff: whatever the order of q_0(0) and
/// q_0(1), either Q_tot(0,1) ≥ Q_tot(1,1) (payoffs −12 and 0) or Q_tot(0,0) ≤ Q_tot(1,0) (payoffs 8 and −12), so
/// some joint action is off by at least 6. Trained on uniform data, QMIX settles in one of two fits: the one the
/// Weighted QMIX paper reports, [[−8, −8, −8], [−8, 0, 0], [−8, 0, 0]] (squared error 320, greedy in the safe
/// region, return 0), or [[8, −6, −6], [−6, −6, −6], [−6, −6, −6]] (squared error 288, greedy at (0, 0)). Measured
/// with this configuration, seeds 1–12: the first on 9 seeds, the second on seeds 2, 7 and 10. So the assertion is
/// that QMIX misses the optimum on most seeds, not on all.
let ``Non-monotonic game: QMIX cannot fit the payoff and misses the optimum (0, 0) on most seeds`` () =
    let env = MatrixGames.nonMonotonic

    let results =
        [
            for seed in 1UL .. 5UL ->
                let trainer, state = train env (config (Qmix smallQmix) nonMonotonicSteps seed)
                let qTot, _ = jointValues trainer state
                Expect.isTrue (maxError qTot >= 5.9f) (sprintf "QMIX, seed %d: Q_tot fits the payoff: %A" seed qTot)
                seed, greedyReturn env trainer state
        ]

    let misses = results |> List.filter (fun (_, r) -> r < 8.0f) |> List.length
    Expect.isTrue (misses >= 3) (sprintf "QMIX missed the optimum on %d of 5 seeds: %s" misses (report results))

/// Weighted QMIX with α = 0.1 (the paper's setting for this game): the unrestricted Q̂* learns the payoff, and the
/// weighted projection puts QMIX's greedy joint action at the optimum.
let ``Non-monotonic game: Weighted QMIX finds the optimum (0, 0)`` (variant: string) =
    let env = MatrixGames.nonMonotonic

    let weighting =
        match variant with
        | "CW" -> Centralised
        | _ -> Optimistic

    for seed in seeds do
        let trainer, state =
            train env (config (Qmix smallQmix) nonMonotonicSteps seed |> weighted weighting)

        let _, central = jointValues trainer state
        let central = Option.get central

        Expect.isTrue
            (maxError central < 0.5f)
            (sprintf "%s-QMIX, seed %d: Q̂* is not the payoff: %A" variant seed central)

        let r = greedyReturn env trainer state
        Expect.isTrue (r = 8.0f) (sprintf "%s-QMIX, seed %d: greedy return %g, not 8" variant seed r)

[<Tests>]
let tests =
    testList
        "Paper"
        [
            testCase
                "Two-step game: QMIX's greedy policy earns 8 and its Q_tot in 2B is the payoff [[0,1],[1,8]]"
                ``Two-step game: QMIX's greedy policy earns 8 and its Q_tot in 2B is the payoff [[0,1],[1,8]]``
            testCase
                "Two-step game: VDN's greedy policy settles on 7"
                ``Two-step game: VDN's greedy policy settles on 7``
            testList
                "Two-step game: the paper's ablations earn their table's returns"
                [
                    for args in [ ("iql", 7.0f); ("vdn-s", 7.0f); ("qmix-lin", 7.0f); ("qmix-ns", 8.0f) ] ->
                        testCase $"{fst args} earns {snd args}" (fun () ->
                            ``Two-step game: the paper's ablations earn their table's returns`` args)
                ]
            testCase
                "Non-monotonic game: VDN misses the optimum (0, 0)"
                ``Non-monotonic game: VDN misses the optimum (0, 0)``
            testCase
                "Non-monotonic game: QMIX cannot fit the payoff and misses the optimum (0, 0) on most seeds"
                ``Non-monotonic game: QMIX cannot fit the payoff and misses the optimum (0, 0) on most seeds``
            testList
                "Non-monotonic game: Weighted QMIX finds the optimum (0, 0)"
                [
                    for args in [ "CW"; "OW" ] ->
                        testCase args (fun () -> ``Non-monotonic game: Weighted QMIX finds the optimum (0, 0)`` args)
                ]
        ]
