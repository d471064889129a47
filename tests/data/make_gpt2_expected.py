"""Expected GPT-2 token ids for tests/test_tokenizer.cpp, from two independent implementations.

Run: python3 tests/data/make_gpt2_expected.py data/gpt2 > tests/data/gpt2_expected.json
Needs `pip install tokenizers tiktoken`; both are built from the same encoder.json / vocab.bpe and must agree.
"""
import base64
import json
import sys

import tiktoken
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

TEXTS = [
    "Hello world",
    "hello, world! How's it going? I'm fine; you'll see, we'd've done it.",
    "  leading and trailing spaces   ",
    "tabs\tand\nnewlines\r\nand CRLF\r\n\r\n",
    "Numbers: 1234567890 3.14159 1,000,000 2026-11-27",
    "Ünïcödé: café naïve façade — “quotes” ‘single’ …",
    "日本語のテキストと中文文本",
    "Русский текст и ελληνικά",
    "emoji 🎉🚀👍🏽 and 👨‍👩‍👧 family",
    "mixed123abc ABC123 _under_score_ CamelCase",
    "    \n\n\n    multiple\n\n   whitespace runs    \t\t  end",
    "'s 't 're 've 'm 'll 'd 'S 'T",
    "symbols: @#$%^&*()[]{}<>/\\|~`+=-_",
    "<|endoftext|> is plain text here",
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n",
    "a" * 50,
    "x\u00a0y\u2003z\u3000w",
    "ﬁ ligature and Ⅻ roman and ² superscript and ٣ arabic digit",
]


def pseudo_random(alphabet, n, seed):
    """n characters of alphabet from a fixed LCG (the same on every Python)."""
    out, x = [], seed
    for _ in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) % 2**64
        out.append(alphabet[(x >> 33) % len(alphabet)])
    return "".join(out)


# long pre-tokens: BPE must stay exact (and fast) on runs of letters, base64 and DNA
TEXTS += [
    pseudo_random("abcdefghijklmnopqrstuvwxyz", 300, 1),
    pseudo_random("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 3000, 2),
    pseudo_random("ACGT", 2000, 3),
    "ab" * 500,
    "a" * 1000,
    " " + pseudo_random("etaoinshrdlu", 1500, 4),
]


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


def main(gpt2_dir):
    encoder = json.load(open(f"{gpt2_dir}/encoder.json", encoding="utf-8"))
    merges = [tuple(l.split()) for l in open(f"{gpt2_dir}/vocab.bpe", encoding="utf-8").read().split("\n")[1:] if l]
    hf = Tokenizer(models.BPE(vocab=encoder, merges=merges))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()

    inverse = {v: k for k, v in bytes_to_unicode().items()}
    ranks = {bytes(inverse[c] for c in tok): i for tok, i in encoder.items() if tok != "<|endoftext|>"}
    pat = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
    tk = tiktoken.Encoding("gpt2-local", pat_str=pat, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 50256})

    cases = []
    for text in TEXTS:
        a = hf.encode(text).ids
        b = tk.encode_ordinary(text)
        if a != b:
            sys.exit(f"tokenizers and tiktoken disagree on {text!r}")
        cases.append({"text": text, "ids": a})
    lines = ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases)
    print('{"generator": "tokenizers + tiktoken (agreeing)", "cases": [\n' + lines + "\n]}")


if __name__ == "__main__":
    main(sys.argv[1])
