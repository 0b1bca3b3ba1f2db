using System.CommandLine;

namespace Qmix.Cli;

/// <summary><c>qmix verify</c>: checks monotonicity and argmax decomposition of mixers at random points; exit code 1
/// with the counterexample when a property fails.</summary>
internal static class VerifyCommand
{
    public static Command Create(Io io)
    {
        var mixer = new Option<string?>("--mixer") { Description = $"The mixer: {string.Join(", ", MixerVerification.MixerNames)} (the negative control); default every mixer but the negative control", HelpName = "NAME" };
        mixer.AcceptOnlyFromAmong([.. MixerVerification.MixerNames]);
        var trials = new Option<int>("--trials") { Description = "Cases per property, each a batch of 16 points", DefaultValueFactory = _ => 100, HelpName = "N" };
        var agents = new Option<int>("--agents") { Description = "Agents N", DefaultValueFactory = _ => 3 };
        var actions = new Option<int>("--actions") { Description = "Actions per agent A (A^N joint actions are enumerated)", DefaultValueFactory = _ => 4 };
        var stateSize = new Option<int>("--state-size") { Description = "Width of the state", DefaultValueFactory = _ => 8 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the cases and the mixer's parameters", DefaultValueFactory = _ => 1UL };
        var command = new Command("verify", "Check that mixers are monotonic (dQtot/dQa >= 0) and decompose the argmax; exit code 1 with a counterexample when one is not")
        {
            mixer, trials, agents, actions, stateSize, seed,
        };
        command.SetAction(r =>
        {
            var names = r.GetValue(mixer) is { } m ? [m] : MixerVerification.MixerNames.Where(n => n != MixerVerification.NegativeControl).ToArray();
            var failed = 0;
            foreach (var name in names)
            {
                var result = MixerVerification.Check(name, r.GetValue(agents), r.GetValue(actions), r.GetValue(stateSize), r.GetValue(trials), r.GetValue(seed));
                foreach (var report in result.Reports)
                {
                    var verdict = report.Passed ? "PASS" : "FAIL";
                    io.Out.WriteLine($"{verdict}  {report.Mixer,-12} {report.Property,-22} {report.CasesChecked} case{(report.CasesChecked == 1 ? "" : "s")} (seed {report.Seed})");
                    if (report.Passed) continue;
                    io.Out.WriteLine("      counterexample:");
                    foreach (var line in (report.Counterexample ?? report.Description).Split('\n'))
                        io.Out.WriteLine("        " + line.TrimEnd());
                }
                if (!result.Passed) failed++;
            }
            io.Out.WriteLine(failed == 0
                ? $"{names.Length} mixer{(names.Length == 1 ? "" : "s")}: both properties hold at every point checked"
                : $"{failed} of {names.Length} mixer{(names.Length == 1 ? "" : "s")} failed a property (see the counterexample above)");
            return failed == 0 ? Cli.Ok : Cli.Failed;
        });
        return command;
    }
}
