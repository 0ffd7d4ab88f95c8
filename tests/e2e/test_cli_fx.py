"""`handoff fx import` / `handoff fx rates` as a user runs them (a real subprocess): ECB files in,
the same file again, a conflicting rate refused then replaced, a bad file, the rates of a day."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_cli import run

FIXTURES = Path(__file__).parents[1] / "unit" / "invoicing" / "fixtures"
HIST = FIXTURES / "eurofxref-hist-3d.xml"


def flat(text: str) -> str:
    """The output without the console's line wrapping."""
    return " ".join(text.split())


def test_fx_import_and_rates(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/h.db"
    first = run("fx", "import", str(HIST), "--db", db, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "3 day(s) 2026-10-29..2026-11-02: 15 rate(s) added, 0 replaced, 0 unchanged" in flat(first.stdout)
    again = run("fx", "import", str(HIST), "--db", db, cwd=tmp_path)
    assert again.returncode == 0 and "0 rate(s) added, 0 replaced, 15 unchanged" in flat(again.stdout)

    changed = tmp_path / "eurofxref-daily.xml"
    changed.write_text(HIST.read_text().replace('rate="0.87935"', 'rate="0.87999"'))
    refused = run("fx", "import", str(changed), "--db", db, cwd=tmp_path)
    stderr = flat(refused.stderr)
    assert refused.returncode == 2 and "GBP on 2026-11-02: stored 0.87935, file 0.87999" in stderr
    replaced = run("fx", "import", str(changed), "--replace", "--db", db, cwd=tmp_path)
    assert replaced.returncode == 0 and "0 rate(s) added, 1 replaced, 14 unchanged" in flat(replaced.stdout)

    bad = tmp_path / "bad.xml"
    bad.write_text(HIST.read_text().replace('time="2026-10-30"', 'time="30.10.2026"'))
    broken = run("fx", "import", str(bad), "--db", db, cwd=tmp_path)
    assert broken.returncode == 2 and "<Cube time>: '30.10.2026' is not a date" in flat(broken.stderr)

    sunday = run("fx", "rates", "--date", "2026-11-01", "--db", db, cwd=tmp_path)
    assert sunday.returncode == 0, sunday.stderr
    assert "ECB reference rates of 2026-10-30" in flat(sunday.stdout) and "0.87810" in sunday.stdout
    monday = run("fx", "rates", "--date", "2026-11-02", "--db", db, cwd=tmp_path)
    assert "0.87999" in monday.stdout
    late = run("fx", "rates", "--date", "2026-12-01", "--db", db, cwd=tmp_path)
    assert late.returncode == 1 and "the latest are of 2026-11-02" in flat(late.stderr)
