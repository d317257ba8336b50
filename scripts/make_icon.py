"""Draws the integration's brand icon (run once; the PNGs are committed)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "custom_components/phoenyra_ems/brand"


def draw(size: int) -> Image.Image:
    """Draw a battery in Phoenyra orange with a lightning bolt, on a transparent background."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    s = size / 256
    orange, dark = (245, 124, 0, 255), (191, 54, 12, 255)
    pen.rounded_rectangle(
        (40 * s, 64 * s, 204 * s, 192 * s), radius=18 * s, fill=orange
    )
    pen.rounded_rectangle(
        (204 * s, 104 * s, 224 * s, 152 * s), radius=6 * s, fill=orange
    )
    bolt = [
        (134, 76),
        (88, 134),
        (122, 134),
        (108, 180),
        (158, 118),
        (124, 118),
        (140, 76),
    ]
    pen.polygon([(x * s, y * s) for x, y in bolt], fill=dark)
    return image


def main() -> None:
    """Write icon.png and icon@2x.png."""
    OUT.mkdir(parents=True, exist_ok=True)
    draw(256).save(OUT / "icon.png", optimize=True)
    draw(512).save(OUT / "icon@2x.png", optimize=True)


if __name__ == "__main__":
    main()
