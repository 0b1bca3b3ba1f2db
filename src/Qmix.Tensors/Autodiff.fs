namespace Qmix.Tensors

open System

/// <summary>
/// Reverse-mode automatic differentiation with a pure interface: a function of a parameter tree goes in,
/// its value and a gradient tree of the same shape come out. Inside, a tape records each op and replays
/// the derivatives backwards; outside, nothing changes.
/// </summary>
/// <remarks>
/// Storage made during the computation comes from a thread-local <see cref="T:Qmix.Tensors.Arena"/>
/// and is recycled when it ends, so repeated computations of one shape do not allocate tensor storage.
/// Tensors made inside must not be kept: return what you need through <c>valueGradAux</c>, which copies it out.
/// First-order only: a tracked tensor from an enclosing computation cannot enter a nested one.
/// </remarks>
[<RequireQualifiedAccess>]
module Autodiff =
    let private run (f: 'P -> Tensor * 'A) (parameters: 'P) (keep: 'A -> 'A) : float32 * 'P * 'A =
        let leaves = Tree.leaves parameters

        for x in leaves do
            x.CheckLive()

        let grads, value, aux =
            Arena.Scope(fun arena ->
                let tape = Tape arena
                // each leaf re-enters as a tracked tensor sharing the caller's storage
                let tracked = leaves |> Array.map (fun x -> x.With(x.Shape, Node(tape, x.Numel)))
                let out, aux = f (Tree.rebuild parameters tracked)

                if isNull out || out.Numel <> 1 then
                    invalidArg
                        (nameof f)
                        (sprintf
                            "valueAndGrad: the function must return a one-element tensor, got shape %s"
                            (if isNull out then "null" else string out.Shape))

                let value = out.Scalar

                if out.IsTracked && obj.ReferenceEquals(out.Node.Tape, tape) then
                    tape.Backward out.Node

                // gradients leave the arena: copy them to the heap before its storage is recycled
                let grads =
                    Arena.Heap(fun () ->
                        tracked
                        |> Array.map (fun t ->
                            let g = Tensor.zeros (t.Shape.ToArray())

                            if not (isNull t.Node.Grad) then
                                ReadOnlySpan(t.Node.Grad).CopyTo g.WritableSpan

                            g))

                grads, value, Arena.Heap(fun () -> keep aux))

        value, Tree.rebuild parameters grads, aux

    /// <summary>The value of <paramref name="f"/> at <paramref name="parameters"/> and its gradient with
    /// respect to every leaf, as a tree shaped like the parameters.</summary>
    /// <param name="f">A function returning a one-element tensor (a loss).</param>
    /// <param name="parameters">A parameter tree (see <see cref="T:Qmix.Tensors.Tree"/>).</param>
    /// <returns>The value and the gradient tree. Leaves the loss does not depend on get zero gradients.</returns>
    let valueAndGrad (f: 'P -> Tensor) (parameters: 'P) : float32 * 'P =
        let v, g, () = run (fun p -> f p, ()) parameters id
        v, g

    /// <summary>The gradient alone (see <see cref="M:Qmix.Tensors.Autodiff.valueAndGrad"/>).</summary>
    let grad (f: 'P -> Tensor) (parameters: 'P) : 'P = snd (valueAndGrad f parameters)

    /// <summary>Like <c>valueAndGrad</c>, and returns auxiliary results (a tree of tensors, e.g. Q-values
    /// for logging) computed alongside the loss, copied out and detached.</summary>
    let valueGradAux (f: 'P -> Tensor * 'A) (parameters: 'P) : float32 * 'P * 'A =
        run f parameters (Tree.map Tensor.copy)

    /// <summary>A differentiable op defined by its value and its vector-Jacobian product, like a PyTorch
    /// <c>autograd.Function</c>: <paramref name="vjp"/> receives the gradient of the output and returns one
    /// gradient per input (same shapes as the inputs).</summary>
    /// <param name="inputs">The op's inputs; gradients flow to those that are tracked.</param>
    /// <param name="value">The op's output, computed by the caller from the inputs.</param>
    /// <param name="vjp">Output gradient → input gradients.</param>
    let custom (inputs: Tensor[]) (value: Tensor) (vjp: Tensor -> Tensor[]) : Tensor =
        let out = Tensor.detach value

        match Track.tapeN inputs with
        | null -> out
        | tape ->
            Track.attach tape out (fun g ->
                let gT = Tensor.ofArray (out.Shape.ToArray()) g
                let grads = vjp gT

                if isNull grads || grads.Length <> inputs.Length then
                    invalidOp (
                        sprintf
                            "custom op: the vjp returned %d gradients for %d inputs"
                            (if isNull grads then 0 else grads.Length)
                            inputs.Length
                    )

                for i in 0 .. inputs.Length - 1 do
                    let x = inputs[i]

                    if x.IsTracked then
                        if grads[i].Shape <> x.Shape then
                            invalidOp (
                                sprintf
                                    "custom op: gradient %d has shape %O, its input has shape %O"
                                    i
                                    grads[i].Shape
                                    x.Shape
                            )

                        let dx = Track.grad x
                        let gi = grads[i].Span

                        for j in 0 .. dx.Length - 1 do
                            dx[j] <- dx[j] + gi[j])
