namespace Qmix.Tensors

open System

/// <summary>RMSprop settings, with PyTorch's defaults in <c>RmsPropConfig.defaults</c> (PyMARL trains
/// QMIX with lr = 5e-4, α = 0.99, eps = 1e-5).</summary>
type RmsPropConfig =
    {
        /// <summary>Learning rate.</summary>
        Lr: float32
        /// <summary>Smoothing constant α of the running average of squared gradients.</summary>
        Alpha: float32
        /// <summary>Added to the square root of the running average (after the root, as PyTorch does).</summary>
        Eps: float32
        /// <summary>Momentum factor; 0 (the default) turns momentum off.</summary>
        Momentum: float32
    }

    /// <summary>PyTorch's defaults: lr 0.01, α 0.99, eps 1e-8, no momentum.</summary>
    static member defaults =
        {
            Lr = 0.01f
            Alpha = 0.99f
            Eps = 1e-8f
            Momentum = 0.0f
        }

/// <summary>Adam settings, with PyTorch's defaults in <c>AdamConfig.defaults</c>.</summary>
type AdamConfig =
    {
        /// <summary>Learning rate.</summary>
        Lr: float32
        /// <summary>Decay rate β₁ of the first-moment estimate.</summary>
        Beta1: float32
        /// <summary>Decay rate β₂ of the second-moment estimate.</summary>
        Beta2: float32
        /// <summary>Added to the bias-corrected root of the second moment.</summary>
        Eps: float32
    }

    /// <summary>PyTorch's defaults: lr 1e-3, β₁ 0.9, β₂ 0.999, eps 1e-8.</summary>
    static member defaults =
        {
            Lr = 1e-3f
            Beta1 = 0.9f
            Beta2 = 0.999f
            Eps = 1e-8f
        }

/// <summary>RMSprop's state: a running average of squared gradients (and a momentum buffer) per leaf.</summary>
type RmsPropState<'P> =
    {
        /// <summary>The running average of squared gradients, shaped like the parameters.</summary>
        SquareAvg: 'P
        /// <summary>The momentum buffer, shaped like the parameters (zeros while momentum is off).</summary>
        MomentumBuffer: 'P
        /// <summary>The number of steps taken.</summary>
        Step: int
    }

/// <summary>Adam's state: first and second moment estimates per leaf and the step count.</summary>
type AdamState<'P> =
    {
        /// <summary>The first-moment (mean) estimate, shaped like the parameters.</summary>
        ExpAvg: 'P
        /// <summary>The second-moment (uncentred variance) estimate, shaped like the parameters.</summary>
        ExpAvgSq: 'P
        /// <summary>The number of steps taken (used for bias correction).</summary>
        Step: int
    }

/// <summary>Optimisers as pure state transitions: (config, state, parameters, gradients) → (parameters',
/// state'). Nothing is changed in place. Formulas as PyTorch documents them.</summary>
[<RequireQualifiedAccess>]
module Optim =
    let private zerosLike (p: 'P) =
        Tree.map (fun t -> Arena.Heap(fun () -> Tensor.zeros (t.Shape.ToArray()))) p

    let private leavesOf (what: string) (p: 'P) (g: 'P) =
        let pl, gl = Tree.leaves p, Tree.leaves g

        if pl.Length <> gl.Length then
            invalidArg what (sprintf "%s: %d parameters but %d gradients" what pl.Length gl.Length)

        for i in 0 .. pl.Length - 1 do
            if pl[i].Shape <> gl[i].Shape then
                invalidArg
                    what
                    (sprintf "%s: parameter %d has shape %O, its gradient %O" what i pl[i].Shape gl[i].Shape)

        pl, gl

    let private fresh (t: Tensor) =
        Arena.Heap(fun () -> Tensor.Uninit t.Shape)

    /// <summary>One RMSprop step (PyTorch's <c>RMSprop</c>, no centring) over flat spans: parameters p, gradients g,
    /// square averages v and momentum buffers b in, their next values out (p', v', b'; equal lengths). The tree
    /// version <see cref="M:Qmix.Tensors.Optim.rmsprop"/> runs this on every leaf.</summary>
    let rmspropStep
        (
            cfg: RmsPropConfig,
            p: ReadOnlySpan<float32>,
            g: ReadOnlySpan<float32>,
            v: ReadOnlySpan<float32>,
            b: ReadOnlySpan<float32>,
            p': Span<float32>,
            v': Span<float32>,
            b': Span<float32>
        ) =
        let mutable j = 0

        // whole vectors first: the same operations per lane as the scalar loop, so the same bits
        if cfg.Momentum = 0.0f then
            let w = Numerics.Vector<float32>.Count
            let alpha = Numerics.Vector<float32>(cfg.Alpha)
            let rest = Numerics.Vector<float32>(1.0f - cfg.Alpha)
            let eps = Numerics.Vector<float32>(cfg.Eps)
            let lr = Numerics.Vector<float32>(cfg.Lr)

            while j + w <= p.Length do
                let gv = Numerics.Vector<float32>(g.Slice j)
                let sq = alpha * Numerics.Vector<float32>(v.Slice j) + rest * gv * gv
                sq.CopyTo(v'.Slice j)
                let step = gv / (Numerics.Vector.SquareRoot sq + eps)
                b.Slice(j, w).CopyTo(b'.Slice j)
                (Numerics.Vector<float32>(p.Slice j) - lr * step).CopyTo(p'.Slice j)
                j <- j + w

        while j < p.Length do
            let sq = cfg.Alpha * v[j] + (1.0f - cfg.Alpha) * g[j] * g[j]
            v'[j] <- sq
            let step = g[j] / (MathF.Sqrt sq + cfg.Eps)

            if cfg.Momentum > 0.0f then
                let buf = cfg.Momentum * b[j] + step
                b'[j] <- buf
                p'[j] <- p[j] - cfg.Lr * buf
            else
                b'[j] <- b[j]
                p'[j] <- p[j] - cfg.Lr * step

            j <- j + 1

    /// <summary>Adam's step number <paramref name="t"/> (from 1) over flat spans: parameters p, gradients g, first
    /// and second moments m and v in, their next values out (p', m', v'). The tree version
    /// <see cref="M:Qmix.Tensors.Optim.adam"/> runs this on every leaf.</summary>
    let adamStep
        (
            cfg: AdamConfig,
            t: int,
            p: ReadOnlySpan<float32>,
            g: ReadOnlySpan<float32>,
            m: ReadOnlySpan<float32>,
            v: ReadOnlySpan<float32>,
            p': Span<float32>,
            m': Span<float32>,
            v': Span<float32>
        ) =
        let bc1 = 1.0 - Math.Pow(float cfg.Beta1, float t)
        let bc2 = 1.0 - Math.Pow(float cfg.Beta2, float t)
        let stepSize = float32 (float cfg.Lr / bc1)
        let bc2Sqrt = float32 (Math.Sqrt bc2)

        for j in 0 .. p.Length - 1 do
            let mj = cfg.Beta1 * m[j] + (1.0f - cfg.Beta1) * g[j]
            let vj = cfg.Beta2 * v[j] + (1.0f - cfg.Beta2) * g[j] * g[j]
            m'[j] <- mj
            v'[j] <- vj
            p'[j] <- p[j] - stepSize * mj / (MathF.Sqrt vj / bc2Sqrt + cfg.Eps)

    /// <summary>A fresh RMSprop state for parameters shaped like <paramref name="parameters"/>.</summary>
    let rmspropInit (parameters: 'P) : RmsPropState<'P> =
        {
            SquareAvg = zerosLike parameters
            MomentumBuffer = zerosLike parameters
            Step = 0
        }

    /// <summary>One RMSprop step: v ← αv + (1 − α)g²; with momentum b ← μb + g / (√v + eps), p ← p − lr·b;
    /// without, p ← p − lr·g / (√v + eps).</summary>
    let rmsprop (cfg: RmsPropConfig) (state: RmsPropState<'P>) (parameters: 'P) (grads: 'P) : 'P * RmsPropState<'P> =
        let pl, gl = leavesOf "rmsprop" parameters grads
        let vl, bl = Tree.leaves state.SquareAvg, Tree.leaves state.MomentumBuffer
        let np, nv, nb = Array.map fresh pl, Array.map fresh pl, Array.map fresh pl

        for i in 0 .. pl.Length - 1 do
            let p = pl[i].Span
            let g = gl[i].Span
            let v = vl[i].Span
            let b = bl[i].Span
            let p' = np[i].WritableSpan
            let v' = nv[i].WritableSpan
            let b' = nb[i].WritableSpan

            rmspropStep (cfg, p, g, v, b, p', v', b')

        Tree.rebuild parameters np,
        {
            SquareAvg = Tree.rebuild state.SquareAvg nv
            MomentumBuffer = Tree.rebuild state.MomentumBuffer nb
            Step = state.Step + 1
        }

    /// <summary>A fresh Adam state for parameters shaped like <paramref name="parameters"/>.</summary>
    let adamInit (parameters: 'P) : AdamState<'P> =
        {
            ExpAvg = zerosLike parameters
            ExpAvgSq = zerosLike parameters
            Step = 0
        }

    /// <summary>One Adam step: m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², then with t the new step count
    /// p ← p − lr · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + eps).</summary>
    let adam (cfg: AdamConfig) (state: AdamState<'P>) (parameters: 'P) (grads: 'P) : 'P * AdamState<'P> =
        let pl, gl = leavesOf "adam" parameters grads
        let ml, vl = Tree.leaves state.ExpAvg, Tree.leaves state.ExpAvgSq
        let np, nm, nv = Array.map fresh pl, Array.map fresh pl, Array.map fresh pl
        let t = state.Step + 1

        for i in 0 .. pl.Length - 1 do
            let p = pl[i].Span
            let g = gl[i].Span
            let m = ml[i].Span
            let v = vl[i].Span
            let p' = np[i].WritableSpan
            let m' = nm[i].WritableSpan
            let v' = nv[i].WritableSpan

            adamStep (cfg, t, p, g, m, v, p', m', v')

        Tree.rebuild parameters np,
        {
            ExpAvg = Tree.rebuild state.ExpAvg nm
            ExpAvgSq = Tree.rebuild state.ExpAvgSq nv
            Step = t
        }

    /// <summary>The global L2 norm of every leaf of a gradient tree, √(Σ g²), accumulated in float64.</summary>
    let globalNorm (grads: 'P) : float32 =
        let mutable s = 0.0

        for t in Tree.leaves grads do
            let g = t.Span

            for j in 0 .. g.Length - 1 do
                s <- s + float g[j] * float g[j]

        float32 (Math.Sqrt s)

    /// <summary>Scales gradients so that their global norm is at most <paramref name="maxNorm"/> (PyTorch's
    /// <c>clip_grad_norm_</c>: factor min(1, maxNorm / (norm + 1e-6))).</summary>
    /// <returns>The clipped gradients and the norm before clipping.</returns>
    let clipGradNorm (maxNorm: float32) (grads: 'P) : 'P * float32 =
        if not (maxNorm > 0.0f) then
            invalidArg (nameof maxNorm) (sprintf "clipGradNorm: maxNorm must be positive, got %g" maxNorm)

        let norm = globalNorm grads
        let coef = maxNorm / (norm + 1e-6f)

        if coef < 1.0f then
            Arena.Heap(fun () -> Tree.map (Tensor.mulScalar coef) grads), norm
        else
            grads, norm
