namespace Qmix.Functional

open System

/// <summary>How the replay buffer stores the observations and states of its episodes.</summary>
type ReplayPrecision =
    /// <summary>As recorded, in 32-bit floats: sampling gives back exactly the values recorded (the default).</summary>
    | Float32
    /// <summary>In 16-bit floats (IEEE half precision): half the memory of observations and states, each value rounded
    /// to the nearest half (11 significant bits, a relative error of at most 2^-11 ≈ 0.05 %; values beyond ±65504
    /// become infinite). Integers up to 2048 and the multiples of powers of two within that range, 0 and 1 among them,
    /// are kept exactly.</summary>
    | Float16

/// A float array as the buffer keeps it: 32-bit, 16-bit, or (for masks whose every value is 0 or 1) one bit per value.
[<NoComparison>]
type internal StoredFloats =
    | Singles of float32[]
    | Halves of Half[]
    | Bits of count: int * bits: byte[]

/// <summary>An episode as the replay buffer keeps it: its recorded steps only (<c>Length + 1</c> rows, without the
/// padding up to the limit), observations and states in the buffer's precision, available-action masks as bits.
/// Sampling expands it back to the layout of <see cref="T:Qmix.Functional.Episode"/>.</summary>
[<NoComparison>]
type internal StoredEpisode =
    {
        spec: EnvSpec
        length: int
        obs: StoredFloats
        state: StoredFloats
        actions: int[]
        availActions: StoredFloats
        reward: float32[]
        terminated: bool
        won: bool option
    }

/// Packing float arrays into their stored form and back.
[<RequireQualifiedAccess>]
module internal StoredFloats =
    let private toHalf (x: float32) : Half = Half.op_Explicit x

    /// The first n values of an array, in the given precision.
    let ofValues (precision: ReplayPrecision) (values: float32[]) (n: int) : StoredFloats =
        match precision with
        | Float32 -> Singles(Array.sub values 0 n)
        | Float16 -> Halves(Array.init n (fun i -> toHalf values[i]))

    /// The first n values of a mask: bits when every one of them is 0 or 1, otherwise kept as they are.
    let ofMask (values: float32[]) (n: int) : StoredFloats =
        let mutable binary = true
        let mutable i = 0

        while binary && i < n do
            binary <- values[i] = 0.0f || values[i] = 1.0f
            i <- i + 1

        if binary then
            let bits = Array.zeroCreate<byte>((n + 7) / 8)

            for j in 0 .. n - 1 do
                if values[j] = 1.0f then
                    bits[j >>> 3] <- bits[j >>> 3] ||| (1uy <<< (j &&& 7))

            Bits(n, bits)
        else
            Singles(Array.sub values 0 n)

    /// The number of values held.
    let count (f: StoredFloats) : int =
        match f with
        | Singles v -> v.Length
        | Halves v -> v.Length
        | Bits(n, _) -> n

    /// The bytes the values take.
    let bytes (f: StoredFloats) : int64 =
        match f with
        | Singles v -> 4L * int64 v.Length
        | Halves v -> 2L * int64 v.Length
        | Bits(_, b) -> int64 b.Length

    /// Writes values start .. start + dst.Length − 1, as float32, into dst.
    let copyRange (f: StoredFloats) (start: int) (dst: Span<float32>) : unit =
        match f with
        | Singles v -> ReadOnlySpan(v, start, dst.Length).CopyTo dst
        | Halves v ->
            for i in 0 .. dst.Length - 1 do
                dst[i] <- float32 v[start + i]
        | Bits(_, b) ->
            for i in 0 .. dst.Length - 1 do
                let j = start + i
                dst[i] <- float32 ((b[j >>> 3] >>> (j &&& 7)) &&& 1uy)

    /// Writes every value, as float32, into dst (at least count long).
    let copyTo (f: StoredFloats) (dst: Span<float32>) : unit = copyRange f 0 (dst.Slice(0, count f))

/// Functions over stored episodes.
[<RequireQualifiedAccess>]
module internal StoredEpisode =
    /// An episode as the buffer keeps it (the episode must be valid).
    let ofEpisode (precision: ReplayPrecision) (e: Episode) : StoredEpisode =
        let s = e.Spec
        let rows = e.Length + 1

        {
            spec = s
            length = e.Length
            obs = StoredFloats.ofValues precision e.Obs (rows * s.NAgents * s.ObsDim)
            state = StoredFloats.ofValues precision e.State (rows * s.StateDim)
            actions = Array.sub e.Actions 0 (rows * s.NAgents)
            availActions = StoredFloats.ofMask e.AvailActions (rows * s.NAgents * s.NActions)
            reward = Array.sub e.Reward 0 rows
            terminated = e.Terminated
            won = e.Won
        }

    /// The bytes of an episode's arrays as the buffer keeps them.
    let bytes (s: StoredEpisode) : int64 =
        StoredFloats.bytes s.obs
        + StoredFloats.bytes s.state
        + 4L * int64 s.actions.Length
        + StoredFloats.bytes s.availActions
        + 4L * int64 s.reward.Length

    /// The most bytes one recorded step takes in a buffer of this precision (observations, state, actions, the
    /// available-action mask as bits, the reward).
    let stepBytes (spec: EnvSpec) (precision: ReplayPrecision) : float =
        let width =
            match precision with
            | Float32 -> 4.0
            | Float16 -> 2.0

        let n = float spec.NAgents

        width * (n * float spec.ObsDim + float spec.StateDim)
        + 4.0 * n
        + n * float spec.NActions / 8.0
        + 4.0

    /// The episode in the layout of Episode (padded to the limit with zeros).
    let toEpisode (s: StoredEpisode) : Episode =
        let spec = s.spec
        let t1 = spec.EpisodeLimit + 1

        let expand (f: StoredFloats) (width: int) =
            let out = Array.zeroCreate<float32>(t1 * width)
            StoredFloats.copyTo f (Span out)
            out

        let actions = Array.zeroCreate<int>(t1 * spec.NAgents)
        Array.blit s.actions 0 actions 0 s.actions.Length
        let reward = Array.zeroCreate<float32> t1
        Array.blit s.reward 0 reward 0 s.reward.Length

        {
            Episode.Spec = spec
            Length = s.length
            Obs = expand s.obs (spec.NAgents * spec.ObsDim)
            State = expand s.state spec.StateDim
            Actions = actions
            AvailActions = expand s.availActions (spec.NAgents * spec.NActions)
            Reward = reward
            Terminated = s.terminated
            Won = s.won
        }

    /// Writes episode s into slot i of a batch of t steps per episode (t ≥ Length + 1): its recorded steps, then
    /// zeros, and its filled and terminated flags (which the caller has cleared).
    let stackAt (batch: EpisodeBatch) (i: int) (s: StoredEpisode) : unit =
        let t = batch.MaxSeqLength
        let kept = s.length + 1

        let put (f: StoredFloats) (dst: float32[]) (width: int) =
            StoredFloats.copyTo f (Span(dst, i * t * width, kept * width))
            Array.Clear(dst, (i * t + kept) * width, (t - kept) * width)

        let n, a = batch.NAgents, batch.NActions
        put s.obs batch.Obs (n * batch.ObsDim)
        put s.state batch.State batch.StateDim
        Array.Copy(s.actions, 0, batch.Actions, i * t * n, kept * n)
        Array.Clear(batch.Actions, (i * t + kept) * n, (t - kept) * n)
        put s.availActions batch.AvailActions (n * a)
        Array.Copy(s.reward, 0, batch.Reward, i * t, kept)
        Array.Clear(batch.Reward, i * t + kept, t - kept)
        Array.Fill(batch.Filled, 1.0f, i * t, s.length)

        if s.terminated then
            batch.Terminated[i * t + s.length - 1] <- 1.0f

    /// Streams stored values into a tensor sink as float32, converting through `scratch` (so nothing of the
    /// episode's size is allocated).
    let private writeValues (sink: Qmix.Tensors.TensorSink) (scratch: float32[]) (f: StoredFloats) : unit =
        match f with
        | Singles v -> sink.Write(ReadOnlySpan v)
        | _ ->
            let count = StoredFloats.count f
            let mutable i = 0

            while i < count do
                let m = min scratch.Length (count - i)
                StoredFloats.copyRange f i (Span(scratch, 0, m))
                sink.Write(ReadOnlySpan(scratch, 0, m))
                i <- i + m

    /// Streams an episode's recorded rows of a field (no padding) into a tensor sink: obs, state, actions,
    /// avail_actions or reward.
    let writeRecorded (sink: Qmix.Tensors.TensorSink) (scratch: float32[]) (field: string) (s: StoredEpisode) : unit =
        match field with
        | "obs" -> writeValues sink scratch s.obs
        | "state" -> writeValues sink scratch s.state
        | "actions" -> sink.Write(ReadOnlySpan s.actions)
        | "avail_actions" -> writeValues sink scratch s.availActions
        | "reward" -> sink.Write(ReadOnlySpan s.reward)
        | other -> invalidArg (nameof field) (sprintf "no episode field '%s'" other)

    /// The number of transitions the episode recorded.
    let length (s: StoredEpisode) : int = s.length
