namespace Qmix.Tensors

open System
open System.Collections.Generic
open System.Numerics
open System.Threading.Tasks

/// <summary>
/// A splittable random key: an immutable 128-bit value from which random numbers are derived as a
/// pure function of (key, index). A key is never advanced; instead it is split (<c>Rng.split</c>,
/// <c>Rng.splitN</c>) or specialised by an integer (<c>Rng.foldIn</c>) into independent keys.
/// </summary>
/// <remarks>
/// Every random number drawn from a key is the Threefry-2x64-20 block function of the key and a counter,
/// so a key yields the same numbers on any thread count and in any order of generation. Use each key
/// for one purpose only: drawing two things from the same key (say a uniform tensor and a permutation)
/// gives correlated results; split it first.
/// </remarks>
[<Struct; CustomEquality; NoComparison>]
type Key =
    val private w0: uint64
    val private w1: uint64

    /// <summary>Creates a key from its two 64-bit words (see <c>Rng.ofWords</c>).</summary>
    /// <param name="w0">The first word.</param>
    /// <param name="w1">The second word.</param>
    new(w0: uint64, w1: uint64) = { w0 = w0; w1 = w1 }

    /// <summary>The first 64-bit word of the key.</summary>
    member k.Word0 = k.w0

    /// <summary>The second 64-bit word of the key.</summary>
    member k.Word1 = k.w1

    /// <summary>Formats the key as <c>Key(0123456789abcdef, fedcba9876543210)</c>.</summary>
    override k.ToString() = sprintf "Key(%016x, %016x)" k.w0 k.w1

    /// <summary>Two keys are equal when both words are equal.</summary>
    override k.Equals(o: obj) =
        match o with
        | :? Key as other -> k.w0 = other.Word0 && k.w1 = other.Word1
        | _ -> false

    /// <summary>A hash of both words.</summary>
    override k.GetHashCode() = HashCode.Combine(k.w0, k.w1)

    interface IEquatable<Key> with
        member k.Equals(other: Key) =
            k.w0 = other.Word0 && k.w1 = other.Word1

/// <summary>The Threefry-2x64 block function with 20 rounds (Salmon et al., "Parallel random numbers:
/// as easy as 1, 2, 3", SC 2011): a keyed bijection of 128-bit counters.</summary>
module internal Threefry =
    [<Literal>]
    let private Parity = 0x1BD11BDAA9FC1A22UL

    let inline private round (struct (x0: uint64, x1: uint64)) (r: int) =
        let y0 = x0 + x1
        struct (y0, BitOperations.RotateLeft(x1, r) ^^^ y0)

    // Four rounds with the given rotations, then key injection number s.
    let inline private four x (r0: int) (r1: int) (r2: int) (r3: int) (ka: uint64) (kb: uint64) (s: uint64) =
        let struct (x0, x1) = round (round (round (round x r0) r1) r2) r3
        struct (x0 + ka, x1 + kb + s)

    /// Encrypts the counter (c0, c1) under the key (k0, k1); returns the two output words.
    let block (k0: uint64) (k1: uint64) (c0: uint64) (c1: uint64) : struct (uint64 * uint64) =
        let k2 = Parity ^^^ k0 ^^^ k1
        let x = struct (c0 + k0, c1 + k1)
        let x = four x 16 42 12 31 k1 k2 1UL
        let x = four x 16 32 24 21 k2 k0 2UL
        let x = four x 16 42 12 31 k0 k1 3UL
        let x = four x 16 32 24 21 k1 k2 4UL
        four x 16 42 12 31 k2 k0 5UL

/// <summary>Counter-based random numbers from splittable keys (see <see cref="T:Qmix.Tensors.Key"/>).</summary>
/// <remarks>
/// The raw stream of a key is the sequence of 64-bit words <c>Rng.bits key 0</c>, <c>Rng.bits key 1</c>, ...;
/// element <c>i</c> of a random tensor depends only on the key and <c>i</c>. Keys made by <c>split</c>,
/// <c>splitN</c> and <c>foldIn</c> come from counter domains disjoint from the data stream.
/// </remarks>
[<RequireQualifiedAccess>]
module Rng =
    // Second counter word of each domain: the data stream, split children, foldIn children, seeding.
    [<Literal>]
    let private DataDomain = 0UL

    [<Literal>]
    let private SplitDomain = 1UL

    [<Literal>]
    let private FoldDomain = 2UL

    [<Literal>]
    let private SeedDomain = 3UL

    /// 2^-24 and 2^-53 as exact constants.
    let private inv24 = 1.0f / 16777216.0f

    let private inv53 = 1.0 / 9007199254740992.0

    let inline private blockOf (key: Key) (c0: uint64) (c1: uint64) =
        Threefry.block key.Word0 key.Word1 c0 c1

    let inline private keyOfBlock (struct (a: uint64, b: uint64)) = Key(a, b)

    /// A float32 in [0, 1) from the top 24 bits of a word: exactly representable, never 1.
    let inline private unitFloat32 (w: uint64) = float32 (w >>> 40) * inv24

    /// A float in (0, 1] from the top 53 bits of a word: never 0, so its logarithm is finite.
    let inline private openUnitDouble (w: uint64) = float ((w >>> 11) + 1UL) * inv53

    /// <summary>Makes a key from a seed. Different seeds give unrelated keys.</summary>
    /// <param name="seed">Any 64-bit seed.</param>
    let key (seed: uint64) : Key =
        keyOfBlock (Threefry.block 0x243F6A8885A308D3UL 0x13198A2E03707344UL seed SeedDomain)

    /// <summary>Rebuilds a key from the two words <c>Rng.toWords</c> returned, e.g. from a checkpoint.</summary>
    /// <param name="w0">The first word.</param>
    /// <param name="w1">The second word.</param>
    let ofWords (w0: uint64) (w1: uint64) : Key = Key(w0, w1)

    /// <summary>The two 64-bit words of a key, for storing it (e.g. in a checkpoint's metadata).</summary>
    let toWords (key: Key) : uint64 * uint64 = key.Word0, key.Word1

    /// <summary>Word <paramref name="index"/> of the raw counter stream of a key: 64 uniformly random
    /// bits, a pure function of the key and the index.</summary>
    /// <param name="key">The key.</param>
    /// <param name="index">The position in the stream (any value; the stream has 2^64 words).</param>
    let bits (key: Key) (index: uint64) : uint64 =
        let struct (a, b) = blockOf key (index >>> 1) DataDomain
        if index &&& 1UL = 0UL then a else b

    /// <summary>Splits a key into two new keys, independent of each other and of the parent's stream.</summary>
    let split (key: Key) : Key * Key =
        keyOfBlock (blockOf key 0UL SplitDomain), keyOfBlock (blockOf key 1UL SplitDomain)

    /// <summary>Splits a key into <paramref name="n"/> new keys; the first two are those of <c>Rng.split</c>.</summary>
    /// <param name="n">The number of keys, at least 0.</param>
    /// <param name="key">The key to split.</param>
    /// <exception cref="System.ArgumentException"><paramref name="n"/> is negative.</exception>
    let splitN (n: int) (key: Key) : Key[] =
        if n < 0 then
            invalidArg (nameof n) (sprintf "Rng.splitN: n must be non-negative, got %d" n)

        Array.init n (fun i -> keyOfBlock (blockOf key (uint64 i) SplitDomain))

    /// <summary>Derives a key from a key and an integer (e.g. an agent or step index): distinct integers
    /// give independent keys, and the same integer always gives the same key.</summary>
    /// <param name="data">The integer to fold in (any value, negative included).</param>
    /// <param name="key">The key.</param>
    let foldIn (data: int) (key: Key) : Key =
        keyOfBlock (blockOf key (uint64 (uint32 data)) FoldDomain)

    // ---------------------------------------------------------------- tensors

    /// Elements per parallel chunk (even, so each chunk starts on a block boundary).
    [<Literal>]
    let private Chunk = 16384

    /// Fills data[offset .. offset+n) with f applied to the two words of each block, element i taking
    /// word i &&& 1 of block i >>> 1 through pick. Large fills run in parallel; the result is identical.
    let inline private fillPairs
        (key: Key)
        (data: float32[])
        (offset: int)
        (n: int)
        ([<InlineIfLambda>] pick: uint64 -> uint64 -> struct (float32 * float32))
        =
        let fillRange (lo: int) (hi: int) =
            let mutable i = lo

            while i < hi do
                let struct (a, b) = blockOf key (uint64 (i >>> 1)) DataDomain
                let struct (x, y) = pick a b
                data[offset + i] <- x

                if i + 1 < hi then
                    data[offset + i + 1] <- y

                i <- i + 2

        if n < 4 * Chunk || Environment.ProcessorCount = 1 then
            fillRange 0 n
        else
            let chunks = (n + Chunk - 1) / Chunk

            Parallel.For(0, chunks, fun c -> fillRange (c * Chunk) (min n ((c + 1) * Chunk)))
            |> ignore

    let private make (shape: Shape) (fill: float32[] -> int -> int -> unit) : Tensor =
        let t = Tensor.Uninit shape
        fill t.Data t.Offset shape.Numel
        t

    /// <summary>A tensor of independent uniform samples in [0, 1). Element <c>i</c> (row-major) is
    /// <c>float32 (Rng.bits key i >>> 40) * 2^-24</c>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="shape">The shape of the result.</param>
    let uniform (key: Key) (shape: Shape) : Tensor =
        make shape (fun data offset n -> fillPairs key data offset n (fun a b -> struct (unitFloat32 a, unitFloat32 b)))

    /// <summary>A tensor of independent uniform samples in [<paramref name="lo"/>, <paramref name="hi"/>).</summary>
    /// <param name="key">The key.</param>
    /// <param name="lo">The inclusive lower bound (finite).</param>
    /// <param name="hi">The exclusive upper bound (finite, greater than <paramref name="lo"/>).</param>
    /// <param name="shape">The shape of the result.</param>
    /// <exception cref="System.ArgumentException">The bounds are not finite or <paramref name="hi"/> &lt;= <paramref name="lo"/>.</exception>
    let uniformRange (key: Key) (lo: float32) (hi: float32) (shape: Shape) : Tensor =
        if not (Single.IsFinite lo) then
            invalidArg (nameof lo) (sprintf "Rng.uniformRange: lo must be finite, got %g" lo)

        if not (Single.IsFinite hi) || not (hi > lo) then
            invalidArg
                (nameof hi)
                (sprintf "Rng.uniformRange: hi must be finite and greater than lo = %g, got %g" lo hi)

        let width = hi - lo
        // Rounding can carry lo + width * u up to hi; keep the interval half-open.
        let below = MathF.BitDecrement hi

        let inline scale (w: uint64) =
            let x = lo + width * unitFloat32 w
            if x >= hi then below else x

        make shape (fun data offset n -> fillPairs key data offset n (fun a b -> struct (scale a, scale b)))

    /// <summary>A tensor of independent standard normal samples (mean 0, variance 1), by the Box–Muller
    /// transform of each pair of words of the stream, computed in double precision.</summary>
    /// <param name="key">The key.</param>
    /// <param name="shape">The shape of the result.</param>
    let normal (key: Key) (shape: Shape) : Tensor =
        let boxMuller (a: uint64) (b: uint64) =
            let r = Math.Sqrt(-2.0 * Math.Log(openUnitDouble a))
            let theta = 2.0 * Math.PI * (float (b >>> 11) * inv53)
            struct (float32 (r * Math.Cos theta), float32 (r * Math.Sin theta))

        make shape (fun data offset n -> fillPairs key data offset n boxMuller)

    // ---------------------------------------------------------------- scalars

    // Note: from here on, float32 names this function, not the conversion.

    /// <summary>One uniform sample in [0, 1): the single element of <c>Rng.uniform key Shape.scalar</c>.</summary>
    let float32 (key: Key) : float32 = unitFloat32 (bits key 0UL)

    /// <summary>A sequential reader of a key's stream, for algorithms that need a variable number of words.</summary>
    [<Sealed>]
    type private Stream(key: Key) =
        let mutable index = 0UL

        member _.Next() =
            let w = bits key index
            index <- index + 1UL
            w

        /// An unbiased integer in [0, n) for 0 &lt; n &lt;= 2^32, by Lemire's multiply-and-reject method.
        member s.Below(n: uint64) =
            let mutable low = 0UL
            let mutable high = Math.BigMul(s.Next(), n, &low)

            if low < n then
                let threshold = (0UL - n) % n

                while low < threshold do
                    high <- Math.BigMul(s.Next(), n, &low)

            int high

    /// <summary>An integer drawn uniformly from [0, <paramref name="n"/>), without modulo bias
    /// (Lemire's method, rejecting and drawing again from the key's stream when needed).</summary>
    /// <param name="key">The key.</param>
    /// <param name="n">The exclusive upper bound, at least 1.</param>
    /// <exception cref="System.ArgumentException"><paramref name="n"/> &lt;= 0.</exception>
    let intBelow (key: Key) (n: int) : int =
        if n <= 0 then
            invalidArg (nameof n) (sprintf "Rng.intBelow: n must be positive, got %d" n)

        Stream(key).Below(uint64 n)

    /// <summary>True with probability <paramref name="p"/>: <c>Rng.float32 key &lt; p</c>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="p">The probability, in [0, 1].</param>
    /// <exception cref="System.ArgumentException"><paramref name="p"/> is outside [0, 1] or NaN.</exception>
    let bernoulli (key: Key) (p: float32) : bool =
        if not (p >= 0.0f && p <= 1.0f) then
            invalidArg (nameof p) (sprintf "Rng.bernoulli: p must be in [0, 1], got %g" p)

        float32 key < p

    /// The first k entries of a uniformly random permutation of [0, n), by forward Fisher–Yates
    /// (step i swaps position i with a uniform position in [i, n)). Positions not yet touched are held
    /// implicitly when k is small against n, so the cost is O(k) rather than O(n); the result is the same.
    let private fisherYatesPrefix (key: Key) (n: int) (k: int) : int[] =
        let stream = Stream key
        let result = Array.zeroCreate k

        if int64 k * 8L >= int64 n then
            let a = Array.init n id

            for i in 0 .. k - 1 do
                let j = i + stream.Below(uint64 (n - i))
                let t = a[j]
                a[j] <- a[i]
                a[i] <- t
                result[i] <- t
        else
            let moved = Dictionary<int, int>()

            let at (p: int) =
                match moved.TryGetValue p with
                | true, v -> v
                | _ -> p

            for i in 0 .. k - 1 do
                let j = i + stream.Below(uint64 (n - i))
                let t = at j
                moved[j] <- at i
                result[i] <- t

        result

    /// <summary>A uniformly random permutation of [0, <paramref name="n"/>) (Fisher–Yates driven by the key's stream).</summary>
    /// <param name="key">The key.</param>
    /// <param name="n">The number of elements, at least 0.</param>
    /// <exception cref="System.ArgumentException"><paramref name="n"/> is negative.</exception>
    let permutation (key: Key) (n: int) : int[] =
        if n < 0 then
            invalidArg (nameof n) (sprintf "Rng.permutation: n must be non-negative, got %d" n)

        fisherYatesPrefix key n n

    /// <summary><paramref name="k"/> distinct indices drawn uniformly from [0, <paramref name="n"/>) without
    /// replacement, in random order: the first <paramref name="k"/> entries of <c>Rng.permutation key n</c>,
    /// computed in O(k) time when <paramref name="k"/> is small against <paramref name="n"/>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="n">The size of the population, at least 0.</param>
    /// <param name="k">The number of indices, in [0, n].</param>
    /// <exception cref="System.ArgumentException"><paramref name="n"/> is negative, or <paramref name="k"/> is negative or greater than <paramref name="n"/>.</exception>
    let choice (key: Key) (n: int) (k: int) : int[] =
        if n < 0 then
            invalidArg (nameof n) (sprintf "Rng.choice: n must be non-negative, got n = %d (k = %d)" n k)

        if k < 0 || k > n then
            invalidArg (nameof k) (sprintf "Rng.choice: k must be in [0, n], got k = %d with n = %d" k n)

        fisherYatesPrefix key n k
