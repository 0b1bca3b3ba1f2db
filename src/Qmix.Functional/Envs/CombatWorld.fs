namespace Qmix.Functional.Envs

open System
open System.Text
open Qmix.Tensors
open Qmix.Functional

// The combat simulator's world: the per-scenario layout, the immutable state, and the pure world functions
// (geometry, reset, masks, the tick loop) that the environment module Combat, the scripted policies and the
// renderers share.

/// The per-unit constants of a scenario, shared by every state of its episodes. Units are numbered allies
/// first (0 .. NAllies-1), then enemies.
type internal CombatLayout =
    {
        Scenario: Scenario
        Rules: CombatRules
        /// The registered name: combat:MAP, then the rules that differ from the defaults.
        EnvName: string
        /// SMAC's reward scale: 20 / (enemies' max health + 10 · enemies + 200).
        RewardScale: float32
        NAllies: int
        NEnemies: int
        N: int
        /// One-hot width: 6 (SMAX's types), or 7 when the scenario has a colossus.
        TypeWidth: int
        Types: int[]
        StepLength: float32[]
        Damage: float32[]
        Range2: float32[]
        Sight: float32[]
        Sight2: float32[]
        Radius: float32[]
        MaxHealth: float32[]
        Cooldown: float32[]
        /// Actions of an ally (5 + enemies) and of an enemy (5 + allies).
        AllyActions: int
        EnemyActions: int
        ObsDim: int
        StateDim: int
    }

/// <summary>The immutable state of a combat episode: every unit's position, health and weapon cooldown, every
/// unit's previous action, the step counter, and the scripted enemies' fall-back destinations. Units are
/// numbered allies first (unit i = agent i), then enemies (unit <c>NAllies + k</c> = enemy k). Nothing in a
/// state ever changes: a step builds a new one.</summary>
[<Sealed>]
type CombatState
    internal (layout: CombatLayout, step: int, values: float32[], previous: int[], defaultTargets: float32[]) =
    // values: x[0..n), y[n..2n), health[2n..3n), cooldown[3n..4n)
    member internal _.Layout = layout
    member internal _.Values = values
    member internal _.Previous = previous
    member internal _.DefaultTargets = defaultTargets

    /// <summary>The scenario being played.</summary>
    member _.Scenario = layout.Scenario

    /// <summary>The number of environment steps taken so far in the episode.</summary>
    member _.StepCount = step

    /// <summary>The number of units, allies and enemies.</summary>
    member _.NUnits = layout.N

    /// <summary>The number of allies (agents).</summary>
    member _.NAllies = layout.NAllies

    /// <summary>The number of enemies.</summary>
    member _.NEnemies = layout.NEnemies

    /// <summary>Unit <paramref name="i"/>'s type.</summary>
    /// <param name="i">The unit (allies first, then enemies).</param>
    member _.UnitType(i: int) =
        let t = layout.Types[i]
        List.item t UnitType.all

    /// <summary>Unit <paramref name="i"/>'s position (x to the east, y to the north).</summary>
    /// <param name="i">The unit (allies first, then enemies).</param>
    member _.Position(i: int) = values[i], values[layout.N + i]

    /// <summary>Unit <paramref name="i"/>'s health (0 when dead).</summary>
    /// <param name="i">The unit (allies first, then enemies).</param>
    member _.Health(i: int) = values[2 * layout.N + i]

    /// <summary>Unit <paramref name="i"/>'s weapon cooldown: it can fire when this is at most 0.</summary>
    /// <param name="i">The unit (allies first, then enemies).</param>
    member _.Cooldown(i: int) = values[3 * layout.N + i]

    /// <summary>Whether unit <paramref name="i"/> is alive (health above 0).</summary>
    /// <param name="i">The unit (allies first, then enemies).</param>
    member _.Alive(i: int) = values[2 * layout.N + i] > 0.0f

    /// <summary>The action unit <paramref name="i"/> took in the previous step, as an index into its own team's
    /// action set (4 = stop at the start of an episode).</summary>
    /// <param name="i">The unit (allies first, then enemies).</param>
    member _.PreviousAction(i: int) = previous[i]

    /// <summary>Whether every ally or every enemy is dead.</summary>
    member _.BattleOver =
        let n, na = layout.N, layout.NAllies
        let mutable allies = false
        let mutable enemies = false

        for i in 0 .. n - 1 do
            if values[2 * n + i] > 0.0f then
                if i < na then allies <- true else enemies <- true

        not (allies && enemies)

    /// <summary>Whether the episode is over: the battle is over or the step counter reached the limit.</summary>
    member s.IsOver = s.BattleOver || step >= layout.Scenario.EpisodeLimit

    /// <summary>Two states are equal when they belong to equal scenarios and every number in them is equal.</summary>
    override s.Equals(o: obj) =
        match o with
        | :? CombatState as t ->
            t.Scenario = s.Scenario
            && t.StepCount = step
            && ReadOnlySpan<float32>(t.Values).SequenceEqual(ReadOnlySpan<float32>(values))
            && ReadOnlySpan<int>(t.Previous).SequenceEqual(ReadOnlySpan<int>(previous))
            && ReadOnlySpan<float32>(t.DefaultTargets).SequenceEqual(ReadOnlySpan<float32>(defaultTargets))
        | _ -> false

    /// <summary>A hash of the step counter and the unit positions and health.</summary>
    override _.GetHashCode() =
        let mutable h = HashCode()
        h.Add step

        for v in values do
            h.Add v

        h.ToHashCode()

/// Thread-local scratch buffers for the tick loop, so that a step allocates only its result. Every buffer is
/// fully overwritten before it is read, so results never depend on what a previous step left there.
[<AbstractClass; Sealed>]
type internal CombatScratch =
    [<ThreadStatic; DefaultValue>]
    static val mutable private floats: float32[]

    [<ThreadStatic; DefaultValue>]
    static val mutable private ints: int[]

    static member Floats(n: int) =
        let b = CombatScratch.floats

        if isNull b || b.Length < n then
            let b = Array.zeroCreate (max n 64)
            CombatScratch.floats <- b
            b
        else
            b

    static member Ints(n: int) =
        let b = CombatScratch.ints

        if isNull b || b.Length < n then
            let b = Array.zeroCreate (max n 64)
            CombatScratch.ints <- b
            b
        else
            b

/// The combat world's functions over layouts and raw state values, shared by <c>Combat</c>, <c>CombatScripts</c>
/// and <c>CombatRender</c>.
module internal CombatWorld =
    /// <summary>The arena's width (x from 0 to 32).</summary>
    [<Literal>]
    let Width = 32.0f

    /// <summary>The arena's height (y from 0 to 32).</summary>
    [<Literal>]
    let Height = 32.0f

    /// <summary>World ticks per environment step.</summary>
    [<Literal>]
    let TicksPerStep = 8

    /// <summary>The time of one tick.</summary>
    [<Literal>]
    let TickTime = 0.0625f

    /// <summary>The index of the stop action (also a dead unit's only action).</summary>
    [<Literal>]
    let Stop = 4

    /// <summary>The index of the first attack action: action <c>AttackBase + k</c> attacks opponent k.</summary>
    [<Literal>]
    let AttackBase = 5


    /// <summary>The name of a scenario's environment under some rules: <c>combat:MAP</c> under the default rules,
    /// followed by <c>,reward=smax</c>, <c>,state=raw</c>, <c>,walls=lethal</c> and <c>,cooldown=fixed</c> for each
    /// rule that differs from the defaults, in that order (so SMAX's rules give <c>combat:3m,reward=smax,state=raw,walls=lethal</c>).</summary>
    /// <param name="rules">The rules.</param>
    /// <param name="scenario">The scenario.</param>
    let envName (rules: CombatRules) (scenario: Scenario) : string =
        let d = CombatRules.defaults

        [
            "combat:" + scenario.Name
            if rules.Reward <> d.Reward then
                (match rules.Reward with
                 | SmacReward -> "reward=smac"
                 | SmaxReward -> "reward=smax")
            if rules.State <> d.State then
                (match rules.State with
                 | NormalisedState -> "state=normalised"
                 | RawState -> "state=raw")
            if rules.Walls <> d.Walls then
                (match rules.Walls with
                 | BlockingWalls -> "walls=blocking"
                 | LethalWalls -> "walls=lethal")
            if rules.Cooldown <> d.Cooldown then
                (match rules.Cooldown with
                 | JitteredCooldown -> "cooldown=jittered"
                 | FixedCooldown -> "cooldown=fixed")
        ]
        |> String.concat ","


    let layoutWith (rules: CombatRules) (scenario: Scenario) : CombatLayout =
        let types = List.append scenario.Allies scenario.Enemies |> Array.ofList
        let na, ne = List.length scenario.Allies, List.length scenario.Enemies

        if na = 0 || ne = 0 then
            invalidArg
                (nameof scenario)
                (sprintf "combat:%s: both armies need at least one unit (allies %d, enemies %d)" scenario.Name na ne)

        if scenario.EpisodeLimit < 1 then
            invalidArg
                (nameof scenario)
                (sprintf "combat:%s: the episode limit must be at least 1, got %d" scenario.Name scenario.EpisodeLimit)

        let n = na + ne
        let st = types |> Array.map UnitType.stats
        let tw = if Array.contains Colossus types then 7 else 6
        let enemyHealth = st[na..] |> Array.sumBy (fun s -> s.MaxHealth)

        {
            Scenario = scenario
            Rules = rules
            EnvName = envName rules scenario
            RewardScale = 20.0f / (enemyHealth + 10.0f * float32 ne + 200.0f)
            NAllies = na
            NEnemies = ne
            N = n
            TypeWidth = tw
            Types = types |> Array.map UnitType.index
            StepLength = st |> Array.map (fun s -> s.Speed * TickTime)
            Damage = st |> Array.map (fun s -> s.Damage)
            Range2 = st |> Array.map (fun s -> s.AttackRange * s.AttackRange)
            Sight = st |> Array.map (fun s -> s.SightRange)
            Sight2 = st |> Array.map (fun s -> s.SightRange * s.SightRange)
            Radius = st |> Array.map (fun s -> s.Radius)
            MaxHealth = st |> Array.map (fun s -> s.MaxHealth)
            Cooldown = st |> Array.map (fun s -> s.Cooldown)
            AllyActions = AttackBase + ne
            EnemyActions = AttackBase + na
            ObsDim = (7 + tw) * (n - 1) + 4 + tw
            StateDim =
                match rules.State with
                | RawState -> (6 + tw) * n
                | NormalisedState -> (4 + tw) * n + na * (AttackBase + ne)
        }

    let layoutOf (scenario: Scenario) =
        layoutWith CombatRules.defaults scenario

    // ---------------------------------------------------------------- geometry and randomness

    /// A float32 in [0, 1) from the top 24 bits of a word (the same map as Rng.float32).
    let inline unit24 (w: uint64) =
        float32 (w >>> 40) * (1.0f / 16777216.0f)

    /// Stream index of the cooldown jitter of unit i at tick t (tick-major), and of enemy k's random choice.
    let inline jitterIndex (n: int) (t: int) (i: int) = uint64 (t * n + i)

    let inline choiceIndex (n: int) (k: int) = uint64 (TicksPerStep * n + k)

    let inline dist2 (v: float32[]) (n: int) (i: int) (j: int) =
        let dx = v[j] - v[i]
        let dy = v[n + j] - v[n + i]
        dx * dx + dy * dy

    /// Pushes every pair of living units that overlap apart, all pairs from the same positions.
    let pushApart (l: CombatLayout) (v: float32[]) (scratch: float32[]) (at: int) =
        let n = l.N
        let radius = l.Radius
        // the displacements are zeroed and applied only once an overlapping pair turns up
        let mutable any = false

        for i in 0 .. n - 1 do
            if v[2 * n + i] > 0.0f then
                let xi, yi, ri = v[i], v[n + i], radius[i]

                for j in i + 1 .. n - 1 do
                    let r = ri + radius[j]
                    let dx = xi - v[j]

                    if dx * dx < r * r && v[2 * n + j] > 0.0f then
                        let dy = yi - v[n + j]
                        let d2 = dx * dx + dy * dy

                        if d2 < r * r && d2 > 0.0f then
                            if not any then
                                any <- true

                                for k in at .. at + 2 * n - 1 do
                                    scratch[k] <- 0.0f

                            let f = 0.5f * (r / MathF.Sqrt d2 - 1.0f)
                            scratch[at + i] <- scratch[at + i] + f * dx
                            scratch[at + n + i] <- scratch[at + n + i] + f * dy
                            scratch[at + j] <- scratch[at + j] - f * dx
                            scratch[at + n + j] <- scratch[at + n + j] - f * dy

        if any then
            for i in 0 .. 2 * n - 1 do
                v[i] <- v[i] + scratch[at + i]

    /// The unit an action of unit i attacks, or −1 for a move or stop.
    let inline targetOf (l: CombatLayout) (i: int) (action: int) =
        if action < AttackBase then -1
        elif i < l.NAllies then l.NAllies + action - AttackBase
        else l.NAllies - 1 - (action - AttackBase)

    // ---------------------------------------------------------------- states

    let initial (l: CombatLayout) (values: float32[]) =
        let n = l.N
        pushApart l values (Array.zeroCreate (2 * n)) 0
        // the heuristic enemy's fall-back destination: its start rotated 180° about the arena's centre
        let targets =
            Array.init (2 * l.NEnemies) (fun k ->
                let u = l.NAllies + k % l.NEnemies

                if k < l.NEnemies then
                    Width - values[u]
                else
                    Height - values[n + u])

        CombatState(l, 0, values, Array.create n Stop, targets)

    let resetLayout (l: CombatLayout) (key: Key) : CombatState =
        let n = l.N
        let v = Array.zeroCreate (4 * n)

        for i in 0 .. n - 1 do
            let cx = if i < l.NAllies then Width / 4.0f else 3.0f * Width / 4.0f
            v[i] <- cx + 4.0f * unit24 (Rng.bits key (uint64 (2 * i))) - 2.0f
            v[n + i] <- Height / 2.0f + 4.0f * unit24 (Rng.bits key (uint64 (2 * i + 1))) - 2.0f
            v[2 * n + i] <- l.MaxHealth[i]

        initial l v

    // ---------------------------------------------------------------- masks

    /// Whether unit i may take action u of its own team's action set (u already in range).
    let inline available (l: CombatLayout) (v: float32[]) (i: int) (u: int) =
        let n = l.N

        if u = Stop then
            true
        elif v[2 * n + i] <= 0.0f then
            false
        elif u < Stop then
            true
        else
            let j = targetOf l i u
            v[2 * n + j] > 0.0f && dist2 v n i j < l.Range2[i]

    // ---------------------------------------------------------------- observations and state

    let inline clip01 (x: float32) =
        if x < 0.0f then 0.0f
        elif x > 1.0f then 1.0f
        else x

    let inline moveX (action: int) =
        if action = 1 then 1.0f
        elif action = 3 then -1.0f
        else 0.0f

    let inline moveY (action: int) =
        if action = 0 then 1.0f
        elif action = 2 then -1.0f
        else 0.0f

    // ---------------------------------------------------------------- transition

    /// One environment step from checked actions: 8 ticks, then reward and episode end.
    let advance
        (state: CombatState)
        (allyActions: int[])
        (enemyActions: int[])
        (enemyAt: int)
        (key: Key)
        : CombatState * Transition =
        let l = state.Layout
        let n, na = l.N, l.NAllies
        let v = Array.copy state.Values
        let previous = Array.zeroCreate n
        // scratch: dirX [0, n), dirY [n, 2n), damage [2n, 3n), push [3n, 5n); targets as ints
        let s = CombatScratch.Floats(5 * n)
        let target = CombatScratch.Ints n

        for i in 0 .. n - 1 do
            let a =
                if i < na then
                    allyActions[i]
                else
                    enemyActions[enemyAt + i - na]

            previous[i] <- a
            s[i] <- moveX a
            s[n + i] <- moveY a
            target[i] <- targetOf l i a

        let stepLength, damage, range2, cooldown =
            l.StepLength, l.Damage, l.Range2, l.Cooldown

        let lethalWalls = l.Rules.Walls = LethalWalls
        let jittered = l.Rules.Cooldown = JitteredCooldown

        for t in 0 .. TicksPerStep - 1 do
            // attacks, from the positions and health before the tick
            for i in 0 .. n - 1 do
                s[2 * n + i] <- 0.0f

            for i in 0 .. n - 1 do
                let j = target[i]
                let cd = v[3 * n + i]

                if
                    j >= 0
                    && cd <= 0.0f
                    && v[2 * n + i] > 0.0f
                    && v[2 * n + j] > 0.0f
                    && dist2 v n i j < range2[i]
                then
                    s[2 * n + j] <- s[2 * n + j] + damage[i]

                    if jittered then
                        let u = unit24 (Rng.bits key (jitterIndex n t i))
                        v[3 * n + i] <- cooldown[i] + (3.0f * u - 1.0f) * TickTime
                    else
                        v[3 * n + i] <- cooldown[i]
                else
                    v[3 * n + i] <- cd - TickTime

            // moves, then damage, then walls
            for i in 0 .. n - 1 do
                if v[2 * n + i] > 0.0f then
                    let dx, dy = s[i], s[n + i]

                    if dx <> 0.0f || dy <> 0.0f then
                        v[i] <- Math.Clamp(v[i] + dx * stepLength[i], 0.0f, Width)
                        v[n + i] <- Math.Clamp(v[n + i] + dy * stepLength[i], 0.0f, Height)

                let h = v[2 * n + i] - s[2 * n + i]
                let x, y = v[i], v[n + i]

                v[2 * n + i] <-
                    if h <= 0.0f then
                        0.0f
                    elif lethalWalls && (x <= 0.0f || y <= 0.0f || x >= Width || y >= Height) then
                        0.0f
                    else
                        h

            pushApart l v s (3 * n)

            // blocking walls also hold units that were pushed against them
            if not lethalWalls then
                for i in 0 .. 2 * n - 1 do
                    v[i] <- Math.Clamp(v[i], 0.0f, Width)

        // the enemies' health lost in the step (as fractions and in health points), kills, and the dead on each side
        let mutable lostFraction = 0.0f
        let mutable lostHealth = 0.0f
        let mutable kills = 0
        let mutable deadAllies = 0
        let mutable deadEnemies = 0

        for i in 0 .. n - 1 do
            let before, h = state.Values[2 * n + i], v[2 * n + i]

            if i < na then
                if h <= 0.0f then
                    deadAllies <- deadAllies + 1
            else
                lostFraction <- lostFraction + (before - h) / l.MaxHealth[i]
                lostHealth <- lostHealth + (before - h)

                if h <= 0.0f then
                    deadEnemies <- deadEnemies + 1

                    if before > 0.0f then
                        kills <- kills + 1

        let alliesAlive, enemiesAlive = deadAllies < na, deadEnemies < l.NEnemies
        let won = alliesAlive && not enemiesAlive
        let terminated = not (alliesAlive && enemiesAlive)
        let step = state.StepCount + 1

        let reward =
            match l.Rules.Reward with
            | SmaxReward -> MathF.Abs lostFraction / float32 l.NEnemies + (if won then 1.0f else 0.0f)
            | SmacReward ->
                (MathF.Abs lostHealth + 10.0f * float32 kills + (if won then 200.0f else 0.0f))
                * l.RewardScale

        CombatState(l, step, v, previous, state.DefaultTargets),
        {
            Reward = reward
            Terminated = terminated
            Truncated = not terminated && step >= l.Scenario.EpisodeLimit
            Info =
                {
                    // the outcome is reported once, on the episode's last step
                    Won =
                        if terminated || step >= l.Scenario.EpisodeLimit then
                            Some won
                        else
                            None
                    AgentRewards = None
                    Casualties =
                        Some
                            {
                                DeadAllies = deadAllies
                                DeadEnemies = deadEnemies
                            }
                }
        }
