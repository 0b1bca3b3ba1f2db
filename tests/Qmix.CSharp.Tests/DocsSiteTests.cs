using System.Diagnostics;
using Xunit;

namespace Qmix.Tests;

/// <summary>
/// The documentation build's site checks (docs/check-links.py, run by docs/build.sh after fsdocs) and the step that
/// makes fsdocs' root-absolute links relative (docs/relink.py), on tiny sites written here: a good site passes, and
/// each kind of planted fault fails naming the page and the link.
/// </summary>
public class DocsSiteTests
{
    static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Qmix.Functional.sln")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Qmix.Functional.sln not found above " + AppContext.BaseDirectory);
    }

    static (int Code, string Out, string Err) Python(string script, params string[] args)
    {
        var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(RepoRoot(), "docs", script));
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(60_000), $"{script} did not finish within 60 s");
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    static void Write(string root, string relative, string text)
    {
        var path = Path.Combine(root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }

    static string Page(string root, string body) =>
        $"""
        <!DOCTYPE html>
        <html lang="en" data-root="{root}">
        <head>
          <link href="{root}content/favicon.svg" rel="icon" type="image/svg+xml"/>
          <link href="{root}content/site.css" rel="stylesheet"/>
          <script src="{root}content/site.js"></script>
        </head>
        <body>{body}</body>
        </html>
        """;

    /// <summary>A site like fsdocs' after relinking: pages at the top and in reference/, all links relative.</summary>
    static void GoodSite(string dir)
    {
        Write(dir, "content/favicon.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>");
        Write(dir, "content/site.css", "body { color: black; }");
        Write(dir, "content/site.js", "document.title = 'x';");
        Write(dir, "index.html", Page("", """
            <a href="guide.html#part-two">guide</a> <a href="reference/index.html">API</a>
            <a href="#top" id="top">top</a> <a href="https://learn.microsoft.com/dotnet/">.NET</a>
            <img src="content/favicon.svg">
            """));
        Write(dir, "guide.html", Page("", """<h2><a name="part-two">Part two</a></h2><a href="index.html">home</a>"""));
        Write(dir, "reference/index.html", Page("../", """<a href="../guide.html">guide</a> <a href="../index.html">home</a>"""));
    }

    [Fact]
    public void A_good_site_passes_the_link_check()
    {
        using var tmp = new TempDir();
        GoodSite(tmp.Path);
        var (code, stdout, stderr) = Python("check-links.py", tmp.Path);
        Assert.True(code == 0, $"exit {code}: {stderr}");
        Assert.Contains("3 pages resolve", stdout);
    }

    [Theory]
    [InlineData("guide.html", "<a href=\"missing.html\">gone</a>", "dead link: <a href=\"missing.html\">")]
    [InlineData("reference/index.html", "<a href=\"../guide.html#part-three\">x</a>", "dead anchor (no id or name 'part-three' in guide.html)")]
    [InlineData("guide.html", "<a href=\"/Qmix.Functional/index.html\">root</a>", "root-absolute link (breaks opened from disk): <a href=\"/Qmix.Functional/index.html\">")]
    [InlineData("guide.html", "<script src=\"https://cdn.example/lib.js\"></script>", "loads from the network (breaks offline): <script src=\"https://cdn.example/lib.js\">")]
    [InlineData("guide.html", "<img src=\"content/logo.png\">", "dead link: <img src=\"content/logo.png\">")]
    [InlineData("guide.html", "<a href=\"reference/\">folder</a>", "dead link (a folder without index.html): <a href=\"reference/\">")]
    public void A_planted_fault_fails_the_link_check_naming_the_page_and_the_link(string page, string fault, string expected)
    {
        using var tmp = new TempDir();
        GoodSite(tmp.Path);
        if (expected.Contains("folder without")) File.Delete(Path.Combine(tmp.Path, "reference", "index.html"));
        var path = Path.Combine(tmp.Path, page);
        File.WriteAllText(path, File.ReadAllText(path).Replace("</body>", fault + "</body>"));
        var (code, _, stderr) = Python("check-links.py", tmp.Path);
        Assert.Equal(1, code);
        Assert.Contains(page.Replace('/', Path.DirectorySeparatorChar) + ": " + expected, stderr);
    }

    [Fact]
    public void A_page_without_a_favicon_and_a_script_importing_from_the_network_fail_the_link_check()
    {
        using var tmp = new TempDir();
        GoodSite(tmp.Path);
        var guide = Path.Combine(tmp.Path, "guide.html");
        File.WriteAllText(guide, File.ReadAllText(guide).Replace("rel=\"icon\"", "rel=\"author\""));
        Write(tmp.Path, "content/site.js", "import { LitElement } from 'https://cdn.example/lit-core.min.js';");
        var (code, _, stderr) = Python("check-links.py", tmp.Path);
        Assert.Equal(1, code);
        Assert.Contains("guide.html: no favicon", stderr);
        Assert.Contains("line 1 loads from the network (breaks offline): https://cdn.example/lit-core.min.js", stderr);
    }

    [Fact]
    public void Relinking_makes_an_fsdocs_style_site_with_root_absolute_links_pass_the_check()
    {
        using var tmp = new TempDir();
        const string root = "/Qmix.Functional/";
        Write(tmp.Path, "content/favicon.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>");
        Write(tmp.Path, "content/site.css", "body { color: black; }");
        Write(tmp.Path, "content/site.js", "document.title = 'x';");
        Write(tmp.Path, "content/fsdocs-search.js", "import Fuse from \"https://esm.sh/fuse.js@7.0.0\";");
        Write(tmp.Path, "index.html", Page(root, $"""<a href="{root}">home</a> <a href="{root}reference/index.html#top">API</a>"""));
        Write(tmp.Path, "reference/index.html", Page(root, $"""
            <a id="top" href="{root}index.html">home</a>
            <script type="module" src="{root}content/fsdocs-search.js"></script>
            """));
        Write(tmp.Path, "index.json", $$"""[{"uri":"{{root}}reference/index.html","title":"API","content":"","headings":[],"type":"apiDocs"}]""");

        var before = Python("check-links.py", tmp.Path);
        Assert.Equal(1, before.Code);
        Assert.Contains("root-absolute link", before.Err);

        var relink = Python("relink.py", tmp.Path);
        Assert.True(relink.Code == 0, relink.Err);
        var after = Python("check-links.py", tmp.Path);
        Assert.True(after.Code == 0, $"exit {after.Code}: {after.Err}");

        var index = File.ReadAllText(Path.Combine(tmp.Path, "index.html"));
        Assert.Contains("href=\"index.html\">home", index);
        Assert.Contains("href=\"reference/index.html#top\"", index);
        var reference = File.ReadAllText(Path.Combine(tmp.Path, "reference", "index.html"));
        Assert.Contains("data-root=\"../\"", reference);
        Assert.Contains("href=\"../content/site.css\"", reference);
        Assert.DoesNotContain("fsdocs-search.js", reference);
        Assert.False(File.Exists(Path.Combine(tmp.Path, "content", "fsdocs-search.js")));
        var search = File.ReadAllText(Path.Combine(tmp.Path, "content", "qmix-search-index.js"));
        Assert.Contains("\"uri\": \"reference/index.html\"", search);

        // a second run changes nothing
        Assert.Equal(0, Python("relink.py", tmp.Path).Code);
        Assert.Equal(reference, File.ReadAllText(Path.Combine(tmp.Path, "reference", "index.html")));
    }
}
