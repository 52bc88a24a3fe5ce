# SPDX-License-Identifier: Apache-2.0
"""Model files between tapegrad and any other tool, checked from the specification alone.

docs/model_files.md describes tapegrad's model file: safetensors (an 8-byte little-endian header
length, a JSON header, raw little-endian data) holding the tensors of a PyTorch nn.Sequential of
Linear layers, weight (out, in) and y = x W^T + b, with the metadata schema tapegrad.mlp.v2.
This script uses nothing of tapegrad but its command line, and only the Python standard library
(struct and json), so it stands for a reader or writer written elsewhere (safetensors.torch):

  write  files written here from the specification, with F16, BF16, integer, F32 and F64
         tensors and known weights, are evaluated by `tapegrad predict` and `tapegrad eval`;
         the predictions must be exactly those of the forward pass computed here.
  read   models trained by `tapegrad train --save` are parsed here from the specification, and
         the forward pass computed here must give tapegrad's predictions and accuracy.

Usage: model_interop.py write|read TAPEGRAD WORKDIR. Exits non-zero on the first difference.
"""
import json
import math
import os
import random
import struct
import subprocess
import sys

# ---- the specification's side: writing and reading safetensors ---------------------------------

DTYPES = {  # code: (struct format, bytes)
    "F64": ("d", 8), "F32": ("f", 4), "F16": ("e", 2),
    "I8": ("b", 1), "I16": ("h", 2), "I32": ("i", 4), "I64": ("q", 8),
    "U8": ("B", 1), "U16": ("H", 2), "U32": ("I", 4), "U64": ("Q", 8),
}


def encode(dtype, values):
    """Little-endian bytes of `values` as `dtype`; every value must be exact in it."""
    if dtype == "BF16":  # the upper half of a float32: exact only when the lower half is zero
        out = b""
        for v in values:
            bits = struct.unpack("<I", struct.pack("<f", v))[0]
            assert bits & 0xFFFF == 0, f"{v} is not a bfloat16"
            out += struct.pack("<H", bits >> 16)
        return out
    code, _ = DTYPES[dtype]
    data = struct.pack("<" + code * len(values), *values)
    back = struct.unpack("<" + code * len(values), data)
    assert list(back) == list(values), f"{values} are not exact in {dtype}"
    return data


def decode(dtype, data):
    if dtype == "BF16":
        return [struct.unpack("<f", struct.pack("<I", h << 16))[0]
                for (h,) in struct.iter_unpack("<H", data)]
    code, size = DTYPES[dtype]
    assert len(data) % size == 0
    return list(struct.unpack("<" + code * (len(data) // size), data))


def write_safetensors(path, tensors, metadata):
    """tensors: [(name, dtype, shape, flat values in row-major order)]."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, dtype, shape, values in tensors:
        assert math.prod(shape) == len(values)
        blob = encode(dtype, values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode("utf-8")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path):
    """(metadata, {name: (dtype, shape, values)}), checking the file as the specification says."""
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    assert 8 + length <= len(data), "header beyond the file"

    def unique(pairs):
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), f"duplicate keys {keys}"
        return dict(pairs)

    header = json.loads(data[8:8 + length].decode("utf-8"), object_pairs_hook=unique)
    metadata = header.pop("__metadata__", {})
    assert all(isinstance(v, str) for v in metadata.values()), "metadata values are strings"
    body = data[8 + length:]
    tensors, covered = {}, 0
    for name, t in sorted(header.items(), key=lambda item: item[1]["data_offsets"]):
        begin, end = t["data_offsets"]
        assert begin == covered, f"{name}: data not contiguous"
        size = DTYPES[t["dtype"]][1] if t["dtype"] != "BF16" else 2
        assert end - begin == math.prod(t["shape"]) * size, f"{name}: wrong size"
        tensors[name] = (t["dtype"], t["shape"], decode(t["dtype"], body[begin:end]))
        covered = end
    assert covered == len(body), "bytes after the last tensor"
    return metadata, tensors


# ---- the network, from the specification: y = x W^T + b per Linear, activations between --------

def activation(spec):
    name, _, parameter = spec.partition(":")
    p = float(parameter) if parameter else None
    if name in ("identity", "linear"):
        return lambda v: v
    if name == "relu":
        return lambda v: v if v > 0 else 0.0
    if name == "leaky_relu":
        slope = 0.01 if p is None else p
        return lambda v: v if v > 0 else slope * v
    if name == "tanh":
        return math.tanh
    if name == "sigmoid":
        return lambda v: 1 / (1 + math.exp(-v))
    raise SystemExit(f"this test does not know the activation {spec}")


def forward(metadata, tensors, row):
    assert metadata["format"] == "tapegrad.mlp.v2"
    assert metadata.get("weight_layout", "out_in") == "out_in"
    sizes = [int(s) for s in metadata["sizes"].split(",")]
    mean = [float(v) for v in metadata["mean"].split(",")] if "mean" in metadata else [0.0] * sizes[0]
    scale = [float(v) for v in metadata["scale"].split(",")] if "scale" in metadata else [1.0] * sizes[0]
    act = activation(metadata["activation"])
    h = [(x - m) / s for x, m, s in zip(row, mean, scale)]
    layers = sorted({int(k.split(".")[0]) for k in tensors})
    assert len(layers) == len(sizes) - 1
    for n, layer in enumerate(layers):
        _, wshape, w = tensors[f"{layer}.weight"]
        _, bshape, b = tensors[f"{layer}.bias"]
        out, inp = wshape
        assert [out, inp] == [sizes[n + 1], sizes[n]] and bshape == [out]
        h = [sum(h[i] * w[o * inp + i] for i in range(inp)) + b[o] for o in range(out)]
        if n + 1 < len(layers):
            h = [act(v) for v in h]
    return h


def softmax(z):
    top = max(z)
    e = [math.exp(v - top) for v in z]
    return [v / sum(e) for v in e]


# ---- the tool ---------------------------------------------------------------------------------

def tapegrad(binary, *args):
    r = subprocess.run([binary, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"tapegrad {' '.join(args)} exited with {r.returncode}:\n{r.stdout}{r.stderr}")
    return r.stdout


def predict_rows(binary, model, data):
    lines = tapegrad(binary, "predict", "--model", model, "--data", data).splitlines()
    return lines[0].split(","), [line.split(",") for line in lines[1:]]


def eval_metric(binary, model, data):
    out = tapegrad(binary, "eval", "--model", model, "--data", data)
    first = out.splitlines()[0]  # "accuracy on FILE (N rows): 0.7500"
    return first.rsplit(": ", 1)[1]


failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what)


def write_csv(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for row in rows:
            f.write(",".join(repr(v) if isinstance(v, float) else str(v) for v in row) + "\n")


# ---- direction 1: a file written here, evaluated by tapegrad ------------------------------------

def written_here(binary, work):
    # A classifier 3 -> 4 -> 3 with relu. Every weight, input and intermediate is a short binary
    # fraction, so float32 computes each exactly in any order: the predictions must be exact.
    w0 = [0.5, -1.0, 0.25,
          1.5, 0.75, -0.5,
          -0.25, 2.0, 1.0,
          0.125, -0.375, 0.625]          # (4, 3), F16
    b0 = [0.5, -0.25, 1.0, 0.0]         # (4,), BF16
    w2 = [1, -2, 0, 3,
          -1, 1, 2, -1,
          2, 0, -3, 1]                   # (3, 4), I8: integer weights are read too
    b2 = [0.25, -0.5, 0.125]            # (3,), F64
    model = os.path.join(work, "written.safetensors")
    write_safetensors(model, [
        ("0.weight", "F16", [4, 3], w0), ("0.bias", "BF16", [4], b0),
        ("2.weight", "I8", [3, 4], w2), ("2.bias", "F64", [3], b2),
    ], {
        "format": "tapegrad.mlp.v2", "weight_layout": "out_in", "task": "classify",
        "sizes": "3,4,3", "activation": "relu",
        "mean": "1,0,-2", "scale": "2,4,0.5",
        "features": "a\nb\nc", "classes": "red\ngreen\nblue", "target": "label",
    })
    tensors = {"0.weight": ("F16", [4, 3], w0), "0.bias": ("BF16", [4], b0),
               "2.weight": ("I8", [3, 4], w2), "2.bias": ("F64", [3], b2)}
    meta = {"format": "tapegrad.mlp.v2", "sizes": "3,4,3", "activation": "relu",
            "mean": "1,0,-2", "scale": "2,4,0.5"}
    rng = random.Random(7)
    rows = [[rng.randint(-8, 8) * 0.5 for _ in range(3)] for _ in range(40)]
    logits = [forward(meta, tensors, r) for r in rows]
    predicted = []
    for z in logits:
        best = max(z)
        check(z.count(best) == 1, f"the test's own data has a tie: {z}")
        predicted.append(z.index(best))
    # Labels: the predictions, every fourth one changed, so that the accuracy is 30/40.
    labels = [(p + 1) % 3 if i % 4 == 0 else p for i, p in enumerate(predicted)]
    # The columns by name, in another order than the model's, with the label in the middle.
    data = os.path.join(work, "written.csv")
    write_csv(data, ["c", "a", "label", "b"], [[r[2], r[0], y, r[1]] for r, y in zip(rows, labels)])
    header, out = predict_rows(binary, model, data)
    check(header == ["row", "class", "p_red", "p_green", "p_blue"], f"predict header {header}")
    check(len(out) == len(rows), f"{len(out)} predictions for {len(rows)} rows")
    for i, (fields, z) in enumerate(zip(out, logits)):
        check(int(fields[1]) == predicted[i], f"row {i}: class {fields[1]}, expected {predicted[i]}")
        for c, p in enumerate(softmax(z)):
            got = float(fields[2 + c])
            check(abs(got - p) <= 6e-6 * p,
                  f"row {i}: p_{c} = {got}, expected {p:.6g}")
    accuracy = eval_metric(binary, model, data)
    expected = f"{sum(p == y for p, y in zip(predicted, labels)) / len(rows):.4f}"
    check(accuracy == expected == "0.7500", f"eval accuracy {accuracy}, expected {expected}")

    # A regression 2 -> 3 -> 1 with leaky_relu:0.25, F32/I16/U8/F64 tensors, no names, no input
    # standardisation (left out: the default), and a target standardisation of 10 + 0.5 * y.
    v0, c0 = [1.0, -0.5, 0.25, 2.0, -1.5, -0.75], [-3, 0, 2]   # (3, 2) F32, (3,) I16
    v2, c2 = [2, 1, 4], [0.375]                                # (1, 3) U8, (1,) F64
    reg = os.path.join(work, "regression.safetensors")
    write_safetensors(reg, [
        ("0.weight", "F32", [3, 2], v0), ("0.bias", "I16", [3], c0),
        ("2.weight", "U8", [1, 3], v2), ("2.bias", "F64", [1], c2),
    ], {"format": "tapegrad.mlp.v2", "task": "regress", "sizes": "2,3,1",
        "activation": "leaky_relu:0.25", "target_standardisation": "10,0.5"})
    rtensors = {"0.weight": ("F32", [3, 2], v0), "0.bias": ("I16", [3], c0),
                "2.weight": ("U8", [1, 3], v2), "2.bias": ("F64", [1], c2)}
    rmeta = {"format": "tapegrad.mlp.v2", "sizes": "2,3,1", "activation": "leaky_relu:0.25"}
    rrows = [[rng.randint(-12, 12) * 0.25 for _ in range(2)] for _ in range(25)]
    data = os.path.join(work, "regression.csv")
    write_csv(data, ["x", "y"], [[r[0], r[1]] for r in rrows])  # features only: predict
    header, out = predict_rows(binary, reg, data)
    check(header == ["row", "prediction"], f"predict header {header}")
    check(len(out) == len(rrows), f"{len(out)} predictions for {len(rrows)} rows")
    for i, (fields, r) in enumerate(zip(out, rrows)):
        expected = "%.8g" % (forward(rmeta, rtensors, r)[0] * 0.5 + 10)
        check(fields[1] == expected, f"row {i}: prediction {fields[1]}, expected {expected}")


# ---- direction 2: a model trained by tapegrad, read here -----------------------------------------

def read_here(binary, work):
    rng = random.Random(11)
    centres = [(0.0, 0.0, 1.0), (3.0, 1.0, -1.0), (0.0, 4.0, 2.0)]
    rows, labels = [], []
    for i in range(90):
        k = i % 3
        rows.append([round(c + rng.gauss(0, 0.9), 3) for c in centres[k]])
        labels.append(k)
    data = os.path.join(work, "clusters.csv")
    write_csv(data, ["u", "v", "w", "kind"], [r + [y] for r, y in zip(rows, labels)])
    model = os.path.join(work, "trained.safetensors")
    tapegrad(binary, "train", "--data", data, "--layers", "6,5", "--activation", "tanh",
             "--epochs", "40", "--seed", "3", "--save", model)
    metadata, tensors = read_safetensors(model)
    check(metadata.get("format") == "tapegrad.mlp.v2", f"format {metadata.get('format')}")
    check(metadata.get("weight_layout") == "out_in", f"weight_layout {metadata.get('weight_layout')}")
    check(sorted(tensors) == ["0.bias", "0.weight", "2.bias", "2.weight", "4.bias", "4.weight"],
          f"keys {sorted(tensors)}")
    check(tensors["0.weight"][1] == [6, 3] and tensors["2.weight"][1] == [5, 6] and
          tensors["4.weight"][1] == [3, 5], "weights are (out, in)")
    check(all(t[0] == "F32" for t in tensors.values()), "tapegrad writes F32")
    check(metadata.get("features") == "u\nv\nw", f"features {metadata.get('features')!r}")
    header, out = predict_rows(binary, model, data)
    check(len(out) == len(rows), f"{len(out)} predictions for {len(rows)} rows")
    mine = []
    for i, (fields, r) in enumerate(zip(out, rows)):
        p = softmax(forward(metadata, tensors, r))
        mine.append(p.index(max(p)))
        check(int(fields[1]) == mine[-1], f"row {i}: tapegrad class {fields[1]}, here {mine[-1]}")
        for c in range(3):
            check(abs(float(fields[2 + c]) - p[c]) < 1e-5, f"row {i}: p_{c} {fields[2 + c]} vs {p[c]}")
    accuracy = eval_metric(binary, model, data)
    expected = f"{sum(a == y for a, y in zip(mine, labels)) / len(rows):.4f}"
    check(accuracy == expected, f"eval accuracy {accuracy}, here {expected}")
    check(float(accuracy) > 0.8, f"the model learnt little ({accuracy}): the test would be weak")

    # A regression: the target standardisation is applied as the metadata says.
    rows = [[round(rng.uniform(-2, 2), 3) for _ in range(2)] for _ in range(60)]
    targets = [round(50 + 20 * math.sin(a) + 10 * b, 4) for a, b in rows]
    data = os.path.join(work, "wave.csv")
    write_csv(data, ["a", "b", "y"], [r + [t] for r, t in zip(rows, targets)])
    model = os.path.join(work, "wave.safetensors")
    tapegrad(binary, "train", "--data", data, "--task", "regress", "--layers", "8",
             "--epochs", "10", "--seed", "5", "--save", model)
    metadata, tensors = read_safetensors(model)
    y_mean, y_scale = (float(v) for v in metadata["target_standardisation"].split(","))
    # Fitted on the training rows (a split of these): near the mean of all, not equal to it.
    check(abs(y_mean - sum(targets) / len(targets)) < 5 and y_scale > 5,
          f"target standardisation {y_mean}, {y_scale}")
    _, out = predict_rows(binary, model, data)
    for i, (fields, r) in enumerate(zip(out, rows)):
        mine = forward(metadata, tensors, r)[0] * y_scale + y_mean
        check(abs(float(fields[1]) - mine) <= 1e-5 * max(1.0, abs(mine)),
              f"row {i}: tapegrad {fields[1]}, here {mine}")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("write", "read"):
        raise SystemExit(__doc__)
    direction, binary, work = sys.argv[1:]
    os.makedirs(work, exist_ok=True)
    (written_here if direction == "write" else read_here)(binary, work)
    if failures:
        raise SystemExit(f"{len(failures)} checks failed")
    print(f"{direction}: all checks passed")
