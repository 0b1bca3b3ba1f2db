// The facade used as a C# application would. docs/csharp.fsx shows each snippet of
// Snippets/*.cs and the output of running this program: each section prints a
// "== name ==" line first, so the page can place the output under its code.
//
// Each snippet is self-contained: its file has `using Qmix;` and one method whose body
// is the snippet, in a namespace of its own (CSharpSnippets) that sees no other code of
// this program, so a snippet that leans on anything outside itself does not compile.
// The snippets run in a temporary working directory, in the page's order (the policy
// snippets load the model the training snippet saves). Lines stay within 88
// characters, the width of the page's code column.
using CSharpSnippets;

var home = Directory.GetCurrentDirectory();
var work = Directory.CreateTempSubdirectory("qmix-csharp-usage-").FullName;
Directory.SetCurrentDirectory(work);
try
{
    Section("environments");
    EnvironmentsSnippet.Run();
    Section("options");
    OptionsSnippet.Run();
    Section("train");
    TrainSnippet.Run();
    Section("async");
    await AsyncSnippet.Run();
    Section("policy");
    PolicySnippet.Run();
    Section("evaluation");
    EvaluationSnippet.Run();
    Section("checkpoints");
    CheckpointsSnippet.Run();
    Section("custom");
    CustomSnippet.Run();
    Section("verification");
    VerificationSnippet.Run();
}
finally
{
    Directory.SetCurrentDirectory(home);
    Directory.Delete(work, recursive: true);
}
return 0;

static void Section(string name) => Console.WriteLine($"== {name} ==");
