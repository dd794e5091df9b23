"""The fuzz targets in CI: every seed, every input long runs found and every crash input
replayed through its target (a fixed crash stays fixed), then each target fuzzed by atheris for a few seconds
(FUZZ_TEST_SECONDS, default 3), so that a regression the seeds do not reach still fails
`make test`. `make fuzz` runs them longer (FUZZ_SECONDS, default 60)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fuzz.run import INPUTS, run_one
from tests.fuzz.targets import TARGETS

HERE = Path(__file__).resolve().parent
SECONDS = float(os.environ.get("FUZZ_TEST_SECONDS", "3"))


def inputs(target: str) -> list[Path]:
    return sorted(p for d in INPUTS for p in (HERE / d / target).glob("*") if p.is_file())


@pytest.mark.parametrize("target", list(TARGETS))
def test_seeds_and_regressions_replay_clean(target: str) -> None:
    files = inputs(target)
    assert files, f"tests/fuzz/corpus/{target} has no seeds"
    for path in files:
        try:
            TARGETS[target](path.read_bytes())
        except Exception as e:
            raise AssertionError(f"{path.relative_to(HERE)}: {e!r}") from e


def test_every_target_has_a_seed_corpus() -> None:
    assert sorted(p.name for p in (HERE / "corpus").iterdir()) == sorted(TARGETS)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("target", list(TARGETS))
def test_fuzz_briefly(target: str, tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris is in the dev extras: pip install -e '.[dev]'")
    r = run_one(target, SECONDS, tmp_path)
    assert not r.crashes and r.rc == 0, f"{target} crashed: {r.line()} (input in {tmp_path}/crashes/{target}/)"
    assert r.execs > 0
