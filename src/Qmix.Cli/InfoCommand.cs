using System.CommandLine;

namespace Qmix.Cli;

/// <summary><c>qmix info</c>: the version and what this build provides.</summary>
internal static class InfoCommand
{
    public static Command Create(Io io)
    {
        var command = new Command("info", "Print the library's version and what this build provides");
        command.SetAction(_ =>
        {
            io.Out.WriteLine($"qmix {LibraryInfo.Version}: cooperative multi-agent reinforcement learning by value factorisation");
            io.Out.WriteLine("This build provides:");
            foreach (var line in LibraryInfo.Capabilities) io.Out.WriteLine($"  - {line}");
            io.Out.WriteLine("Commands: train, eval, verify, envs, plot, bench, info ('qmix COMMAND --help')");
            return Cli.Ok;
        });
        return command;
    }
}
