using System.CommandLine;
using System.CommandLine.Parsing;
using Spectre.Console;

namespace Qmix.Cli;

/// <summary>The <c>qmix</c> command: <c>train</c>, <c>reproduce</c>, <c>eval</c>, <c>verify</c>, <c>envs</c>, <c>plot</c>,
/// <c>bench</c> and <c>info</c>, built on the C# facade alone.</summary>
public static class Cli
{
    /// <summary>Exit code of a successful command.</summary>
    public const int Ok = 0;

    /// <summary>Exit code of a command that ran and found a failure (a mixer property fails, training
    /// diverged).</summary>
    public const int Failed = 1;

    /// <summary>Exit code of a command that could not run as given (an unknown environment or option, a bad
    /// value, a missing file).</summary>
    public const int Usage = 2;

    /// <summary>Exit code of a training run stopped by Ctrl+C (after writing its checkpoint).</summary>
    public const int Cancelled = 130;

    /// <summary>Runs the command line <paramref name="args"/>, writing to <paramref name="output"/> and
    /// <paramref name="error"/>.</summary>
    /// <param name="args">The arguments, e.g. <c>["verify", "--mixer", "qmix"]</c>.</param>
    /// <param name="output">Standard output. When it is the process's console and not redirected, progress is shown
    /// live; otherwise (a file, a pipe, CI, a test) as plain lines.</param>
    /// <param name="error">Standard error.</param>
    /// <returns>The exit code: 0 done, 1 a check failed, 2 a usage error, 130 stopped by Ctrl+C.</returns>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        var io = new Io(output, error, IsLiveTerminal(output));
        var root = new RootCommand("qmix: cooperative multi-agent reinforcement learning by value factorisation (QMIX, VDN, Weighted QMIX, ...)")
        {
            TrainCommand.Create(io),
            ReproduceCommand.Create(io),
            EvalCommand.Create(io),
            VerifyCommand.Create(io),
            EnvsCommand.Create(io),
            PlotCommand.Create(io),
            BenchCommand.Create(io),
            InfoCommand.Create(io),
        };
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var e in parsed.Errors) error.WriteLine($"qmix: {Plain(e.Message)}");
            error.WriteLine("Run 'qmix --help' (or 'qmix COMMAND --help') for usage.");
            return Usage;
        }
        try
        {
            // ProcessTerminationTimeout = null: `train` handles Ctrl+C itself (it writes a checkpoint first)
            return parsed.Invoke(new InvocationConfiguration
            {
                Output = output, Error = error, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null,
            });
        }
        catch (UsageException e)
        {
            error.WriteLine($"qmix: {e.Message}");
            return Usage;
        }
        catch (NonFiniteQValueException e)
        {
            error.WriteLine($"qmix: {e.Message}");
            return Failed;
        }
        catch (ArgumentException e)
        {
            error.WriteLine($"qmix: {Plain(e)}");
            return Usage;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or InvalidDataException or IOException)
        {
            error.WriteLine($"qmix: {Plain(e.Message)}");
            return Usage;
        }
    }

    /// <summary>An argument error's message as a user reads it: without .NET's " (Parameter 'name')" suffix and the
    /// "Actual value was …" line of a range error.</summary>
    internal static string Plain(ArgumentException e)
    {
        var message = e.ParamName is { } p ? e.Message.Replace($" (Parameter '{p}')", "", StringComparison.Ordinal) : e.Message;
        return Plain(message.Split('\n')[0].Trim());
    }

    /// <summary>A message without .NET type names: the parser's "Cannot parse argument 'x' for option '--steps' as
    /// expected type 'System.Nullable`1[System.Int32]'." reads "--steps x: expected a whole number".</summary>
    internal static string Plain(string message)
    {
        var m = System.Text.RegularExpressions.Regex.Match(message,
            @"^Cannot parse argument '(?<value>.*)' for (?:option|argument) '(?<name>.*)' as expected type '(?<type>.*)'\.?$");
        if (m.Success) return $"{m.Groups["name"].Value} {m.Groups["value"].Value}: expected {TypeInWords(m.Groups["type"].Value)}";
        return System.Text.RegularExpressions.Regex.Replace(message, @"'?System\.[\w.`\[\], ]+'?", t => TypeInWords(t.Value.Trim('\'')));
    }

    /// <summary>A .NET type as a user reads it: System.Nullable`1[System.Int32] → "a whole number".</summary>
    static string TypeInWords(string type)
    {
        var inner = System.Text.RegularExpressions.Regex.Match(type, @"^System\.Nullable`1\[(.*)\]$") is { Success: true } n ? n.Groups[1].Value : type;
        return inner switch
        {
            "System.Int32" or "System.Int64" or "System.Int16" => "a whole number",
            "System.UInt64" or "System.UInt32" or "System.UInt16" or "System.Byte" => "a whole number, 0 or more",
            "System.Double" or "System.Single" or "System.Decimal" => "a number",
            "System.Boolean" => "true or false",
            "System.String" => "text",
            _ => "a value of another kind",
        };
    }

    static bool IsLiveTerminal(TextWriter output) =>
        ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected
        && System.Environment.GetEnvironmentVariable("CI") is null
        && System.Environment.GetEnvironmentVariable("TERM") is not "dumb";
}

/// <summary>A usage error found by a command: printed as "qmix: MESSAGE", exit code 2.</summary>
/// <param name="message">What is wrong, naming the offending value.</param>
public sealed class UsageException(string message) : Exception(message);

/// <summary>Where a command writes: plain writers, and a Spectre console over the output (live when the output is
/// a terminal).</summary>
internal sealed class Io
{
    public Io(TextWriter output, TextWriter error, bool live)
    {
        Out = output;
        Err = error;
        Live = live;
        Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = live ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = live ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = live ? InteractionSupport.Yes : InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        // a file or a pipe has no width: do not wrap tables at 80 columns
        if (!live) Console.Profile.Width = 200;
    }

    public TextWriter Out { get; }
    public TextWriter Err { get; }
    public bool Live { get; }
    public IAnsiConsole Console { get; }

    /// <summary>Writes a table (or any widget): styled on a terminal; as plain text without trailing blanks
    /// otherwise.</summary>
    public void Write(Spectre.Console.Rendering.IRenderable widget)
    {
        if (Live)
        {
            Console.Write(widget);
            return;
        }
        using var text = new StringWriter();
        var plain = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(text),
        });
        plain.Profile.Width = 200;
        plain.Write(widget);
        foreach (var line in text.ToString().Split('\n'))
            if (line.TrimEnd() is { Length: > 0 } trimmed) Out.WriteLine(trimmed);
    }
}
