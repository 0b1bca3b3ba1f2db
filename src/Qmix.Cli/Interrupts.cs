using System.Runtime.InteropServices;

namespace Qmix.Cli;

/// <summary>Ctrl+C and SIGTERM for commands that train: the first one cancels a token (the runs stop after their
/// current iteration and write checkpoints), a second Ctrl+C ends the process as usual. SIGTERM is what a cluster's
/// scheduler (Slurm at a job's time limit) and <c>kill</c> send, so a run stopped that way keeps its checkpoint too.
/// Dispose removes the handlers.</summary>
internal sealed class Interrupts : IDisposable
{
    readonly CancellationTokenSource cts;
    readonly ConsoleCancelEventHandler handler;
    readonly PosixSignalRegistration? term;
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
        // SIGTERM: stop after the current iteration, writing checkpoints, instead of ending at once
        term = OperatingSystem.IsWindows() ? null : PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
        {
            ctx.Cancel = true;
            Interlocked.Increment(ref presses);
            this.cts.Cancel();
        });
    }

    /// <summary>Cancels <paramref name="cts"/> on the first Ctrl+C or SIGTERM until disposed.</summary>
    public static Interrupts CancelOnFirst(CancellationTokenSource cts) => new(cts);

    public void Dispose()
    {
        Console.CancelKeyPress -= handler;
        term?.Dispose();
    }
}
