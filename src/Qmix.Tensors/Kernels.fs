namespace Qmix.Tensors

open System

/// <summary>Span-level matrix kernels (row-major, dense).</summary>
[<RequireQualifiedAccess>]
module Kernels =
    let private check (name: string) (need: int) (have: int) =
        if have < need then
            invalidArg name (sprintf "matmul: operand %s needs %d elements, has %d" name need have)

    /// <summary>C[M,N] = A[M,K]·B[K,N] (or C += when accumulating).</summary>
    let matmulNN
        (m: int, k: int, n: int, a: ReadOnlySpan<float32>, b: ReadOnlySpan<float32>, c: Span<float32>, accumulate: bool)
        =
        check "a" (m * k) a.Length
        check "b" (k * n) b.Length
        check "c" (m * n) c.Length

        for i in 0 .. m - 1 do
            for j in 0 .. n - 1 do
                let mutable s = if accumulate then c[i * n + j] else 0.0f

                for p in 0 .. k - 1 do
                    s <- s + a[i * k + p] * b[p * n + j]

                c[i * n + j] <- s

    /// <summary>C[M,N] = A[M,K]·B[N,K]ᵀ (or C += when accumulating).</summary>
    let matmulNT
        (m: int, k: int, n: int, a: ReadOnlySpan<float32>, b: ReadOnlySpan<float32>, c: Span<float32>, accumulate: bool)
        =
        check "a" (m * k) a.Length
        check "b" (k * n) b.Length
        check "c" (m * n) c.Length

        for i in 0 .. m - 1 do
            for j in 0 .. n - 1 do
                let mutable s = if accumulate then c[i * n + j] else 0.0f

                for p in 0 .. k - 1 do
                    s <- s + a[i * k + p] * b[j * k + p]

                c[i * n + j] <- s

    /// <summary>C[M,N] = A[K,M]ᵀ·B[K,N] (or C += when accumulating).</summary>
    let matmulTN
        (m: int, k: int, n: int, a: ReadOnlySpan<float32>, b: ReadOnlySpan<float32>, c: Span<float32>, accumulate: bool)
        =
        check "a" (m * k) a.Length
        check "b" (k * n) b.Length
        check "c" (m * n) c.Length

        for i in 0 .. m - 1 do
            for j in 0 .. n - 1 do
                let mutable s = if accumulate then c[i * n + j] else 0.0f

                for p in 0 .. k - 1 do
                    s <- s + a[p * m + i] * b[p * n + j]

                c[i * n + j] <- s
