using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.FSharp.Core;
using F = Qmix.Functional;
using CoreTrainer = Qmix.Functional.Trainer<object, Qmix.Functional.MixerParams>;
using CoreState = Qmix.Functional.TrainingState<Qmix.Functional.MixerParams>;

namespace Qmix;

/// <summary>Trains agents on an environment with the QMIX family (PyMARL's loop): collect episodes with ε-greedy
/// agents, store them in a replay buffer, update the agents and the mixer on sampled batches, follow with the
/// target networks, evaluate greedily every <see cref="TrainingOptions.TestInterval"/> steps.</summary>
/// <remarks>
/// <para>The run is deterministic: the same environment, options and seed give the same run.
/// <see cref="Train"/> continues from where the trainer is, so a cancelled run continues when
/// <see cref="Train"/> is called again, and <see cref="Resume"/> continues a saved one exactly.</para>
/// <para>One call of <see cref="Train"/> at a time; <see cref="Save"/> may be called from an <see cref="Evaluated"/>
/// handler or from another thread while training (it saves the last completed iteration).</para>
/// </remarks>
public sealed class Trainer : IDisposable
{
    readonly CoreTrainer core;
    readonly string? checkpointStem;
    readonly CancellationTokenSource disposal = new();
    CoreState state;
    int running;
    bool disposed;

    /// <summary>Creates a trainer with fresh parameters drawn from <see cref="TrainingOptions.Seed"/>.</summary>
    /// <param name="environment">The environment to train on: a built-in one from <see cref="Environments"/>, or a
    /// user's own <see cref="IMultiAgentEnvironment"/> (wrapped by
    /// <see cref="Environments.Custom(IMultiAgentEnvironment)"/>).</param>
    /// <param name="options">The settings; null for the defaults (the QMIX paper's).</param>
    /// <exception cref="ArgumentNullException"><paramref name="environment"/> is null.</exception>
    /// <exception cref="ArgumentException">The options do not fit together (e.g. a buffer smaller than a
    /// batch).</exception>
    public Trainer(IMultiAgentEnvironment environment, TrainingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(environment);
        options ??= new TrainingOptions();
        options.Validate(nameof(options));
        Environment = MultiAgentEnvironment.From(environment, nameof(environment));
        Options = options;
        checkpointStem = options.CheckpointDirectory is { } dir ? Path.Combine(dir, "model") : null;
        core = F.Training.create(options.ToConfig(checkpointStem), Environment.Core);
        state = WithBatchesReused(F.Training.init(core));
    }

    /// <summary>The state with its batches sampled into reused memory: this loop keeps no batch beyond its update, and
    /// fresh batches of a large map (a gigabyte each for combat:27m_vs_30m) would pile up as garbage, doubling the
    /// process's memory.</summary>
    static CoreState WithBatchesReused(CoreState s)
    {
        if (s.Learner.Workspace is { } ws) ws.RecyclesBatches = true;
        return s;
    }

    /// <summary>The environment trained on (a user's environment wrapped in its handle).</summary>
    public MultiAgentEnvironment Environment { get; }

    /// <summary>The environment's sizes.</summary>
    public EnvironmentSpec Spec => Environment.Spec;

    /// <summary>The settings.</summary>
    public TrainingOptions Options { get; }

    /// <summary>Environment steps taken so far.</summary>
    public int Step => state.Counters.Step;

    /// <summary>Episodes collected so far.</summary>
    public int Episode => state.Counters.Episode;

    /// <summary>Learner updates taken so far.</summary>
    public int Updates => state.Learner.Updates;

    /// <summary>The greedy policy of the last completed iteration: a snapshot of the agents' current parameters
    /// with a fresh memory. Each read gives a new <see cref="Qmix.Policy"/>, unaffected by further training.</summary>
    public Policy Policy => new(Spec, Options, state.Learner.Params);

    /// <summary>Whether the run has taken <see cref="TrainingOptions.TotalSteps"/> steps.</summary>
    public bool IsComplete => F.Training.isDone(core, state);

    /// <summary>The least time between two progress reports (250 ms). Progress is also reported after every
    /// evaluation, after every warning and at the end.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A negative time.</exception>
    public TimeSpan ProgressInterval
    {
        get;
        set => field = value >= TimeSpan.Zero
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "ProgressInterval must not be negative");
    } = TimeSpan.FromMilliseconds(250);

    /// <summary>Raised on the training thread after each greedy evaluation, once the iteration that ran it is
    /// complete (so a handler may call <see cref="Save"/>).</summary>
    public event EventHandler<TrainingEvaluation>? Evaluated;

    /// <summary>Raised on the training thread when a learner quantity leaves its plausible range (the Q-values are
    /// diverging; see <see cref="TrainingWarning"/>), once per quantity and call of <see cref="Train"/>, once the
    /// iteration that showed it is complete.</summary>
    public event EventHandler<TrainingWarning>? Warned;

    /// <summary>Trains until <see cref="TrainingOptions.TotalSteps"/> steps are taken, on the calling thread.</summary>
    /// <param name="progress">Receives progress at most every <see cref="ProgressInterval"/>, after each
    /// evaluation and warning, and at the end; may be null.</param>
    /// <param name="cancellationToken">Stops training between two iterations. When
    /// <see cref="TrainingOptions.CheckpointDirectory"/> is set, a checkpoint of the last completed iteration is
    /// written before the exception is thrown.</param>
    /// <returns>What this call achieved.</returns>
    /// <exception cref="OperationCanceledException">Training was cancelled (or the trainer disposed); the trainer
    /// keeps the last completed iteration, and a later call continues from there.</exception>
    /// <exception cref="TrainingDivergedException">The loss or the gradient norm became NaN or infinite, or an agent's
    /// Q-value while acting did (the message names the agent and the step).</exception>
    /// <exception cref="InvalidOperationException">Another call is already training, or a user's environment
    /// broke its contract (arrays of the wrong size, a non-finite reward, an agent without an available
    /// action).</exception>
    /// <exception cref="ObjectDisposedException">The trainer was disposed.</exception>
    /// <exception cref="CheckpointFailedException">A checkpoint could not be written and
    /// <see cref="TrainingOptions.OnCheckpointFailure"/> is <see cref="CheckpointFailure.Stop"/>.</exception>
    /// <remarks>A <see cref="Progress{T}"/> posts each report to the synchronisation context it was created on (the
    /// thread pool in a console app), so its reports may arrive out of order and after this method returns; the
    /// <see cref="Train(Action{TrainingProgress}, CancellationToken)"/> overload delivers them synchronously.</remarks>
    [OverloadResolutionPriority(1)]
    public TrainingResult Train(IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (Interlocked.Exchange(ref running, 1) != 0)
            throw new InvalidOperationException("this trainer is already training");
        try
        {
            return Run(progress, cancellationToken);
        }
        finally
        {
            Volatile.Write(ref running, 0);
        }
    }

    /// <summary>Trains until <see cref="TrainingOptions.TotalSteps"/> steps are taken, on the calling thread, calling
    /// <paramref name="onProgress"/> synchronously with each report: on the training thread, in order of steps, and
    /// every call before this method returns.</summary>
    /// <param name="onProgress">Called with progress at most every <see cref="ProgressInterval"/>, after each
    /// evaluation and warning, and at the end; training waits for it to return, and an exception it throws ends
    /// training and propagates to the caller (the trainer keeps the last completed iteration). Null for no
    /// progress.</param>
    /// <param name="cancellationToken">Stops training between two iterations, as in
    /// <see cref="Train(IProgress{TrainingProgress}, CancellationToken)"/>.</param>
    /// <returns>What this call achieved.</returns>
    /// <exception cref="OperationCanceledException">Training was cancelled (or the trainer disposed).</exception>
    /// <exception cref="TrainingDivergedException">The loss or the gradient norm became NaN or infinite.</exception>
    /// <exception cref="InvalidOperationException">Another call is already training, or a user's environment
    /// broke its contract.</exception>
    /// <exception cref="ObjectDisposedException">The trainer was disposed.</exception>
    public TrainingResult Train(Action<TrainingProgress>? onProgress, CancellationToken cancellationToken = default) =>
        Train(onProgress is null ? null : new CallbackProgress(onProgress), cancellationToken);

    /// <summary>Calls an action with each report, on the reporting thread.</summary>
    internal sealed class CallbackProgress(Action<TrainingProgress> action) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => action(value);
    }

    /// <summary>Trains until <see cref="TrainingOptions.TotalSteps"/> steps are taken, on a thread-pool thread; see
    /// <see cref="Train"/>.</summary>
    /// <param name="progress">Receives progress (a <see cref="Progress{T}"/> posts it to the caller's
    /// synchronisation context); may be null.</param>
    /// <param name="cancellationToken">Stops training between two iterations.</param>
    /// <returns>What the run achieved.</returns>
    /// <exception cref="OperationCanceledException">Training was cancelled.</exception>
    /// <exception cref="TrainingDivergedException">The loss or the gradient norm became NaN or infinite.</exception>
    public Task<TrainingResult> TrainAsync(
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => Train(progress, cancellationToken), cancellationToken);

    /// <summary>Writes a resumable checkpoint of the last completed iteration: <c>NAME.safetensors</c> (the
    /// parameters under PyTorch's state_dict names, loadable by <see cref="Qmix.Policy.Load(string)"/> and into PyTorch),
    /// <c>NAME.train.safetensors</c> (targets, optimiser and replay buffer), <c>NAME.json</c> (the F# core's
    /// sidecar) and <c>NAME.options.json</c> (the spec and these options).</summary>
    /// <param name="path">The checkpoint path, with or without <c>.safetensors</c>, e.g. <c>runs/3m/model</c>;
    /// directories are created.</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="IOException">The files cannot be written.</exception>
    public void Save(string path)
    {
        Guard.NotEmpty(path, nameof(path));
        ObjectDisposedException.ThrowIf(disposed, this);
        Write(path, state);
    }

    /// <summary>Continues from a checkpoint written by <see cref="Save"/> (for the same environment and
    /// algorithm): parameters, optimiser, replay buffer and counters. The continued run is bit-identical to an
    /// uninterrupted one.</summary>
    /// <param name="path">The checkpoint path, with or without <c>.safetensors</c>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="FileNotFoundException">There is no checkpoint at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">The checkpoint is corrupt, torn, or of another environment or
    /// mixer.</exception>
    /// <exception cref="InvalidOperationException">The trainer is training.</exception>
    public void Resume(string path)
    {
        Guard.NotEmpty(path, nameof(path));
        ObjectDisposedException.ThrowIf(disposed, this);
        if (Volatile.Read(ref running) != 0) throw new InvalidOperationException("cannot resume while training");
        // a process killed while a save swapped files left the previous checkpoint aside as .bak: put it back
        F.Checkpoint.recover(path);
        var model = ModelFiles.ModelPath(path);
        if (!File.Exists(model)) throw new FileNotFoundException($"no checkpoint at {model}", model);
        try
        {
            state = WithBatchesReused(F.Training.resume(core, path));
        }
        catch (F.CheckpointException e)
        {
            throw new InvalidDataException(e.Message, e);
        }
    }

    /// <summary>Stops a running <see cref="Train"/> (it throws <see cref="OperationCanceledException"/>) and
    /// makes the trainer unusable.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        disposal.Cancel();
    }

    /// <summary>Raised on the training thread after each checkpoint the trainer writes while training (periodic, final,
    /// or on cancellation), with its size and the time it took.</summary>
    public event EventHandler<CheckpointWritten>? CheckpointWritten;

    /// <summary>Writes a checkpoint (without the replay buffer's episodes when the options say so); returns what was
    /// written.</summary>
    CheckpointWritten Write(string path, CoreState s)
    {
        var clock = Stopwatch.StartNew();
        var held = F.ReplayModule.bytes(s.Replay);
        if (Options.CheckpointReplay == CheckpointReplay.None)
            s = new CoreState(s.Learner, F.ReplayModule.emptyWith(s.Replay.Precision, Options.BufferSize), s.Counters, s.Diagnostics);
        F.Training.save(core, path, s);
        ModelFiles.WriteSidecar(path, Spec, Options);
        var (model, train, sidecar) = F.Checkpoint.paths(path);
        var bytes = new[] { model, train, sidecar, ModelFiles.SidecarPath(path) }.Where(File.Exists).Sum(f => new FileInfo(f).Length);
        return new CheckpointWritten(s.Counters.Step, model, bytes, F.ReplayModule.count(s.Replay), clock.Elapsed, held);
    }

    // the step of the last checkpoint tried, written or not: a failed one is tried again an interval later
    int lastSaveAttempt;

    // the warnings of the current Train call (diagnostics, and checkpoints that could not be written)
    List<TrainingWarning> warnings = [];

    /// <summary>Writes the periodic checkpoint and records its step in the counters. A checkpoint that cannot be
    /// written (a full disk, a read-only directory) does not stop training: the previous checkpoint stays, the failure
    /// is reported as a warning (quantity "checkpoint"), and the next one is tried at the next interval.</summary>
    void Checkpoint()
    {
        var c = state.Counters;
        lastSaveAttempt = c.Step;
        var next = new CoreState(state.Learner, state.Replay, new F.Counters(c.Step, c.Episode, c.LastTestStep, c.Step, c.Key),
            state.Diagnostics);
        try
        {
            var written = Write(checkpointStem!, next);
            state = next;
            CheckpointWritten?.Invoke(this, written);
        }
        catch (F.CheckpointSaveException e)
        {
            if (Options.OnCheckpointFailure == CheckpointFailure.Stop)
                throw new CheckpointFailedException(
                    $"{e.Message}; training stopped at step {c.Step} (on_checkpoint_failure: stop)", c.Step, e.InnerException);
            var w = new TrainingWarning(c.Step, c.Episode, "checkpoint", double.NaN, double.NaN, e.Message);
            warnings.Add(w);
            Warned?.Invoke(this, w);
        }
    }

    static double? Value(FSharpOption<float>? option) => option is null ? null : option.Value;

    /// <summary>One iteration; NaN or infinite Q-values while acting stop training as a divergence (the state before
    /// the iteration is kept).</summary>
    (CoreState, Microsoft.FSharp.Collections.FSharpList<F.TrainingEvent>) Iterate()
    {
        try
        {
            var t = F.Training.iterate(core, state);
            return (t.Item1, t.Item2);
        }
        catch (F.NonFiniteQValueException e)
        {
            throw new TrainingDivergedException(
                $"training diverged at step {state.Counters.Step} (episode {state.Counters.Episode}): {e.Message}; " +
                "the trainer keeps the state before this iteration", state.Counters.Step, state.Counters.Episode);
        }
    }

    TrainingResult Run(IProgress<TrainingProgress>? progress, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var startStep = state.Counters.Step;
        var evaluations = new List<TrainingEvaluation>();
        warnings = new List<TrainingWarning>();
        lastSaveAttempt = state.Counters.LastSaveStep;
        double? epsilon = null, loss = null, trainReturn = null, trainWin = null, testReturn = null, testWin = null;
        double? qTaken = null, target = null, tdError = null, gradNorm = null;
        double? trainLength = null, trainDeadAllies = null, trainDeadEnemies = null;
        TrainingEvaluation? lastTest = null;
        TimeSpan? lastReport = null;
        var saved = false;

        TrainingProgress Snapshot() => new()
        {
            Step = state.Counters.Step,
            TotalSteps = Options.TotalSteps,
            Episode = state.Counters.Episode,
            Updates = state.Learner.Updates,
            Epsilon = epsilon,
            Loss = loss,
            QTakenMean = qTaken,
            TargetMean = target,
            MeanAbsoluteTDError = tdError,
            GradientNorm = gradNorm,
            TrainReturn = trainReturn,
            TrainWinRate = trainWin,
            TrainEpisodeLength = trainLength,
            TrainDeadAllies = trainDeadAllies,
            TrainDeadEnemies = trainDeadEnemies,
            TestReturn = testReturn,
            TestWinRate = testWin,
            TestEpisodeLength = lastTest?.MeanEpisodeLength,
            TestDeadAllies = lastTest?.DeadAllies,
            TestDeadEnemies = lastTest?.DeadEnemies,
            Warnings = warnings.ToArray(),
            StepsPerSecond = (state.Counters.Step - startStep) / Math.Max(clock.Elapsed.TotalSeconds, 1e-9),
            Elapsed = clock.Elapsed,
        };

        try
        {
            while (!F.Training.isDone(core, state))
            {
                // the caller's token, so that TrainAsync's task ends up Canceled
                ct.ThrowIfCancellationRequested();
                disposal.Token.ThrowIfCancellationRequested();
                var (next, events) = Iterate();
                var tested = new List<TrainingEvaluation>();
                var warned = new List<TrainingWarning>();
                foreach (var e in events)
                {
                    switch (e)
                    {
                        case F.TrainingEvent.Collected c:
                            epsilon = c.Item.Epsilon;
                            trainReturn = c.Item.MeanReturn;
                            trainWin = Value(c.Item.WinRate);
                            trainLength = c.Item.MeanLength;
                            trainDeadAllies = Value(c.Item.DeadAllies);
                            trainDeadEnemies = Value(c.Item.DeadEnemies);
                            break;
                        case F.TrainingEvent.Updated u:
                            var m = u.Item.Metrics;
                            if (!float.IsFinite(m.Loss) || !float.IsFinite(m.GradNorm))
                                throw new TrainingDivergedException(
                                    $"training diverged at step {u.Item.Step} (episode {u.Item.Episode}): loss {m.Loss}, " +
                                    $"gradient norm {m.GradNorm}; the trainer keeps the state before this update",
                                    u.Item.Step, u.Item.Episode);
                            loss = m.Loss;
                            qTaken = m.QTakenMean;
                            target = m.TargetMean;
                            tdError = m.TdErrorAbs;
                            gradNorm = m.GradNorm;
                            break;
                        case F.TrainingEvent.Warned w:
                            warned.Add(TrainingWarning.From(w.Item));
                            break;
                        case F.TrainingEvent.Tested t:
                            tested.Add(new TrainingEvaluation(t.Item.Step, t.Item.Episode, t.Item.MeanReturn, Value(t.Item.WinRate))
                            {
                                MeanEpisodeLength = t.Item.MeanLength,
                                DeadAllies = Value(t.Item.DeadAllies),
                                DeadEnemies = Value(t.Item.DeadEnemies),
                            });
                            break;
                    }
                }
                state = next;
                saved = false;
                var counters = state.Counters;
                if (checkpointStem is not null && Options.SaveInterval > 0
                    && counters.Step - Math.Max(counters.LastSaveStep, lastSaveAttempt) >= Options.SaveInterval)
                {
                    Checkpoint();
                    saved = true;
                }
                foreach (var w in warned)
                {
                    warnings.Add(w);
                    Warned?.Invoke(this, w);
                }
                foreach (var ev in tested)
                {
                    evaluations.Add(ev);
                    testReturn = ev.MeanReturn;
                    testWin = ev.WinRate;
                    lastTest = ev;
                    Evaluated?.Invoke(this, ev);
                }
                if (progress is not null && (tested.Count > 0 || warned.Count > 0 || lastReport is not { } last || clock.Elapsed - last >= ProgressInterval))
                {
                    lastReport = clock.Elapsed;
                    progress.Report(Snapshot());
                }
            }
        }
        catch (OperationCanceledException) when (checkpointStem is not null)
        {
            if (!saved) Checkpoint();
            throw;
        }

        if (checkpointStem is not null && !saved) Checkpoint();
        progress?.Report(Snapshot());
        return new TrainingResult
        {
            Steps = state.Counters.Step,
            Episodes = state.Counters.Episode,
            Updates = state.Learner.Updates,
            Elapsed = clock.Elapsed,
            Loss = loss,
            TestReturn = testReturn,
            TestWinRate = testWin,
            Warnings = warnings,
            Evaluations = evaluations,
            Policy = Policy,
            CheckpointPath = checkpointStem is null ? null : ModelFiles.ModelPath(checkpointStem),
        };
    }
}
