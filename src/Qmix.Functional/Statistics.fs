namespace Qmix.Functional

open System

/// <summary>The statistics of learning curves over seeds: Student's t critical values and the mean of several runs
/// with its 95% confidence band.</summary>
[<RequireQualifiedAccess>]
module Statistics =
    /// True when x is neither NaN nor infinite.
    let internal finite (x: float) =
        not (Double.IsNaN x || Double.IsInfinity x)

    /// True when both coordinates of a point are finite.
    let internal finitePoint (x, y) = finite x && finite y


    /// Two-sided 95% critical values of Student's t for 1..30 degrees of freedom (t_{0.975, ν}).
    let private tTable =
        [|
            12.706204736
            4.302652730
            3.182446305
            2.776445105
            2.570581836
            2.446911851
            2.364624252
            2.306004135
            2.262157163
            2.228138852
            2.200985160
            2.178812830
            2.160368656
            2.144786688
            2.131449546
            2.119905299
            2.109815578
            2.100922040
            2.093024054
            2.085963447
            2.079613845
            2.073873068
            2.068657610
            2.063898562
            2.059538553
            2.055529439
            2.051830516
            2.048407142
            2.045229642
            2.042272456
        |]

    /// <summary>The critical value t such that a Student-t variable with <c>df</c> degrees of freedom lies in
    /// [−t, t] with probability 0.95 (the 0.975 quantile): tabulated to 10 digits for 1 to 30 degrees of freedom,
    /// above that the Cornish–Fisher expansion around the normal quantile z = 1.959964 (error below 1e-6).</summary>
    /// <exception cref="System.ArgumentException"><c>df</c> is below 1.</exception>
    let tCritical95 (df: int) : float =
        if df < 1 then
            invalidArg "df" (sprintf "Statistics.tCritical95: %d degrees of freedom (at least 1)" df)
        elif df <= tTable.Length then
            tTable[df - 1]
        else
            let z = 1.959963984540054
            let v = float df

            z
            + (z ** 3.0 + z) / (4.0 * v)
            + (5.0 * z ** 5.0 + 16.0 * z ** 3.0 + 3.0 * z) / (96.0 * v * v)
            + (3.0 * z ** 7.0 + 19.0 * z ** 5.0 + 17.0 * z ** 3.0 - 15.0 * z)
              / (384.0 * v ** 3.0)

    /// A run's finite points sorted by x, points sharing an x averaged.
    let private cleanRun (i: int) (run: (float * float)[]) =
        if isNull run then
            invalidArg "runs" (sprintf "Statistics.meanBand: run %d is null" i)

        let pts =
            run
            |> Array.filter finitePoint
            |> Array.sortBy fst
            |> Array.groupBy fst
            |> Array.map (fun (x, g) -> x, Array.averageBy snd g)

        if pts.Length = 0 then
            invalidArg "runs" (sprintf "Statistics.meanBand: run %d has no finite points" i)

        Array.map fst pts, Array.map snd pts

    /// Linear interpolation of a run (sorted xs) at x within [xs[0], xs[^1]].
    let private interpolate (xs: float[], ys: float[]) (x: float) =
        let i = Array.BinarySearch(xs, x)

        if i >= 0 then
            ys[i]
        else
            let j = ~~~i // first index with xs[j] > x; 0 < j < xs.Length inside the range
            let x0, x1 = xs[j - 1], xs[j]
            ys[j - 1] + (ys[j] - ys[j - 1]) * (x - x0) / (x1 - x0)

    /// <summary>The mean of several runs with a 95% confidence interval of the mean, as (x, mean, lo, hi) points.
    /// Runs may log at different x values: the grid is every x at which some run logged that lies in the range all
    /// runs cover (from the latest first x to the earliest last x), and each run is interpolated linearly onto it.
    /// At each x, with the n runs' values y_i, mean m and sample standard deviation s = √(Σ(y_i − m)² / (n − 1)), the
    /// interval is m ± t · s / √n, where t is the 0.975 quantile of Student's t with n − 1 degrees of freedom
    /// (<see cref="M:Qmix.Functional.Statistics.tCritical95"/>: 12.71 for 2 runs, 2.78 for 5). With one run, lo = hi =
    /// mean. Points with a NaN or infinite coordinate are dropped; points of one run sharing an x are averaged.</summary>
    /// <exception cref="System.ArgumentException">There are no runs, a run has no finite points, or the runs' x
    /// ranges do not overlap.</exception>
    let meanBand (runs: (float * float)[][]) : (float * float * float * float)[] =
        if isNull runs || runs.Length = 0 then
            invalidArg "runs" "Statistics.meanBand: no runs"

        let clean = runs |> Array.mapi cleanRun
        let lo = clean |> Array.map (fun (xs, _) -> xs[0]) |> Array.max
        let hi = clean |> Array.map (fun (xs, _) -> xs[xs.Length - 1]) |> Array.min

        if lo > hi then
            invalidArg
                "runs"
                (sprintf
                    "Statistics.meanBand: the runs' x ranges do not overlap (the latest start is %g, the earliest end %g)"
                    lo
                    hi)

        let grid =
            clean
            |> Array.collect fst
            |> Array.filter (fun x -> x >= lo && x <= hi)
            |> Array.distinct
            |> Array.sort

        let n = clean.Length
        let t = if n > 1 then tCritical95 (n - 1) else 0.0

        grid
        |> Array.map (fun x ->
            let ys = clean |> Array.map (fun run -> interpolate run x)
            let m = Array.average ys

            if n = 1 then
                x, m, m, m
            else
                let s2 = (ys |> Array.sumBy (fun y -> (y - m) * (y - m))) / float (n - 1)
                let h = t * sqrt (s2 / float n)
                x, m, m - h, m + h)
