namespace Qmix.Tensors

#nowarn "9" // NativePtr: the kernels read arrays pinned for the call through pointers, without bounds checks.

open System
open System.Runtime.CompilerServices
open System.Runtime.Intrinsics
open Microsoft.FSharp.NativeInterop

/// Products of a few rows by a packed matrix: O[r, j] = bias[j] + Σ_{p<k1} A1[r, p]·W[p, j] + Σ_{p<k2} A2[r, p]·W[k1 +
/// p, j], optionally through a ReLU, row r of A1, A2 and O at r·lda1, r·lda2 and r·ldo. Every output is a chain of
/// fused multiply-adds over p in order, starting from the bias.
[<RequireQualifiedAccess>]
module internal RowGemm =
    /// Output widths are multiples of this.
    [<Literal>]
    let Lane = 16

    /// At most this many rows share one pass over a block of weights.
    [<Literal>]
    let RowBlock = 6

    /// rows (1 .. 6) × 64 columns (wide) or 16 columns on Vector512.
    let inline private tile512
        (rows: int)
        (wide: bool)
        (a1: nativeptr<float32>)
        (lda1: int)
        (k1: int)
        (a2: nativeptr<float32>)
        (lda2: int)
        (k2: int)
        (w: nativeptr<float32>)
        (ldw: int)
        (bias: nativeptr<float32>)
        (o: nativeptr<float32>)
        (ldo: int)
        (relu: bool)
        =
        let zero = Vector512<float32>.Zero
        let b0 = Vector512.Load bias
        let b1 = if wide then Vector512.Load(NativePtr.add bias 16) else zero
        let b2 = if wide then Vector512.Load(NativePtr.add bias 32) else zero
        let b3 = if wide then Vector512.Load(NativePtr.add bias 48) else zero
        let mutable c00 = b0
        let mutable c01 = b1
        let mutable c02 = b2
        let mutable c03 = b3
        let mutable c10 = b0
        let mutable c11 = b1
        let mutable c12 = b2
        let mutable c13 = b3
        let mutable c20 = b0
        let mutable c21 = b1
        let mutable c22 = b2
        let mutable c23 = b3
        let mutable c30 = b0
        let mutable c31 = b1
        let mutable c32 = b2
        let mutable c33 = b3
        let mutable c40 = b0
        let mutable c41 = b1
        let mutable c42 = b2
        let mutable c43 = b3
        let mutable c50 = b0
        let mutable c51 = b1
        let mutable c52 = b2
        let mutable c53 = b3
        let mutable pw = w

        for src in 0..1 do
            let mutable pa = if src = 0 then a1 else a2
            let k = if src = 0 then k1 else k2
            let l1 = if src = 0 then lda1 else lda2
            let l2 = 2 * l1
            let l3 = 3 * l1
            let l4 = 4 * l1
            let l5 = 5 * l1

            for _ in 1..k do
                let w0 = Vector512.Load pw
                let w1 = if wide then Vector512.Load(NativePtr.add pw 16) else zero
                let w2 = if wide then Vector512.Load(NativePtr.add pw 32) else zero
                let w3 = if wide then Vector512.Load(NativePtr.add pw 48) else zero
                let x = Vector512.Create(NativePtr.read pa)
                c00 <- Vector512.FusedMultiplyAdd(x, w0, c00)

                if wide then
                    c01 <- Vector512.FusedMultiplyAdd(x, w1, c01)
                    c02 <- Vector512.FusedMultiplyAdd(x, w2, c02)
                    c03 <- Vector512.FusedMultiplyAdd(x, w3, c03)

                if rows > 1 then
                    let x = Vector512.Create(NativePtr.get pa l1)
                    c10 <- Vector512.FusedMultiplyAdd(x, w0, c10)

                    if wide then
                        c11 <- Vector512.FusedMultiplyAdd(x, w1, c11)
                        c12 <- Vector512.FusedMultiplyAdd(x, w2, c12)
                        c13 <- Vector512.FusedMultiplyAdd(x, w3, c13)

                if rows > 2 then
                    let x = Vector512.Create(NativePtr.get pa l2)
                    c20 <- Vector512.FusedMultiplyAdd(x, w0, c20)

                    if wide then
                        c21 <- Vector512.FusedMultiplyAdd(x, w1, c21)
                        c22 <- Vector512.FusedMultiplyAdd(x, w2, c22)
                        c23 <- Vector512.FusedMultiplyAdd(x, w3, c23)

                if rows > 3 then
                    let x = Vector512.Create(NativePtr.get pa l3)
                    c30 <- Vector512.FusedMultiplyAdd(x, w0, c30)

                    if wide then
                        c31 <- Vector512.FusedMultiplyAdd(x, w1, c31)
                        c32 <- Vector512.FusedMultiplyAdd(x, w2, c32)
                        c33 <- Vector512.FusedMultiplyAdd(x, w3, c33)

                if rows > 4 then
                    let x = Vector512.Create(NativePtr.get pa l4)
                    c40 <- Vector512.FusedMultiplyAdd(x, w0, c40)

                    if wide then
                        c41 <- Vector512.FusedMultiplyAdd(x, w1, c41)
                        c42 <- Vector512.FusedMultiplyAdd(x, w2, c42)
                        c43 <- Vector512.FusedMultiplyAdd(x, w3, c43)

                if rows > 5 then
                    let x = Vector512.Create(NativePtr.get pa l5)
                    c50 <- Vector512.FusedMultiplyAdd(x, w0, c50)

                    if wide then
                        c51 <- Vector512.FusedMultiplyAdd(x, w1, c51)
                        c52 <- Vector512.FusedMultiplyAdd(x, w2, c52)
                        c53 <- Vector512.FusedMultiplyAdd(x, w3, c53)

                pa <- NativePtr.add pa 1
                pw <- NativePtr.add pw ldw

        let inline put
            (row: int)
            (v0: Vector512<float32>)
            (v1: Vector512<float32>)
            (v2: Vector512<float32>)
            (v3: Vector512<float32>)
            =
            let d = NativePtr.add o (row * ldo)

            if relu then
                Vector512.Store(Vector512.Max(v0, zero), d)

                if wide then
                    Vector512.Store(Vector512.Max(v1, zero), NativePtr.add d 16)
                    Vector512.Store(Vector512.Max(v2, zero), NativePtr.add d 32)
                    Vector512.Store(Vector512.Max(v3, zero), NativePtr.add d 48)
            else
                Vector512.Store(v0, d)

                if wide then
                    Vector512.Store(v1, NativePtr.add d 16)
                    Vector512.Store(v2, NativePtr.add d 32)
                    Vector512.Store(v3, NativePtr.add d 48)

        put 0 c00 c01 c02 c03

        if rows > 1 then
            put 1 c10 c11 c12 c13

        if rows > 2 then
            put 2 c20 c21 c22 c23

        if rows > 3 then
            put 3 c30 c31 c32 c33

        if rows > 4 then
            put 4 c40 c41 c42 c43

        if rows > 5 then
            put 5 c50 c51 c52 c53

    /// rows (1 .. 6) × 16 columns on Vector256 (two vectors a row: 12 accumulators fit AVX2's 16 registers).
    let inline private tile256
        (rows: int)
        (a1: nativeptr<float32>)
        (lda1: int)
        (k1: int)
        (a2: nativeptr<float32>)
        (lda2: int)
        (k2: int)
        (w: nativeptr<float32>)
        (ldw: int)
        (bias: nativeptr<float32>)
        (o: nativeptr<float32>)
        (ldo: int)
        (relu: bool)
        =
        let zero = Vector256<float32>.Zero
        let b0 = Vector256.Load bias
        let b1 = Vector256.Load(NativePtr.add bias 8)
        let mutable c00 = b0
        let mutable c01 = b1
        let mutable c10 = b0
        let mutable c11 = b1
        let mutable c20 = b0
        let mutable c21 = b1
        let mutable c30 = b0
        let mutable c31 = b1
        let mutable c40 = b0
        let mutable c41 = b1
        let mutable c50 = b0
        let mutable c51 = b1
        let mutable pw = w

        for src in 0..1 do
            let mutable pa = if src = 0 then a1 else a2
            let k = if src = 0 then k1 else k2
            let l1 = if src = 0 then lda1 else lda2
            let l2 = 2 * l1
            let l3 = 3 * l1
            let l4 = 4 * l1
            let l5 = 5 * l1

            for _ in 1..k do
                let w0 = Vector256.Load pw
                let w1 = Vector256.Load(NativePtr.add pw 8)
                let x = Vector256.Create(NativePtr.read pa)
                c00 <- Vector256.FusedMultiplyAdd(x, w0, c00)
                c01 <- Vector256.FusedMultiplyAdd(x, w1, c01)

                if rows > 1 then
                    let x = Vector256.Create(NativePtr.get pa l1)
                    c10 <- Vector256.FusedMultiplyAdd(x, w0, c10)
                    c11 <- Vector256.FusedMultiplyAdd(x, w1, c11)

                if rows > 2 then
                    let x = Vector256.Create(NativePtr.get pa l2)
                    c20 <- Vector256.FusedMultiplyAdd(x, w0, c20)
                    c21 <- Vector256.FusedMultiplyAdd(x, w1, c21)

                if rows > 3 then
                    let x = Vector256.Create(NativePtr.get pa l3)
                    c30 <- Vector256.FusedMultiplyAdd(x, w0, c30)
                    c31 <- Vector256.FusedMultiplyAdd(x, w1, c31)

                if rows > 4 then
                    let x = Vector256.Create(NativePtr.get pa l4)
                    c40 <- Vector256.FusedMultiplyAdd(x, w0, c40)
                    c41 <- Vector256.FusedMultiplyAdd(x, w1, c41)

                if rows > 5 then
                    let x = Vector256.Create(NativePtr.get pa l5)
                    c50 <- Vector256.FusedMultiplyAdd(x, w0, c50)
                    c51 <- Vector256.FusedMultiplyAdd(x, w1, c51)

                pa <- NativePtr.add pa 1
                pw <- NativePtr.add pw ldw

        let inline put (row: int) (v0: Vector256<float32>) (v1: Vector256<float32>) =
            let d = NativePtr.add o (row * ldo)

            if relu then
                Vector256.Store(Vector256.Max(v0, zero), d)
                Vector256.Store(Vector256.Max(v1, zero), NativePtr.add d 8)
            else
                Vector256.Store(v0, d)
                Vector256.Store(v1, NativePtr.add d 8)

        put 0 c00 c01

        if rows > 1 then
            put 1 c10 c11

        if rows > 2 then
            put 2 c20 c21

        if rows > 3 then
            put 3 c30 c31

        if rows > 4 then
            put 4 c40 c41

        if rows > 5 then
            put 5 c50 c51

    // One method per tile shape, so that each keeps its accumulators in registers.
    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private w512x1 (a1, l1, k1, a2, l2, k2, w, ldw, b, o, ldo, relu) =
        tile512 1 true a1 l1 k1 a2 l2 k2 w ldw b o ldo relu

    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private w512x2 (a1, l1, k1, a2, l2, k2, w, ldw, b, o, ldo, relu) =
        tile512 2 true a1 l1 k1 a2 l2 k2 w ldw b o ldo relu

    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private w512x3 (a1, l1, k1, a2, l2, k2, w, ldw, b, o, ldo, relu) =
        tile512 3 true a1 l1 k1 a2 l2 k2 w ldw b o ldo relu

    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private w512x4 (a1, l1, k1, a2, l2, k2, w, ldw, b, o, ldo, relu) =
        tile512 4 true a1 l1 k1 a2 l2 k2 w ldw b o ldo relu

    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private w512x5 (a1, l1, k1, a2, l2, k2, w, ldw, b, o, ldo, relu) =
        tile512 5 true a1 l1 k1 a2 l2 k2 w ldw b o ldo relu

    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private w512x6 (a1, l1, k1, a2, l2, k2, w, ldw, b, o, ldo, relu) =
        tile512 6 true a1 l1 k1 a2 l2 k2 w ldw b o ldo relu

    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private n512x1 (a1, l1, k1, a2, l2, k2, w, ldw, b, o, ldo, relu) =
        tile512 1 false a1 l1 k1 a2 l2 k2 w ldw b o ldo relu

    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private n512x2 (a1, l1, k1, a2, l2, k2, w, ldw, b, o, ldo, relu) =
        tile512 2 false a1 l1 k1 a2 l2 k2 w ldw b o ldo relu

    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private n512x3 (a1, l1, k1, a2, l2, k2, w, ldw, b, o, ldo, relu) =
        tile512 3 false a1 l1 k1 a2 l2 k2 w ldw b o ldo relu

    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private n512x4 (a1, l1, k1, a2, l2, k2, w, ldw, b, o, ldo, relu) =
        tile512 4 false a1 l1 k1 a2 l2 k2 w ldw b o ldo relu

    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private n512x5 (a1, l1, k1, a2, l2, k2, w, ldw, b, o, ldo, relu) =
        tile512 5 false a1 l1 k1 a2 l2 k2 w ldw b o ldo relu

    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private n512x6 (a1, l1, k1, a2, l2, k2, w, ldw, b, o, ldo, relu) =
        tile512 6 false a1 l1 k1 a2 l2 k2 w ldw b o ldo relu

    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private t256x1 (a1, l1, k1, a2, l2, k2, w, ldw, b, o, ldo, relu) =
        tile256 1 a1 l1 k1 a2 l2 k2 w ldw b o ldo relu

    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private t256x2 (a1, l1, k1, a2, l2, k2, w, ldw, b, o, ldo, relu) =
        tile256 2 a1 l1 k1 a2 l2 k2 w ldw b o ldo relu

    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private t256x3 (a1, l1, k1, a2, l2, k2, w, ldw, b, o, ldo, relu) =
        tile256 3 a1 l1 k1 a2 l2 k2 w ldw b o ldo relu

    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private t256x4 (a1, l1, k1, a2, l2, k2, w, ldw, b, o, ldo, relu) =
        tile256 4 a1 l1 k1 a2 l2 k2 w ldw b o ldo relu

    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private t256x5 (a1, l1, k1, a2, l2, k2, w, ldw, b, o, ldo, relu) =
        tile256 5 a1 l1 k1 a2 l2 k2 w ldw b o ldo relu

    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private t256x6 (a1, l1, k1, a2, l2, k2, w, ldw, b, o, ldo, relu) =
        tile256 6 a1 l1 k1 a2 l2 k2 w ldw b o ldo relu

    /// The portable version: the same chains of fused multiply-adds, one output at a time.
    let private scalar
        (
            rows: int,
            a1: nativeptr<float32>,
            lda1: int,
            k1: int,
            a2: nativeptr<float32>,
            lda2: int,
            k2: int,
            w: nativeptr<float32>,
            ldw: int,
            ncols: int,
            bias: nativeptr<float32>,
            o: nativeptr<float32>,
            ldo: int,
            relu: bool
        ) =
        for r in 0 .. rows - 1 do
            for j in 0 .. ncols - 1 do
                let mutable acc = NativePtr.get bias j

                for p in 0 .. k1 - 1 do
                    acc <- MathF.FusedMultiplyAdd(NativePtr.get a1 (r * lda1 + p), NativePtr.get w (p * ldw + j), acc)

                for p in 0 .. k2 - 1 do
                    acc <-
                        MathF.FusedMultiplyAdd(
                            NativePtr.get a2 (r * lda2 + p),
                            NativePtr.get w ((k1 + p) * ldw + j),
                            acc
                        )

                NativePtr.set o (r * ldo + j) (if relu then max acc 0.0f else acc)

    /// O[rows, ncols] as above; ncols is a multiple of 16 and W's rows are ldw apart. Column blocks outside, row
    /// blocks inside, so a block of weights is read from the level-1 cache by every row block after the first.
    let gemm
        (
            isa: Kernels.Isa,
            rows: int,
            a1: nativeptr<float32>,
            lda1: int,
            k1: int,
            a2: nativeptr<float32>,
            lda2: int,
            k2: int,
            w: nativeptr<float32>,
            ldw: int,
            ncols: int,
            bias: nativeptr<float32>,
            o: nativeptr<float32>,
            ldo: int,
            relu: bool
        ) =
        match isa with
        | Kernels.Isa.Vector512 ->
            let mutable col = 0

            while col < ncols do
                let wide = ncols - col >= 64
                let wc = NativePtr.add w col
                let bc = NativePtr.add bias col
                let mutable r = 0

                while r < rows do
                    let m = min RowBlock (rows - r)
                    let r1 = NativePtr.add a1 (r * lda1)
                    let r2 = NativePtr.add a2 (r * lda2)
                    let oc = NativePtr.add o (r * ldo + col)

                    if wide then
                        match m with
                        | 6 -> w512x6 (r1, lda1, k1, r2, lda2, k2, wc, ldw, bc, oc, ldo, relu)
                        | 5 -> w512x5 (r1, lda1, k1, r2, lda2, k2, wc, ldw, bc, oc, ldo, relu)
                        | 4 -> w512x4 (r1, lda1, k1, r2, lda2, k2, wc, ldw, bc, oc, ldo, relu)
                        | 3 -> w512x3 (r1, lda1, k1, r2, lda2, k2, wc, ldw, bc, oc, ldo, relu)
                        | 2 -> w512x2 (r1, lda1, k1, r2, lda2, k2, wc, ldw, bc, oc, ldo, relu)
                        | _ -> w512x1 (r1, lda1, k1, r2, lda2, k2, wc, ldw, bc, oc, ldo, relu)
                    else
                        match m with
                        | 6 -> n512x6 (r1, lda1, k1, r2, lda2, k2, wc, ldw, bc, oc, ldo, relu)
                        | 5 -> n512x5 (r1, lda1, k1, r2, lda2, k2, wc, ldw, bc, oc, ldo, relu)
                        | 4 -> n512x4 (r1, lda1, k1, r2, lda2, k2, wc, ldw, bc, oc, ldo, relu)
                        | 3 -> n512x3 (r1, lda1, k1, r2, lda2, k2, wc, ldw, bc, oc, ldo, relu)
                        | 2 -> n512x2 (r1, lda1, k1, r2, lda2, k2, wc, ldw, bc, oc, ldo, relu)
                        | _ -> n512x1 (r1, lda1, k1, r2, lda2, k2, wc, ldw, bc, oc, ldo, relu)

                    r <- r + m

                col <- col + (if wide then 64 else 16)
        | Kernels.Isa.Vector256 ->
            let mutable col = 0

            while col < ncols do
                let wc = NativePtr.add w col
                let bc = NativePtr.add bias col
                let mutable r = 0

                while r < rows do
                    let m = min RowBlock (rows - r)
                    let r1 = NativePtr.add a1 (r * lda1)
                    let r2 = NativePtr.add a2 (r * lda2)
                    let oc = NativePtr.add o (r * ldo + col)

                    match m with
                    | 6 -> t256x6 (r1, lda1, k1, r2, lda2, k2, wc, ldw, bc, oc, ldo, relu)
                    | 5 -> t256x5 (r1, lda1, k1, r2, lda2, k2, wc, ldw, bc, oc, ldo, relu)
                    | 4 -> t256x4 (r1, lda1, k1, r2, lda2, k2, wc, ldw, bc, oc, ldo, relu)
                    | 3 -> t256x3 (r1, lda1, k1, r2, lda2, k2, wc, ldw, bc, oc, ldo, relu)
                    | 2 -> t256x2 (r1, lda1, k1, r2, lda2, k2, wc, ldw, bc, oc, ldo, relu)
                    | _ -> t256x1 (r1, lda1, k1, r2, lda2, k2, wc, ldw, bc, oc, ldo, relu)

                    r <- r + m

                col <- col + 16
        | _ -> scalar (rows, a1, lda1, k1, a2, lda2, k2, w, ldw, ncols, bias, o, ldo, relu)
