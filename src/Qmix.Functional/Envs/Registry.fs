namespace Qmix.Functional.Envs

open Qmix.Functional

/// <summary>A registered environment: its name, a description, how to make it and how to draw a state (as text, and
/// as SVG where the environment has a graphical renderer), all over boxed states (<c>Env.boxed</c>) so that environments of different state types sit in one list.</summary>
type EnvEntry =
    {
        /// <summary>The registered name, e.g. <c>matrix:climbing</c>; unique in the registry.</summary>
        Name: string
        /// <summary>One line on what the environment is.</summary>
        Description: string
        /// <summary>Makes the environment (its states boxed).</summary>
        Make: unit -> Env<obj>
        /// <summary>A text frame of a state of the environment (a few lines).</summary>
        RenderText: obj -> string
        /// <summary>A graphical frame of a state as a standalone SVG document (e.g. <c>CombatRender.svg</c>), for the
        /// environments that have one; <c>None</c> for the others (the matrix games). Frames of an episode make a sheet
        /// with <c>SvgSheet.compose</c>.</summary>
        RenderSvg: (obj -> string) option
        /// <summary>The documented bound of the environment's features: every observation and global-state value
        /// lies in [−FeatureBound, FeatureBound]. 1 for every built-in environment except Level-Based Foraging,
        /// whose observations carry raw cell coordinates and levels (as lb-foraging's do).</summary>
        FeatureBound: float32
    }

/// <summary>Building registry entries.</summary>
[<RequireQualifiedAccess>]
module EnvEntry =
    /// <summary>An entry from a typed environment and its typed renderer; the environment is boxed when made, and
    /// the renderer takes the boxed states that environment returns.</summary>
    /// <param name="name">The registered name.</param>
    /// <param name="description">One line on what the environment is.</param>
    /// <param name="make">Makes the (typed) environment.</param>
    /// <param name="render">A text frame of a state.</param>
    let create (name: string) (description: string) (make: unit -> Env<'S>) (render: 'S -> string) : EnvEntry =
        {
            Name = name
            Description = description
            Make = fun () -> Env.boxed (make ())
            RenderText = fun state -> render (Env.unboxState<'S> name state)
            RenderSvg = None
            FeatureBound = 1.0f
        }

    /// <summary>The entry with a graphical renderer (see <c>EnvEntry.RenderSvg</c>): a typed renderer of the states
    /// the entry's environment makes, taking them boxed.</summary>
    /// <param name="render">A standalone SVG document of a state.</param>
    /// <param name="entry">The entry.</param>
    let withSvg (render: 'S -> string) (entry: EnvEntry) : EnvEntry =
        { entry with
            RenderSvg = Some(fun state -> render (Env.unboxState<'S> entry.Name state))
        }

    /// <summary>The entry with another documented feature bound (see <c>EnvEntry.FeatureBound</c>).</summary>
    /// <param name="bound">The bound, positive.</param>
    /// <param name="entry">The entry.</param>
    let withFeatureBound (bound: float32) (entry: EnvEntry) : EnvEntry = { entry with FeatureBound = bound }

/// <summary>The built-in environments by name.</summary>
/// <remarks>
/// <para>Naming: a family prefix and a colon, then the variant (<c>matrix:climbing</c>, <c>lbf:10x10-3p-3f</c>,
/// <c>combat:3m</c>); environments that stand alone in their family keep their plain name (<c>two-step</c>,
/// <c>checkers</c>). A suffix names a form of the same game: <c>-repeated</c> is a one-step matrix game played for
/// <c>MatrixGames.DefaultRounds</c> (25) rounds with constant observations.</para>
/// <para>The matrix games: <c>two-step</c>, <c>matrix:non-monotonic</c>, <c>matrix:climbing</c>,
/// <c>matrix:climbing-repeated</c>, <c>matrix:penalty</c> (k = −100), <c>matrix:penalty-repeated</c>. Each made
/// environment's <c>Spec.Name</c> is its registered name, except <c>matrix:non-monotonic</c>, whose spec keeps the
/// name <c>non-monotonic</c> that saved checkpoints carry.</para>
/// <para>Adding an environment is one line in <c>Registry.all</c>:
/// <c>EnvEntry.create name description (fun () -> env) render</c>, piped into <c>EnvEntry.withSvg renderSvg</c> when
/// it has a graphical renderer. Every built-in environment has one except the matrix games.</para>
/// </remarks>
[<RequireQualifiedAccess>]
module Registry =
    /// <summary>Every registered environment, in a fixed order (by family).</summary>
    let all: EnvEntry list =
        let lbf (task: string) (description: string) =
            // raw coordinates (0 .. size − 1) and levels (players' and foods', a food's at most the sum of the three
            // lowest players' levels)
            let c = Lbf.config task

            let highest =
                max (c.FieldSize - 1) (max (3 * c.MaxPlayerLevel) (defaultArg c.MaxFoodLevel 0))

            EnvEntry.create ("lbf:" + task) ("Level-Based Foraging: " + description) (fun () -> Lbf.env task) Lbf.render
            |> EnvEntry.withSvg Lbf.renderSvg
            |> EnvEntry.withFeatureBound (float32 highest)

        let combat (map: string) =
            let sc = Combat.scenario map

            EnvEntry.create
                ("combat:" + map)
                (sprintf
                    "SMAX-style combat %s: %d allies vs %d enemies, episode limit %d"
                    map
                    sc.Allies.Length
                    sc.Enemies.Length
                    sc.EpisodeLimit)
                (fun () -> Combat.make sc)
                CombatRender.text
            |> EnvEntry.withSvg CombatRender.svg

        let climbing, penalty =
            MatrixGames.climbingPayoff (), MatrixGames.penaltyPayoff MatrixGames.DefaultPenalty

        let nonMonotonic = MatrixGames.nonMonotonicPayoff ()

        [
            // matrix games (Envs/MatrixGames.fs)
            EnvEntry.create
                "two-step"
                "QMIX paper's two-step game: 2 agents x 2 actions, 2 steps, optimal return 8"
                (fun () -> MatrixGames.twoStep)
                MatrixGames.renderTwoStep
            EnvEntry.create
                "matrix:non-monotonic"
                "non-monotonic 3x3 game (QTRAN, Weighted QMIX), one step, optimum (0, 0) = 8"
                (fun () -> MatrixGames.nonMonotonic)
                (MatrixGames.renderOneShot nonMonotonic)
            EnvEntry.create
                "matrix:climbing"
                "Claus & Boutilier's climbing game, one step, optimum (0, 0) = 11"
                (fun () -> MatrixGames.climbing)
                (MatrixGames.renderOneShot climbing)
            EnvEntry.create
                "matrix:climbing-repeated"
                "climbing game repeated for 25 rounds, constant observations, best return 275"
                (fun () -> MatrixGames.climbingRepeated)
                (MatrixGames.renderRepeated climbing)
            EnvEntry.create
                "matrix:penalty"
                "Claus & Boutilier's penalty game with k = -100, one step, optima (0, 0) and (2, 2) = 10"
                (fun () -> MatrixGames.penalty)
                (MatrixGames.renderOneShot penalty)
            EnvEntry.create
                "matrix:penalty-repeated"
                "penalty game (k = -100) repeated for 25 rounds, constant observations, best return 250"
                (fun () -> MatrixGames.penaltyRepeated)
                (MatrixGames.renderRepeated penalty)
            // grid worlds after ma-gym (Envs/Checkers.fs, Envs/Switch.fs, Envs/PredatorPrey.fs)
            EnvEntry.create
                "checkers"
                "ma-gym Checkers (VDN paper): 2 agents collect apples, avoid lemons on a 3x8 board"
                (fun () -> Checkers.make Checkers.defaults)
                Checkers.render
            |> EnvEntry.withSvg Checkers.renderSvg
            EnvEntry.create
                "switch2"
                "ma-gym Switch2: 2 agents share a one-cell corridor to reach their goals"
                (fun () -> Switch.switch2)
                Switch.render
            |> EnvEntry.withSvg Switch.renderSvg
            EnvEntry.create
                "switch4"
                "ma-gym Switch4: 4 agents share a one-cell corridor to reach their goals"
                (fun () -> Switch.switch4)
                Switch.render
            |> EnvEntry.withSvg Switch.renderSvg
            EnvEntry.create
                "predator-prey-5x5"
                "ma-gym PredatorPrey 5x5: 2 predators capture 1 prey together"
                (fun () -> PredatorPrey.make PredatorPrey.config5x5)
                PredatorPrey.render
            |> EnvEntry.withSvg PredatorPrey.renderSvg
            EnvEntry.create
                "predator-prey-7x7"
                "ma-gym PredatorPrey 7x7: 4 predators capture 2 prey together"
                (fun () -> PredatorPrey.make PredatorPrey.config7x7)
                PredatorPrey.render
            |> EnvEntry.withSvg PredatorPrey.renderSvg
            // Level-Based Foraging (Envs/Lbf.fs)
            lbf "8x8-2p-2f-coop" "8x8 field, 2 players, 2 foods, cooperative (every food needs both players)"
            lbf "8x8-2p-2f-2s-coop" "8x8-2p-2f-coop with sight 2"
            lbf "10x10-3p-3f" "10x10 field, 3 players, 3 foods"
            lbf "10x10-3p-3f-2s" "10x10-3p-3f with sight 2"
            lbf "15x15-4p-5f" "15x15 field, 4 players, 5 foods"
            lbf "15x15-4p-5f-2s" "15x15-4p-5f with sight 2"
            lbf "15x15-3p-5f" "15x15 field, 3 players, 5 foods"
            lbf "15x15-4p-3f" "15x15 field, 4 players, 3 foods"
            // the SMAX-style combat simulator (Envs/Combat.fs), the QMIX paper's maps first
            combat "3m"
            combat "5m"
            combat "8m"
            combat "2s3z"
            combat "3s5z"
            combat "1c3s5z"
            combat "5m_vs_6m"
            combat "3s_vs_5z"
            combat "3s5z_vs_3s6z"
            combat "6h_vs_8z"
            combat "10m_vs_11m"
            combat "27m_vs_30m"
        ]

    /// <summary>The registered names, in the order of <c>Registry.all</c>.</summary>
    let names: string list = all |> List.map (fun e -> e.Name)

    /// <summary>The entry registered under a name (exact, case-sensitive match), if any.</summary>
    /// <param name="name">The registered name.</param>
    /// <remarks>Besides the registered names, a combat map under other rules is found by its name with the rules
    /// appended (<c>combat:2s3z,reward=smax</c>, <c>combat:3m,smax</c>; see <c>Combat.tryParseName</c>); its entry is
    /// named canonically (<c>Combat.envName</c>).</remarks>
    let tryFind (name: string) : EnvEntry option =
        match all |> List.tryFind (fun e -> e.Name = name) with
        | Some e -> Some e
        | None when not (isNull name) && name.StartsWith "combat:" && name.Contains ',' ->
            match Combat.tryParseName name with
            | Ok(scenario, rules) ->
                let canonical = Combat.envName rules scenario

                Some(
                    EnvEntry.create
                        canonical
                        (sprintf
                            "SMAX-style combat %s under rules %s"
                            scenario.Name
                            (canonical.Substring(("combat:" + scenario.Name).Length).TrimStart(',')))
                        (fun () -> Combat.makeWith rules scenario)
                        CombatRender.text
                    |> EnvEntry.withSvg CombatRender.svg
                )
            | Error _ -> None
        | None -> None

    /// <summary>Why a combat name with rules does not read (the message of <c>Combat.tryParseName</c>).</summary>
    /// <param name="name">The name, e.g. <c>combat:3m,reward=smx</c>.</param>
    let combatNameError (name: string) : string =
        match Combat.tryParseName name with
        | Error e -> e
        | Ok _ -> sprintf "'%s' reads as a combat name" name

    /// <summary>The entry registered under a name (exact, case-sensitive match).</summary>
    /// <param name="name">The registered name.</param>
    /// <exception cref="System.ArgumentException">No environment has that name; the message lists the known names.
    /// </exception>
    let find (name: string) : EnvEntry =
        match tryFind name with
        | Some e -> e
        | None when not (isNull name) && name.StartsWith "combat:" && name.Contains ',' ->
            invalidArg (nameof name) (combatNameError name)
        | None ->
            invalidArg
                (nameof name)
                (sprintf "no environment is registered as '%s'; known names: %s" name (String.concat ", " names))

    /// <summary>Makes the environment registered under a name: <c>(Registry.find name).Make ()</c>.</summary>
    /// <param name="name">The registered name.</param>
    /// <exception cref="System.ArgumentException">No environment has that name; the message lists the known names.
    /// </exception>
    let make (name: string) : Env<obj> = (find name).Make()
