namespace Qmix.Functional

/// <summary>A learning curve that can be read off a run's <see cref="T:Qmix.Functional.TrainingEvent"/>s.</summary>
type Curve =
    /// <summary>The mean return of the greedy test episodes against steps (<c>Tested</c> events).</summary>
    | TestReturn
    /// <summary>The mean return of the exploring training episodes against steps (<c>Collected</c> events).</summary>
    | TrainReturn
    /// <summary>The learner's loss against steps (<c>Updated</c> events).</summary>
    | Loss
    /// <summary>The win rate of the greedy test episodes against steps, where the environment reports wins.</summary>
    | TestWinRate
    /// <summary>The win rate of the training episodes against steps, where the environment reports wins.</summary>
    | TrainWinRate
    /// <summary>The mean Q_tot of the taken joint actions in each update (PyMARL's <c>q_taken_mean</c>).</summary>
    | QTakenMean
    /// <summary>The mean TD target in each update (PyMARL's <c>target_mean</c>).</summary>
    | TargetMean
    /// <summary>The mean |TD error| in each update (PyMARL's <c>td_error_abs</c>).</summary>
    | TdErrorAbs
    /// <summary>The gradient norm before clipping in each update (PyMARL's <c>grad_norm</c>).</summary>
    | GradNorm
    /// <summary>The mean length of the training episodes (PyMARL's <c>ep_length_mean</c>).</summary>
    | TrainEpisodeLength
    /// <summary>The mean length of the greedy test episodes (PyMARL's <c>test_ep_length_mean</c>).</summary>
    | TestEpisodeLength
    /// <summary>The team's mean dead units at the end of a training episode, where the environment reports
    /// casualties.</summary>
    | TrainDeadAllies
    /// <summary>The opponents' mean dead units at the end of a training episode, where the environment reports
    /// casualties.</summary>
    | TrainDeadEnemies
    /// <summary>The team's mean dead units at the end of a test episode, where the environment reports
    /// casualties.</summary>
    | TestDeadAllies
    /// <summary>The opponents' mean dead units at the end of a test episode, where the environment reports
    /// casualties.</summary>
    | TestDeadEnemies

/// <summary>Learning curves read off a run's events.</summary>
[<RequireQualifiedAccess>]
module Curve =

    /// <summary>The legend name of a learning curve: "test return", "train return", "loss", "test win rate",
    /// "train win rate", "Q taken", "target", "TD |error|", "grad norm", "train episode length", "test episode length",
    /// "train dead allies", "train dead enemies", "test dead allies" or "test dead enemies".</summary>
    let name (curve: Curve) : string =
        match curve with
        | TestReturn -> "test return"
        | TrainReturn -> "train return"
        | Loss -> "loss"
        | TestWinRate -> "test win rate"
        | TrainWinRate -> "train win rate"
        | QTakenMean -> "Q taken"
        | TargetMean -> "target"
        | TdErrorAbs -> "TD |error|"
        | GradNorm -> "grad norm"
        | TrainEpisodeLength -> "train episode length"
        | TestEpisodeLength -> "test episode length"
        | TrainDeadAllies -> "train dead allies"
        | TrainDeadEnemies -> "train dead enemies"
        | TestDeadAllies -> "test dead allies"
        | TestDeadEnemies -> "test dead enemies"

    /// <summary>A learning curve read off a run's events, against environment steps, named by
    /// <see cref="M:Qmix.Functional.Curve.name"/>. The points are in the events' order; a win-rate curve has
    /// points only where the events report a win rate (none for environments without wins), a dead-units curve only
    /// where they report casualties.</summary>
    let series (curve: Curve) (events: TrainingEvent seq) : Series =
        let points =
            events
            |> Seq.choose (fun e ->
                match curve, e with
                | TestReturn, Tested t -> Some(float t.Step, float t.MeanReturn)
                | TestWinRate, Tested t -> t.WinRate |> Option.map (fun w -> float t.Step, float w)
                | TrainReturn, Collected c -> Some(float c.Step, float c.MeanReturn)
                | TrainWinRate, Collected c -> c.WinRate |> Option.map (fun w -> float c.Step, float w)
                | Loss, Updated u -> Some(float u.Step, float u.Metrics.Loss)
                | QTakenMean, Updated u -> Some(float u.Step, float u.Metrics.QTakenMean)
                | TargetMean, Updated u -> Some(float u.Step, float u.Metrics.TargetMean)
                | TdErrorAbs, Updated u -> Some(float u.Step, float u.Metrics.TdErrorAbs)
                | GradNorm, Updated u -> Some(float u.Step, float u.Metrics.GradNorm)
                | TrainEpisodeLength, Collected c -> Some(float c.Step, float c.MeanLength)
                | TestEpisodeLength, Tested t -> Some(float t.Step, float t.MeanLength)
                | TrainDeadAllies, Collected c -> c.DeadAllies |> Option.map (fun d -> float c.Step, float d)
                | TrainDeadEnemies, Collected c -> c.DeadEnemies |> Option.map (fun d -> float c.Step, float d)
                | TestDeadAllies, Tested t -> t.DeadAllies |> Option.map (fun d -> float t.Step, float d)
                | TestDeadEnemies, Tested t -> t.DeadEnemies |> Option.map (fun d -> float t.Step, float d)
                | _ -> None)
            |> Array.ofSeq

        { Name = name curve; Points = points }

    /// <summary>The curves of <c>curves</c> that have points in a run's events, in that order (e.g.
    /// <c>[TestReturn; TrainReturn]</c> for a return chart, <c>[TestWinRate; TrainWinRate]</c> for a win-rate chart
    /// that is empty when the environment reports no wins).</summary>
    let seriesWithPoints (curves: Curve list) (events: TrainingEvent seq) : Series list =
        let events = Array.ofSeq events

        curves
        |> List.map (fun c -> series c events)
        |> List.filter (fun s -> s.Points.Length > 0)
