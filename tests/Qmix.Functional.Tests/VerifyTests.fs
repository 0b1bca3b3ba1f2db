/// The verifier on every built-in mixer (random and large parameters), on user-defined mixers, and on negative
/// controls: non-monotonic mixers must be reported as failing, with a counterexample that is real.
module Qmix.Functional.Tests.VerifyTests

open System
open Expecto
open Qmix.Tests
open Qmix.Tensors
open Qmix.Functional

let private spec =
    {
        Name = "verify"
        NAgents = 3
        NActions = 4
        ObsDim = 2
        StateDim = 5
        EpisodeLimit = 10
    }

/// The default settings: 100 cases of 16 points, seed 1.
let private config = VerifyConfig.defaults

let private qmix layers how =
    Qmix
        { QmixConfig.defaults with
            HypernetLayers = layers
            NonNegative = how
        }

let private builtIns: (string * MixerConfig) list =
    [
        "qmix, 1-layer hypernets, abs", qmix 1 Abs
        "qmix, 2-layer hypernets, abs", qmix 2 Abs
        "qmix, 1-layer hypernets, softplus", qmix 1 Softplus
        "qmix, 2-layer hypernets, softplus", qmix 2 Softplus
        "vdn", Vdn
        "qmix-ns", QmixNs QmixConfig.defaults
        "qmix-lin", QmixLin QmixConfig.defaults
        "qmix-lin, 1-layer hypernet",
        QmixLin
            { QmixConfig.defaults with
                HypernetLayers = 1
            }
        "vdn-s", VdnS QmixConfig.defaults
        "iql", Independent
    ]

/// Parameters scaled by 30 and perturbed by normal noise of scale 3: large weights, saturated units.
let private large (key: Key) (p: 'P) : 'P =
    let leaves = Tree.leaves p

    Tree.rebuild
        p
        (leaves
         |> Array.mapi (fun i t ->
             Rng.normal (Rng.foldIn i key) t.Shape
             |> Tensor.mulScalar 3.0f
             |> Tensor.add (Tensor.mulScalar 30.0f t)))

let private assertPassed (what: string) (report: VerifyReport) =
    Expect.isTrue report.Passed (sprintf "%s: %s" what (Verify.describe report))
    Expect.equal report.CasesChecked config.Tests "report.CasesChecked"
    Expect.equal report.Counterexample None "report.Counterexample"

let private checkBoth (what: string) (mixer: Mixer<'P>) (p: 'P) (d: int) =
    Verify.checkMonotonic mixer p spec.NAgents d config
    |> assertPassed (what + ", monotonicity")

    Verify.checkArgmaxDecomposition mixer p spec.NAgents spec.NActions d config
    |> assertPassed (what + ", argmax decomposition")

// ---------------------------------------------------------------- built-in mixers

/// One built-in mixer, initialised from a drawn seed, is monotonic and decomposes the argmax (the test list runs it
/// as a property over initialisation seeds).
let ``every built-in mixer is monotonic and decomposes the argmax, for several random initialisations``
    (cfg: MixerConfig)
    (seed: uint64)
    =
    let m, a = Verify.checkBuiltInWith config cfg spec GlobalState (Rng.key seed)
    assertPassed (sprintf "seed %d, monotonicity" seed) m
    assertPassed (sprintf "seed %d, argmax decomposition" seed) a
    Expect.isTrue m.Claimed "m.Claimed"

let ``every built-in mixer stays monotonic with large perturbed parameters`` () =
    let d = Mixers.inputDim GlobalState spec

    for name, cfg in builtIns do
        let mixer = Mixers.create cfg spec.NAgents d
        let p = mixer.Init(Rng.key 3UL) |> large (Rng.key 4UL)
        checkBoth (name + ", large parameters") mixer p d

let ``checkBuiltIn works with observations as the hypernetwork input and with the default settings`` () =
    let small = { spec with NActions = 3 }
    let m, a = Verify.checkBuiltIn (qmix 2 Abs) small StateAndObservations (Rng.key 5UL)
    Expect.isTrue (m.Passed && a.Passed) (Verify.describe m + "\n" + Verify.describe a)
    Expect.equal m.CasesChecked VerifyConfig.defaults.Tests "m.CasesChecked"
    Expect.equal m.MixerName "qmix" "m.MixerName"
    Expect.equal m.Property "monotonicity" "m.Property"
    Expect.equal a.Property "argmax decomposition" "a.Property"

// ---------------------------------------------------------------- user-defined mixers

/// QMIX's forward pass written out in the test, with the non-negativity step as a parameter (1-layer hypernets).
let private qmixLike (nonNegative: Tensor -> Tensor) (n: int) (e: int) (m: QmixMixer) (qs: Tensor) (s: Tensor) =
    let layer h =
        match h with
        | OneLayer l -> l
        | TwoLayers _ -> failwith "1-layer hypernets only"

    let rows = qs.Shape[0]

    let w1 =
        Linear.forward (layer m.HyperW1) s
        |> nonNegative
        |> Tensor.reshape [| rows; n; e |]

    let hidden =
        Tensor.mul (Tensor.reshape [| rows; n; 1 |] qs) w1
        |> Tensor.sumAxis 1 false
        |> Tensor.add (Linear.forward m.HyperB1 s)
        |> Tensor.elu

    let wf = Linear.forward (layer m.HyperWFinal) s |> nonNegative
    let v = s |> Linear.forward m.V.Hidden |> Tensor.relu |> Linear.forward m.V.Output
    Tensor.add (Tensor.mul hidden wf |> Tensor.sumAxis 1 true) v

let private qmixLikeMixer (name: string) (nonNegative: Tensor -> Tensor) : Mixer<QmixMixer> =
    let cfg =
        { QmixConfig.defaults with
            HypernetLayers = 1
        }

    let builtIn = Mixers.create (Qmix cfg) spec.NAgents spec.StateDim

    {
        Name = name
        ClaimsMonotonic = false
        Outputs = 1
        Init =
            fun key ->
                match builtIn.Init key with
                | QmixParams m -> m
                | other -> failwithf "unexpected %A" other
        Forward = qmixLike nonNegative spec.NAgents cfg.Embed
        Structure = Opaque
    }

/// The derivative of a mixer's (single) output in agent a's Q at one point, recomputed by autodiff.
let private derivative (mixer: Mixer<'P>) (p: 'P) (state: float32[]) (qs: float32[]) (agent: int) =
    let s = Tensor.ofArray [| 1; state.Length |] state

    let g =
        Autodiff.grad (fun q -> mixer.Forward p q s |> Tensor.sum) (Tensor.ofArray [| 1; qs.Length |] qs)

    g.ToArray()[agent]

let ``the test's QMIX-like forward with abs reproduces the built-in mixer and passes`` () =
    let mixer = qmixLikeMixer "qmix-like" Tensor.abs
    let p = mixer.Init(Rng.key 6UL)

    let builtIn = Mixers.create (qmix 1 Abs) spec.NAgents spec.StateDim

    let qs = Rng.uniformRange (Rng.key 7UL) -5.0f 5.0f (Shape [| 8; spec.NAgents |])
    let s = Rng.uniformRange (Rng.key 8UL) -5.0f 5.0f (Shape [| 8; spec.StateDim |])
    let ours = mixer.Forward p qs s
    let theirs = builtIn.Forward (QmixParams p) qs s
    Expect.isTrue (Tensor.allClose 1e-5f ours theirs) (sprintf "%O vs %O" ours theirs)
    checkBoth "qmix-like with abs" mixer p spec.StateDim

let ``negative control: a QMIX-like mixer without abs fails monotonicity with a real counterexample`` () =
    let mixer = qmixLikeMixer "qmix-no-abs" id
    let p = mixer.Init(Rng.key 6UL)
    let report = Verify.checkMonotonic mixer p spec.NAgents spec.StateDim config
    Expect.isFalse report.Passed "report.Passed"
    Expect.equal report.MixerName "qmix-no-abs" "report.MixerName"
    Expect.inRange report.CasesChecked 1 config.Tests "report.CasesChecked"

    match report.Violation with
    | Some(NegativeDerivative v) ->
        Expect.isTrue (v.Derivative < 0.0f) "v.Derivative < 0.0f"
        Expect.equal v.Output 0 "v.Output"
        Expect.equal v.AgentQs.Length spec.NAgents "v.AgentQs.Length"
        Expect.equal v.State.Length spec.StateDim "v.State.Length"
        // recomputed at that single point, the derivative is the reported one
        let again = derivative mixer p v.State v.AgentQs v.Agent
        Expect.roundedEqual again v.Derivative 4 "again"
    | other -> failwithf "expected a negative derivative, got %A" other

    let text = report.Counterexample.Value

    Expect.stringContains
        text
        (sprintf
            "∂Q_tot[0]/∂Q_%d"
            (match report.Violation with
             | Some(NegativeDerivative v) -> v.Agent
             | _ -> -1))
        "text"

    Expect.stringContains text "agent Qs = [" "text"
    Expect.stringContains text ", not ≥ 0, at state = [" "text"

/// Q_tot = Q_0 − Q_1 (+ Q_2 · 0): a planted negative weight.
let private difference: Mixer<unit> =
    {
        Name = "q0-minus-q1"
        ClaimsMonotonic = false
        Outputs = 1
        Init = ignore
        Forward = fun () qs _ -> Tensor.sub (Tensor.slice 1 0 1 qs) (Tensor.slice 1 1 1 qs)
        Structure = Opaque
    }

let ``negative control: a planted negative weight fails both checks`` () =
    let m = Verify.checkMonotonic difference () spec.NAgents spec.StateDim config
    Expect.isFalse m.Passed "m.Passed"
    // found in the very first case: every point has ∂Q_tot/∂Q_1 = −1
    Expect.equal m.CasesChecked 1 "m.CasesChecked"

    match m.Violation with
    | Some(NegativeDerivative v) ->
        Expect.equal v.Agent 1 "v.Agent"
        Expect.equal v.Derivative -1.0f "v.Derivative"
    | other -> failwithf "expected a negative derivative, got %A" other

    let a =
        Verify.checkArgmaxDecomposition difference () spec.NAgents spec.NActions spec.StateDim config

    Expect.isFalse a.Passed "a.Passed"

    match a.Violation with
    | Some(ArgmaxMismatch v) ->
        // the best joint action gives agent 1 its worst action, not its greedy one
        Expect.notEqual (v.Best[1]) (v.Greedy[1]) "v.Best[1]"
        Expect.isTrue (v.BestQ > v.GreedyQ) "v.BestQ > v.GreedyQ"
    | other -> failwithf "expected an argmax mismatch, got %A" other

/// Q_tot = −(Q_0 − Q_1)² for two agents: best when the agents agree, not when each is greedy.
let private disagreement: Mixer<unit> =
    {
        Name = "neg-squared-difference"
        ClaimsMonotonic = false
        Outputs = 1
        Init = ignore
        Forward =
            fun () qs _ ->
                Tensor.sub (Tensor.slice 1 0 1 qs) (Tensor.slice 1 1 1 qs)
                |> Tensor.square
                |> Tensor.neg
        Structure = Opaque
    }

let ``negative control: a non-monotonic mixer fails argmax decomposition with a real counterexample`` () =
    let report =
        Verify.checkArgmaxDecomposition disagreement () 2 spec.NActions spec.StateDim config

    Expect.isFalse report.Passed "report.Passed"

    match report.Violation with
    | Some(ArgmaxMismatch v) ->
        let qtot (u: int[]) =
            -(pown (v.QTable[0, u[0]] - v.QTable[1, u[1]]) 2)
        // the greedy tuple really is the per-agent argmax
        for agent in 0..1 do
            let row = v.QTable[agent, *]
            Expect.equal (row[v.Greedy[agent]]) (Array.max row) "row[v.Greedy[agent]]"

        Expect.roundedEqual v.GreedyQ (qtot v.Greedy) 3 "v.GreedyQ"
        Expect.roundedEqual v.BestQ (qtot v.Best) 3 "v.BestQ"
        Expect.isTrue (v.BestQ > v.GreedyQ + 1e-3f) "v.BestQ > v.GreedyQ + 1e-3f"
        // and the best joint action is the maximum over all A² joint actions
        let all =
            [
                for u0 in 0 .. spec.NActions - 1 do
                    for u1 in 0 .. spec.NActions - 1 -> qtot [| u0; u1 |]
            ]

        Expect.roundedEqual v.BestQ (List.max all) 3 "v.BestQ"
    | other -> failwithf "expected an argmax mismatch, got %A" other

    let text = Verify.describe report

    Expect.stringStarts
        text
        "argmax decomposition of neg-squared-difference (does not claim monotonicity): FAILED at case"
        "text"

    Expect.stringContains text "counterexample: the greedy tuple (" "text"
    Expect.stringContains text "Q table [N, A] = [[" "text"

/// A user-defined monotonic mixer: Q_tot = Σ_a softplus(w_a(s)) Q_a + b(s), with w and b linear in the state.
let private softplusWeighted: Mixer<Linear * Linear> =
    {
        Name = "softplus-weighted-sum"
        ClaimsMonotonic = true
        Outputs = 1
        Init =
            fun key ->
                let k1, k2 = Rng.split key
                Linear.init k1 spec.StateDim spec.NAgents, Linear.init k2 spec.StateDim 1
        Forward =
            fun (w, b) qs s ->
                let weights = Linear.forward w s |> Tensor.softplus
                Tensor.add (Tensor.mul qs weights |> Tensor.sumAxis 1 true) (Linear.forward b s)
        Structure = Opaque
    }

let ``a user-defined monotonic mixer plugs in like a built-in one and passes`` () =
    for seed in [ 1UL; 2UL ] do
        let p = softplusWeighted.Init(Rng.key seed)
        checkBoth "softplus-weighted sum" softplusWeighted p spec.StateDim
        checkBoth "softplus-weighted sum, large" softplusWeighted (large (Rng.key 9UL) p) spec.StateDim

// ---------------------------------------------------------------- several outputs, settings, errors

/// Two outputs per point, [Q_0, −Q_1]: the second decreases in agent 1's Q.
let private twoOutputs: Mixer<unit> =
    {
        Name = "two-outputs"
        ClaimsMonotonic = false
        Outputs = 2
        Init = ignore
        Forward = fun () qs _ -> Tensor.concat 1 [ Tensor.slice 1 0 1 qs; Tensor.slice 1 1 1 qs |> Tensor.neg ]
        Structure = Opaque
    }

let ``a mixer with several outputs is checked output by output`` () =
    let m = Verify.checkMonotonic twoOutputs () 2 1 config

    match m.Violation with
    | Some(NegativeDerivative v) ->
        Expect.equal v.Output 1 "v.Output"
        Expect.equal v.Agent 1 "v.Agent"
        Expect.equal v.Derivative -1.0f "v.Derivative"
    | other -> failwithf "expected a negative derivative, got %A" other

    let a = Verify.checkArgmaxDecomposition twoOutputs () 2 3 1 config

    match a.Violation with
    | Some(ArgmaxMismatch v) -> Expect.equal v.Output 1 "v.Output"
    | other -> failwithf "expected an argmax mismatch, got %A" other

let ``the same settings give the same report`` () =
    let mixer = qmixLikeMixer "qmix-no-abs" id
    let p = mixer.Init(Rng.key 6UL)

    let run seed =
        Verify.checkMonotonic mixer p spec.NAgents spec.StateDim { config with Seed = seed }

    Expect.equal (run 1UL) (run 1UL) "run 1UL"
    let r2 = run 2UL
    Expect.equal r2.Seed 2UL "r2.Seed"
    Expect.notEqual r2 (run 1UL) "r2"

let ``bad sizes, settings and output shapes are refused with clear errors`` () =
    let vdn = Mixers.create Vdn 10 1

    let ex =
        Expect.throwsOf<ArgumentException>(fun () ->
            Verify.checkArgmaxDecomposition vdn NoParams 10 4 1 config |> ignore)

    Expect.equal ex.ParamName "nActions" "ex.ParamName"
    Expect.stringContains ex.Message "A^N = 4^10 = 1048576 joint actions exceed the limit of 100000" "ex.Message"

    let ex =
        Expect.throwsOf<ArgumentException>(fun () -> Verify.checkMonotonic vdn NoParams 0 1 config |> ignore)

    Expect.equal ex.ParamName "nAgents" "ex.ParamName"

    let ex =
        Expect.throwsOf<ArgumentException>(fun () ->
            Verify.checkMonotonic vdn NoParams 10 1 { config with Tests = 0 } |> ignore)

    Expect.equal ex.ParamName "config" "ex.ParamName"

    // a mixer that claims one output but returns N
    let wrong =
        { difference with
            Forward = fun () qs _ -> qs
        }

    let ex =
        Expect.throwsOf<ArgumentException>(fun () -> Verify.checkMonotonic wrong () 3 2 config |> ignore)

    Expect.stringContains ex.Message "returned [16, 3] for 16 points, expected [16, 1]" "ex.Message"

[<Tests>]
let tests =
    testList
        "Verify"
        [
            testList
                "every built-in mixer is monotonic and decomposes the argmax, for several random initialisations"
                [
                    for name, cfg in builtIns ->
                        testPropertyWithConfig
                            (Replay.config 3)
                            name
                            (``every built-in mixer is monotonic and decomposes the argmax, for several random initialisations``
                                cfg)
                ]
            testCase
                "every built-in mixer stays monotonic with large perturbed parameters"
                ``every built-in mixer stays monotonic with large perturbed parameters``
            testCase
                "checkBuiltIn works with observations as the hypernetwork input and with the default settings"
                ``checkBuiltIn works with observations as the hypernetwork input and with the default settings``
            testCase
                "the test's QMIX-like forward with abs reproduces the built-in mixer and passes"
                ``the test's QMIX-like forward with abs reproduces the built-in mixer and passes``
            testCase
                "negative control: a QMIX-like mixer without abs fails monotonicity with a real counterexample"
                ``negative control: a QMIX-like mixer without abs fails monotonicity with a real counterexample``
            testCase
                "negative control: a planted negative weight fails both checks"
                ``negative control: a planted negative weight fails both checks``
            testCase
                "negative control: a non-monotonic mixer fails argmax decomposition with a real counterexample"
                ``negative control: a non-monotonic mixer fails argmax decomposition with a real counterexample``
            testCase
                "a user-defined monotonic mixer plugs in like a built-in one and passes"
                ``a user-defined monotonic mixer plugs in like a built-in one and passes``
            testCase
                "a mixer with several outputs is checked output by output"
                ``a mixer with several outputs is checked output by output``
            testCase "the same settings give the same report" ``the same settings give the same report``
            testCase
                "bad sizes, settings and output shapes are refused with clear errors"
                ``bad sizes, settings and output shapes are refused with clear errors``
        ]
