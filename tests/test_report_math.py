"""TeX in markdown becomes MathML for the offline pages; code spans and prices stay as written."""

from workbench.report_math import tex_to_mathml


def test_inline_and_display_math_become_mathml():
    out = tex_to_mathml(r"loss $L = E + A/N^\alpha$ and $$\sum_i x_i$$ end")
    assert out.count("<math") == 2 and 'display="block"' in out and 'display="inline"' in out
    assert "$" not in out and "&#x003B1;" in out  # α


def test_code_spans_and_dollar_amounts_untouched():
    text = "run `echo $HOME $PATH` for $5 and $6"
    assert tex_to_mathml(text) == text
