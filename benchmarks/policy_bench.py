"""Prompt-policy speed: checking one prompt against policies of 100 to 10,000 terms.

    python benchmarks/policy_bench.py [--repeat 3000]

The terms are made-up words (a fifth of them two words long) in one warn rule, plus the
shipped policy's rules; nothing matches, so every word of the prompt is looked up in full.
Times are ``PromptPolicy.evaluate`` on one prompt (normalising, matching, rules, artists):
the median wall-clock time, and the median and 99th percentile of the thread's CPU time (on
a busy machine the wall clock's tail is other processes' turns, not the check's); the log is
not written.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPTS = {
    "short (5 words)": "a red fox in snow",
    "typical (40 words, A1111 syntax)": (
        "masterpiece, best quality, (a photo of a red fox:1.2) in a snowy forest, "
        "[oil painting|watercolor], dramatic lighting, highly detailed, 8k, sharp focus "
        "BREAK cinematic composition, <lora:fox_style_v2:0.7> volumetric fog, golden hour, "
        "bokeh, intricate fur, award winning, by a famous photographer"),
    "long (160 words)": ", ".join(["a quiet harbour at dawn with fishing boats, gulls and "
                                   "(soft mist:1.1) over the water, old stone houses"] * 8),
    "non-ASCII (accents, full-width, zero-width)": (
        "un r\u00e9nard roux dans la n\u00eege, \uff46\uff4f\uff58 \u200bportrait, "
        "\u00e9clairage dramatique, tr\u00e8s d\u00e9taill\u00e9, for\u00eat enneig\u00e9e"),
}


def made_up_terms(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"

    def word() -> str:
        return "q" + "".join(rng.choice(letters) for _ in range(rng.randint(4, 9)))

    return [word() if rng.random() < 0.8 else f"{word()} {word()}" for _ in range(count)]


def policy_with(count: int):
    from webui.policy import SHIPPED_POLICY, PromptPolicy

    text = SHIPPED_POLICY.read_text(encoding="utf-8")
    text += ('\n[[rule]]\nid = "bench"\naction = "warn"\nterms = '
             + json.dumps(made_up_terms(count)) + "\n")
    text += '\n[[artist]]\nname = "Jane Doe"\naliases = ["j. doe"]\n'
    started = time.perf_counter()
    policy = PromptPolicy(text=text)
    return policy, time.perf_counter() - started


def timings(policy, prompt: str, repeat: int) -> tuple[list[float], list[float]]:
    """Sorted (wall, CPU) times of ``repeat`` checks, in µs."""
    policy.evaluate([prompt])  # warm-up
    wall, cpu = [], []
    gc.disable()
    try:
        for _ in range(repeat):
            w, c = time.perf_counter_ns(), time.thread_time_ns()
            policy.evaluate([prompt])
            cpu.append((time.thread_time_ns() - c) / 1000)
            wall.append((time.perf_counter_ns() - w) / 1000)
    finally:
        gc.enable()
    return sorted(wall), sorted(cpu)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3000)
    p.add_argument("--terms", default="100,1000,10000")
    a = p.parse_args()
    print("| terms | prompt | wall median (µs) | CPU median (µs) | CPU p99 (µs) | under 1 ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    built = []
    for count in (int(n) for n in a.terms.split(",")):
        policy, build = policy_with(count)
        built.append((count, build, policy.spec.summary()))
        for name, prompt in PROMPTS.items():
            wall, cpu = timings(policy, prompt, a.repeat)
            p99 = cpu[int(len(cpu) * 0.99) - 1]
            print(f"| {count:,} | {name} | {statistics.median(wall):.0f} | "
                  f"{statistics.median(cpu):.0f} | {p99:.0f} | "
                  f"{'yes' if p99 < 1000 else 'NO'} |")
    print()
    print("| terms | policy read and indexed (ms) | policy |")
    print("| --- | --- | --- |")
    for count, build, summary in built:
        print(f"| {count:,} | {build * 1000:.0f} | {summary} |")


if __name__ == "__main__":
    main()
