namespace Qmix;

/// <summary>An agent's network gave a NaN or infinite Q-value while acting (<see cref="Policy.Act(float[], bool[])"/>,
/// <see cref="Evaluation.Run"/>): its parameters hold NaN or infinite values (diverged training, or a damaged model),
/// so no action can be chosen. Acting stops instead of picking an arbitrary action; the message names the agent, the
/// step and the value. (While training, the same condition stops the run with a
/// <see cref="TrainingDivergedException"/>.)</summary>
public sealed class NonFiniteQValueException : ArithmeticException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What happened, naming the agent and the step.</param>
    /// <param name="agent">The agent whose Q-value was not finite.</param>
    /// <param name="step">The step of the episode (from 0).</param>
    /// <param name="inner">The cause, or null.</param>
    public NonFiniteQValueException(string message, int agent, int step, Exception? inner = null) : base(message, inner)
    {
        Agent = agent;
        Step = step;
    }

    /// <summary>The agent whose Q-value was not finite.</summary>
    public int Agent { get; }

    /// <summary>The step of the episode (from 0) at which it was computed.</summary>
    public int Step { get; }
}
