using System.Text.Json;

namespace Qmix;

public sealed partial class RunRecorder
{
    /// <summary>Continues a run from the last checkpoint in its directory: a run stopped by Ctrl+C (or a cancellation
    /// token), or one whose process was killed after a periodic checkpoint (<see cref="TrainingOptions.SaveInterval"/>).
    /// <see cref="Train"/> then trains on to the run's <see cref="TrainingOptions.TotalSteps"/>, bit-identically to a
    /// run that was never interrupted.</summary>
    /// <param name="directory">A run directory written by <see cref="Create"/>.</param>
    /// <param name="environment">The run's environment; null to make it by the name in <c>config.json</c> (a built-in
    /// one). Its spec must equal the one the run recorded.</param>
    /// <returns>The recorder, owning its trainer, at the checkpoint's step.</returns>
    /// <remarks>
    /// <para>The settings are the run's own (<c>config.json</c> is not changed). The trainer continues from
    /// <c>checkpoints/model</c> (<see cref="Trainer.Resume"/>). The metrics files keep the records up to the
    /// checkpoint's step and drop the later ones, which the continued run records again (a killed run's files may also
    /// end with a torn line, which is dropped); new records are appended. Elapsed seconds continue from the last kept
    /// record, so they count training time without the work lost to the interruption. <c>summary.json</c> is removed
    /// until the run ends again, and then lists the warnings of both parts.</para>
    /// <para>A run directory without a checkpoint (killed before its first one) starts over from step 0 with empty
    /// metrics. A completed run has nothing left to train: <see cref="Train"/> writes its summary again.</para>
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="directory"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="directory"/> is empty, the run's environment is not a
    /// built-in one and none was given, or the environment's spec differs from the run's.</exception>
    /// <exception cref="DirectoryNotFoundException">There is no such directory.</exception>
    /// <exception cref="FileNotFoundException">The directory holds no run (no <c>config.json</c>).</exception>
    /// <exception cref="InvalidDataException">A file of the run, or its checkpoint, is corrupt.</exception>
    public static RunRecorder Resume(string directory, IMultiAgentEnvironment? environment = null) =>
        Resume(directory, null, environment);

    /// <summary>Continues a run as <see cref="Resume(string, IMultiAgentEnvironment?)"/> does, to more steps than it
    /// was started for: a finished run (or a stopped one) trains on to <paramref name="totalSteps"/>, which
    /// <c>config.json</c> then records. The continuation is bit-identical to a run started for
    /// <paramref name="totalSteps"/> (its greedy tests fall on the same steps); its metrics are appended and its
    /// curves redrawn when it ends.</summary>
    /// <param name="directory">A run directory written by <see cref="Create"/>.</param>
    /// <param name="totalSteps">The steps the run now trains to: at least its current
    /// <see cref="TrainingOptions.TotalSteps"/>.</param>
    /// <param name="environment">The run's environment; null to make it by the name in <c>config.json</c>.</param>
    /// <returns>The recorder, owning its trainer, at the checkpoint's step.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="totalSteps"/> is less than the run's total
    /// steps (a run is not shortened).</exception>
    /// <exception cref="ArgumentException">See <see cref="Resume(string, IMultiAgentEnvironment?)"/>.</exception>
    /// <exception cref="DirectoryNotFoundException">There is no such directory.</exception>
    /// <exception cref="FileNotFoundException">The directory holds no run.</exception>
    /// <exception cref="InvalidDataException">A file of the run, or its checkpoint, is corrupt.</exception>
    public static RunRecorder Resume(string directory, int totalSteps, IMultiAgentEnvironment? environment = null) =>
        Resume(directory, (int?)totalSteps, environment);

    static RunRecorder Resume(string directory, int? totalSteps, IMultiAgentEnvironment? environment)
    {
        Guard.NotEmpty(directory, nameof(directory));
        // a process killed while a save swapped files left the previous checkpoint aside as .bak: put it back
        if (System.IO.Directory.Exists(directory))
            Qmix.Functional.Checkpoint.recover(Path.Combine(directory, CheckpointFolder, ModelStem));
        var run = RunDirectory.Load(directory);
        var config = run.Config;
        if (totalSteps is { } n && n != config.Options.TotalSteps)
        {
            if (n < config.Options.TotalSteps)
                throw new ArgumentOutOfRangeException(nameof(totalSteps), n,
                    $"{directory} was started for {config.Options.TotalSteps:N0} steps; a run can be extended, not shortened (asked {n:N0})");
            config = config with { Options = config.Options with { TotalSteps = n } };
        }
        var env = environment is null
            ? run.CreateEnvironment()
            : MultiAgentEnvironment.From(environment, nameof(environment));
        if (RunEnvironmentSpec.From(env.Spec) != run.Config.Spec)
            throw new ArgumentException(
                $"{directory} was trained on {run.Config.Spec}, the environment given is {RunEnvironmentSpec.From(env.Spec)}",
                nameof(environment));
        var recorder = new RunRecorder(run, config, env);
        if (!ReferenceEquals(config, run.Config))
            RunJson.WriteFile(Path.Combine(recorder.Directory, ConfigFile), JsonSerializer.Serialize(config, RunJson.Indented));
        return recorder;
    }

    RunRecorder(RunDirectory run, RunConfig config, MultiAgentEnvironment environment)
        : this(run.Path, environment, config, config.Options)
    {
        try
        {
            var step = 0;
            if (run.CheckpointPath is not null)
            {
                Trainer.Resume(Path.Combine(Directory, CheckpointFolder, ModelStem));
                step = Trainer.Step;
            }
            var kept = run.Metrics.Where(r => r.Step <= step).ToList();
            records.AddRange(kept);
            if (run.Summary?.Warnings is { } before) warnings.AddRange(before.Where(w => w.Step <= step));
            secondsBefore = kept.Count > 0 ? kept[^1].ElapsedSeconds : 0;
            if (run.Summary is { } s && s.Steps == step) secondsBefore = Math.Max(secondsBefore, s.Seconds);

            // the metrics files as they stood at the checkpoint, then appended to
            RunJson.WriteFile(Path.Combine(Directory, MetricsJsonFile),
                string.Concat(kept.Select(r => JsonSerializer.Serialize(r, RunJson.Line) + Environment.NewLine)));
            RunJson.WriteFile(Path.Combine(Directory, MetricsCsvFile),
                string.Concat(new[] { string.Join(",", MetricsRecord.CsvColumns) }.Concat(kept.Select(r => r.ToCsv())).Select(l => l + Environment.NewLine)));
            File.Delete(Path.Combine(Directory, SummaryFile));
            jsonl = new StreamWriter(Path.Combine(Directory, MetricsJsonFile), append: true);
            csv = new StreamWriter(Path.Combine(Directory, MetricsCsvFile), append: true);
        }
        catch
        {
            Trainer.Dispose();
            throw;
        }
    }
}
