"""The command line: the demo runs end to end on the bundled model; bad input exits non-zero."""

from sra_rag.cli import main


def test_demo_compares_baseline_and_sra(smollm2, capsys):
    assert main(["demo", "--tokens", "600", "--depths", "0.5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines if line.strip().startswith("0.50")]
    assert [row[1] for row in rows] == ["baseline", "sra"]
    assert int(rows[1][-1]) > 0 and int(rows[0][-1]) == 0  # rows touched: SRA acted, baseline not
    assert any(line.startswith("baseline ") and "/1 correct, SRA" in line for line in lines)


def test_bad_config_exits_with_a_one_line_reason(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"policy": "sra", "question_length": -3}')
    assert main(["demo", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sra-rag: error:") and "question_length" in err and "\n" not in err
