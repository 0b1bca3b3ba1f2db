module Qmix.Functional.Tests.CombatTests

open System
open Xunit
open FsCheck.FSharp
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Envs
open Qmix.Functional.Tests.Generators

let private custom name allies enemies limit =
    {
        Name = name
        Allies = allies
        Enemies = enemies
        EpisodeLimit = limit
    }

/// One marine against one marine.
let private duel = custom "1m_vs_1m" [ Marine ] [ Marine ] 60

let private key = Rng.key 7UL

/// A uniformly random available action for every agent, from a flat [N·A] mask.
let private randomLegal (mask: bool[]) (agents: int) (actions: int) (k: Key) =
    Array.init agents (fun i ->
        let legal =
            [|
                for u in 0 .. actions - 1 do
                    if mask[i * actions + u] then
                        u
            |]

        legal[Rng.intBelow (Rng.foldIn i k) legal.Length])

/// Plays one episode with a policy; returns the states (first to last) and the transitions.
let private play (env: Env<CombatState>) (policy: CombatState -> Key -> int[]) (k: Key) =
    let reset, steps = Rng.split k
    let states = ResizeArray [ env.Reset reset ]
    let transitions = ResizeArray()
    let mutable over = false

    while not over do
        let s = states[states.Count - 1]
        let t = transitions.Count

        let s', tr =
            env.Step s (policy s (Rng.foldIn (2 * t) steps)) (Rng.foldIn (2 * t + 1) steps)

        states.Add s'
        transitions.Add tr
        over <- tr.Terminated || tr.Truncated

    states.ToArray(), transitions.ToArray()

let private randomPolicy (env: Env<CombatState>) (s: CombatState) (k: Key) =
    randomLegal (env.AvailableActions s) env.Spec.NAgents env.Spec.NActions k

// ---------------------------------------------------------------- sizes

[<Fact>]
let ``every scenario has the spec's sizes, episode limit and action count`` () =
    // name, agents, actions, obs_dim, state_dim, episode limit (SMAX sizes: environments spec §1.8, §1.9)
    let expected =
        [
            "3m", 3, 8, 75, 72, 60
            "5m", 5, 10, 127, 120, 60
            "8m", 8, 13, 205, 192, 120
            "2s3z", 5, 10, 127, 120, 120
            "3s5z", 8, 13, 205, 192, 150
            "1c3s5z", 9, 14, 14 * 17 + 11, 13 * 18, 180
            "5m_vs_6m", 5, 11, 140, 132, 100
            "3s_vs_5z", 3, 10, 101, 96, 100
            "3s5z_vs_3s6z", 8, 14, 13 * 16 + 10, 12 * 17, 100
            "6h_vs_8z", 6, 13, 179, 168, 100
            "10m_vs_11m", 10, 16, 270, 252, 100
            "27m_vs_30m", 27, 35, 13 * 56 + 10, 12 * 57, 100
        ]

    Assert.Equal(expected.Length, Combat.scenarios.Count)

    for name, agents, actions, obs, state, limit in expected do
        let env = Combat.make (Combat.scenario name)
        let spec = env.Spec
        Assert.Equal("combat:" + name, spec.Name)

        Assert.Equal(
            (agents, actions, obs, state, limit),
            (spec.NAgents, spec.NActions, spec.ObsDim, spec.StateDim, spec.EpisodeLimit)
        )

        let s = env.Reset key
        Assert.Equal(agents * obs, (env.Observations s).Length)
        Assert.Equal(state, (env.GlobalState s).Length)
        Assert.Equal(agents * actions, (env.AvailableActions s).Length)

[<Fact>]
let ``the episode limit is configurable and an unknown map is named`` () =
    let env =
        Combat.make
            { Combat.scenario "3m" with
                EpisodeLimit = 7
            }

    Assert.Equal(7, env.Spec.EpisodeLimit)
    let e = Assert.Throws<ArgumentException>(fun () -> Combat.scenario "4m" |> ignore)
    Assert.Contains("'4m'", e.Message)
    Assert.Contains("3s5z", e.Message)

[<Fact>]
let ``reset places each army around its start with full health, deterministically`` () =
    let sc = Combat.scenario "2s3z"
    let s = Combat.reset sc key
    Assert.Equal(s, Combat.reset sc key)
    Assert.NotEqual(s, Combat.reset sc (Rng.key 8UL))
    Assert.Equal(0, s.StepCount)

    for i in 0 .. s.NUnits - 1 do
        let x, y = s.Position i
        let cx = if i < s.NAllies then 8.0f else 24.0f
        // noise ±2, plus a little room for the push-apart pass
        Assert.InRange(x, cx - 2.7f, cx + 2.7f)
        Assert.InRange(y, 13.3f, 18.7f)
        Assert.Equal((UnitType.stats (s.UnitType i)).MaxHealth, s.Health i)
        Assert.Equal(0.0f, s.Cooldown i)
        Assert.Equal(Combat.Stop, s.PreviousAction i)

// ---------------------------------------------------------------- hand-worked scenarios

[<Fact>]
let ``a marine kills a standing marine with five hits of 9, one per step at most, in step 6 or 7`` () =
    // Tick 1 hits; the cooldown becomes 0.61 + u, u in [-1/16, 2/16), and falls by 1/16 per tick, so the next
    // hit comes 10 to 13 ticks later: hits at ticks 1, then 41..53 for the fifth — step 6 (ticks 41..48) or
    // step 7 (ticks 49..56). Each hit removes 9/45 of the only enemy's health: reward 0.2, plus 1 for the win.
    let killSteps = ResizeArray()

    for seed in 0..99 do
        let mutable s = Combat.place duel [| 10.0f, 16.0f; 14.0f, 16.0f |]
        let mutable over = false
        let mutable total = 0.0f
        let k = Rng.key (uint64 seed)

        while not over do
            let before = s.Health 1

            let s', tr =
                Combat.stepWith s [| Combat.AttackBase |] [| Combat.Stop |] (Rng.foldIn s.StepCount k)

            let hits = (before - s'.Health 1) / 9.0f
            Assert.True(hits = 0.0f || hits = 1.0f, sprintf "seed %d step %d: %g hits" seed s'.StepCount hits)
            Assert.Equal(45.0f, s'.Health 0)

            if s'.StepCount = 1 then
                Assert.Equal(36.0f, s'.Health 1)
                Assert.Equal(0.2f, tr.Reward, 6)
                // 0.61 + u - 7/16 after the hit on tick 1 and seven misses
                Assert.InRange(s'.Cooldown 0, 0.61f - 0.0625f - 0.4375f - 1e-5f, 0.61f + 0.125f - 0.4375f + 1e-5f)

            total <- total + tr.Reward
            s <- s'
            over <- tr.Terminated || tr.Truncated

            if over then
                Assert.True tr.Terminated
                Assert.Equal(Some true, tr.Info.Won)
                Assert.Equal(1.2f, tr.Reward, 5)
                Assert.False(s.Alive 1)
                killSteps.Add s.StepCount
            else
                Assert.Equal(Some false, tr.Info.Won)
                Assert.Equal(hits * 0.2f, tr.Reward, 6)

        Assert.Equal(2.0f, total, 5)

    Assert.All(killSteps, (fun k -> Assert.InRange(k, 6, 7)))
    Assert.Contains(6, killSteps)
    Assert.Contains(7, killSteps)

[<Fact>]
let ``a unit that walks into a wall dies there, and the damage reward counts enemies killed by walls`` () =
    // a marine moves 3.15 / 16 per tick: from x = 0.5 it reaches x <= 0 on the third tick (clipped to 0) and dies
    let s = Combat.place duel [| 0.5f, 16.0f; 20.0f, 16.0f |]
    let s1, tr = Combat.stepWith s [| 3 |] [| Combat.Stop |] key
    Assert.False(s1.Alive 0)
    Assert.Equal(0.0f, s1.Health 0)
    Assert.Equal(0.0f, fst (s1.Position 0))
    Assert.True tr.Terminated
    Assert.False tr.Truncated
    Assert.Equal(Some false, tr.Info.Won)
    Assert.Equal(0.0f, tr.Reward)

    // one of two enemies walks out of the north edge: half the enemy health is gone, no win yet
    let two = custom "1m_vs_2m" [ Marine ] [ Marine; Marine ] 60
    let s = Combat.place two [| 10.0f, 16.0f; 24.0f, 31.8f; 24.0f, 10.0f |]
    let s1, tr = Combat.stepWith s [| Combat.Stop |] [| 0; Combat.Stop |] key
    Assert.False(s1.Alive 1)
    Assert.Equal(32.0f, snd (s1.Position 1))
    Assert.True(s1.Alive 2)
    Assert.Equal(0.5f, tr.Reward)
    Assert.False(tr.Terminated || tr.Truncated)

    // the other one follows: the last enemy health and the win bonus
    let s2, tr = Combat.stepWith s1 [| Combat.Stop |] [| Combat.Stop; 2 |] key
    Assert.True(snd (s2.Position 2) > 0.0f)
    Assert.True(s2.Alive 2)
    let mutable s = s2
    let mutable last = tr

    while not last.Terminated do
        let s', tr = Combat.stepWith s [| Combat.Stop |] [| Combat.Stop; 2 |] key
        s <- s'
        last <- tr

    Assert.Equal(1.5f, last.Reward)
    Assert.Equal(Some true, last.Info.Won)

[<Fact>]
let ``a draw pays no win bonus: a time-out with both armies alive, or both armies dying in the same step`` () =
    // time-out: the third step of a 3-step episode is truncated, not terminated
    let short = { duel with EpisodeLimit = 3 }
    let mutable s = Combat.place short [| 5.0f, 16.0f; 27.0f, 16.0f |]

    for t in 1..3 do
        let s', tr = Combat.stepWith s [| Combat.Stop |] [| Combat.Stop |] key
        s <- s'
        Assert.Equal(0.0f, tr.Reward)
        Assert.Equal(Some false, tr.Info.Won)
        Assert.False tr.Terminated
        Assert.Equal((t = 3), tr.Truncated)

    Assert.True s.IsOver
    Assert.False s.BattleOver

    Assert.Throws<ArgumentException>(fun () -> Combat.stepWith s [| Combat.Stop |] [| Combat.Stop |] key |> ignore)
    |> ignore

    // both marines walk into opposite walls in the same step: the enemy's whole health counts, no bonus
    let s = Combat.place duel [| 0.5f, 16.0f; 31.5f, 16.0f |]
    let s1, tr = Combat.stepWith s [| 3 |] [| 1 |] key
    Assert.False(s1.Alive 0 || s1.Alive 1)
    Assert.True tr.Terminated
    Assert.Equal(Some false, tr.Info.Won)
    Assert.Equal(1.0f, tr.Reward)

[<Fact>]
let ``the heuristic environment's time-out is truncation, and a finished episode cannot be stepped`` () =
    // two marines that never meet: the enemy walks toward its default target, the ally stands in a corner
    let env = Combat.make { duel with EpisodeLimit = 4 }

    let mutable s =
        Combat.place { duel with EpisodeLimit = 4 } [| 1.0f, 1.0f; 30.0f, 31.0f |]

    for t in 1..4 do
        let s', tr = env.Step s [| Combat.Stop |] key
        s <- s'
        Assert.Equal((t = 4), tr.Truncated)
        Assert.False tr.Terminated
        Assert.Equal(0.0f, tr.Reward)

    let e =
        Assert.Throws<ArgumentException>(fun () -> env.Step s [| Combat.Stop |] key |> ignore)

    Assert.Contains("ended", e.Message)

[<Fact>]
let ``reward is the enemies' health lost over their maximum, averaged over enemies`` () =
    // one hit of 9 on one of two marines: 9 / 45 / 2
    let two = custom "1m_vs_2m" [ Marine ] [ Marine; Marine ] 60
    let s = Combat.place two [| 10.0f, 16.0f; 14.0f, 16.0f; 24.0f, 16.0f |]

    let s1, tr =
        Combat.stepWith s [| Combat.AttackBase |] [| Combat.Stop; Combat.Stop |] key

    Assert.Equal(36.0f, s1.Health 1)
    Assert.Equal(0.1f, tr.Reward, 6)
    // the allies' own losses do not count
    let s = Combat.place two [| 10.0f, 16.0f; 14.0f, 16.0f; 24.0f, 16.0f |]

    let s1, tr =
        Combat.stepWith s [| Combat.Stop |] [| Combat.AttackBase; Combat.Stop |] key

    Assert.Equal(36.0f, s1.Health 0)
    Assert.Equal(0.0f, tr.Reward)

// ---------------------------------------------------------------- masks

[<Fact>]
let ``attacks are available only against living enemies strictly within attack range; dead units may only stop`` () =
    let sc = Combat.scenario "3m"
    // ally 0 at (10, 16): enemy 0 at distance 4, enemy 1 at 5.1, enemy 2 at exactly 5 (not strictly within)
    let s =
        Combat.place
            sc
            [|
                10.0f, 16.0f
                0.3f, 3.0f
                3.0f, 29.0f
                14.0f, 16.0f
                10.0f, 10.9f
                10.0f, 21.0f
            |]

    let mask = Combat.availableActions s
    let row i = mask[i * 8 .. i * 8 + 7]
    Assert.Equal<bool[]>([| true; true; true; true; true; true; false; false |], row 0)
    Assert.Equal<bool[]>([| true; true; true; true; true; false; false; false |], row 1)

    // ally 1 walks into the wall and dies: only stop (the dead unit's no-op) is left
    let s1, _ = Combat.stepWith s [| Combat.Stop; 3; Combat.Stop |] [| 4; 4; 4 |] key
    Assert.False(s1.Alive 1)
    let mask = Combat.availableActions s1
    Assert.Equal<bool[]>([| false; false; false; false; true; false; false; false |], mask[8..15])

    // the enemies' masks use SMAX's reversed numbering: enemy 0's attack 2 targets ally 0
    let emask = Combat.enemyAvailableActions s
    Assert.Equal<bool[]>([| true; true; true; true; true; false; false; true |], emask[0..7])

[<Fact>]
let ``an attack on an enemy out of range is unavailable, for allies and for scripted enemy orders alike`` () =
    let s = Combat.place duel [| 10.0f, 16.0f; 16.0f, 16.0f |]
    Assert.False((Combat.availableActions s)[Combat.AttackBase])
    // orders given to the enemies are checked against their masks too
    let e =
        Assert.Throws<ArgumentException>(fun () ->
            Combat.stepWith s [| Combat.Stop |] [| Combat.AttackBase |] key |> ignore)

    Assert.Contains("enemy 0 chose action 5, which is not available", e.Message)

// ---------------------------------------------------------------- observation and state

[<Fact>]
let ``observation and global state of a duel, feature by feature`` () =
    let s = Combat.place duel [| 10.0f, 16.0f; 14.0f, 16.0f |]
    let obs = Combat.observations s
    let oneHotMarine = [| 1.0f; 0.0f; 0.0f; 0.0f; 0.0f; 0.0f |]
    // the enemy: health 1, offset (4, 0) / sight 9, no previous move or attack, cooldown 0, marine
    let enemyBlock =
        Array.append [| 1.0f; 4.0f / 9.0f; 0.0f; 0.0f; 0.0f; 0.0f; 0.0f |] oneHotMarine

    let own = Array.append [| 1.0f; 10.0f / 32.0f; 0.5f; 0.0f |] oneHotMarine
    Assert.Equal<float32[]>(Array.append enemyBlock own, obs)

    let state = Combat.globalState s

    let expected =
        Array.concat
            [
                [| 1.0f; 10.0f; 16.0f; 0.0f |]
                oneHotMarine
                [| 1.0f; 14.0f; 16.0f; 0.0f |]
                oneHotMarine
                [| 0.0f; 1.0f; 0.0f; 0.0f |]
            ]

    Assert.Equal<float32[]>(expected, state)

    // after a step in which the ally attacks (hit on tick 1) and the enemy walks west (toward it):
    let s1, _ = Combat.stepWith s [| Combat.AttackBase |] [| 3 |] key
    let obs = Combat.observations s1
    let ex, ey = s1.Position 1
    Assert.Equal(36.0f / 45.0f, obs[0])
    Assert.Equal((ex - 10.0f) / 9.0f, obs[1])
    Assert.Equal((ey - 16.0f) / 9.0f, obs[2])
    // the enemy's previous move is west; it did not attack; its cooldown fell below 0, clipped to 0
    Assert.Equal<float32[]>([| -1.0f; 0.0f; 0.0f; 0.0f |], obs[3..6])
    // own cooldown fraction
    Assert.Equal(s1.Cooldown 0 / 0.61f, obs[13 + 3], 6)

    // a unit's previous attack as another ally sees it: action 5 of an ally's 6 actions shows as 5 / (6 - 1)
    let pair = custom "2m_vs_1m" [ Marine; Marine ] [ Marine ] 60
    let s = Combat.place pair [| 10.0f, 16.0f; 10.0f, 18.0f; 14.0f, 16.0f |]

    let s1, _ =
        Combat.stepWith s [| Combat.AttackBase; Combat.Stop |] [| Combat.Stop |] key

    let obs = Combat.observations s1
    let dim = 13 * 2 + 10
    // ally 1's first block is ally 0: previous attack 5 / (6 - 1)
    Assert.Equal(1.0f, obs[dim + 5])
    // a dead or distant unit's block is zero: ally 1 sees the enemy (distance ~4.5) but not beyond sight
    let far = Combat.place pair [| 10.0f, 16.0f; 10.0f, 18.0f; 19.5f, 16.0f |]
    let obs = Combat.observations far
    Assert.True(obs[13..25] |> Array.forall ((=) 0.0f), "ally 0 does not see the enemy at distance 9.5")
    Assert.True(obs[dim + 13] = 0.0f)

// ---------------------------------------------------------------- the scripted enemy

[<Fact>]
let ``the heuristic enemy attacks the closest ally in range, in SMAX's reversed numbering, and keeps its target`` () =
    let pair = custom "2m_vs_1m" [ Marine; Marine ] [ Marine ] 60
    // ally 1 is closer: opponent 0 of the enemy is ally 1
    let s = Combat.place pair [| 10.0f, 16.0f; 12.0f, 16.0f; 14.0f, 16.0f |]
    Assert.Equal<int[]>([| Combat.AttackBase |], Combat.enemyHeuristic s key)
    // ally 0 is closer: opponent 1
    let s = Combat.place pair [| 13.0f, 16.0f; 10.0f, 16.0f; 14.0f, 16.0f |]
    Assert.Equal<int[]>([| Combat.AttackBase + 1 |], Combat.enemyHeuristic s key)
    // it keeps the ally it attacked while that one stays in range, even when another comes closer
    let s1, _ =
        Combat.stepWith s [| Combat.Stop; Combat.Stop |] [| Combat.AttackBase |] key

    Assert.Equal<int[]>([| Combat.AttackBase |], Combat.enemyHeuristic s1 key)
    // nobody in sight: it heads for its start rotated about the centre, (32 - 24, 32 - 16) = (8, 16): west
    let s = Combat.place pair [| 3.0f, 3.0f; 3.0f, 29.0f; 24.0f, 16.0f |]
    Assert.Equal<int[]>([| 3 |], Combat.enemyHeuristic s key)
    // an ally in sight but out of range: it walks to it (north)
    let s = Combat.place pair [| 20.0f, 23.0f; 3.0f, 29.0f; 20.0f, 16.0f |]
    Assert.Equal<int[]>([| 0 |], Combat.enemyHeuristic s key)

// ---------------------------------------------------------------- laws

let private lawScenarios =
    [ "3m"; "2s3z"; "1c3s5z"; "3s_vs_5z"; "5m_vs_6m"; "6h_vs_8z" ]

[<Fact>]
let ``laws over random keys and random legal play: sizes, masks, finite rewards, the return identity, the limit`` () =
    let g = Gen.zip (Gen.elements lawScenarios) (Gen.choose (0, Int32.MaxValue))

    check 24
    <| forAll g (fun (name, seed) ->
        let sc =
            { Combat.scenario name with
                EpisodeLimit = 40
            }

        let env = Combat.make sc
        let spec = env.Spec
        let states, transitions = play env (randomPolicy env) (Rng.key (uint64 seed))

        Assert.True(transitions.Length <= spec.EpisodeLimit)

        for t in 0 .. states.Length - 1 do
            let s = states[t]
            Assert.Equal(t, s.StepCount)
            Assert.Equal(spec.NAgents * spec.ObsDim, (env.Observations s).Length)
            Assert.Equal(spec.StateDim, (env.GlobalState s).Length)
            let mask = env.AvailableActions s
            Assert.Equal(spec.NAgents * spec.NActions, mask.Length)

            for i in 0 .. spec.NAgents - 1 do
                // stop is always available
                Assert.True(mask[i * spec.NActions + Combat.Stop])

            for i in 0 .. s.NUnits - 1 do
                let x, y = s.Position i
                Assert.InRange(x, 0.0f, 32.0f)
                Assert.InRange(y, 0.0f, 32.0f)
                Assert.True(Single.IsFinite(s.Cooldown i))

        for t in 0 .. transitions.Length - 1 do
            let tr = transitions[t]
            Assert.True(Single.IsFinite tr.Reward && tr.Reward >= 0.0f && tr.Reward <= 2.0f)
            let last = t = transitions.Length - 1
            Assert.Equal(last, tr.Terminated || tr.Truncated)
            Assert.False(tr.Terminated && tr.Truncated)
            Assert.Equal(tr.Terminated, states[t + 1].BattleOver)
            Assert.Equal(tr.Truncated, last && not states[t + 1].BattleOver && t + 1 = spec.EpisodeLimit)

        // the return is the enemies' lost health fraction, averaged, plus 1 for a win
        let final = states[states.Length - 1]
        let won = transitions[transitions.Length - 1].Info.Won = Some true

        let lost =
            [
                for e in final.NAllies .. final.NUnits - 1 ->
                    1.0f - final.Health e / (UnitType.stats (final.UnitType e)).MaxHealth
            ]
            |> List.sum

        let expected = lost / float32 final.NEnemies + (if won then 1.0f else 0.0f)
        Assert.Equal(expected, transitions |> Array.sumBy (fun tr -> tr.Reward), 4)
        Assert.Equal(won, final.BattleOver && List.exists final.Alive [ 0 .. final.NAllies - 1 ]))

[<Fact>]
let ``steps are deterministic and never change the state passed in`` () =
    let g = Gen.zip (Gen.elements lawScenarios) (Gen.choose (0, Int32.MaxValue))

    check 12
    <| forAll g (fun (name, seed) ->
        let env = Combat.make (Combat.scenario name)
        let k = Rng.key (uint64 seed)
        let states, transitions = play env (randomPolicy env) k
        let again, transitionsAgain = play env (randomPolicy env) k
        Assert.Equal<CombatState[]>(states, again)
        Assert.Equal<Transition[]>(transitions, transitionsAgain)

        // stepping a state again gives the same result, and leaves the state equal to a rebuilt copy
        let mid = states[states.Length / 2]

        if not mid.IsOver then
            let obs, gs = env.Observations mid, env.GlobalState mid
            let actions = randomPolicy env mid k
            let a, ta = env.Step mid actions k
            let b, tb = env.Step mid actions k
            Assert.Equal(a, b)
            Assert.Equal(ta, tb)
            Assert.Equal<float32[]>(obs, env.Observations mid)
            Assert.Equal<float32[]>(gs, env.GlobalState mid)
            Assert.Equal(states[states.Length / 2], again[states.Length / 2]))

// ---------------------------------------------------------------- bad input

[<Fact>]
let ``bad joint actions raise an ArgumentException naming the agent and the action, and leave the state as it was`` () =
    let env = Combat.make (Combat.scenario "3m")
    let s = env.Reset key
    let gs, obs = env.GlobalState s, env.Observations s

    let message (actions: int[]) =
        (Assert.Throws<ArgumentException>(fun () -> env.Step s actions key |> ignore)).Message

    Assert.Contains("needs 3 actions (one per agent), got 2", message [| 4; 4 |])
    Assert.Contains("needs 3 actions (one per agent), got 4", message [| 4; 4; 4; 4 |])
    Assert.Contains("agent 1 chose action 8, outside 0..7", message [| 4; 8; 4 |])
    Assert.Contains("agent 2 chose action -1, outside 0..7", message [| 4; 4; -1 |])
    // the armies start 16 apart: no attack is available
    Assert.Contains("agent 0 chose action 5, which is not available", message [| 5; 4; 4 |])

    Assert.Throws<ArgumentNullException>(fun () -> env.Step s null key |> ignore)
    |> ignore

    Assert.Equal<float32[]>(gs, env.GlobalState s)
    Assert.Equal<float32[]>(obs, env.Observations s)
    Assert.Equal(s, env.Reset key)

    let e =
        Assert.Throws<ArgumentException>(fun () -> Combat.stepWith s [| 4; 4; 4 |] [| 4; 4; 9 |] key |> ignore)

    Assert.Contains("enemy 2 chose action 9, outside 0..7", e.Message)
    Assert.Equal(s, env.Reset key)

[<Fact>]
let ``a state of another scenario is refused`` () =
    let env = Combat.make (Combat.scenario "3m")
    let other = Combat.reset (Combat.scenario "5m") key

    let e =
        Assert.Throws<ArgumentException>(fun () -> env.Step other [| 4; 4; 4 |] key |> ignore)

    Assert.Contains("5m", e.Message)
    // a state of an equal scenario made elsewhere is fine
    env.Step (Combat.reset (Combat.scenario "3m") key) [| 4; 4; 4 |] key |> ignore

// ---------------------------------------------------------------- the baseline policy

[<Fact>]
let ``the heuristic policy only takes available actions and focuses its fire`` () =
    let env = Combat.make (Combat.scenario "2s3z")

    for seed in 0..4 do
        let states, _ = play env (fun s _ -> Combat.heuristic s) (Rng.key (uint64 seed))

        for s in states do
            if not s.IsOver then
                let mask = env.AvailableActions s
                let actions = Combat.heuristic s
                Assert.All(Array.indexed actions, (fun (i, u) -> Assert.True(mask[i * env.Spec.NActions + u])))

    // in range of two enemies, it attacks the nearer; out of range, it walks toward the nearest
    let sc = Combat.scenario "3m"

    let s =
        Combat.place
            sc
            [|
                10.0f, 16.0f
                3.0f, 3.0f
                3.0f, 29.0f
                14.5f, 16.0f
                10.0f, 19.0f
                30.0f, 2.0f
            |]

    // ally 0: enemy 1 (distance 3) is nearer than enemy 0 (4.5); ally 1 at (3, 3): the nearest is enemy 0,
    // 11.5 east and 13 north, so north; ally 2 at (3, 29): enemy 1, 7 east and 10 south, so south
    Assert.Equal<int[]>([| Combat.AttackBase + 1; 0; 2 |], Combat.heuristic s)
    // it keeps its target while it lives and stays in range, even when another comes nearer
    let s1, _ = Combat.stepWith s [| Combat.AttackBase; 4; 4 |] [| 4; 4; 4 |] key
    Assert.Equal(Combat.AttackBase, (Combat.heuristic s1)[0])

[<Fact>]
let ``the heuristic policy beats random play on 3m`` () =
    let sc = Combat.scenario "3m"
    let heuristic = Combat.heuristicWinRate sc 40 key
    let random = Combat.winRate Combat.randomActions sc 40 key
    Assert.True(heuristic > random + 0.2, sprintf "heuristic %.2f, random %.2f" heuristic random)
    // the same key gives the same rate
    Assert.Equal(heuristic, Combat.heuristicWinRate sc 40 key)

// ---------------------------------------------------------------- rendering

[<Fact>]
let ``the text frame draws the arena, the units by team and type, and their health`` () =
    let sc = Combat.scenario "2s3z"
    let allies = [| for i in 0..4 -> 4.5f + 2.0f * float32 i, 16.5f |]
    let enemies = [| for i in 0..4 -> 20.5f + 2.0f * float32 i, 30.5f |]
    let s = Combat.place sc (Array.append allies enemies)
    let text = Combat.render s
    let lines = text.TrimEnd().Split('\n') |> Array.map (fun l -> l.TrimEnd '\r')
    Assert.StartsWith("combat:2s3z  step 0/120  allies 5/5 alive  enemies 5/5 alive", lines[0])
    Assert.Equal("+" + String('-', 32) + "+", lines[1])
    Assert.Equal(16 + 4 + 2, lines.Length)
    // y = 16.5 is row 16 - 1 - 8 = 7; y = 30.5 is row 0
    Assert.Equal("|    s s z z z" + String(' ', 19) + "|", lines[2 + 7])
    Assert.Equal("|" + String(' ', 20) + "S S Z Z Z" + String(' ', 3) + "|", lines[2])
    Assert.Equal("allies  s0:160 s1:160 z2:150 z3:150 z4:150", lines[20])
    Assert.Equal("enemies S0:160 S1:160 Z2:150 Z3:150 Z4:150", lines[21])

[<Fact>]
let ``the SVG frame has a circle per unit, coloured by team, sized by type, with health bars`` () =
    let sc = Combat.scenario "1c3s5z"
    let s = Combat.reset sc key
    let svg = Combat.renderSvg s
    Assert.StartsWith("<svg xmlns=\"http://www.w3.org/2000/svg\"", svg)
    Assert.EndsWith("</svg>", svg.TrimEnd())
    let count (needle: string) = (svg.Split needle).Length - 1
    Assert.Equal(18, count "<circle")
    Assert.Equal(9, count "fill=\"#1f77b4\"")
    Assert.Equal(9, count "fill=\"#d62728\"")
    // the colossus (radius 1) is 16 pixels wide, a zealot (0.5) 8
    Assert.Equal(2, count "r=\"16\"")
    Assert.Equal(10, count "r=\"8\"")
    Assert.Equal(18, count "fill=\"#2ca02c\"")
    Assert.Contains("<title>ally 0: colossus, health 350/350</title>", svg)
    // it parses as XML
    System.Xml.Linq.XDocument.Parse svg |> ignore

[<Fact>]
let ``the SVG episode sheet nests one frame per state`` () =
    let env = Combat.make (Combat.scenario "3m")
    let states, _ = play env (fun s _ -> Combat.heuristic s) key
    let svg = Combat.renderSvgEpisode 5 states
    let doc = System.Xml.Linq.XDocument.Parse svg
    let ns = System.Xml.Linq.XNamespace.Get "http://www.w3.org/2000/svg"
    Assert.Equal(states.Length, doc.Root.Elements(ns + "svg") |> Seq.length)
    Assert.Equal(6 * states.Length, (svg.Split "<circle").Length - 1)

    Assert.Throws<ArgumentException>(fun () -> Combat.renderSvgEpisode 5 [||] |> ignore)
    |> ignore
