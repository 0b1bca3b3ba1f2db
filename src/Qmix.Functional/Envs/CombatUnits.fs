namespace Qmix.Functional.Envs

open Qmix.Functional

/// <summary>A unit type of the combat simulator: SMAX's six types (JaxMARL <c>smax_env.py</c>, in SMAX's index
/// order) and the colossus of SMAC's <c>1c3s5z</c> map.</summary>
type UnitType =
    /// <summary>Terran marine (SMAX index 0, shorthand m).</summary>
    | Marine
    /// <summary>Terran marauder (SMAX index 1, shorthand M).</summary>
    | Marauder
    /// <summary>Protoss stalker (SMAX index 2, shorthand s).</summary>
    | Stalker
    /// <summary>Protoss zealot (SMAX index 3, shorthand Z).</summary>
    | Zealot
    /// <summary>Zerg zergling (SMAX index 4, shorthand z).</summary>
    | Zergling
    /// <summary>Zerg hydralisk (SMAX index 5, shorthand h).</summary>
    | Hydralisk
    /// <summary>Protoss colossus (index 6, not in SMAX; shorthand c). Its numbers are StarCraft II's, as on
    /// SMAC's maps, converted with SMAX's conventions: see <c>UnitType.stats</c>.</summary>
    | Colossus

/// <summary>The fixed numbers of a unit type. Times are in SMAX's time units (one world tick is 1/16, one
/// environment step 8 ticks = 0.5); distances in arena units (the arena is 32 × 32).</summary>
type UnitStats =
    {
        /// <summary>Distance moved per time unit (so <c>Speed / 16</c> per tick).</summary>
        Speed: float32
        /// <summary>Health removed from the target by one successful attack.</summary>
        Damage: float32
        /// <summary>An attack needs the centre-to-centre distance to be strictly below this.</summary>
        AttackRange: float32
        /// <summary>Other units are observed when their distance is strictly below this.</summary>
        SightRange: float32
        /// <summary>The unit's radius, for pushing overlapping units apart.</summary>
        Radius: float32
        /// <summary>Health at the start of an episode (shields folded in, as in SMAX).</summary>
        MaxHealth: float32
        /// <summary>The weapon cooldown after a successful attack, before the random jitter.</summary>
        Cooldown: float32
    }

/// <summary>Unit-type helpers: stats, indices, shorthands.</summary>
[<RequireQualifiedAccess>]
module UnitType =
    /// <summary>Every unit type, in index order (SMAX's six, then the colossus).</summary>
    let all: UnitType list =
        [ Marine; Marauder; Stalker; Zealot; Zergling; Hydralisk; Colossus ]

    /// <summary>The type's index: SMAX's index for its six types (marine 0 … hydralisk 5), 6 for the colossus.
    /// It is the position of the type's one-hot bit in observations and the number in the global state's type
    /// column.</summary>
    let index (t: UnitType) : int =
        match t with
        | Marine -> 0
        | Marauder -> 1
        | Stalker -> 2
        | Zealot -> 3
        | Zergling -> 4
        | Hydralisk -> 5
        | Colossus -> 6

    /// <summary>SMAX's one-letter shorthand (m, M, s, Z, z, h), and c for the colossus.</summary>
    let shorthand (t: UnitType) : char =
        match t with
        | Marine -> 'm'
        | Marauder -> 'M'
        | Stalker -> 's'
        | Zealot -> 'Z'
        | Zergling -> 'z'
        | Hydralisk -> 'h'
        | Colossus -> 'c'

    /// <summary>The lower-case name, e.g. <c>marine</c>.</summary>
    let name (t: UnitType) : string =
        match t with
        | Marine -> "marine"
        | Marauder -> "marauder"
        | Stalker -> "stalker"
        | Zealot -> "zealot"
        | Zergling -> "zergling"
        | Hydralisk -> "hydralisk"
        | Colossus -> "colossus"

    /// <summary>The type's stats. The first six rows are SMAX's constructor defaults (JaxMARL
    /// <c>smax_env.py</c>):
    /// <code>
    /// type       speed  damage  range  sight  radius  health  cooldown
    /// marine     3.15    9       5      9     0.375     45     0.61
    /// marauder   2.25   10       6     10     0.5625   125     1.07
    /// stalker    4.13   13       6     10     0.625    160     1.87
    /// zealot     3.15    8       2      9     0.5      150     0.86
    /// zergling   4.13    5       2      8     0.375     35     0.5
    /// hydralisk  3.15   12       5      9     0.625     80     0.59
    /// colossus   3.15   10       7     10     1.0      350     1.07
    /// </code>
    /// SMAX has no colossus. Its row comes from StarCraft II (Legacy of the Void) unit data, the game SMAC's
    /// <c>1c3s5z</c> map runs on (SMAC itself reads unit stats from the game; its only colossus constant is
    /// the 24-game-loop maximum cooldown used to normalise the state): 200 health + 150 shields = 350 (SMAX
    /// folds shields into health), movement speed 3.15, weapon range 7 (without the range upgrade), sight 10,
    /// radius 1.0, weapon period 1.07 s at "faster" game speed (the clock of SMAX's marine 0.61 and zealot 0.86).
    /// The Thermal Lances deal 10 (+5 against light units) in two beams; SMAX lists one hit of a multi-hit
    /// weapon and no attribute bonuses (the zealot's 8 × 2 is 8), so the colossus deals 10. Its line splash is
    /// not modelled: an attack hits only its target.</summary>
    let stats (t: UnitType) : UnitStats =
        let s speed damage range sight radius health cooldown =
            {
                Speed = speed
                Damage = damage
                AttackRange = range
                SightRange = sight
                Radius = radius
                MaxHealth = health
                Cooldown = cooldown
            }

        match t with
        | Marine -> s 3.15f 9.0f 5.0f 9.0f 0.375f 45.0f 0.61f
        | Marauder -> s 2.25f 10.0f 6.0f 10.0f 0.5625f 125.0f 1.07f
        | Stalker -> s 4.13f 13.0f 6.0f 10.0f 0.625f 160.0f 1.87f
        | Zealot -> s 3.15f 8.0f 2.0f 9.0f 0.5f 150.0f 0.86f
        | Zergling -> s 4.13f 5.0f 2.0f 8.0f 0.375f 35.0f 0.5f
        | Hydralisk -> s 3.15f 12.0f 5.0f 9.0f 0.625f 80.0f 0.59f
        | Colossus -> s 3.15f 10.0f 7.0f 10.0f 1.0f 350.0f 1.07f

/// <summary>A combat scenario: the two armies and the episode limit. Copy it with another
/// <c>EpisodeLimit</c> to change the limit (<c>{ s with EpisodeLimit = 200 }</c>).</summary>
type Scenario =
    {
        /// <summary>The map name, e.g. <c>3s5z</c>; the environment is named <c>combat:</c> + this.</summary>
        Name: string
        /// <summary>The learning team's units, in agent order (agent i controls unit i).</summary>
        Allies: UnitType list
        /// <summary>The scripted opponents' units, in index order.</summary>
        Enemies: UnitType list
        /// <summary>The most steps an episode may take; reaching it truncates the episode.</summary>
        EpisodeLimit: int
    }

/// <summary>The team reward of the combat environment.</summary>
type CombatReward =
    /// <summary>SMAC's (<c>reward_only_positive</c>, the default of StarCraft II's SMAC): each step pays the enemies'
    /// health lost in health points, plus 10 for each enemy killed in the step, plus 200 when the battle is won;
    /// every payment is scaled by 20 / (the enemies' total maximum health + 10 · enemies + 200), so a perfect
    /// episode pays 20.</summary>
    | SmacReward
    /// <summary>SMAX's (JaxMARL): the enemies' health lost in the step as fractions of their maximum health, summed
    /// and divided by the number of enemies, plus 1 when the battle is won; a perfect episode pays 2. No kill
    /// bonus: a learner sees little difference between wounding and killing.</summary>
    | SmaxReward

/// <summary>The form of the combat environment's global state (what QMIX's hypernetworks read).</summary>
type CombatStateForm =
    /// <summary>Normalised as SMAC's state is: per unit (allies, then enemies) the health fraction, the weapon
    /// cooldown over the type's cooldown (clipped to [0, 1]), the position relative to the arena's centre over half
    /// the arena ((x − 16) / 16, (y − 16) / 16), and the type one-hot, zero for dead units; then every agent's
    /// previous action, one-hot (SMAC's <c>state_last_action</c>). Every feature lies in [−1, 1].</summary>
    | NormalisedState
    /// <summary>SMAX's <c>world_state</c>: per unit the health fraction, raw x and y (0 to 32), raw cooldown and the
    /// type one-hot; then every unit's team (0 or 1) and type index (0 to 6). Fed to a mixer with PyMARL's
    /// initialisation, positions of up to 32 scale the mixing weights by as much and QMIX diverges.</summary>
    | RawState

/// <summary>What the arena's boundary does to a unit that reaches it.</summary>
type CombatWalls =
    /// <summary>SMAC's maps: the boundary stops a unit (it stays at the edge, unharmed).</summary>
    | BlockingWalls
    /// <summary>SMAX's <c>walls_cause_death</c>: a unit on or beyond the boundary dies. Under random exploration
    /// many allies walk to their death before they meet the enemy.</summary>
    | LethalWalls

/// <summary>How a unit's weapon cooldown is set after an attack.</summary>
type CombatCooldown =
    /// <summary>SMAX's rule, the default: the type's cooldown plus a jitter uniform in [−1/16, 2/16) time units,
    /// drawn from the step key, so that a close battle can turn on chance.</summary>
    | JitteredCooldown
    /// <summary>The type's cooldown exactly: the only chance left in a battle is the scripted enemy's choice of a
    /// unit to approach.</summary>
    | FixedCooldown

/// <summary>The rules of the combat environment that differ between SMAC and SMAX. <c>CombatRules.defaults</c>
/// is SMAC's (shaped reward, normalised state, blocking walls); <c>CombatRules.smax</c> is SMAX's.</summary>
type CombatRules =
    {
        /// <summary>The team reward.</summary>
        Reward: CombatReward
        /// <summary>The global state's form.</summary>
        State: CombatStateForm
        /// <summary>The boundary.</summary>
        Walls: CombatWalls
        /// <summary>The weapon cooldown after an attack (jittered in both SMAC's and SMAX's rules here).</summary>
        Cooldown: CombatCooldown
    }

    /// <summary>SMAC's rules, the default: <c>SmacReward</c>, <c>NormalisedState</c>, <c>BlockingWalls</c>.</summary>
    static member defaults =
        {
            Reward = SmacReward
            State = NormalisedState
            Walls = BlockingWalls
            Cooldown = JitteredCooldown
        }

    /// <summary>SMAX's rules: <c>SmaxReward</c>, <c>RawState</c>, <c>LethalWalls</c>.</summary>
    static member smax =
        {
            Reward = SmaxReward
            State = RawState
            Walls = LethalWalls
            Cooldown = JitteredCooldown
        }
