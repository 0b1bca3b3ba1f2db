namespace Qmix.Tensors

open System

/// <summary>The outcome of a gradient check: the worst disagreement found and where.</summary>
type GradCheckReport =
    {
        /// <summary>True when every value and gradient element is within tolerance.</summary>
        Passed: bool
        /// <summary>The largest error found, relative to max(1, |reference|) (see <c>GradCheck.check</c>).</summary>
        MaxError: float
        /// <summary>Where the largest error is: "value" or "input k, element i".</summary>
        Worst: string
        /// <summary>The reverse-mode value at the worst place.</summary>
        Analytic: float
        /// <summary>The float64 reference (finite difference, or value) at the worst place.</summary>
        Reference: float
    }

/// <summary>
/// Checks reverse-mode gradients against central finite differences computed in float64 on an
/// independent float64 implementation of the same function.
/// </summary>
[<RequireQualifiedAccess>]
module GradCheck =
    /// <summary>Compares <paramref name="f32"/>'s value and reverse-mode gradient with the value and the
    /// central-difference gradient of <paramref name="f64"/>, a float64 implementation of the same
    /// scalar function, at <paramref name="inputs"/>.</summary>
    /// <param name="tolerance">The largest accepted |ours − reference| / max(1, |reference|).</param>
    /// <param name="f32">The function under test, on tensors (must return a one-element tensor).</param>
    /// <param name="f64">The float64 reference, on the inputs' elements (row-major arrays).</param>
    /// <param name="inputs">The point at which to compare.</param>
    let check
        (tolerance: float)
        (f32: Tensor[] -> Tensor)
        (f64: float[][] -> float)
        (inputs: Tensor[])
        : GradCheckReport =
        let value, grads = Autodiff.valueAndGrad f32 inputs
        let x64 = inputs |> Array.map (fun t -> t.ToArray() |> Array.map float)
        let ref0 = f64 x64
        let mutable worst = ("value", float value, ref0)

        let err (ours: float) (reference: float) =
            if Double.IsNaN ours || Double.IsNaN reference then
                infinity
            else
                abs (ours - reference) / max 1.0 (abs reference)

        let mutable maxErr = err (float value) ref0

        for k in 0 .. inputs.Length - 1 do
            let g = grads[k].ToArray()
            let xs = x64[k]

            for i in 0 .. xs.Length - 1 do
                let x0 = xs[i]
                let h = 1e-6 * max 1.0 (abs x0)
                xs[i] <- x0 + h
                let fp = f64 x64
                xs[i] <- x0 - h
                let fm = f64 x64
                xs[i] <- x0
                let fd = (fp - fm) / (2.0 * h)
                let e = err (float g[i]) fd

                if e > maxErr then
                    maxErr <- e
                    worst <- (sprintf "input %d, element %d" k i, float g[i], fd)

        let where, analytic, reference = worst

        {
            Passed = maxErr <= tolerance
            MaxError = maxErr
            Worst = where
            Analytic = analytic
            Reference = reference
        }
