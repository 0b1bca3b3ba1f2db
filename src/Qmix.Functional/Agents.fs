namespace Qmix.Functional

open Qmix.Tensors

/// <summary>The agent network's architecture.</summary>
type AgentKind =
    /// <summary>PyMARL's RNN agent: fc1 → ReLU → GRUCell → fc2, the hidden state carried through the episode.</summary>
    | Rnn
    /// <summary>EPyMARL's MLP agent: fc1 → ReLU → fc2 → ReLU → fc3, no memory.</summary>
    | Mlp

/// <summary>The agent network's settings, with PyMARL's defaults in <c>AgentConfig.defaults</c>.</summary>
type AgentConfig =
    {
        /// <summary>RNN (default) or MLP.</summary>
        Kind: AgentKind
        /// <summary>Hidden width (<c>rnn_hidden_dim</c>, 64).</summary>
        Hidden: int
        /// <summary>Whether the input includes the one-hot of the agent's previous action (<c>obs_last_action</c>).</summary>
        LastAction: bool
        /// <summary>Whether the input includes the one-hot of the agent's index (<c>obs_agent_id</c>).</summary>
        AgentId: bool
        /// <summary>One network shared by all agents (default), or one network per agent (EPyMARL's <c>_ns</c>).</summary>
        Shared: bool
    }

    /// <summary>PyMARL's QMIX agent: RNN, 64 hidden units, last action and agent id in the input, shared.</summary>
    static member defaults =
        {
            Kind = Rnn
            Hidden = 64
            LastAction = true
            AgentId = true
            Shared = true
        }

/// <summary>The RNN agent's parameters, named as PyMARL's <c>RNNAgent</c>: <c>fc1</c>, <c>rnn</c>, <c>fc2</c>.</summary>
type RnnAgent =
    {
        /// <summary>Input → hidden.</summary>
        Fc1: Linear
        /// <summary>The recurrent cell.</summary>
        Rnn: GruCell
        /// <summary>Hidden → one Q-value per action.</summary>
        Fc2: Linear
    }

/// <summary>The MLP agent's parameters, named as EPyMARL's <c>MLPAgent</c>: <c>fc1</c>, <c>fc2</c>, <c>fc3</c>.</summary>
type MlpAgent =
    {
        /// <summary>Input → hidden.</summary>
        Fc1: Linear
        /// <summary>Hidden → hidden.</summary>
        Fc2: Linear
        /// <summary>Hidden → one Q-value per action.</summary>
        Fc3: Linear
    }

/// <summary>One agent network (either architecture). The case is transparent in parameter names.</summary>
type AgentNet =
    /// <summary>An RNN agent.</summary>
    | RnnNet of RnnAgent
    /// <summary>An MLP agent.</summary>
    | MlpNet of MlpAgent

/// <summary>The agents' parameters: one shared network (names <c>fc1.weight</c> …) or one per agent (names
/// <c>0.fc1.weight</c>, <c>1.fc1.weight</c> …).</summary>
type AgentParams =
    /// <summary>One network for every agent.</summary>
    | Shared of AgentNet
    /// <summary>One network per agent, in agent order.</summary>
    | PerAgent of AgentNet[]

/// <summary>Agent networks: initialisation, inputs and forward passes. Rows are agent-major within an
/// environment (row <c>e·N + a</c> is agent a of environment or episode e).</summary>
[<RequireQualifiedAccess>]
module Agent =
    /// <summary>The width of one agent's input: obs_dim, plus A with the last action, plus N with the agent id.</summary>
    let inputDim (cfg: AgentConfig) (spec: EnvSpec) : int =
        spec.ObsDim
        + (if cfg.LastAction then spec.NActions else 0)
        + (if cfg.AgentId then spec.NAgents else 0)

    let private initNet (cfg: AgentConfig) (spec: EnvSpec) (key: Key) : AgentNet =
        if cfg.Hidden <= 0 then
            invalidArg (nameof cfg) (sprintf "agent: Hidden must be positive, got %d" cfg.Hidden)

        let input = inputDim cfg spec
        let k = Rng.splitN 3 key

        match cfg.Kind with
        | Rnn ->
            RnnNet
                {
                    Fc1 = Linear.init k[0] input cfg.Hidden
                    Rnn = GruCell.init k[1] cfg.Hidden cfg.Hidden
                    Fc2 = Linear.init k[2] cfg.Hidden spec.NActions
                }
        | Mlp ->
            MlpNet
                {
                    Fc1 = Linear.init k[0] input cfg.Hidden
                    Fc2 = Linear.init k[1] cfg.Hidden cfg.Hidden
                    Fc3 = Linear.init k[2] cfg.Hidden spec.NActions
                }

    /// <summary>Fresh parameters (PyTorch's default initialisation) for the spec's agents.</summary>
    let init (cfg: AgentConfig) (spec: EnvSpec) (key: Key) : AgentParams =
        if cfg.Shared then
            Shared(initNet cfg spec key)
        else
            PerAgent(Array.init spec.NAgents (fun a -> initNet cfg spec (Rng.foldIn a key)))

    let private netHidden (net: AgentNet) =
        match net with
        | RnnNet r -> GruCell.hidden r.Rnn
        | MlpNet _ -> 1

    /// <summary>The width of the carried hidden state (the GRU's width; 1 for the memory-less MLP).</summary>
    let hiddenDim (p: AgentParams) : int =
        match p with
        | Shared net -> netHidden net
        | PerAgent nets -> netHidden nets[0]

    /// <summary>The hidden state at an episode's start: zeros, [rows, hidden].</summary>
    let initHidden (p: AgentParams) (rows: int) : Tensor = Tensor.zeros [| rows; hiddenDim p |]

    let private netStep (net: AgentNet) (x: Tensor) (h: Tensor) : Tensor * Tensor =
        match net with
        | RnnNet r ->
            let h' = GruCell.forward r.Rnn (Tensor.relu (Linear.forward r.Fc1 x)) h
            Linear.forward r.Fc2 h', h'
        | MlpNet m ->
            let y =
                x |> Linear.forward m.Fc1 |> Tensor.relu |> Linear.forward m.Fc2 |> Tensor.relu

            Linear.forward m.Fc3 y, h

    /// <summary>One step for every row: Q-values [R, A] and the next hidden state [R, H] from inputs [R, D] and
    /// hidden states [R, H], where R = E·N rows, agent-major within each environment.</summary>
    /// <param name="p">The agents' parameters.</param>
    /// <param name="nAgents">N, needed to route rows to their own network when parameters are not shared.</param>
    /// <param name="x">Inputs [R, D].</param>
    /// <param name="h">Hidden states [R, H].</param>
    let step (p: AgentParams) (nAgents: int) (x: Tensor) (h: Tensor) : Tensor * Tensor =
        match p with
        | Shared net -> netStep net x h
        | PerAgent nets ->
            let r = x.Shape[0]

            if r % nAgents <> 0 then
                invalidArg (nameof x) (sprintf "Agent.step: %d rows are not a multiple of N=%d" r nAgents)

            let e = r / nAgents

            let pick (t: Tensor) (a: int) =
                t
                |> Tensor.reshape [| e; nAgents; -1 |]
                |> Tensor.slice 1 a 1
                |> Tensor.reshape [| e; -1 |]

            let outs = Array.init nAgents (fun a -> netStep nets[a] (pick x a) (pick h a))

            let join (parts: Tensor[]) =
                parts |> Tensor.stack 1 |> Tensor.reshape [| r; -1 |]

            join (Array.map fst outs), join (Array.map snd outs)

    /// <summary>Q-values over a whole episode batch, time-major: from inputs [T', R, D] to Qs [T', R, A], the
    /// hidden state starting at zero and carried through time.</summary>
    let unroll (p: AgentParams) (nAgents: int) (inputs: Tensor) : Tensor =
        let t, r = inputs.Shape[0], inputs.Shape[1]
        let mutable h = initHidden p r

        let qs =
            Array.init t (fun k ->
                let q, h' =
                    step p nAgents (Tensor.reshape [| r; -1 |] (Tensor.slice 0 k 1 inputs)) h

                h <- h'
                q)

        Tensor.stack 0 qs

    /// <summary>Writes one agent-step's input row: observation ‖ one-hot previous action ‖ one-hot agent id.</summary>
    let inline private writeRow
        (cfg: AgentConfig)
        (spec: EnvSpec)
        (dst: float32[])
        (at: int)
        (obs: float32[])
        (obsAt: int)
        (lastAction: int)
        (agent: int)
        =
        System.Array.Copy(obs, obsAt, dst, at, spec.ObsDim)
        let mutable c = at + spec.ObsDim

        if cfg.LastAction then
            if lastAction >= 0 then
                dst[c + lastAction] <- 1.0f

            c <- c + spec.NActions

        if cfg.AgentId then
            dst[c + agent] <- 1.0f

    /// <summary>Inputs for one acting step of E environments: observations [E·N·obs_dim] and previous actions
    /// [E·N] (−1 at an episode's first step) give [E·N, D].</summary>
    /// <exception cref="System.ArgumentException">The observation or action array has the wrong size.</exception>
    let actingInputs (cfg: AgentConfig) (spec: EnvSpec) (obs: float32[]) (lastActions: int[]) : Tensor =
        let n, o = spec.NAgents, spec.ObsDim

        if lastActions.Length % n <> 0 || lastActions.Length = 0 then
            invalidArg
                (nameof lastActions)
                (sprintf "%s: %d previous actions are not a positive multiple of N=%d" spec.Name lastActions.Length n)

        let rows = lastActions.Length

        if obs.Length <> rows * o then
            invalidArg
                (nameof obs)
                (sprintf
                    "%s: observations have %d values, expected %d (%d environments × N=%d × obs_dim=%d)"
                    spec.Name
                    obs.Length
                    (rows * o)
                    (rows / n)
                    n
                    o)

        let d = inputDim cfg spec
        let data = Array.zeroCreate (rows * d)

        for row in 0 .. rows - 1 do
            writeRow cfg spec data (row * d) obs (row * o) lastActions[row] (row % n)

        Tensor.ofArray [| rows; d |] data

    /// <summary>Inputs for a whole episode batch, time-major: [T', B·N, D] where row b·N + a of step t is agent a
    /// of episode b. The previous action at t = 0 is none (zeros).</summary>
    let batchInputs (cfg: AgentConfig) (spec: EnvSpec) (batch: EpisodeBatch) : Tensor =
        let b, t, n, o = batch.BatchSize, batch.MaxSeqLength, batch.NAgents, batch.ObsDim
        let d = inputDim cfg spec
        let data = Array.zeroCreate (t * b * n * d)

        for k in 0 .. t - 1 do
            for e in 0 .. b - 1 do
                for a in 0 .. n - 1 do
                    let src = (e * t + k) * n + a
                    let last = if k = 0 then -1 else batch.Actions[src - n]
                    writeRow cfg spec data (((k * b + e) * n + a) * d) batch.Obs (src * o) last a

        Tensor.ofArray [| t; b * n; d |] data
