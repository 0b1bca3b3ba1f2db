(**
---
title: C# usage
category: Guides
categoryindex: 1
index: 7
---

# Using Qmix.Functional from C#

`src/Qmix.CSharp` is a facade over the F# core for C# applications: namespace `Qmix`, PascalCase types, and no
F# type in any public signature (no tuples, options, F# lists or F# functions; `IReadOnlyList<T>`, `Func<>`,
`Task`, `IProgress<T>` and `CancellationToken` instead). Arguments are checked at the boundary and a bad one
raises an `ArgumentException` naming it. The `qmix` command is built on the facade alone.

| type | what it does |
|---|---|
| `Environments` | the built-in environments by name (`Create`, `Names`, `Catalogue`) and by typed factories (`TwoStep()`, `Combat("3m")`, `Lbf(task)`, …) |
| `IMultiAgentEnvironment` | implement it to train on an environment of your own |
| `TrainingOptions` | every learner and runner setting, with the QMIX paper's defaults (an immutable record) |
| `Trainer` | `Train`, `TrainAsync` with progress and cancellation, `Evaluated` events, `Save`, `Resume` |
| `Policy` | decentralised execution: `Act` with each agent's memory, `Reset`, `Save`, `Load` |
| `Evaluation` | greedy episodes: mean return, win rate, episode lengths |
| `MixerVerification` | monotonicity and argmax-decomposition checks with counterexample reports |

Every snippet on this page is a whole program: pasted as the `Program.cs` of a new console app
(`dotnet new console`, with a reference to `Qmix.CSharp`), it compiles as it stands. Each one is a file of
`docs/examples/CSharpUsage/Snippets`, compiled in the solution where it cannot see any other code of the example
(the custom environment's snippet sees `ColourGame.cs`, shown with it); when the site is built, the example runs the
snippets in order, in a temporary directory, and each is followed by what it printed. The project references the
facade and nothing else:
*)
(*** hide ***)
open System
open System.IO
open System.Diagnostics
open System.Text
open System.Text.RegularExpressions

/// HTML shown as it is on the site; printed as text when the script runs in plain `dotnet fsi`.
type Html = Html of string

#if HAS_FSI_ADDHTMLPRINTER
fsi.AddHtmlPrinter(fun (Html html) -> Seq.empty, html)
#endif

let example =
    [
        Path.Combine(__SOURCE_DIRECTORY__, "examples", "CSharpUsage")
        Path.Combine(Directory.GetCurrentDirectory(), "docs", "examples", "CSharpUsage")
    ]
    |> List.find (fun dir -> File.Exists(Path.Combine(dir, "Program.cs")))

let source (file: string) =
    File.ReadAllText(Path.Combine(example, file)).Replace("\r\n", "\n")

let csharpKeywords =
    set
        [
            "abstract"
            "as"
            "async"
            "await"
            "base"
            "bool"
            "break"
            "case"
            "catch"
            "char"
            "class"
            "const"
            "continue"
            "default"
            "do"
            "double"
            "else"
            "enum"
            "false"
            "finally"
            "float"
            "for"
            "foreach"
            "get"
            "if"
            "in"
            "init"
            "int"
            "interface"
            "internal"
            "is"
            "long"
            "namespace"
            "new"
            "not"
            "null"
            "object"
            "or"
            "out"
            "override"
            "private"
            "protected"
            "public"
            "readonly"
            "record"
            "ref"
            "return"
            "sealed"
            "set"
            "static"
            "string"
            "struct"
            "switch"
            "this"
            "throw"
            "true"
            "try"
            "typeof"
            "uint"
            "ulong"
            "using"
            "var"
            "void"
            "while"
            "with"
            "yield"
        ]

/// C# source as HTML with fsdocs' token classes: k keyword, s string, c comment, n number.
let highlight (code: string) =
    let sb = StringBuilder()
    let enc (s: string) = Net.WebUtility.HtmlEncode s

    let span cls (s: string) =
        sb.Append(sprintf "<span class=\"%s\">%s</span>" cls (enc s)) |> ignore

    let mutable i = 0

    /// The end (exclusive) of a string literal starting at i ($"…" may hold { } with strings inside).
    let stringEnd (start: int) =
        let interpolated = code[start] = '$'
        let mutable j = (if interpolated then start + 2 else start + 1)
        let mutable depth = 0
        let mutable fin = -1

        while fin < 0 && j < code.Length do
            let c = code[j]

            if c = '\\' then
                j <- j + 2
            elif interpolated && c = '{' && j + 1 < code.Length && code[j + 1] = '{' then
                j <- j + 2
            elif interpolated && c = '{' then
                depth <- depth + 1
                j <- j + 1
            elif interpolated && c = '}' && depth > 0 then
                depth <- depth - 1
                j <- j + 1
            elif c = '"' && depth > 0 then
                // a string inside an interpolation hole
                j <- j + 1

                while j < code.Length && code[j] <> '"' do
                    j <- j + (if code[j] = '\\' then 2 else 1)

                j <- j + 1
            elif c = '"' then
                fin <- j + 1
            else
                j <- j + 1

        if fin < 0 then code.Length else fin

    while i < code.Length do
        let c = code[i]
        let rest = code.Substring i

        if rest.StartsWith "//" then
            let e = code.IndexOf('\n', i)
            let e = if e < 0 then code.Length else e
            span "c" (code.Substring(i, e - i))
            i <- e
        elif c = '"' || rest.StartsWith "$\"" then
            let e = stringEnd i
            span "s" (code.Substring(i, e - i))
            i <- e
        elif c = '\'' && i + 2 < code.Length && code[i + 2] = '\'' then
            span "s" (code.Substring(i, 3))
            i <- i + 3
        elif Char.IsLetter c || c = '_' || c = '#' then
            let m = Regex.Match(rest, @"^#?[A-Za-z_][A-Za-z0-9_]*")

            if csharpKeywords.Contains m.Value then
                span "k" m.Value
            else
                sb.Append(enc m.Value) |> ignore

            i <- i + m.Length
        elif Char.IsDigit c then
            let m = Regex.Match(rest, @"^[0-9][0-9_]*(\.[0-9]+)?[fFdDmMuUlL]*")
            span "n" m.Value
            i <- i + m.Length
        else
            sb.Append(enc (string c)) |> ignore
            i <- i + 1

    sb.ToString()

let snippet (lang: string) (html: string) =
    Html(
        sprintf
            "<table class=\"pre\"><tr><td class=\"snippet\"><pre class=\"fssnip highlighted\"><code lang=\"%s\">%s</code></pre></td></tr></table>"
            lang
            (html.TrimEnd())
    )

/// A snippet as the page shows it: the usings of `Snippets/NAME.cs` and the body of its one method (the region), dedented,
/// which together make a program a C# console app can hold as its Program.cs. The file must have the shape of a
/// self-contained snippet: `using Qmix;` (and, for the custom environment, `using CSharpUsage;` for ColourGame.cs), the
/// namespace CSharpSnippets, which sees nothing else of the example, and one static class whose one method is the
/// region; anything else fails the docs build, and so does a snippet that does not compile (the example is built first).
let region (name: string) =
    let file =
        Path.Combine(
            "Snippets",
            string (Char.ToUpperInvariant name[0]) + name.Substring 1 + ".cs"
        )

    let text = source file

    let shape =
        Regex.Match(
            text,
            "^(?<usings>using Qmix;\n(?:using CSharpUsage; // ColourGame\.cs\n)?)\nnamespace CSharpSnippets;\n\n"
            + "static class \w+Snippet\n\{\n    public static (?:void|async Task) Run\(\)\n    \{\n"
            + "        #region "
            + Regex.Escape name
            + "\n(?<body>(?:(?!#region|#endregion)[\s\S])*)        #endregion\n    \}\n\}\n$"
        )

    if not shape.Success then
        failwithf
            "docs/examples/CSharpUsage/%s is not a self-contained snippet: it must hold `using Qmix;`, the namespace CSharpSnippets and one static class whose one method is the region '%s'"
            file
            name

    let body = shape.Groups["body"].Value.TrimEnd('\n').Split '\n'

    let indent =
        body
        |> Array.filter (fun l -> l.Trim() <> "")
        |> Array.map (fun l -> l.Length - l.TrimStart().Length)
        |> Array.min

    let code =
        body
        |> Array.map (fun l ->
            if l.Length >= indent then
                l.Substring indent
            else
                l.TrimStart())
        |> String.concat "\n"

    shape.Groups["usings"].Value + "\n" + code

// the program declares no type that a snippet could lean on (CSharpUsage's types are out of the snippets' sight)
if
    Regex.IsMatch(
        source "Program.cs",
        "(?m)^\\s*(?:[a-z]+\\s+)*(?:class|record|struct|interface|enum)\\s"
    )
then
    failwith
        "docs/examples/CSharpUsage/Program.cs declares a type, which every snippet could use: declare it in a file of its own in namespace CSharpUsage"

if not (Regex.IsMatch(source "ColourGame.cs", "(?m)^namespace CSharpUsage;")) then
    failwith
        "docs/examples/CSharpUsage/ColourGame.cs must be in namespace CSharpUsage, out of the snippets' sight"

let csharp (name: string) =
    snippet "csharp" (highlight (region name))

/// Runs the compiled example once; its output split by the "== name ==" lines it prints.
let outputs =
    let dll = Path.Combine(example, "bin", "Release", "net10.0", "CSharpUsage.dll")

    if not (File.Exists dll) then
        failwithf "%s is missing: build the solution first (./build.sh build)" dll

    let info =
        ProcessStartInfo(
            "dotnet",
            sprintf "\"%s\"" dll,
            RedirectStandardOutput = true,
            RedirectStandardError = true
        )

    use p = Process.Start info
    let stderr = p.StandardError.ReadToEndAsync()
    let out = p.StandardOutput.ReadToEnd()
    p.WaitForExit()

    if p.ExitCode <> 0 then
        failwithf
            "the C# example failed (exit code %d):\n%s\n%s"
            p.ExitCode
            out
            stderr.Result

    let sections = Collections.Generic.Dictionary<string, ResizeArray<string>>()
    let mutable current = ResizeArray<string>()

    for line in out.Replace("\r\n", "\n").TrimEnd().Split '\n' do
        let m = Regex.Match(line, "^== (.+) ==$")

        if m.Success then
            current <- ResizeArray()
            sections[m.Groups[1].Value] <- current
        else
            current.Add line

    sections

let output (name: string) =
    let text = String.Join("\n", outputs[name])

    Html(
        sprintf
            "<table class=\"pre\"><tr><td><pre><code>%s</code></pre></td></tr></table>"
            (Net.WebUtility.HtmlEncode text)
    )

(*** hide ***)
snippet "xml" (Net.WebUtility.HtmlEncode(source "CSharpUsage.csproj"))
(*** include-it ***)

(**
## Environments

`Environments` lists the built-in environments and makes them by name or by a typed factory. A handle
(`MultiAgentEnvironment`) can be stepped by hand: `Reset(seed)`, then `Step(actions)` with one action per agent,
reading `Observations`, `State` and `AvailableActions` (flattened agent after agent) in between. `Render()` draws
the current state as text; `RenderSvg()` draws it as an SVG document for every environment whose `SupportsSvg` is
true (all but the matrix games, which throw `NotSupportedException`), and `Charts.FrameSheet` lays such frames out
as a sheet under their captions.
*)
(*** hide ***)
csharp "environments"
(*** include-it ***)
(*** hide ***)
output "environments"
(*** include-it ***)

(**
## Training options

`TrainingOptions` is an immutable record with every setting of a run; its defaults are the paper's (PyMARL's
QMIX on StarCraft: RMSprop with lr 5e-4, batches of 32 from the last 5000 episodes, γ = 0.99, ε from 1 to 0.05
over 50 000 steps, targets copied every 200 episodes, GRU agents of width 64, mixing width 32). Each property
checks its own range when it is set, and the exception names it.
*)
(*** hide ***)
csharp "options"
(*** include-it ***)
(*** hide ***)
output "options"
(*** include-it ***)

(**
## Training

`Trainer.Train` runs to `TotalSteps` on the calling thread and returns a `TrainingResult` (steps, episodes,
updates, the last loss and test results, every evaluation and warning, and the trained `Policy`). `Evaluated` is
raised after each greedy evaluation; `Train(Action<TrainingProgress>)` calls its action on the training thread, in
order and before `Train` returns (an `IProgress<TrainingProgress>` overload exists too: a `Progress<T>` posts each
report to the context it was made on, so its reports can arrive after `Train` has returned). A report holds the
steps, ε, loss, the learner's
diagnostics (`QTakenMean`, `TargetMean`, `MeanAbsoluteTDError`, `GradientNorm`), returns, win rate, episode lengths, dead units
(for environments with two armies) and throughput. `Warned` is raised when the Q-values leave their plausible range
(`TrainingWarning` names the quantity, its value and the bound; `TrainingOptions.QValueBound` sets the bound when
the largest return is known).
*)
(*** hide ***)
csharp "train"
(*** include-it ***)
(*** hide ***)
output "train"
(*** include-it ***)

(**
`TrainAsync` runs on the thread pool. A cancelled run ends with an `OperationCanceledException` (the task is
Canceled) between two iterations, keeps what it has learned, and continues when trained again (with
`CheckpointDirectory` set it also writes a checkpoint when cancelled). `Dispose` stops a running `Train`.
*)
(*** hide ***)
csharp "async"
(*** include-it ***)
(*** hide ***)
output "async"
(*** include-it ***)

(**
## Acting with a trained policy

A `Policy` holds the trained agents (the mixer is only needed for training). `Act` takes every agent's
observation and available actions and returns each agent's greedy action, carrying each agent's GRU memory to the
next call; `Reset` starts a new episode. `Save` writes `NAME.safetensors` (the parameters under PyTorch's
state_dict names) and `NAME.options.json`; `Load` reads them back.
*)
(*** hide ***)
csharp "policy"
(*** include-it ***)
(*** hide ***)
output "policy"
(*** include-it ***)

(** `Evaluation.Run` plays greedy episodes with a policy and reports the returns, the win rate (for
environments that report wins) and the episode lengths: *)
(*** hide ***)
csharp "evaluation"
(*** include-it ***)
(*** hide ***)
output "evaluation"
(*** include-it ***)

(**
## Checkpoints

`Trainer.Save(path)` writes a resumable checkpoint: `model.safetensors` (the online parameters),
`model.train.safetensors` (targets, optimiser state and replay buffer), `model.json` (the core's sidecar) and
`model.options.json`. `Resume` continues it exactly: the continued run is bit-identical to an uninterrupted one.
*)
(*** hide ***)
csharp "checkpoints"
(*** include-it ***)
(*** hide ***)
output "checkpoints"
(*** include-it ***)

(**
## An environment of your own

Implement `IMultiAgentEnvironment` (a spec, `Reset(seed)`, `Step(actions)`, and the current observations, state
and available actions) and pass it to `Trainer` and `Evaluation` like a built-in environment. The environment may
be mutable; an episode must be a deterministic function of its seed and the actions taken, which is what makes
runs reproducible (and lets one instance serve several parallel episodes by replaying them;
`Environments.Custom(factory)` makes one instance per parallel episode instead). The game of the example:
*)
(*** hide ***)
snippet "csharp" (highlight (source "ColourGame.cs"))
(*** include-it ***)

(** Training QMIX on it, and checking the trained policy on episodes it has not seen: *)
(*** hide ***)
csharp "custom"
(*** include-it ***)
(*** hide ***)
output "custom"
(*** include-it ***)

(**
The best return is the number of steps whose colour is not 2 (about 2.7 out of 4 on average), and the policy
wins every episode: both agents answer the colour shown whenever agent 1 can.

## Verifying a mixer

`MixerVerification` runs the [verification](verification.html) checks on any algorithm's mixer (by
`Algorithm` or by name) and on the negative control, QMIX without the absolute value, which must fail:
*)
(*** hide ***)
csharp "verification"
(*** include-it ***)
(*** hide ***)
output "verification"
(*** include-it ***)
