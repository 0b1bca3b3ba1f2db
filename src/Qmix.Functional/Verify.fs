namespace Qmix.Functional

open System
open System.Globalization
open FsCheck
open FsCheck.FSharp
open Qmix.Tensors

/// <summary>Settings of a verification run, with documented defaults in <c>VerifyConfig.defaults</c>. Cases are drawn
/// by FsCheck generators from a fixed seed, so the same settings always check the same cases and a failing report can
/// be reproduced.</summary>
type VerifyConfig =
    {
        /// <summary>The seed of the FsCheck generator (1).</summary>
        Seed: uint64
        /// <summary>The number of drawn cases (100). A case is <c>Batch</c> points.</summary>
        Tests: int
        /// <summary>The points per case, checked in one forward pass (16). For monotonicity a point is a state and
        /// the agent Qs; for argmax decomposition a state and a per-agent Q table.</summary>
        Batch: int
        /// <summary>Agent Qs are drawn uniformly from [−QRange, QRange] (10).</summary>
        QRange: float32
        /// <summary>States (hypernetwork inputs) are drawn uniformly from [−StateRange, StateRange] (10).</summary>
        StateRange: float32
        /// <summary>One point in five has its Qs, and independently one in five its state, multiplied by this factor
        /// (100), so large magnitudes are covered too. About one Q value in five is instead a small integer in
        /// −3..3, so ties between actions and between agents occur.</summary>
        LargeScale: float32
        /// <summary>Monotonicity fails when a derivative ∂Q_tot/∂Q_a is below −Tolerance (0: any negative derivative
        /// fails; a NaN derivative fails too).</summary>
        Tolerance: float32
        /// <summary>Argmax decomposition fails when the Q_tot of the per-agent greedy tuple is below the maximum
        /// Q_tot by more than <c>ValueTolerance · max(1, |max Q_tot|)</c> (1e-5, room for float32 rounding; ties
        /// pass).</summary>
        ValueTolerance: float32
        /// <summary>The most joint actions A^N the argmax check enumerates (100 000); more is refused.</summary>
        MaxJointActions: int
    }

    /// <summary>Seed 1, 100 cases of 16 points, Qs and states in ±10 (one in five ×100), tolerance 0 for
    /// derivatives and 1e-5 (relative) for values, at most 100 000 joint actions.</summary>
    static member defaults =
        {
            Seed = 1UL
            Tests = 100
            Batch = 16
            QRange = 10.0f
            StateRange = 10.0f
            LargeScale = 100.0f
            Tolerance = 0.0f
            ValueTolerance = 1e-5f
            MaxJointActions = 100_000
        }

/// <summary>A point where a mixer's output decreases in an agent's Q.</summary>
type MonotonicityViolation =
    {
        /// <summary>The state (hypernetwork input), [D].</summary>
        State: float32[]
        /// <summary>The agent Qs, [N].</summary>
        AgentQs: float32[]
        /// <summary>The output k whose derivative is negative (always 0 for a mixer with one output).</summary>
        Output: int
        /// <summary>The agent a.</summary>
        Agent: int
        /// <summary>∂Q_tot[k]/∂Q_a at the point (negative, or NaN).</summary>
        Derivative: float32
    }

/// <summary>A state and Q table where the per-agent greedy actions do not maximise the mixer's output.</summary>
type ArgmaxViolation =
    {
        /// <summary>The state (hypernetwork input), [D].</summary>
        State: float32[]
        /// <summary>The per-agent Q table [N, A]: row a holds agent a's Q for each action.</summary>
        QTable: float32[,]
        /// <summary>The output k that is not maximised (always 0 for a mixer with one output).</summary>
        Output: int
        /// <summary>The tuple of per-agent argmaxes (the first on ties).</summary>
        Greedy: int[]
        /// <summary>Q_tot[k] of the greedy tuple.</summary>
        GreedyQ: float32
        /// <summary>The joint action with the largest Q_tot[k] (the first on ties; a NaN output is reported
        /// here).</summary>
        Best: int[]
        /// <summary>Q_tot[k] of the best joint action.</summary>
        BestQ: float32
    }

/// <summary>The counterexample a failed check found.</summary>
type Violation =
    /// <summary>A negative (or NaN) ∂Q_tot/∂Q_a.</summary>
    | NegativeDerivative of MonotonicityViolation
    /// <summary>The greedy tuple misses the joint maximum.</summary>
    | ArgmaxMismatch of ArgmaxViolation

/// <summary>The outcome of checking one property of one mixer.</summary>
type VerifyReport =
    {
        /// <summary>The property checked: <c>monotonicity</c> or <c>argmax decomposition</c>.</summary>
        Property: string
        /// <summary>The mixer's name.</summary>
        MixerName: string
        /// <summary>Whether the mixer claims the property (<c>Mixer.ClaimsMonotonic</c>).</summary>
        Claimed: bool
        /// <summary>True when no counterexample was found.</summary>
        Passed: bool
        /// <summary>The number of cases examined (each of <c>VerifyConfig.Batch</c> points), the failing one
        /// included.</summary>
        CasesChecked: int
        /// <summary>The seed the cases were drawn from.</summary>
        Seed: uint64
        /// <summary>The first counterexample, described for people; <c>None</c> when the check passed.</summary>
        Counterexample: string option
        /// <summary>The first counterexample as data; <c>None</c> when the check passed.</summary>
        Violation: Violation option
    }

/// <summary>Property-based verification of any mixer (<see cref="T:Qmix.Functional.Mixer`1"/>, built in or
/// user-defined): monotonicity ∂Q_tot/∂Q_a ≥ 0 and argmax decomposition (IGM), checked at points drawn by FsCheck
/// generators from <c>VerifyConfig.Seed</c>.</summary>
/// <remarks>Each point (a row of the batch passed to <c>Mixer.Forward</c>) is assumed to be mixed independently of
/// the other rows, as every mixer of the QMIX family does. A mixer with K &gt; 1 outputs (independent learners,
/// K = N) is checked output by output: every ∂Q_tot[k]/∂Q_a must be non-negative, and the greedy tuple must maximise
/// every Q_tot[k]. This is stronger than checking the sum of the outputs, which could hide a decreasing output behind
/// an increasing one.</remarks>
[<RequireQualifiedAccess>]
module Verify =
    /// Rows per forward pass in the argmax check (several points share one call when A^N is small).
    [<Literal>]
    let private RowBudget = 65536

    let private num (x: float32) =
        x.ToString("G6", CultureInfo.InvariantCulture)

    let private vector (xs: float32[]) =
        "[" + String.Join(", ", xs |> Array.map num) + "]"

    let private ints (xs: int[]) = "(" + String.Join(", ", xs) + ")"

    let private checkConfig (config: VerifyConfig) =
        let positive (x: float32) = Single.IsFinite x && x > 0.0f

        if config.Tests < 1 || config.Batch < 1 then
            invalidArg
                (nameof config)
                (sprintf "Verify: Tests and Batch must be at least 1, got Tests=%d Batch=%d" config.Tests config.Batch)

        if
            not (positive config.QRange)
            || not (positive config.StateRange)
            || not (positive config.LargeScale)
        then
            invalidArg
                (nameof config)
                (sprintf
                    "Verify: QRange, StateRange and LargeScale must be finite and positive, got %g, %g, %g"
                    config.QRange
                    config.StateRange
                    config.LargeScale)

        if not (config.Tolerance >= 0.0f) || not (config.ValueTolerance >= 0.0f) then
            invalidArg
                (nameof config)
                (sprintf
                    "Verify: Tolerance and ValueTolerance must be non-negative, got %g, %g"
                    config.Tolerance
                    config.ValueTolerance)

        if config.MaxJointActions < 1 then
            invalidArg
                (nameof config)
                (sprintf "Verify: MaxJointActions must be at least 1, got %d" config.MaxJointActions)

    let private checkSizes (name: string) (nAgents: int) (inputDim: int) =
        if nAgents < 1 then
            invalidArg (nameof nAgents) (sprintf "Verify %s: nAgents must be at least 1, got %d" name nAgents)

        if inputDim < 1 then
            invalidArg (nameof inputDim) (sprintf "Verify %s: inputDim must be at least 1, got %d" name inputDim)

    // ---------------------------------------------------------------- generators

    /// A value uniformly in [−range, range] (2^24 + 1 grid points).
    let private uniformIn (range: float32) : Gen<float32> =
        Gen.choose (0, 1 <<< 24)
        |> Gen.map (fun i -> range * (2.0f * float32 i / float32 (1 <<< 24) - 1.0f))

    /// One Q value: usually uniform in ±QRange, sometimes a small integer (for ties).
    let private qValue (config: VerifyConfig) : Gen<float32> =
        Gen.frequency [ 4, uniformIn config.QRange; 1, Gen.choose (-3, 3) |> Gen.map float32 ]

    /// The factor of one point: 1, or one time in five LargeScale.
    let private scale (config: VerifyConfig) : Gen<float32> =
        Gen.frequency [ 4, Gen.constant 1.0f; 1, Gen.constant config.LargeScale ]

    /// `count` values from `value`, all multiplied by one drawn factor.
    let private scaledRow (config: VerifyConfig) (count: int) (value: Gen<float32>) : Gen<float32[]> =
        gen {
            let! f = scale config
            let! xs = Gen.arrayOfLength count value
            return xs |> Array.map (fun x -> x * f)
        }

    /// `rows` points of `width` values each, flattened row-major.
    let private points (config: VerifyConfig) (rows: int) (width: int) (value: Gen<float32>) : Gen<float32[]> =
        Gen.arrayOfLength rows (scaledRow config width value) |> Gen.map Array.concat

    /// The FsCheck random state for a seed (the seed is mixed first, so nearby seeds give unrelated streams).
    let private rnd (seed: uint64) =
        let k = Rng.key seed
        Rnd(Rng.bits k 0UL, Rng.bits k 1UL ||| 1UL)

    let private draw (config: VerifyConfig) (g: Gen<'T>) : 'T[] =
        Gen.sampleWithSeed (rnd config.Seed) 100 config.Tests g

    // ---------------------------------------------------------------- reports

    let private report property (mixer: Mixer<'P>) (config: VerifyConfig) cases (violation: Violation option) =
        let text =
            violation
            |> Option.map (fun v ->
                match v with
                | NegativeDerivative m ->
                    let bound =
                        if config.Tolerance = 0.0f then
                            "not ≥ 0"
                        else
                            sprintf "below −%s" (num config.Tolerance)

                    sprintf
                        "∂Q_tot[%d]/∂Q_%d = %s, %s, at state = %s, agent Qs = %s"
                        m.Output
                        m.Agent
                        (num m.Derivative)
                        bound
                        (vector m.State)
                        (vector m.AgentQs)
                | ArgmaxMismatch a ->
                    let table =
                        [ for i in 0 .. Array2D.length1 a.QTable - 1 -> vector a.QTable[i, *] ]
                        |> String.concat "; "

                    sprintf
                        "the greedy tuple %s has Q_tot[%d] = %s, but the joint action %s has Q_tot[%d] = %s, at state = %s, Q table [N, A] = [%s]"
                        (ints a.Greedy)
                        a.Output
                        (num a.GreedyQ)
                        (ints a.Best)
                        a.Output
                        (num a.BestQ)
                        (vector a.State)
                        table)

        {
            Property = property
            MixerName = mixer.Name
            Claimed = mixer.ClaimsMonotonic
            Passed = violation.IsNone
            CasesChecked = cases
            Seed = config.Seed
            Counterexample = text
            Violation = violation
        }

    /// The mixer's output for `rows` points, checked to be [rows, K].
    let private checkOutput (mixer: Mixer<'P>) (rows: int) (out: Tensor) =
        if isNull out || out.Shape.ToArray() <> [| rows; mixer.Outputs |] then
            invalidArg
                (nameof mixer)
                (sprintf
                    "Verify: mixer %s returned %s for %d points, expected [%d, %d] (Outputs = %d)"
                    mixer.Name
                    (if isNull out then "null" else string out.Shape)
                    rows
                    rows
                    mixer.Outputs
                    mixer.Outputs)

        out

    // ---------------------------------------------------------------- monotonicity

    /// <summary>Checks ∂Q_tot[k]/∂Q_a ≥ −Tolerance for every output k and agent a at drawn states and agent Qs. The
    /// derivatives are computed by reverse-mode autodiff with respect to the agent Qs (one backward pass per output),
    /// the parameters held fixed.</summary>
    /// <param name="mixer">The mixer, built in or user-defined.</param>
    /// <param name="p">Its parameters.</param>
    /// <param name="nAgents">The number of agents N.</param>
    /// <param name="inputDim">The width D of the hypernetwork input.</param>
    /// <param name="config">The verification settings.</param>
    /// <returns>A report with the first counterexample found, if any.</returns>
    /// <exception cref="System.ArgumentException">Bad sizes or settings, or the mixer's output is not [B, K].</exception>
    let checkMonotonic (mixer: Mixer<'P>) (p: 'P) (nAgents: int) (inputDim: int) (config: VerifyConfig) : VerifyReport =
        checkConfig config
        checkSizes "checkMonotonic" nAgents inputDim
        let n, d, b, k = nAgents, inputDim, config.Batch, mixer.Outputs

        let cases =
            Gen.zip (points config b n (qValue config)) (points config b d (uniformIn config.StateRange))
            |> draw config

        // the first (output, flat index, derivative) below −Tolerance in one case
        let violationIn (qs: float32[]) (s: float32[]) =
            let st = Tensor.ofArray [| b; d |] s

            Seq.init k id
            |> Seq.tryPick (fun output ->
                let _, g =
                    Autodiff.valueAndGrad
                        (fun (q: Tensor) ->
                            mixer.Forward p q st
                            |> checkOutput mixer b
                            |> Tensor.slice 1 output 1
                            |> Tensor.sum)
                        (Tensor.ofArray [| b; n |] qs)

                let g = g.ToArray()

                g
                |> Array.tryFindIndex (fun x -> not (x >= -config.Tolerance))
                |> Option.map (fun i ->
                    let row = i / n

                    NegativeDerivative
                        {
                            State = s[row * d .. row * d + d - 1]
                            AgentQs = qs[row * n .. row * n + n - 1]
                            Output = output
                            Agent = i % n
                            Derivative = g[i]
                        }))

        let rec go i =
            if i = cases.Length then
                report "monotonicity" mixer config i None
            else
                let qs, s = cases[i]

                match violationIn qs s with
                | Some v -> report "monotonicity" mixer config (i + 1) (Some v)
                | None -> go (i + 1)

        go 0

    // ---------------------------------------------------------------- argmax decomposition

    /// <summary>Checks argmax decomposition (IGM): at drawn states and per-agent Q tables [N, A], the tuple of
    /// per-agent argmaxes must attain the maximum of Q_tot over all A^N joint actions (within
    /// <c>ValueTolerance</c>; ties pass). All joint actions of a point are mixed in one forward pass (agent Qs
    /// [A^N, N], the state repeated [A^N, D]); joint action j gives agent a the action
    /// <c>(j / A^(N−1−a)) mod A</c>.</summary>
    /// <param name="mixer">The mixer, built in or user-defined.</param>
    /// <param name="p">Its parameters.</param>
    /// <param name="nAgents">The number of agents N.</param>
    /// <param name="nActions">The number of actions A per agent.</param>
    /// <param name="inputDim">The width D of the hypernetwork input.</param>
    /// <param name="config">The verification settings.</param>
    /// <returns>A report with the first counterexample found, if any.</returns>
    /// <exception cref="System.ArgumentException">Bad sizes or settings, A^N above
    /// <c>VerifyConfig.MaxJointActions</c>, or the mixer's output is not [rows, K].</exception>
    let checkArgmaxDecomposition
        (mixer: Mixer<'P>)
        (p: 'P)
        (nAgents: int)
        (nActions: int)
        (inputDim: int)
        (config: VerifyConfig)
        : VerifyReport =
        checkConfig config
        checkSizes "checkArgmaxDecomposition" nAgents inputDim

        if nActions < 1 then
            invalidArg
                (nameof nActions)
                (sprintf "Verify checkArgmaxDecomposition: nActions must be at least 1, got %d" nActions)

        let joint = bigint nActions ** nAgents

        if joint > bigint config.MaxJointActions then
            invalidArg
                (nameof nActions)
                (sprintf
                    "Verify checkArgmaxDecomposition: A^N = %d^%d = %O joint actions exceed the limit of %d (VerifyConfig.MaxJointActions)"
                    nActions
                    nAgents
                    joint
                    config.MaxJointActions)

        let n, a, d, b, k = nAgents, nActions, inputDim, config.Batch, mixer.Outputs
        let j = int joint
        let place = Array.init n (fun agent -> pown a (n - 1 - agent))

        let actionsOf (index: int) =
            Array.init n (fun agent -> index / place[agent] % a)

        let perCall = max 1 (RowBudget / j)

        let cases =
            Gen.zip (points config b (n * a) (qValue config)) (points config b d (uniformIn config.StateRange))
            |> draw config

        // the first violation among points [first, first + count) of one case
        let violationIn (tables: float32[]) (s: float32[]) (first: int) (count: int) =
            let rows = count * j
            let qs = Array.zeroCreate (rows * n)
            let st = Array.zeroCreate (rows * d)

            for pt in 0 .. count - 1 do
                let table = (first + pt) * n * a

                for u in 0 .. j - 1 do
                    let row = pt * j + u

                    for agent in 0 .. n - 1 do
                        qs[row * n + agent] <- tables[table + agent * a + u / place[agent] % a]

                    Array.blit s ((first + pt) * d) st (row * d) d

            let out =
                mixer.Forward p (Tensor.ofArray [| rows; n |] qs) (Tensor.ofArray [| rows; d |] st)
                |> checkOutput mixer rows
                |> Tensor.toArray

            seq {
                for pt in 0 .. count - 1 do
                    let table = (first + pt) * n * a
                    let q agent u = tables[table + agent * a + u]
                    // the per-agent argmaxes (first on ties) and their joint index
                    let greedy =
                        Array.init n (fun agent -> Seq.init a id |> Seq.maxBy (fun u -> struct (q agent u, -u)))

                    let g = Array.fold2 (fun acc u w -> acc + u * w) 0 greedy place

                    for output in 0 .. k - 1 do
                        let value u = out[(pt * j + u) * k + output]
                        // the joint maximum (first on ties); a NaN output is reported as the maximum
                        let best =
                            match Seq.init j id |> Seq.tryFind (fun u -> Single.IsNaN(value u)) with
                            | Some u -> u
                            | None -> Seq.init j id |> Seq.maxBy (fun u -> struct (value u, -u))

                        let gq, bq = value g, value best
                        let slack = config.ValueTolerance * max 1.0f (abs bq)

                        if not (gq >= bq - slack) then
                            yield
                                ArgmaxMismatch
                                    {
                                        State = s[(first + pt) * d .. (first + pt) * d + d - 1]
                                        QTable = Array2D.init n a q
                                        Output = output
                                        Greedy = greedy
                                        GreedyQ = gq
                                        Best = actionsOf best
                                        BestQ = bq
                                    }
            }
            |> Seq.tryHead

        let violationInCase (tables, s) =
            Seq.init ((b + perCall - 1) / perCall) (fun c -> c * perCall)
            |> Seq.tryPick (fun first -> violationIn tables s first (min perCall (b - first)))

        let rec go i =
            if i = cases.Length then
                report "argmax decomposition" mixer config i None
            else
                match violationInCase cases[i] with
                | Some v -> report "argmax decomposition" mixer config (i + 1) (Some v)
                | None -> go (i + 1)

        go 0

    // ---------------------------------------------------------------- convenience

    /// <summary>A report for people: the verdict on one line, then the counterexample, if any.</summary>
    let describe (report: VerifyReport) : string =
        let verdict =
            if report.Passed then
                sprintf "passed %d cases" report.CasesChecked
            else
                sprintf "FAILED at case %d" report.CasesChecked

        let claim = if report.Claimed then "claims" else "does not claim"

        let head =
            sprintf
                "%s of %s (%s monotonicity): %s (seed %d)"
                report.Property
                report.MixerName
                claim
                verdict
                report.Seed

        match report.Counterexample with
        | Some c -> head + Environment.NewLine + "  counterexample: " + c
        | None -> head

    /// <summary>Creates a built-in mixer with <see cref="M:Qmix.Functional.Mixers.create"/>, initialises its
    /// parameters from <paramref name="key"/> and runs both checks with the given settings.</summary>
    /// <param name="config">The verification settings.</param>
    /// <param name="cfg">The choice of mixer.</param>
    /// <param name="spec">The environment's sizes (N, A, and the input widths).</param>
    /// <param name="input">What the hypernetworks read (sets D).</param>
    /// <param name="key">The key for the mixer's parameters.</param>
    /// <returns>The monotonicity report and the argmax decomposition report.</returns>
    /// <exception cref="System.ArgumentException">See the two checks; in particular A^N above
    /// <c>MaxJointActions</c>.</exception>
    let checkBuiltInWith
        (config: VerifyConfig)
        (cfg: MixerConfig)
        (spec: EnvSpec)
        (input: HyperInput)
        (key: Key)
        : VerifyReport * VerifyReport =
        let d = Mixers.inputDim input spec
        let mixer = Mixers.create cfg spec.NAgents d
        let p = mixer.Init key

        checkMonotonic mixer p spec.NAgents d config,
        checkArgmaxDecomposition mixer p spec.NAgents spec.NActions d config

    /// <summary><see cref="M:Qmix.Functional.Verify.checkBuiltInWith"/> with <c>VerifyConfig.defaults</c>.</summary>
    /// <param name="cfg">The choice of mixer.</param>
    /// <param name="spec">The environment's sizes.</param>
    /// <param name="input">What the hypernetworks read.</param>
    /// <param name="key">The key for the mixer's parameters.</param>
    /// <returns>The monotonicity report and the argmax decomposition report.</returns>
    let checkBuiltIn (cfg: MixerConfig) (spec: EnvSpec) (input: HyperInput) (key: Key) : VerifyReport * VerifyReport =
        checkBuiltInWith VerifyConfig.defaults cfg spec input key
