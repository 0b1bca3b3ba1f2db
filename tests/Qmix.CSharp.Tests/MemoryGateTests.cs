using Qmix.Cli;
using Xunit;

namespace Qmix.Tests;

/// <summary>The grid's memory gate: a cell waits while it would not fit beside the cells training.</summary>
public class MemoryGateTests
{
    [Fact]
    public void A_cell_waits_until_the_memory_it_needs_is_given_back()
    {
        var gate = new MemoryGate(budget: 10);
        Assert.True(gate.Enter(6, CancellationToken.None));
        // 6 + 6 > 10: the second waits
        var second = Task.Run(() => gate.Enter(6, CancellationToken.None));
        Assert.False(second.Wait(300));
        Assert.Equal(6, gate.Used);
        // 6 + 4 fits beside it
        Assert.True(gate.Enter(4, CancellationToken.None));
        gate.Exit(4);
        gate.Exit(6);
        Assert.True(second.Wait(TimeSpan.FromSeconds(10)));
        Assert.True(second.Result);
        Assert.Equal(6, gate.Used);
        gate.Exit(6);
        Assert.Equal(0, gate.Used);
    }

    [Fact]
    public void A_cell_larger_than_the_budget_runs_alone_and_a_cancelled_wait_holds_nothing()
    {
        var gate = new MemoryGate(budget: 10);
        Assert.True(gate.Enter(25, CancellationToken.None));
        using var cts = new CancellationTokenSource();
        var waiting = Task.Run(() => gate.Enter(1, cts.Token));
        Assert.False(waiting.Wait(300));
        cts.Cancel();
        Assert.True(waiting.Wait(TimeSpan.FromSeconds(10)));
        Assert.False(waiting.Result);
        Assert.Equal(25, gate.Used);
        gate.Exit(25);
        Assert.Equal(0, gate.Used);
    }
}
