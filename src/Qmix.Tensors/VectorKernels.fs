namespace Qmix.Tensors

#nowarn "9" // NativePtr: the AVX-512 gate kernel reads pinned spans through pointers.

open System
open System.Numerics
open System.Runtime.Intrinsics
open System.Runtime.Intrinsics.X86
open Microsoft.FSharp.NativeInterop

type private Prim = System.Numerics.Tensors.TensorPrimitives

/// Vectorised elementwise kernels of hand-written forward and backward passes: ReLU and its gradient, exp, and a GRU
/// step's gates forward and back (AVX-512 where the CPU has it, Vector<T> elsewhere).
module internal VectorKernels =
    /// x ← max(x, 0).
    let relu (x: Span<float32>) =
        if not x.IsEmpty then
            Prim.Max(Span.op_Implicit x, 0.0f, x)

    /// g ← g where x > 0, else 0.
    let reluBack (x: ReadOnlySpan<float32>) (g: Span<float32>) =
        let w = Vector<float32>.Count
        let mutable i = 0

        while i + w <= g.Length do
            let xv = Vector<float32>(x.Slice i)
            let gv = Vector<float32>(g.Slice i)

            Vector
                .ConditionalSelect(Vector.GreaterThan(xv, Vector<float32>.Zero), gv, Vector<float32>.Zero)
                .CopyTo(g.Slice i)

            i <- i + w

        while i < g.Length do
            if not (x[i] > 0.0f) then
                g[i] <- 0.0f

            i <- i + 1

    /// exp(x) lane by lane (Cephes' expf: range reduction by ln 2 in two parts, a degree-6 polynomial, the power of
    /// two put into the exponent bits); within about 2 ulp of MathF.Exp over [−87, 88], clamped outside.
    let inline vexp (x: Vector<float32>) =
        let x = Vector.Min(Vector.Max(x, Vector<float32>(-87.3f)), Vector<float32>(88.7f))

        let k =
            Vector.Floor(x * Vector<float32>(1.44269504088896341f) + Vector<float32>(0.5f))

        let r = x - k * Vector<float32>(0.693359375f) - k * Vector<float32>(-2.12194440e-4f)
        let mutable p = Vector<float32>(1.9875691500E-4f)
        p <- p * r + Vector<float32>(1.3981999507E-3f)
        p <- p * r + Vector<float32>(8.3334519073E-3f)
        p <- p * r + Vector<float32>(4.1665795894E-2f)
        p <- p * r + Vector<float32>(1.6666665459E-1f)
        p <- p * r + Vector<float32>(5.0000001201E-1f)
        let e = p * r * r + r + Vector<float32>.One
        let pow2 = Vector.ShiftLeft(Vector.ConvertToInt32 k + Vector<int>(127), 23)
        e * Vector.AsVectorSingle pow2

    /// exp(x) on AVX-512, the same algorithm as <c>vexp</c> with fused multiply-adds.
    let inline private vexp512 (x: Vector512<float32>) =
        let x =
            Vector512.Min(Vector512.Max(x, Vector512.Create(-87.3f)), Vector512.Create(88.7f))

        let k =
            Vector512.Floor(Avx512F.FusedMultiplyAdd(x, Vector512.Create(1.44269504088896341f), Vector512.Create(0.5f)))

        let r = Avx512F.FusedMultiplyAdd(k, Vector512.Create(-0.693359375f), x)
        let r = Avx512F.FusedMultiplyAdd(k, Vector512.Create(2.12194440e-4f), r)
        let mutable p = Vector512.Create(1.9875691500E-4f)
        p <- Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(1.3981999507E-3f))
        p <- Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073E-3f))
        p <- Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894E-2f))
        p <- Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459E-1f))
        p <- Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201E-1f))
        let e = Avx512F.FusedMultiplyAdd(p, r * r, r) + Vector512<float32>.One

        let pow2 =
            Vector512.ShiftLeft(Vector512.ConvertToInt32 k + Vector512.Create 127, 23)

        e * pow2.AsSingle()

    /// 1 / d on AVX-512: the 14-bit estimate refined by one Newton step (about 1 ulp), far cheaper than a division.
    let inline private recip512 (d: Vector512<float32>) =
        let r0 = Avx512F.Reciprocal14 d
        Avx512F.FusedMultiplyAdd(r0, Avx512F.FusedMultiplyAddNegated(d, r0, Vector512<float32>.One), r0)

    /// The gate pass on AVX-512 over whole 16-lane vectors; returns how many values it did.
    let private gruGatesForward512
        (
            preR: ReadOnlySpan<float32>,
            preZ: ReadOnlySpan<float32>,
            gin: ReadOnlySpan<float32>,
            ghn: ReadOnlySpan<float32>,
            hPrev: ReadOnlySpan<float32>,
            r: Span<float32>,
            z: Span<float32>,
            n: Span<float32>,
            h: Span<float32>
        ) =
        use pr = fixed preR
        use pz = fixed preZ
        use pgi = fixed gin
        use pgh = fixed ghn
        use ph = fixed hPrev
        use orr = fixed r
        use oz = fixed z
        use on = fixed n
        use oh = fixed h
        let one = Vector512<float32>.One
        let two = Vector512.Create 2.0f
        let mutable i = 0

        while i + 16 <= h.Length do
            let rv = recip512 (one + vexp512 (-Vector512.Load(NativePtr.add pr i)))
            let zv = recip512 (one + vexp512 (-Vector512.Load(NativePtr.add pz i)))

            let av =
                Avx512F.FusedMultiplyAdd(rv, Vector512.Load(NativePtr.add pgh i), Vector512.Load(NativePtr.add pgi i))
            // tanh(a) = 1 − 2 / (1 + e^{2a})
            let nv = one - two * recip512 (one + vexp512 (two * av))
            let hv = Avx512F.FusedMultiplyAdd(zv, Vector512.Load(NativePtr.add ph i) - nv, nv)
            Vector512.Store(rv, NativePtr.add orr i)
            Vector512.Store(zv, NativePtr.add oz i)
            Vector512.Store(nv, NativePtr.add on i)
            Vector512.Store(hv, NativePtr.add oh i)
            i <- i + 16

        i

    /// One GRU step's gates and output in a single vectorised pass over the step's R·H values: from the full
    /// pre-activations of r and z, the input side of n, the hidden side of n and h_{t−1}, writes r = σ(·), z = σ(·),
    /// n = tanh(gi_n + r ⊙ gh_n) and h_t = n + z ⊙ (h_{t−1} − n).
    let gruGatesForward
        (
            preR: ReadOnlySpan<float32>,
            preZ: ReadOnlySpan<float32>,
            gin: ReadOnlySpan<float32>,
            ghn: ReadOnlySpan<float32>,
            hPrev: ReadOnlySpan<float32>,
            r: Span<float32>,
            z: Span<float32>,
            n: Span<float32>,
            h: Span<float32>
        ) =
        let w = Vector<float32>.Count
        let one = Vector<float32>.One
        let two = Vector<float32>(2.0f)

        let mutable i =
            if Avx512F.IsSupported && Vector512.IsHardwareAccelerated then
                gruGatesForward512 (preR, preZ, gin, ghn, hPrev, r, z, n, h)
            else
                0

        while i + w <= h.Length do
            let rv = one / (one + vexp (-Vector<float32>(preR.Slice i)))
            let zv = one / (one + vexp (-Vector<float32>(preZ.Slice i)))
            let av = Vector<float32>(gin.Slice i) + rv * Vector<float32>(ghn.Slice i)
            // tanh(a) = 1 − 2 / (1 + e^{2a}), saturating cleanly at ±1
            let nv = one - two / (one + vexp (two * av))
            let hv = nv + zv * (Vector<float32>(hPrev.Slice i) - nv)
            rv.CopyTo(r.Slice i)
            zv.CopyTo(z.Slice i)
            nv.CopyTo(n.Slice i)
            hv.CopyTo(h.Slice i)
            i <- i + w

        while i < h.Length do
            let rv = 1.0f / (1.0f + MathF.Exp(-preR[i]))
            let zv = 1.0f / (1.0f + MathF.Exp(-preZ[i]))
            let nv = MathF.Tanh(gin[i] + rv * ghn[i])
            r[i] <- rv
            z[i] <- zv
            n[i] <- nv
            h[i] <- nv + zv * (hPrev[i] - nv)
            i <- i + 1

    /// One GRU step's gradient through the gates, vectorised over the step's R·H values: from the gradient d of
    /// h_t (overwritten with the direct part d ⊙ z), the gates r, z, n, the hidden part of n's pre-activation and
    /// h_{t−1} (empty at t = 0), writes the gate pre-activation gradients.
    let gruGatesBack
        (
            d: Span<float32>,
            r: ReadOnlySpan<float32>,
            z: ReadOnlySpan<float32>,
            n: ReadOnlySpan<float32>,
            ghn: ReadOnlySpan<float32>,
            hPrev: ReadOnlySpan<float32>,
            dgr: Span<float32>,
            dgz: Span<float32>,
            dgin: Span<float32>,
            dghn: Span<float32>
        ) =
        let w = Vector<float32>.Count
        let one = Vector<float32>.One
        let first = hPrev.IsEmpty
        let mutable i = 0

        while i + w <= d.Length do
            let dd = Vector<float32>(d.Slice i)
            let rv = Vector<float32>(r.Slice i)
            let zv = Vector<float32>(z.Slice i)
            let nv = Vector<float32>(n.Slice i)

            let hp =
                if first then
                    Vector<float32>.Zero
                else
                    Vector<float32>(hPrev.Slice i)
            // through h' = (1 − z) n + z h
            let dn = dd * (one - zv)
            let dz = dd * (hp - nv)
            // through n = tanh(a_n), a_n = gi_n + r ⊙ gh_n
            let dan = dn * (one - nv * nv)
            let dr = dan * Vector<float32>(ghn.Slice i)
            // through the sigmoids
            (dr * rv * (one - rv)).CopyTo(dgr.Slice i)
            (dz * zv * (one - zv)).CopyTo(dgz.Slice i)
            dan.CopyTo(dgin.Slice i)
            (dan * rv).CopyTo(dghn.Slice i)
            (dd * zv).CopyTo(d.Slice i)
            i <- i + w

        while i < d.Length do
            let dd = d[i]
            let rv, zv, nv = r[i], z[i], n[i]
            let hp = if first then 0.0f else hPrev[i]
            let dn = dd * (1.0f - zv)
            let dz = dd * (hp - nv)
            let dan = dn * (1.0f - nv * nv)
            let dr = dan * ghn[i]
            dgr[i] <- dr * rv * (1.0f - rv)
            dgz[i] <- dz * zv * (1.0f - zv)
            dgin[i] <- dan
            dghn[i] <- dan * rv
            d[i] <- dd * zv
            i <- i + 1
