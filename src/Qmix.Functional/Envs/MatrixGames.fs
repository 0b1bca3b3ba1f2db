namespace Qmix.Functional.Envs

open Qmix.Functional

/// <summary>Where the QMIX paper's two-step game stands (Rashid et al. 2018, §5).</summary>
type TwoStepState =
    /// <summary>State 1, before any move: agent 0's action chooses the next state.</summary>
    | Initial
    /// <summary>State 2A, reached when agent 0 chose action 0: every joint action pays 7.</summary>
    | State2A
    /// <summary>State 2B, reached when agent 0 chose action 1: the payoff is [[0, 1], [1, 8]].</summary>
    | State2B
    /// <summary>The episode is over (after the second step); no further step is allowed.</summary>
    | Ended

/// <summary>Where a one-step matrix game stands.</summary>
type OneShotState =
    /// <summary>The joint action has not been played yet.</summary>
    | Ready
    /// <summary>The joint action has been played and the episode is over.</summary>
    | Played

/// <summary>What the agents of a repeated matrix game observe (EPyMARL's <c>matrixgames</c> offers both).</summary>
type RepeatedObservation =
    /// <summary>A constant: every agent observes <c>[1.0]</c> and the global state is <c>[1.0]</c> (obs_dim =
    /// state_dim = 1), as in the one-step games. EPyMARL's <c>-nostate</c> variants observe a constant zero
    /// instead; for a network with biases the two carry the same (no) information.</summary>
    | Constant
    /// <summary>The previous joint action (EPyMARL's <c>-laststate</c> variants): every agent observes the
    /// one-hots of agent 0's and agent 1's previous actions, concatenated (obs_dim = state_dim = 2·A), and the
    /// global state is the same vector. Before the first round every agent counts as having played action 0,
    /// as upstream.</summary>
    | LastJointAction

/// <summary>Where a repeated matrix game stands: the same one-step game is played round after round until the
/// episode limit.</summary>
type RepeatedState =
    {
        /// <summary>The rounds played so far: 0 after reset, the episode limit at the end.</summary>
        Round: int
        /// <summary>The previous round's joint action (agent 0's, agent 1's); <c>None</c> before the first round.
        /// </summary>
        LastAction: (int * int) option
        /// <summary>The previous round's payoff; 0 before the first round.</summary>
        LastReward: float32
    }

/// <summary>Cooperative matrix games for value factorisation, as pure environments: the QMIX paper's two-step
/// game, one-step (single-state) games such as the non-monotonic 3×3 game and Claus &amp; Boutilier's climbing
/// and penalty games, and repeated forms that play a one-step game for a fixed number of rounds. No randomness:
/// the keys are ignored. No game reports a win.</summary>
[<RequireQualifiedAccess>]
module MatrixGames =
    /// The environment with every step checked first by Env.validateActions (wrong length, out of range or
    /// unavailable actions raise an ArgumentException naming the agent and the action).
    let private validated (env: Env<'S>) : Env<'S> =
        let step = env.Step

        { env with
            Step =
                fun state actions key ->
                    Env.validateActions env state actions
                    step state actions key
        }

    let private oneHot (width: int) (index: int) : float32[] =
        let v = Array.zeroCreate width
        v[index] <- 1.0f
        v

    let private twoStepIndex (state: TwoStepState) =
        match state with
        | Initial -> 0
        | State2A -> 1
        | State2B -> 2
        | Ended -> 3

    let private twoStepSpec =
        {
            Name = "two-step"
            NAgents = 2
            NActions = 2
            ObsDim = 4
            StateDim = 4
            EpisodeLimit = 2
        }

    let private twoStepPayoff2B = array2D [ [ 0.0f; 1.0f ]; [ 1.0f; 8.0f ] ]

    let private twoStepStep (state: TwoStepState) (actions: int[]) (_: Qmix.Tensors.Key) =
        match state with
        | Initial -> (if actions[0] = 0 then State2A else State2B), Env.transition 0.0f false false
        | State2A -> Ended, Env.transition 7.0f true false
        | State2B -> Ended, Env.transition twoStepPayoff2B[actions[0], actions[1]] true false
        | Ended -> invalidArg (nameof state) "two-step: the episode has ended (two steps taken); reset for a new one"

    /// <summary>The QMIX paper's two-step game (Rashid et al. 2018, §5): 2 agents, 2 actions (A = 0, B = 1),
    /// episode limit 2. Step 1 pays 0 and agent 0's action alone picks the next state: A → 2A, B → 2B. In 2A
    /// every joint action pays 7; in 2B the payoff is [[0, 1], [1, 8]] (row = agent 0's action, column = agent
    /// 1's). The episode terminates (<c>Terminated = true</c>) after the second step; the optimal return is 8.
    /// </summary>
    /// <remarks>
    /// Observations and state follow the re-implementation cited in the environment specification
    /// (yamoling/multi-agent-rlenv, <c>two_steps.py</c>): the global state is the one-hot of the current state
    /// over (1, 2A, 2B, end), width 4, and every agent observes that same one-hot (obs_dim 4), so the state the
    /// episode ends in (index <c>Length</c> of a recorded episode) is distinct from the others. That
    /// re-implementation passes the agent's id beside the observation rather than in it; here the agent network
    /// adds it (<c>AgentConfig.AgentId</c>). All actions are always available. Stepping the ended state raises
    /// an <see cref="T:System.ArgumentException"/>.
    /// </remarks>
    let twoStep: Env<TwoStepState> =
        validated
            {
                Spec = twoStepSpec
                Reset = fun _ -> Initial
                Step = twoStepStep
                Observations =
                    fun state ->
                        let h = oneHot 4 (twoStepIndex state)
                        Array.append h h
                GlobalState = fun state -> oneHot 4 (twoStepIndex state)
                AvailableActions = fun _ -> Array.create (twoStepSpec.NAgents * twoStepSpec.NActions) true
            }

    /// A copy of a square, non-empty payoff matrix (ArgumentException otherwise).
    let private squareCopy (payoff: float32[,]) (name: string) : float32[,] =
        if isNull payoff then
            nullArg (nameof payoff)

        let rows, cols = Array2D.length1 payoff, Array2D.length2 payoff

        if rows = 0 || rows <> cols then
            invalidArg
                (nameof payoff)
                (sprintf
                    "%s: the payoff must be a non-empty square matrix (one row and column per action), got %d×%d"
                    name
                    rows
                    cols)

        Array2D.copy payoff

    /// <summary>A one-step cooperative matrix game: 2 agents, each with as many actions as the (square) payoff
    /// matrix has rows, episode limit 1. The single step pays <c>payoff[u0, u1]</c> (row = agent 0's action,
    /// column = agent 1's) to the team and terminates. Observation (obs_dim 1, for each agent) and global state
    /// (state_dim 1) are the constant 1.0; all actions are always available.</summary>
    /// <param name="payoff">The common payoff, square and non-empty; it is copied, so later changes to the
    /// array do not reach the environment.</param>
    /// <param name="name">The environment's name, as reported in its spec and error messages.</param>
    /// <exception cref="System.ArgumentException">The payoff is null, empty or not square.</exception>
    let oneShot (payoff: float32[,]) (name: string) : Env<OneShotState> =
        let payoff = squareCopy payoff name
        let rows = Array2D.length1 payoff

        let spec =
            {
                Name = name
                NAgents = 2
                NActions = rows
                ObsDim = 1
                StateDim = 1
                EpisodeLimit = 1
            }

        validated
            {
                Spec = spec
                Reset = fun _ -> Ready
                Step =
                    fun state actions _ ->
                        match state with
                        | Ready -> Played, Env.transition payoff[actions[0], actions[1]] true false
                        | Played ->
                            invalidArg
                                (nameof state)
                                (sprintf "%s: the episode has ended (one step taken); reset for a new one" name)
                Observations = fun _ -> [| 1.0f; 1.0f |]
                GlobalState = fun _ -> [| 1.0f |]
                AvailableActions = fun _ -> Array.create (2 * rows) true
            }

    /// <summary>The non-monotonic 3×3 game's payoff [[8, −12, −12], [−12, 0, 0], [−12, 0, 0]] (row = agent 0's
    /// action, column = agent 1's).</summary>
    /// <returns>A fresh 3×3 array.</returns>
    let nonMonotonicPayoff () : float32[,] =
        array2D [ [ 8.0f; -12.0f; -12.0f ]; [ -12.0f; 0.0f; 0.0f ]; [ -12.0f; 0.0f; 0.0f ] ]

    /// <summary>The non-monotonic 3×3 game (QTRAN; Weighted QMIX): payoff [[8, −12, −12], [−12, 0, 0],
    /// [−12, 0, 0]], one step. The optimum (0, 0) = 8 needs both agents to commit to action 0; monotonic
    /// factorisations (VDN, QMIX) trained on uniform data settle in the safe region worth 0.</summary>
    let nonMonotonic: Env<OneShotState> =
        oneShot (nonMonotonicPayoff ()) "non-monotonic"

    /// <summary>Claus &amp; Boutilier's (1998) climbing game in its original labelling: [[11, −30, 0],
    /// [−30, 7, 6], [0, 0, 5]] (row = agent 0's action, column = agent 1's). The optimum (0, 0) = 11 is guarded
    /// by −30 miscoordination penalties, so independent learners drift to the (1, 1) = 7 or (2, 2) = 5
    /// equilibria.</summary>
    /// <remarks>EPyMARL's <c>matrixgames</c> package plays a "modified" climbing game [[11, −30, 0], [−30, 7, 0],
    /// [0, 6, 5]]: it is this matrix transposed, i.e. the same game with the agents swapped.</remarks>
    /// <returns>A fresh 3×3 array.</returns>
    let climbingPayoff () : float32[,] =
        array2D [ [ 11.0f; -30.0f; 0.0f ]; [ -30.0f; 7.0f; 6.0f ]; [ 0.0f; 0.0f; 5.0f ] ]

    /// <summary>The penalty used by <c>MatrixGames.penalty</c> and <c>MatrixGames.penaltyRepeated</c>: k = −100,
    /// the hardest of EPyMARL's settings (<c>penalty-100</c>).</summary>
    [<Literal>]
    let DefaultPenalty = -100.0f

    /// <summary>Claus &amp; Boutilier's (1998) penalty game in its original labelling: [[10, 0, k], [0, 2, 0],
    /// [k, 0, 10]] with k ≤ 0 (row = agent 0's action, column = agent 1's). Two optima, (0, 0) and (2, 2), pay
    /// 10; miscoordinating between them, (0, 2) or (2, 0), pays k; the safe (1, 1) pays 2.</summary>
    /// <remarks>EPyMARL's <c>matrixgames</c> package writes the game as [[−k′, 0, 10], [0, 2, 0], [10, 0, −k′]]
    /// with k′ = −k ≥ 0 in {0, 25, 50, 75, 100}: the same game with agent 1's actions 0 and 2 swapped.</remarks>
    /// <param name="k">The miscoordination penalty, finite and at most 0.</param>
    /// <returns>A fresh 3×3 array.</returns>
    /// <exception cref="System.ArgumentException"><paramref name="k"/> is positive or not finite.</exception>
    let penaltyPayoff (k: float32) : float32[,] =
        if not (System.Single.IsFinite k && k <= 0.0f) then
            invalidArg (nameof k) (sprintf "MatrixGames.penaltyPayoff: k must be finite and at most 0, got %g" k)

        array2D [ [ 10.0f; 0.0f; k ]; [ 0.0f; 2.0f; 0.0f ]; [ k; 0.0f; 10.0f ] ]

    /// <summary>The climbing game (<c>MatrixGames.climbingPayoff</c>) played once: registered as
    /// <c>matrix:climbing</c>, 2 agents × 3 actions, episode limit 1, optimal return 11.</summary>
    let climbing: Env<OneShotState> = oneShot (climbingPayoff ()) "matrix:climbing"

    /// <summary>The penalty game (<c>MatrixGames.penaltyPayoff</c>) with k = −100 (<c>DefaultPenalty</c>) played
    /// once: registered as <c>matrix:penalty</c>, 2 agents × 3 actions, episode limit 1, optimal return 10. For
    /// another k, use <c>MatrixGames.oneShot (MatrixGames.penaltyPayoff k) name</c>.</summary>
    let penalty: Env<OneShotState> =
        oneShot (penaltyPayoff DefaultPenalty) "matrix:penalty"

    /// <summary>A repeated cooperative matrix game: the one-step game of a square payoff played for
    /// <paramref name="rounds"/> rounds, as EPyMARL's <c>matrixgames</c> environments under a time limit. 2
    /// agents, each with as many actions as the payoff has rows; every round pays <c>payoff[u0, u1]</c> (row =
    /// agent 0's action, column = agent 1's) to the team. The episode limit is <paramref name="rounds"/>; the
    /// last round reports <c>Truncated = true</c> (a time limit, not a true end: <c>Terminated</c> is always
    /// false), and stepping the state after it raises an <see cref="T:System.ArgumentException"/>. The best
    /// return is rounds × the largest payoff. All actions are always available.</summary>
    /// <param name="rounds">The number of rounds, the episode limit, at least 1 (EPyMARL runs 25).</param>
    /// <param name="observation">What the agents observe: a constant or the previous joint action.</param>
    /// <param name="payoff">The common payoff, square and non-empty; it is copied.</param>
    /// <param name="name">The environment's name, as reported in its spec and error messages.</param>
    /// <exception cref="System.ArgumentException">The payoff is null, empty or not square, or
    /// <paramref name="rounds"/> is less than 1.</exception>
    let repeated
        (rounds: int)
        (observation: RepeatedObservation)
        (payoff: float32[,])
        (name: string)
        : Env<RepeatedState> =
        let payoff = squareCopy payoff name
        let nActions = Array2D.length1 payoff

        if rounds < 1 then
            invalidArg (nameof rounds) (sprintf "%s: a repeated game needs at least 1 round, got %d" name rounds)

        let width =
            match observation with
            | Constant -> 1
            | LastJointAction -> 2 * nActions

        let spec =
            {
                Name = name
                NAgents = 2
                NActions = nActions
                ObsDim = width
                StateDim = width
                EpisodeLimit = rounds
            }

        let globalState (state: RepeatedState) =
            match observation with
            | Constant -> [| 1.0f |]
            | LastJointAction ->
                let u0, u1 = defaultArg state.LastAction (0, 0)
                let v = Array.zeroCreate width
                v[u0] <- 1.0f
                v[nActions + u1] <- 1.0f
                v

        validated
            {
                Spec = spec
                Reset =
                    fun _ ->
                        {
                            Round = 0
                            LastAction = None
                            LastReward = 0.0f
                        }
                Step =
                    fun state actions _ ->
                        if state.Round >= rounds then
                            invalidArg
                                (nameof state)
                                (sprintf "%s: the episode has ended (%d rounds played); reset for a new one" name rounds)

                        let reward = payoff[actions[0], actions[1]]
                        let round = state.Round + 1

                        {
                            Round = round
                            LastAction = Some(actions[0], actions[1])
                            LastReward = reward
                        },
                        Env.transition reward false (round = rounds)
                Observations =
                    fun state ->
                        let g = globalState state
                        Array.append g g
                GlobalState = globalState
                AvailableActions = fun _ -> Array.create (2 * nActions) true
            }

    /// <summary>The number of rounds of the registered repeated games: 25, EPyMARL's <c>time_limit</c> for its
    /// matrix games.</summary>
    [<Literal>]
    let DefaultRounds = 25

    /// <summary>The climbing game repeated for 25 rounds (<c>DefaultRounds</c>) with constant observations
    /// (EPyMARL's <c>climbing-nostate-v0</c> under <c>time_limit=25</c>, in Claus &amp; Boutilier's labelling):
    /// registered as <c>matrix:climbing-repeated</c>; best return 25 × 11 = 275.</summary>
    let climbingRepeated: Env<RepeatedState> =
        repeated DefaultRounds Constant (climbingPayoff ()) "matrix:climbing-repeated"

    /// <summary>The penalty game with k = −100 repeated for 25 rounds with constant observations (EPyMARL's
    /// <c>penalty-100-nostate-v0</c> under <c>time_limit=25</c>, in Claus &amp; Boutilier's labelling):
    /// registered as <c>matrix:penalty-repeated</c>; best return 25 × 10 = 250.</summary>
    let penaltyRepeated: Env<RepeatedState> =
        repeated DefaultRounds Constant (penaltyPayoff DefaultPenalty) "matrix:penalty-repeated"

    // ---------------------------------------------------------------- text frames

    /// A payoff matrix as lines of text, agent 0's actions down the rows and agent 1's across, the marked
    /// joint action (if any) in brackets.
    let private payoffLines (labels: string[]) (payoff: float32[,]) (mark: (int * int) option) : string list =
        let n = Array2D.length1 payoff

        let cell i j =
            let v = sprintf "%g" payoff[i, j]
            if mark = Some(i, j) then "[" + v + "]" else v

        let width =
            Seq.max
                [
                    for i in 0 .. n - 1 do
                        for j in 0 .. n - 1 do
                            yield (cell i j).Length
                    for l in labels do
                        yield l.Length
                ]

        let row (head: string) (cells: string seq) =
            head.PadRight(width + 2)
            + (cells |> Seq.map (fun c -> c.PadLeft(width + 2)) |> String.concat "")

        row "" labels
        :: [ for i in 0 .. n - 1 -> row labels[i] [ for j in 0 .. n - 1 -> cell i j ] ]

    let private numbers (n: int) = Array.init n string

    /// <summary>A text frame of the two-step game: the current state and what it pays, with the payoff table
    /// (row = agent 0's action, column = agent 1's; A = 0, B = 1) in state 2B.</summary>
    /// <param name="state">The state to show.</param>
    /// <returns>A few lines of text, separated by <c>\n</c>.</returns>
    let renderTwoStep (state: TwoStepState) : string =
        let lines =
            match state with
            | Initial ->
                [
                    "two-step: state 1 (step 1 of 2)"
                    "every joint action pays 0; agent 0's action picks the next state: A -> 2A, B -> 2B"
                ]
            | State2A -> [ "two-step: state 2A (step 2 of 2)"; "every joint action pays 7" ]
            | State2B ->
                "two-step: state 2B (step 2 of 2)"
                :: payoffLines [| "A"; "B" |] twoStepPayoff2B None
            | Ended -> [ "two-step: ended (two steps taken)" ]

        String.concat "\n" lines

    /// <summary>A text frame of a one-step matrix game: whether the joint action has been played, and the
    /// payoff table (row = agent 0's action, column = agent 1's).</summary>
    /// <param name="payoff">The game's payoff, e.g. <c>MatrixGames.climbingPayoff ()</c>.</param>
    /// <param name="state">The state to show.</param>
    /// <returns>A few lines of text, separated by <c>\n</c>.</returns>
    let renderOneShot (payoff: float32[,]) (state: OneShotState) : string =
        let head =
            match state with
            | Ready -> "ready: one joint action to play"
            | Played -> "played: the episode is over"

        head :: payoffLines (numbers (Array2D.length1 payoff)) payoff None
        |> String.concat "\n"

    /// <summary>A text frame of a repeated matrix game: the rounds played, the previous joint action and its
    /// payoff, and the payoff table (row = agent 0's action, column = agent 1's) with the previous joint action
    /// in brackets.</summary>
    /// <param name="payoff">The game's payoff, e.g. <c>MatrixGames.penaltyPayoff -100.0f</c>.</param>
    /// <param name="state">The state to show.</param>
    /// <returns>A few lines of text, separated by <c>\n</c>.</returns>
    let renderRepeated (payoff: float32[,]) (state: RepeatedState) : string =
        let head =
            match state.LastAction with
            | None -> sprintf "round %d: no joint action played yet" state.Round
            | Some(u0, u1) -> sprintf "round %d: last joint action (%d, %d) paid %g" state.Round u0 u1 state.LastReward

        head :: payoffLines (numbers (Array2D.length1 payoff)) payoff state.LastAction
        |> String.concat "\n"
