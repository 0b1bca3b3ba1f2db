namespace Qmix.Cli;

/// <summary>Memory shared by cells that train at the same time: a cell enters with its estimated bytes and waits
/// while the cells inside would exceed the budget with it. A cell larger than the budget still enters when nothing
/// else is inside (the grid refuses such a cell before it starts: <see cref="Grid.CheckMemory"/>).</summary>
/// <param name="budget">The bytes the cells may hold together.</param>
internal sealed class MemoryGate(long budget)
{
    readonly object gate = new();
    long used;
    int inside;

    /// <summary>The bytes held by the cells inside.</summary>
    public long Used
    {
        get
        {
            lock (gate) return used;
        }
    }

    /// <summary>Waits until <paramref name="bytes"/> fit beside the cells inside (or none is inside), then holds
    /// them. Returns false, holding nothing, when <paramref name="ct"/> is cancelled first.</summary>
    public bool Enter(long bytes, CancellationToken ct)
    {
        lock (gate)
        {
            while (inside > 0 && used + bytes > budget)
            {
                if (ct.IsCancellationRequested) return false;
                Monitor.Wait(gate, 200);
            }
            if (ct.IsCancellationRequested) return false;
            used += bytes;
            inside++;
            return true;
        }
    }

    /// <summary>Gives back what <see cref="Enter"/> held.</summary>
    public void Exit(long bytes)
    {
        lock (gate)
        {
            used -= bytes;
            inside--;
            Monitor.PulseAll(gate);
        }
    }
}
