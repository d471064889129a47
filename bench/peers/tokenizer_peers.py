"""GPT-2 BPE encoding speed of tiktoken and Hugging Face tokenizers, for bench/run.sh's tokenizer table.

Both are built from the same encoder.json / vocab.bpe as tessera (no network). One thread encodes the whole text
as one string; all cores encode its paragraphs (split at blank lines) as a batch.
Usage: python3 bench/peers/tokenizer_peers.py GPT2_DIR TEXT_FILE [THREADS]   (pip install tiktoken tokenizers)
"""
import json
import os
import sys
import time


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def best_rate(fn, nbytes, min_seconds=1.0):
    """Best MB/s over repetitions that together take at least min_seconds, and the token count."""
    best, spent, count = 0.0, 0.0, 0
    while spent < min_seconds or best == 0.0:
        t = time.perf_counter()
        count = fn()
        dt = time.perf_counter() - t
        spent += dt
        best = max(best, nbytes / dt / 1e6)
    return best, count


def main(gpt2_dir, text_file, threads):
    text = open(text_file, encoding="utf-8").read()
    nbytes = len(text.encode("utf-8"))
    docs = [d for d in text.split("\n\n") if d]
    encoder = json.load(open(f"{gpt2_dir}/encoder.json", encoding="utf-8"))
    merges = [tuple(l.split()) for l in open(f"{gpt2_dir}/vocab.bpe", encoding="utf-8").read().split("\n")[1:] if l]
    rows = []
    try:
        import tiktoken

        inverse = {v: k for k, v in bytes_to_unicode().items()}
        ranks = {bytes(inverse[c] for c in tok): i for tok, i in encoder.items() if tok != "<|endoftext|>"}
        pat = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
        tk = tiktoken.Encoding("gpt2-local", pat_str=pat, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 50256})
        rows.append((f"tiktoken {tiktoken.__version__}", 1, *best_rate(lambda: len(tk.encode_ordinary(text)), nbytes)))
        rows.append((f"tiktoken {tiktoken.__version__}", threads, *best_rate(
            lambda: sum(map(len, tk.encode_ordinary_batch(docs, num_threads=threads))), nbytes)))
    except ImportError:
        rows.append(("tiktoken: not installed (pip install tiktoken)", 0, 0.0, 0))
    try:
        os.environ["RAYON_NUM_THREADS"] = str(threads)
        import tokenizers
        from tokenizers import Tokenizer, models, pre_tokenizers

        hf = Tokenizer(models.BPE(vocab=encoder, merges=merges))
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        name = f"HF tokenizers {tokenizers.__version__}"
        rows.append((name, 1, *best_rate(lambda: len(hf.encode(text, add_special_tokens=False).ids), nbytes)))
        rows.append((name, threads, *best_rate(
            lambda: sum(len(e.ids) for e in hf.encode_batch(docs, add_special_tokens=False)), nbytes)))
    except ImportError:
        rows.append(("HF tokenizers: not installed (pip install tokenizers)", 0, 0.0, 0))
    for name, n, rate, count in rows:
        print(f"| {name} | {n} | {rate:.2f} | {count} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else os.cpu_count())
