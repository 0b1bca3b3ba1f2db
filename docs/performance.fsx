(**
---
title: Performance
category: Project
categoryindex: 3
index: 1
---

# Performance

The performance issue sets targets as ratios to the PyTorch reference (`../shared/ref/qmix_torch.py`, an
independent PyMARL-style implementation) measured in the same run on the same machine, plus budgets for
allocation, replay memory and sampling. `qmix bench` measures all of them and prints one table; `--json FILE` writes
the same rows with the machine they ran on. The table below is read from `docs/data/bench.json`, written on this
project's build machine (2 cores with AVX-512, shared with other jobs) by

```bash
./build.sh bench table --json docs/data/bench.json
```

and committed: the site does not run benchmarks when it is built. Absolute times drift on a shared machine, which is
why every target is a ratio to something measured in the same run.
*)
(*** hide ***)
open System
open System.IO
open System.Text.Json

/// HTML shown as it is on the site (a table); printed as text when the script runs in plain `dotnet fsi`.
type Html = Html of string

#if HAS_FSI_ADDHTMLPRINTER
fsi.AddHtmlPrinter(fun (Html html) -> Seq.empty, html)
#endif

/// A table; `text` in a cell is shown as code, and columns listed in `right` are right-aligned.
let htmlTable (header: string list) (right: Set<int>) (rows: string list list) =
    let cell tag (i: int) (s: string) =
        let encoded = Net.WebUtility.HtmlEncode s

        let content =
            Text.RegularExpressions.Regex.Replace(encoded, "`([^`]*)`", "<code>$1</code>")

        let align = if right.Contains i then " align=\"right\"" else ""
        sprintf "<%s%s>%s</%s>" tag align content tag

    let row tag cells =
        "<tr>" + (cells |> List.mapi (cell tag) |> String.concat "") + "</tr>"

    Html(
        "<table><thead>"
        + row "th" header
        + "</thead><tbody>"
        + (rows |> List.map (row "td") |> String.concat "")
        + "</tbody></table>"
    )

let bench =
    let file =
        [
            Path.Combine(__SOURCE_DIRECTORY__, "data", "bench.json")
            Path.Combine(Directory.GetCurrentDirectory(), "docs", "data", "bench.json")
        ]
        |> List.find File.Exists

    JsonDocument.Parse(File.ReadAllText file).RootElement

let prop (name: string) (e: JsonElement) =
    match e.TryGetProperty name with
    | true, v when v.ValueKind <> JsonValueKind.Null -> Some v
    | _ -> None

let num name e =
    prop name e |> Option.map (fun v -> v.GetDouble())

let str name e =
    prop name e |> Option.map (fun v -> v.GetString())

let flag name e =
    prop name e |> Option.map (fun v -> v.GetBoolean())

let inv = Globalization.CultureInfo.InvariantCulture
let fmt (format: string) (x: float) = x.ToString(format, inv)

// the formats of `qmix bench`'s table
let time (ms: float) =
    if ms >= 1.0 then fmt "0.00" ms + " ms"
    elif ms >= 1e-3 then fmt "0.00" (ms * 1e3) + " µs"
    else fmt "0" (ms * 1e6) + " ns"

let bytes (b: float) =
    if b >= 1e9 then fmt "0.00" (b / 1e9) + " GB"
    elif b >= 1048576.0 then fmt "0.0" (b / 1048576.0) + " MB"
    elif b >= 1024.0 then fmt "0.0" (b / 1024.0) + " KB"
    else fmt "0" b + " B"

let ratio (r: float) =
    fmt (if r >= 0.1 then "0.00" else "0.000") r + "×"

let verdict (row: JsonElement) =
    let parts =
        [
            if (str "target" row).IsSome then
                (if str "unit" row = Some "bytes" then "memory" else "time"),
                flag "targetMet" row
            if (str "allocationTarget" row).IsSome then
                "alloc", flag "allocationMet" row
        ]

    let failed = parts |> List.filter (fun (_, m) -> m = Some false) |> List.map fst
    let unknown = parts |> List.filter (fun (_, m) -> m.IsNone) |> List.map fst

    let stretch =
        match flag "stretchMet" row with
        | Some true -> ", stretch met"
        | Some false -> ", stretch not met"
        | None -> ""

    if parts.IsEmpty then
        ""
    elif not failed.IsEmpty then
        "no: " + String.Join(", ", failed)
    elif not unknown.IsEmpty then
        String.Join(", ", unknown) + " unknown"
    else
        "yes" + stretch

let rows = bench.GetProperty("rows").EnumerateArray() |> Seq.toList
let machine = bench.GetProperty "machine"
let torch = bench.GetProperty "pytorch"

(**
## The targets

Each row against its target. *ratio* is ours divided by the target's baseline: PyTorch's time for the learner
updates and the acting step, the 3s5z-like update for replay sampling, one acting step for 16 environments stepped
together. *GFLOP/s* and *floor share* are explained [below](#The-floor); *allocated/op* counts every thread of the
process (`GC.GetTotalAllocatedBytes`), * the timing thread only. KB = 1024 B, MB = 1024² B, GB = 10⁹ B.
*)
(*** hide ***)
htmlTable
    [
        "operation"
        "sizes"
        "ours"
        "PyTorch"
        "ratio"
        "target"
        "met"
        "GFLOP/s"
        "floor share"
        "allocated/op"
    ]
    (set [ 2; 3; 4; 7; 8; 9 ])
    [
        for r in rows ->
            let unit = str "unit" r

            [
                (str "operation" r).Value
                (str "sizes" r).Value
                (match num "ours" r with
                 | None -> "not measured"
                 | Some v when unit = Some "bytes" -> bytes v
                 | Some v when unit.IsSome && unit <> Some "ms" ->
                     fmt "0" v + " " + unit.Value
                 | Some v -> time v)
                (match num "pytorch" r with
                 | Some p -> time p
                 | None when str "baseline" r = Some "PyTorch" -> "–"
                 | None -> "")
                (num "ratio" r |> Option.map ratio |> Option.defaultValue "–")
                ([
                    match str "target" r, str "stretch" r with
                    | Some t, Some s -> sprintf "%s (stretch %s)" t s
                    | Some t, None -> t
                    | None, _ -> ()
                    match str "allocationTarget" r with
                    | Some a -> a
                    | None -> ()
                 ]
                 |> String.concat "; ")
                verdict r
                (num "gflops" r |> Option.map (fmt "0.0") |> Option.defaultValue "")
                (num "floorShare" r
                 |> Option.map (fun s -> fmt "0.0" (100.0 * s) + "%")
                 |> Option.defaultValue "")
                (match num "allocatedBytes" r with
                 | Some b ->
                     bytes b
                     + (if str "allocationScope" r = Some "all threads" then
                            ""
                        else
                            "*")
                 | None -> "")
            ]
    ]
(*** include-it ***)

(**
Where and when it ran, and what it says about the rows it could not measure:
*)
(*** hide ***)
printfn
    "measured %s with qmix %s%s"
    (str "date" machine).Value
    (str "library" machine).Value
    (if flag "quick" bench = Some true then
         " (--quick: a smoke run, rough numbers)"
     else
         "")

printfn
    "machine: %d cores, %s, %s, %s, CPU %s, GC %s"
    (machine.GetProperty("cores").GetInt32())
    (str "isa" machine).Value
    (str "dotnet" machine).Value
    (str "os" machine).Value
    (str "cpu" machine |> Option.defaultValue "unknown")
    (str "gc" machine).Value

if flag "measured" torch = Some true then
    printfn
        "PyTorch: %s (OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1, bench 1)"
        (str "header" torch |> Option.defaultValue "")
else
    printfn
        "PyTorch comparison skipped: %s"
        (str "skipReason" torch |> Option.defaultValue "")

for line in torch.GetProperty("unparsable").EnumerateArray() do
    printfn
        "PyTorch output line not understood (no ratio taken from it): %s"
        (line.GetString())

for r in rows do
    match str "note" r with
    | Some note -> printfn "%s: %s" (str "operation" r).Value note
    | None -> ()
(*** include-output ***)

(**
## The floor

How close is a learner update to what this machine can do? The FLOPs of an update are counted from the sizes:
the matrix products only (a product [m,k]·[k,n] is 2·m·k·n FLOP; its backward pass is twice its forward; the
element-wise work is a few percent). With H = 64 the GRU width, D = obs + A + N the agent input (observation,
last action, agent id), R = B·N rows, E = 32 the mixing width and W = 64 the hypernetworks' width:

- one agent step is 2·R·(D·H + 3H·H + 3H·H + H·A): fc1, the GRU's input and hidden gates, fc2;
- one mixer row is 2·(S·W + W·E·N + S·W + W·E + S·E + S·E + E + N·E + E): the two-layer hypernetworks for W₁ and
  W_final, the bias b₁, the state value V (S→E→1) and the two mixing products;
- an update runs the online agents forward and backward through T+1 steps, the target agents forward through T+1,
  the online mixer forward and backward over B·T rows and the target mixer forward over B·(T+1).

The peak is measured in the same run: the single-thread matmul kernel (`Qmix.Tensors.Kernels.matmulNN`,
register-blocked Vector512 FMA tiles, Vector256 without AVX-512) on a product at the agent network's shapes that stays
in cache. The floor time of an update is FLOPs / (peak × cores), the cores being those the update may use (2 here),
and the *share of the floor* is floor time / our time: 100% would be every core doing nothing but matrix products at
the kernel's best speed for the whole update.
*)
(*** hide ***)
let peak = bench.GetProperty "peak"
let cores = bench.GetProperty("coresUsed").GetInt32()
let peakGflops = peak.GetProperty("gflops").GetDouble()

printfn
    "peak %s GFLOP/s (matmulNN %s, one thread, %s) × %d cores = %s GFLOP/s"
    (fmt "0.0" peakGflops)
    (str "shape" peak).Value
    (str "isa" peak).Value
    cores
    (fmt "0.0" (peakGflops * float cores))

for f in bench.GetProperty("flops").EnumerateArray() do
    let operation = (str "operation" f).Value
    let row = rows |> List.find (fun r -> str "operation" r = Some operation)
    let total = f.GetProperty("total").GetDouble()
    printfn ""
    printfn "%s, %s: %s GFLOP" operation (str "sizes" f).Value (fmt "0.000" (total / 1e9))

    for t in f.GetProperty("terms").EnumerateArray() do
        printfn
            "  %-50s %s GFLOP  = %s"
            (str "name" t).Value
            (fmt "0.000" (t.GetProperty("flops").GetDouble() / 1e9))
            (str "formula" t).Value

    match num "ours" row, num "floorMilliseconds" row, num "floorShare" row with
    | Some ours, Some floor, Some share ->
        printfn
            "  ours %s: %s GFLOP/s; floor %s; share of the floor %s%%"
            (time ours)
            (fmt "0.0" (total / (ours / 1e3) / 1e9))
            (time floor)
            (fmt "0.0" (100.0 * share))
    | _ -> printfn "  not measured"
(*** include-output ***)

(**
## What was done

**Where the time went first.** Before this work an update ran on the gradient tape: every operation of every time
step recorded a closure, the GRU ran one small step at a time through generic tensor operations, and the new state
was fresh heap memory. At 3m-like sizes it took 35.5 ms (0.68× PyTorch) and allocated 3.0 MB; at 3s5z-like sizes
210 ms (0.87×) and 24 MB; an acting step took 10.2 µs and allocated 12 KB. The tape remains, for every
configuration the fused update does not cover (MLP and per-agent agents, QMIX-NS/Lin, VDN-S, Weighted QMIX, any
user-written mixer), and the golden tests check both paths against PyTorch.

**The fused update** (`src/Qmix.Functional/Fused/`) runs when the agent is the shared RNN agent and the
mixer is QMIX (one or two hypernetwork layers, abs or softplus), VDN or IQL, with any hypernetwork input, double Q
or not, one-step or TD(λ) targets, RMSprop or Adam (`LearnerEngine.Auto`, the default; `LearnerEngine.Tape` forces
the tape). It is the same algorithm written out by hand:

- *Layout.* Parameters, targets and optimiser state are flat vectors; the weights are transposed once per update so
  that every forward product reads its right operand in place. Rows are time-major, `(t, episode, agent)`.
- *Batched where the recurrence allows.* fc1, the GRU's input-side gates, fc2, the four hypernetworks and all
  weight gradients are single large products over every time step; only the hidden-side gates (three 64×64
  products per step) and the gate arithmetic are sequential. The r and z gates' hidden-side biases are folded into
  the input side, and the hidden-side product is accumulated onto it in place.
- *Time-chunked.* The batched layers run a chunk of about 768 rows of time steps at a time, so their outputs are
  still in cache when the recurrence reads them; the backward pass's buffers are chunk-sized.
- *Packed sequences.* Episodes are sorted by the steps they need; at step t only the live rows are computed. Steps
  after an episode's last counted one change neither the loss nor its gradient (tested: garbage there changes
  nothing), so on the reference's batches (lengths uniform in [T/2, T]) about a quarter of PyTorch's work is never
  done. The GFLOP/s column counts the reference's work, so it can exceed what the kernel does.
- *Gates in one pass.* The GRU's r, z, n and h′ are computed in one AVX-512 pass: a Cephes-style exp with fused
  multiply-adds (about 1e-7 relative error) and a refined reciprocal estimate instead of a division. The gates'
  share of the 3s5z-like recurrence fell from 14 to 6 ms of CPU.
- *Two halves on two threads.* The batch is dealt into two halves (alternating in length order, so both get as
  much work), each computed on its own thread into its own gradient, and the gradients are added in a fixed order.
  The halves are the same whatever the thread count, so one thread and two give bit-identical results
  (`LearnerConfig.Threads`; the table's "1 thread vs 2" row and a test check it).
- *No churn.* A training loop owns its states, so `Training.run` puts them on a recycling workspace
  (`Learner.recycling`): each update writes the new state over the storage of the state two updates back (a
  `DoubleBuffer`), whose tensors then refuse to be read instead of returning recycled data. Batches are stacked at
  full length into reused memory (`Replay.sampleInto`, copied on two threads). The default workspace is persistent:
  every state keeps its own storage, as a pure function's result should.

**Acting** (`src/Qmix.Functional/Acting.fs`): an `Actor` packs the agents' weights once as Wᵀ, keeps every buffer,
and runs fc1 → GRU → fc2 with the mask and argmax on spans: no allocation, 2.2 µs for 3 agents; 16 environments
stepped together run at the kernel's full multiply-add rate, about 2.0 µs each. The runner and the C# `Policy` use
it.

**Where the rest goes.** A phase profile (`./build.sh bench profile`, CPU time summed over both halves, one thread)
of the 3s5z-like update: agent forwards 46 ms (online and target, of which the recurrence is 20 ms: 12.5 ms of
hidden-side products, 5.7 ms of gates), weight gradients 26 ms, recurrence backward 9 ms, mixers 17 ms, inputs,
greedy actions and targets 5 ms, optimiser 0.4 ms: about 106 ms on one thread, 58–60 ms on two. The products run at
100–110 GFLOP/s, close to the kernel's peak, so the remaining gap to the floor is the sequential part (per-step
products of 96 rows, gate arithmetic, about 30% of the agent forward), memory traffic of the activations kept for
the backward pass, and the two cores sharing one memory system (one thread to two gives 1.8×, not 2×). At 3m-like
sizes the halves are small (48 rows a step), so per-step overheads weigh more: 9 ms against a 7 ms floor for the
full work.

## Matrix kernels

Matrix products at the agent network's shapes, one thread (`./build.sh bench gflops`, a Stopwatch runner;
`./build.sh bench --filter '*Matmul*'` gives the same cases under BenchmarkDotNet with its MemoryDiagnoser and a
GFLOP/s column):

| product | layout | Vector512 | Vector256 | scalar | allocated per call |
| --- | --- | ---: | ---: | ---: | ---: |
| [96×64]·[192×64]ᵀ (GRU input gates, W as [out, in]) | NT, B packed per call | 105.7 GFLOP/s | 93.8 | 2.6 | 0 B |
| [96×42]·[42×64] | NN | 109.8 GFLOP/s | 99.9 | 2.8 | 0 B |
| [96×192]ᵀ·[96×64] (weight gradient) | TN | 113.5 GFLOP/s | 90.0 | 2.2 | 0 B |
| [96×64]·[64×192] | NN | 113.3 GFLOP/s | 99.1 | 2.4 | 0 B |
| [3×64]·[192×64]ᵀ (acting, 3 agents) | NT | 36.6 GFLOP/s | 34.4 | 2.7 | 0 B |

The kernels are register-blocked (8×32 Vector512 tiles with fused multiply-add, 4×16 on Vector256) and give
bit-identical results on every instruction set, so a run does not depend on the CPU it runs on.

## Environment throughput

Environment steps per second with uniformly random legal actions, finished episodes reset (`./build.sh bench
envs`; the same machine, nothing else running):

| environment | one thread | 2 cores, one environment each | `VecEnv.step`, batch of 64 over 2 cores | allocated per step |
| --- | ---: | ---: | ---: | ---: |
| combat:3m | 0.95 M | 1.80 M | 1.31 M | 387 B |
| combat:3s5z | 0.26 M | 0.50 M | 0.37 M | 660 B |
| lbf:10x10-3p-3f | 2.05 M | 3.56 M | 2.30 M | 1119 B |
| checkers | 3.38 M | 6.19 M | 3.90 M | 600 B |

The environments are pure functions over immutable states, so each step allocates its new state; `VecEnv.step`
writes results by index, so a batch gives the same result on any number of threads.

## What a training run costs

A training iteration is one episode collected (acting with the agents, stepping the environment) plus one learner
update, so on StarCraft-sized maps the update dominates. [Reproducing the paper](reproducing-the-paper.html)
measures a short stretch of QMIX on combat:3m while the site is built and estimates the time for 300 000 steps
from it; on the matrix games a run of 10 000 steps takes seconds ([Getting started](getting-started.html) prints its time).

## Running the benchmarks

| command | what it measures |
| --- | --- |
| `./build.sh bench` | `qmix bench`: every target above in one table, against PyTorch when `/usr/bin/python3` or `python3` has torch (`./build.sh bench table OPTIONS` passes options: `--json FILE`, `--quick`, `--replay-episodes N`, `--torch FILE\|off`, `--python PATH`, `--torch-output FILE`) |
| `./build.sh bench gflops` | the matmul kernels on each instruction set: GFLOP/s and bytes allocated per call |
| `./build.sh bench learner` | one QMIX learner update at the 3m-like and 3s5z-like sizes and one acting step (median ms, KB allocated per update over every thread), in the format of `../shared/ref/qmix_torch.py bench 1` |
| `./build.sh bench envs` | environment steps per second for combat:3m, combat:3s5z, lbf:10x10-3p-3f and checkers: one thread, one environment per core, and `VecEnv` stepping a batch of 64 over the cores |
| `./build.sh bench combat` | combat:3m and combat:3s5z steps per second with random legal actions, on one thread and on every core |
| `./build.sh bench bdn [ARGS]` (or BenchmarkDotNet's arguments directly) | the BenchmarkDotNet suite (`tests/Qmix.Benchmarks`: the matmul kernels, the learner update with a MemoryDiagnoser, the acting step), e.g. `--filter '*LearnerUpdate*' --job short` |
*)
