"""Service-definition ARN templates: the linear matcher agrees with the regular expression
the engine used before, on templates and values small enough for that to be safe."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from iamd_policy.templates import compile_template

SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def previous_regex(template: str) -> re.Pattern[str]:
    """services.py's translation before (reference only: exponential on long values)."""
    parts = template.split(":", 5)

    def convert(text: str, head: bool) -> str:
        out: list[str] = []
        pos = 0
        matches = list(_VAR.finditer(text))
        for i, match in enumerate(matches):
            out.append(
                re.escape(text[pos : match.start()]).replace(r"\*", "[^:]*" if head else ".*")
            )
            last = i == len(matches) - 1 and match.end() == len(text)
            if head:
                out.append("[^:]*")
            elif last and text[: match.start()].endswith("/"):
                out.append(".+")
            else:
                out.append("[^/]+")
            pos = match.end()
        out.append(re.escape(text[pos:]).replace(r"\*", "[^:]*" if head else ".*"))
        return "".join(out)

    source = ":".join(convert(p, True) for p in parts[:5]) + ":" + convert(parts[5], False)
    return re.compile(source, re.DOTALL)


pieces = st.lists(st.sampled_from(["a", "b", "/", "-", "?", "*", "${X}", "${Y}"]), max_size=6)
heads = st.lists(st.sampled_from(["a", "", "*", "${P}", "a*", "?"]), min_size=4, max_size=4)
values = st.text(alphabet="ab/-?:", max_size=14)


@SETTINGS
@given(heads, pieces, values)
@example(["a", "", "", ""], ["${X}", "-", "${Y}"], "a:::::a-b-c")
@example(["a", "", "", ""], ["a", "/", "${X}"], "a:::::a/b/c")
@example(["a", "", "", ""], ["*", "/", "${X}"], "a:::::a/b/c")
@example(["a", "", "", ""], ["${X}", "*", "${Y}"], "a:::::a/b")
def test_template_matcher_agrees_with_the_previous_regex(
    head: list[str], resource: list[str], value: str
) -> None:
    template = "arn:" + ":".join(head) + ":" + "".join(resource)
    arn = "arn:" + value
    matcher = compile_template(template)
    assert matcher is not None
    expected = previous_regex(template).fullmatch(arn) is not None
    assert matcher(arn) is expected, (template, arn)


def test_ambiguous_templates_answer_long_values() -> None:
    """`${A}-${B}-${C}` made the regex cubic in the value's length."""
    matcher = compile_template("arn:${Partition}:svc:${Region}:${Account}:thing/${A}-${B}-${C}")
    assert matcher is not None
    value = "arn:aws:svc:us-east-1:111122223333:thing/" + "a" * 2000
    assert not matcher(value)
    assert matcher(value + "-b-c")
    star = compile_template("arn:aws:svc:*:*:a/*${X}-*${Y}-*${Z}")
    assert star is not None
    assert not star("arn:aws:svc:r:1:a/" + "a" * 2000)
    assert star("arn:aws:svc:r:1:a/" + "-" * 50 + "x-y-z")


def test_malformed_templates() -> None:
    assert compile_template("nope") is None
    assert compile_template("arn:aws:s3") is None
