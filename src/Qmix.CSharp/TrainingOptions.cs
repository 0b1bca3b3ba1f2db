using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.FSharp.Core;
using Qmix.Tensors;
using F = Qmix.Functional;

namespace Qmix;

/// <summary>Every setting of a training run: the algorithm, the learner, the agents, the mixer, exploration, the
/// runner and checkpoints. The defaults are the QMIX paper's (as PyMARL's <c>default.yaml</c> and
/// <c>algs/qmix.yaml</c> set them for SMAC): RMSprop with lr 5e-4, batches of 32 episodes from the last 5000,
/// γ = 0.99, ε from 1 to 0.05 over 50,000 steps, a target-network copy every 200 episodes, GRU agents of width 64
/// and a mixing network of width 32.</summary>
/// <remarks>
/// <para>An immutable record: set what differs from the defaults in an object initialiser,
/// <c>new TrainingOptions { Algorithm = Algorithm.Vdn, TotalSteps = 300_000, Seed = 2 }</c>, and derive variants
/// with <c>with</c>, <c>options with { Seed = 3 }</c>.</para>
/// <para>Each property checks its own range when it is set and throws an
/// <see cref="ArgumentOutOfRangeException"/> naming the property. Settings that depend on each other (the buffer must
/// hold a batch) are checked when a <see cref="Trainer"/> is created.</para>
/// </remarks>
public sealed record TrainingOptions
{
    // ------------------------------------------------------------------ the run

    /// <summary>The algorithm (QMIX).</summary>
    public Algorithm Algorithm { get; init => field = Defined(value, nameof(Algorithm)); } = Algorithm.Qmix;

    /// <summary>Environment steps to train for (PyMARL's <c>t_max</c>; 2,050,000 on SMAC). Zero trains
    /// nothing.</summary>
    public int TotalSteps { get; init => field = Guard.AtLeast(value, 0, nameof(TotalSteps)); } = 2_050_000;

    /// <summary>The seed every random choice of the run derives from (1): the parameters' initialisation, the
    /// environments' resets and steps, exploration and replay sampling. The same options and seed give the same
    /// run.</summary>
    public ulong Seed { get; init; } = 1;

    // ------------------------------------------------------------------ replay and updates

    /// <summary>Episodes per learner update (<c>batch_size</c>, 32).</summary>
    public int BatchSize { get; init => field = Guard.AtLeast(value, 1, nameof(BatchSize)); } = 32;

    /// <summary>Episodes the replay buffer keeps, the most recent ones (<c>buffer_size</c>, 5000); at least
    /// <see cref="BatchSize"/>.</summary>
    public int BufferSize { get; init => field = Guard.AtLeast(value, 1, nameof(BufferSize)); } = 5000;

    /// <summary>How the replay buffer stores observations and states (<c>replay_precision</c>):
    /// <see cref="ReplayPrecision.Float32"/> (the default, exactly as recorded) or <see cref="ReplayPrecision.Float16"/>
    /// (half their memory, each value rounded to 11 significant bits). Either way the buffer keeps only the steps an
    /// episode recorded and its available-action masks as bits.</summary>
    public ReplayPrecision ReplayPrecision { get; init => field = Defined(value, nameof(ReplayPrecision)); } = ReplayPrecision.Float32;

    /// <summary>The learning rate (<c>lr</c>, 5e-4).</summary>
    [JsonPropertyName("lr")]
    public double LearningRate { get; init => field = Guard.Positive(value, nameof(LearningRate)); } = 5e-4;

    /// <summary>The optimiser (RMSprop).</summary>
    public Optimizer Optimizer { get; init => field = Defined(value, nameof(Optimizer)); } = Optimizer.RmsProp;

    /// <summary>RMSprop's smoothing constant α of the running average of squared gradients (<c>optim_alpha</c>,
    /// 0.99), in [0, 1).</summary>
    public double RmsPropAlpha
    {
        get;
        init => field = Guard.InClosedOpen(value, 0, 1, nameof(RmsPropAlpha));
    } = 0.99;

    /// <summary>Adam's decay rate β₁ of the first moment (0.9), in [0, 1).</summary>
    public double AdamBeta1
    {
        get;
        init => field = Guard.InClosedOpen(value, 0, 1, nameof(AdamBeta1));
    } = 0.9;

    /// <summary>Adam's decay rate β₂ of the second moment (0.999), in [0, 1).</summary>
    public double AdamBeta2
    {
        get;
        init => field = Guard.InClosedOpen(value, 0, 1, nameof(AdamBeta2));
    } = 0.999;

    /// <summary>The optimiser's ε, added to the root of the second moment (<c>optim_eps</c>, 1e-5).</summary>
    [JsonPropertyName("optimizer_eps")]
    public double OptimizerEpsilon { get; init => field = Guard.Positive(value, nameof(OptimizerEpsilon)); } = 1e-5;

    /// <summary>The discount γ (0.99), in [0, 1].</summary>
    public double Gamma { get; init => field = Guard.InRange(value, 0, 1, nameof(Gamma)); } = 0.99;

    /// <summary>Double Q-learning: the greedy action at t + 1 from the online agents, its value from the target
    /// networks (<c>double_q</c>, true).</summary>
    public bool DoubleQ { get; init; } = true;

    /// <summary>TD(λ) targets with this λ in [0, 1] (pymarl2's <c>td_lambda</c>); null (the default) for the
    /// one-step targets of the QMIX paper.</summary>
    [JsonPropertyName("td_lambda")]
    public double? TDLambda
    {
        get;
        init => field = value is { } l ? Guard.InRange(l, 0, 1, nameof(TDLambda)) : null;
    }

    /// <summary>A factor on the loss (1; pymarl2 uses 0.5).</summary>
    public double LossScale { get; init => field = Guard.Positive(value, nameof(LossScale)); } = 1.0;

    /// <summary>The threshold of global gradient-norm clipping (<c>grad_norm_clip</c>, 10).</summary>
    [JsonPropertyName("grad_norm_clip")]
    public double GradientNormClip { get; init => field = Guard.Positive(value, nameof(GradientNormClip)); } = 10.0;

    /// <summary>Threads a learner update may use: 0 (the default) for as many as the machine has, at most one per half
    /// of the batch; 1 for the calling thread only. Results are bit-identical for every value.</summary>
    public int LearnerThreads { get; init => field = Guard.AtLeast(value, 0, nameof(LearnerThreads)); } = 0;

    /// <summary>Episodes between hard copies of the online networks into the target networks
    /// (<c>target_update_interval</c>, 200). Ignored when <see cref="Tau"/> is set.</summary>
    public int TargetUpdateInterval
    {
        get;
        init => field = Guard.AtLeast(value, 1, nameof(TargetUpdateInterval));
    } = 200;

    /// <summary>Soft target updates θ′ ← τθ + (1 − τ)θ′ after every update, with τ in (0, 1]; null (the default)
    /// for hard copies every <see cref="TargetUpdateInterval"/> episodes.</summary>
    public double? Tau
    {
        get;
        init => field = value is { } t ? Guard.InHalfOpen(t, 0, 1, nameof(Tau)) : null;
    }

    // ------------------------------------------------------------------ exploration

    /// <summary>ε at step 0 of the linear ε-greedy schedule (<c>epsilon_start</c>, 1), in [0, 1].</summary>
    public double EpsilonStart { get; init => field = Guard.InRange(value, 0, 1, nameof(EpsilonStart)); } = 1.0;

    /// <summary>ε from step <see cref="EpsilonAnnealSteps"/> on (<c>epsilon_finish</c>, 0.05), in [0, 1].</summary>
    public double EpsilonFinish { get; init => field = Guard.InRange(value, 0, 1, nameof(EpsilonFinish)); } = 0.05;

    /// <summary>The environment steps over which ε moves linearly from <see cref="EpsilonStart"/> to
    /// <see cref="EpsilonFinish"/> (<c>epsilon_anneal_time</c>, 50,000); 0 uses <see cref="EpsilonFinish"/> from the
    /// start.</summary>
    public int EpsilonAnnealSteps { get; init => field = Guard.AtLeast(value, 0, nameof(EpsilonAnnealSteps)); } = 50_000;

    // ------------------------------------------------------------------ the runner

    /// <summary>Environments run in lockstep per collection (<c>batch_size_run</c>, 1); one learner update follows
    /// each collection.</summary>
    [JsonPropertyName("parallel_envs")]
    public int ParallelEnvironments { get; init => field = Guard.AtLeast(value, 1, nameof(ParallelEnvironments)); } = 1;

    /// <summary>Environment steps between greedy evaluations (<c>test_interval</c>, 2000). The first evaluation
    /// runs after the first collection.</summary>
    public int TestInterval { get; init => field = Guard.AtLeast(value, 1, nameof(TestInterval)); } = 2000;

    /// <summary>Greedy (ε = 0) episodes per evaluation (<c>test_nepisode</c>, 20); 0 turns evaluations off.</summary>
    public int TestEpisodes { get; init => field = Guard.AtLeast(value, 0, nameof(TestEpisodes)); } = 20;

    /// <summary>Environment steps between checkpoints written to <see cref="CheckpointDirectory"/>
    /// (<c>save_model_interval</c>); 0 (the default) writes one only at the end of training (and when it is
    /// cancelled).</summary>
    public int SaveInterval { get; init => field = Guard.AtLeast(value, 0, nameof(SaveInterval)); } = 0;

    /// <summary>What happens when a checkpoint cannot be written: <see cref="CheckpointFailure.Continue"/> (the default:
    /// a warning, the next one tried an interval later) or <see cref="CheckpointFailure.Stop"/> (training stops with
    /// <see cref="CheckpointFailedException"/>). Either way the previous checkpoint is kept.</summary>
    public CheckpointFailure OnCheckpointFailure { get; init => field = Defined(value, nameof(OnCheckpointFailure)); } = CheckpointFailure.Continue;

    /// <summary>What a checkpoint holds of the replay buffer (<c>checkpoint_replay</c>): <see cref="CheckpointReplay.Full"/>
    /// (the default, needed for a bit-identical resume) or <see cref="CheckpointReplay.None"/> (a few MB instead of up
    /// to gigabytes; a resumed run refills its buffer).</summary>
    public CheckpointReplay CheckpointReplay { get; init => field = Defined(value, nameof(CheckpointReplay)); } = CheckpointReplay.Full;

    /// <summary>Where the trainer writes its checkpoint (<c>DIR/model.safetensors</c> and its companions, see
    /// <see cref="Trainer.Save"/>); null (the default) writes none.</summary>
    public string? CheckpointDirectory
    {
        get;
        init => field = value is null ? null : Guard.NotEmpty(value, nameof(CheckpointDirectory));
    }

    // ------------------------------------------------------------------ the agents

    /// <summary>The agents' network (a GRU agent).</summary>
    public AgentNetwork AgentNetwork { get; init => field = Defined(value, nameof(AgentNetwork)); } = AgentNetwork.Rnn;

    /// <summary>The width of the agents' hidden layers, the GRU's hidden state for the recurrent agent
    /// (<c>rnn_hidden_dim</c>, 64).</summary>
    [JsonPropertyName("rnn_hidden")]
    public int AgentHiddenSize { get; init => field = Guard.AtLeast(value, 1, nameof(AgentHiddenSize)); } = 64;

    /// <summary>Whether an agent's input includes the one-hot of its previous action (<c>obs_last_action</c>,
    /// true).</summary>
    [JsonPropertyName("obs_last_action")]
    public bool ObserveLastAction { get; init; } = true;

    /// <summary>Whether an agent's input includes the one-hot of its index (<c>obs_agent_id</c>, true).</summary>
    [JsonPropertyName("obs_agent_id")]
    public bool ObserveAgentId { get; init; } = true;

    /// <summary>One network shared by all agents (true, the default), or one network per agent.</summary>
    public bool ShareAgentParameters { get; init; } = true;

    // ------------------------------------------------------------------ the mixer

    /// <summary>What the mixer's hypernetworks read (the global state).</summary>
    public MixerInput MixerInput { get; init => field = Defined(value, nameof(MixerInput)); } = MixerInput.State;

    /// <summary>The width of the mixing network's hidden layer (<c>mixing_embed_dim</c>, 32).</summary>
    [JsonPropertyName("mixing_embed")]
    public int MixingEmbeddingSize { get; init => field = Guard.AtLeast(value, 1, nameof(MixingEmbeddingSize)); } = 32;

    /// <summary>The depth of the hypernetworks producing the mixing weights: 1 (the ICML paper's single linear
    /// layer) or 2 (PyMARL's default, <c>hypernet_layers</c>).</summary>
    [JsonPropertyName("hypernet_layers")]
    public int HypernetworkLayers
    {
        get;
        init => field = value is 1 or 2
            ? value
            : throw new ArgumentOutOfRangeException(nameof(HypernetworkLayers), value, $"{nameof(HypernetworkLayers)} must be 1 or 2, got {value}");
    } = 2;

    /// <summary>The hidden width of two-layer hypernetworks (<c>hypernet_embed</c>, 64).</summary>
    [JsonPropertyName("hypernet_embed")]
    public int HypernetworkEmbeddingSize { get; init => field = Guard.AtLeast(value, 1, nameof(HypernetworkEmbeddingSize)); } = 64;

    /// <summary>How QMIX makes the mixing weights non-negative (the absolute value).</summary>
    public NonNegativeWeights NonNegativeWeights
    {
        get;
        init => field = Defined(value, nameof(NonNegativeWeights));
    } = NonNegativeWeights.Abs;

    // ------------------------------------------------------------------ Weighted QMIX

    /// <summary>Weighted QMIX's weight α of the joint actions it down-weights (<c>w</c>, 0.1 as in the matrix-game
    /// experiments; the paper uses 0.5 or 0.75 on SMAC), in (0, 1]. Used by <see cref="Algorithm.CwQmix"/> and
    /// <see cref="Algorithm.OwQmix"/> only.</summary>
    public double WeightedAlpha { get; init => field = Guard.InHalfOpen(value, 0, 1, nameof(WeightedAlpha)); } = 0.1;

    /// <summary>The hidden width of Weighted QMIX's unrestricted centralised mixer Q̂*
    /// (<c>central_mixing_embed_dim</c>, 256).</summary>
    [JsonPropertyName("central_mixing_embed")]
    public int CentralMixingEmbeddingSize { get; init => field = Guard.AtLeast(value, 1, nameof(CentralMixingEmbeddingSize)); } = 256;

    /// <summary>Weighted QMIX: the weight of the QMIX loss (<c>qmix_loss</c>, 1).</summary>
    public double QmixLossWeight { get; init => field = Guard.NonNegative(value, nameof(QmixLossWeight)); } = 1.0;

    /// <summary>Weighted QMIX: the weight of the loss of Q̂* (<c>central_loss</c>, 1).</summary>
    public double CentralLossWeight
    {
        get;
        init => field = Guard.NonNegative(value, nameof(CentralLossWeight));
    } = 1.0;

    // ------------------------------------------------------------------ presets

    /// <summary>The options of a named preset: <see cref="TrainingPreset.PyMarl"/> (the defaults),
    /// <see cref="TrainingPreset.PyMarl2"/> or <see cref="TrainingPreset.PaperMatrixGames"/>. Derive variants with
    /// <c>with</c>: <c>TrainingOptions.Preset(TrainingPreset.PyMarl2) with { TotalSteps = 500_000 }</c>.</summary>
    /// <param name="preset">The preset.</param>
    /// <returns>The preset's options (the rest at their defaults).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="preset"/> is not a preset.</exception>
    public static TrainingOptions Preset(TrainingPreset preset) => Defined(preset, nameof(preset)) switch
    {
        TrainingPreset.PyMarl2 => FromConfig(F.TrainingPresets.pymarl2),
        TrainingPreset.PaperMatrixGames => FromConfig(F.TrainingPresets.paperMatrixGames),
        _ => new TrainingOptions(),
    };

    /// <summary>The options of the F# core's preset settings that the facade's options can express (the run's
    /// settings, the learner's, the agent's width, QMIX's mixer shape and the exploration schedule).</summary>
    static TrainingOptions FromConfig(F.TrainingConfig c)
    {
        var l = c.Learner;
        var qmix = c.Mixer is F.MixerConfig.Qmix q ? q.Item : F.QmixConfig.defaults;
        var o = new TrainingOptions
        {
            AgentHiddenSize = l.Agent.Hidden, MixingEmbeddingSize = qmix.Embed, HypernetworkLayers = qmix.HypernetLayers,
            HypernetworkEmbeddingSize = qmix.HypernetEmbed,
            TotalSteps = c.TotalSteps, BatchSize = c.BatchSize, BufferSize = c.BufferSize, ParallelEnvironments = c.ParallelEnvs,
            TestInterval = c.TestInterval, TestEpisodes = c.TestEpisodes, SaveInterval = c.SaveInterval, Seed = c.Seed,
            EpsilonStart = D(c.Epsilon.Start), EpsilonFinish = D(c.Epsilon.Finish), EpsilonAnnealSteps = c.Epsilon.AnnealSteps,
            Gamma = D(l.Gamma), DoubleQ = l.DoubleQ, LossScale = D(l.LossScale), GradientNormClip = D(l.GradNormClip),
            TDLambda = l.Target is F.TdTarget.TdLambda td ? D(td.lambda) : null,
            TargetUpdateInterval = l.TargetUpdate is F.TargetUpdate.HardEvery h ? h.episodes : 200,
            Tau = l.TargetUpdate is F.TargetUpdate.Soft soft ? D(soft.tau) : null,
        };
        return l.Optimizer switch
        {
            F.Optimizer.Adam a => o with
            {
                Optimizer = Optimizer.Adam, LearningRate = D(a.Item.Lr), AdamBeta1 = D(a.Item.Beta1), AdamBeta2 = D(a.Item.Beta2),
                OptimizerEpsilon = D(a.Item.Eps),
            },
            F.Optimizer.RmsProp r => o with
            {
                Optimizer = Optimizer.RmsProp, LearningRate = D(r.Item.Lr), RmsPropAlpha = D(r.Item.Alpha), OptimizerEpsilon = D(r.Item.Eps),
            },
            _ => o,
        };
    }

    /// <summary>A float32 setting of the core as the double its shortest digits name (0.001, not the float's exact
    /// 0.0010000000474974513), so that config.json reads as written; it narrows back to the same float32.</summary>
    internal static double D(float value) =>
        double.Parse(value.ToString("R", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture);

    // ------------------------------------------------------------------ diagnostics

    /// <summary>The largest |Q| that is plausible for the environment, when known (e.g. a little above the largest
    /// return an episode can pay): a learner update whose mean Q_tot or mean TD target goes beyond it gives a
    /// <see cref="TrainingWarning"/>. Null (the default) derives the bound from the episodes collected: 10 × the
    /// largest return an episode seen so far can be worth, and at least 10. Positive and finite when set.</summary>
    public double? QValueBound
    {
        get;
        init => field = value is { } b
            ? double.IsFinite(b) && b > 0
                ? b
                : throw new ArgumentOutOfRangeException(nameof(QValueBound), b, $"{nameof(QValueBound)} must be positive and finite, got {b}")
            : null;
    }

    // ------------------------------------------------------------------ JSON

    /// <summary>The options as JSON, every setting spelled as PyMARL spells its keys (snake_case:
    /// <c>rnn_hidden</c>, <c>epsilon_anneal_steps</c>) and choices in kebab-case (<c>"algorithm": "cw-qmix"</c>,
    /// <c>"optimizer": "rms-prop"</c>). <see cref="FromJson"/> reads it back.</summary>
    /// <returns>An indented JSON object.</returns>
    public string ToJson() => JsonSerializer.Serialize(this, RunJson.Indented);

    /// <summary>Options from JSON: the settings it names, the defaults for the rest.</summary>
    /// <param name="json">A JSON object of settings, e.g. <c>{"algorithm": "vdn", "total_steps": 20000}</c>; keys in
    /// snake_case, camelCase or PascalCase.</param>
    /// <returns>The options.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="json"/> is null.</exception>
    /// <exception cref="ArgumentException">The text is not a JSON object, a key is not a setting (the message names it
    /// and lists the settings), or a value has the wrong type.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of its range (the exception names the
    /// setting).</exception>
    public static TrainingOptions FromJson(string json) => new TrainingOptions().WithJson(json);

    /// <summary>These options with the settings a JSON object names replaced (e.g. a configuration file over a
    /// preset).</summary>
    /// <param name="json">A JSON object of settings; keys in snake_case, camelCase or PascalCase, as the files spell them
    /// (<c>lr</c>) or as the properties do (<c>LearningRate</c>).</param>
    /// <returns>The new options.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="json"/> is null.</exception>
    /// <exception cref="ArgumentException">The text is not a JSON object, a key is not a setting (the message names it
    /// and lists the settings), or a value has the wrong type.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of its range (the message names the setting as the
    /// file spells it and as the property does, the value and the allowed range; <c>ParamName</c> is the file
    /// key).</exception>
    public TrainingOptions WithJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        System.Text.Json.Nodes.JsonObject overlay;
        try
        {
            overlay = System.Text.Json.Nodes.JsonNode.Parse(json) as System.Text.Json.Nodes.JsonObject
                ?? throw new ArgumentException("the options must be a JSON object", nameof(json));
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"the options are not valid JSON: {e.Message}", nameof(json), e);
        }
        var merged = JsonSerializer.SerializeToNode(this, RunJson.Indented)!.AsObject();
        foreach (var (key, value) in overlay)
        {
            var name = RunJson.Key(key);
            if (!merged.ContainsKey(name) && CSharpNames.TryGetValue(name, out var fileKey)) name = fileKey;
            if (!merged.ContainsKey(name))
                throw new ArgumentException(
                    $"'{key}' is not a training option; the options are: {string.Join(", ", merged.Select(p => p.Key))}",
                    nameof(json));
            merged[name] = value?.DeepClone();
        }
        try
        {
            return merged.Deserialize<TrainingOptions>(RunJson.Indented)
                ?? throw new ArgumentException("the options are null", nameof(json));
        }
        catch (JsonException e)
        {
            throw new ArgumentException(WrongType(e, merged) ?? "the options do not fit their types", nameof(json), e);
        }
        catch (ArgumentException e) when (e.ParamName is { } property && FileKeys.TryGetValue(property, out var key))
        {
            // named as the file spells it, then as the property does: "lr: LearningRate must be a positive finite number, got -1"
            var plain = e.Message.Replace($" (Parameter '{property}')", "", StringComparison.Ordinal).Split('\n')[0].Trim();
            throw e is ArgumentOutOfRangeException r
                ? new ArgumentOutOfRangeException(key, r.ActualValue, $"{key}: {plain}")
                : new ArgumentException($"{key}: {plain}", key, e);
        }
    }

    /// <summary>The file key of every setting, by property name (<c>LearningRate</c> → <c>lr</c>).</summary>
    static readonly Dictionary<string, string> FileKeys = typeof(TrainingOptions).GetProperties()
        .ToDictionary(p => p.Name, p => p.GetCustomAttributes(typeof(JsonPropertyNameAttribute), false)
            .Cast<JsonPropertyNameAttribute>().FirstOrDefault()?.Name ?? RunJson.Key(p.Name));

    /// <summary>The file keys of the settings whose C# names differ from them (<c>learning_rate</c> → <c>lr</c>), so that
    /// <see cref="WithJson"/> reads the C# names too.</summary>
    static readonly Dictionary<string, string> CSharpNames = FileKeys
        .Select(p => (Name: RunJson.Key(p.Key), Key: p.Value))
        .Where(p => p.Key != p.Name)
        .ToDictionary(p => p.Name, p => p.Key);

    /// <summary>The file key of a setting's property (<c>LearningRate</c> → <c>lr</c>, <c>BufferSize</c> →
    /// <c>buffer_size</c>); null for a name that is no property.</summary>
    internal static string? FileKey(string property) => FileKeys.GetValueOrDefault(property);

    /// <summary>A value of the wrong type in words, naming the key, what it takes and what it got: "'lr' takes a
    /// number, not "abc""; null when the error names no option.</summary>
    static string? WrongType(JsonException e, System.Text.Json.Nodes.JsonObject merged)
    {
        if (e.Path is not { Length: > 2 } path || !path.StartsWith("$.", StringComparison.Ordinal)) return null;
        var key = path[2..];
        var property = typeof(TrainingOptions).GetProperties().FirstOrDefault(p => FileKeys[p.Name] == key);
        if (property is null) return null;
        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        var takes = type switch
        {
            _ when type == typeof(int) || type == typeof(long) => "a whole number",
            _ when type == typeof(ulong) || type == typeof(uint) => "a whole number, 0 or more",
            _ when type == typeof(double) || type == typeof(float) => "a number",
            _ when type == typeof(bool) => "true or false",
            _ when type.IsEnum => "one of " + string.Join(", ", Enum.GetNames(type).Select(n => JsonNamingPolicy.KebabCaseLower.ConvertName(n))),
            _ => "a string",
        };
        if (Nullable.GetUnderlyingType(property.PropertyType) is not null) takes += " or null";
        return $"'{key}' takes {takes}, not {merged[key]?.ToJsonString() ?? "null"}";
    }

    // ------------------------------------------------------------------ mapping onto the F# core

    static T Defined<T>(T value, string name) where T : struct, Enum =>
        Enum.IsDefined(value) ? value : throw new ArgumentOutOfRangeException(name, value, $"{name}: {value} is not a {typeof(T).Name}");

    /// <summary>The bytes one episode at the episode limit takes in the replay buffer of these options: its
    /// recorded steps (limit + 1 rows) of observations and states in <see cref="ReplayPrecision"/>, actions,
    /// available-action masks as bits, and rewards. Shorter episodes take proportionally less.</summary>
    /// <param name="spec">The environment's sizes.</param>
    public long ReplayEpisodeBytes(EnvironmentSpec spec) =>
        F.ReplayModule.mostBytes(Guard.NotNull(spec, nameof(spec)).ToCore(), CorePrecision, 1, long.MaxValue / 4);

    /// <summary>The most bytes the replay buffer of a run with these options can hold: <see cref="BufferSize"/>
    /// episodes at the episode limit (<see cref="ReplayEpisodeBytes"/> each), or, for a run too short to fill it, the
    /// steps it records (<see cref="TotalSteps"/> and what its last collection of
    /// <see cref="ParallelEnvironments"/> episodes may run past them).</summary>
    /// <param name="spec">The environment's sizes.</param>
    public long ReplayBytes(EnvironmentSpec spec)
    {
        Guard.NotNull(spec, nameof(spec));
        var recorded = TotalSteps + (long)ParallelEnvironments * spec.EpisodeLimit;
        return F.ReplayModule.mostBytes(spec.ToCore(), CorePrecision, BufferSize, recorded);
    }

    F.ReplayPrecision CorePrecision => ReplayPrecision == ReplayPrecision.Float16 ? F.ReplayPrecision.Float16 : F.ReplayPrecision.Float32;

    /// <summary>Checks the settings that depend on each other.</summary>
    internal void Validate(string paramName)
    {
        if (BufferSize < BatchSize)
            throw new ArgumentException(
                $"TrainingOptions.BufferSize ({BufferSize}) must be at least TrainingOptions.BatchSize ({BatchSize})", paramName);
    }

    internal F.AgentConfig AgentConfig() =>
        new(AgentNetwork == AgentNetwork.Mlp ? F.AgentKind.Mlp : F.AgentKind.Rnn, AgentHiddenSize, ObserveLastAction, ObserveAgentId,
            ShareAgentParameters);

    internal F.QmixConfig QmixConfig() =>
        new(MixingEmbeddingSize, HypernetworkLayers, HypernetworkEmbeddingSize,
            NonNegativeWeights == NonNegativeWeights.Softplus ? F.NonNegative.Softplus : F.NonNegative.Abs);

    internal F.MixerConfig MixerConfig() => Algorithm switch
    {
        Algorithm.Vdn => F.MixerConfig.Vdn,
        Algorithm.Iql => F.MixerConfig.Independent,
        Algorithm.QmixNs => F.MixerConfig.NewQmixNs(QmixConfig()),
        Algorithm.QmixLin => F.MixerConfig.NewQmixLin(QmixConfig()),
        Algorithm.VdnS => F.MixerConfig.NewVdnS(QmixConfig()),
        _ => F.MixerConfig.NewQmix(QmixConfig()),
    };

    internal F.HyperInput HyperInput() => MixerInput switch
    {
        MixerInput.AllObservations => F.HyperInput.AllObservations,
        MixerInput.StateAndObservations => F.HyperInput.StateAndObservations,
        _ => F.HyperInput.GlobalState,
    };

    internal F.LearnerConfig LearnerConfig()
    {
        F.Optimizer optimizer = Optimizer == Optimizer.Adam
            ? F.Optimizer.NewAdam(new AdamConfig((float)LearningRate, (float)AdamBeta1, (float)AdamBeta2, (float)OptimizerEpsilon))
            : F.Optimizer.NewRmsProp(new RmsPropConfig((float)LearningRate, (float)RmsPropAlpha, (float)OptimizerEpsilon, 0f));
        var target = TDLambda is { } l ? F.TdTarget.NewTdLambda((float)l) : F.TdTarget.OneStep;
        var targetUpdate = Tau is { } t ? F.TargetUpdate.NewSoft((float)t) : F.TargetUpdate.NewHardEvery(TargetUpdateInterval);
        var weighting = Algorithm switch
        {
            Algorithm.CwQmix => F.Weighting.Centralised,
            Algorithm.OwQmix => F.Weighting.Optimistic,
            _ => null,
        };
        var weighted = weighting is null
            ? FSharpOption<F.WeightedConfig>.None
            : FSharpOption<F.WeightedConfig>.Some(new F.WeightedConfig(
                weighting, (float)WeightedAlpha, CentralMixingEmbeddingSize, (float)QmixLossWeight, (float)CentralLossWeight));
        return new F.LearnerConfig(
            AgentConfig(), HyperInput(), (float)Gamma, DoubleQ, target, (float)LossScale, (float)GradientNormClip, optimizer,
            targetUpdate, weighted, F.LearnerEngine.Auto, LearnerThreads);
    }

    internal F.DiagnosticsConfig DiagnosticsConfig()
    {
        var d = F.DiagnosticsConfig.defaults;
        var bound = QValueBound is { } b ? FSharpOption<float>.Some((float)b) : FSharpOption<float>.None;
        return new F.DiagnosticsConfig(bound, d.Factor, d.Floor);
    }

    /// <summary>The F# core's configuration of these options; <paramref name="checkpointPath"/> is the checkpoint
    /// path stem, or null.</summary>
    internal F.TrainingConfig ToConfig(string? checkpointPath) =>
        new(LearnerConfig(), MixerConfig(), TotalSteps, BatchSize, BufferSize,
            CorePrecision,
            new F.EpsilonSchedule((float)EpsilonStart, (float)EpsilonFinish, EpsilonAnnealSteps), ParallelEnvironments,
            TestInterval, TestEpisodes, SaveInterval,
            checkpointPath is null ? FSharpOption<string>.None : FSharpOption<string>.Some(checkpointPath), Seed,
            DiagnosticsConfig());
}
