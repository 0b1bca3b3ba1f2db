namespace Qmix.Functional

open System
open System.Globalization

/// <summary>A learner quantity whose size the divergence check watches.</summary>
[<RequireQualifiedAccess>]
type DiagnosticQuantity =
    /// <summary>The mean Q_tot of the taken joint actions over filled steps (PyMARL's <c>q_taken_mean</c>).</summary>
    | QTakenMean
    /// <summary>The mean TD target over filled steps (PyMARL's <c>target_mean</c>).</summary>
    | TargetMean

/// <summary>How the divergence check bounds the Q-values. Q_tot estimates a (discounted) return, so its mean over a
/// batch cannot honestly lie far beyond the largest return the environment pays; when it does, the values are
/// diverging (bootstrapping feeds on its own overestimates). <c>DiagnosticsConfig.defaults</c> watches the Q-values
/// against 2 × the largest plausible return seen, and never below 10: a long run on combat:3m whose Q-values climbed
/// to 80–90 against returns of at most 20 (and whose policy stopped fighting) went unreported under the earlier
/// 10 ×, at least 100.</summary>
type DiagnosticsConfig =
    {
        /// <summary>The largest |Q| that is plausible, when the user knows it (e.g. 20 for a combat map whose return
        /// is at most 20, with some slack for noise); it replaces the bound derived from the rewards. <c>None</c>
        /// (the default) derives the bound from the episodes collected.</summary>
        QValueBound: float32 option
        /// <summary>The derived bound is <c>Factor</c> × the largest plausible return seen (default 2): far enough
        /// above what an estimate of a return may reach to stay silent on healthy runs (the grid's largest |Q taken
        /// mean| was 14 against returns of at most 20), near enough to report a divergence before it is total.</summary>
        Factor: float32
        /// <summary>The derived bound is never below <c>Floor</c> (default 10), so that a run whose episodes pay
        /// (almost) nothing yet is not warned about Q-values of ordinary size.</summary>
        Floor: float32
    }

    /// <summary>No user bound; 2 × the largest plausible return seen, at least 10.</summary>
    static member defaults =
        {
            QValueBound = None
            Factor = 2.0f
            Floor = 10.0f
        }

/// <summary>What the divergence check remembers between updates.</summary>
type DiagnosticsState =
    {
        /// <summary>The largest plausible return of an episode collected so far (see
        /// <see cref="M:Qmix.Functional.Diagnostics.plausibleReturn"/>); 0 before any.</summary>
        LargestReturn: float32
        /// <summary>The quantities already warned about: each is warned about once per run.</summary>
        Warned: Set<DiagnosticQuantity>
    }

    /// <summary>Nothing seen, nothing warned about.</summary>
    static member empty =
        {
            LargestReturn = 0.0f
            Warned = Set.empty
        }

/// <summary>A learner quantity left its plausible range: it is NaN or infinite, or its magnitude is above the
/// bound.</summary>
type DiagnosticWarning =
    {
        /// <summary>Environment steps when the update that showed it was taken.</summary>
        Step: int
        /// <summary>Episodes when the update was taken.</summary>
        Episode: int
        /// <summary>The quantity.</summary>
        Quantity: DiagnosticQuantity
        /// <summary>Its value in that update.</summary>
        Value: float32
        /// <summary>The bound its magnitude exceeded.</summary>
        Bound: float32
        /// <summary>True when the bound is the user's (<c>DiagnosticsConfig.QValueBound</c>); false when it was
        /// derived from the largest plausible return seen.</summary>
        UserBound: bool
        /// <summary>The largest plausible return of an episode seen when the warning was given.</summary>
        LargestReturn: float32
    }

/// <summary>Learner diagnostics: a check that the Q-values stay in a plausible range, so that a diverging run says so
/// early, while its loss may still look unremarkable.</summary>
[<RequireQualifiedAccess>]
module Diagnostics =
    /// <summary>The quantity's name as PyMARL logs it: <c>q_taken_mean</c> or <c>target_mean</c>.</summary>
    let name (quantity: DiagnosticQuantity) : string =
        match quantity with
        | DiagnosticQuantity.QTakenMean -> "q_taken_mean"
        | DiagnosticQuantity.TargetMean -> "target_mean"

    /// <summary>The quantity in words: "the mean Q_tot of the taken actions" or "the mean TD target".</summary>
    let describeQuantity (quantity: DiagnosticQuantity) : string =
        match quantity with
        | DiagnosticQuantity.QTakenMean -> "the mean Q_tot of the taken actions"
        | DiagnosticQuantity.TargetMean -> "the mean TD target"

    /// <summary>The largest return any step of an episode can plausibly be worth:
    /// <c>Σ_t |r_t|</c> over its transitions, which bounds the (discounted) return from every one of its steps; for
    /// an episode cut at its limit (not terminated) with γ &lt; 1, plus its mean <c>|r_t|</c> per step over
    /// <c>1 / (1 − γ)</c> more steps, since the learner bootstraps past the cut as if the episode went on at that
    /// rate. (Its largest single reward would not do: a win bonus paid once, over 1 / (1 − γ) steps, allows a
    /// hundred times the real return on a combat map, and a diverging mixer hides under that.)</summary>
    /// <param name="gamma">The discount γ of the learner.</param>
    /// <param name="episode">The episode.</param>
    /// <returns>A non-negative number (NaN when a reward is NaN).</returns>
    let plausibleReturn (gamma: float32) (episode: Episode) : float32 =
        let mutable sum = 0.0f

        for t in 0 .. episode.Length - 1 do
            sum <- sum + abs episode.Reward[t]

        if not episode.Terminated && gamma < 1.0f && episode.Length > 0 then
            sum + sum / float32 episode.Length / (1.0f - gamma)
        else
            sum

    /// <summary>The state after episodes were collected: the largest plausible return grows to cover theirs.</summary>
    /// <param name="gamma">The discount γ of the learner.</param>
    /// <param name="episodes">The collected episodes.</param>
    /// <param name="state">The state before.</param>
    let observe (gamma: float32) (episodes: Episode seq) (state: DiagnosticsState) : DiagnosticsState =
        let largest =
            episodes
            |> Seq.fold
                (fun m e ->
                    let p = plausibleReturn gamma e
                    // a NaN reward leaves the bound as it was (the learner reports the NaN itself)
                    if Single.IsFinite p then max m p else m)
                state.LargestReturn

        { state with LargestReturn = largest }

    /// <summary>The bound on |Q|: the user's <c>QValueBound</c> when set, otherwise
    /// <c>max(Factor × LargestReturn, Floor)</c>.</summary>
    let bound (config: DiagnosticsConfig) (state: DiagnosticsState) : float32 =
        match config.QValueBound with
        | Some b -> b
        | None -> max (config.Factor * state.LargestReturn) config.Floor

    /// <summary>Checks an update's metrics: a warning for each watched quantity (<c>q_taken_mean</c>, then
    /// <c>target_mean</c>) that is NaN or infinite or whose magnitude is above
    /// <see cref="M:Qmix.Functional.Diagnostics.bound"/>, unless that quantity was warned about before. A pure
    /// function: the state it returns remembers the warnings given.</summary>
    /// <param name="config">The settings.</param>
    /// <param name="state">What was seen before (the largest plausible return, the warnings given).</param>
    /// <param name="step">The environment steps at the update.</param>
    /// <param name="episode">The episodes at the update.</param>
    /// <param name="metrics">The update's metrics.</param>
    /// <returns>The next state and the new warnings (none, one or two).</returns>
    let check
        (config: DiagnosticsConfig)
        (state: DiagnosticsState)
        (step: int)
        (episode: int)
        (metrics: LearnerMetrics)
        : DiagnosticsState * DiagnosticWarning list =
        let b = bound config state

        let warnings =
            [
                DiagnosticQuantity.QTakenMean, metrics.QTakenMean
                DiagnosticQuantity.TargetMean, metrics.TargetMean
            ]
            |> List.filter (fun (q, v) -> not (state.Warned.Contains q) && not (Single.IsFinite v && abs v <= b))
            |> List.map (fun (q, v) ->
                {
                    Step = step
                    Episode = episode
                    Quantity = q
                    Value = v
                    Bound = b
                    UserBound = config.QValueBound.IsSome
                    LargestReturn = state.LargestReturn
                })

        { state with
            Warned = warnings |> List.fold (fun s w -> Set.add w.Quantity s) state.Warned
        },
        warnings

    /// <summary>The warning as a sentence naming the quantity, its value, the bound and where the bound came from,
    /// e.g. "q_taken_mean (the mean Q_tot of the taken actions) is 3.2E+04 at step 4,000, far above any plausible
    /// return: |value| should stay below 100 (derived from 8, the largest return an episode seen so far can be worth).
    /// The Q-values are diverging; …".</summary>
    let describe (warning: DiagnosticWarning) : string =
        let inv = CultureInfo.InvariantCulture
        let g (x: float32) = x.ToString("G4", inv)

        let what =
            sprintf "%s (%s)" (name warning.Quantity) (describeQuantity warning.Quantity)

        let at = sprintf "at step %s" (warning.Step.ToString("N0", inv))

        let advice =
            "a smaller learning rate, more episodes between target updates or a smaller discount factor usually help"

        if not (Single.IsFinite warning.Value) then
            sprintf "%s is %s %s: the Q-values are no longer finite; %s." what (g warning.Value) at advice
        elif warning.UserBound then
            sprintf
                "%s is %s %s, above the bound set in the configuration (%s): the Q-values may be diverging; %s."
                what
                (g warning.Value)
                at
                (g warning.Bound)
                advice
        else
            sprintf
                "%s is %s %s, far above any plausible return: |value| should stay below %s (derived from %s, the largest return an episode seen so far can be worth). The Q-values are diverging; %s."
                what
                (g warning.Value)
                at
                (g warning.Bound)
                (g warning.LargestReturn)
                advice
