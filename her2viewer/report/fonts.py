"""Report fonts: DejaVu Sans (wide Unicode coverage, embedded) when the system has it, else Helvetica."""

from __future__ import annotations

import logging
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

log = logging.getLogger(__name__)

_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"),
         Path("/usr/share/fonts/TTF"), Path("/Library/Fonts"), Path("C:/Windows/Fonts"))


def _register() -> tuple[str, str, str]:
    """Register DejaVu Sans / Bold / Mono when found; returns (regular, bold, mono) font names."""
    wanted = {"HV-Sans": "DejaVuSans.ttf", "HV-Sans-Bold": "DejaVuSans-Bold.ttf",
              "HV-Mono": "DejaVuSansMono.ttf"}
    for d in _DIRS:
        paths = {name: d / f for name, f in wanted.items()}
        if all(p.is_file() for p in paths.values()):
            try:
                for name, p in paths.items():
                    pdfmetrics.registerFont(TTFont(name, str(p)))
                pdfmetrics.registerFontFamily("HV-Sans", normal="HV-Sans", bold="HV-Sans-Bold",
                                              italic="HV-Sans", boldItalic="HV-Sans-Bold")
                return "HV-Sans", "HV-Sans-Bold", "HV-Mono"
            except (TTFError, OSError) as e:
                log.warning("cannot use the fonts in %s (%s); using Helvetica", d, e)
    return "Helvetica", "Helvetica-Bold", "Courier"


FONT, FONT_BOLD, FONT_MONO = _register()
