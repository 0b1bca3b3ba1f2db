namespace Qmix.Functional

open System.Threading.Tasks
open Qmix.Tensors

/// <summary>The vectorised form of an environment: N copies reset or stepped at once, spread over the cores. Each
/// copy is reset or stepped exactly as alone, and results are written by index, so the outcome equals N single
/// calls whatever the number of threads.</summary>
[<RequireQualifiedAccess>]
module VecEnv =
    /// The fewest environments a parallel chunk takes: smaller batches run on the calling thread, since a step of a
    /// small environment costs less than handing work to another thread.
    [<Literal>]
    let private MinChunk = 8

    /// Runs body i for i in [0, n) over fixed contiguous chunks, one per core at most. An exception thrown for an
    /// index stops its chunk; afterwards the one with the lowest index is rethrown as it was, so the failure reported
    /// is the same as in a sequential loop.
    let private forEach (n: int) (body: int -> unit) =
        let chunks = max 1 (min System.Environment.ProcessorCount (n / MinChunk))

        if chunks = 1 then
            for i in 0 .. n - 1 do
                body i
        else
            let errors = Array.zeroCreate<exn> chunks

            Parallel.For(
                0,
                chunks,
                fun (c: int) ->
                    let hi = (c + 1) * n / chunks
                    let mutable i = c * n / chunks

                    try
                        while i < hi do
                            body i
                            i <- i + 1
                    with e ->
                        errors[c] <- e
            )
            |> ignore

            match errors |> Array.tryFind (fun e -> not (isNull e)) with
            | Some e -> System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw e
            | None -> ()

    /// Calls f for environment i, adding "environment i" to an ArgumentException's message.
    let private at (i: int) (f: unit -> 'T) : 'T =
        try
            f ()
        with :? System.ArgumentException as e ->
            // the message without the " (Parameter 'x')" that ArgumentException appends, which the new one adds again
            let suffix = sprintf " (Parameter '%s')" e.ParamName

            let message =
                if not (isNull e.ParamName) && e.Message.EndsWith suffix then
                    e.Message.Substring(0, e.Message.Length - suffix.Length)
                else
                    e.Message

            raise (System.ArgumentException(sprintf "environment %d: %s" i message, e.ParamName, e))

    /// <summary>Resets N environments: element i is <c>env.Reset keys[i]</c>.</summary>
    /// <param name="env">The environment.</param>
    /// <param name="keys">One key per environment.</param>
    /// <returns>The N first states, in key order.</returns>
    /// <exception cref="System.ArgumentException">The environment's reset raised one; the message is prefixed with
    /// the lowest failing index ("environment i: …").</exception>
    let reset (env: Env<'S>) (keys: Key[]) : 'S[] =
        if isNull keys then
            nullArg (nameof keys)

        let states = Array.zeroCreate keys.Length
        forEach keys.Length (fun i -> states[i] <- at i (fun () -> env.Reset keys[i]))
        states

    /// <summary>Steps N environments at once: element i of the result is <c>env.Step states[i] actions[i]
    /// keys[i]</c>. Nothing passed in is changed.</summary>
    /// <param name="env">The environment.</param>
    /// <param name="states">The N current states.</param>
    /// <param name="actions">N joint actions, one array of N_agents action indices per environment.</param>
    /// <param name="keys">N step keys.</param>
    /// <returns>The N next states and the N transitions, in input order.</returns>
    /// <exception cref="System.ArgumentException">The three arrays differ in length, or a step raised one (e.g. a bad
    /// joint action, named by agent and action); the message is prefixed with the lowest failing index
    /// ("environment i: …"). Exceptions of other types are rethrown as they are, the lowest failing index's
    /// first.</exception>
    let step (env: Env<'S>) (states: 'S[]) (actions: int[][]) (keys: Key[]) : 'S[] * Transition[] =
        if isNull states then
            nullArg (nameof states)

        if isNull actions then
            nullArg (nameof actions)

        if isNull keys then
            nullArg (nameof keys)

        let n = states.Length

        if actions.Length <> n || keys.Length <> n then
            invalidArg
                (nameof actions)
                (sprintf
                    "%s: VecEnv.step needs one joint action and one key per state; got %d states, %d joint actions, %d keys"
                    env.Spec.Name
                    n
                    actions.Length
                    keys.Length)

        let next = Array.zeroCreate n
        let transitions = Array.zeroCreate n

        forEach n (fun i ->
            let s, t = at i (fun () -> env.Step states[i] actions[i] keys[i])
            next[i] <- s
            transitions[i] <- t)

        next, transitions
