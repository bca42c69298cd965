"""MusicGen's network rebuilt in PyTorch, from a MusicGen checkpoint's config and tensor names.

Used by interop.py (does PyTorch, given our weights, compute what we compute?) and train_step.py (the same
network timed with cuDNN). The layout mirrors src/Model/MusicModel.cs:

    [pitch embedding] -> per layer: (bi)LSTM -> concat directions -> LayerNorm -> Dropout -> heads

Tensors are time-major, [T, B, features], like ours and like nn.LSTM's default.
"""
import json
import struct

import torch
from torch import nn

PITCHES = 128


class MusicNet(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        self.config = c = config
        self.H = c["Hidden"]
        self.dirs = 2 if c["Bidirectional"] else 1
        D = self.H * self.dirs
        # step, duration (, velocity); a beats-mode model also reads its bar place: beat (8), position in the beat (12), bar length
        continuous = (3 if c["Velocity"] else 2) + (21 if str(c.get("Time", "seconds")).lower() == "beats" else 0)
        self.embedding = nn.Embedding(PITCHES, c["EmbeddingDim"]) if c["Input"] == "embedding" else None
        first_input = (c["EmbeddingDim"] if self.embedding is not None else 1) + continuous
        # One nn.LSTM per layer (not num_layers=N), because layer norm sits between the layers.
        self.lstm = nn.ModuleList(
            nn.LSTM(first_input if l == 0 else D, self.H, bidirectional=c["Bidirectional"]) for l in range(c["Layers"]))
        self.norm = nn.ModuleList(nn.LayerNorm(D, eps=1e-5) for _ in range(c["Layers"])) if c["LayerNorm"] else None
        self.dropout = nn.Dropout(c["Dropout"])
        self.categorical = c.get("Heads", "regression") == "categorical"
        if self.categorical:
            bins = c["StepBins"] + c["DurationBins"] + (c["VelocityBins"] if c["Velocity"] else 0)
            self.heads = nn.Linear(D, PITCHES + bins)
        else:
            self.pitch_head = nn.Linear(D, PITCHES)
            self.regression_head = nn.Linear(D, 3 if c["Velocity"] else 2)
        # "ends" (forward h at T-1, reverse h at 0) or "last" (the old reading: both directions at t = T-1; what a
        # config written before the option existed means).
        self.read = c.get("BidirectionalHeads", "last")

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        """inputs [T, B, 1 + continuous]: the pitch (index for an embedding model, pitch/128 otherwise), then the rest."""
        if self.embedding is None:
            return inputs
        return torch.cat([self.embedding(inputs[..., 0].long()), inputs[..., 1:]], dim=-1)

    def forward(self, inputs: torch.Tensor, every_step: bool = False):
        """The prediction after the window [B, K] (and [B, R] regression), or with every_step (an every-step model
        in training) the prediction after every step, [T, B, K]."""
        x = self.features(inputs)
        for l, lstm in enumerate(self.lstm):
            x, _ = lstm(x)                       # [T, B, D], directions concatenated as ours are
            if self.norm is not None:
                x = self.norm[l](x)
            x = self.dropout(x)
        if every_step:
            last = x                             # [T, B, D]
        elif self.dirs == 2 and self.read == "ends":
            last = torch.cat([x[-1, :, :self.H], x[0, :, self.H:]], dim=-1)
        else:
            last = x[-1]                         # [B, D]
        if self.categorical:
            return self.heads(last), None
        return self.pitch_head(last), self.regression_head(last)


DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}


def read_safetensors(path: str):
    """(tensors as float32, metadata) of a .safetensors file: an 8-byte header length, a JSON header, the data.
    Read by hand (the format is that small) so the scripts need no `safetensors` package."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        start, end = t["data_offsets"]
        raw = bytearray(data[start:end])
        tensors[name] = torch.frombuffer(raw, dtype=DTYPES[t["dtype"]]).reshape(t["shape"]).float() if end > start \
            else torch.zeros(t["shape"])
    return tensors, meta


def load_checkpoint(path: str, device="cpu"):
    """Builds MusicNet from one of our .safetensors checkpoints, every tensor placed by its name."""
    tensors, meta = read_safetensors(path)
    config = json.loads(meta["config"])
    net = MusicNet(config)
    state = {}
    for name, value in tensors.items():
        if name == "heads.step_condition":
            continue                             # added to the logits by the loss / sampler, not part of the forward pass
        if name.startswith("lstm."):             # lstm.weight_ih_l1_reverse -> lstm.1.weight_ih_l0_reverse
            kind, layer = name[len("lstm."):].split("_l", 1)
            layer, _, reverse = layer.partition("_")
            state[f"lstm.{layer}.{kind}_l0{'_' + reverse if reverse else ''}"] = value
        elif name.startswith("norm."):
            state[name] = value
        else:
            state[name] = value
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise SystemExit(f"{path}: tensors missing {missing}, unexpected {unexpected}")
    return net.to(device).eval(), config, tensors.get("heads.step_condition")
