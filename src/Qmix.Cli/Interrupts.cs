namespace Qmix.Cli;

/// <summary>Ctrl+C for commands that train: the first press cancels a token (the runs stop after their current
/// iteration and write checkpoints), a second one ends the process as usual. Dispose removes the handler.</summary>
internal sealed class Interrupts : IDisposable
{
    readonly CancellationTokenSource cts;
    readonly ConsoleCancelEventHandler handler;
    int presses;

    Interrupts(CancellationTokenSource cts)
    {
        this.cts = cts;
        handler = (_, e) =>
        {
            if (Interlocked.Increment(ref presses) == 1)
            {
                e.Cancel = true;
                this.cts.Cancel();
            }
        };
        Console.CancelKeyPress += handler;
    }

    /// <summary>Cancels <paramref name="cts"/> on the first Ctrl+C until disposed.</summary>
    public static Interrupts CancelOnFirst(CancellationTokenSource cts) => new(cts);

    public void Dispose() => Console.CancelKeyPress -= handler;
}
