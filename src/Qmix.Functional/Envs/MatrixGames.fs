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

/// <summary>Cooperative matrix games for value factorisation, as pure environments: the QMIX paper's two-step
/// game and one-step (single-state) games such as the non-monotonic 3×3 game. No randomness: the keys are
/// ignored. No game reports a win.</summary>
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

    /// <summary>A one-step cooperative matrix game: 2 agents, each with as many actions as the (square) payoff
    /// matrix has rows, episode limit 1. The single step pays <c>payoff[u0, u1]</c> (row = agent 0's action,
    /// column = agent 1's) to the team and terminates. Observation (obs_dim 1, for each agent) and global state
    /// (state_dim 1) are the constant 1.0; all actions are always available.</summary>
    /// <param name="payoff">The common payoff, square and non-empty; it is copied, so later changes to the
    /// array do not reach the environment.</param>
    /// <param name="name">The environment's name, as reported in its spec and error messages.</param>
    /// <exception cref="System.ArgumentException">The payoff is null, empty or not square.</exception>
    let oneShot (payoff: float32[,]) (name: string) : Env<OneShotState> =
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

        let payoff = Array2D.copy payoff

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

    /// <summary>The non-monotonic 3×3 game (QTRAN; Weighted QMIX): payoff [[8, −12, −12], [−12, 0, 0],
    /// [−12, 0, 0]], one step. The optimum (0, 0) = 8 needs both agents to commit to action 0; monotonic
    /// factorisations (VDN, QMIX) trained on uniform data settle in the safe region worth 0.</summary>
    let nonMonotonic: Env<OneShotState> =
        oneShot (array2D [ [ 8.0f; -12.0f; -12.0f ]; [ -12.0f; 0.0f; 0.0f ]; [ -12.0f; 0.0f; 0.0f ] ]) "non-monotonic"
