using System.CommandLine;

namespace Qmix.Cli;

/// <summary><c>qmix bench</c>: throughput of a learner update, an acting step and environment steps.</summary>
internal static class BenchCommand
{
    public static Command Create(Io io)
    {
        var command = new Command("bench", "Time a learner update, an acting step and environment steps");
        command.SetAction(_ =>
        {
            io.Err.WriteLine("qmix bench: not available yet");
            return Cli.Failed;
        });
        return command;
    }
}
