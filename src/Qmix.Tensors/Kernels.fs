namespace Qmix.Tensors

#nowarn "9" // NativePtr: the inner loops read pinned spans through pointers, without bounds checks.

open System
open System.Runtime.CompilerServices
open System.Runtime.Intrinsics
open System.Runtime.Intrinsics.X86
open Microsoft.FSharp.NativeInterop

/// <summary>Per-thread scratch memory of the matmul kernels: the packed panel of B and one output tile.
/// Grown when a call needs more, never shrunk, so steady-state calls allocate nothing.</summary>
[<Sealed; AbstractClass>]
type internal KernelScratch =
    [<ThreadStatic; DefaultValue>]
    static val mutable private buffer: float32[]

    /// A buffer of at least <c>size</c> elements, owned by the calling thread.
    static member Get(size: int) : float32[] =
        let b = KernelScratch.buffer

        if not (isNull b) && b.Length >= size then
            b
        else
            let grown = Array.zeroCreate (max size (if isNull b then 0 else 2 * b.Length))
            KernelScratch.buffer <- grown
            grown

/// <summary>Dense single-precision matrix products on spans: row-major matrices, no strides, no threads.
/// The three layouts cover a linear layer: <c>matmulNT</c> is its forward x·Wᵀ, <c>matmulNN</c> the
/// gradient of its input g·W, <c>matmulTN</c> the gradient of its weight gᵀ·x.</summary>
/// <remarks>Every element of C is one fused multiply-add chain over k = 0 .. K-1 that starts from zero,
/// added to the old C only at the end when accumulating. The order depends on the sizes alone, so equal
/// inputs give bit-identical outputs on every call and on every instruction set.</remarks>
[<RequireQualifiedAccess>]
module Kernels =

    /// <summary>The instruction set a kernel runs on.</summary>
    [<RequireQualifiedAccess>]
    type Isa =
        /// <summary>AVX-512: 8×32 and 4×32 register tiles of <c>Vector512</c> with fused multiply-add (16 wide for a narrow last panel).</summary>
        | Vector512
        /// <summary>AVX2 with FMA: 4×16 register tiles of <c>Vector256</c>.</summary>
        | Vector256
        /// <summary>Portable scalar code.</summary>
        | Scalar

    /// The layout of the operands: which of A and B are stored transposed.
    type internal Layout =
        | NN
        | NT
        | TN

    /// <summary>The fastest instruction set this machine accelerates.</summary>
    let bestIsa: Isa =
        if Vector512.IsHardwareAccelerated then
            Isa.Vector512
        elif Vector256.IsHardwareAccelerated && Fma.IsSupported then
            Isa.Vector256
        else
            Isa.Scalar

    /// <summary>The given instruction set where this machine accelerates it, else the best one below it that it
    /// does (AVX-512 falls back to AVX2 with FMA, then to scalar code).</summary>
    let supported (isa: Isa) : Isa =
        match isa with
        | Isa.Vector512 when Vector512.IsHardwareAccelerated -> Isa.Vector512
        | Isa.Vector512
        | Isa.Vector256 when Vector256.IsHardwareAccelerated && Fma.IsSupported -> Isa.Vector256
        | _ -> Isa.Scalar

    /// <summary>The instruction set the kernels use on this machine: "Vector512", "Vector256" or "Scalar".</summary>
    let activeIsa: string =
        match bestIsa with
        | Isa.Vector512 -> "Vector512"
        | Isa.Vector256 -> "Vector256"
        | Isa.Scalar -> "Scalar"

    // ---------------------------------------------------------------- argument checks

    let private fail (name: string) (shape: string) (rows: int) (cols: int) (has: int) =
        let need = int64 rows * int64 cols

        raise (
            ArgumentException(
                sprintf "Operand %s %s = %d×%d needs at least %d elements but has %d." name shape rows cols need has,
                name
            )
        )

    /// Checks the sizes and the span lengths; transA/transB say whether A is stored [k,m] and B [n,k].
    let private check (m: int, k: int, n: int, aLen: int, bLen: int, cLen: int, transA: bool, transB: bool) =
        if m < 0 || k < 0 || n < 0 then
            raise (ArgumentException(sprintf "Matrix sizes must be non-negative but are m=%d, k=%d, n=%d." m k n))

        if int64 aLen < int64 m * int64 k then
            if transA then
                fail "a" "[k,m]" k m aLen
            else
                fail "a" "[m,k]" m k aLen

        if int64 bLen < int64 k * int64 n then
            if transB then
                fail "b" "[n,k]" n k bLen
            else
                fail "b" "[k,n]" k n bLen

        if int64 cLen < int64 m * int64 n then
            fail "c" "[m,n]" m n cLen

    // ---------------------------------------------------------------- packing B

    /// dst[q*ldd + r] = src[r*lds + q] for an 8×8 block (AVX).
    let inline private transpose8x8 (src: nativeptr<float32>, lds: int, dst: nativeptr<float32>, ldd: int) =
        let r0 = Vector256.Load src
        let r1 = Vector256.Load(NativePtr.add src lds)
        let r2 = Vector256.Load(NativePtr.add src (2 * lds))
        let r3 = Vector256.Load(NativePtr.add src (3 * lds))
        let r4 = Vector256.Load(NativePtr.add src (4 * lds))
        let r5 = Vector256.Load(NativePtr.add src (5 * lds))
        let r6 = Vector256.Load(NativePtr.add src (6 * lds))
        let r7 = Vector256.Load(NativePtr.add src (7 * lds))
        let t0 = Avx.UnpackLow(r0, r1)
        let t1 = Avx.UnpackHigh(r0, r1)
        let t2 = Avx.UnpackLow(r2, r3)
        let t3 = Avx.UnpackHigh(r2, r3)
        let t4 = Avx.UnpackLow(r4, r5)
        let t5 = Avx.UnpackHigh(r4, r5)
        let t6 = Avx.UnpackLow(r6, r7)
        let t7 = Avx.UnpackHigh(r6, r7)
        let u0 = Avx.Shuffle(t0, t2, 0x44uy)
        let u1 = Avx.Shuffle(t0, t2, 0xEEuy)
        let u2 = Avx.Shuffle(t1, t3, 0x44uy)
        let u3 = Avx.Shuffle(t1, t3, 0xEEuy)
        let u4 = Avx.Shuffle(t4, t6, 0x44uy)
        let u5 = Avx.Shuffle(t4, t6, 0xEEuy)
        let u6 = Avx.Shuffle(t5, t7, 0x44uy)
        let u7 = Avx.Shuffle(t5, t7, 0xEEuy)
        Vector256.Store(Avx.Permute2x128(u0, u4, 0x20uy), dst)
        Vector256.Store(Avx.Permute2x128(u1, u5, 0x20uy), NativePtr.add dst ldd)
        Vector256.Store(Avx.Permute2x128(u2, u6, 0x20uy), NativePtr.add dst (2 * ldd))
        Vector256.Store(Avx.Permute2x128(u3, u7, 0x20uy), NativePtr.add dst (3 * ldd))
        Vector256.Store(Avx.Permute2x128(u0, u4, 0x31uy), NativePtr.add dst (4 * ldd))
        Vector256.Store(Avx.Permute2x128(u1, u5, 0x31uy), NativePtr.add dst (5 * ldd))
        Vector256.Store(Avx.Permute2x128(u2, u6, 0x31uy), NativePtr.add dst (6 * ldd))
        Vector256.Store(Avx.Permute2x128(u3, u7, 0x31uy), NativePtr.add dst (7 * ldd))

    /// Packs columns j0 .. j0+nr-1 of the logical B[K,N] into dst as K rows of width w (zero beyond nr).
    let private packB
        (layout: Layout, k: int, n: int, b: nativeptr<float32>, j0: int, nr: int, w: int, dst: nativeptr<float32>)
        =
        match layout with
        | NT ->
            // B is stored [N,K]: dst[p*w + jj] = b[(j0+jj)*k + p], by 8×8 blocks where they fit.
            let mutable jj = 0

            if Avx.IsSupported then
                while jj + 8 <= nr do
                    let src = NativePtr.add b ((j0 + jj) * k)
                    let mutable p = 0

                    while p + 8 <= k do
                        transpose8x8 (NativePtr.add src p, k, NativePtr.add dst (p * w + jj), w)
                        p <- p + 8

                    while p < k do
                        let d = NativePtr.add dst (p * w + jj)

                        for r in 0..7 do
                            NativePtr.set d r (NativePtr.get src (r * k + p))

                        p <- p + 1

                    jj <- jj + 8

            while jj < nr do
                let src = NativePtr.add b ((j0 + jj) * k)
                let mutable d = NativePtr.add dst jj
                let mutable p = 0

                while p < k do
                    NativePtr.write d (NativePtr.get src p)
                    d <- NativePtr.add d w
                    p <- p + 1

                jj <- jj + 1
        | NN
        | TN ->
            // B is stored [K,N]: copy row segments.
            let mutable p = 0

            while p < k do
                let src = NativePtr.add b (p * n + j0)
                let d = NativePtr.add dst (p * w)
                let mutable jj = 0

                while jj < nr do
                    NativePtr.set d jj (NativePtr.get src jj)
                    jj <- jj + 1

                p <- p + 1

        if nr < w then
            let mutable p = 0

            while p < k do
                let d = NativePtr.add dst (p * w)
                let mutable jj = nr

                while jj < w do
                    NativePtr.set d jj 0.0f
                    jj <- jj + 1

                p <- p + 1

    /// Writes a tile computed into tmp (row width w) to C: C = tile or C += tile on mr×nr elements.
    let private storeTile
        (tmp: nativeptr<float32>, w: int, mr: int, nr: int, c: nativeptr<float32>, ldc: int, accumulate: bool)
        =
        let mutable r = 0

        while r < mr do
            let s = NativePtr.add tmp (r * w)
            let d = NativePtr.add c (r * ldc)
            let mutable j = 0

            if accumulate then
                while j < nr do
                    NativePtr.set d j (NativePtr.get d j + NativePtr.get s j)
                    j <- j + 1
            else
                while j < nr do
                    NativePtr.set d j (NativePtr.get s j)
                    j <- j + 1

            r <- r + 1

    // ---------------------------------------------------------------- Vector512 micro-kernels

    /// C[8,32] (row stride ldc) = Σp A(r,p)·B[p,0..31], A(r,p) = ar[p*ps], B row stride ldb.
    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private tile512x8
        (
            a0: nativeptr<float32>,
            a1: nativeptr<float32>,
            a2: nativeptr<float32>,
            a3: nativeptr<float32>,
            a4: nativeptr<float32>,
            a5: nativeptr<float32>,
            a6: nativeptr<float32>,
            a7: nativeptr<float32>,
            ps: int,
            bp: nativeptr<float32>,
            ldb: int,
            k: int,
            c: nativeptr<float32>,
            ldc: int,
            accumulate: bool
        ) =
        let mutable c00 = Vector512<float32>.Zero
        let mutable c01 = Vector512<float32>.Zero
        let mutable c10 = Vector512<float32>.Zero
        let mutable c11 = Vector512<float32>.Zero
        let mutable c20 = Vector512<float32>.Zero
        let mutable c21 = Vector512<float32>.Zero
        let mutable c30 = Vector512<float32>.Zero
        let mutable c31 = Vector512<float32>.Zero
        let mutable c40 = Vector512<float32>.Zero
        let mutable c41 = Vector512<float32>.Zero
        let mutable c50 = Vector512<float32>.Zero
        let mutable c51 = Vector512<float32>.Zero
        let mutable c60 = Vector512<float32>.Zero
        let mutable c61 = Vector512<float32>.Zero
        let mutable c70 = Vector512<float32>.Zero
        let mutable c71 = Vector512<float32>.Zero
        let mutable pb = bp
        let mutable o = 0
        let mutable p = 0

        while p < k do
            let b0 = Vector512.Load pb
            let b1 = Vector512.Load(NativePtr.add pb 16)
            let x0 = Vector512.Create(NativePtr.get a0 o)
            c00 <- Vector512.FusedMultiplyAdd(x0, b0, c00)
            c01 <- Vector512.FusedMultiplyAdd(x0, b1, c01)
            let x1 = Vector512.Create(NativePtr.get a1 o)
            c10 <- Vector512.FusedMultiplyAdd(x1, b0, c10)
            c11 <- Vector512.FusedMultiplyAdd(x1, b1, c11)
            let x2 = Vector512.Create(NativePtr.get a2 o)
            c20 <- Vector512.FusedMultiplyAdd(x2, b0, c20)
            c21 <- Vector512.FusedMultiplyAdd(x2, b1, c21)
            let x3 = Vector512.Create(NativePtr.get a3 o)
            c30 <- Vector512.FusedMultiplyAdd(x3, b0, c30)
            c31 <- Vector512.FusedMultiplyAdd(x3, b1, c31)
            let x4 = Vector512.Create(NativePtr.get a4 o)
            c40 <- Vector512.FusedMultiplyAdd(x4, b0, c40)
            c41 <- Vector512.FusedMultiplyAdd(x4, b1, c41)
            let x5 = Vector512.Create(NativePtr.get a5 o)
            c50 <- Vector512.FusedMultiplyAdd(x5, b0, c50)
            c51 <- Vector512.FusedMultiplyAdd(x5, b1, c51)
            let x6 = Vector512.Create(NativePtr.get a6 o)
            c60 <- Vector512.FusedMultiplyAdd(x6, b0, c60)
            c61 <- Vector512.FusedMultiplyAdd(x6, b1, c61)
            let x7 = Vector512.Create(NativePtr.get a7 o)
            c70 <- Vector512.FusedMultiplyAdd(x7, b0, c70)
            c71 <- Vector512.FusedMultiplyAdd(x7, b1, c71)
            pb <- NativePtr.add pb ldb
            o <- o + ps
            p <- p + 1

        let inline put (row: int) (v0: Vector512<float32>) (v1: Vector512<float32>) =
            let d = NativePtr.add c (row * ldc)
            let d1 = NativePtr.add d 16

            if accumulate then
                Vector512.Store(Vector512.Load d + v0, d)
                Vector512.Store(Vector512.Load d1 + v1, d1)
            else
                Vector512.Store(v0, d)
                Vector512.Store(v1, d1)

        put 0 c00 c01
        put 1 c10 c11
        put 2 c20 c21
        put 3 c30 c31
        put 4 c40 c41
        put 5 c50 c51
        put 6 c60 c61
        put 7 c70 c71

    /// C[4,32] (row stride ldc) = Σp A(r,p)·B[p,0..31], A(r,p) = ar[p*ps], B row stride ldb.
    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private tile512x4
        (
            a0: nativeptr<float32>,
            a1: nativeptr<float32>,
            a2: nativeptr<float32>,
            a3: nativeptr<float32>,
            ps: int,
            bp: nativeptr<float32>,
            ldb: int,
            k: int,
            c: nativeptr<float32>,
            ldc: int,
            accumulate: bool
        ) =
        let mutable c00 = Vector512<float32>.Zero
        let mutable c01 = Vector512<float32>.Zero
        let mutable c10 = Vector512<float32>.Zero
        let mutable c11 = Vector512<float32>.Zero
        let mutable c20 = Vector512<float32>.Zero
        let mutable c21 = Vector512<float32>.Zero
        let mutable c30 = Vector512<float32>.Zero
        let mutable c31 = Vector512<float32>.Zero
        let mutable pb = bp
        let mutable o = 0
        let mutable p = 0

        while p < k do
            let b0 = Vector512.Load pb
            let b1 = Vector512.Load(NativePtr.add pb 16)
            let x0 = Vector512.Create(NativePtr.get a0 o)
            c00 <- Vector512.FusedMultiplyAdd(x0, b0, c00)
            c01 <- Vector512.FusedMultiplyAdd(x0, b1, c01)
            let x1 = Vector512.Create(NativePtr.get a1 o)
            c10 <- Vector512.FusedMultiplyAdd(x1, b0, c10)
            c11 <- Vector512.FusedMultiplyAdd(x1, b1, c11)
            let x2 = Vector512.Create(NativePtr.get a2 o)
            c20 <- Vector512.FusedMultiplyAdd(x2, b0, c20)
            c21 <- Vector512.FusedMultiplyAdd(x2, b1, c21)
            let x3 = Vector512.Create(NativePtr.get a3 o)
            c30 <- Vector512.FusedMultiplyAdd(x3, b0, c30)
            c31 <- Vector512.FusedMultiplyAdd(x3, b1, c31)
            pb <- NativePtr.add pb ldb
            o <- o + ps
            p <- p + 1

        let inline put (row: int) (v0: Vector512<float32>) (v1: Vector512<float32>) =
            let d = NativePtr.add c (row * ldc)
            let d1 = NativePtr.add d 16

            if accumulate then
                Vector512.Store(Vector512.Load d + v0, d)
                Vector512.Store(Vector512.Load d1 + v1, d1)
            else
                Vector512.Store(v0, d)
                Vector512.Store(v1, d1)

        put 0 c00 c01
        put 1 c10 c11
        put 2 c20 c21
        put 3 c30 c31

    /// C[8,16] (row stride ldc) = Σp A(r,p)·B[p,0..15]: the 8×32 tile for a narrow last panel.
    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private tile512x8n16
        (
            a0: nativeptr<float32>,
            a1: nativeptr<float32>,
            a2: nativeptr<float32>,
            a3: nativeptr<float32>,
            a4: nativeptr<float32>,
            a5: nativeptr<float32>,
            a6: nativeptr<float32>,
            a7: nativeptr<float32>,
            ps: int,
            bp: nativeptr<float32>,
            ldb: int,
            k: int,
            c: nativeptr<float32>,
            ldc: int,
            accumulate: bool
        ) =
        let mutable c0 = Vector512<float32>.Zero
        let mutable c1 = Vector512<float32>.Zero
        let mutable c2 = Vector512<float32>.Zero
        let mutable c3 = Vector512<float32>.Zero
        let mutable c4 = Vector512<float32>.Zero
        let mutable c5 = Vector512<float32>.Zero
        let mutable c6 = Vector512<float32>.Zero
        let mutable c7 = Vector512<float32>.Zero
        let mutable pb = bp
        let mutable o = 0
        let mutable p = 0

        while p < k do
            let b0 = Vector512.Load pb
            c0 <- Vector512.FusedMultiplyAdd(Vector512.Create(NativePtr.get a0 o), b0, c0)
            c1 <- Vector512.FusedMultiplyAdd(Vector512.Create(NativePtr.get a1 o), b0, c1)
            c2 <- Vector512.FusedMultiplyAdd(Vector512.Create(NativePtr.get a2 o), b0, c2)
            c3 <- Vector512.FusedMultiplyAdd(Vector512.Create(NativePtr.get a3 o), b0, c3)
            c4 <- Vector512.FusedMultiplyAdd(Vector512.Create(NativePtr.get a4 o), b0, c4)
            c5 <- Vector512.FusedMultiplyAdd(Vector512.Create(NativePtr.get a5 o), b0, c5)
            c6 <- Vector512.FusedMultiplyAdd(Vector512.Create(NativePtr.get a6 o), b0, c6)
            c7 <- Vector512.FusedMultiplyAdd(Vector512.Create(NativePtr.get a7 o), b0, c7)
            pb <- NativePtr.add pb ldb
            o <- o + ps
            p <- p + 1

        let inline put (row: int) (v: Vector512<float32>) =
            let d = NativePtr.add c (row * ldc)

            if accumulate then
                Vector512.Store(Vector512.Load d + v, d)
            else
                Vector512.Store(v, d)

        put 0 c0
        put 1 c1
        put 2 c2
        put 3 c3
        put 4 c4
        put 5 c5
        put 6 c6
        put 7 c7

    /// C[4,16] (row stride ldc) = Σp A(r,p)·B[p,0..15]: the 4×32 tile for a narrow last panel.
    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private tile512x4n16
        (
            a0: nativeptr<float32>,
            a1: nativeptr<float32>,
            a2: nativeptr<float32>,
            a3: nativeptr<float32>,
            ps: int,
            bp: nativeptr<float32>,
            ldb: int,
            k: int,
            c: nativeptr<float32>,
            ldc: int,
            accumulate: bool
        ) =
        let mutable c0 = Vector512<float32>.Zero
        let mutable c1 = Vector512<float32>.Zero
        let mutable c2 = Vector512<float32>.Zero
        let mutable c3 = Vector512<float32>.Zero
        let mutable pb = bp
        let mutable o = 0
        let mutable p = 0

        while p < k do
            let b0 = Vector512.Load pb
            c0 <- Vector512.FusedMultiplyAdd(Vector512.Create(NativePtr.get a0 o), b0, c0)
            c1 <- Vector512.FusedMultiplyAdd(Vector512.Create(NativePtr.get a1 o), b0, c1)
            c2 <- Vector512.FusedMultiplyAdd(Vector512.Create(NativePtr.get a2 o), b0, c2)
            c3 <- Vector512.FusedMultiplyAdd(Vector512.Create(NativePtr.get a3 o), b0, c3)
            pb <- NativePtr.add pb ldb
            o <- o + ps
            p <- p + 1

        let inline put (row: int) (v: Vector512<float32>) =
            let d = NativePtr.add c (row * ldc)

            if accumulate then
                Vector512.Store(Vector512.Load d + v, d)
            else
                Vector512.Store(v, d)

        put 0 c0
        put 1 c1
        put 2 c2
        put 3 c3

    // ---------------------------------------------------------------- Vector256 micro-kernel

    /// C[4,16] (row stride ldc) = Σp A(r,p)·B[p,0..15], A(r,p) = ar[p*ps], B row stride ldb.
    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private tile256x4
        (
            a0: nativeptr<float32>,
            a1: nativeptr<float32>,
            a2: nativeptr<float32>,
            a3: nativeptr<float32>,
            ps: int,
            bp: nativeptr<float32>,
            ldb: int,
            k: int,
            c: nativeptr<float32>,
            ldc: int,
            accumulate: bool
        ) =
        let mutable c00 = Vector256<float32>.Zero
        let mutable c01 = Vector256<float32>.Zero
        let mutable c10 = Vector256<float32>.Zero
        let mutable c11 = Vector256<float32>.Zero
        let mutable c20 = Vector256<float32>.Zero
        let mutable c21 = Vector256<float32>.Zero
        let mutable c30 = Vector256<float32>.Zero
        let mutable c31 = Vector256<float32>.Zero
        let mutable pb = bp
        let mutable o = 0
        let mutable p = 0

        while p < k do
            let b0 = Vector256.Load pb
            let b1 = Vector256.Load(NativePtr.add pb 8)
            let x0 = Vector256.Create(NativePtr.get a0 o)
            c00 <- Vector256.FusedMultiplyAdd(x0, b0, c00)
            c01 <- Vector256.FusedMultiplyAdd(x0, b1, c01)
            let x1 = Vector256.Create(NativePtr.get a1 o)
            c10 <- Vector256.FusedMultiplyAdd(x1, b0, c10)
            c11 <- Vector256.FusedMultiplyAdd(x1, b1, c11)
            let x2 = Vector256.Create(NativePtr.get a2 o)
            c20 <- Vector256.FusedMultiplyAdd(x2, b0, c20)
            c21 <- Vector256.FusedMultiplyAdd(x2, b1, c21)
            let x3 = Vector256.Create(NativePtr.get a3 o)
            c30 <- Vector256.FusedMultiplyAdd(x3, b0, c30)
            c31 <- Vector256.FusedMultiplyAdd(x3, b1, c31)
            pb <- NativePtr.add pb ldb
            o <- o + ps
            p <- p + 1

        let inline put (row: int) (v0: Vector256<float32>) (v1: Vector256<float32>) =
            let d = NativePtr.add c (row * ldc)
            let d1 = NativePtr.add d 8

            if accumulate then
                Vector256.Store(Vector256.Load d + v0, d)
                Vector256.Store(Vector256.Load d1 + v1, d1)
            else
                Vector256.Store(v0, d)
                Vector256.Store(v1, d1)

        put 0 c00 c01
        put 1 c10 c11
        put 2 c20 c21
        put 3 c30 c31

    // ---------------------------------------------------------------- drivers

    /// The packed path: B panel by panel (width w), rows of A in register tiles, edges through a tile buffer.
    let private blocked
        (
            isa: Isa,
            layout: Layout,
            m: int,
            k: int,
            n: int,
            a: nativeptr<float32>,
            b: nativeptr<float32>,
            c: nativeptr<float32>,
            accumulate: bool
        ) =
        let wide =
            match isa with
            | Isa.Vector512 -> true
            | _ -> false

        let w = if wide then 32 else 16
        let panel = k * w
        let scratch = KernelScratch.Get(panel + 8 * w)
        use sp = fixed scratch
        let bp = sp
        let tmp = NativePtr.add sp panel
        // A(i,p) = a[i*rs + p*ps]
        let transA =
            match layout with
            | TN -> true
            | _ -> false

        let transB =
            match layout with
            | NT -> true
            | _ -> false

        let rs = if transA then 1 else k
        let ps = if transA then m else 1
        let inline row (i: int) = NativePtr.add a (i * rs)
        let mutable j0 = 0

        while j0 < n do
            let nr = min w (n - j0)
            // On Vector512 a last panel of at most 16 columns runs on 16-wide tiles.
            let narrow = wide && nr <= 16
            let pw = if narrow then 16 else w
            // A full panel of a B stored [K,N] is read in place; the others are packed.
            let direct = nr = pw && not transB
            let bq = if direct then NativePtr.add b j0 else bp
            let ldb = if direct then n else pw

            if not direct then
                packB (layout, k, n, b, j0, nr, pw, bp)

            // Full tiles go straight to C; a partial one goes through tmp (row width pw) and is copied.
            let full = nr = pw
            let ldt = if full then n else pw
            let acc = accumulate && full
            let cj = NativePtr.add c j0

            let inline target (i: int) =
                if full then NativePtr.add cj (i * n) else tmp

            let inline finish (i: int) (rows: int) =
                if not full then
                    storeTile (tmp, pw, rows, nr, NativePtr.add cj (i * n), n, accumulate)

            let mutable i = 0

            if wide then
                while i + 8 <= m do
                    let t = target i

                    if narrow then
                        tile512x8n16 (
                            row i,
                            row (i + 1),
                            row (i + 2),
                            row (i + 3),
                            row (i + 4),
                            row (i + 5),
                            row (i + 6),
                            row (i + 7),
                            ps,
                            bq,
                            ldb,
                            k,
                            t,
                            ldt,
                            acc
                        )
                    else
                        tile512x8 (
                            row i,
                            row (i + 1),
                            row (i + 2),
                            row (i + 3),
                            row (i + 4),
                            row (i + 5),
                            row (i + 6),
                            row (i + 7),
                            ps,
                            bq,
                            ldb,
                            k,
                            t,
                            ldt,
                            acc
                        )

                    finish i 8
                    i <- i + 8

                if i + 4 <= m then
                    let t = target i

                    if narrow then
                        tile512x4n16 (row i, row (i + 1), row (i + 2), row (i + 3), ps, bq, ldb, k, t, ldt, acc)
                    else
                        tile512x4 (row i, row (i + 1), row (i + 2), row (i + 3), ps, bq, ldb, k, t, ldt, acc)

                    finish i 4
                    i <- i + 4

                if i < m then
                    // 1..3 rows left: repeat the last row in the spare rows of a 4-row tile, through tmp.
                    let last = m - 1

                    if narrow then
                        tile512x4n16 (
                            row i,
                            row (min (i + 1) last),
                            row (min (i + 2) last),
                            row last,
                            ps,
                            bq,
                            ldb,
                            k,
                            tmp,
                            pw,
                            false
                        )
                    else
                        tile512x4 (
                            row i,
                            row (min (i + 1) last),
                            row (min (i + 2) last),
                            row last,
                            ps,
                            bq,
                            ldb,
                            k,
                            tmp,
                            pw,
                            false
                        )

                    storeTile (tmp, pw, m - i, nr, NativePtr.add cj (i * n), n, accumulate)
            else
                while i + 4 <= m do
                    tile256x4 (row i, row (i + 1), row (i + 2), row (i + 3), ps, bq, ldb, k, target i, ldt, acc)
                    finish i 4
                    i <- i + 4

                if i < m then
                    let last = m - 1

                    tile256x4 (
                        row i,
                        row (min (i + 1) last),
                        row (min (i + 2) last),
                        row last,
                        ps,
                        bq,
                        ldb,
                        k,
                        tmp,
                        pw,
                        false
                    )

                    storeTile (tmp, pw, m - i, nr, NativePtr.add cj (i * n), n, accumulate)

            j0 <- j0 + w

    /// The scalar path: one fused multiply-add chain per element of C, in the same order as the vector paths.
    let private scalar
        (
            layout: Layout,
            m: int,
            k: int,
            n: int,
            a: nativeptr<float32>,
            b: nativeptr<float32>,
            c: nativeptr<float32>,
            accumulate: bool
        ) =
        let transA =
            match layout with
            | TN -> true
            | _ -> false

        let transB =
            match layout with
            | NT -> true
            | _ -> false

        let rs = if transA then 1 else k
        let aps = if transA then m else 1
        let cs = if transB then k else 1
        let bps = if transB then 1 else n

        for i in 0 .. m - 1 do
            for j in 0 .. n - 1 do
                let mutable acc = 0.0f
                let mutable oa = i * rs
                let mutable ob = j * cs

                for _ in 0 .. k - 1 do
                    acc <- MathF.FusedMultiplyAdd(NativePtr.get a oa, NativePtr.get b ob, acc)
                    oa <- oa + aps
                    ob <- ob + bps

                let idx = i * n + j
                NativePtr.set c idx (if accumulate then NativePtr.get c idx + acc else acc)

    let private run
        (
            isa: Isa,
            layout: Layout,
            m: int,
            k: int,
            n: int,
            a: ReadOnlySpan<float32>,
            b: ReadOnlySpan<float32>,
            c: Span<float32>,
            accumulate: bool
        ) =
        match layout with
        | NN -> check (m, k, n, a.Length, b.Length, c.Length, false, false)
        | NT -> check (m, k, n, a.Length, b.Length, c.Length, false, true)
        | TN -> check (m, k, n, a.Length, b.Length, c.Length, true, false)

        if m > 0 && n > 0 then
            use pa = fixed a
            use pb = fixed b
            use pc = fixed c

            // An instruction set the machine lacks falls back to the next one it has; all give the same bits.
            match isa with
            | Isa.Vector512 when Vector512.IsHardwareAccelerated ->
                blocked (Isa.Vector512, layout, m, k, n, pa, pb, pc, accumulate)
            | Isa.Vector512
            | Isa.Vector256 when Vector256.IsHardwareAccelerated ->
                blocked (Isa.Vector256, layout, m, k, n, pa, pb, pc, accumulate)
            | _ -> scalar (layout, m, k, n, pa, pb, pc, accumulate)

    // ---------------------------------------------------------------- public API

    /// <summary>C[M,N] = A[M,K] · B[K,N] on the given instruction set, or the next slower one the machine has
    /// (for tests and benchmarks).</summary>
    let internal matmulNNWith
        (isa: Isa)
        (m: int, k: int, n: int, a: ReadOnlySpan<float32>, b: ReadOnlySpan<float32>, c: Span<float32>, accumulate: bool)
        =
        run (isa, NN, m, k, n, a, b, c, accumulate)

    /// <summary>C[M,N] = A[M,K] · B[N,K]ᵀ on the given instruction set, or the next slower one the machine has
    /// (for tests and benchmarks).</summary>
    let internal matmulNTWith
        (isa: Isa)
        (m: int, k: int, n: int, a: ReadOnlySpan<float32>, b: ReadOnlySpan<float32>, c: Span<float32>, accumulate: bool)
        =
        run (isa, NT, m, k, n, a, b, c, accumulate)

    /// <summary>C[M,N] = A[K,M]ᵀ · B[K,N] on the given instruction set, or the next slower one the machine has
    /// (for tests and benchmarks).</summary>
    let internal matmulTNWith
        (isa: Isa)
        (m: int, k: int, n: int, a: ReadOnlySpan<float32>, b: ReadOnlySpan<float32>, c: Span<float32>, accumulate: bool)
        =
        run (isa, TN, m, k, n, a, b, c, accumulate)

    /// <summary>C[M,N] = A[M,K] · B[K,N]; with <c>accumulate</c> C += A · B.</summary>
    /// <param name="m">Rows of A and C.</param>
    /// <param name="k">Columns of A, rows of B.</param>
    /// <param name="n">Columns of B and C.</param>
    /// <param name="a">A, row-major [M,K].</param>
    /// <param name="b">B, row-major [K,N].</param>
    /// <param name="c">C, row-major [M,N].</param>
    /// <param name="accumulate">Add the product to C instead of overwriting it.</param>
    /// <exception cref="T:System.ArgumentException">A size is negative or a span is shorter than its matrix.</exception>
    let matmulNN
        (m: int, k: int, n: int, a: ReadOnlySpan<float32>, b: ReadOnlySpan<float32>, c: Span<float32>, accumulate: bool)
        =
        run (bestIsa, NN, m, k, n, a, b, c, accumulate)

    /// <summary>C[M,N] = A[M,K] · B[N,K]ᵀ; with <c>accumulate</c> C += A · Bᵀ. B is stored [out, in]
    /// like the weight of a linear layer, so this is the layer's forward x·Wᵀ.</summary>
    /// <param name="m">Rows of A and C.</param>
    /// <param name="k">Columns of A and of B.</param>
    /// <param name="n">Rows of B, columns of C.</param>
    /// <param name="a">A, row-major [M,K].</param>
    /// <param name="b">B, row-major [N,K].</param>
    /// <param name="c">C, row-major [M,N].</param>
    /// <param name="accumulate">Add the product to C instead of overwriting it.</param>
    /// <exception cref="T:System.ArgumentException">A size is negative or a span is shorter than its matrix.</exception>
    let matmulNT
        (m: int, k: int, n: int, a: ReadOnlySpan<float32>, b: ReadOnlySpan<float32>, c: Span<float32>, accumulate: bool)
        =
        run (bestIsa, NT, m, k, n, a, b, c, accumulate)

    /// <summary>C[M,N] = A[K,M]ᵀ · B[K,N]; with <c>accumulate</c> C += Aᵀ · B. With A the output
    /// gradient g [batch, out] and B the input x [batch, in] this is the weight gradient gᵀ·x.</summary>
    /// <param name="m">Columns of A, rows of C.</param>
    /// <param name="k">Rows of A and of B.</param>
    /// <param name="n">Columns of B and C.</param>
    /// <param name="a">A, row-major [K,M].</param>
    /// <param name="b">B, row-major [K,N].</param>
    /// <param name="c">C, row-major [M,N].</param>
    /// <param name="accumulate">Add the product to C instead of overwriting it.</param>
    /// <exception cref="T:System.ArgumentException">A size is negative or a span is shorter than its matrix.</exception>
    let matmulTN
        (m: int, k: int, n: int, a: ReadOnlySpan<float32>, b: ReadOnlySpan<float32>, c: Span<float32>, accumulate: bool)
        =
        run (bestIsa, TN, m, k, n, a, b, c, accumulate)

    /// <summary>C[M,N] = A[M,K] · B[K,N] by a plain triple loop summed in double precision: the oracle the
    /// fast kernels are tested against. Same arguments as <see cref="M:Qmix.Tensors.Kernels.matmulNN"/>.</summary>
    /// <param name="m">Rows of A and C.</param>
    /// <param name="k">Columns of A, rows of B.</param>
    /// <param name="n">Columns of B and C.</param>
    /// <param name="a">A, row-major [M,K].</param>
    /// <param name="b">B, row-major [K,N].</param>
    /// <param name="c">C, row-major [M,N].</param>
    /// <param name="accumulate">Add the product to C instead of overwriting it.</param>
    /// <exception cref="T:System.ArgumentException">A size is negative or a span is shorter than its matrix.</exception>
    let matmulReference
        (m: int, k: int, n: int, a: ReadOnlySpan<float32>, b: ReadOnlySpan<float32>, c: Span<float32>, accumulate: bool)
        =
        check (m, k, n, a.Length, b.Length, c.Length, false, false)

        for i in 0 .. m - 1 do
            for j in 0 .. n - 1 do
                let mutable acc = 0.0

                for p in 0 .. k - 1 do
                    acc <- acc + float a[i * k + p] * float b[p * n + j]

                c[i * n + j] <-
                    if accumulate then
                        float32 (float c[i * n + j] + acc)
                    else
                        float32 acc
