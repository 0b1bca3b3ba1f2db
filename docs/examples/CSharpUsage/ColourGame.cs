using Qmix;

namespace CSharpUsage;

/// <summary>A small cooperative game written against <see cref="IMultiAgentEnvironment"/>.
/// At each of four steps a colour (0, 1 or 2) is shown to both agents, and the team
/// scores 1 when both answer with that colour. Agent 1 has no paint of colour 2, so that
/// answer is not available to it, and a colour-2 step cannot be won. The episode is won
/// when every winnable step is.</summary>
public sealed class ColourGame : IMultiAgentEnvironment
{
    const int Steps = 4;
    Random random = new(0);
    int colour, step, missed;

    public EnvironmentSpec Spec { get; } = new("colour-game",
        agents: 2, actions: 3, observationSize: 4, stateSize: 4, episodeLimit: Steps);

    public void Reset(ulong seed)
    {
        // an episode must be a deterministic function of its seed:
        // draw everything from a generator seeded here
        random = new Random((int)(seed % int.MaxValue));
        colour = random.Next(3);
        step = missed = 0;
    }

    public StepResult Step(int[] actions)
    {
        var scored = actions[0] == colour && actions[1] == colour;
        if (!scored && colour != 2) missed++;
        step++;
        colour = random.Next(3);
        var last = step == Steps;
        // the time limit truncates the episode (the learner bootstraps through it);
        // Won is reported at its end
        return new StepResult(scored ? 1f : 0f, Terminated: false, Truncated: last,
            Won: last ? missed == 0 : null);
    }

    float[] Seen =>
        [colour == 0 ? 1 : 0, colour == 1 ? 1 : 0, colour == 2 ? 1 : 0, (float)step / Steps];

    // agent after agent: both see the colour and the time
    public float[] Observations => [.. Seen, .. Seen];

    public float[] State => Seen;

    // agent after agent, action after action: agent 1 cannot answer 2
    public bool[] AvailableActions => [true, true, true, true, true, false];
}
