namespace Qmix.Functional

open System
open Qmix.Tensors

/// <summary>QMIX's learner (PyMARL's <c>QLearner</c>, with pymarl2's TD(λ) and Weighted QMIX's <c>MaxQLearner</c>)
/// as pure functions.</summary>
[<RequireQualifiedAccess>]
module Learner =
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

    /// Per (t, b, agent): the greedy action among the available ones (first on ties), over all T' steps; qs is
    /// time-major [T', B, N, A], avail batch-major [B, T', N, A].
    let private greedy (qs: float32[]) (avail: float32[]) (b: int) (t: int) (n: int) (a: int) =
        let out = Array.zeroCreate (t * b * n)

        for k in 0 .. t - 1 do
            for e in 0 .. b - 1 do
                for i in 0 .. n - 1 do
                    let row = (k * b + e) * n + i
                    out[row] <- TdLearning.greedy qs (row * a) avail (((e * t + k) * n + i) * a) a

        out

    /// Per (t, b, agent): the value of the given actions, [T', B, N] time-major.
    let private pick (qs: float32[]) (actions: int[]) (a: int) =
        Array.init actions.Length (fun r -> qs[r * a + actions[r]])

    /// The targets y [T, B, K] (time-major) from target values at every index [T', B, K], backwards through time.
    let private targets (cfg: LearnerConfig) (batch: EpisodeBatch) (mask: float32[]) (next: float32[]) (kOut: int) =
        let b, t1 = batch.BatchSize, batch.MaxSeqLength
        let t = t1 - 1
        let lambda = TdLearning.lambdaOf cfg.Target
        let y = Array.zeroCreate (t * b * kOut)

        for k in t - 1 .. -1 .. 0 do
            for e in 0 .. b - 1 do
                let lastCounted = k + 1 = t || mask[(k + 1) * b + e] = 0.0f

                for j in 0 .. kOut - 1 do
                    let yNext =
                        if lastCounted then
                            0.0f
                        else
                            y[((k + 1) * b + e) * kOut + j]

                    y[(k * b + e) * kOut + j] <-
                        TdLearning.target
                            cfg.Gamma
                            lambda
                            batch.Reward[e * t1 + k]
                            batch.Terminated[e * t1 + k]
                            lastCounted
                            next[((k + 1) * b + e) * kOut + j]
                            yNext

        y

    /// The loss mask [T, B] (time-major): filled steps up to and including the terminal one.
    let private lossMask (batch: EpisodeBatch) =
        let b, t1 = batch.BatchSize, batch.MaxSeqLength
        let t = t1 - 1
        let mask = Array.zeroCreate (t * b)

        for e in 0 .. b - 1 do
            for k in 0 .. t - 1 do
                mask[k * b + e] <- EpisodeBatch.maskAt batch e k

        mask

    /// Repeats each of the T·B mask values K times, [T, B, K].
    let private expand (mask: float32[]) (kOut: int) =
        Array.init (mask.Length * kOut) (fun i -> mask[i / kOut])

    /// The metrics of a loss: means over counted steps of |TD error|, Q_tot, targets and weights.
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
    /// targets are constants), written as PyMARL's learner computes it: what the tape engine differentiates with
    /// <c>Autodiff.valueGradAux</c>, and a way to evaluate the loss of any parameters on a batch without updating
    /// them; <see cref="M:Qmix.Functional.Learner.update"/> is the usual entry point.</summary>
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
        let maskSum = TdLearning.countedSteps batch * float32 kOut

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

    /// Copies a tree's leaves back to back into a flat vector.
    let private gather (tree: 'P) (dst: float32[]) =
        let mutable at = 0

        for t in Tree.leaves tree do
            t.Span.CopyTo(Span(dst, at, t.Numel))
            at <- at + t.Numel

    /// The tape engine: the loss above differentiated by reverse mode, its gradient tree flattened.
    let private tape (learner: Learner<'M>) : IGradientEngine<'M> =
        { new IGradientEngine<'M> with
            member _.Name = "tape"

            member _.Gradient(state, batch, ws) =
                let _, grads, metrics =
                    Autodiff.valueGradAux (loss learner state.Target batch) state.Params

                gather grads ws.Grad
                metrics
        }

    /// The engine of an update of these parameters: the fused one where it applies (see LearnerEngine), else the tape.
    let private engineFor (learner: Learner<'M>) (p: QParams<'M>) : IGradientEngine<'M> =
        match FusedEngine.tryCreate learner p with
        | Some fused -> fused
        | None -> tape learner

    /// <summary>Whether updates of these parameters run fused (see <see cref="T:Qmix.Functional.LearnerEngine"/>): the
    /// fused update skips every step after an episode's last counted one, so batches may be stacked at full length.</summary>
    let runsFused (learner: Learner<'M>) (p: QParams<'M>) : bool =
        (FusedEngine.tryCreate learner p).IsSome

    /// The online and target parameters gathered into the workspace's flat vectors.
    let private gatherParams (state: LearnerState<'M>) (ws: LearnerWorkspace) =
        let pg = FusedProfile.Now()
        ws.Prepare((Tree.leaves state.Params) |> Array.sumBy (fun t -> t.Numel))
        gather state.Params ws.Theta
        gather state.Target ws.ThetaTarget
        FusedProfile.Add(FusedPhase.GatherPack, pg)

    /// <summary>The loss, its gradient with respect to the online parameters, and the metrics (GradNorm unset): by the
    /// fused passes where the configuration allows (see <see cref="T:Qmix.Functional.LearnerEngine"/>), else on the
    /// gradient tape.</summary>
    let gradients
        (learner: Learner<'M>)
        (state: LearnerState<'M>)
        (batch: EpisodeBatch)
        : float32 * QParams<'M> * LearnerMetrics =
        validateBatch learner batch
        let ws = LearnerWorkspace()

        lock ws (fun () ->
            gatherParams state ws
            let metrics = (engineFor learner state.Params).Gradient(state, batch, ws)
            let mutable at = 0

            let leaves =
                Tree.leaves state.Params
                |> Array.map (fun t ->
                    let g = Tensor.ofArray (t.Shape.ToArray()) (Array.sub ws.Grad at t.Numel)
                    at <- at + t.Numel
                    g)

            metrics.Loss, Tree.rebuild state.Params leaves, metrics)

    /// Global gradient-norm clipping of a flat gradient in place (PyTorch's clip_grad_norm_); returns the norm
    /// before clipping.
    let private clip (maxNorm: float32) (grad: float32[]) =
        let mutable sq = 0.0

        for v in grad do
            sq <- sq + float v * float v

        let norm = float32 (Math.Sqrt sq)
        let coef = maxNorm / (norm + 1e-6f)

        if coef < 1.0f then
            System.Numerics.Tensors.TensorPrimitives.Multiply(ReadOnlySpan grad, coef, Span grad)

        norm

    /// One optimiser step over the flat vectors, written into buf: θ' at 0, the optimiser's state at 2p and 3p.
    let private step (cfg: LearnerConfig) (state: LearnerState<'M>) (ws: LearnerWorkspace) (buf: float32[]) =
        let p = ws.Theta.Length

        match state.Optim with
        | RmsPropState s ->
            gather s.SquareAvg ws.Opt1
            gather s.MomentumBuffer ws.Opt2
        | AdamState s ->
            gather s.ExpAvg ws.Opt1
            gather s.ExpAvgSq ws.Opt2

        match cfg.Optimizer, state.Optim with
        | RmsProp o, RmsPropState s ->
            Optim.rmspropStep (
                o,
                ReadOnlySpan ws.Theta,
                ReadOnlySpan ws.Grad,
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
                ReadOnlySpan ws.Grad,
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

    /// The target parameters after an update, written into buf at p: a hard copy of the new online parameters when
    /// enough episodes have passed, Polyak averaging, or unchanged; returns the episode of the last hard copy.
    let private updateTargets
        (cfg: LearnerConfig)
        (episode: int)
        (state: LearnerState<'M>)
        (ws: LearnerWorkspace)
        (buf: float32[])
        =
        let p = ws.Theta.Length

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

    /// <summary>One learner update, as PyMARL's <c>QLearner.train</c>: the loss of the batch and its gradient (by the
    /// fused engine where it applies, else on the tape), the gradient clipped to the global norm, one optimiser step,
    /// then the target-network update for the given episode count. The new state's tensors are written into the
    /// storage of the state's workspace (see <see cref="M:Qmix.Functional.Learner.recycling"/>).</summary>
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
        validateBatch learner batch
        let cfg = learner.Config

        let ws =
            if isNull state.Workspace then
                LearnerWorkspace()
            else
                state.Workspace

        lock ws (fun () ->
            // the online and target parameters as flat vectors
            gatherParams state ws
            // loss and gradient of the online parameters
            let metrics = (engineFor learner state.Params).Gradient(state, batch, ws)
            let po = FusedProfile.Now()
            // global gradient-norm clipping
            let norm = clip cfg.GradNormClip ws.Grad
            // one optimiser step, into the next generation of storage: [θ | θ_target | optimiser state]
            let p = ws.Theta.Length
            let buf = ws.Storage.Next(4 * p, (Tree.leaves state.Params)[0])
            let optim = step cfg state ws buf
            // the target networks
            let lastTarget = updateTargets cfg episode state ws buf

            let next =
                { state with
                    Params = ws.Storage.View(state.Params, 0)
                    Target = ws.Storage.View(state.Target, p)
                    Optim = optim
                    Updates = state.Updates + 1
                    LastTargetUpdateEpisode = lastTarget
                    Workspace = ws
                }

            FusedProfile.Add(FusedPhase.Optimise, po)
            next, { metrics with GradNorm = norm })

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
