using System.Diagnostics;
using System.IO.Compression;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Xunit;
using Xunit.Abstractions;

namespace Qmix.Tests;

/// <summary>Runs `dotnet` in a directory with the repository's build variables removed, and captures its output.</summary>
static class DotNet
{
    public sealed record Result(int ExitCode, string Output)
    {
        public override string ToString() => $"exit code {ExitCode}:\n{Output}";
    }

    /// <summary>Runs <paramref name="file"/> (`dotnet` unless given) with <paramref name="args"/> in
    /// <paramref name="dir"/>. NUGET_SOURCE is set only when <paramref name="nugetSource"/> is given, so that a
    /// build which still went through Paket would print its "environment variable '%NUGET_SOURCE%' not found".
    /// The MSBuild variables of the `dotnet test` that runs this are removed: the child is a build of its own.</summary>
    public static Result Run(string dir, IEnumerable<string> args, string? nugetSource = null, string file = "dotnet")
    {
        var start = new ProcessStartInfo(file, args)
        {
            WorkingDirectory = dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var name in start.Environment.Keys.ToList())
            if (name.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || name == "NUGET_SOURCE")
                start.Environment.Remove(name);
        if (nugetSource is not null) start.Environment["NUGET_SOURCE"] = nugetSource;
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(4)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} in {dir} did not finish within 4 minutes");
        }
        return new Result(process.ExitCode, stdout + stderr.Result);
    }
}

/// <summary>Packs the Release build (which `./build.sh test` makes first) into a folder feed, once for the class.
/// The packages get a version of their own, 1.0.0-test-GUID, so that no package of the same id and version left in
/// the global packages folder (~/.nuget/packages) by an earlier run can stand in for the fresh ones; the folders
/// that this fixture's restores add there are removed on dispose.</summary>
public sealed class PackedFeed : IDisposable
{
    /// <summary>The packable projects, as ./build.sh pack packs them.</summary>
    public static readonly string[] Projects =
    [
        "src/Qmix.Tensors/Qmix.Tensors.fsproj",
        "src/Qmix.Functional/Qmix.Functional.fsproj",
        "src/Qmix.CSharp/Qmix.CSharp.csproj",
        "src/Qmix.Cli/Qmix.Cli.csproj",
    ];

    readonly TempDir temp = new();
    readonly List<string> versions = [];

    public PackedFeed()
    {
        Root = FindRoot();
        Version = NewVersion();
        Feed = Directory.CreateDirectory(System.IO.Path.Combine(temp.Path, "feed")).FullName;
        Output = Pack(Feed, Version, Projects, NuGetSource());
    }

    /// <summary>The repository's root (where Qmix.Functional.sln is).</summary>
    public string Root { get; }

    /// <summary>The version of the packages in <see cref="Feed"/>.</summary>
    public string Version { get; }

    /// <summary>The folder feed.</summary>
    public string Feed { get; }

    /// <summary>What the packing printed.</summary>
    public string Output { get; }

    /// <summary>A fresh directory under this fixture's temporary directory.</summary>
    public string NewDir(string name) => Directory.CreateDirectory(System.IO.Path.Combine(temp.Path, name)).FullName;

    /// <summary>A version no earlier run has used, <paramref name="release"/>-test-GUID.</summary>
    public string NewVersion(string release = "1.0.0")
    {
        var v = $"{release}-test-{Guid.NewGuid():N}";
        versions.Add(v);
        return v;
    }

    /// <summary>Packs <paramref name="projects"/> (from the Release build, without building) into
    /// <paramref name="feed"/> at <paramref name="version"/>; throws with the output when a pack fails.</summary>
    public string Pack(string feed, string version, IEnumerable<string> projects, string? nugetSource)
    {
        var output = new System.Text.StringBuilder();
        foreach (var project in projects)
        {
            var r = DotNet.Run(Root,
                ["pack", project, "-c", "Release", "--no-build", "-nologo", "-o", feed, $"-p:Version={version}"],
                nugetSource);
            output.Append(r.Output);
            if (r.ExitCode != 0) throw new InvalidOperationException($"dotnet pack {project} failed, {r}");
        }
        return output.ToString();
    }

    /// <summary>The package source Paket reads while packing, as ./build.sh sets it: NUGET_SOURCE when set, else
    /// the first enabled source of the machine's NuGet configuration.</summary>
    string NuGetSource()
    {
        if (System.Environment.GetEnvironmentVariable("NUGET_SOURCE") is { Length: > 0 } set) return set;
        var r = DotNet.Run(Root, ["nuget", "list", "source", "--format", "short"]);
        var line = r.Output.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("E ", StringComparison.Ordinal));
        return line?[2..].Trim() ?? throw new InvalidOperationException($"no enabled NuGet source: {r}");
    }

    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Qmix.Functional.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no Qmix.Functional.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>The global packages folder, where restores extract packages.</summary>
    static string? GlobalPackages()
    {
        if (System.Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } set) return set;
        var home = System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile);
        return home.Length > 0 ? System.IO.Path.Combine(home, ".nuget", "packages") : null;
    }

    public void Dispose()
    {
        if (GlobalPackages() is { } packages)
            foreach (var id in new[] { "qmix.tensors", "qmix.functional", "qmix.csharp", "qmix" })
                foreach (var v in versions)
                {
                    var dir = System.IO.Path.Combine(packages, id, v);
                    try
                    {
                        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
                        var idDir = System.IO.Path.Combine(packages, id);
                        if (Directory.Exists(idDir) && !Directory.EnumerateFileSystemEntries(idDir).Any()) Directory.Delete(idDir);
                    }
                    catch (IOException) { }
                }
        temp.Dispose();
    }
}

/// <summary>The packages as a user gets them: a C# console app restores Qmix.CSharp from a folder feed (and
/// FSharp.Core and the rest from the machine's own sources), builds, trains the two-step game; the `qmix` tool
/// installs from the feed and runs.</summary>
public class PackageTests(PackedFeed packed, ITestOutputHelper log) : IClassFixture<PackedFeed>
{
    const string ConsumerProgram = """
        using Qmix;

        // the QMIX paper's two-step game (§5) with the paper's matrix-game settings
        var options = TrainingOptions.Preset(TrainingPreset.PaperMatrixGames) with { Seed = 1 };
        using var trainer = new Trainer(Environments.Create("two-step"), options);
        var result = trainer.Train();
        var greedy = Evaluation.Run(result.Policy, Environments.Create("two-step"), episodes: 1);
        Console.WriteLine($"Qmix {LibraryInfo.Version}: {result.Steps} steps");
        Console.WriteLine($"greedy return {greedy.MeanReturn.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        """;

    /// <summary>A console app in its own directory that references <paramref name="packageId"/> at
    /// <paramref name="version"/>, with a nuget.config adding <paramref name="feed"/> to the machine's sources.</summary>
    static string WriteConsumer(string dir, string packageId, string version, string feed)
    {
        File.WriteAllText(Path.Combine(dir, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                <!-- vulnerability data would need the registry even when every package is cached -->
                <NuGetAudit>false</NuGetAudit>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="{packageId}" Version="{version}" />
              </ItemGroup>
            </Project>
            """);
        // no <clear/>: the machine's configured sources stay, the folder feed is added to them
        File.WriteAllText(Path.Combine(dir, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="qmix-local" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), ConsumerProgram);
        return dir;
    }

    static string[] Build => ["build", "-c", "Release", "-nologo", "-nodeReuse:false", "-p:UseSharedCompilation=false"];

    /// <summary>Lines of a build's output that come from Paket's missing package source.</summary>
    static string[] PaketSourceWarnings(string output) =>
        output.Split('\n').Where(l => l.Contains("NUGET_SOURCE", StringComparison.Ordinal)).ToArray();

    /// <summary>The MSBuild warnings ("file(line,col): warning CODE: ...") in a build's output.</summary>
    static string[] BuildWarnings(string output) =>
        output.Split('\n').Where(l => Regex.IsMatch(l, @": warning [A-Z]+[0-9]+")).ToArray();

    static XElement Nuspec(string nupkg)
    {
        using var zip = ZipFile.OpenRead(nupkg);
        var entry = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal) && !e.FullName.Contains('/'));
        using var stream = entry.Open();
        return XElement.Load(stream);
    }

    static string[] Entries(string nupkg)
    {
        using var zip = ZipFile.OpenRead(nupkg);
        return zip.Entries.Select(e => e.FullName).ToArray();
    }

    static Dictionary<string, string> Dependencies(XElement nuspec) =>
        nuspec.Descendants().Where(e => e.Name.LocalName == "dependency")
            .ToDictionary(e => (string)e.Attribute("id")!, e => (string)e.Attribute("version")!);

    static string Meta(XElement nuspec, string name) =>
        nuspec.Descendants().First(e => e.Name.LocalName == name).Value;

    /// <summary>The source files embedded in an assembly's embedded portable PDB (none when it has no embedded
    /// PDB or the PDB carries no sources).</summary>
    static string[] EmbeddedSources(byte[] assembly)
    {
        var embeddedSource = new Guid("0E8A571B-6926-466E-B4AD-8AB04611F5FE");
        using var pe = new PEReader(new MemoryStream(assembly));
        var entry = pe.ReadDebugDirectory().Where(d => d.Type == DebugDirectoryEntryType.EmbeddedPortablePdb).ToArray();
        if (entry.Length == 0) return [];
        using var provider = pe.ReadEmbeddedPortablePdbDebugDirectoryData(entry[0]);
        var pdb = provider.GetMetadataReader();
        return pdb.Documents
            .Where(h => pdb.GetCustomDebugInformation(h).Any(c => pdb.GetGuid(pdb.GetCustomDebugInformation(c).Kind) == embeddedSource))
            .Select(h => pdb.GetString(pdb.GetDocument(h).Name))
            .ToArray();
    }

    [Fact]
    public void Packages_carry_metadata_docs_embedded_sources_and_dependencies()
    {
        var v = packed.Version;
        string Package(string id) => Path.Combine(packed.Feed, $"{id}.{v}.nupkg");
        Assert.Equal(
            new[] { "Qmix.CSharp", "Qmix.Functional", "Qmix.Tensors", "qmix" }.Select(id => $"{id}.{v}.nupkg").Order(StringComparer.Ordinal),
            Directory.GetFiles(packed.Feed).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        foreach (var id in new[] { "Qmix.Tensors", "Qmix.Functional", "Qmix.CSharp", "qmix" })
        {
            var nuspec = Nuspec(Package(id));
            Assert.Equal(v, Meta(nuspec, "version"));
            Assert.Equal("MIT", Meta(nuspec, "license"));
            Assert.Equal("README.md", Meta(nuspec, "readme"));
            Assert.False(string.IsNullOrWhiteSpace(Meta(nuspec, "description")), $"{id} has no description");
            Assert.Contains("qmix", Meta(nuspec, "tags").Split(' '));
            Assert.Contains("README.md", Entries(Package(id)));
        }
        foreach (var id in new[] { "Qmix.Tensors", "Qmix.Functional", "Qmix.CSharp" })
        {
            Assert.Contains($"lib/net10.0/{id}.dll", Entries(Package(id)));
            Assert.Contains($"lib/net10.0/{id}.xml", Entries(Package(id)));
            using var zip = ZipFile.OpenRead(Package(id));
            using var dll = new MemoryStream();
            using (var s = zip.GetEntry($"lib/net10.0/{id}.dll")!.Open()) s.CopyTo(dll);
            var sources = EmbeddedSources(dll.ToArray());
            var ext = id == "Qmix.CSharp" ? ".cs" : ".fs";
            Assert.True(sources.Count(s => s.EndsWith(ext, StringComparison.Ordinal)) >= 5,
                $"{id}.dll embeds {sources.Length} sources: {string.Join(", ", sources)}");
        }
        // negative control for the embedded-sources check: this test assembly has a separate PDB, no embedded one
        Assert.Empty(EmbeddedSources(File.ReadAllBytes(typeof(PackageTests).Assembly.Location)));

        // the libraries depend on each other at the packed version, and on the packages Paket gives them
        var tensors = Dependencies(Nuspec(Package("Qmix.Tensors")));
        Assert.Equal(["FSharp.Core", "System.Numerics.Tensors"], tensors.Keys.Order(StringComparer.Ordinal));
        var functional = Dependencies(Nuspec(Package("Qmix.Functional")));
        Assert.Equal(["FSharp.Core", "FsCheck", "Qmix.Tensors"], functional.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(v, functional["Qmix.Tensors"]);
        var csharp = Dependencies(Nuspec(Package("Qmix.CSharp")));
        Assert.Equal(["Qmix.Functional"], csharp.Keys);
        Assert.Equal(v, csharp["Qmix.Functional"]);
        Assert.StartsWith("[10.", functional["FSharp.Core"]);

        // the tool: a DotnetTool package with its dependencies inside, none to restore
        var tool = Nuspec(Package("qmix"));
        Assert.Equal("DotnetTool", (string)tool.Descendants().Single(e => e.Name.LocalName == "packageType").Attribute("name")!);
        Assert.Empty(Dependencies(tool));
        var toolFiles = Entries(Package("qmix"));
        foreach (var dll in new[] { "qmix", "Qmix.CSharp", "Qmix.Functional", "Qmix.Tensors", "FSharp.Core", "System.CommandLine", "Spectre.Console", "System.Numerics.Tensors" })
            Assert.Contains($"tools/net10.0/any/{dll}.dll", toolFiles);
    }

    [Fact]
    public void A_console_app_restores_Qmix_CSharp_from_the_feed_and_trains_the_two_step_game()
    {
        var dir = WriteConsumer(packed.NewDir("consumer"), "Qmix.CSharp", packed.Version, packed.Feed);

        var build = DotNet.Run(dir, Build);
        Assert.True(build.ExitCode == 0, $"the consumer's build failed, {build}");
        // the consumer uses packages only: nothing of Paket reaches its build, and it has no warning at all
        Assert.Empty(PaketSourceWarnings(build.Output));
        Assert.Empty(BuildWarnings(build.Output));
        // every Qmix package came from the folder feed at the fresh version
        var assets = File.ReadAllText(Path.Combine(dir, "obj", "project.assets.json"));
        foreach (var id in new[] { "Qmix.CSharp", "Qmix.Functional", "Qmix.Tensors" })
            Assert.Contains($"\"{id}/{packed.Version}\"", assets);

        var run = DotNet.Run(dir, [Path.Combine(dir, "bin", "Release", "net10.0", "Consumer.dll")]);
        Assert.True(run.ExitCode == 0, $"the consumer failed, {run}");
        log.WriteLine(run.Output);
        var greedy = Regex.Match(run.Output, @"greedy return (\S+)");
        Assert.True(greedy.Success, run.ToString());
        // QMIX reaches the two-step game's optimum, 8 (the paper's §5)
        Assert.Equal(8.0, double.Parse(greedy.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));

        // negative control for the warning check: a planted warning in the same build is seen
        File.AppendAllText(Path.Combine(dir, "Program.cs"), "\n#warning planted\n");
        var planted = DotNet.Run(dir, Build);
        Assert.True(planted.ExitCode == 0, planted.ToString());
        Assert.Contains(BuildWarnings(planted.Output), l => l.Contains("warning CS1030: #warning: 'planted'", StringComparison.Ordinal));
    }

    [Fact]
    public void The_qmix_tool_installs_from_the_feed_and_lists_the_environments()
    {
        var tools = packed.NewDir("tools");
        var install = DotNet.Run(tools,
            ["tool", "install", "--tool-path", tools, "--add-source", packed.Feed, "--version", packed.Version, "qmix"]);
        Assert.True(install.ExitCode == 0, $"dotnet tool install failed, {install}");

        var envs = DotNet.Run(tools, ["envs"], file: Path.Combine(tools, "qmix"));
        Assert.True(envs.ExitCode == 0, $"qmix envs failed, {envs}");
        log.WriteLine(envs.Output);
        Assert.Contains("two-step", envs.Output);
        Assert.Contains("combat:3m", envs.Output);
        Assert.Contains("lbf:10x10-3p-3f", envs.Output);
    }

    [Fact]
    public void A_feed_without_Qmix_Functional_fails_the_restore_naming_it_and_Paket_warnings_are_seen()
    {
        // negative control: the same consumer, from a feed holding Qmix.Tensors and Qmix.CSharp but not the
        // Qmix.Functional that Qmix.CSharp depends on (>= the version). At a version above any other, so that no
        // Qmix.Functional in the global packages folder (e.g. the other tests' 1.0.0-test-GUID) can fill in.
        var version = packed.NewVersion("999.0.0");
        var feed = packed.NewDir("feed-without-functional");
        // packed without NUGET_SOURCE: Paket, run by the pack, warns, and the warning check must see it
        var packOutput = packed.Pack(feed, version, [PackedFeed.Projects[0], PackedFeed.Projects[2]], nugetSource: null);
        Assert.NotEmpty(PaketSourceWarnings(packOutput));
        Assert.Empty(PaketSourceWarnings(packed.Output));

        var dir = WriteConsumer(packed.NewDir("consumer-without-functional"), "Qmix.CSharp", version, feed);
        var restore = DotNet.Run(dir, ["restore", "-nologo"]);
        Assert.True(restore.ExitCode != 0, $"the restore succeeded without Qmix.Functional, {restore}");
        Assert.True(Regex.IsMatch(restore.Output, @"error NU110[12]: Unable to find package Qmix\.Functional"), restore.ToString());
    }
}
