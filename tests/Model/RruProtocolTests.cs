using MusicGen.Model.Frames;
using MusicGen.Tests.Corpus;

namespace MusicGen.Tests.Model;

/// <summary>The RRU paper's way of averaging a frame model's NLL (<see cref="RruProtocol"/>), against a direct computation.</summary>
public class RruProtocolTests
{
    /// <summary>A piece of <paramref name="length"/> frames whose frame t holds the one key 21 + t % 88, so each frame says where it came from.</summary>
    static int[][] Piece(int length) => Enumerable.Range(0, length).Select(t => new[] { 21 + t % 88 }).ToArray();

    [Fact]
    public void Pieces_are_cut_into_windows_that_overlap_by_one_frame_and_keep_a_remainder_of_two_or_more()
    {
        var windows = RruProtocol.Windows([Piece(450), Piece(200), Piece(401), Piece(1), Piece(2)], window: 200);
        // 450: frames 0..200 and 200..400 (201 frames each: 200 predictions), then 400..449 (49 predictions).
        // 200: one window, the whole piece. 401: two full windows; the last frame alone is left (one frame predicts
        // nothing) and dropped, as it was predicted by the second window. 1: nothing. 2: one window of one prediction.
        Assert.Equal([201, 201, 50, 200, 201, 201, 2], windows.Select(w => w.Length));
        Assert.Equal(21 + 200 % 88, windows[1][0][0]);   // the second window starts on the frame the first one ended with
        Assert.Equal(21 + 400 % 88, windows[2][0][0]);
        // Every frame but a piece's first is a target exactly once.
        Assert.Equal(449 + 199 + 400 + 0 + 1, windows.Sum(w => w.Length - 1));
    }

    [Fact]
    public void Batch_means_give_the_last_batch_the_remainder_and_weigh_batches_alike()
    {
        // 7 values in batches of 3: [1,2,3] and [4,5,6,7] (the last takes the remainder): (2 + 5.5) / 2.
        Assert.Equal(3.75, RruProtocol.BatchMeans([1, 2, 3, 4, 5, 6, 7], 3), 12);
        Assert.Equal(4.0, RruProtocol.BatchMeans([1, 2, 3, 4, 5, 6, 7], 7), 12);
        Assert.Throws<ArgumentException>(() => RruProtocol.BatchMeans([1, 2], 3));
    }

    [Fact]
    public void The_score_is_the_batch_mean_of_each_window_read_alone_from_a_zero_state()
    {
        using var be = new MusicGen.Kernels.Backends.ManagedBackend(1);
        using var model = new FrameModel(be, new FrameConfig { Hidden = 8 });
        model.Initialize(3);
        int[][][] pieces = [Piece(21), Piece(9), Piece(30), Piece(16)];
        // Windows of 8: 21 -> 8, 8, 5 frames... every window scored as a piece of its own, batch size 1.
        var windows = RruProtocol.Windows(pieces, window: 8);
        var perWindow = windows.Select(w => FrameTrainer.Evaluate(model, [w], batchSize: 1).Nll).ToArray();
        var (nll, count) = RruProtocol.Score(model, pieces, window: 8, batchSize: 3);
        Assert.Equal(windows.Length, count);
        Assert.Equal(RruProtocol.BatchMeans(perWindow, 3), nll, 5);
        // Per-piece sums from EvaluatePieces add up to the benchmark's number.
        var each = FrameTrainer.EvaluatePieces(model, pieces, batchSize: 2);
        Assert.Equal([20, 8, 29, 15], each.Select(e => e.Frames));
        Assert.Equal(FrameTrainer.Evaluate(model, pieces).Nll, each.Sum(e => e.Nll) / each.Sum(e => e.Frames), 5);
        // Too few windows for one batch: refused, as the protocol scores whole batches.
        Assert.Throws<ArgumentException>(() => RruProtocol.Score(model, [Piece(5)], window: 8, batchSize: 3));
    }
}
