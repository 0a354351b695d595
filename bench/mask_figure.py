"""Draw docs/masks.jpg: the same crowd crop under each mask mode, side by side.

    python bench/mask_figure.py [samples/graduation_group.jpg]
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from sanitize.config import Settings
from sanitize.detect.registry import get_detectors
from sanitize.media import images
from sanitize.redact import MASKS, cover_box, mask_boxes

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "samples" / "graduation_group.jpg"
    rgb = images.decode(src, "jpeg", 10**9).rgb
    h, w = rgb.shape[:2]
    faces = get_detectors(Settings(flags=False)).faces.detect(rgb)
    covers = [cover_box("face", f.box, w, h) for f in faces]
    # The densest third of the picture, where heads touch.
    ys = sorted(int(f.box.cy) for f in faces)
    cy = ys[len(ys) // 2]
    y1 = max(0, min(h - h // 3, cy - h // 6))
    x1 = w // 4
    tiles = []
    for mode in MASKS:
        out = mask_boxes(rgb.copy(), covers, mode)[y1:y1 + h // 3, x1:x1 + w // 2]
        out = cv2.resize(out, (600, round(600 * out.shape[0] / out.shape[1])),
                         interpolation=cv2.INTER_AREA)
        cv2.putText(out, mode, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2)
        tiles.append(out)
    strip = np.concatenate(tiles, axis=1)
    dst = ROOT / "docs" / "masks.jpg"
    cv2.imwrite(str(dst), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(dst, strip.shape)


if __name__ == "__main__":
    main()
