module Qmix.Functional.Tests.ActingTests

open System
open Expecto
open Qmix.Tests
open Qmix.Tensors
open Qmix.Functional

let private specOf (n: int) (a: int) (o: int) =
    {
        Name = "acting-test"
        NAgents = n
        NActions = a
        ObsDim = o
        StateDim = 4
        EpisodeLimit = 10
    }

/// PyMARL's 3m-like sizes: 3 agents, 9 actions, observation 30 (input width 42 with the default settings).
let private spec3m = specOf 3 9 30

let private isas =
    [ Kernels.Isa.Vector512; Kernels.Isa.Vector256; Kernels.Isa.Scalar ]

/// Observations ~ N(0, 1), previous actions in [-1, A), hidden states ~ N(0, 0.5²) (zero width 1 for the MLP's
/// unused state), masks with at least one available action a row.
type private Step =
    {
        Obs: float32[]
        Last: int[]
        Hidden: float32[]
        Avail: bool[]
    }

let private normal (rng: Random) =
    float32 (
        Math.Sqrt(-2.0 * Math.Log(1.0 - rng.NextDouble()))
        * Math.Cos(2.0 * Math.PI * rng.NextDouble())
    )

let private randomStep (rng: Random) (spec: EnvSpec) (hiddenDim: int) (rows: int) =
    let a = spec.NActions

    let avail = Array.init (rows * a) (fun _ -> rng.NextDouble() < 0.6)

    for r in 0 .. rows - 1 do
        avail[r * a + rng.Next a] <- true

    {
        Obs = Array.init (rows * spec.ObsDim) (fun _ -> normal rng)
        Last = Array.init rows (fun _ -> rng.Next(-1, a))
        Hidden = Array.init (rows * hiddenDim) (fun _ -> 0.5f * normal rng)
        Avail = avail
    }

/// Agent.actingInputs + Agent.step: Q-values [R·A] and the next hidden state [R·H].
let private reference (cfg: AgentConfig) (spec: EnvSpec) (p: AgentParams) (s: Step) =
    let rows = s.Last.Length
    let x = Agent.actingInputs cfg spec s.Obs s.Last
    let h = Tensor.ofArray [| rows; Agent.hiddenDim p |] s.Hidden
    let q, h' = Agent.step p spec.NAgents x h
    Tensor.toArray q, Tensor.toArray h'

/// The first largest Q-value among the available actions of each row.
let private maskedArgmax (a: int) (q: float32[]) (avail: bool[]) =
    Array.init (q.Length / a) (fun r ->
        let mutable best = -1

        for u in 0 .. a - 1 do
            if avail[r * a + u] && (best < 0 || q[r * a + u] > q[r * a + best]) then
                best <- u

        best)

/// Whether a row's best available Q-value beats the runner-up by more than gap (ties within it may go either way).
let private clearWinner (a: int) (q: float32[]) (avail: bool[]) (row: int) (gap: float32) =
    let vs =
        [|
            for u in 0 .. a - 1 do
                if avail[row * a + u] then
                    q[row * a + u]
        |]
        |> Array.sortDescending

    vs.Length < 2 || vs[0] - vs[1] > gap

/// The largest |x − y| / (1 + |y|).
let private maxError (x: float32[]) (y: float32[]) =
    Expect.equal x.Length y.Length "x.Length"

    Array.map2 (fun (a: float32) (b: float32) -> abs (float a - float b) / (1.0 + abs (float b))) x y
    |> Array.max

let private tolerance = 1e-5

/// Steps an actor and the reference side by side over `steps` steps (the hidden state carried, the previous
/// actions the greedy ones), checking Q-values, hidden states and actions; returns the largest error seen.
let private agreement
    (isa: Kernels.Isa)
    (cfg: AgentConfig)
    (spec: EnvSpec)
    (p: AgentParams)
    (rows: int)
    (steps: int)
    (seed: int)
    =
    let rng = Random seed
    let actor = Actor.createWith isa cfg spec p rows
    let a = spec.NActions
    let s0 = randomStep rng spec actor.HiddenDim rows
    let mutable hRef = Array.copy s0.Hidden
    let hAct = Array.copy s0.Hidden
    let hQ = Array.copy s0.Hidden
    let mutable last = s0.Last
    let mutable worst = 0.0
    // rows whose greedy action was compared with the reference's (the others have no clear winner)
    let mutable compared = 0

    for t in 0 .. steps - 1 do
        let s =
            if t = 0 then
                s0
            else
                { randomStep rng spec actor.HiddenDim rows with
                    Last = last
                    Hidden = hRef
                }

        let qRef, hNext = reference cfg spec p s
        let q = Array.zeroCreate (rows * a)
        Actor.qValues actor (ReadOnlySpan s.Obs) (ReadOnlySpan s.Last) (Span hQ) (Span q)
        let actions = Array.zeroCreate rows
        Actor.greedy actor (ReadOnlySpan s.Obs) (ReadOnlySpan s.Last) (Span hAct) (ReadOnlySpan s.Avail) (Span actions)
        worst <- max worst (max (maxError q qRef) (max (maxError hQ hNext) (maxError hAct hNext)))
        let expected = maskedArgmax a qRef s.Avail

        for r in 0 .. rows - 1 do
            Expect.isTrue (s.Avail[r * a + actions[r]]) (sprintf "row %d: action %d is unavailable" r actions[r])

            if clearWinner a qRef s.Avail r 1e-4f then
                compared <- compared + 1

                Expect.isTrue
                    (expected[r] = actions[r])
                    (sprintf
                        "step %d row %d: greedy %d, reference %d (Q %A)"
                        t
                        r
                        actions[r]
                        expected[r]
                        qRef[r * a .. r * a + a - 1])

        hRef <- hNext
        last <- actions

    // most rows have a clear winner; a comparison that never happened would check nothing
    Expect.isTrue
        (compared * 2 > steps * rows)
        (sprintf "only %d of %d rows had a clear winner to compare" compared (steps * rows))

    worst

let private rnnCfg = AgentConfig.defaults

let private configs =
    [
        "RNN shared, PyMARL defaults", rnnCfg, spec3m
        "RNN shared, hidden 8 (padded)", { rnnCfg with Hidden = 8 }, spec3m
        "RNN shared, hidden 72 (wide and narrow tiles)", { rnnCfg with Hidden = 72 }, specOf 2 5 7
        "RNN per agent", { rnnCfg with Shared = false }, spec3m
        "RNN without last action or agent id",
        { rnnCfg with
            LastAction = false
            AgentId = false
        },
        specOf 3 14 11
        "MLP shared", { rnnCfg with Kind = Mlp }, spec3m
        "MLP per agent, hidden 40",
        { rnnCfg with
            Kind = Mlp
            Shared = false
            Hidden = 40
        },
        specOf 4 6 9
    ]

let ``Q-values, hidden states and greedy actions agree with Agent.step for 1, 3 and 48 rows on every instruction set``
    ()
    =
    for name, cfg, spec in configs do
        for isa in isas do
            for envs in [ 1; 16 ] do
                let p = Agent.init cfg spec (Rng.key (uint64 (envs + 7 * spec.NActions)))
                let err = agreement isa cfg spec p (envs * spec.NAgents) 3 (envs + 100)
                Expect.isTrue (err < tolerance) (sprintf "%s on %A, %d envs: error %g" name isa envs err)
    // a single agent: one row
    let one = specOf 1 9 30
    let p = Agent.init rnnCfg one (Rng.key 5UL)

    for isa in isas do
        let err = agreement isa rnnCfg one p 1 3 5
        Expect.isTrue (err < tolerance) (sprintf "1 row on %A: error %g" isa err)

let ``the hidden state is carried over many steps as Agent.step carries it`` () =
    // larger recurrent weights make the state matter
    let p =
        match Agent.init rnnCfg spec3m (Rng.key 11UL) with
        | Shared(RnnNet r) ->
            Shared(
                RnnNet
                    { r with
                        Rnn =
                            { r.Rnn with
                                WeightHh = Tensor.mulScalar 3.0f r.Rnn.WeightHh
                            }
                        Fc2 =
                            { r.Fc2 with
                                Weight = Tensor.mulScalar 5.0f r.Fc2.Weight
                            }
                    }
            )
        | other -> other

    for isa in isas do
        for rows in [ 3; 48 ] do
            let err = agreement isa rnnCfg spec3m p rows 25 rows
            Expect.isTrue (err < tolerance) (sprintf "%A, %d rows: error %g after 25 steps" isa rows err)

let ``odd row counts up to MaxRows all agree, with fewer rows than the actor was built for`` () =
    let p = Agent.init rnnCfg spec3m (Rng.key 3UL)

    for isa in isas do
        let actor = Actor.createWith isa rnnCfg spec3m p 60

        for envs in 1..20 do
            let rows = envs * 3
            let s = randomStep (Random envs) spec3m 64 rows
            let qRef, hRef = reference rnnCfg spec3m p s
            let q = Array.zeroCreate (rows * 9)
            let h = Array.copy s.Hidden
            Actor.qValues actor (ReadOnlySpan s.Obs) (ReadOnlySpan s.Last) (Span h) (Span q)
            Expect.isTrue (maxError q qRef < tolerance) (sprintf "%A, %d rows" isa rows)
            Expect.isTrue (maxError h hRef < tolerance) (sprintf "%A, %d rows (hidden)" isa rows)

let ``an unavailable action is never chosen, even when every Q-value is below PyMARL's mask value`` () =
    let withBias (bias: float32) (scale: float32) =
        match Agent.init rnnCfg spec3m (Rng.key 21UL) with
        | Shared(RnnNet r) ->
            Shared(
                RnnNet
                    { r with
                        Fc2 =
                            {
                                Weight = Tensor.mulScalar scale r.Fc2.Weight
                                Bias = Tensor.add (Tensor.mulScalar 0.0f r.Fc2.Bias) (Tensor.full [| 9 |] bias)
                            }
                    }
            )
        | other -> other

    for isa in isas do
        for bias in [ 0.0f; -1e8f; -1e30f ] do
            let p = withBias bias 1.0f
            let actor = Actor.createWith isa rnnCfg spec3m p 48
            let rng = Random 4

            for _ in 1..20 do
                let s = randomStep rng spec3m 64 48
                // a sparse mask: one or two available actions a row
                let avail = Array.create (48 * 9) false

                for r in 0..47 do
                    avail[r * 9 + rng.Next 9] <- true
                    avail[r * 9 + rng.Next 9] <- true

                let actions = Array.zeroCreate 48
                let h = Array.copy s.Hidden

                Actor.greedy
                    actor
                    (ReadOnlySpan s.Obs)
                    (ReadOnlySpan s.Last)
                    (Span h)
                    (ReadOnlySpan avail)
                    (Span actions)

                for r in 0..47 do
                    Expect.isTrue
                        (avail[r * 9 + actions[r]])
                        (sprintf "%A bias %g: row %d took unavailable %d" isa bias r actions[r])

        // all Q-values equal: the first available action
        let p = withBias -5e7f 0.0f
        let actor = Actor.createWith isa rnnCfg spec3m p 3
        let s = randomStep (Random 9) spec3m 64 3
        let avail = Array.init 27 (fun i -> i % 9 >= 2 + i / 9)
        let actions = Array.zeroCreate 3

        Actor.greedy
            actor
            (ReadOnlySpan s.Obs)
            (ReadOnlySpan s.Last)
            (Span(Array.copy s.Hidden))
            (ReadOnlySpan avail)
            (Span actions)

        Expect.equal actions ([| 2; 3; 4 |]) "actions"

let ``a step allocates nothing once warm, for 3 and 48 rows`` () =
    for cfg in [ rnnCfg; { rnnCfg with Shared = false }; { rnnCfg with Kind = Mlp } ] do
        let p = Agent.init cfg spec3m (Rng.key 2UL)

        for rows in [ 3; 48 ] do
            let actor = Actor.create cfg spec3m p rows
            let s = randomStep (Random rows) spec3m actor.HiddenDim rows
            let q = Array.zeroCreate (rows * 9)
            let actions = Array.zeroCreate rows

            let run () =
                Actor.greedy
                    actor
                    (ReadOnlySpan s.Obs)
                    (ReadOnlySpan s.Last)
                    (Span s.Hidden)
                    (ReadOnlySpan s.Avail)
                    (Span actions)

                Actor.qValues actor (ReadOnlySpan s.Obs) (ReadOnlySpan s.Last) (Span s.Hidden) (Span q)

            for _ in 1..500 do
                run ()

            // a window of 200 calls; the JIT may still be swapping in optimised code during one (its bookkeeping
            // allocates), so the least of five windows is the steady state: an allocation per call shows in every one
            let window () =
                let before = GC.GetAllocatedBytesForCurrentThread()

                for _ in 1..200 do
                    run ()

                GC.GetAllocatedBytesForCurrentThread() - before

            let allocated = Array.init 5 (fun _ -> window ()) |> Array.min
            Expect.isTrue (allocated = 0L) (sprintf "%A, %d rows: %d bytes for 400 steps" cfg.Kind rows allocated)

let ``negative control: the same measurement sees the allocations of the tensor path`` () =
    let p = Agent.init rnnCfg spec3m (Rng.key 2UL)
    let obs = Array.create (3 * spec3m.ObsDim) 0.5f
    let last = [| -1; -1; -1 |]
    let mutable h = Agent.initHidden p 3

    let run () =
        let _, h' = Agent.step p 3 (Agent.actingInputs rnnCfg spec3m obs last) h
        h <- h'

    for _ in 1..500 do
        run ()

    let window () =
        let before = GC.GetAllocatedBytesForCurrentThread()

        for _ in 1..200 do
            run ()

        GC.GetAllocatedBytesForCurrentThread() - before

    Expect.isTrue
        (Array.init 5 (fun _ -> window ()) |> Array.min > 0L)
        "Array.init 5 (fun _ -> window ()) |> Array.min > 0L"

let ``wrong span lengths are refused with an ArgumentException naming the span and both lengths, changing nothing`` () =
    let p = Agent.init rnnCfg spec3m (Rng.key 1UL)
    let actor = Actor.create rnnCfg spec3m p 6
    let s = randomStep (Random 1) spec3m 64 3
    let h = Array.copy s.Hidden

    let greedy (obs: float32[]) (last: int[]) (hidden: float32[]) (avail: bool[]) (actions: int[]) =
        Expect.throwsOf<ArgumentException>(fun () ->
            Actor.greedy actor (ReadOnlySpan obs) (ReadOnlySpan last) (Span hidden) (ReadOnlySpan avail) (Span actions))

    let expectMessage (ex: ArgumentException) (param: string) (parts: string list) =
        Expect.equal ex.ParamName param "ex.ParamName"

        for part in parts do
            Expect.stringContains ex.Message part "ex.Message"

    expectMessage (greedy s.Obs[1..] s.Last h s.Avail (Array.zeroCreate 3)) "obs" [ "89"; "90" ]
    expectMessage (greedy s.Obs s.Last h[1..] s.Avail (Array.zeroCreate 3)) "hidden" [ "191"; "192" ]
    expectMessage (greedy s.Obs s.Last h s.Avail[1..] (Array.zeroCreate 3)) "avail" [ "26"; "27" ]
    expectMessage (greedy s.Obs s.Last h s.Avail (Array.zeroCreate 4)) "actionsOut" [ "4"; "3" ]
    expectMessage (greedy s.Obs s.Last[1..] h s.Avail (Array.zeroCreate 3)) "lastActions" [ "2"; "N=3" ]

    expectMessage
        (greedy
            (Array.zeroCreate 270)
            (Array.create 9 -1)
            (Array.zeroCreate 576)
            (Array.create 81 true)
            (Array.zeroCreate 9))
        "lastActions"
        [ "9"; "MaxRows=6" ]

    expectMessage (greedy s.Obs [| 0; 9; 1 |] h s.Avail (Array.zeroCreate 3)) "lastActions" [ "lastActions[1] = 9" ]
    let noAction = Array.copy s.Avail
    Array.fill noAction 9 9 false
    expectMessage (greedy s.Obs s.Last h noAction (Array.zeroCreate 3)) "avail" [ "row 1" ]

    let ex =
        Expect.throwsOf<ArgumentException>(fun () ->
            Actor.qValues actor (ReadOnlySpan s.Obs) (ReadOnlySpan s.Last) (Span h) (Span(Array.zeroCreate 26)))

    expectMessage ex "qOut" [ "26"; "27" ]
    // nothing moved
    Expect.equal h s.Hidden "h"

    let wrongShape =
        match p with
        | Shared(RnnNet r) ->
            Shared(
                RnnNet
                    { r with
                        Fc1 = Linear.init (Rng.key 1UL) 41 64
                    }
            )
        | other -> other

    let ex =
        Expect.throwsOf<ArgumentException>(fun () -> Actor.create rnnCfg spec3m wrongShape 3 |> ignore)

    Expect.stringContains ex.Message "fc1.weight" "ex.Message"

    Expect.throwsOf<ArgumentException>(fun () -> Actor.create rnnCfg spec3m p 0 |> ignore)
    |> ignore

let ``negative control: a planted wrong weight or a swapped gate is caught by the agreement check`` () =
    let p = Agent.init rnnCfg spec3m (Rng.key 8UL)

    let r =
        match p with
        | Shared(RnnNet r) -> r
        | _ -> failwith "expected a shared RNN agent"

    let plant (t: Tensor) (index: int) (delta: float32) =
        let data = t.ToArray()
        data[index] <- data[index] + delta
        Tensor.ofArray (t.Shape.ToArray()) data

    let swapped =
        // z's rows where r's are: the gate order matters
        let w = r.Rnn.WeightIh.ToArray()
        let h = 64
        let rz = Array.copy w
        Array.blit w (h * 64) rz 0 (h * 64)
        Array.blit w 0 rz (h * 64) (h * 64)
        Tensor.ofArray [| 3 * h; 64 |] rz

    let wrong =
        [
            "fc1.weight[5, 40]",
            { r with
                Fc1 =
                    { r.Fc1 with
                        Weight = plant r.Fc1.Weight (5 * 42 + 40) 5.0f
                    }
            }
            "rnn.weight_hh[150, 3]",
            { r with
                Rnn =
                    { r.Rnn with
                        WeightHh = plant r.Rnn.WeightHh (150 * 64 + 3) 0.1f
                    }
            }
            "rnn.bias_ih[70]",
            { r with
                Rnn =
                    { r.Rnn with
                        BiasIh = plant r.Rnn.BiasIh 70 0.1f
                    }
            }
            "fc2.bias[8]",
            { r with
                Fc2 =
                    { r.Fc2 with
                        Bias = plant r.Fc2.Bias 8 1e-2f
                    }
            }
            "r and z swapped",
            { r with
                Rnn = { r.Rnn with WeightIh = swapped }
            }
        ]

    for name, bad in wrong do
        let actor = Actor.create rnnCfg spec3m (Shared(RnnNet bad)) 48
        // 48 rows: every agent id and previous action occurs
        let rng = Random 3
        let s = randomStep rng spec3m 64 48

        let s =
            { s with
                Last = Array.init 48 (fun i -> i % 10 - 1)
            }

        let qRef, hRef = reference rnnCfg spec3m p s
        let q = Array.zeroCreate (48 * 9)
        let h = Array.copy s.Hidden
        Actor.qValues actor (ReadOnlySpan s.Obs) (ReadOnlySpan s.Last) (Span h) (Span q)
        let err = max (maxError q qRef) (maxError h hRef)
        Expect.isTrue (err > 100.0 * tolerance) (sprintf "%s went unnoticed: error %g" name err)

[<Tests>]
let tests =
    testList
        "Acting"
        [
            testCase
                "Q-values, hidden states and greedy actions agree with Agent.step for 1, 3 and 48 rows on every instruction set"
                ``Q-values, hidden states and greedy actions agree with Agent.step for 1, 3 and 48 rows on every instruction set``
            testCase
                "the hidden state is carried over many steps as Agent.step carries it"
                ``the hidden state is carried over many steps as Agent.step carries it``
            testCase
                "odd row counts up to MaxRows all agree, with fewer rows than the actor was built for"
                ``odd row counts up to MaxRows all agree, with fewer rows than the actor was built for``
            testCase
                "an unavailable action is never chosen, even when every Q-value is below PyMARL's mask value"
                ``an unavailable action is never chosen, even when every Q-value is below PyMARL's mask value``
            testSequenced (
                testCase
                    "a step allocates nothing once warm, for 3 and 48 rows"
                    ``a step allocates nothing once warm, for 3 and 48 rows``
            )
            testSequenced (
                testCase
                    "negative control: the same measurement sees the allocations of the tensor path"
                    ``negative control: the same measurement sees the allocations of the tensor path``
            )
            testCase
                "wrong span lengths are refused with an ArgumentException naming the span and both lengths, changing nothing"
                ``wrong span lengths are refused with an ArgumentException naming the span and both lengths, changing nothing``
            testCase
                "negative control: a planted wrong weight or a swapped gate is caught by the agreement check"
                ``negative control: a planted wrong weight or a swapped gate is caught by the agreement check``
        ]
