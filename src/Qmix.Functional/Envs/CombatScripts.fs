namespace Qmix.Functional.Envs

open System
open System.Text
open Qmix.Tensors
open Qmix.Functional

/// <summary>Scripted policies of the combat environment: SMAX's heuristic enemy, the heuristic baseline
/// and the focus-fire team.</summary>
[<RequireQualifiedAccess>]
module CombatScripts =
    open CombatWorld


    /// The direction (0 N, 1 E, 2 S, 3 W) whose unit vector has the largest dot product with (dx, dy);
    /// ties go to the lower index.
    let inline private headingTo (dx: float32) (dy: float32) =
        let mutable best = 0
        let mutable score = dy

        if dx > score then
            best <- 1
            score <- dx

        if -dy > score then
            best <- 2
            score <- -dy

        if -dx > score then
            best <- 3

        best

    /// Writes the SMAX heuristic's choice for every enemy into out[0 .. enemies).
    let internal enemyHeuristicInto (state: CombatState) (key: Key) (out: int[]) (at: int) =
        let l = state.Layout
        let v, prev = state.Values, state.Previous
        let n, na = l.N, l.NAllies

        for k in 0 .. l.NEnemies - 1 do
            let u = na + k

            if v[2 * n + u] <= 0.0f then
                out[at + k] <- Stop
            else
                let sight2, range2 = l.Sight2[u], l.Range2[u]
                // opponent o (the enemy's numbering) is ally na - 1 - o
                let inline shootable (j: int) =
                    if v[2 * n + j] > 0.0f then
                        let d2 = dist2 v n u j
                        d2 < sight2 && d2 < range2
                    else
                        false

                let last = targetOf l u prev[u]

                if last >= 0 && shootable last then
                    out[at + k] <- prev[u]
                else
                    let mutable best = -1
                    let mutable bestD2 = Single.PositiveInfinity
                    let mutable visible = 0

                    for o in 0 .. na - 1 do
                        let j = na - 1 - o

                        if v[2 * n + j] > 0.0f then
                            let d2 = dist2 v n u j

                            if d2 < sight2 then
                                visible <- visible + 1

                                if d2 < range2 && d2 < bestD2 then
                                    best <- o
                                    bestD2 <- d2

                    if best >= 0 then
                        out[at + k] <- AttackBase + best
                    else
                        let mutable tx = state.DefaultTargets[k]
                        let mutable ty = state.DefaultTargets[l.NEnemies + k]

                        if visible > 0 then
                            // a uniformly random visible opponent (multiply-shift; bias below 2^-32 · visible)
                            let w = Rng.bits key (choiceIndex n k)
                            let pick = int ((w >>> 32) * uint64 visible >>> 32)
                            let mutable seen = 0

                            for o in 0 .. na - 1 do
                                let j = na - 1 - o

                                if v[2 * n + j] > 0.0f && dist2 v n u j < sight2 then
                                    if seen = pick then
                                        tx <- v[j]
                                        ty <- v[n + j]

                                    seen <- seen + 1

                        out[at + k] <- headingTo (tx - v[u]) (ty - v[n + u])

    /// <summary>The enemies' actions under SMAX's <c>HeuristicEnemySMAX</c> (<c>attack_mode="closest"</c>,
    /// enemies shoot), in the enemies' numbering (attack k targets ally <c>NAllies − 1 − k</c>). A living enemy
    /// sees the allies that are alive and strictly within its sight range; it keeps attacking the ally it
    /// attacked in the previous step while that ally is within its attack range, else attacks the closest ally
    /// within range; when none is, it heads for a visible ally drawn uniformly at random from the key (a new
    /// draw every step), or, seeing none, for its start position rotated 180° about the arena's centre — by the
    /// one of N, E, S, W with the largest dot product with the way there. It never stops; dead enemies stop.
    /// </summary>
    /// <param name="state">The state.</param>
    /// <param name="key">The key of the random choices (the step's key, as <c>Combat.make</c> uses it).</param>
    let enemyHeuristic (state: CombatState) (key: Key) : int[] =
        let out = Array.zeroCreate state.NEnemies
        enemyHeuristicInto state key out 0
        out

    /// <summary>The baseline policy for the allies: every living ally keeps attacking the enemy it attacked in
    /// the previous step while that enemy is alive and within range; otherwise it attacks the nearest living
    /// enemy within its attack range; when no enemy is within range it moves toward the nearest living enemy
    /// (by the one of N, E, S, W with the largest dot product with the way there). Dead allies stop. It sees
    /// the whole state (no sight limit) and uses no randomness; its actions are always available.</summary>
    /// <param name="state">The state.</param>
    /// <returns>One action per agent.</returns>
    let heuristic (state: CombatState) : int[] =
        let l = state.Layout
        let v, prev = state.Values, state.Previous
        let n, na = l.N, l.NAllies
        let out = Array.create na Stop

        for i in 0 .. na - 1 do
            if v[2 * n + i] > 0.0f then
                let last = targetOf l i prev[i]

                if last >= 0 && v[2 * n + last] > 0.0f && dist2 v n i last < l.Range2[i] then
                    out[i] <- prev[i]
                else
                    let mutable nearest = -1
                    let mutable nearestD2 = Single.PositiveInfinity

                    for j in na .. n - 1 do
                        if v[2 * n + j] > 0.0f then
                            let d2 = dist2 v n i j

                            if d2 < nearestD2 then
                                nearest <- j
                                nearestD2 <- d2

                    if nearest >= 0 then
                        if nearestD2 < l.Range2[i] then
                            out[i] <- AttackBase + nearest - na
                        else
                            out[i] <- headingTo (v[nearest] - v[i]) (v[n + nearest] - v[n + i])

        out

    /// <summary>A coordinated scripted policy: focus fire. The team picks one target: the living enemy with the
    /// lowest health among those within attack range of some living ally (ties to the lower index), or, when no
    /// enemy is within anyone's range, the living enemy closest to the allies' centre. Every living ally that has
    /// the target within its range attacks it; one that does not but has other enemies within range attacks the
    /// one of them with the lowest health (a shot now beats a walk); any other closes in on the target (by the one
    /// of N, E, S, W with the largest dot product with the way there). Dead allies stop. It sees the whole state
    /// and uses no randomness; its actions are always available.</summary>
    /// <param name="state">The state.</param>
    /// <returns>One action per agent.</returns>
    let focusFire (state: CombatState) : int[] =
        let l = state.Layout
        let v = state.Values
        let n, na = l.N, l.NAllies
        let out = Array.create na Stop
        let alive i = v[2 * n + i] > 0.0f
        let inRange i j = dist2 v n i j < l.Range2[i]
        // the team's target: the weakest enemy someone can shoot, else the enemy nearest the allies' centre
        let mutable target = -1

        for j in na .. n - 1 do
            if alive j && (target < 0 || v[2 * n + j] < v[2 * n + target]) then
                let mutable reachable = false

                for i in 0 .. na - 1 do
                    if alive i && inRange i j then
                        reachable <- true

                if reachable then
                    target <- j

        if target < 0 then
            let mutable cx, cy, count = 0.0f, 0.0f, 0

            for i in 0 .. na - 1 do
                if alive i then
                    cx <- cx + v[i]
                    cy <- cy + v[n + i]
                    count <- count + 1

            if count > 0 then
                cx <- cx / float32 count
                cy <- cy / float32 count
                let mutable best = Single.PositiveInfinity

                for j in na .. n - 1 do
                    if alive j then
                        let dx, dy = v[j] - cx, v[n + j] - cy
                        let d2 = dx * dx + dy * dy

                        if d2 < best then
                            best <- d2
                            target <- j

        if target >= 0 then
            for i in 0 .. na - 1 do
                if alive i then
                    if inRange i target then
                        out[i] <- AttackBase + target - na
                    else
                        let mutable weakest = -1

                        for j in na .. n - 1 do
                            if alive j && inRange i j && (weakest < 0 || v[2 * n + j] < v[2 * n + weakest]) then
                                weakest <- j

                        out[i] <-
                            if weakest >= 0 then
                                AttackBase + weakest - na
                            else
                                headingTo (v[target] - v[i]) (v[n + target] - v[n + i])

        out
