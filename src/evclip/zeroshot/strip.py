"""A PNG strip of a timeline: one event image per window with its time and label drawn below.

A long recording has far more windows than a readable strip, so :class:`LabelStrip` keeps an
evenly spaced subset while the rows stream past, with bounded memory: it keeps every
``step``-th window and doubles ``step`` whenever it holds more than twice the tiles it will draw.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from evclip.zeroshot.timeline import TimelineRow

#: Height of the caption band under each tile, pixels (two lines of Pillow's default font).
CAPTION_HEIGHT = 30
#: Pixels between two tiles.
GAP = 2


class LabelStrip:
    """Collects timeline rows and draws them as one image.

    Args:
        max_tiles: the most windows drawn; more windows are thinned evenly.
        tile_height: height of each event image in the strip, pixels.
    """

    def __init__(self, max_tiles: int = 24, tile_height: int = 96) -> None:
        if max_tiles < 1 or tile_height < 8:
            raise ValueError(
                f"a strip needs max_tiles >= 1 and tile_height >= 8, got {max_tiles} and "
                f"{tile_height}"
            )
        self.max_tiles = max_tiles
        self.tile_height = tile_height
        self.step = 1
        self.origin_us: int | None = None
        self._tiles: list[tuple[int, Image.Image, str, str]] = []

    def add(self, row: TimelineRow) -> None:
        """Offer one row; kept when it falls on the current step."""
        if self.origin_us is None:
            self.origin_us = row.start_us
        if row.window % self.step:
            return
        start_s = (row.start_us - self.origin_us) / 1e6
        end_s = (row.end_us - self.origin_us) / 1e6
        times = f"{start_s:.3f}-{end_s:.3f} s"
        label = "no events" if row.label is None else f"{row.label} {row.probability:.2f}"
        self._tiles.append((row.window, self._thumbnail(row.image), times, label))
        if len(self._tiles) > 2 * self.max_tiles:
            self.step *= 2
            self._tiles = [tile for tile in self._tiles if tile[0] % self.step == 0]

    def _thumbnail(self, image: np.ndarray) -> Image.Image:
        height, width = image.shape[:2]
        tile_width = max(1, round(width * self.tile_height / height))
        # nearest keeps single events crisp when enlarging a small sensor; box averages when
        # shrinking a large one
        resample = Image.NEAREST if self.tile_height >= height else Image.BOX
        picture = Image.fromarray(np.ascontiguousarray(image))
        return picture.resize((tile_width, self.tile_height), resample)

    def chosen(self) -> list[int]:
        """The window numbers that :meth:`render` draws, in order."""
        kept = [tile[0] for tile in self._tiles]
        if len(kept) <= self.max_tiles:
            return kept
        pick = np.round(np.linspace(0, len(kept) - 1, self.max_tiles)).astype(int)
        return [kept[i] for i in pick]

    def render(self) -> Image.Image:
        """The strip: tiles left to right in time, each with its times and label under it."""
        if not self._tiles:
            raise ValueError("the strip has no windows to draw")
        chosen = set(self.chosen())
        tiles = [tile for tile in self._tiles if tile[0] in chosen]
        tile_width = tiles[0][1].width
        width = len(tiles) * tile_width + (len(tiles) - 1) * GAP
        strip = Image.new("RGB", (width, self.tile_height + CAPTION_HEIGHT), (64, 64, 64))
        draw = ImageDraw.Draw(strip)
        font = ImageFont.load_default()
        for i, (_, picture, times, label) in enumerate(tiles):
            left = i * (tile_width + GAP)
            strip.paste(picture, (left, 0))
            box = (left, self.tile_height, left + tile_width - 1, strip.height - 1)
            draw.rectangle(box, fill=(255, 255, 255))
            for line, text in enumerate((times, label)):
                fitted = _fit(draw, text, font, tile_width - 4)
                draw.text((left + 2, self.tile_height + 2 + 13 * line), fitted, (0, 0, 0), font)
        return strip

    def save(self, path: str | os.PathLike[str]) -> tuple[int, int]:
        """Write the strip as a PNG (atomically); returns its (width, height)."""
        path = Path(path)
        if path.suffix.lower() != ".png":
            raise ValueError(f"{path}: the strip must be a .png file")
        image = self.render()
        tmp = path.with_name(path.name + ".part")
        try:
            image.save(tmp, format="PNG")
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return image.size


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, width: int) -> str:
    """``text`` shortened with an ellipsis until it is at most ``width`` pixels wide."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..." if text else ""
