"""LGPD masking: every format of personal data (pii_cases.py), in linear time, capped in logs."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable

import pytest

from assistant import privacy
from assistant.privacy import LOG_TEXT_LIMIT, mask_for_log, mask_pii
from tests.support.pii_cases import NOT_PII, PII_CASES


@pytest.mark.parametrize(("written", "placeholder"), PII_CASES)
def test_every_format_is_masked(written: str, placeholder: str) -> None:
    masked = mask_pii(f"cliente {written}, parado.")
    assert masked == f"cliente {placeholder}, parado."


@pytest.mark.parametrize("text", NOT_PII)
def test_ordinary_numbers_are_kept(text: str) -> None:
    assert mask_pii(text) == text


# --- cost ------------------------------------------------------------------------------------

# One plain regex pass over a text: the linear unit masking is measured in, on the same text
# at the same moment, so the machine's speed and load cancel out.
_ONE_PASS = re.compile(r"(?<=\d)\w\W")


def masking_in_passes(text: str) -> float:
    """How many plain passes over ``text`` one masking of it costs (best of interleaved runs:
    noise only ever adds time)."""
    mask_best = pass_best = math.inf
    for _ in range(7):
        started = time.perf_counter()
        _ONE_PASS.sub("", text)
        pass_best = min(pass_best, time.perf_counter() - started)
        started = time.perf_counter()
        mask_pii(text)
        took = time.perf_counter() - started
        mask_best = min(mask_best, took)
        if took > 1.0:  # already hopeless: do not spend minutes proving it
            break
    return mask_best / pass_best


# Text a client controls, as the attack on the server used it: long runs of word characters,
# digits and separators, in a URL, a body field and a header.
ADVERSARIAL: dict[str, Callable[[int], str]] = {
    "url": lambda n: "/healthz?x=" + "a" * n,
    "body field": lambda n: '{"question": "' + "1" * n + '"}',
    "header": lambda n: "Bearer " + "a." * (n // 2),
    "digits and dots": lambda n: "1." * (n // 2),
    "spaced digits": lambda n: "1 " * (n // 2),
    "at signs": lambda n: "a@" * (n // 2),
    "phone prefixes": lambda n: "(11) " * (n // 5),
    "almost a cnpj": lambda n: "11 222 333 0001 8" * (n // 17),
}


@pytest.mark.parametrize("make", ADVERSARIAL.values(), ids=list(ADVERSARIAL))
def test_masking_cost_is_linear(make: Callable[[int], str]) -> None:
    # Linear masking costs a constant number of passes (4 patterns: about 5 to 35 under load);
    # the quadratic e-mail pattern cost ~1,500 passes at 20k characters and ~7,000 at 100k.
    for size in (20_000, 100_000):
        passes = masking_in_passes(make(size))
        assert passes < 200, f"{size} characters cost {passes:.0f} passes"


def test_log_masking_is_capped_whatever_the_input(monkeypatch: pytest.MonkeyPatch) -> None:
    masked_sizes: list[int] = []
    real = privacy.mask_pii

    def counting(text: str) -> str:
        masked_sizes.append(len(text))
        return real(text)

    monkeypatch.setattr(privacy, "mask_pii", counting)
    for size in (100_000, 1_000_000):
        line = mask_for_log("/healthz?x=" + "a" * size, url=True)
        assert len(line) < LOG_TEXT_LIMIT + 100
        assert f"truncado: {size + 11} caracteres" in line
    assert masked_sizes and max(masked_sizes) <= LOG_TEXT_LIMIT  # work in characters, not in input size


@pytest.mark.parametrize(("written", "placeholder"), PII_CASES)
def test_a_cut_never_leaves_a_fragment_of_personal_data(written: str, placeholder: str) -> None:
    # Cut at every position inside the data: no run of its digits (or its e-mail) survives.
    prefix = "x " * 40
    text = prefix + written + " fim" + "y" * 200
    for cut in range(len(prefix) + 1, len(prefix) + len(written)):
        line = mask_for_log(text, cut)
        kept = line.split(" …[truncado")[0]
        assert kept.startswith(prefix.rstrip()[: len(kept)])
        assert not any(c.isdigit() for c in kept), f"cut at {cut}: {line!r}"
        assert "@" not in kept


def test_short_text_is_masked_without_a_cut() -> None:
    assert mask_for_log("cpf 529 982 247 25") == "cpf [CPF]"
    assert mask_for_log("/v1/search?q=cpf+529+982+247+25+de+a%40b.com", url=True) == "/v1/search?q=cpf [CPF] de [EMAIL]"


def test_identifiers_with_long_digit_runs_are_not_personal_data() -> None:
    # A snapshot id's time part ("062905721-18") has a CPF's shape inside a word; masking it
    # broke the admin job summaries ("snapshot publicado: 20261128T[CPF]ab").
    for text in ("snapshot publicado: 20261128T062905721-18ab", "job 20261128T111222333-44cd ok"):
        assert mask_pii(text) == text
    assert mask_pii("cpf 529.982.247-25 e 20261128T062905721-18ab") == "cpf [CPF] e 20261128T062905721-18ab"
