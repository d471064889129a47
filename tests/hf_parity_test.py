#!/usr/bin/env python3
"""Hugging Face export and import against transformers (from PyPI, on Debian's PyTorch).

For each family (GPT-2 with the GPT-2 tokenizer, LLaMA with grouped-query attention): a tessera run is exported with
`tessera convert --to hf`; transformers loads it (AutoModelForCausalLM, AutoTokenizer) and its logits on the same
tokens must equal tessera's (max abs difference < 1e-4, fp32), its tokenizer must give tessera's ids. Then the
Hugging Face directory is imported back (`convert --to tessera`) and exported again: the safetensors must be
byte-identical. A model made by transformers itself (random LLaMA) is read by tessera directly: the same logits.

Usage: hf_parity_test.py path/to/tessera     (.venv from jobs/setup-python.sh, with transformers)
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

tessera = sys.argv[1]
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
passed = failed = 0


def check(what, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {what} {detail}")


def run(*args):
    r = subprocess.run([tessera, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"tessera {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


def tessera_logits(model, work, prompt=None, ids=None):
    path = os.path.join(work, "logits.bin")
    args = ["generate", "-m", model, "--logits", path]
    args += ["--prompt", prompt] if prompt is not None else ["--prompt-ids", ",".join(map(str, ids))]
    out = run(*args)
    got_ids = [int(x) for x in out.split("ids: ")[1].strip().split(",")]
    return got_ids, np.fromfile(path, dtype=np.float32).reshape(len(got_ids), -1)


def hf_logits(model_dir, ids):
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].numpy()


torch.manual_seed(0)
with tempfile.TemporaryDirectory() as work:
    env_data = os.path.join(work, "gpt2-data")
    run("prepare", os.path.join(root, "data", "tinyshakespeare.txt"), "-o", env_data, "--tokenizer", "gpt2",
        "--no-progress")
    prompt = "ROMEO: Is the day so young? JULIET: It is, it is; hie hence, be gone, away!"
    for preset, extra in [("tiny-gpt2", []), ("tiny-llama", ["--set", "model.n_kv_head=2"])]:
        run_dir = os.path.join(work, preset)
        run("train", "-c", preset, "--data", env_data, "--steps", "3", "--checkpoint-dir", run_dir,
            "--set", "log.peak_flops=1e9", "--set", "train.lr=3e-3", "--set", "train.warmup_steps=1", *extra)
        hf_dir = os.path.join(work, preset + "-hf")
        run("convert", run_dir, "-o", hf_dir, "--to", "hf")
        ids, ours = tessera_logits(run_dir, work, prompt=prompt)
        tok = AutoTokenizer.from_pretrained(hf_dir)
        check(f"{preset}: AutoTokenizer gives tessera's ids", tok(prompt)["input_ids"] == ids,
              f"{tok(prompt)['input_ids'][:8]} vs {ids[:8]}")
        check(f"{preset}: AutoTokenizer knows the mask and pad tokens",
              tok.mask_token_id == 50257 and tok.pad_token_id == 50258, f"{tok.mask_token_id} {tok.pad_token_id}")
        theirs = hf_logits(hf_dir, ids)
        diff = float(np.abs(theirs - ours).max())
        print(f"{preset}: transformers logits vs tessera's: max abs difference {diff:.3g} over {ours.shape}")
        check(f"{preset}: logits within 1e-4", diff < 1e-4, f"({diff})")
        # import -> export: byte-identical safetensors
        back = os.path.join(work, preset + "-back")
        run("convert", hf_dir, "-o", back, "--to", "tessera")
        hf2 = os.path.join(work, preset + "-hf2")
        run("convert", back, "-o", hf2, "--to", "hf")
        same = open(os.path.join(hf_dir, "model.safetensors"), "rb").read() == \
            open(os.path.join(hf2, "model.safetensors"), "rb").read()
        check(f"{preset}: export -> import -> export is byte-identical", same)
        check(f"{preset}: config.json round-trips",
              json.load(open(os.path.join(hf_dir, "config.json"))) == json.load(open(os.path.join(hf2, "config.json"))))
        # a sharded export reads back the same
        sharded = os.path.join(work, preset + "-sharded")
        run("convert", run_dir, "-o", sharded, "--to", "hf", "--max-shard-mb", "1")
        check(f"{preset}: a sharded export has an index", os.path.exists(os.path.join(sharded, "model.safetensors.index.json")))
        diff_sharded = float(np.abs(hf_logits(sharded, ids) - ours).max())
        check(f"{preset}: the sharded export loads in transformers, same logits", diff_sharded < 1e-4, f"({diff_sharded})")

    # a model transformers made (random LLaMA, grouped-query attention, untied head) read by tessera as is
    config = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5,
                         tie_word_embeddings=False)
    model = LlamaForCausalLM(config).eval()
    native = os.path.join(work, "native-llama")
    model.save_pretrained(native, safe_serialization=True)
    with open(os.path.join(native, "config.json")) as f:  # tessera needs a tokenizer: its byte tokenizer fits 300
        c = json.load(f)
    c["tessera"] = {"tokenizer": "byte"}
    with open(os.path.join(native, "config.json"), "w") as f:
        json.dump(c, f)
    ids = [5, 17, 200, 3, 99, 256, 42, 7]
    _, ours = tessera_logits(native, work, ids=ids)
    with torch.no_grad():
        theirs = model(torch.tensor([ids])).logits[0].numpy()
    diff = float(np.abs(theirs - ours[:, :300]).max())
    print(f"transformers-made LLaMA read by tessera: max abs logit difference {diff:.3g}")
    check("a transformers-made LLaMA: tessera's logits within 1e-4", diff < 1e-4, f"({diff})")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
