"""The command line: the demo runs end to end on the bundled model; bad input exits non-zero."""

from sra_rag.cli import main


def test_demo_compares_baseline_and_sra(smollm2, capsys):
    assert main(["demo", "--tokens", "600", "--depths", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "baseline" in out and "sra" in out
    assert "correct" in out and "/1 correct" in out


def test_bad_config_exits_with_a_one_line_reason(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"policy": "sra", "question_length": -3}')
    assert main(["demo", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sra-rag: error:") and "question_length" in err and "\n" not in err
