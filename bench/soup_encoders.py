"""Average the weights of encoders fine-tuned from one start (a "model soup") and export it.

    python -m bench.soup_encoders --out /tmp/soup /tmp/seed2/float /tmp/seed3/float

Each input is the `float/` folder `bench/finetune_encoder.py --keep-float` leaves beside its
export. Runs fine-tuned from the same pretrained weights with the same recipe and different seeds
stay close enough in weight space that their average is a model of its own, often better than
each (Wortsman et al., "Model soups", ICML 2022), at the cost of one: unlike an ensemble, it runs
one encoder per message. Needs the `finetune` extra.

Writes `OUT/encoder.onnx` (int8, as `finetune_encoder.py` exports), `OUT/tokenizer.json`,
`OUT/float/` (the averaged weights) and `OUT/encoder.json` naming the ingredients.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.finetune_encoder import export_int8


def ingredients(folders: list[Path]) -> list[dict[str, Any]]:
    """Each input's `encoder.json` (how it was fine-tuned), read from beside its `float/`."""
    found = []
    for folder in folders:
        info = folder.parent / "encoder.json"
        found.append(json.loads(info.read_text(encoding="utf-8")) if info.is_file() else {})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", type=Path, nargs="+", help="float/ folders to average")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    try:
        # The `finetune` extra is gigabytes and not installed to lint (see finetune_encoder.py).
        import torch  # type: ignore[import-not-found, unused-ignore]
        from transformers import BertModel  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError as error:  # the `finetune` extra is gigabytes, left out by default
        parser.error(f"{error.name} is not installed: pip install -e '.[finetune]'")

    if len(args.inputs) < 2:
        parser.error("a soup needs at least two encoders")
    tokenizers = {(folder / "tokenizer.json").read_bytes() for folder in args.inputs}
    if len(tokenizers) != 1:
        parser.error("the encoders do not share one tokenizer: they are not from one start")

    models = [BertModel.from_pretrained(str(f), add_pooling_layer=False) for f in args.inputs]
    states = [model.state_dict() for model in models]
    if any(state.keys() != states[0].keys() for state in states):
        parser.error("the encoders do not have the same layers")
    averaged = {
        name: (
            torch.stack([state[name] for state in states]).mean(0)
            if tensor.is_floating_point()
            else tensor
        )
        for name, tensor in states[0].items()
    }
    soup = models[0]
    soup.load_state_dict(averaged)

    args.out.mkdir(parents=True, exist_ok=True)
    soup.save_pretrained(args.out / "float")
    shutil.copy(args.inputs[0] / "tokenizer.json", args.out / "float" / "tokenizer.json")
    shutil.copy(args.inputs[0] / "tokenizer.json", args.out / "tokenizer.json")
    export_int8(soup, args.out / "encoder.onnx")
    info = {
        "soup_of": ingredients(args.inputs),
        "created_at": datetime.now(UTC).isoformat(),
        "encoder_sha256": hashlib.sha256((args.out / "encoder.onnx").read_bytes()).hexdigest(),
    }
    (args.out / "encoder.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"out": str(args.out), "ingredients": len(args.inputs)}))


if __name__ == "__main__":
    main()
