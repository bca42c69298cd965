using MusicGen.Midi.Corpus;
using MusicGen.Model;
using MusicGen.Tests.Kernels;
using Xunit;

namespace MusicGen.Tests.Model;

/// <summary>Whole-piece evaluation reads a piece note by note with the state carried; it must give what a window from the piece's start gives.</summary>
public class WholePieceEvaluationTests
{
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void Each_note_scores_as_a_window_from_the_pieces_start_would(bool attention, bool lookback)
    {
        const int L = 9; // notes per piece
        using var be = TestBackends.Create("cpu");
        var corpus = TrainerTests.TinyCorpus(files: 5, notesPerFile: L); // 4 training pieces and one validation piece
        var config = new ModelConfig { SeqLen = 4, Layers = 2, Hidden = 8, EmbeddingDim = 4, Bidirectional = false, EveryStep = true, AttentionSpan = attention ? 16 : 0,
            Lookback = lookback ? LookbackKind.Notes : LookbackKind.None, LookbackNotes = 2 };
        using var model = new MusicModel(be, config);
        model.Initialize(3);
        var whole = WholePieceEvaluation.Run(model, corpus, Split.Train, batchSize: 3);
        Assert.Equal(4, whole.Pieces);
        Assert.Equal(4 * (L - 1), whole.Notes);
        // Note t+1 of every piece from a window of its first t+1 notes: the files cut to t+2 notes leave one window each.
        double sum = 0;
        for (int t = 0; t + 1 < L; t++)
        {
            var cut = new NoteCorpus { Root = corpus.Root, Kind = corpus.Kind, Sustain = false, IncludeDrums = false, Skipped = [], Notes = corpus.Notes,
                Files = corpus.Files.Select(f => f with { NoteCount = t + 2 }).ToList() };
            var windows = new MusicGen.Model.Windows(cut, Split.Train, config with { SeqLen = t + 1 });
            Assert.Equal(4, windows.Count);
            sum += Trainer.Validate(model, windows, batchSize: 4).PitchNll;
        }
        Assert.Equal(sum / (L - 1), whole.PitchNll, 4);
        // Every note falls in the band of its context: with 8 notes before the last, all in the first band (1-31).
        Assert.Equal(whole.Notes, whole.ByContext.Sum(b => b.Notes));
        Assert.Equal(whole.Notes, whole.ByContext[0].Notes);
        Assert.Equal(whole.PitchNll, whole.ByContext[0].PitchNll, 9);
    }

    [Fact]
    public void A_bidirectional_model_carries_nothing_to_read_a_piece_with()
    {
        using var be = TestBackends.Create("cpu");
        using var model = new MusicModel(be, new ModelConfig { SeqLen = 4, Layers = 1, Hidden = 8, EmbeddingDim = 4 });
        Assert.Equal("whole-pieces", Assert.Throws<SettingException>(() => WholePieceEvaluation.Run(model, TrainerTests.TinyCorpus(), Split.Train)).Setting);
    }
}
