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
}
