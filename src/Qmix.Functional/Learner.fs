namespace Qmix.Functional

open System
open Qmix.Tensors

/// <summary>How TD targets are built.</summary>
type TdTarget =
    /// <summary>y_t = r_t + γ (1 − terminated_t) Q'_{t+1} (PyMARL).</summary>
    | OneStep
    /// <summary>TD(λ) targets built backwards through the episode (pymarl2's <c>build_td_lambda_targets</c>).</summary>
    | TdLambda of lambda: float32

/// <summary>How the target networks follow the online networks.</summary>
type TargetUpdate =
    /// <summary>Copy the online parameters every so many episodes (PyMARL: 200).</summary>
    | HardEvery of episodes: int
    /// <summary>Polyak averaging after every update: θ' ← τθ + (1 − τ)θ'.</summary>
    | Soft of tau: float32

/// <summary>The optimiser and its settings.</summary>
type Optimizer =
    /// <summary>RMSprop (PyMARL: lr 5e-4, α 0.99, eps 1e-5).</summary>
    | RmsProp of RmsPropConfig
    /// <summary>Adam (pymarl2: lr 1e-3).</summary>
    | Adam of AdamConfig

/// <summary>How the learner computes an update.</summary>
type LearnerEngine =
    /// <summary>The fused update (hand-written forward and backward passes over reused buffers, the batch split into
    /// two halves run in parallel) wherever the configuration allows it: a shared RNN agent with the QMIX, VDN or IQL
    /// mixer, without Weighted QMIX. Anything else runs on the gradient tape.</summary>
    | Auto
    /// <summary>Always the gradient tape (<c>Autodiff</c>), for any agent, mixer and loss.</summary>
    | Tape

/// <summary>The learner's settings, with PyMARL's QMIX defaults in <c>LearnerConfig.defaults</c>.</summary>
type LearnerConfig =
    {
        /// <summary>The agent network.</summary>
        Agent: AgentConfig
        /// <summary>What the mixer's hypernetworks read (the global state by default).</summary>
        HyperInput: HyperInput
        /// <summary>Discount γ (0.99).</summary>
        Gamma: float32
        /// <summary>Double Q: the argmax at t+1 from the online agents, its value from the target networks (true).</summary>
        DoubleQ: bool
        /// <summary>One-step (default) or TD(λ) targets.</summary>
        Target: TdTarget
        /// <summary>A factor on the loss (1; pymarl2 uses 0.5).</summary>
        LossScale: float32
        /// <summary>Global gradient-norm clipping threshold (10).</summary>
        GradNormClip: float32
        /// <summary>The optimiser (RMSprop lr 5e-4, α 0.99, eps 1e-5).</summary>
        Optimizer: Optimizer
        /// <summary>Target-network updates (a hard copy every 200 episodes).</summary>
        TargetUpdate: TargetUpdate
        /// <summary>Weighted QMIX (CW or OW) with its centralised Q̂*; None for plain QMIX (the default).</summary>
        Weighted: WeightedConfig option
        /// <summary>How updates are computed (<c>Auto</c>: the fused update where it applies).</summary>
        Engine: LearnerEngine
        /// <summary>Threads an update may use: 0 for as many as the machine has (at most 2, one per half of the batch),
        /// 1 for the calling thread only. Results are bit-identical for every value.</summary>
        Threads: int
    }

    /// <summary>PyMARL's QMIX learner (src/config/default.yaml and algs/qmix.yaml).</summary>
    static member defaults =
        {
            Agent = AgentConfig.defaults
            HyperInput = GlobalState
            Gamma = 0.99f
            DoubleQ = true
            Target = OneStep
            LossScale = 1.0f
            GradNormClip = 10.0f
            Optimizer =
                RmsProp
                    {
                        Lr = 5e-4f
                        Alpha = 0.99f
                        Eps = 1e-5f
                        Momentum = 0.0f
                    }
            TargetUpdate = HardEvery 200
            Weighted = None
            Engine = Auto
            Threads = 0
        }

/// <summary>Everything the learner trains: the agents, the mixer and, for Weighted QMIX, Q̂*. Parameter names are
/// PyTorch state_dict names: <c>agent.fc1.weight</c>, <c>mixer.hyper_w_1.0.weight</c>,
/// <c>central_agent.fc1.weight</c>, <c>central_mixer.net.0.weight</c>.</summary>
type QParams<'M> =
    {
        /// <summary>The agent networks.</summary>
        Agent: AgentParams
        /// <summary>The mixer's parameters.</summary>
        Mixer: 'M
        /// <summary>Weighted QMIX's Q̂*, or None.</summary>
        [<ParamName "">]
        Central: CentralQ option
    }

/// <summary>The optimiser's state over the learner's parameters.</summary>
type OptimState<'P> =
    /// <summary>RMSprop's running averages.</summary>
    | RmsPropState of RmsPropState<'P>
    /// <summary>Adam's moments.</summary>
    | AdamState of AdamState<'P>

/// <summary>What one update reports.</summary>
type LearnerMetrics =
    {
        /// <summary>The loss that was minimised.</summary>
        Loss: float32
        /// <summary>The global gradient norm before clipping.</summary>
        GradNorm: float32
        /// <summary>The mean |TD error| over filled steps.</summary>
        TdErrorAbs: float32
        /// <summary>The mean Q_tot of the taken joint actions over filled steps.</summary>
        QTakenMean: float32
        /// <summary>The mean target over filled steps.</summary>
        TargetMean: float32
        /// <summary>Weighted QMIX: the loss of Q̂* (0 otherwise).</summary>
        CentralLoss: float32
        /// <summary>Weighted QMIX: the mean weight w over filled steps (1 otherwise).</summary>
        WeightMean: float32
    }

/// <summary>The learner's state: online and target parameters, optimiser state and counters.</summary>
type LearnerState<'M> =
    {
        /// <summary>The online parameters.</summary>
        Params: QParams<'M>
        /// <summary>The target parameters.</summary>
        Target: QParams<'M>
        /// <summary>The optimiser's state.</summary>
        Optim: OptimState<QParams<'M>>
        /// <summary>The number of updates taken.</summary>
        Updates: int
        /// <summary>The episode count at the last hard target update.</summary>
        LastTargetUpdateEpisode: int
        /// <summary>Memory the fused update reuses, handed on from state to state (not part of the state's value).
        /// Persistent by default; see <see cref="M:Qmix.Functional.Learner.recycling"/>.</summary>
        Workspace: LearnerWorkspace
    }

/// <summary>A learner: its settings, the environment's sizes and the mixer (built-in or user-defined).</summary>
type Learner<'M> =
    {
        /// <summary>The settings.</summary>
        Config: LearnerConfig
        /// <summary>The environment's sizes.</summary>
        Spec: EnvSpec
        /// <summary>The mixer.</summary>
        Mixer: Mixer<'M>
    }

/// <summary>QMIX's learner (PyMARL's <c>QLearner</c>, with pymarl2's TD(λ) and Weighted QMIX's <c>MaxQLearner</c>)
/// as pure functions.</summary>
[<RequireQualifiedAccess>]
module Learner =
    /// <summary>The value PyMARL gives unavailable actions before any max.</summary>
    [<Literal>]
    let Masked = -9999999.0f

    /// <summary>A learner for an environment's sizes and a mixer.</summary>
    /// <exception cref="System.ArgumentException">A setting is out of range; the message names it.</exception>
    let create (cfg: LearnerConfig) (spec: EnvSpec) (mixer: Mixer<'M>) : Learner<'M> =
        let bad name (what: string) = invalidArg name ("learner: " + what)

        if not (cfg.Gamma >= 0.0f && cfg.Gamma <= 1.0f) then
            bad "Gamma" (sprintf "Gamma must be in [0, 1], got %g" cfg.Gamma)

        if not (cfg.GradNormClip > 0.0f) then
            bad "GradNormClip" (sprintf "GradNormClip must be positive, got %g" cfg.GradNormClip)

        match cfg.Target with
        | TdLambda l when not (l >= 0.0f && l <= 1.0f) -> bad "Target" (sprintf "TD(λ) needs λ in [0, 1], got %g" l)
        | _ -> ()

        match cfg.TargetUpdate with
        | HardEvery k when k < 1 -> bad "TargetUpdate" (sprintf "HardEvery needs at least 1 episode, got %d" k)
        | Soft tau when not (tau > 0.0f && tau <= 1.0f) ->
            bad "TargetUpdate" (sprintf "Soft needs τ in (0, 1], got %g" tau)
        | _ -> ()

        if cfg.Threads < 0 then
            bad "Threads" (sprintf "Threads must be 0 (all cores) or positive, got %d" cfg.Threads)

        if cfg.Weighted.IsSome && mixer.Outputs <> 1 then
            bad "Weighted" (sprintf "Weighted QMIX needs a mixer with one output, %s has %d" mixer.Name mixer.Outputs)

        {
            Config = cfg
            Spec = spec
            Mixer = mixer
        }

    /// <summary>A learner with a built-in mixer.</summary>
    let builtIn (cfg: LearnerConfig) (spec: EnvSpec) (mixer: MixerConfig) : Learner<MixerParams> =
        create cfg spec (Mixers.create mixer spec.NAgents (Mixers.inputDim cfg.HyperInput spec))

    /// <summary>Fresh online parameters.</summary>
    let initParams (learner: Learner<'M>) (key: Key) : QParams<'M> =
        let k = Rng.splitN 3 key
        let cfg = learner.Config

        {
            Agent = Agent.init cfg.Agent learner.Spec k[0]
            Mixer = learner.Mixer.Init k[1]
            Central =
                cfg.Weighted
                |> Option.map (fun w ->
                    CentralQ.init w cfg.Agent learner.Spec (Mixers.inputDim cfg.HyperInput learner.Spec) k[2])
        }

    /// <summary>A fresh optimiser state for parameters.</summary>
    let initOptim (learner: Learner<'M>) (p: QParams<'M>) : OptimState<QParams<'M>> =
        match learner.Config.Optimizer with
        | RmsProp _ -> RmsPropState(Optim.rmspropInit p)
        | Adam _ -> AdamState(Optim.adamInit p)

    /// <summary>A learner state from given online and target parameters, with a fresh optimiser.</summary>
    let ofParams (learner: Learner<'M>) (online: QParams<'M>) (target: QParams<'M>) : LearnerState<'M> =
        {
            Params = online
            Target = target
            Optim = initOptim learner online
            Updates = 0
            LastTargetUpdateEpisode = 0
            Workspace = LearnerWorkspace()
        }

    /// <summary>A fresh learner state: online parameters from the key, targets a copy of them.</summary>
    let init (learner: Learner<'M>) (key: Key) : LearnerState<'M> =
        let p = initParams learner key
        ofParams learner p (Tree.map Tensor.copy p)

    /// <summary>Checks a batch against the learner's sizes.</summary>
    /// <exception cref="System.ArgumentException">The batch's sizes differ from the spec or its arrays from its
    /// sizes; the message names the mismatch.</exception>
    let validateBatch (learner: Learner<'M>) (batch: EpisodeBatch) : unit =
        let s = learner.Spec

        let check (name: string) (got: int) (want: int) =
            if got <> want then
                invalidArg (nameof batch) (sprintf "episode batch for %s: %s is %d, expected %d" s.Name name got want)

        check "n_agents" batch.NAgents s.NAgents
        check "n_actions" batch.NActions s.NActions
        check "obs_dim" batch.ObsDim s.ObsDim
        check "state_dim" batch.StateDim s.StateDim
        EpisodeBatch.validate batch

    /// <summary>Per (t, b, a): the greedy action among the available ones (first on ties), over all T' steps.</summary>
    let private greedy (qs: float32[]) (avail: float32[]) (b: int) (t: int) (n: int) (a: int) =
        // qs is time-major [T', B, N, A]; avail is batch-major [B, T', N, A]
        let out = Array.zeroCreate (t * b * n)

        for k in 0 .. t - 1 do
            for e in 0 .. b - 1 do
                for i in 0 .. n - 1 do
                    let row = (k * b + e) * n + i
                    let arow = ((e * t + k) * n + i) * a
                    let mutable best = Single.NegativeInfinity
                    let mutable arg = 0

                    for u in 0 .. a - 1 do
                        let v = if avail[arow + u] = 0.0f then Masked else qs[row * a + u]

                        if v > best then
                            best <- v
                            arg <- u

                    out[row] <- arg

        out

    /// <summary>Per (t, b, a): the value of the given actions, [T', B, N] time-major.</summary>
    let private pick (qs: float32[]) (actions: int[]) (a: int) =
        Array.init actions.Length (fun r -> qs[r * a + actions[r]])

    /// <summary>The targets y [T, B, K] (time-major) from target values at every index [T', B, K].</summary>
    let private targets (cfg: LearnerConfig) (batch: EpisodeBatch) (mask: float32[]) (next: float32[]) (kOut: int) =
        let b, t1 = batch.BatchSize, batch.MaxSeqLength
        let t = t1 - 1

        let lambda =
            match cfg.Target with
            | OneStep -> 0.0f
            | TdLambda l -> l

        let y = Array.zeroCreate (t * b * kOut)

        for k in t - 1 .. -1 .. 0 do
            for e in 0 .. b - 1 do
                let r = batch.Reward[e * t1 + k]
                let notDone = 1.0f - batch.Terminated[e * t1 + k]
                let lastFilled = k + 1 = t || mask[(k + 1) * b + e] = 0.0f

                for j in 0 .. kOut - 1 do
                    let q1 = next[((k + 1) * b + e) * kOut + j]

                    let boot =
                        if lastFilled then
                            q1
                        else
                            (1.0f - lambda) * q1 + lambda * y[((k + 1) * b + e) * kOut + j]

                    y[(k * b + e) * kOut + j] <- r + cfg.Gamma * notDone * boot

        y

    /// <summary>The loss mask [T, B] (time-major): filled steps up to and including the terminal one.</summary>
    let private lossMask (batch: EpisodeBatch) =
        let b, t1 = batch.BatchSize, batch.MaxSeqLength
        let t = t1 - 1
        let mask = Array.zeroCreate (t * b)

        for e in 0 .. b - 1 do
            for k in 0 .. t - 1 do
                mask[k * b + e] <- EpisodeBatch.maskAt batch e k

        mask

    /// <summary>Repeats each of the T·B mask values K times, [T, B, K].</summary>
    let private expand (mask: float32[]) (kOut: int) =
        Array.init (mask.Length * kOut) (fun i -> mask[i / kOut])

    /// <summary>The metrics of a loss: means over filled steps of |TD error|, Q_tot, targets and weights.</summary>
    let private summarise
        (l: Tensor)
        (td: float32[])
        (qTot: float32[])
        (y: float32[])
        (mask: float32[])
        (weights: float32[] option)
        (centralLoss: float32)
        =
        let mutable absSum, qSum, ySum, wSum, maskSum = 0.0f, 0.0f, 0.0f, 0.0f, 0.0f

        for i in 0 .. mask.Length - 1 do
            absSum <- absSum + abs td[i] * mask[i]
            qSum <- qSum + qTot[i] * mask[i]
            ySum <- ySum + y[i] * mask[i]

            wSum <-
                wSum
                + (match weights with
                   | Some w -> w[i]
                   | None -> 1.0f)
                  * mask[i]

            maskSum <- maskSum + mask[i]

        {
            Loss = l.Scalar
            GradNorm = 0.0f
            TdErrorAbs = absSum / maskSum
            QTakenMean = qSum / maskSum
            TargetMean = ySum / maskSum
            CentralLoss = centralLoss
            WeightMean = wSum / maskSum
        }

    /// <summary>The loss of one batch and its metrics, as a differentiable function of the online parameters (the
    /// targets are constants): what the tape engine differentiates with <c>Autodiff.valueGradAux</c>, and a way to
    /// evaluate the loss of any parameters on a batch without updating them; <see cref="M:Qmix.Functional.Learner.update"/>
    /// is the usual entry point.</summary>
    let loss
        (learner: Learner<'M>)
        (target: QParams<'M>)
        (batch: EpisodeBatch)
        (p: QParams<'M>)
        : Tensor * LearnerMetrics =
        let cfg, spec, mixer = learner.Config, learner.Spec, learner.Mixer
        let b, t1, n, a = batch.BatchSize, batch.MaxSeqLength, spec.NAgents, spec.NActions
        let t = t1 - 1
        let kOut = mixer.Outputs
        let inputs = Agent.batchInputs cfg.Agent spec batch
        let hyper = Mixers.batchInputs cfg.HyperInput spec batch
        let hyperNow = Tensor.slice 0 0 t hyper
        let actions = Array.zeroCreate (t * b * n)

        for k in 0 .. t - 1 do
            for e in 0 .. b - 1 do
                Array.blit batch.Actions ((e * t1 + k) * n) actions ((k * b + e) * n) n

        // estimated Qs over the episode, the GRU carried through time: [T', B, N, A]
        let qs = Agent.unroll p.Agent n inputs |> Tensor.reshape [| t1; b; n; a |]
        // chosen-action Q: [T, B, N]
        let chosen = qs |> Tensor.slice 0 0 t |> Tensor.gather actions
        // greedy actions of the online agents over available actions (for double Q and CW-QMIX)
        let greedyNow = greedy (Tensor.toArray qs) batch.AvailActions b t1 n a
        // loss mask: filled steps up to the terminal one
        let mask = lossMask batch
        let maskK = expand mask kOut
        let maskT = Tensor.ofArray [| t; b; kOut |] maskK
        let maskSum = Array.sum maskK

        if maskSum <= 0.0f then
            invalidArg (nameof batch) "episode batch: no filled step to learn from"

        // mixing: Q_tot of the taken joint actions [T, B, K]
        let qTot = mixer.Forward p.Mixer chosen hyperNow

        match p.Central, target.Central, cfg.Weighted with
        | None, None, None ->
            // target agents' Qs at every step (constants): [T', B, N, A]
            let targetQs = Agent.unroll target.Agent n inputs |> Tensor.toArray
            // the target's max over available actions: double Q evaluates the online argmax, else the target's own
            let targetPick =
                if cfg.DoubleQ then
                    greedyNow
                else
                    greedy targetQs batch.AvailActions b t1 n a

            let maxQs = Tensor.ofArray [| t1; b; n |] (pick targetQs targetPick a)
            // targets from the target mixer at every index, then one-step or TD(λ) targets
            let next = mixer.Forward target.Mixer maxQs hyper
            let y = targets cfg batch mask (Tensor.toArray next) kOut
            // masked mean squared TD error
            let td = Tensor.mul (Tensor.sub qTot (Tensor.ofArray [| t; b; kOut |] y)) maskT
            let l = Tensor.square td |> Tensor.sum |> Tensor.mulScalar (cfg.LossScale / maskSum)
            l, summarise l (Tensor.toArray td) (Tensor.toArray qTot) y maskK None 0.0f
        | Some central, Some targetCentral, Some w ->
            // Q̂* of the taken joint actions, from the central agents and the unrestricted mixer
            let cqs = Agent.unroll central.Agent n inputs |> Tensor.reshape [| t1; b; n; a |]
            let cChosen = cqs |> Tensor.slice 0 0 t |> Tensor.gather actions
            let cQ = CentralQ.mix central.Mixer cChosen hyperNow
            // targets from the target Q̂* at the online agents' greedy joint action
            let ctq = Agent.unroll targetCentral.Agent n inputs
            let cMax = Tensor.ofArray [| t1; b; n |] (pick (Tensor.toArray ctq) greedyNow a)
            let next = CentralQ.mix targetCentral.Mixer cMax hyper
            let y = targets cfg batch mask (Tensor.toArray next) 1
            let yT = Tensor.ofArray [| t; b; 1 |] y
            let td = Tensor.sub qTot yT
            let tdv = Tensor.toArray td
            let nextV = Tensor.toArray next
            // the weights: 1 for the (estimated) best joint actions, α elsewhere
            let weights =
                Array.init (t * b) (fun i ->
                    let hit =
                        match w.Weighting with
                        | Optimistic -> tdv[i] < 0.0f
                        | Centralised ->
                            let mutable greedyTaken = true

                            for j in 0 .. n - 1 do
                                if actions[i * n + j] <> greedyNow[i * n + j] then
                                    greedyTaken <- false

                            greedyTaken || y[i] > nextV[i]

                    if hit then 1.0f else w.Alpha)

            let weighted =
                Tensor.mul (Tensor.square (Tensor.mul td maskT)) (Tensor.ofArray [| t; b; 1 |] weights)

            let qmixLoss = weighted |> Tensor.sum |> Tensor.mulScalar (1.0f / maskSum)
            let centralTd = Tensor.mul (Tensor.sub cQ yT) maskT

            let centralLoss =
                Tensor.square centralTd |> Tensor.sum |> Tensor.mulScalar (1.0f / maskSum)

            let l =
                Tensor.add
                    (Tensor.mulScalar w.QmixLossWeight qmixLoss)
                    (Tensor.mulScalar w.CentralLossWeight centralLoss)
                |> Tensor.mulScalar cfg.LossScale

            l, summarise l tdv (Tensor.toArray qTot) y maskK (Some weights) centralLoss.Scalar
        | _ ->
            invalidArg
                (nameof p)
                "learner: Weighted QMIX needs Q̂* in both the online and the target parameters, plain QMIX in neither"

    /// <summary>The loss, its gradient with respect to the online parameters, and the metrics (GradNorm unset), always
    /// computed on the gradient tape.</summary>
    let tapeGradients (learner: Learner<'M>) (state: LearnerState<'M>) (batch: EpisodeBatch) =
        validateBatch learner batch
        Autodiff.valueGradAux (loss learner state.Target batch) state.Params

    /// <summary>Target networks after an update: a hard copy when enough episodes have passed, or Polyak averaging.</summary>
    let updateTargets (learner: Learner<'M>) (episode: int) (state: LearnerState<'M>) : LearnerState<'M> =
        match learner.Config.TargetUpdate with
        | HardEvery k when episode - state.LastTargetUpdateEpisode >= k ->
            { state with
                Target = Tree.map Tensor.copy state.Params
                LastTargetUpdateEpisode = episode
            }
        | HardEvery _ -> state
        | Soft tau ->
            { state with
                Target =
                    Tree.map2
                        (fun online target ->
                            Tensor.add (Tensor.mulScalar tau online) (Tensor.mulScalar (1.0f - tau) target))
                        state.Params
                        state.Target
            }

    /// <summary>A copy of a learner state whose tensors live on the heap, with a workspace of its own: it stays
    /// readable however many updates follow from the original.</summary>
    let copyState (state: LearnerState<'M>) : LearnerState<'M> =
        let optim =
            match state.Optim with
            | RmsPropState s ->
                RmsPropState
                    { s with
                        SquareAvg = Tree.map Tensor.copy s.SquareAvg
                        MomentumBuffer = Tree.map Tensor.copy s.MomentumBuffer
                    }
            | AdamState s ->
                AdamState
                    { s with
                        ExpAvg = Tree.map Tensor.copy s.ExpAvg
                        ExpAvgSq = Tree.map Tensor.copy s.ExpAvgSq
                    }

        { state with
            Params = Tree.map Tensor.copy state.Params
            Target = Tree.map Tensor.copy state.Target
            Optim = optim
            Workspace = LearnerWorkspace()
        }

    /// <summary>The same state on a recycling workspace of its own: each update along its line writes the new state
    /// over the storage of the state two updates back, so that a training loop allocates nothing per update in steady
    /// state. A recycled state's tensors refuse to be read (InvalidOperationException); keep one longer with
    /// <c>copyState</c>. <c>Training.run</c> trains this way.</summary>
    let recycling (state: LearnerState<'M>) : LearnerState<'M> =
        { state with
            Workspace = LearnerWorkspace(true)
        }

    /// <summary>The same state on a persistent workspace of its own: every later state gets fresh storage, and this
    /// one (whose storage nothing will recycle any more) stays readable.</summary>
    let persistent (state: LearnerState<'M>) : LearnerState<'M> =
        { state with
            Workspace = LearnerWorkspace(false)
        }

    /// The fused update's plan when the configuration is one it runs, else None.
    let private fusedPlan (learner: Learner<'M>) (p: QParams<'M>) : FusedPlan option =
        let cfg, spec = learner.Config, learner.Spec

        let mixer =
            match Mixers.builtInConfig learner.Mixer, box p.Mixer with
            | Some(Qmix q), (:? MixerParams as mp) when mp.IsQmixParams -> Some(FusedQmix q)
            | Some Vdn, _ -> Some FusedVdn
            | Some Independent, _ -> Some FusedIql
            | _ -> None

        let d, s = Agent.inputDim cfg.Agent spec, Mixers.inputDim cfg.HyperInput spec

        // parameters whose sizes disagree with the settings go to the tape, which names the mismatch
        let sizesAgree (net: RnnAgent) =
            net.Fc1.Weight.Shape[1] = d
            && net.Fc2.Weight.Shape[0] = spec.NActions
            && net.Rnn.WeightIh.Shape[1] = net.Fc1.Weight.Shape[0]
            && (match box p.Mixer with
                | :? MixerParams as mp ->
                    match mp with
                    | QmixParams q ->
                        q.HyperB1.Weight.Shape[1] = s
                        && q.HyperB1.Weight.Shape[0] * spec.NAgents =
                            (match q.HyperW1 with
                             | OneLayer l -> l.Weight.Shape[0]
                             | TwoLayers t -> t.Output.Weight.Shape[0])
                    | _ -> true
                | _ -> true)

        match cfg.Engine, cfg.Weighted, p.Central, p.Agent, mixer with
        | Auto, None, None, Shared(RnnNet net), Some m when sizesAgree net ->
            let lambda =
                match cfg.Target with
                | OneStep -> 0.0f
                | TdLambda l -> l

            Some
                {
                    N = spec.NAgents
                    A = spec.NActions
                    ObsDim = spec.ObsDim
                    StateDim = spec.StateDim
                    D = d
                    H = GruCell.hidden net.Rnn
                    S = s
                    LastAction = cfg.Agent.LastAction
                    AgentId = cfg.Agent.AgentId
                    Hyper = cfg.HyperInput
                    Mixer = m
                    K = learner.Mixer.Outputs
                    Gamma = cfg.Gamma
                    Lambda = lambda
                    DoubleQ = cfg.DoubleQ
                    LossScale = cfg.LossScale
                }
        | _ -> None

    /// <summary>Whether updates of these parameters run fused (see <see cref="T:Qmix.Functional.LearnerEngine"/>): the
    /// fused update skips every step after an episode's last counted one, so batches may be stacked at full length.</summary>
    let runsFused (learner: Learner<'M>) (p: QParams<'M>) : bool = (fusedPlan learner p).IsSome

    /// Where each parameter starts in the flat vector of the tree's leaves.
    let private fusedLayout (p: QParams<'M>) : FusedLayout =
        let leaves = Tree.leaves p
        let starts = Array.scan (fun acc (t: Tensor) -> acc + t.Numel) 0 leaves

        let off (t: Tensor) =
            starts[Array.findIndex (fun l -> obj.ReferenceEquals(l, t)) leaves]

        let net =
            match p.Agent with
            | Shared(RnnNet net) -> net
            | _ -> invalidArg (nameof p) "fused update: needs a shared RNN agent"

        let hyper (h: Hypernet) =
            match h with
            | OneLayer l -> off l.Weight, off l.Bias, -1, -1
            | TwoLayers t -> off t.Hidden.Weight, off t.Hidden.Bias, off t.Output.Weight, off t.Output.Bias

        let agentPart =
            {
                Total = starts[leaves.Length]
                Fc1W = off net.Fc1.Weight
                Fc1B = off net.Fc1.Bias
                Wih = off net.Rnn.WeightIh
                Whh = off net.Rnn.WeightHh
                Bih = off net.Rnn.BiasIh
                Bhh = off net.Rnn.BiasHh
                Fc2W = off net.Fc2.Weight
                Fc2B = off net.Fc2.Bias
                W1a = -1
                W1aB = -1
                W1b = -1
                W1bB = -1
                Hb1 = -1
                Hb1B = -1
                Wfa = -1
                WfaB = -1
                Wfb = -1
                WfbB = -1
                V1 = -1
                V1B = -1
                V2 = -1
                V2B = -1
            }

        match box p.Mixer with
        | :? MixerParams as mp ->
            match mp with
            | QmixParams q ->
                let w1a, w1aB, w1b, w1bB = hyper q.HyperW1
                let wfa, wfaB, wfb, wfbB = hyper q.HyperWFinal

                { agentPart with
                    W1a = w1a
                    W1aB = w1aB
                    W1b = w1b
                    W1bB = w1bB
                    Hb1 = off q.HyperB1.Weight
                    Hb1B = off q.HyperB1.Bias
                    Wfa = wfa
                    WfaB = wfaB
                    Wfb = wfb
                    WfbB = wfbB
                    V1 = off q.V.Hidden.Weight
                    V1B = off q.V.Hidden.Bias
                    V2 = off q.V.Output.Weight
                    V2B = off q.V.Output.Bias
                }
            | _ -> agentPart
        | _ -> agentPart

    /// Copies a tree's leaves back to back into a flat vector.
    let private gather (tree: 'P) (dst: float32[]) =
        let mutable at = 0

        for t in Tree.leaves tree do
            t.Span.CopyTo(Span(dst, at, t.Numel))
            at <- at + t.Numel

    /// The loss's gradient by the fused passes, left in the first half's buffer (before clipping), and the metrics
    /// (GradNorm unset). The caller holds the workspace's lock.
    let private fusedGradient
        (learner: Learner<'M>)
        (plan: FusedPlan)
        (batch: EpisodeBatch)
        (state: LearnerState<'M>)
        (ws: LearnerWorkspace)
        : float32[] * LearnerMetrics =
        let cfg = learner.Config
        let pg = FusedProfile.Now()
        let layout = fusedLayout state.Params
        ws.Prepare(plan, layout)
        // the parameters and the targets as flat vectors, their weights transposed once for the whole update
        gather state.Params ws.Theta
        gather state.Target ws.ThetaTarget
        ws.Packed[0].Fill(ws.Theta, layout)
        ws.Packed[1].Fill(ws.ThetaTarget, layout)
        FusedProfile.Add(11, pg)
        // the loss normaliser: filled steps up to the terminal one, over the whole batch
        let b, t1 = batch.BatchSize, batch.MaxSeqLength
        let mutable filled = 0.0f

        for e in 0 .. b - 1 do
            for t in 0 .. t1 - 2 do
                let alive =
                    if t = 0 then
                        1.0f
                    else
                        1.0f - batch.Terminated[e * t1 + t - 1]

                filled <- filled + batch.Filled[e * t1 + t] * alive

        let maskSum = filled * float32 plan.K

        if maskSum <= 0.0f then
            invalidArg (nameof batch) "episode batch: no filled step to learn from"
        // episodes by the steps they need, longest first (stable), dealt alternately to the two halves so that both
        // get as much work; steps after an episode's last counted one are skipped (they add nothing)
        let steps = Array.init b (fun e -> FusedShard.StepsOf(batch, e))
        let order = Array.init b id |> Array.sortBy (fun e -> -steps[e], e)
        let halves = if b >= 2 then 2 else 1

        let part (i: int) =
            [| for j in i..halves .. b - 1 -> order[j] |]

        let parts = Array.init halves part

        let half (i: int) () =
            ws.Shards[i].Run(batch, parts[i], steps, ws.Theta, ws.ThetaTarget, ws.Packed[0], ws.Packed[1], maskSum)

        let threads =
            if cfg.Threads = 0 then
                Environment.ProcessorCount
            else
                cfg.Threads

        if halves = 2 && threads > 1 then
            Threading.Tasks.Parallel.Invoke(Action(half 0), Action(half 1))
        else
            for i in 0 .. halves - 1 do
                half i ()

        let grad = ws.Shards[0].Grad

        if halves = 2 then
            System.Numerics.Tensors.TensorPrimitives.Add(ReadOnlySpan grad, ReadOnlySpan ws.Shards[1].Grad, Span grad)
        // the metrics, from the halves' sums in order
        let mutable loss, tdAbs, q, y = 0.0, 0.0, 0.0, 0.0

        for i in 0 .. halves - 1 do
            let sums = ws.Shards[i].Sums
            loss <- loss + sums.Loss
            tdAbs <- tdAbs + sums.TdAbs
            q <- q + sums.Q
            y <- y + sums.Y

        let ms = float maskSum

        grad,
        {
            Loss = float32 loss * (cfg.LossScale / maskSum)
            GradNorm = 0.0f
            TdErrorAbs = float32 (tdAbs / ms)
            QTakenMean = float32 (q / ms)
            TargetMean = float32 (y / ms)
            CentralLoss = 0.0f
            WeightMean = 1.0f
        }

    /// <summary>The loss, its gradient with respect to the online parameters, and the metrics (GradNorm unset): by the
    /// fused passes where the configuration allows (see <see cref="T:Qmix.Functional.LearnerEngine"/>), else on the
    /// gradient tape.</summary>
    let gradients
        (learner: Learner<'M>)
        (state: LearnerState<'M>)
        (batch: EpisodeBatch)
        : float32 * QParams<'M> * LearnerMetrics =
        match fusedPlan learner state.Params with
        | Some plan ->
            validateBatch learner batch
            let ws = LearnerWorkspace()

            lock ws (fun () ->
                let grad, metrics = fusedGradient learner plan batch state ws
                let mutable at = 0

                let leaves =
                    Tree.leaves state.Params
                    |> Array.map (fun t ->
                        let g = Tensor.ofArray (t.Shape.ToArray()) (Array.sub grad at t.Numel)
                        at <- at + t.Numel
                        g)

                metrics.Loss, Tree.rebuild state.Params leaves, metrics)
        | None -> tapeGradients learner state batch

    /// The fused update: the gradient by the fused passes, then clipping, the optimiser and the targets over flat
    /// vectors, written into the next generation of the workspace's storage.
    let private fusedUpdate
        (learner: Learner<'M>)
        (plan: FusedPlan)
        (episode: int)
        (batch: EpisodeBatch)
        (state: LearnerState<'M>)
        : LearnerState<'M> * LearnerMetrics =
        let cfg = learner.Config

        let ws =
            if isNull state.Workspace then
                LearnerWorkspace()
            else
                state.Workspace

        lock ws (fun () ->
            // loss and gradient of the online parameters
            let grad, metrics = fusedGradient learner plan batch state ws
            let po = FusedProfile.Now()
            let p = ws.Layout.Total
            // global gradient-norm clipping
            let mutable sq = 0.0

            for v in grad do
                sq <- sq + float v * float v

            let norm = float32 (Math.Sqrt sq)
            let coef = cfg.GradNormClip / (norm + 1e-6f)

            if coef < 1.0f then
                System.Numerics.Tensors.TensorPrimitives.Multiply(ReadOnlySpan grad, coef, Span grad)
            // one optimiser step, written into the next generation: [θ | θ_target | optimiser state]
            match state.Optim with
            | RmsPropState s ->
                gather s.SquareAvg ws.Opt1
                gather s.MomentumBuffer ws.Opt2
            | AdamState s ->
                gather s.ExpAvg ws.Opt1
                gather s.ExpAvgSq ws.Opt2

            let first = (Tree.leaves state.Params)[0]
            let buf = ws.Storage.Next(4 * p, first)

            let optim =
                match cfg.Optimizer, state.Optim with
                | RmsProp o, RmsPropState s ->
                    Optim.rmspropStep (
                        o,
                        ReadOnlySpan ws.Theta,
                        ReadOnlySpan grad,
                        ReadOnlySpan ws.Opt1,
                        ReadOnlySpan ws.Opt2,
                        Span(buf, 0, p),
                        Span(buf, 2 * p, p),
                        Span(buf, 3 * p, p)
                    )

                    RmsPropState
                        { s with
                            SquareAvg = ws.Storage.View(s.SquareAvg, 2 * p)
                            MomentumBuffer = ws.Storage.View(s.MomentumBuffer, 3 * p)
                            Step = s.Step + 1
                        }
                | Adam o, AdamState s ->
                    Optim.adamStep (
                        o,
                        s.Step + 1,
                        ReadOnlySpan ws.Theta,
                        ReadOnlySpan grad,
                        ReadOnlySpan ws.Opt1,
                        ReadOnlySpan ws.Opt2,
                        Span(buf, 0, p),
                        Span(buf, 2 * p, p),
                        Span(buf, 3 * p, p)
                    )

                    AdamState
                        { s with
                            ExpAvg = ws.Storage.View(s.ExpAvg, 2 * p)
                            ExpAvgSq = ws.Storage.View(s.ExpAvgSq, 3 * p)
                            Step = s.Step + 1
                        }
                | o, _ -> invalidArg (nameof state) (sprintf "learner: the optimiser state does not match %A" o)
            // the targets: a hard copy when due, Polyak averaging, or unchanged
            let lastTarget =
                match cfg.TargetUpdate with
                | HardEvery k when episode - state.LastTargetUpdateEpisode >= k ->
                    Array.Copy(buf, 0, buf, p, p)
                    episode
                | HardEvery _ ->
                    Array.Copy(ws.ThetaTarget, 0, buf, p, p)
                    state.LastTargetUpdateEpisode
                | Soft tau ->
                    for i in 0 .. p - 1 do
                        buf[p + i] <- tau * buf[i] + (1.0f - tau) * ws.ThetaTarget[i]

                    state.LastTargetUpdateEpisode

            let next =
                { state with
                    Params = ws.Storage.View(state.Params, 0)
                    Target = ws.Storage.View(state.Target, p)
                    Optim = optim
                    Updates = state.Updates + 1
                    LastTargetUpdateEpisode = lastTarget
                    Workspace = ws
                }

            FusedProfile.Add(12, po)
            next, { metrics with GradNorm = norm })

    /// <summary>One learner update, as PyMARL's <c>QLearner.train</c>: the loss of the batch, its gradient clipped to
    /// the global norm, one optimiser step, then the target-network update for the given episode count.</summary>
    /// <param name="learner">The learner.</param>
    /// <param name="episode">Episodes collected so far (for hard target updates every K episodes).</param>
    /// <param name="batch">The sampled episodes.</param>
    /// <param name="state">The learner state.</param>
    /// <returns>The next state and the update's metrics.</returns>
    /// <exception cref="System.ArgumentException">The batch does not match the learner's sizes.</exception>
    let update
        (learner: Learner<'M>)
        (episode: int)
        (batch: EpisodeBatch)
        (state: LearnerState<'M>)
        : LearnerState<'M> * LearnerMetrics =
        match fusedPlan learner state.Params with
        | Some plan ->
            validateBatch learner batch
            fusedUpdate learner plan episode batch state
        | None ->
            // loss and gradient of the online parameters
            let _, grads, metrics = tapeGradients learner state batch
            // global gradient-norm clipping
            let clipped, norm = Optim.clipGradNorm learner.Config.GradNormClip grads
            // one optimiser step
            let p, optim =
                match learner.Config.Optimizer, state.Optim with
                | RmsProp cfg, RmsPropState s ->
                    let p, s = Optim.rmsprop cfg s state.Params clipped
                    p, RmsPropState s
                | Adam cfg, AdamState s ->
                    let p, s = Optim.adam cfg s state.Params clipped
                    p, AdamState s
                | o, _ -> invalidArg (nameof state) (sprintf "learner: the optimiser state does not match %A" o)

            let next =
                { state with
                    Params = p
                    Optim = optim
                    Updates = state.Updates + 1
                }
                |> updateTargets learner episode

            next, { metrics with GradNorm = norm }
