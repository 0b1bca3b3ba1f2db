(**
---
title: Verification
category: Guides
categoryindex: 1
index: 4
---

# Verifying monotonicity and argmax decomposition

QMIX's promise is that decentralised greedy action selection is consistent with the centralised value. If Q_tot
is monotonic in every agent's utility,

> ∂Q_tot / ∂Q_a ≥ 0 for every agent a,

then the joint action that maximises Q_tot is the tuple of the agents' own greedy actions (argmax decomposition,
also called IGM, for individual-global-max):

> argmax over <b>u</b> of Q_tot(<b>τ</b>, <b>u</b>, s) = (argmax over u₁ of Q₁(τ₁, u₁), …, argmax over u_N of Q_N(τ_N, u_N)).

`Verify` tests both properties of any mixer, built in or your own, at points drawn by FsCheck generators from a
fixed seed, and returns the first counterexample when a property fails.
*)
#r "../src/Qmix.Cli/bin/Release/net10.0/System.Numerics.Tensors.dll"
#r "../src/Qmix.Cli/bin/Release/net10.0/Qmix.Tensors.dll"
#r "../src/Qmix.Cli/bin/Release/net10.0/Qmix.Functional.dll"
#r "../src/Qmix.Cli/bin/Release/net10.0/FsCheck.dll"

open Qmix.Tensors
open Qmix.Functional

(**
## The settings

`VerifyConfig.defaults`: 100 cases of 16 points each, agent Qs and states uniform in ±10 with one point in five
scaled by 100 (large magnitudes), and about one Q value in five a small integer, so that ties between actions and
between agents occur. A derivative below −`Tolerance` fails monotonicity; a greedy tuple whose Q_tot falls short
of the maximum by more than `ValueTolerance` (relative) fails argmax decomposition.
*)
VerifyConfig.defaults
(*** include-it ***)

(**
## QMIX passes

`Verify.checkMonotonic mixer parameters N D config` differentiates Q_tot with respect to the agent Qs by
reverse-mode autodiff (the parameters held fixed) at every drawn point. `Verify.checkArgmaxDecomposition mixer
parameters N A D config` draws a Q table [N, A] per point, mixes all A^N joint actions in one forward pass, and
compares the best joint action with the tuple of per-agent argmaxes. Three agents with four actions each and a
4-wide state, QMIX with PyMARL's settings and fresh parameters:
*)
let n, a, d = 3, 4, 4
let config = VerifyConfig.defaults
let qmix = Mixers.create (Qmix QmixConfig.defaults) n d
let qmixParams = qmix.Init(Rng.key 1UL)

let monotonic = Verify.checkMonotonic qmix qmixParams n d config
let argmax = Verify.checkArgmaxDecomposition qmix qmixParams n a d config

printfn "%s" (Verify.describe monotonic)
printfn "%s" (Verify.describe argmax)
(*** include-output ***)

(**
`Verify.checkBuiltIn` makes a built-in mixer for an environment's sizes and runs both checks. Every mixer of
the family passes (IQL's K = N outputs are checked one by one):
*)
let sizes =
    {
        Name = "verify"
        NAgents = n
        NActions = a
        ObsDim = 2
        StateDim = d
        EpisodeLimit = 1
    }

let family =
    [
        "QMIX", Qmix QmixConfig.defaults
        "QMIX, softplus",
        Qmix
            { QmixConfig.defaults with
                NonNegative = Softplus
                HypernetLayers = 1
            }
        "VDN", Vdn
        "IQL", Independent
        "QMIX-NS", QmixNs QmixConfig.defaults
        "QMIX-Lin", QmixLin QmixConfig.defaults
        "VDN-S", VdnS QmixConfig.defaults
    ]

for label, mixer in family do
    let mono, igm = Verify.checkBuiltIn mixer sizes GlobalState (Rng.key 1UL)

    let verdict (r: VerifyReport) =
        if r.Passed then
            sprintf "passed %d cases" r.CasesChecked
        else
            "FAILED"

    printfn
        "%-15s monotonicity %-16s argmax decomposition %s"
        label
        (verdict mono)
        (verdict igm)
(*** include-output ***)

(**
The hypernetworks' input can be the observations instead of the state (`AllObservations`): the check only
needs the width D, `Mixers.inputDim input spec`.

## A mixer without the absolute value fails

A verifier that never fails proves nothing. The negative control is QMIX's own forward pass with the absolute
value left out of the hypernetworks' outputs, so that mixing weights can be negative. It is a user-defined mixer
(see [Agents and mixers](agents-and-mixers.html)) over QMIX's parameter record:
*)
let hypernet (h: Hypernet) (x: Tensor) =
    match h with
    | OneLayer l -> Linear.forward l x
    | TwoLayers t ->
        x |> Linear.forward t.Hidden |> Tensor.relu |> Linear.forward t.Output

let noAbs (cfg: QmixConfig) (n: int) (d: int) : Mixer<QmixMixer> =
    let builtIn = Mixers.create (Qmix cfg) n d

    {
        Name = "qmix-no-abs"
        ClaimsMonotonic = false
        Outputs = 1
        Init =
            fun key ->
                match builtIn.Init key with
                | QmixParams p -> p
                | _ -> failwith "QMIX's parameters expected"
        Forward =
            fun p qs s ->
                // qs [M, N], s [M, D]: QMIX's mixing network, weights used as they come
                let m, e = qs.Shape[0], cfg.Embed
                let w1 = hypernet p.HyperW1 s |> Tensor.reshape [| m; n; e |]
                let b1 = Linear.forward p.HyperB1 s

                let hidden =
                    Tensor.mul (Tensor.reshape [| m; n; 1 |] qs) w1
                    |> Tensor.sumAxis 1 false
                    |> Tensor.add b1
                    |> Tensor.elu

                let wFinal = hypernet p.HyperWFinal s

                let v =
                    s
                    |> Linear.forward p.V.Hidden
                    |> Tensor.relu
                    |> Linear.forward p.V.Output

                Tensor.add (Tensor.mul hidden wFinal |> Tensor.sumAxis 1 true) v
        Structure = Opaque
    }

let control = noAbs QmixConfig.defaults n d
let controlParams = control.Init(Rng.key 1UL)

let controlMonotonic = Verify.checkMonotonic control controlParams n d config

let controlArgmax =
    Verify.checkArgmaxDecomposition control controlParams n a d config

printfn "%s\n" (Verify.describe controlMonotonic)
printfn "%s" (Verify.describe controlArgmax)
(*** include-output ***)

(**
Both properties fail, at the first case, and each report carries its counterexample as text and as data
(`VerifyReport.Violation`). Since the parameters are fixed, a counterexample can be replayed by hand. The negative
derivative: nudge that agent's Q up and watch Q_tot go down:
*)
match controlMonotonic.Violation with
| Some(NegativeDerivative v) ->
    let qTot (qs: float32[]) =
        control.Forward
            controlParams
            (Tensor.ofArray [| 1; n |] qs)
            (Tensor.ofArray [| 1; d |] v.State)
        |> Tensor.toScalar

    let nudged = Array.copy v.AgentQs
    nudged[v.Agent] <- nudged[v.Agent] + 0.01f
    printfn "Q_tot at the counterexample:          %.5f" (qTot v.AgentQs)
    printfn "Q_tot with Q_%d larger by 0.01:        %.5f" v.Agent (qTot nudged)

    printfn
        "finite-difference slope:             %.3f (autodiff said %.3f)"
        ((qTot nudged - qTot v.AgentQs) / 0.01f)
        v.Derivative
| _ -> printfn "no negative derivative found"
(*** include-output ***)

(**
The argmax mismatch: mix the greedy tuple and the better joint action at that state:
*)
match controlArgmax.Violation with
| Some(ArgmaxMismatch v) ->
    let qTot (joint: int[]) =
        let qs = Array.init n (fun agent -> v.QTable[agent, joint[agent]])

        control.Forward
            controlParams
            (Tensor.ofArray [| 1; n |] qs)
            (Tensor.ofArray [| 1; d |] v.State)
        |> Tensor.toScalar

    let show (xs: seq<'T>) (format: 'T -> string) =
        xs |> Seq.map format |> String.concat ", " |> sprintf "(%s)"

    for agent in 0 .. n - 1 do
        printfn
            "agent %d's Qs %s → greedy action %d"
            agent
            (show v.QTable[agent, *] (sprintf "%.3f"))
            v.Greedy[agent]

    printfn "Q_tot of the greedy tuple %s: %.4f" (show v.Greedy string) (qTot v.Greedy)
    printfn "Q_tot of the joint action %s: %.4f" (show v.Best string) (qTot v.Best)
| _ -> printfn "no argmax mismatch found"
(*** include-output ***)

(**
With such a mixer, agents that each act greedily on their own utilities would not take the joint action the
centralised value prefers: training and execution would disagree.

## Where else the checks run

* The test suite (`tests/Qmix.Functional.Tests/VerifyTests.fs`) runs them under Expecto for every mixer
  that claims monotonicity, with a fixed replay seed, and asserts that the negative control fails.
* The C# facade exposes them as `MixerVerification.Check(Algorithm.Qmix)` and
  `MixerVerification.CheckNegativeControl()` (see [C# usage](csharp.html)).
* The cases are a pure function of `VerifyConfig.Seed`; another seed or more `Tests` explore other points:
*)
for seed in 2UL .. 4UL do
    let r =
        Verify.checkMonotonic qmix qmixParams n d { config with Seed = seed; Tests = 300 }

    printfn "%s" (Verify.describe r)
(*** include-output ***)

(**
## Testing your own mixer with Expecto

The library's own test suite runs these checks under [Expecto](https://github.com/haf/expecto), and a mixer of
your own can be tested the same way. Here, a *gated sum* (the mixer of [Agents and mixers](agents-and-mixers.html)):
Q_tot = Σ_a σ(g(s))_a · Q_a + b(s), monotonic because every gate is positive.
*)
#r "../tests/Qmix.Functional.Tests/bin/Release/net10.0/Expecto.dll"
#r "../tests/Qmix.Functional.Tests/bin/Release/net10.0/Expecto.FsCheck3.dll"

open System
open Expecto

type GatedSum = { Gate: Linear; Bias: Linear }

let gatedSum (n: int) (d: int) : Mixer<GatedSum> =
    {
        Name = "gated-sum"
        ClaimsMonotonic = true
        Outputs = 1
        Init =
            fun key ->
                let k1, k2 = Rng.split key

                {
                    Gate = Linear.init k1 d n
                    Bias = Linear.init k2 d 1
                }
        Forward =
            fun p qs s ->
                let gates = Linear.forward p.Gate s |> Tensor.sigmoid

                Tensor.add
                    (Tensor.mul gates qs |> Tensor.sumAxis -1 true)
                    (Linear.forward p.Bias s)
        Structure = Opaque
    }

(**
`Verify.checkMonotonic` already draws agent Qs and states from its own fixed seed, for one set of parameters.
`testPropertyWithConfig` lets FsCheck draw the parameters too: any initialisation seed must give a monotonic mixer
that decomposes the argmax. A fixed `replay` seed makes the run the same on every machine, and a failure names the
seed FsCheck drew and the report's counterexample:
*)
let replay =
    { FsCheckConfig.defaultConfig with
        replay = Some(1UL, 1UL, None)
        maxTest = 20
    }

let mixerTests (mixer: Mixer<'P>) =
    let few = { config with Tests = 10 }

    testList
        mixer.Name
        [
            testPropertyWithConfig replay "monotonic for any initialisation"
            <| fun (seed: uint64) ->
                let r = Verify.checkMonotonic mixer (mixer.Init(Rng.key seed)) n d few
                Expect.isTrue r.Passed (Verify.describe r)

            testPropertyWithConfig replay "decomposes the argmax for any initialisation"
            <| fun (seed: uint64) ->
                let r =
                    Verify.checkArgmaxDecomposition
                        mixer
                        (mixer.Init(Rng.key seed))
                        n
                        a
                        d
                        few

                Expect.isTrue r.Passed (Verify.describe r)
        ]

(**
In a test project, the list gets a `[<Tests>]` attribute and the entry point is
`Tests.runTestsInAssemblyWithCLIArgs [] argv`, so `dotnet run -- --summary` runs it and prints Expecto's report.
On this page the lists run through `Impl.evalTests` with Expecto's silent printer, and `run` prints each test's
result:
*)
let run (tests: Test) =
    let quiet =
        { defaultConfig with
            printer = Impl.TestPrinters.silent
        }

    for test, summary in Impl.evalTests quiet tests |> Async.RunSynchronously do
        let name = String.concat "/" test.name

        match summary.result with
        | Impl.TestResult.Passed -> printfn "passed: %s" name
        | result ->
            // the result's text without its stack trace
            let lines =
                (string result).Split('\n')
                |> Array.filter (fun l -> not (l.TrimStart().StartsWith "at "))

            printfn "FAILED: %s\n%s\n" name (String.concat "\n" lines)

(**
The gated sum passes both properties:
*)
run (mixerTests (gatedSum n d))
(*** include-output ***)


(**
The mixer without the absolute value (above) fails both, and each failure shows the parameter seed FsCheck drew
and shrank, the report's counterexample, and the `etestPropertyWithConfig` line that replays it:
*)
run (mixerTests control)
(*** include-output ***)
