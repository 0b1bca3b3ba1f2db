(**
---
title: Agents and mixers
category: Guides
categoryindex: 1
index: 3
---

# Agents and mixers

QMIX has two kinds of network. Each **agent network** maps one agent's action-observation history to a utility
Q_a(τ_a, u) per action; the agents act on these alone (decentralised execution). The **mixer** combines the
utilities of the chosen actions into the joint value Q_tot(τ, u, s), reading the global state s during training
only. Both are parameter records with pure forward functions: no module objects, no hidden state.
*)
#r "../src/Qmix.Cli/bin/Release/net10.0/System.Numerics.Tensors.dll"
#r "../src/Qmix.Cli/bin/Release/net10.0/Qmix.Tensors.dll"
#r "../src/Qmix.Cli/bin/Release/net10.0/Qmix.Functional.dll"

open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs

(** The examples use the sizes of the combat map `3m` (three marines against three): *)
let spec = (Registry.make "combat:3m").Spec
spec
(*** include-it ***)

(**
## The agent network

`AgentConfig` chooses the architecture and the agent's input; `AgentConfig.defaults` is PyMARL's QMIX agent:
*)
AgentConfig.defaults
(*** include-it ***)

(**
* `Kind = Rnn` is PyMARL's `RNNAgent`: fc1 → ReLU → GRUCell → fc2, its hidden state carried from step to step
  through the episode. `Mlp` is EPyMARL's memory-less `MLPAgent`: fc1 → ReLU → fc2 → ReLU → fc3.
* An agent's input is its observation, followed by the one-hot of its previous action when `LastAction` is set
  and the one-hot of its index when `AgentId` is set (`obs_last_action`, `obs_agent_id`): with parameters shared
  between agents, the index is what lets them behave differently.
*)
printfn
    "input width: obs %d + last action %d + agent id %d = %d"
    spec.ObsDim
    spec.NActions
    spec.NAgents
    (Agent.inputDim AgentConfig.defaults spec)
(*** include-output ***)

(** `Agent.init` draws fresh parameters (PyTorch's default initialisation) from a key. Their names are PyMARL's: *)
let key = Rng.key 1UL
let agents = Agent.init AgentConfig.defaults spec key

for name, t in Tree.named agents do
    printfn "%-16s %O" name t.Shape

printfn "%d parameters" (Tree.numel agents)
(*** include-output ***)

(**
`Agent.step` runs one step for a batch of rows (E environments × N agents, agent-major): inputs [E·N, D] and
hidden states [E·N, H] give Q-values [E·N, A] and the next hidden states. `Agent.actingInputs` builds the inputs
from the environment's observations and the previous actions (−1 at an episode's start). One step of a fresh
episode of 3m:
*)
let env = Registry.make "combat:3m"
let first = env.Reset(Rng.key 5UL)

let inputs =
    Agent.actingInputs
        AgentConfig.defaults
        spec
        (env.Observations first)
        (Array.create spec.NAgents -1)

let q, h =
    Agent.step agents spec.NAgents inputs (Agent.initHidden agents spec.NAgents)

let available = env.AvailableActions first

printfn "Q-values %O, next hidden state %O" q.Shape h.Shape

for a in 0 .. spec.NAgents - 1 do
    let row = Tensor.slice 0 a 1 q |> Tensor.toArray

    let legal =
        [
            for u in 0 .. spec.NActions - 1 do
                if available[a * spec.NActions + u] then
                    u
        ]

    let greedy = legal |> List.maxBy (fun u -> row[u])

    printfn
        "agent %d: available %A, greedy action %d (Q = %.3f)"
        a
        legal
        greedy
        row[greedy]
(*** include-output ***)

(**
The runner does exactly this, with ε-greedy choice among the available actions (`Runner.selectActions`);
the learner unrolls the same network over whole episode batches with `Agent.unroll`.

### Shared or per-agent parameters; RNN or MLP

With `Shared = true` (the default) one network serves every agent. With `Shared = false` each agent has its own
(EPyMARL's `_ns` variants), named by the agent's index. The MLP agent has no memory:
*)
let describe (label: string) (cfg: AgentConfig) =
    let p = Agent.init cfg spec key
    let names = Tree.names p

    printfn
        "%-19s %6d parameters, %2d tensors, hidden width %2d, first %s"
        label
        (Tree.numel p)
        names.Length
        (Agent.hiddenDim p)
        names[0]

describe "RNN, shared" AgentConfig.defaults

describe
    "RNN, one per agent"
    { AgentConfig.defaults with
        Shared = false
    }

describe "MLP, shared" { AgentConfig.defaults with Kind = Mlp }

describe
    "MLP, one per agent"
    { AgentConfig.defaults with
        Kind = Mlp
        Shared = false
    }
(*** include-output ***)

(**
## Mixers

A mixer is a value of type `Mixer<'P>`: a name, whether it claims monotonicity, its output width, an `Init`
function from a key to parameters of type `'P`, and a pure `Forward` from parameters, agent Qs [..., N] and the
hypernetwork input [..., D] to Q_tot [..., K]. The built-in ones are chosen by a union, `MixerConfig`, and made by
`Mixers.create config N D`:

| `MixerConfig` | Q_tot | parameters |
|---|---|---|
| `Qmix cfg` | ELU(Q·\|W₁(s)\| + b₁(s))·\|W_final(s)\| + V(s), weights from hypernetworks of s | `hyper_w_1`, `hyper_b_1`, `hyper_w_final`, `V` |
| `Vdn` | Σ_a Q_a | none |
| `Independent` (IQL) | each Q_a on its own (K = N) | none |
| `QmixNs cfg` | QMIX's network with free weights, not functions of s (the paper's QMIX-NS) | `w_1`, `b_1`, `w_final`, `b_final` |
| `QmixLin cfg` | Σ_a \|w_a(s)\|·Q_a + V(s), no hidden layer (QMIX-Lin) | `hyper_w_1`, `V` |
| `VdnS cfg` | Σ_a Q_a + V(s) (VDN-S) | `V` |

Weighted QMIX (CW-QMIX and OW-QMIX) keeps QMIX's mixer and adds an unrestricted centralised estimate Q̂*; it is a
learner setting (`LearnerConfig.Weighted`), see [Reproducing the paper](reproducing-the-paper.html).
`QmixConfig.defaults` is PyMARL's QMIX mixer:
*)
QmixConfig.defaults
(*** include-it ***)

(**
`HypernetLayers = 1` is the ICML paper's single linear hypernetwork; PyMARL's default is 2 (Linear → ReLU →
Linear, of width `HypernetEmbed`). `NonNegative = Softplus` replaces |·| by log(1 + eˣ). Every built-in mixer, made
for 3m with the global state as input, with its `Name`, `ClaimsMonotonic`, `Outputs` (K) and parameter count, and
applied to the same agent Qs at the same state:
*)
let d = Mixers.inputDim GlobalState spec
let state = Tensor.ofArray [| 1; d |] (env.GlobalState first)
let agentQs = Tensor.ofArray [| 1; 3 |] [| 1.0f; 2.0f; 3.0f |]

let builtIn =
    [
        "QMIX", Qmix QmixConfig.defaults
        "QMIX, 1-layer hyper",
        Qmix
            { QmixConfig.defaults with
                HypernetLayers = 1
            }
        "QMIX, softplus",
        Qmix
            { QmixConfig.defaults with
                NonNegative = Softplus
            }
        "VDN", Vdn
        "IQL", Independent
        "QMIX-NS", QmixNs QmixConfig.defaults
        "QMIX-Lin", QmixLin QmixConfig.defaults
        "VDN-S", VdnS QmixConfig.defaults
    ]

printfn
    "%-20s %-9s %-9s %s %10s  %s"
    ""
    "Name"
    "monotonic"
    "K"
    "parameters"
    "Q_tot(1, 2, 3)"

for label, cfg in builtIn do
    let mixer = Mixers.create cfg spec.NAgents d
    let p = mixer.Init(Rng.key 2UL)

    let out =
        mixer.Forward p agentQs state
        |> Tensor.toArray
        |> Array.map (sprintf "%.2f")
        |> String.concat ", "

    printfn
        "%-20s %-9s %-9b %d %10d  %s"
        label
        mixer.Name
        mixer.ClaimsMonotonic
        mixer.Outputs
        (Tree.numel p)
        out
(*** include-output ***)

(**
The parameters are fresh and untrained, so the values mean nothing yet. The QMIX mixer's parameters carry
PyMARL's names, so a PyTorch `QMixer` state_dict loads into them one to one:
*)
let qmix = Mixers.create (Qmix QmixConfig.defaults) spec.NAgents d
let qmixParams = qmix.Init(Rng.key 2UL)

for name, t in Tree.named qmixParams do
    printfn "mixer.%-24s %O" name t.Shape
(*** include-output ***)

(**
Monotonicity is what makes decentralised execution consistent: since ∂Q_tot/∂Q_a ≥ 0 for every agent, each
agent's greedy action on its own Q_a is also the greedy joint action of Q_tot. Autodiff gives the derivatives at a
point directly (the agent Qs are the "parameters" being differentiated):
*)
let _, dQtot =
    Autodiff.valueAndGrad
        (fun qs -> qmix.Forward qmixParams qs state |> Tensor.sum)
        agentQs

printfn "∂Q_tot/∂Q_a at Q = (1, 2, 3): %O" dQtot
(*** include-output ***)

(**
[Verification](verification.html) checks this property (and the argmax decomposition it implies) at many drawn
points, for any mixer.

## What the hypernetworks read

`LearnerConfig.HyperInput` chooses the mixer's input: the global state (the paper's choice), all agents'
observations concatenated, or both. It sets the width D:
*)
for input in [ GlobalState; AllObservations; StateAndObservations ] do
    printfn "%-21s D = %d" (sprintf "%A" input) (Mixers.inputDim input spec)
(*** include-output ***)

(**
`Mixers.batchInputs` and `Mixers.actingInputs` build the input from an episode batch or a step, so the choice is
one field of the configuration: `{ LearnerConfig.defaults with HyperInput = AllObservations }`.

## A mixer of your own

A user-defined mixer is any `Mixer<'P>` record, and plugs into the learner, the training loop, checkpoints and the
verifier like a built-in one. Here, a *gated sum*: Q_tot = Σ_a σ(g(s))_a · Q_a + b(s), each agent's utility
weighted by a state-dependent gate in (0, 1). Its parameters are a record of two linear layers (named `gate` and
`bias` in checkpoints):
*)
type GatedSum = { Gate: Linear; Bias: Linear }

let gatedSum (n: int) (d: int) : Mixer<GatedSum> =
    {
        Name = "gated-sum"
        ClaimsMonotonic = true // the gates are positive, so ∂Q_tot/∂Q_a > 0
        Outputs = 1
        Init =
            fun key ->
                let k1, k2 = Rng.split key

                {
                    Gate = Linear.init k1 d n
                    Bias = Linear.init k2 d 1
                }
        Forward =
            fun p qs s ->
                // qs [..., N] and s [..., D]; rows of the batch are mixed independently
                let gates = Linear.forward p.Gate s |> Tensor.sigmoid
                let weighted = Tensor.mul gates qs |> Tensor.sumAxis -1 true
                Tensor.add weighted (Linear.forward p.Bias s)
        Structure = Opaque
    }

(**
`Learner.create` takes any mixer (`Learner.builtIn` is `Learner.create` with `Mixers.create`), and
`Training.createWith` trains with that learner. On the two-step game, with the settings of
[Getting started](getting-started.html):
*)
let twoStep = MatrixGames.twoStep
let hyperDim = Mixers.inputDim GlobalState twoStep.Spec

let config =
    { TrainingConfig.defaults with
        Learner =
            { LearnerConfig.defaults with
                Agent =
                    { AgentConfig.defaults with
                        Hidden = 16
                    }
            }
        TotalSteps = 10_000
        BufferSize = 500
        Epsilon =
            {
                Start = 1.0f
                Finish = 1.0f
                AnnealSteps = 1
            }
        TestEpisodes = 0
    }

let learner =
    Learner.create config.Learner twoStep.Spec (gatedSum twoStep.Spec.NAgents hyperDim)

let trainer = Training.createWith config twoStep learner
let trained = Training.init trainer |> Training.run trainer ignore

let greedy =
    Runner.evaluate
        twoStep
        config.Learner.Agent
        trained.Learner.Params.Agent
        1
        1
        (Rng.key 7UL)

printfn "gated sum on the two-step game: greedy return %g" greedy.MeanReturn

for name, t in Tree.named trained.Learner.Params do
    printfn "  %-20s %O" name t.Shape
(*** include-output ***)

(**
Like QMIX-Lin, the gated sum is linear in the agent Qs at each state, so it cannot represent the payoff of state
2B ([[0, 1], [1, 8]]) and settles on the safe return 7; QMIX's non-linear mixing network reaches 8
(see [Reproducing the paper](reproducing-the-paper.html)). The parameter tree of the learner holds the agents
under `agent.*` and the mixer under `mixer.*`, whatever the mixer.
*)
