using System.Text.Json;
using System.Text.Json.Serialization;
using F = Qmix.Functional;

namespace Qmix;

/// <summary>The files of a saved model: <c>NAME.safetensors</c> (the parameters, written by the F# core) and the
/// facade's sidecar <c>NAME.options.json</c> (the spec and the training options, so that <c>Policy.Load(path)</c>
/// needs nothing else).</summary>
internal static class ModelFiles
{
    static readonly JsonSerializerOptions json = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    sealed record Sidecar(string Format, SpecDto Spec, TrainingOptions Options);

    sealed record SpecDto(string Name, int Agents, int Actions, int ObservationSize, int StateSize, int EpisodeLimit);

    const string Format = "qmix/options";

    /// <summary>The model file of a path given with or without <c>.safetensors</c>.</summary>
    public static string ModelPath(string path) => F.Checkpoint.paths(path).Item1;

    /// <summary>The sidecar of a path given with or without <c>.safetensors</c>.</summary>
    public static string SidecarPath(string path)
    {
        var model = ModelPath(path);
        return model[..^".safetensors".Length] + ".options.json";
    }

    public static void WriteSidecar(string path, EnvironmentSpec spec, TrainingOptions options)
    {
        var file = SidecarPath(path);
        var dir = Path.GetDirectoryName(Path.GetFullPath(file));
        if (dir is not null) Directory.CreateDirectory(dir);
        var s = new SpecDto(spec.Name, spec.Agents, spec.Actions, spec.ObservationSize, spec.StateSize, spec.EpisodeLimit);
        var tmp = file + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(new Sidecar(Format, s, options), json));
        File.Move(tmp, file, overwrite: true);
    }

    /// <summary>The spec and options of a sidecar, or null when there is none.</summary>
    /// <exception cref="InvalidDataException">The sidecar exists but cannot be read.</exception>
    public static (EnvironmentSpec Spec, TrainingOptions Options)? ReadSidecar(string path)
    {
        var file = SidecarPath(path);
        if (!File.Exists(file)) return null;
        try
        {
            var sc = JsonSerializer.Deserialize<Sidecar>(File.ReadAllText(file), json)
                ?? throw new InvalidDataException($"{file}: empty");
            if (sc.Format != Format) throw new InvalidDataException($"{file}: format '{sc.Format}', expected '{Format}'");
            var s = sc.Spec;
            return (new EnvironmentSpec(s.Name, s.Agents, s.Actions, s.ObservationSize, s.StateSize, s.EpisodeLimit), sc.Options);
        }
        catch (Exception e) when (e is JsonException or ArgumentException or NotSupportedException)
        {
            throw new InvalidDataException($"{file}: {e.Message}", e);
        }
    }
}
