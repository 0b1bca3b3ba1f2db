namespace Qmix;

/// <summary>A checkpoint the trainer wrote (<see cref="Trainer.CheckpointWritten"/>): where, at which step, how large
/// and how long it took.</summary>
/// <param name="Step">The environment step it holds.</param>
/// <param name="ModelPath">Its model file (<c>NAME.safetensors</c>); the other files sit beside it.</param>
/// <param name="Bytes">The bytes of all its files.</param>
/// <param name="ReplayEpisodes">The episodes of the replay buffer it holds (0 with
/// <see cref="CheckpointReplay.None"/>).</param>
/// <param name="Elapsed">The time the write took.</param>
/// <param name="ReplayMemoryBytes">The bytes the trainer's replay buffer holds in memory (its episodes' arrays as
/// stored: recorded steps only, in <see cref="TrainingOptions.ReplayPrecision"/>), whatever the checkpoint holds of
/// it.</param>
public sealed record CheckpointWritten(int Step, string ModelPath, long Bytes, int ReplayEpisodes, TimeSpan Elapsed, long ReplayMemoryBytes);
