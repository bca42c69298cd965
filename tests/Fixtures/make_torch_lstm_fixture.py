#!/usr/bin/env python3
"""Writes torch-lstm-bi-h4.safetensors: a 1-layer bidirectional torch.nn.LSTM (input 3, hidden 4), its weights, an
input x [T=5, B=2, 3], the output [5, 2, 8], and the gradients of L = sum(output * g) for a fixed g [5, 2, 8] with
respect to every weight and to x. The test LstmAgainstPyTorchTests runs our LstmLayer on the same weights and input.

Made with the Debian python3-torch on the development machine (torch 1.13):  /usr/bin/python3 make_torch_lstm_fixture.py
The weights and input are drawn in float32 and stored as such; torch then computes in float64 from those exact values,
and the outputs and gradients are stored rounded to float32. The safetensors file is written by hand (no package).
"""
import json, struct, sys
import torch

torch.manual_seed(20261126)
T, B, I, H = 5, 2, 3, 4
lstm = torch.nn.LSTM(I, H, num_layers=1, bidirectional=True)
x32 = torch.randn(T, B, I)
g32 = torch.randn(T, B, 2 * H)
lstm = lstm.double()
x = x32.double().requires_grad_(True)
out, _ = lstm(x)
loss = (out * g32.double()).sum()
loss.backward()

tensors = {"x": x32, "g": g32, "output": out.detach().float(), "dx": x.grad.float()}
for name, p in lstm.named_parameters():
    tensors[f"lstm.{name}"] = p.detach().float()
    tensors[f"grad.lstm.{name}"] = p.grad.float()

header, blobs, offset = {"__metadata__": {"made_by": "tests/Fixtures/make_torch_lstm_fixture.py", "torch": torch.__version__}}, [], 0
for name, t in tensors.items():
    data = t.contiguous().numpy().astype("<f4").tobytes()
    header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
    blobs.append(data)
    offset += len(data)
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
out_path = sys.argv[1] if len(sys.argv) > 1 else "torch-lstm-bi-h4.safetensors"
with open(out_path, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
print(out_path, "loss", loss.item())
