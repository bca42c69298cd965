#!/usr/bin/env python3
"""How sampled chorales move, against real ones (plain Python, no packages).

    python3 experiments/frames_stats.py FRAMES.json SPLIT SAMPLE.mid [SAMPLE.mid ...] [--skip N] [--json OUT]

Reads the real pieces of SPLIT from the frames file and the sampled MIDI files that `musicgen frames generate` writes
(0.5 s per frame; the first --skip frames, the primer, are left out), and prints for each side: keys per frame, the share
of frames equal to the frame before (a held chord), the longest run of equal frames, and the share of frames whose
highest and lowest keys both moved by at most 4 semitones from the frame before when both frames have 4 keys (voices
that step rather than leap)."""
import json, struct, sys

def midi_notes(path):
    data = open(path, "rb").read()
    assert data[:4] == b"MThd"
    ntracks, division = struct.unpack(">HH", data[10:14])
    pos, notes = 14, []
    for _ in range(ntracks):
        assert data[pos:pos + 4] == b"MTrk"
        length = struct.unpack(">I", data[pos + 4:pos + 8])[0]
        track, i, tick, status, on = data[pos + 8:pos + 8 + length], 0, 0, 0, {}
        pos += 8 + length
        while i < len(track):
            delta = 0
            while True:
                b = track[i]; i += 1; delta = (delta << 7) | (b & 0x7F)
                if b < 0x80: break
            tick += delta
            b = track[i]
            if b == 0xFF:
                kind, ln = track[i + 1], track[i + 2]; i += 3 + ln; continue
            if b >= 0x80: status = b; i += 1
            kind = status & 0xF0
            if kind in (0x80, 0x90):
                pitch, vel = track[i], track[i + 1]; i += 2
                if kind == 0x90 and vel > 0: on[pitch] = tick
                elif pitch in on: notes.append((pitch, on.pop(pitch), tick))
            elif kind in (0xC0, 0xD0): i += 1
            else: i += 2
    return notes, division

def frames_of(path, bpm_frame=1):
    notes, division = midi_notes(path)
    # A frame is one quarter note (the writer's beat): frame f holds the keys sounding at its middle.
    end = max(n[2] for n in notes)
    count = round(end / division)
    return [sorted({p for p, s, e in notes if s <= (f + 0.5) * division < e}) for f in range(count)]

def stats(pieces):
    frames = sum(len(p) for p in pieces)
    keys = sum(len(f) for p in pieces for f in p) / max(frames, 1)
    same = steps = 0; longest = 0; stepwise = pairs = 0
    for p in pieces:
        run = 1
        for a, b in zip(p, p[1:]):
            steps += 1
            if a == b: same += 1; run += 1; longest = max(longest, run)
            else: run = 1
            if len(a) == 4 and len(b) == 4:
                pairs += 1
                if abs(a[-1] - b[-1]) <= 4 and abs(a[0] - b[0]) <= 4: stepwise += 1
    four = sum(1 for p in pieces for f in p if len(f) == 4) / max(frames, 1)
    return {"pieces": len(pieces), "frames": frames, "keys_per_frame": round(keys, 2), "four_keys_share": round(four, 3), "held_share": round(same / max(steps, 1), 3),
            "longest_held_run": longest, "outer_voices_step_share": round(stepwise / max(pairs, 1), 3)}

def main():
    args = sys.argv[1:]
    out = None; skip = 0
    if "--json" in args: i = args.index("--json"); out = args[i + 1]; del args[i:i + 2]
    if "--skip" in args: i = args.index("--skip"); skip = int(args[i + 1]); del args[i:i + 2]
    corpus, split, samples = args[0], args[1], args[2:]
    real = json.load(open(corpus))[split]
    result = {"real": stats([[sorted(f) for f in p] for p in real]), "sampled": stats([frames_of(s)[skip:] for s in samples])}
    print(json.dumps(result))
    if out: json.dump(result, open(out, "w"), indent=1)

main()
