namespace Qmix;

/// <summary>One entry of the catalogue of built-in environments.</summary>
/// <param name="Name">The registered name, e.g. <c>combat:3m</c>; pass it to <see cref="Environments.Create"/>.</param>
/// <param name="Description">One line on what the environment is.</param>
/// <param name="Spec">Its sizes.</param>
public sealed record EnvironmentInfo(string Name, string Description, EnvironmentSpec Spec);
