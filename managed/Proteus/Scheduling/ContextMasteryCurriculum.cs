using System.Text.Json;

namespace Proteus;

/// <summary>A stage of a <see cref="ContextMasteryCurriculum"/>: its number, sequence length and α.</summary>
/// <param name="Index">The stage number, from 0.</param>
/// <param name="SeqLen">T to train at.</param>
/// <param name="Alpha">α to train at.</param>
public readonly record struct CurriculumStage(int Index, long SeqLen, double Alpha);

/// <summary>Why a curriculum changed stage.</summary>
public enum StageChangeReason
{
    /// <summary>The validation loss stopped improving.</summary>
    Plateau = 0,

    /// <summary><see cref="ContextMasteryCurriculum.Advance"/> was called.</summary>
    Manual = 1,
}

/// <summary>The data of <see cref="ContextMasteryCurriculum.StageChanged"/>.</summary>
public sealed class CurriculumStageChangedEventArgs : EventArgs
{
    /// <summary>Creates the data.</summary>
    /// <param name="oldStage">The stage left.</param>
    /// <param name="newStage">The stage entered.</param>
    /// <param name="reason">Why.</param>
    public CurriculumStageChangedEventArgs(CurriculumStage oldStage, CurriculumStage newStage, StageChangeReason reason)
    {
        OldStage = oldStage;
        NewStage = newStage;
        Reason = reason;
    }

    /// <summary>The stage left.</summary>
    public CurriculumStage OldStage { get; }

    /// <summary>The stage entered.</summary>
    public CurriculumStage NewStage { get; }

    /// <summary>T of the new stage.</summary>
    public long SeqLen => NewStage.SeqLen;

    /// <summary>α of the new stage.</summary>
    public double Alpha => NewStage.Alpha;

    /// <summary>Why the stage changed.</summary>
    public StageChangeReason Reason { get; }
}

/// <summary>
/// The Context Mastery training curriculum: train short and dense first, and move to longer sequences and
/// a larger α each time the validation loss plateaus.
/// <para>
/// Feed it one validation loss per evaluation (<see cref="ReportValidationLoss"/>). The first loss of a
/// stage sets its best; each later one (EMA-smoothed when <see cref="ContextMasteryOptions.Smoothing"/> &gt;
/// 0) improves when best − loss &gt; MinRelativeImprovement·|best|, which makes it the new best and resets
/// the count of flat evaluations; otherwise the count grows, and when it reaches
/// <see cref="ContextMasteryOptions.Patience"/> the curriculum advances: the next stage's length and α come
/// from <see cref="ContextMasteryOptions.Lengths"/> and <see cref="ContextMasteryOptions.Alpha"/>, the
/// detector starts afresh, and <see cref="StageChanged"/> fires. A stage therefore lasts at least
/// Patience + 1 evaluations. Once both length and α are at their caps (<see cref="IsFinal"/>) it stays.
/// </para>
/// <para>
/// Its whole state, options included, round-trips through <see cref="ToJson"/> and <see cref="FromJson"/>.
/// It is meant for the one thread that runs the training loop.
/// </para>
/// </summary>
/// <example>
/// <code>
/// var curriculum = new ContextMasteryCurriculum();
/// curriculum.StageChanged += (_, e) => schedule.SetFluxAlpha(e.Alpha);
/// foreach (var epoch in training)
/// {
///     Train(seqLen: curriculum.SeqLen);
///     curriculum.ReportValidationLoss(Validate());
/// }
/// </code>
/// </example>
public sealed class ContextMasteryCurriculum
{
    private const int FormatVersion = 1;

    private int _stage;
    private int _evaluations;
    private double? _smoothed;
    private double? _best;
    private int _flat;

    /// <summary>Starts a curriculum at stage 0.</summary>
    /// <param name="options">The configuration; null for the defaults.</param>
    public ContextMasteryCurriculum(ContextMasteryOptions? options = null)
    {
        Options = options ?? new ContextMasteryOptions();
    }

    /// <summary>Raised after every stage change, with the state already updated.</summary>
    public event EventHandler<CurriculumStageChangedEventArgs>? StageChanged;

    /// <summary>The configuration.</summary>
    public ContextMasteryOptions Options { get; }

    /// <summary>The current stage.</summary>
    public CurriculumStage Stage => StageAt(_stage);

    /// <summary>T of the current stage.</summary>
    public long SeqLen => Stage.SeqLen;

    /// <summary>α of the current stage.</summary>
    public double Alpha => Stage.Alpha;

    /// <summary>Whether length and α are both at their caps, so the curriculum will not advance again.</summary>
    public bool IsFinal => IsFinalStage(_stage);

    /// <summary>The losses reported so far, over all stages.</summary>
    public int Evaluations => _evaluations;

    /// <summary>The smoothed loss of the current stage (the raw loss without smoothing); null before its first report.</summary>
    public double? SmoothedLoss => _smoothed;

    /// <summary>The best smoothed loss of the current stage; null before its first report.</summary>
    public double? BestLoss => _best;

    /// <summary>The evaluations since the current stage's last real improvement.</summary>
    public int FlatEvaluations => _flat;

    /// <summary>Restores a curriculum saved by <see cref="ToJson"/>; it continues exactly as the saved one would.</summary>
    /// <param name="json">The saved state.</param>
    /// <returns>The curriculum, without event handlers.</returns>
    /// <exception cref="ArgumentException">The text is not a saved curriculum, or its options or state are invalid.</exception>
    public static ContextMasteryCurriculum FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        Snapshot snapshot;
        try
        {
            snapshot = JsonSerializer.Deserialize<Snapshot>(json)
                ?? throw new ArgumentException("The text holds null, not a saved curriculum.", nameof(json));
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"Not a saved curriculum: {e.Message}", nameof(json), e);
        }
        if (snapshot.Format != FormatVersion)
        {
            throw new ArgumentException($"Saved curriculum format {snapshot.Format}; this version reads {FormatVersion}.", nameof(json));
        }
        if (snapshot.Options is null || snapshot.Options.Lengths is null || snapshot.Options.Alpha is null)
        {
            throw new ArgumentException("The saved curriculum has no options.", nameof(json));
        }
        var curriculum = new ContextMasteryCurriculum(snapshot.Options);
        bool consistent = snapshot.Stage >= 0 && (snapshot.Stage == 0 || !curriculum.IsFinalStage(snapshot.Stage - 1))
            && snapshot.Evaluations >= 0 && snapshot.FlatEvaluations >= 0
            && (snapshot.BestLoss is null) == (snapshot.SmoothedLoss is null)
            && (snapshot.BestLoss is null ? snapshot.FlatEvaluations == 0 : double.IsFinite(snapshot.BestLoss.Value) && double.IsFinite(snapshot.SmoothedLoss!.Value));
        if (!consistent)
        {
            throw new ArgumentException("The saved curriculum's state is inconsistent.", nameof(json));
        }
        curriculum._stage = snapshot.Stage;
        curriculum._evaluations = snapshot.Evaluations;
        curriculum._smoothed = snapshot.SmoothedLoss;
        curriculum._best = snapshot.BestLoss;
        curriculum._flat = snapshot.FlatEvaluations;
        return curriculum;
    }

    /// <summary>Saves the options and the whole state as JSON (System.Text.Json); doubles round-trip exactly.</summary>
    /// <returns>The JSON text.</returns>
    public string ToJson() =>
        JsonSerializer.Serialize(new Snapshot(FormatVersion, Options, _stage, _evaluations, _smoothed, _best, _flat));

    /// <summary>Feeds one validation loss; advances when it completes a plateau and the curriculum is not final.</summary>
    /// <param name="loss">The loss, finite.</param>
    /// <returns>Whether the stage changed.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="loss"/> is NaN or infinite.</exception>
    public bool ReportValidationLoss(double loss)
    {
        if (!double.IsFinite(loss))
        {
            throw new ArgumentOutOfRangeException(nameof(loss), loss, "A validation loss must be finite.");
        }
        _evaluations++;
        double smoothed = _smoothed is { } previous ? Options.Smoothing * previous + (1 - Options.Smoothing) * loss : loss;
        _smoothed = smoothed;
        if (_best is not { } best)
        {
            _best = smoothed;
            return false;
        }
        if (best - smoothed > Options.MinRelativeImprovement * Math.Abs(best))
        {
            _best = smoothed;
            _flat = 0;
            return false;
        }
        _flat++;
        return _flat >= Options.Patience && MoveToNextStage(StageChangeReason.Plateau);
    }

    /// <summary>Advances now, whatever the losses say (the detector starts afresh).</summary>
    /// <returns>Whether the stage changed (false when already final).</returns>
    public bool Advance() => MoveToNextStage(StageChangeReason.Manual);

    private bool MoveToNextStage(StageChangeReason reason)
    {
        if (IsFinal)
        {
            return false;
        }
        CurriculumStage old = Stage;
        _stage++;
        _smoothed = null;
        _best = null;
        _flat = 0;
        StageChanged?.Invoke(this, new CurriculumStageChangedEventArgs(old, Stage, reason));
        return true;
    }

    private CurriculumStage StageAt(int stage)
    {
        long seqLen = Options.Lengths.At(stage);
        return new CurriculumStage(stage, seqLen, Options.Alpha.At(stage, seqLen));
    }

    private bool IsFinalStage(int stage)
    {
        CurriculumStage current = StageAt(stage), next = StageAt(stage + 1);
        return next.SeqLen == current.SeqLen && next.Alpha == current.Alpha;
    }

    /// <summary>The saved form: a format version, the options and the state.</summary>
    private sealed record Snapshot(
        int Format, ContextMasteryOptions Options, int Stage, int Evaluations, double? SmoothedLoss, double? BestLoss, int FlatEvaluations);
}
