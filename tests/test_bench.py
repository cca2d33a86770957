"""`sra-rag bench`: the peak-memory reading, the measured report, its table and plot."""

import copy
import json
import re

import pytest
import torch
from conftest import tiny_model

from sra_rag.cli import main
from sra_rag.eval.bench import peak_memory, speed
from sra_rag.eval.passkey import passkey_prompt
from sra_rag.generation import Generator

needs_peak = pytest.mark.skipif(not peak_memory.available(), reason="peak memory needs Linux and glibc")


@needs_peak
def test_resident_peak_sees_a_short_lived_block_and_only_the_pass() -> None:
    peak_memory.release_freed_memory()
    block = torch.ones(128 * 2**18)  # 128 MiB, touched
    del block  # freed before the measurement: must not count
    with peak_memory.ResidentPeak() as small:
        torch.ones(2**18).sum()  # 1 MiB
    with peak_memory.ResidentPeak() as large:
        torch.ones(64 * 2**18).sum()  # 64 MiB, freed before the block ends
    assert small.extra_mib < 16
    assert 60 < large.extra_mib < 100
    assert large.peak_mib >= large.extra_mib


@pytest.fixture(scope="module")
def report():
    torch.manual_seed(0)
    prompts = [torch.randint(3, 256, (1, n)) for n in (96, 512)]  # 512: every variant's rules act
    results = speed.measure(tiny_model("llama"), prompts, repeats=2, decode_tokens=2, naive_up_to=100)
    return {"model": "tiny", "device": "cpu", "threads": 1, "dtype": "float32", "results": results}


def test_every_variant_is_timed_against_the_baseline_and_naive_is_capped(report) -> None:
    short, long = report["results"]
    assert (short["prompt_tokens"], long["prompt_tokens"]) == (96, 512)
    assert list(short["best"]) == ["baseline", "sra", "transition", "guided", "sra_naive"]
    assert "sra_naive" not in long["best"]  # over --naive-up-to
    for result in report["results"]:
        for name, ratio in result["ratio_to_baseline"].items():
            runs, base = result["runs"][name], result["runs"]["baseline"]
            assert len(runs) == len(base) == 2
            low, high = ratio["prefill_range"]
            assert low <= ratio["prefill"] <= high
            assert low == pytest.approx(
                min(r["prefill_s"] / b["prefill_s"] for r, b in zip(runs, base, strict=True))
            )


def test_the_timed_variants_really_ran_their_rules(report) -> None:
    """Each variant's diagnostics, from an untimed pass with the timed setting: at 512 tokens every
    SRA variant moves attention mass and the baseline moves none (at 96 the paper's needs more)."""
    short, long = report["results"]
    assert set(long["diagnostics"]) == set(long["best"])
    assert long["diagnostics"]["baseline"]["redistributed_mass"] == 0
    for name in ("sra", "transition", "guided"):
        assert long["diagnostics"][name]["redistributed_mass"] > 0, name
    assert short["diagnostics"]["sra"]["redistributed_mass"] == 0  # too short for the paper's rules


@needs_peak
def test_memory_is_measured_per_variant(report) -> None:
    for result in report["results"]:
        for name, best in result["best"].items():
            assert best["peak_mib"] > best["peak_extra_mib"] >= 0
            if name != "baseline":
                ratio = best["peak_mib"] / result["best"]["baseline"]["peak_mib"]
                assert result["ratio_to_baseline"][name]["peak_memory"] == pytest.approx(ratio)


def test_saved_report_reprints_its_table_and_plot(report, tmp_path, capsys) -> None:
    saved = tmp_path / "speed.json"
    saved.write_text(json.dumps(report))
    assert main(["bench", "--report", str(saved)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| prompt tokens | variant | prefill")
    assert len(table) == 2 + 5 + 4  # header, 96 tokens: baseline + 4 variants, 192: baseline + 3
    assert table[2].startswith("| 96 | baseline (SDPA) |") and table[6].startswith("| 96 | sra_naive |")
    assert (tmp_path / "speed.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lengths", "1024", "10"], "--lengths [10]: prompts need at least 64 tokens"),
        (["--repeats", "0"], "--repeats and --decode-tokens must be at least 1"),
        (["--lengths", "9000"], "the context window is 8192 tokens"),
    ],
)
def test_bad_options_fail_with_one_line(argv, message, tmp_path, capsys) -> None:
    assert main(["bench", *argv, "--out", str(tmp_path / "x.json")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("chat", [True, False])
def test_passkey_prompt_fits_its_length_in_either_style(smollm2, chat) -> None:
    tokenizer = copy.copy(smollm2[1])
    if not chat:
        tokenizer.chat_template = None  # a base model's tokenizer: plain text
    ids = Generator(smollm2[0], tokenizer).encode(passkey_prompt(tokenizer, 1000, depth=0.25).prompt)
    text = tokenizer.decode(ids[0])
    assert 950 < ids.shape[1] <= 1000
    assert "harbour vault is 68402" in text and text.index("68402") < len(text) / 2
    assert ("<|im_start|>assistant" in text) is chat and text.rstrip().endswith("Answer:") is not chat


def test_provenance_names_the_commit_the_command_the_versions_and_the_model_bytes(tmp_path) -> None:
    import hashlib

    from sra_rag.eval.provenance import model_sha256, provenance

    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"weights")
    record = provenance(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{40}", record["commit"]) and isinstance(record["dirty"], bool)
    assert record["packages"]["torch"] == torch.__version__ and record["command"]
    inner = hashlib.sha256(b"weights").digest()
    assert record["model_sha256"] == hashlib.sha256(inner).hexdigest() == model_sha256(weights)
    assert model_sha256("org/hub-model") is None  # a hub id names no local bytes


def test_the_weights_identity_is_the_tensor_values_not_the_file_bytes(tmp_path) -> None:
    """Two files with other bytes but the same tensors (here: other metadata in the header) are
    one model; one changed value is another model."""
    from safetensors.torch import load_file, save_file

    from sra_rag.eval.provenance import model_sha256, provenance, weights_sha256

    model = tiny_model("llama")
    tensors = {k: v.clone() for k, v in model.state_dict().items()}
    for name, note in (("a", "written here"), ("b", "written elsewhere")):
        (tmp_path / name).mkdir()
        save_file(tensors, tmp_path / name / "model.safetensors", metadata={"format": "pt", "note": note})
    assert model_sha256(tmp_path / "a") != model_sha256(tmp_path / "b")
    twin = tiny_model("llama", seed=1)
    assert weights_sha256(twin) != weights_sha256(model)
    twin.load_state_dict(load_file(tmp_path / "b" / "model.safetensors"))
    assert (
        weights_sha256(twin) == weights_sha256(model) == provenance(tmp_path / "a", model)["weights_sha256"]
    )
    with torch.no_grad():
        next(twin.parameters()).view(-1)[0] += 1e-6
    assert weights_sha256(twin) != weights_sha256(model)
    assert weights_sha256(model.double()) != weights_sha256(tiny_model("llama"))  # the dtype is part of it


def test_the_structured_bench_decodes_both_ways_alike(smollm2):
    from sra_rag.eval.bench.structured_speed import measure

    report = measure(*smollm2, repeats=1)
    assert len(report["runs"]) == 3 and report["setup_s"] > 0
    assert all(r["tokens"] == r["free_tokens"] > 5 for r in report["runs"])
    assert report["ratio_range"][0] <= report["ratio_median"] <= report["ratio_range"][1]
