"""Template Lookup rules: rendering a template from params, and placeholder-aware matching of
plain text against an enterprise's approved templates."""

from __future__ import annotations

import pytest
from routing_svc.domain.templates import Template, TemplateIndex, TemplateProblem

OTP = "Your OTP is {#otp#}. Valid for {#minutes#} minutes."


def tpl(text: str, id_: str = "tpl_1") -> Template:
    """A compiled SMS template of enterprise ent_1."""
    return Template.compile(id_, "ent_1", "sms", text)


def test_render_by_name() -> None:
    """A dict naming every placeholder renders the text."""
    text = tpl(OTP).render({"otp": "4821", "minutes": "5"})
    assert text == "Your OTP is 4821. Valid for 5 minutes."


def test_render_repeated_name_takes_one_value() -> None:
    """A placeholder named twice takes the same value at both places."""
    assert tpl("{#n#} and {#n#}").render({"n": "x"}) == "x and x"


def test_render_by_position_for_dlt_style_vars() -> None:
    """A list fills DLT-style `{#var#}` placeholders in order."""
    text = tpl("Dear {#var#}, your order {#var#} shipped.").render(["Asha", "A-77"])
    assert text == "Dear Asha, your order A-77 shipped."


@pytest.mark.parametrize(
    "params",
    [{"otp": "1"}, {"otp": "1", "minutes": "5", "extra": "x"}, {"otp": "", "minutes": "5"}, ["1"]],
)
def test_render_refuses_params_that_do_not_fit(params: object) -> None:
    """Missing, unknown, empty or miscounted params are refused on content.template.params."""
    with pytest.raises(TemplateProblem) as caught:
        tpl(OTP).render(params)  # type: ignore[arg-type]
    assert caught.value.loc == ["content", "template", "params"]


def test_match_is_placeholder_aware() -> None:
    """Each placeholder matches a non-empty run of text; the fixed text must be exact."""
    template = tpl(OTP)
    assert template.matches("Your OTP is 4821. Valid for 5 minutes.")
    assert template.matches("Your OTP is a b c. Valid for ten minutes.")
    assert not template.matches("Your OTP is . Valid for 5 minutes.")
    assert not template.matches("Your OTP is 4821. Valid for 5 minutes!")
    assert not template.matches("your OTP is 4821. Valid for 5 minutes.")


def test_regex_characters_in_templates_are_literal() -> None:
    """Regex metacharacters in a template's text match only themselves."""
    template = tpl("Pay $5.00 (now) to {#who#}?")
    assert template.matches("Pay $5.00 (now) to Ravi?")
    assert not template.matches("Pay $5x00 (now) to Ravi?")


def test_index_finds_the_most_specific_template() -> None:
    """Among templates a text fits, the index answers the one with the most fixed text."""
    loose = tpl("Hello {#x#}", "tpl_loose")
    tight = tpl("Hello {#x#}, your code is {#code#}", "tpl_tight")
    index = TemplateIndex.of([loose, tight])
    found = index.match("Hello Asha, your code is 12")
    assert found is not None
    assert found.id == "tpl_tight"
    found = index.match("Hello Asha")
    assert found is not None
    assert found.id == "tpl_loose"
    assert index.match("Goodbye Asha") is None


def test_index_handles_templates_without_fixed_start_or_end() -> None:
    """Templates that start or end with a placeholder, or have none, are matched too."""
    index = TemplateIndex.of(
        [tpl("{#a#} is your code", "tpl_a"), tpl("Code: {#a#}", "tpl_b"), tpl("Static", "tpl_c")]
    )
    assert [index.match(t).id for t in ("4821 is your code", "Code: 9", "Static")] == [  # type: ignore[union-attr]
        "tpl_a",
        "tpl_b",
        "tpl_c",
    ]
    assert index.match("Static!") is None


def test_index_of_a_thousand_templates_matches_each() -> None:
    """With 1,000 templates every rendering finds its own template."""
    templates = [tpl(f"Order {n} for {{#name#}} is {{#state#}}.", f"tpl_{n}") for n in range(1000)]
    index = TemplateIndex.of(templates)
    for n in (0, 1, 10, 999):
        found = index.match(f"Order {n} for Asha is shipped.")
        assert found is not None
        assert found.id == f"tpl_{n}"
    assert index.match("Order 1000 for Asha is shipped.") is None
