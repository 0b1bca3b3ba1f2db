namespace Qmix.Benchmarks

open System
open System.Diagnostics
open BenchmarkDotNet.Attributes
open BenchmarkDotNet.Columns
open BenchmarkDotNet.Configs
open BenchmarkDotNet.Reports
open BenchmarkDotNet.Running
open Qmix.Tensors

/// The sizes of a matrix product benchmark: C[M,N] from an inner dimension K, 2·M·K·N flops.
[<AttributeUsage(AttributeTargets.Method)>]
type MatmulShapeAttribute(m: int, k: int, n: int) =
    inherit Attribute()
    member _.M = m
    member _.K = k
    member _.N = n
    member _.Flops = 2.0 * float m * float k * float n

/// A summary column: GFLOP/s of a benchmark marked with MatmulShape, from its mean time.
type GflopsColumn() =
    static let shapeOf (case: BenchmarkCase) =
        case.Descriptor.WorkloadMethod.GetCustomAttributes(typeof<MatmulShapeAttribute>, false)
        |> Array.tryHead
        |> Option.map (fun a -> a :?> MatmulShapeAttribute)

    interface IColumn with
        member _.Id = "GFLOP/s"
        member _.ColumnName = "GFLOP/s"
        member _.AlwaysShow = true
        member _.Category = ColumnCategory.Custom
        member _.PriorityInCategory = 0
        member _.IsNumeric = true
        member _.UnitType = UnitType.Dimensionless

        member _.Legend =
            "Billions of floating-point operations per second: 2·M·K·N / mean time"

        member _.IsAvailable(_: Summary) = true
        member _.IsDefault(_: Summary, _: BenchmarkCase) = false

        member this.GetValue(summary: Summary, case: BenchmarkCase) =
            (this :> IColumn).GetValue(summary, case, SummaryStyle.Default)

        member _.GetValue(summary: Summary, case: BenchmarkCase, _: SummaryStyle) =
            let report = summary[case]

            match shapeOf case with
            | Some shape when not (isNull report) && not (isNull report.ResultStatistics) ->
                let ns = report.ResultStatistics.Mean
                (shape.Flops / ns).ToString("F1")
            | _ -> "-"

/// Adds the GFLOP/s column to the default configuration.
type MatmulConfig() as this =
    inherit ManualConfig()

    do this.AddColumn(GflopsColumn()) |> ignore

/// The matmul kernels at the shapes of the agent network, on each instruction set.
[<MemoryDiagnoser; Config(typeof<MatmulConfig>)>]
type MatmulBenchmarks() =
    let random (len: int) (seed: int) =
        let r = Random seed
        Array.init len (fun _ -> float32 (r.NextDouble() * 2.0 - 1.0))

    let mutable isa = Kernels.Isa.Vector512
    // NT: x[96,64] · W_ih[192,64]ᵀ
    let mutable ntA: float32[] = [||]
    let mutable ntB: float32[] = [||]
    let mutable ntC: float32[] = [||]
    // NN: [96,42] · [42,64]
    let mutable nnA: float32[] = [||]
    let mutable nnB: float32[] = [||]
    let mutable nnC: float32[] = [||]
    // TN: g[96,192]ᵀ · x[96,64]
    let mutable tnA: float32[] = [||]
    let mutable tnB: float32[] = [||]
    let mutable tnC: float32[] = [||]
    // NT with 3 rows (acting): x[3,64] · W_ih[192,64]ᵀ
    let mutable actA: float32[] = [||]
    let mutable actC: float32[] = [||]

    /// The instruction set: "Vector512", "Vector256" or "Scalar".
    [<Params("Vector512", "Vector256", "Scalar")>]
    member val Isa = "Vector512" with get, set

    [<GlobalSetup>]
    member this.Setup() =
        isa <-
            match this.Isa with
            | "Vector512" -> Kernels.Isa.Vector512
            | "Vector256" -> Kernels.Isa.Vector256
            | _ -> Kernels.Isa.Scalar

        ntA <- random (96 * 64) 1
        ntB <- random (192 * 64) 2
        ntC <- Array.zeroCreate (96 * 192)
        nnA <- random (96 * 42) 3
        nnB <- random (42 * 64) 4
        nnC <- Array.zeroCreate (96 * 64)
        tnA <- random (96 * 192) 5
        tnB <- random (96 * 64) 6
        tnC <- Array.zeroCreate (192 * 64)
        actA <- random (3 * 64) 7
        actC <- Array.zeroCreate (3 * 192)

    /// The GRU input projection: [96×64]·[192×64]ᵀ.
    [<Benchmark; MatmulShape(96, 64, 192)>]
    member _.MatmulNT_96x64x192() =
        Kernels.matmulNTWith isa (96, 64, 192, ReadOnlySpan ntA, ReadOnlySpan ntB, Span ntC, false)

    /// A hidden layer: [96×42]·[42×64].
    [<Benchmark; MatmulShape(96, 42, 64)>]
    member _.MatmulNN_96x42x64() =
        Kernels.matmulNNWith isa (96, 42, 64, ReadOnlySpan nnA, ReadOnlySpan nnB, Span nnC, false)

    /// A weight gradient: [96×192]ᵀ·[96×64] into [192×64].
    [<Benchmark; MatmulShape(192, 96, 64)>]
    member _.MatmulTN_192x96x64() =
        Kernels.matmulTNWith isa (192, 96, 64, ReadOnlySpan tnA, ReadOnlySpan tnB, Span tnC, false)

    /// Acting: three rows through the GRU input projection, [3×64]·[192×64]ᵀ.
    [<Benchmark; MatmulShape(3, 64, 192)>]
    member _.MatmulNT_3x64x192() =
        Kernels.matmulNTWith isa (3, 64, 192, ReadOnlySpan actA, ReadOnlySpan ntB, Span actC, false)

/// A quick Stopwatch measurement of the same cases, printed as GFLOP/s and bytes allocated per call
/// (`./build.sh bench gflops`).
module MatmulGflops =
    type private Case =
        {
            Name: string
            M: int
            K: int
            N: int
            Run: Kernels.Isa -> float32[] -> float32[] -> float32[] -> unit
        }

    let private cases =
        [
            {
                Name = "NT [96x64]·[192x64]ᵀ"
                M = 96
                K = 64
                N = 192
                Run =
                    fun isa a b c ->
                        Kernels.matmulNTWith isa (96, 64, 192, ReadOnlySpan a, ReadOnlySpan b, Span c, false)
            }
            {
                Name = "NN [96x42]·[42x64]"
                M = 96
                K = 42
                N = 64
                Run =
                    fun isa a b c ->
                        Kernels.matmulNNWith isa (96, 42, 64, ReadOnlySpan a, ReadOnlySpan b, Span c, false)
            }
            {
                Name = "TN [96x192]ᵀ·[96x64]"
                M = 192
                K = 96
                N = 64
                Run =
                    fun isa a b c ->
                        Kernels.matmulTNWith isa (192, 96, 64, ReadOnlySpan a, ReadOnlySpan b, Span c, false)
            }
            {
                Name = "NT [3x64]·[192x64]ᵀ"
                M = 3
                K = 64
                N = 192
                Run =
                    fun isa a b c ->
                        Kernels.matmulNTWith isa (3, 64, 192, ReadOnlySpan a, ReadOnlySpan b, Span c, false)
            }
            {
                Name = "NN [3x64]·[64x192]"
                M = 3
                K = 64
                N = 192
                Run =
                    fun isa a b c ->
                        Kernels.matmulNNWith isa (3, 64, 192, ReadOnlySpan a, ReadOnlySpan b, Span c, false)
            }
            {
                Name = "NT [96x64]·[9x64]ᵀ"
                M = 96
                K = 64
                N = 9
                Run =
                    fun isa a b c -> Kernels.matmulNTWith isa (96, 64, 9, ReadOnlySpan a, ReadOnlySpan b, Span c, false)
            }
            {
                Name = "NN [96x64]·[64x192]"
                M = 96
                K = 64
                N = 192
                Run =
                    fun isa a b c ->
                        Kernels.matmulNNWith isa (96, 64, 192, ReadOnlySpan a, ReadOnlySpan b, Span c, false)
            }
        ]

    /// Measures every case on every instruction set and prints one line each.
    let run () =
        let r = Random 1

        let fill len =
            Array.init len (fun _ -> float32 (r.NextDouble() * 2.0 - 1.0))

        printfn "Kernels.activeIsa = %s" Kernels.activeIsa

        for case in cases do
            let a = fill (case.M * case.K)
            let b = fill (case.K * case.N)
            let c = Array.zeroCreate<float32>(case.M * case.N)
            let flops = 2.0 * float case.M * float case.K * float case.N

            for isa in [ Kernels.Isa.Vector512; Kernels.Isa.Vector256; Kernels.Isa.Scalar ] do
                let mutable iters = 16

                for _ in 1..iters do
                    case.Run isa a b c

                // Grow the batch until it takes at least 0.2 s, then keep the best of five batches.
                let sw = Stopwatch()
                sw.Restart()
                case.Run isa a b c
                let once = max sw.Elapsed.TotalSeconds 1e-7
                iters <- max 1 (int (0.2 / once))
                let mutable best = Double.MaxValue
                let before = GC.GetAllocatedBytesForCurrentThread()

                for _ in 1..5 do
                    sw.Restart()

                    for _ in 1..iters do
                        case.Run isa a b c

                    best <- min best (sw.Elapsed.TotalSeconds / float iters)

                let allocated = GC.GetAllocatedBytesForCurrentThread() - before

                printfn
                    "%-24s %-10A %8.1f GFLOP/s  %8.2f us  %d B/call"
                    case.Name
                    isa
                    (flops / best / 1e9)
                    (best * 1e6)
                    (allocated / int64 (5 * iters))
