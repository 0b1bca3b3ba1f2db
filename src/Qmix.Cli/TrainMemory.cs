using System.Globalization;

namespace Qmix.Cli;

/// <summary>The memory check of <c>qmix train</c>: before anything is created, the memory the configured replay buffer
/// will hold when full (with the learner and the process around it, <see cref="Grid.MemoryEstimate"/>) is compared with
/// the memory the runs may use (<see cref="Grid.Budget"/>, 90% of what is available), so that a run that cannot fit is
/// refused up front instead of being killed when its buffer fills.</summary>
internal static class TrainMemory
{
    /// <summary>Null when the runs fit; otherwise a usage error giving the bytes needed, the bytes available and the
    /// <c>--buffer-size</c> that fits (or, when even a buffer of one batch does not fit, saying so).</summary>
    /// <param name="envName">The environment's name, for the message.</param>
    /// <param name="spec">The environment's sizes.</param>
    /// <param name="options">The run's options (its buffer size, batch size and agent network).</param>
    /// <param name="atOnce">Runs trained at the same time (seeds in parallel).</param>
    /// <param name="available">The memory available (<c>GC.GetGCMemoryInfo().TotalAvailableMemoryBytes</c>).</param>
    public static UsageException? Check(string envName, EnvironmentSpec spec, TrainingOptions options, int atOnce, long available)
    {
        var one = Grid.MemoryEstimate(spec, options);
        var budget = Grid.Budget(available);
        if ((double)atOnce * one <= budget) return null;
        var perEpisode = Grid.EpisodeBytes(spec, options);
        var runs = atOnce > 1 ? $" × {atOnce} runs at once" : "";
        var head = string.Create(CultureInfo.InvariantCulture,
            $"{envName}: a replay buffer of {options.BufferSize:N0} episodes ({Size(perEpisode)} each) needs about {Grid.Bytes(one)} " +
            $"({one:N0} bytes) per run{runs} when full, more than the {Grid.Bytes(budget)} training may use " +
            $"(90% of the {Grid.Bytes(available)} available)");
        // the largest buffer that fits, with the learner and the process around it
        var fits = (long)Math.Floor((budget / (double)atOnce / Grid.ResidentFactor - Grid.LearnerBytes(spec, options)) / perEpisode);
        var fewer = atOnce > 1 ? ", or fewer runs at once (--parallel)" : "";
        return new UsageException(fits >= options.BatchSize
            ? string.Create(CultureInfo.InvariantCulture, $"{head}: use --buffer-size {fits} (or less){fewer}")
            : $"{head}: even a buffer of one batch ({options.BatchSize} episodes) does not fit{fewer}");
    }

    /// <summary>The bytes of one episode in the replay buffer, as "8.0 MB" or "3.5 KB".</summary>
    public static string Size(long bytes) => bytes >= 1L << 20
        ? string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):0.0} MB")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KB");
}
