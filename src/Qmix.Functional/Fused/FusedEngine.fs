namespace Qmix.Functional

open System
open Qmix.Tensors

/// <summary>The fused engine: one update's gradient by hand-written forward and backward passes over packed,
/// time-chunked sequences, the batch in two halves on two threads. It runs the shared RNN agent with the built-in
/// QMIX, VDN or IQL mixer (read from the mixer's <c>Structure</c>), without Weighted QMIX; the learner uses the tape
/// for everything else.</summary>
[<RequireQualifiedAccess>]
module internal FusedEngine =
    /// The mixer as the fused engine runs it, with QMIX's tensors, or None when the mixer runs on the tape: one that is
    /// not an unchanged built-in one (its Forward may differ from its structure), or an opaque one.
    let private mixerOf (learner: Learner<'M>) (p: QParams<'M>) : (FusedMixer * QmixMixer option) option =
        match Mixers.builtInConfig learner.Mixer, learner.Mixer.Structure with
        | None, _
        | _, Opaque -> None
        | Some _, Hypernetworks(q, parameters) -> parameters p.Mixer |> Option.map (fun m -> FusedQmix q, Some m)
        | Some _, Summed -> Some(FusedVdn, None)
        | Some _, Unmixed -> Some(FusedIql, None)

    /// The plan of an update of these parameters, with the agent network and QMIX's tensors, when the fused engine
    /// runs it.
    let private planOf (learner: Learner<'M>) (p: QParams<'M>) =
        let cfg, spec = learner.Config, learner.Spec
        let d, s = Agent.inputDim cfg.Agent spec, Mixers.inputDim cfg.HyperInput spec

        // parameters whose sizes disagree with the settings go to the tape, which names the mismatch
        let sizesAgree (net: RnnAgent) (qmix: QmixMixer option) =
            net.Fc1.Weight.Shape[1] = d
            && net.Fc2.Weight.Shape[0] = spec.NActions
            && net.Rnn.WeightIh.Shape[1] = net.Fc1.Weight.Shape[0]
            && (match qmix with
                | Some q ->
                    q.HyperB1.Weight.Shape[1] = s
                    && q.HyperB1.Weight.Shape[0] * spec.NAgents =
                        (match q.HyperW1 with
                         | OneLayer l -> l.Weight.Shape[0]
                         | TwoLayers t -> t.Output.Weight.Shape[0])
                | None -> true)

        match cfg.Engine, cfg.Weighted, p.Central, p.Agent, mixerOf learner p with
        | Auto, None, None, Shared(RnnNet net), Some(mixer, qmix) when sizesAgree net qmix ->
            let plan =
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
                    Mixer = mixer
                    K = learner.Mixer.Outputs
                    Gamma = cfg.Gamma
                    Lambda = TdLearning.lambdaOf cfg.Target
                    DoubleQ = cfg.DoubleQ
                    LossScale = cfg.LossScale
                }

            Some(plan, net, qmix)
        | _ -> None

    /// Where each parameter starts in the flat vector of the tree's leaves.
    let private layoutOf (p: QParams<'M>) (net: RnnAgent) (qmix: QmixMixer option) : FusedLayout =
        let leaves = Tree.leaves p
        let starts = Array.scan (fun acc (t: Tensor) -> acc + t.Numel) 0 leaves

        let off (t: Tensor) =
            starts[Array.findIndex (fun l -> obj.ReferenceEquals(l, t)) leaves]

        // a hypernetwork's first layer, and its output layer (−1 with one layer)
        let hyper (h: Hypernet) =
            match h with
            | OneLayer l -> off l.Weight, off l.Bias, -1, -1
            | TwoLayers t -> off t.Hidden.Weight, off t.Hidden.Bias, off t.Output.Weight, off t.Output.Bias

        let agent =
            {
                Total = starts[leaves.Length]
                Fc1Weight = off net.Fc1.Weight
                Fc1Bias = off net.Fc1.Bias
                RnnWeightIh = off net.Rnn.WeightIh
                RnnWeightHh = off net.Rnn.WeightHh
                RnnBiasIh = off net.Rnn.BiasIh
                RnnBiasHh = off net.Rnn.BiasHh
                Fc2Weight = off net.Fc2.Weight
                Fc2Bias = off net.Fc2.Bias
                HyperW1Hidden = -1
                HyperW1HiddenBias = -1
                HyperW1Output = -1
                HyperW1OutputBias = -1
                HyperB1 = -1
                HyperB1Bias = -1
                HyperWFinalHidden = -1
                HyperWFinalHiddenBias = -1
                HyperWFinalOutput = -1
                HyperWFinalOutputBias = -1
                VHidden = -1
                VHiddenBias = -1
                VOutput = -1
                VOutputBias = -1
            }

        match qmix with
        | Some q ->
            let w1, w1B, w1o, w1oB = hyper q.HyperW1
            let wf, wfB, wfo, wfoB = hyper q.HyperWFinal

            { agent with
                HyperW1Hidden = w1
                HyperW1HiddenBias = w1B
                HyperW1Output = w1o
                HyperW1OutputBias = w1oB
                HyperB1 = off q.HyperB1.Weight
                HyperB1Bias = off q.HyperB1.Bias
                HyperWFinalHidden = wf
                HyperWFinalHiddenBias = wfB
                HyperWFinalOutput = wfo
                HyperWFinalOutputBias = wfoB
                VHidden = off q.V.Hidden.Weight
                VHiddenBias = off q.V.Hidden.Bias
                VOutput = off q.V.Output.Weight
                VOutputBias = off q.V.Output.Bias
            }
        | None -> agent

    /// The gradient by the fused passes into ws.Grad, and the metrics (GradNorm unset); ws.Theta and ws.ThetaTarget
    /// hold the parameters.
    let private gradient
        (learner: Learner<'M>)
        (plan: FusedPlan)
        (layout: FusedLayout)
        (batch: EpisodeBatch)
        (ws: LearnerWorkspace)
        : LearnerMetrics =
        let cfg = learner.Config

        let scratch =
            if isNull ws.Fused || ws.Fused.Plan <> plan || ws.Fused.Layout <> layout then
                ws.Fused <- FusedScratch(plan, layout)

            ws.Fused
        // the weights transposed once for the whole update
        let pp = FusedProfile.Now()
        scratch.Packed[0].Fill(ws.Theta, layout)
        scratch.Packed[1].Fill(ws.ThetaTarget, layout)
        FusedProfile.Add(FusedPhase.GatherPack, pp)
        // the loss normaliser: the counted steps over the whole batch, times the output width
        let maskSum = TdLearning.countedSteps batch * float32 plan.K
        // episodes by the steps they need, longest first (stable), dealt alternately to the two halves so that both
        // get as much work; steps after an episode's last counted one are skipped (they add nothing)
        let b = batch.BatchSize
        let steps = Array.init b (fun e -> FusedShard.StepsOf(batch, e))
        let order = Array.init b id |> Array.sortBy (fun e -> -steps[e], e)
        let halves = if b >= 2 then 2 else 1

        let part (i: int) =
            [| for j in i..halves .. b - 1 -> order[j] |]

        let parts = Array.init halves part

        let half (i: int) () =
            scratch.Shards[i]
                .Run(batch, parts[i], steps, ws.Theta, ws.ThetaTarget, scratch.Packed[0], scratch.Packed[1], maskSum)

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
        // the halves' gradients summed in order
        if halves = 2 then
            System.Numerics.Tensors.TensorPrimitives.Add(
                ReadOnlySpan scratch.Shards[0].Grad,
                ReadOnlySpan scratch.Shards[1].Grad,
                Span ws.Grad
            )
        else
            Array.Copy(scratch.Shards[0].Grad, ws.Grad, layout.Total)
        // the metrics, from the halves' sums in order
        let mutable loss, tdAbs, q, y = 0.0, 0.0, 0.0, 0.0

        for i in 0 .. halves - 1 do
            let sums = scratch.Shards[i].Sums
            loss <- loss + sums.Loss
            tdAbs <- tdAbs + sums.TdAbs
            q <- q + sums.Q
            y <- y + sums.Y

        let ms = float maskSum

        {
            Loss = float32 loss * (cfg.LossScale / maskSum)
            GradNorm = 0.0f
            TdErrorAbs = float32 (tdAbs / ms)
            QTakenMean = float32 (q / ms)
            TargetMean = float32 (y / ms)
            CentralLoss = 0.0f
            WeightMean = 1.0f
        }

    /// <summary>The fused engine for an update of these parameters, or None when the configuration is one it does
    /// not run (see <see cref="T:Qmix.Functional.LearnerEngine"/>).</summary>
    let tryCreate (learner: Learner<'M>) (p: QParams<'M>) : IGradientEngine<'M> option =
        planOf learner p
        |> Option.map (fun (plan, net, qmix) ->
            let layout = layoutOf p net qmix

            { new IGradientEngine<'M> with
                member _.Name = "fused"

                member _.Gradient(_, batch, ws) = gradient learner plan layout batch ws
            })
