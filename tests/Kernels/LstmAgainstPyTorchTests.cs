using MusicGen.Kernels.Ops;
using MusicGen.Model;
using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Kernels;

/// <summary>
/// Our LSTM layer against torch.nn.LSTM itself: a stored fixture (tests/Fixtures/torch-lstm-bi-h4.safetensors, made by
/// tests/Fixtures/make_torch_lstm_fixture.py with torch 1.13) holds a 1-layer bidirectional nn.LSTM's weights (input 3,
/// hidden 4), an input [T=5, B=2, 3], its output and the gradients of sum(output * g). The same weights, loaded by their
/// PyTorch names, must give the same output and gradients here: the claim that our layer is nn.LSTM, as a test.
/// </summary>
public class LstmAgainstPyTorchTests
{
    static string Fixture => Path.Combine(SharedData.RepositoryRoot, "tests", "Fixtures", "torch-lstm-bi-h4.safetensors");

    [Theory]
    [InlineData("cpu")]
    [InlineData("ilgpu-cpu")]
    public void A_bidirectional_layer_gives_torch_nn_lstms_output_and_gradients(string device)
    {
        var f = SafeTensors.Load(Fixture).Tensors;
        int T = 5, B = 2, I = 3, H = 4;
        Assert.Equal([T, B, I], f["x"].Shape);
        using var be = TestBackends.Create(device);
        using var x = be.Upload(f["x"].Data, T, B, I);
        using var zero = be.Allocate(B, H);
        using var dx = be.Allocate(T, B, I);
        var output = f["output"].Data; var g = f["g"].Data;
        for (int d = 0; d < 2; d++)
        {
            string s = d == 1 ? "_reverse" : "";
            using var w = new LstmWeights(be.Upload(f[$"lstm.weight_ih_l0{s}"].Data, 4 * H, I), be.Upload(f[$"lstm.weight_hh_l0{s}"].Data, 4 * H, H),
                be.Upload(f[$"lstm.bias_ih_l0{s}"].Data, 4 * H), be.Upload(f[$"lstm.bias_hh_l0{s}"].Data, 4 * H));
            using var grads = LstmWeights.Allocate(be, I, H);
            using var ws = new LstmWorkspace(be, T, B, I, H);
            LstmLayer.Forward(be, ws, w, reverse: d == 1, x, zero, zero);
            var h = be.Download(ws.H);
            // nn.LSTM's output [T, B, 2H]: the forward direction's h in columns 0..H-1, the reverse direction's in H..2H-1.
            Close.All(h, i => output[(i / H) * 2 * H + d * H + i % H], $"h{s}");
            var dh = Enumerable.Range(0, T * B * H).Select(i => g[(i / H) * 2 * H + d * H + i % H]).ToArray();
            using var tdh = be.Upload(dh, T, B, H);
            LstmLayer.Backward(be, ws, grads, tdh, new LstmInputGrads(Dx: dx));
            Close.All(be.Download(grads.Wih), i => f[$"grad.lstm.weight_ih_l0{s}"].Data[i], $"dW_ih{s}");
            Close.All(be.Download(grads.Whh), i => f[$"grad.lstm.weight_hh_l0{s}"].Data[i], $"dW_hh{s}");
            Close.All(be.Download(grads.Bih), i => f[$"grad.lstm.bias_ih_l0{s}"].Data[i], $"db_ih{s}");
            Close.All(be.Download(grads.Bhh), i => f[$"grad.lstm.bias_hh_l0{s}"].Data[i], $"db_hh{s}");
        }
        Close.All(be.Download(dx), i => f["dx"].Data[i], "dx (both directions)");
    }
}
