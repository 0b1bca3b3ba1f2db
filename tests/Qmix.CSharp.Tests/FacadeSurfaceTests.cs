using System.Reflection;
using Xunit;

namespace Qmix.Tests;

/// <summary>The facade is for C# users: no F# type may appear in a public signature.</summary>
public class FacadeSurfaceTests
{
    static bool IsFSharpType(Type t)
    {
        if (t.IsGenericType && t.GetGenericArguments().Any(IsFSharpType)) return true;
        if (t.HasElementType && IsFSharpType(t.GetElementType()!)) return true;
        return t.Namespace?.StartsWith("Microsoft.FSharp", StringComparison.Ordinal) == true
            || (t.Assembly.GetName().Name?.StartsWith("Qmix.Functional", StringComparison.Ordinal) ?? false)
            || (t.Assembly.GetName().Name?.StartsWith("Qmix.Tensors", StringComparison.Ordinal) ?? false)
            || (t.IsGenericType && t.GetGenericTypeDefinition().FullName?.StartsWith("System.Tuple", StringComparison.Ordinal) == true);
    }

    public static IEnumerable<string> FSharpTypesInSignatures(Assembly assembly)
    {
        foreach (var type in assembly.GetExportedTypes())
        {
            foreach (var m in type.GetMembers(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            {
                var types = m switch
                {
                    MethodInfo mi => mi.GetParameters().Select(p => p.ParameterType).Append(mi.ReturnType),
                    PropertyInfo pi => new[] { pi.PropertyType },
                    FieldInfo fi => new[] { fi.FieldType },
                    ConstructorInfo ci => ci.GetParameters().Select(p => p.ParameterType),
                    EventInfo ei => new[] { ei.EventHandlerType! },
                    _ => Array.Empty<Type>(),
                };
                foreach (var t in types.Where(IsFSharpType))
                    yield return $"{type.FullName}.{m.Name}: {t.FullName}";
            }
        }
    }

    [Fact]
    public void Facade_signatures_use_no_FSharp_types()
    {
        var offenders = FSharpTypesInSignatures(typeof(LibraryInfo).Assembly).ToList();
        Assert.True(offenders.Count == 0, "F# types in the facade: " + string.Join("; ", offenders));
    }

    [Fact]
    public void The_surface_check_catches_an_FSharp_type()
    {
        // Negative control: the F# core exposes F# lists, so the same check must report it.
        var offenders = FSharpTypesInSignatures(typeof(Qmix.Functional.About).Assembly).ToList();
        Assert.Contains(offenders, o => o.Contains("FSharpList"));
    }

    [Fact]
    public void Library_info_lists_capabilities()
    {
        Assert.NotEmpty(LibraryInfo.Capabilities);
        Assert.Matches(@"^\d+\.\d+\.\d+$", LibraryInfo.Version);
    }

    /// <summary>PyMARL's abbreviations that .NET's naming guidelines spell out (<c>lr</c>, <c>eps</c>, <c>obs</c>,
    /// <c>grad</c>, …); acronyms (TD, RNN, QMIX) are fine, and so is <c>Abs</c> (as in <c>Math.Abs</c>).</summary>
    static readonly HashSet<string> Abbreviations =
        ["Lr", "Eps", "Td", "Obs", "Avail", "Env", "Envs", "Grad", "Embed", "Hypernet", "Num", "Dim", "Cfg", "Opt"];

    /// <summary>The public names (types, members, parameters) of an assembly that contain an abbreviation as a word.</summary>
    public static IEnumerable<string> AbbreviatedNames(Assembly assembly)
    {
        static IEnumerable<string> Words(string name) =>
            System.Text.RegularExpressions.Regex.Matches(name, "[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
                .Select(m => m.Value.Length > 1 ? char.ToUpperInvariant(m.Value[0]) + m.Value[1..] : m.Value.ToUpperInvariant());
        foreach (var type in assembly.GetExportedTypes())
        {
            var names = new List<string> { type.Name.Split('`')[0] };
            foreach (var m in type.GetMembers(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            {
                if (m is MethodInfo { IsSpecialName: true }) continue;
                names.Add(m.Name);
                if (m is MethodBase mb) names.AddRange(mb.GetParameters().Select(p => p.Name ?? ""));
            }
            foreach (var name in names.Distinct())
                if (Words(name).FirstOrDefault(Abbreviations.Contains) is { } word)
                    yield return $"{type.FullName}: {name} ({word})";
        }
    }

    [Fact]
    public void Facade_names_spell_out_PyMARL_abbreviations()
    {
        var offenders = AbbreviatedNames(typeof(LibraryInfo).Assembly).ToList();
        Assert.True(offenders.Count == 0, "abbreviated names in the facade: " + string.Join("; ", offenders));
    }

    [Fact]
    public void The_naming_check_catches_an_abbreviation()
    {
        // Negative control: the F# core keeps PyTorch's and PyMARL's words (AdamConfig.Lr, EnvSpec.ObsDim, GradNormClip).
        var offenders = AbbreviatedNames(typeof(Qmix.Functional.About).Assembly)
            .Concat(AbbreviatedNames(typeof(Qmix.Tensors.AdamConfig).Assembly)).ToList();
        Assert.Contains("Qmix.Tensors.AdamConfig: Lr (Lr)", offenders);
        Assert.Contains("Qmix.Functional.EnvSpec: ObsDim (Obs)", offenders);
        Assert.Contains(offenders, o => o.Contains("GradNormClip (Grad)", StringComparison.Ordinal));
    }
}
