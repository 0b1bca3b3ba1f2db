using Qmix;

Console.WriteLine($"qmix {LibraryInfo.Version}: cooperative multi-agent reinforcement learning by value factorisation");
Console.WriteLine("This build provides:");
foreach (var line in LibraryInfo.Capabilities)
{
    Console.WriteLine($"  - {line}");
}
return 0;
