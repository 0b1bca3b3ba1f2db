namespace Qmix.Functional

open System
open System.Diagnostics
open Qmix.Tensors

/// <summary>A training run's settings: PyMARL's QMIX defaults (src/config/default.yaml, algs/qmix.yaml and the SMAC
/// <c>t_max</c>) in <c>TrainingConfig.defaults</c>.</summary>
type TrainingConfig =
    {
        /// <summary>The learner (agent, optimiser, targets, …).</summary>
        Learner: LearnerConfig
        /// <summary>The mixer (QMIX with PyMARL's settings).</summary>
        Mixer: MixerConfig
        /// <summary>Environment steps to train for (<c>t_max</c>, 2,050,000 on SMAC).</summary>
        TotalSteps: int
        /// <summary>Episodes per learner update (<c>batch_size</c>, 32).</summary>
        BatchSize: int
        /// <summary>Episodes the replay buffer keeps (<c>buffer_size</c>, 5000).</summary>
        BufferSize: int
        /// <summary>How the replay buffer stores observations and states (<c>Float32</c>, exactly as recorded;
        /// <c>Float16</c> halves their memory).</summary>
        ReplayPrecision: ReplayPrecision
        /// <summary>ε-greedy exploration (1.0 → 0.05 over 50,000 steps).</summary>
        Epsilon: EpsilonSchedule
        /// <summary>Environments run in lockstep per collection (<c>batch_size_run</c>, 1); one update follows each
        /// collection.</summary>
        ParallelEnvs: int
        /// <summary>Steps between greedy evaluations (<c>test_interval</c>, 2000).</summary>
        TestInterval: int
        /// <summary>Greedy episodes per evaluation (<c>test_nepisode</c>, 20).</summary>
        TestEpisodes: int
        /// <summary>Steps between checkpoints (<c>save_model_interval</c>); 0 turns periodic checkpoints off.</summary>
        SaveInterval: int
        /// <summary>Where checkpoints go (a path stem, e.g. <c>runs/3m/model</c>); None saves nothing.</summary>
        CheckpointPath: string option
        /// <summary>The seed every random choice of the run derives from.</summary>
        Seed: uint64
        /// <summary>The divergence check of the Q-values (<c>DiagnosticsConfig.defaults</c>: 2 × the largest
        /// plausible return seen, at least 10).</summary>
        Diagnostics: DiagnosticsConfig
    }

    /// <summary>PyMARL's QMIX on SMAC: 2,050,000 steps, batches of 32 from the last 5000 episodes, ε 1 → 0.05 over
    /// 50k steps, 20 greedy test episodes every 2000 steps, no checkpoints, seed 1, the default divergence
    /// check.</summary>
    static member defaults =
        {
            Learner = LearnerConfig.defaults
            Mixer = Qmix QmixConfig.defaults
            TotalSteps = 2_050_000
            BatchSize = 32
            BufferSize = 5000
            ReplayPrecision = Float32
            Epsilon = EpsilonSchedule.defaults
            ParallelEnvs = 1
            TestInterval = 2000
            TestEpisodes = 20
            SaveInterval = 0
            CheckpointPath = None
            Seed = 1UL
            Diagnostics = DiagnosticsConfig.defaults
        }

/// <summary>Named training settings.</summary>
[<RequireQualifiedAccess>]
module TrainingPresets =
    /// <summary>The QMIX paper's settings as PyMARL runs them on SMAC: <c>TrainingConfig.defaults</c>.</summary>
    let pymarl: TrainingConfig = TrainingConfig.defaults

    /// <summary>pymarl2's fine-tuned QMIX (Hu et al., "Rethinking the Implementation Tricks and Monotonicity
    /// Constraint in Cooperative Multi-Agent Reinforcement Learning"; its <c>algs/qmix.yaml</c>): 8 environments
    /// stepped together per update (<c>batch_size_run</c>), batches of 128 episodes from the last 5000, TD(λ) targets
    /// with λ = 0.6, Adam with lr 0.001 (PyTorch's β and ε), the loss halved (0.5 · TD²), ε from 1 to 0.05 over
    /// 100,000 steps, a target copy every 200 episodes, gradients clipped at 10, and 32 greedy test episodes every
    /// 10,000 steps. Everything else is PyMARL's (<c>TrainingConfig.defaults</c>).</summary>
    let pymarl2: TrainingConfig =
        { TrainingConfig.defaults with
            Learner =
                { LearnerConfig.defaults with
                    Target = TdLambda 0.6f
                    LossScale = 0.5f
                    Optimizer = Adam AdamConfig.defaults
                }
            BatchSize = 128
            ParallelEnvs = 8
            Epsilon =
                { EpsilonSchedule.defaults with
                    AnnealSteps = 100_000
                }
            TestInterval = 10_000
            TestEpisodes = 32
        }

    /// <summary>The QMIX paper's matrix-game setting (§5): uniform exploration (ε = 1 throughout), so every joint
    /// action is seen equally often and what is measured is what each value factorisation can represent; a 16-unit
    /// GRU agent; QMIX's one-layer hypernetworks with embedding 8; batches of 32 from the last 500 episodes; target
    /// networks copied every 100 episodes; 10,000 steps, with one greedy test episode every 250. Everything else is
    /// PyMARL's (<c>TrainingConfig.defaults</c>).</summary>
    let paperMatrixGames: TrainingConfig =
        { TrainingConfig.defaults with
            Learner =
                { LearnerConfig.defaults with
                    Agent =
                        { AgentConfig.defaults with
                            Hidden = 16
                        }
                    TargetUpdate = HardEvery 100
                }
            Mixer =
                Qmix
                    { QmixConfig.defaults with
                        Embed = 8
                        HypernetLayers = 1
                    }
            TotalSteps = 10_000
            BufferSize = 500
            Epsilon =
                { EpsilonSchedule.defaults with
                    Start = 1.0f
                    Finish = 1.0f
                }
            TestInterval = 250
            TestEpisodes = 1
        }

/// <summary>A training run's state between iterations.</summary>
type TrainingState<'M> =
    {
        /// <summary>The learner's parameters, optimiser and counters.</summary>
        Learner: LearnerState<'M>
        /// <summary>The replay buffer.</summary>
        Replay: Replay
        /// <summary>The loop's counters and random key.</summary>
        Counters: Counters
        /// <summary>What the divergence check has seen (the largest plausible return) and the warnings it gave. Not
        /// part of a checkpoint: <see cref="M:Qmix.Functional.Training.resume"/> rebuilds it from the replay
        /// buffer.</summary>
        Diagnostics: DiagnosticsState
    }

/// <summary>Training episodes were collected.</summary>
type CollectedEvent =
    {
        /// <summary>Environment steps after the collection.</summary>
        Step: int
        /// <summary>Episodes after the collection.</summary>
        Episode: int
        /// <summary>ε at the start of the collection.</summary>
        Epsilon: float32
        /// <summary>The mean return of the collected (exploring) episodes: the training return.</summary>
        MeanReturn: float32
        /// <summary>Their win rate (with exploration), when the environment reports wins.</summary>
        WinRate: float32 option
        /// <summary>Their mean length in environment steps (PyMARL's <c>ep_length_mean</c>).</summary>
        MeanLength: float32
        /// <summary>The mean number of the team's dead units at the end of an episode, when the environment reports
        /// casualties (<c>StepInfo.Casualties</c>).</summary>
        DeadAllies: float32 option
        /// <summary>The mean number of the opponents' dead units at the end of an episode, when the environment
        /// reports casualties.</summary>
        DeadEnemies: float32 option
    }

/// <summary>The learner took an update.</summary>
type UpdatedEvent =
    {
        /// <summary>Environment steps so far.</summary>
        Step: int
        /// <summary>Episodes so far.</summary>
        Episode: int
        /// <summary>The update's metrics (loss, grad norm, TD error, Q_tot mean, …).</summary>
        Metrics: LearnerMetrics
    }

/// <summary>Greedy (ε = 0) test episodes were run.</summary>
type TestedEvent =
    {
        /// <summary>Environment steps so far.</summary>
        Step: int
        /// <summary>Episodes so far.</summary>
        Episode: int
        /// <summary>The mean return of the test episodes.</summary>
        MeanReturn: float32
        /// <summary>Their win rate, when the environment reports wins.</summary>
        WinRate: float32 option
        /// <summary>Their mean length in environment steps (PyMARL's <c>test_ep_length_mean</c>): with the greedy
        /// policy, a telling number (a policy that learnt to stall runs into the limit).</summary>
        MeanLength: float32
        /// <summary>The mean number of the team's dead units at the end of a test episode, when the environment
        /// reports casualties.</summary>
        DeadAllies: float32 option
        /// <summary>The mean number of the opponents' dead units at the end of a test episode, when the environment
        /// reports casualties.</summary>
        DeadEnemies: float32 option
    }

/// <summary>Throughput, reported by <see cref="M:Qmix.Functional.Training.run"/> after each iteration.</summary>
type ProgressEvent =
    {
        /// <summary>Environment steps so far.</summary>
        Step: int
        /// <summary>Episodes so far.</summary>
        Episode: int
        /// <summary>Environment steps per second of wall-clock time since the run (or resume) started.</summary>
        StepsPerSecond: float
    }

/// <summary>What training reports as it goes.</summary>
type TrainingEvent =
    /// <summary>Training episodes were collected.</summary>
    | Collected of CollectedEvent
    /// <summary>The learner took an update.</summary>
    | Updated of UpdatedEvent
    /// <summary>Greedy test episodes were run.</summary>
    | Tested of TestedEvent
    /// <summary>A learner quantity left its plausible range (the Q-values are diverging); given once per quantity,
    /// right after the update that showed it.</summary>
    | Warned of DiagnosticWarning
    /// <summary>A checkpoint was written (its path stem and step).</summary>
    | Saved of path: string * step: int
    /// <summary>A checkpoint could not be written (its path stem, the step, and why); the previous checkpoint is kept
    /// and training goes on.</summary>
    | SaveFailed of path: string * step: int * reason: string
    /// <summary>Throughput so far.</summary>
    | Progress of ProgressEvent

/// <summary>Training stopped because the loss or the gradient became NaN or infinite. The state before the bad update
/// is kept, and the last checkpoint on disk is untouched.</summary>
type TrainingDivergedException(message: string, lastGood: obj) =
    inherit Exception(message)

    /// <summary>The last good <c>TrainingState</c> (boxed), before the update that diverged.</summary>
    member _.LastGoodState = lastGood

/// <summary>A training run's fixed parts: the settings, the environment and the learner.</summary>
type Trainer<'S, 'M> =
    {
        /// <summary>The settings.</summary>
        Config: TrainingConfig
        /// <summary>The environment.</summary>
        Env: Env<'S>
        /// <summary>The learner (built-in or user-defined mixer).</summary>
        Learner: Learner<'M>
    }

/// <summary>PyMARL's training loop as a fold over iterations: collect episodes with ε-greedy agents, store them,
/// sample a batch, update the learner (and its targets), evaluate greedily every so often, checkpoint.</summary>
[<RequireQualifiedAccess>]
module Training =
    /// <summary>A trainer with a user-supplied learner (e.g. a user-defined mixer).</summary>
    /// <exception cref="System.ArgumentException">A setting is out of range, or the learner is for another spec.</exception>
    let createWith (cfg: TrainingConfig) (env: Env<'S>) (learner: Learner<'M>) : Trainer<'S, 'M> =
        let bad name (what: string) = invalidArg name ("training: " + what)

        if cfg.TotalSteps < 0 then
            bad "TotalSteps" (sprintf "TotalSteps must not be negative, got %d" cfg.TotalSteps)

        if cfg.BatchSize < 1 then
            bad "BatchSize" (sprintf "BatchSize must be at least 1, got %d" cfg.BatchSize)

        if cfg.BufferSize < cfg.BatchSize then
            bad "BufferSize" (sprintf "BufferSize (%d) must be at least BatchSize (%d)" cfg.BufferSize cfg.BatchSize)

        if cfg.ParallelEnvs < 1 then
            bad "ParallelEnvs" (sprintf "ParallelEnvs must be at least 1, got %d" cfg.ParallelEnvs)

        if cfg.TestInterval < 1 || cfg.TestEpisodes < 0 then
            bad
                "TestInterval"
                (sprintf
                    "TestInterval must be ≥ 1 and TestEpisodes ≥ 0, got %d and %d"
                    cfg.TestInterval
                    cfg.TestEpisodes)

        if cfg.SaveInterval < 0 then
            bad "SaveInterval" (sprintf "SaveInterval must not be negative, got %d" cfg.SaveInterval)

        if learner.Spec <> env.Spec then
            bad "learner" (sprintf "the learner is for %A, the environment is %A" learner.Spec env.Spec)

        {
            Config = cfg
            Env = env
            Learner = learner
        }

    /// <summary>A trainer with the built-in mixer of the configuration.</summary>
    let create (cfg: TrainingConfig) (env: Env<'S>) : Trainer<'S, MixerParams> =
        createWith cfg env (Learner.builtIn cfg.Learner env.Spec cfg.Mixer)

    /// <summary>The state a run starts from: parameters, an empty buffer and counters, all from the seed.</summary>
    let init (trainer: Trainer<'S, 'M>) : TrainingState<'M> =
        let learnerKey, loopKey = Rng.split (Rng.key trainer.Config.Seed)

        {
            Learner = Learner.init trainer.Learner learnerKey
            Replay = Replay.emptyWith trainer.Config.ReplayPrecision trainer.Config.BufferSize
            Counters =
                {
                    Step = 0
                    Episode = 0
                    // PyMARL tests at the start (last_test_T = −test_interval − 1)
                    LastTestStep = -trainer.Config.TestInterval - 1
                    LastSaveStep = 0
                    Key = loopKey
                }
            Diagnostics = DiagnosticsState.empty
        }

    /// <summary>Whether the run has taken all its steps.</summary>
    let isDone (trainer: Trainer<'S, 'M>) (state: TrainingState<'M>) =
        state.Counters.Step >= trainer.Config.TotalSteps

    /// <summary>One iteration, a pure function: collect <c>ParallelEnvs</c> episodes, store them, update the learner
    /// once when the buffer holds a batch (and check its Q-values, see
    /// <see cref="M:Qmix.Functional.Diagnostics.check"/>), and run greedy test episodes when <c>TestInterval</c> steps
    /// have passed and after the iteration that reaches <c>TotalSteps</c> (so a run's last test is of its final
    /// policy).</summary>
    /// <returns>The next state and what happened, in order.</returns>
    let iterate (trainer: Trainer<'S, 'M>) (state: TrainingState<'M>) : TrainingState<'M> * TrainingEvent list =
        let cfg = trainer.Config
        let c = state.Counters
        let k = Rng.splitN 4 c.Key
        let agentCfg = trainer.Learner.Config.Agent
        // collect episodes with ε-greedy agents (ε fixed for the run at its starting step, as PyMARL's runners do)
        let epsilon = Epsilon.at cfg.Epsilon c.Step

        let episodes, stats =
            Runner.runEpisodes
                trainer.Env
                agentCfg
                state.Learner.Params.Agent
                (fun _ -> epsilon)
                c.Step
                cfg.ParallelEnvs
                k[0]
        // store them
        let replay = Replay.addMany episodes state.Replay
        let step, episode = c.Step + stats.Steps, c.Episode + episodes.Length

        let collected =
            Collected
                {
                    Step = step
                    Episode = episode
                    Epsilon = epsilon
                    MeanReturn = stats.MeanReturn
                    WinRate = stats.WinRate
                    MeanLength = stats.MeanLength
                    DeadAllies = stats.DeadAllies
                    DeadEnemies = stats.DeadEnemies
                }

        // the largest plausible return covers the new episodes
        let seen =
            Diagnostics.observe trainer.Learner.Config.Gamma episodes state.Diagnostics

        // sample a batch and update the learner (targets follow inside the update)
        let learner, diagnostics, updated =
            if Replay.canSample cfg.BatchSize replay then
                let ws = state.Learner.Workspace
                // a loop that owns its states stacks batches into reused memory (the fused update skips padding)
                let batch =
                    if
                        not (isNull ws)
                        && ws.RecyclesBatches
                        && Learner.runsFused trainer.Learner state.Learner.Params
                    then
                        Replay.sampleInto ws.Batches k[1] cfg.BatchSize replay
                    else
                        Replay.sample k[1] cfg.BatchSize replay

                let l, m = Learner.update trainer.Learner episode batch state.Learner
                // Q-values far beyond any plausible return: warn, once per quantity
                let diagnostics, warnings = Diagnostics.check cfg.Diagnostics seen step episode m

                l,
                diagnostics,
                Updated
                    {
                        Step = step
                        Episode = episode
                        Metrics = m
                    }
                :: List.map Warned warnings
            else
                state.Learner, seen, []

        // greedy evaluation every TestInterval steps, and after the run's last iteration (its final policy); that
        // last one is outside the schedule, so a run extended later tests at the steps an uninterrupted one does
        let scheduled = step - c.LastTestStep >= cfg.TestInterval

        let lastTest, tested =
            if cfg.TestEpisodes > 0 && (scheduled || step >= cfg.TotalSteps) then
                let t =
                    Runner.evaluate trainer.Env agentCfg learner.Params.Agent cfg.TestEpisodes cfg.ParallelEnvs k[2]

                (if scheduled then step else c.LastTestStep),
                [
                    Tested
                        {
                            Step = step
                            Episode = episode
                            MeanReturn = t.MeanReturn
                            WinRate = t.WinRate
                            MeanLength = t.MeanLength
                            DeadAllies = t.DeadAllies
                            DeadEnemies = t.DeadEnemies
                        }
                ]
            else
                c.LastTestStep, []

        {
            Learner = learner
            Replay = replay
            Counters =
                { c with
                    Step = step
                    Episode = episode
                    LastTestStep = lastTest
                    Key = k[3]
                }
            Diagnostics = diagnostics
        },
        collected :: updated @ tested

    /// <summary>The run as a lazy sequence of iterations (state after each, with its events), until TotalSteps.</summary>
    let iterations (trainer: Trainer<'S, 'M>) (state: TrainingState<'M>) : seq<TrainingState<'M> * TrainingEvent list> =
        state
        |> Seq.unfold (fun s ->
            if isDone trainer s then
                None
            else
                let next = iterate trainer s
                Some(next, fst next))

    /// <summary>The configuration as recorded in a checkpoint's sidecar.</summary>
    let configText (trainer: Trainer<'S, 'M>) = sprintf "%A" trainer.Config

    /// <summary>Writes a resumable checkpoint of a state.</summary>
    let save (trainer: Trainer<'S, 'M>) (path: string) (state: TrainingState<'M>) : unit =
        Checkpoint.save
            path
            trainer.Learner
            (configText trainer)
            {
                Learner = state.Learner
                Replay = state.Replay
                Counters = state.Counters
            }

    /// <summary>Reads a checkpoint written by <see cref="M:Qmix.Functional.Training.save"/> to continue the run; the
    /// continuation is bit-identical to the uninterrupted run.</summary>
    /// <remarks>The divergence check's memory is not in the checkpoint: its largest plausible return is rebuilt from
    /// the episodes in the replay buffer (so it may be smaller than the uninterrupted run's when the buffer has
    /// dropped the episode that set it), and a warning given before the save may be given again.</remarks>
    let resume (trainer: Trainer<'S, 'M>) (path: string) : TrainingState<'M> =
        let c = Checkpoint.load path trainer.Learner

        {
            Learner = c.Learner
            Replay = c.Replay
            Counters = c.Counters
            Diagnostics =
                Diagnostics.observe trainer.Learner.Config.Gamma (Replay.toSeq c.Replay) DiagnosticsState.empty
        }

    let private finite (m: LearnerMetrics) =
        Single.IsFinite m.Loss && Single.IsFinite m.GradNorm

    /// <summary>Runs to TotalSteps from a state, reporting every event, saving checkpoints every SaveInterval steps
    /// (and at the end) when a checkpoint path is set.</summary>
    /// <exception cref="Qmix.Functional.TrainingDivergedException">The loss or the gradient norm became NaN or
    /// infinite, or an agent's Q-value while collecting or testing did (the message names the agent and the step);
    /// nothing is saved from then on.</exception>
    let run (trainer: Trainer<'S, 'M>) (onEvent: TrainingEvent -> unit) (state: TrainingState<'M>) : TrainingState<'M> =
        let cfg = trainer.Config
        let clock = Stopwatch.StartNew()
        let startStep = state.Counters.Step
        // the loop owns its states: updates recycle the storage of the state two updates back
        let mutable current =
            { state with
                Learner = Learner.recycling state.Learner
            }

        // the step of the last save tried, written or not: a failed save is tried again an interval later
        let mutable lastAttempt = state.Counters.LastSaveStep

        let saveNow (s: TrainingState<'M>) =
            match cfg.CheckpointPath with
            | Some path ->
                lastAttempt <- s.Counters.Step

                let s =
                    { s with
                        Counters =
                            { s.Counters with
                                LastSaveStep = s.Counters.Step
                            }
                    }

                try
                    save trainer path s
                    onEvent (Saved(path, s.Counters.Step))
                    s
                with :? CheckpointSaveException as e ->
                    // the run goes on; the earlier checkpoint stays, and the next interval tries again
                    onEvent (SaveFailed(path, s.Counters.Step, e.Message))

                    { s with
                        Counters =
                            { s.Counters with
                                LastSaveStep = current.Counters.LastSaveStep
                            }
                    }
            | None -> s

        let lastGood () =
            match cfg.CheckpointPath with
            | Some p when current.Counters.LastSaveStep > 0 ->
                sprintf "; the last good checkpoint is %s (step %d)" p current.Counters.LastSaveStep
            | _ -> ""

        while not (isDone trainer current) do
            let next, events =
                try
                    iterate trainer current
                with :? NonFiniteQValueException as e ->
                    // NaN parameters reached acting: the divergence stop, with the state before this iteration
                    raise (
                        TrainingDivergedException(
                            sprintf
                                "training diverged at step %d (episode %d): %s. The state before this iteration is kept%s."
                                current.Counters.Step
                                current.Counters.Episode
                                e.Message
                                (lastGood ()),
                            box
                                { current with
                                    Learner = Learner.persistent current.Learner
                                }
                        )
                    )

            for e in events do
                match e with
                | Updated u when not (finite u.Metrics) ->
                    raise (
                        TrainingDivergedException(
                            sprintf
                                "training diverged at step %d (episode %d): loss %g, gradient norm %g. The state before this update is kept%s."
                                u.Step
                                u.Episode
                                u.Metrics.Loss
                                u.Metrics.GradNorm
                                (lastGood ()),
                            box
                                { current with
                                    Learner = Learner.persistent current.Learner
                                }
                        )
                    )
                | _ -> ()

            List.iter onEvent events
            let c = next.Counters

            onEvent (
                Progress
                    {
                        Step = c.Step
                        Episode = c.Episode
                        StepsPerSecond = float (c.Step - startStep) / max clock.Elapsed.TotalSeconds 1e-9
                    }
            )

            current <-
                if
                    cfg.SaveInterval > 0
                    && c.Step - max c.LastSaveStep lastAttempt >= cfg.SaveInterval
                then
                    saveNow next
                else
                    next

        // the state handed back keeps its storage whatever the caller does next
        let final =
            { current with
                Learner = Learner.persistent current.Learner
            }

        if cfg.CheckpointPath.IsSome && final.Counters.LastSaveStep <> final.Counters.Step then
            saveNow final
        else
            final
