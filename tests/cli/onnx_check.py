"""Checks an ONNX file from `starling export` against `starling eval --dump-logits`.

  onnx_check.py MODEL.onnx DUMP.json FASHION_MNIST_DIR (loader_features|raw_pixels) SPEC [KIND]
      onnx.checker, versions and metadata (KIND: the starling.model the
      checkpoint held, `own` by default or `local_average`, which must name
      at least one neighbour copy); then runs the graph with the numpy
      evaluator below on the first test images (as many as DUMP holds) and
      compares logits and probabilities with starling's own forward pass.
  onnx_check.py --rewrite SRC.ckpt DST.ckpt KEY=VALUE
      copies a checkpoint with one header field changed (KEY `model` or
      `metadata.NAME`) and its checksum recomputed: a valid file with content
      starling must refuse.

Run with /usr/bin/python3 (Debian's python3-onnx and python3-numpy).
"""
import gzip
import json
import sys
import zlib

import numpy as np

TOLERANCE = 1e-4


def run_graph(graph, feed):
    """Evaluates the ops starling emits (and their close relatives), float32."""
    from onnx import helper, numpy_helper
    values = dict(feed)
    for tensor in graph.initializer:
        values[tensor.name] = numpy_helper.to_array(tensor)
    for node in graph.node:
        args = [values[name] for name in node.input]
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        op = node.op_type
        if op == "Gemm":
            a = args[0].T if attrs.get("transA", 0) else args[0]
            b = args[1].T if attrs.get("transB", 0) else args[1]
            out = np.float32(attrs.get("alpha", 1.0)) * (a @ b)
            if len(args) > 2:
                out = out + np.float32(attrs.get("beta", 1.0)) * args[2]
        elif op == "MatMul":
            out = args[0] @ args[1]
        elif op in ("Add", "Sub", "Mul", "Div"):
            out = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](args[0], args[1])
        elif op == "Relu":
            out = np.maximum(args[0], np.float32(0))
        elif op == "Softmax":
            axis = attrs.get("axis", -1)  # opset 13's default
            shifted = np.exp(args[0] - args[0].max(axis=axis, keepdims=True))
            out = shifted / shifted.sum(axis=axis, keepdims=True)
        else:
            raise SystemExit(f"FAIL: the graph uses op {op}, which this evaluator does not implement")
        assert out.dtype == np.float32, f"{op} produced {out.dtype}"
        values[node.output[0]] = out
    return {output.name: values[output.name] for output in graph.output}


def read_idx(path, magic):
    with gzip.open(path, "rb") as f:
        data = f.read()
    header = np.frombuffer(data[:4], dtype=">u4")[0]
    assert header == magic, f"{path}: magic {header:#x}"
    dims = np.frombuffer(data[4:4 + 4 * (magic & 0xFF)], dtype=">u4")
    body = np.frombuffer(data[4 + 4 * len(dims):], dtype=np.uint8)
    return body.reshape([int(d) for d in dims])


def check(model_path, dump_path, fmnist, mode, spec, kind="own"):
    import onnx
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)  # full_check: shape inference too
    assert model.ir_version == 7, model.ir_version
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 13)], model.opset_import
    props = {p.key: p.value for p in model.metadata_props}
    expected = {"starling.model": kind, "starling.model_spec": spec, "starling.input": mode,
                "starling.inputs": "784", "starling.classes": "10"}
    for key, value in expected.items():
        assert props.get(key) == value, f"metadata {key} = {props.get(key)!r}, expected {value!r}"
    assert len(props["starling.layout_hash"]) == 64 and int(props["starling.layout_hash"], 16) >= 0
    assert int(props["starling.step"]) > 0
    if kind == "local_average":
        neighbours = int(props.get("starling.local_average_neighbours", "0"))
        assert neighbours >= 1, f"a local average of {neighbours} neighbour copies"

    with open(dump_path) as f:
        dump = json.load(f)
    count = dump["samples"]
    assert count > 0 and len(dump["logits"]) == count
    images = read_idx(f"{fmnist}/t10k-images-idx3-ubyte.gz", 0x803)[:count].reshape(count, -1)
    labels = read_idx(f"{fmnist}/t10k-labels-idx1-ubyte.gz", 0x801)[:count]
    assert list(labels) == dump["labels"], "the dump's samples are not the first test images"
    raw = images.astype(np.float32)
    # starling's IDX loader: byte * (1.0f / 255.0f), in float32.
    feed = raw if mode == "raw_pixels" else raw * np.float32(1.0 / 255.0)
    outputs = run_graph(model.graph, {model.graph.input[0].name: feed})

    logits = np.array(dump["logits"], dtype=np.float32)
    probabilities = np.array(dump["probabilities"], dtype=np.float32)
    assert outputs["logits"].shape == (count, 10), outputs["logits"].shape
    logits_diff = float(np.abs(outputs["logits"] - logits).max())
    probabilities_diff = float(np.abs(outputs["probabilities"] - probabilities).max())
    argmax_same = bool((outputs["logits"].argmax(axis=1) == np.array(dump["predictions"])).all())
    accuracy = float((outputs["logits"].argmax(axis=1) == labels).mean())
    print(f"{model_path} ({mode}): {count} images, max |logit diff| {logits_diff:.3g}, "
          f"max |probability diff| {probabilities_diff:.3g}, argmax identical: {argmax_same}, "
          f"accuracy {accuracy:.3f}, logit range [{logits.min():.2f}, {logits.max():.2f}]")
    if not (logits_diff < TOLERANCE and probabilities_diff < TOLERANCE and argmax_same):
        raise SystemExit(f"FAIL: {model_path} disagrees with starling eval")


def rewrite(source, target, assignment):
    key, value = assignment.split("=", 1)
    with open(source, "rb") as f:
        data = f.read()
    magic_end = data.index(b"\n")
    size_end = data.index(b"\n", magic_end + 1)
    header_bytes = int(data[magic_end + 1:size_end].split()[0])
    header_start = size_end + 1
    header = json.loads(data[header_start:header_start + header_bytes])
    payload = data[header_start + header_bytes:]
    if key.startswith("metadata."):
        header["metadata"][key[len("metadata."):]] = value
    else:
        header[key] = value
    text = json.dumps(header, separators=(",", ":")).encode()
    with open(target, "wb") as f:
        f.write(data[:magic_end + 1] + f"{len(text)} {zlib.crc32(text):x}\n".encode() + text + payload)


if __name__ == "__main__":
    if sys.argv[1] == "--rewrite":
        rewrite(*sys.argv[2:5])
    else:
        check(*sys.argv[1:7])
