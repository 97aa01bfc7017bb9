"""TeX math in markdown cells → MathML, so offline report pages show formulas without MathJax.

The offline template drops MathJax (it loads from a CDN); Chromium and Firefox render MathML
natively. JupyterLab keeps rendering the notebooks' TeX itself: only the exported copy is changed.
"""

from __future__ import annotations

import re

from latex2mathml.converter import convert

_CODE = re.compile(r"(`+)(.+?)\1", re.S)  # inline code spans: left alone
_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
_INLINE = re.compile(r"(?<![\\$])\$(?!\s)([^$\n]+?)(?<!\s)\$(?!\d)")


def _to_mathml(tex: str, display: str) -> str:
    try:
        return convert(tex.strip(), display=display)
    except Exception:  # noqa: BLE001 (leave TeX the converter cannot parse as it was)
        return None


def tex_to_mathml(text: str) -> str:
    """Replace ``$$…$$`` and ``$…$`` outside code spans by MathML elements."""
    out, last = [], 0
    for m in _CODE.finditer(text):
        out.append(_convert_segment(text[last:m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(_convert_segment(text[last:]))
    return "".join(out)


def _convert_segment(seg: str) -> str:
    seg = _DISPLAY.sub(lambda m: _to_mathml(m.group(1), "block") or m.group(0), seg)
    return _INLINE.sub(lambda m: _to_mathml(m.group(1), "inline") or m.group(0), seg)


def markdown_math_to_mathml(nb) -> None:
    """In place: every markdown cell's TeX becomes MathML."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "$" in cell.source:
            cell.source = tex_to_mathml(cell.source)
