/// Fixtures shared by the learner tests (LearnerTests, FusedUpdateTests): a small spec, a random episode batch,
/// small learner settings and a QMIX mixer of small widths.
module Qmix.Functional.Tests.Fixtures

open Qmix.Tensors
open Qmix.Functional

/// A spec of 3 agents, 4 actions, observations of 5, states of 6, episodes of at most 7 steps.
let spec =
    {
        Name = "random"
        NAgents = 3
        NActions = 4
        ObsDim = 5
        StateDim = 6
        EpisodeLimit = 7
    }

/// A random batch: ~70% of actions available (action 0 always), taken actions available, random lengths, even
/// episodes terminated.
let randomBatch (s: EnvSpec) (b: int) (seed: uint64) : EpisodeBatch =
    let k = Rng.splitN 6 (Rng.key seed)
    let t1 = s.EpisodeLimit + 1

    let u (key: Key) n =
        (Rng.uniform key (Shape [| n |])).ToArray()

    let n, a = s.NAgents, s.NActions

    let avail =
        u k[0] (b * t1 * n * a)
        |> Array.mapi (fun i v -> if i % a = 0 || v < 0.7f then 1.0f else 0.0f)

    let actions =
        Array.init (b * t1 * n) (fun r ->
            let choices =
                [|
                    for x in 0 .. a - 1 do
                        if avail[r * a + x] = 1.0f then
                            x
                |]

            choices[Rng.intBelow (Rng.foldIn r k[1]) choices.Length])

    let filled = Array.zeroCreate (b * t1)
    let terminated = Array.zeroCreate (b * t1)

    for e in 0 .. b - 1 do
        let len = 1 + Rng.intBelow (Rng.foldIn e k[2]) s.EpisodeLimit

        for t in 0 .. len - 1 do
            filled[e * t1 + t] <- 1.0f

        if e % 2 = 0 then
            terminated[e * t1 + len - 1] <- 1.0f

    {
        BatchSize = b
        MaxSeqLength = t1
        NAgents = n
        NActions = a
        ObsDim = s.ObsDim
        StateDim = s.StateDim
        Obs = (Rng.normal k[3] (Shape [| b * t1 * n * s.ObsDim |])).ToArray()
        State = (Rng.normal k[4] (Shape [| b * t1 * s.StateDim |])).ToArray()
        Actions = actions
        AvailActions = avail
        Reward = (Rng.normal k[5] (Shape [| b * t1 |])).ToArray()
        Terminated = terminated
        Filled = filled
    }

/// PyMARL's learner defaults with an agent of 8 hidden units.
let small =
    { LearnerConfig.defaults with
        Agent = { AgentConfig.defaults with Hidden = 8 }
    }

/// QMIX with mixing and hypernetwork embeddings of 4 and 6.
let qmixSmall =
    Qmix
        { QmixConfig.defaults with
            Embed = 4
            HypernetEmbed = 6
        }

/// The parameter tree's leaves, copied out as arrays.
let leaves (p: QParams<'M>) =
    Tree.leaves p |> Array.map (fun t -> t.ToArray())
