"""Masks on real faces: the whole head is covered and nothing finer than a
quarter of a head survives, in every mode."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import shared_paths

from sanitize.config import Settings
from sanitize.detect.registry import get_detectors
from sanitize.geometry import cover_box
from sanitize.media import images
from sanitize.media.video import i420_planes
from sanitize.redact import MASKS, _oval_alpha, mask_boxes, mask_i420
from sanitize.types import Box

DATA = shared_paths.DATA


@pytest.mark.parametrize("kind", ["face", "plate", "text", "other"])
@pytest.mark.parametrize("shape", [(40, 40), (120, 60), (30, 90), (400, 500)])
def test_the_oval_core_covers_the_whole_detector_box(kind: str, shape: tuple[int, int]) -> None:
    w, h = shape
    box = Box(200.0, 300.0, 200.0 + w, 300.0 + h)
    cover = cover_box(kind, box, 4000, 4000)
    alpha = _oval_alpha(4000, 4000, (cover.x1, cover.y1, cover.x2, cover.y2), 5.0)
    inside = alpha[int(box.y1):int(box.y2), int(box.x1):int(box.x2)]
    assert inside.min() == 1.0


@pytest.fixture(scope="module")
def closeup() -> tuple[np.ndarray, list[Box]]:
    src = DATA / "faces" / "images" / "obama_biden_stage.jpg"
    rgb = images.decode(src, "jpeg", 10**9).rgb
    faces = get_detectors(Settings(flags=False)).faces.detect(rgb)
    assert len(faces) >= 2
    return rgb, [f.box for f in faces]


@pytest.mark.parametrize("mode", MASKS)
def test_fine_detail_does_not_reach_the_mask(mode: str, closeup) -> None:
    """Change the face's fine detail (eyes, mouth, skin texture: +-40 grey levels of
    noise): the mask must come out (almost) the same, so it cannot be carrying it."""
    rgb, faces = closeup
    h, w = rgb.shape[:2]
    covers = [cover_box("face", b, w, h) for b in faces]
    altered = rgb.copy()
    rng = np.random.default_rng(7)
    for b in faces:
        y1, y2, x1, x2 = int(b.y1), int(b.y2), int(b.x1), int(b.x2)
        noise = rng.integers(-40, 41, size=altered[y1:y2, x1:x2].shape)
        altered[y1:y2, x1:x2] = np.clip(altered[y1:y2, x1:x2] + noise, 0, 255)
    a = mask_boxes(rgb.copy(), covers, mode).astype(int)
    b = mask_boxes(altered, covers, mode).astype(int)
    for box in faces:
        y1, y2, x1, x2 = int(box.y1), int(box.y2), int(box.x1), int(box.x2)
        # The original face region differs by ~20 levels on average after the noise;
        # its mask by well under one.
        assert np.abs(a[y1:y2, x1:x2] - b[y1:y2, x1:x2]).mean() < 1.0


@pytest.mark.parametrize("mode", ["blur", "pixelate"])
def test_masked_head_keeps_no_edges(mode: str, closeup) -> None:
    rgb, faces = closeup
    h, w = rgb.shape[:2]
    out = mask_boxes(rgb.copy(), [cover_box("face", b, w, h) for b in faces], mode)
    for b in faces:
        y1, y2, x1, x2 = int(b.y1) + 2, int(b.y2) - 2, int(b.x1) + 2, int(b.x2) - 2
        grey_in = rgb[y1:y2, x1:x2].mean(axis=2)
        grey_out = out[y1:y2, x1:x2].mean(axis=2)
        # Gradient energy: blocks keep a few cell edges, the blur none.
        def energy(g: np.ndarray) -> float:
            return float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())
        assert energy(grey_out) < 0.1 * energy(grey_in)


def test_a_head_cut_by_the_border_is_covered_to_the_border() -> None:
    """A face at the top edge: the grown box is clipped there; the clipped side
    stays square, so the head is covered right up to the border (a squashed oval
    relied on its feather there: alpha 0.96-0.997 at the corners)."""
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, size=(200, 300, 3), dtype=np.uint8)  # all detail
    face = Box(100.0, 0.0, 140.0, 40.0)  # the detector box stops at the border
    cover = cover_box("face", face, 300, 200)
    assert cover.y1 == 0
    out = mask_boxes(img.copy(), [cover], "blur").astype(int)
    region = out[0:int(face.y2), int(face.x1):int(face.x2)]
    # Noise has neighbour differences of ~85 grey levels; a masked head almost none.
    assert np.abs(np.diff(region, axis=1)).max() <= 6


def test_masks_are_deterministic_and_work_on_one_plane(closeup) -> None:
    rgb, faces = closeup
    h, w = rgb.shape[:2]
    covers = [cover_box("face", b, w, h) for b in faces]
    assert np.array_equal(mask_boxes(rgb.copy(), covers), mask_boxes(rgb.copy(), covers))
    grey = np.ascontiguousarray(rgb[:, :, 0])
    out = mask_boxes(grey.copy(), covers)  # video masks Y, U and V planes one by one
    assert out.shape == grey.shape and not np.array_equal(out, grey)


@pytest.mark.parametrize("mode", ["blur", "pixelate"])
def test_video_masks_keep_a_natural_colour(mode: str, closeup) -> None:
    """Video masks Y, U and V one by one; U and V share the boxes and so the seeds:
    noise on both moved them together and tinted masks pink and green."""
    rgb, faces = closeup
    h, w = (rgb.shape[0] // 2) * 2, (rgb.shape[1] // 2) * 2
    i420 = cv2.cvtColor(np.ascontiguousarray(rgb[:h, :w]), cv2.COLOR_RGB2YUV_I420)
    covers = [cover_box("face", b, w, h) for b in faces]
    mask_i420(i420, covers, mode)
    u = i420[h:h + h // 4].reshape(h // 2, w // 2).astype(float)
    v = i420[h + h // 4:].reshape(h // 2, w // 2).astype(float)
    for b in faces:
        core = (slice(int(b.y1) // 2 + 2, int(b.y2) // 2 - 2),
                slice(int(b.x1) // 2 + 2, int(b.x2) // 2 - 2))
        # Measured: U and V inside masks correlated 0.81-0.98 with shared noise
        # (the tint), -0.8 to 0.01 without.
        assert np.corrcoef(u[core].ravel(), v[core].ravel())[0, 1] < 0.5


def _i420(rgb: np.ndarray) -> tuple[np.ndarray, int, int]:
    h, w = (rgb.shape[0] // 2) * 2, (rgb.shape[1] // 2) * 2
    return cv2.cvtColor(np.ascontiguousarray(rgb[:h, :w]), cv2.COLOR_RGB2YUV_I420), w, h


@pytest.mark.parametrize("mode", MASKS)
def test_video_masks_carry_no_fine_detail(mode: str, closeup) -> None:
    """The video path (mask_i420: cheaper fill, cached alpha, cell means from a
    shrunk plane) is held to the pictures' bar: +-40 levels of noise on the faces
    in all three planes must leave the masks (almost) unchanged."""
    rgb, faces = closeup
    i420, w, h = _i420(rgb)
    covers = [cover_box("face", b, w, h) for b in faces]
    altered = i420.copy()
    rng = np.random.default_rng(7)
    for b in faces:
        for plane, s in zip(i420_planes(altered, w, h), (1, 2, 2), strict=True):
            part = plane[int(b.y1) // s:int(b.y2) // s, int(b.x1) // s:int(b.x2) // s]
            part[:] = np.clip(part + rng.integers(-40, 41, size=part.shape), 0, 255)
    a, b_ = i420.copy(), altered.copy()
    mask_i420(a, covers, mode)
    mask_i420(b_, covers, mode)
    for box in faces:
        for pa, pb, s in zip(i420_planes(a, w, h), i420_planes(b_, w, h), (1, 2, 2),
                             strict=True):
            core = (slice(int(box.y1) // s, int(box.y2) // s),
                    slice(int(box.x1) // s, int(box.x2) // s))
            assert np.abs(pa[core].astype(int) - pb[core].astype(int)).mean() < 1.0


def test_video_blur_keeps_no_edges_and_is_deterministic(closeup) -> None:
    rgb, faces = closeup
    i420, w, h = _i420(rgb)
    covers = [cover_box("face", b, w, h) for b in faces]
    out = i420.copy()
    mask_i420(out, covers, "blur")
    again = i420.copy()
    mask_i420(again, covers, "blur")
    assert np.array_equal(out, again)
    for b in faces:
        y1, y2, x1, x2 = int(b.y1) + 2, int(b.y2) - 2, int(b.x1) + 2, int(b.x2) - 2

        def energy(g: np.ndarray) -> float:
            g = g.astype(float)
            return float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())
        assert energy(out[y1:y2, x1:x2]) < 0.1 * energy(i420[y1:y2, x1:x2])


def test_video_blur_core_is_the_fill_alone() -> None:
    """Every pixel of the detector's box is replaced entirely (alpha 1 there): a
    face of pure noise and the same face of flat grey give masks that differ by
    no more than their cell means can carry."""
    rng = np.random.default_rng(5)
    h, w = 360, 640
    noisy = rng.integers(0, 256, size=(h * 3 // 2, w), dtype=np.uint8)
    flat = noisy.copy()
    face = Box(300.0, 100.0, 340.0, 150.0)
    cover = cover_box("face", face, w, h)
    flat[int(face.y1):int(face.y2), int(face.x1):int(face.x2)] = 128
    a, b = noisy.copy(), flat.copy()
    mask_i420(a, [cover], "blur")
    mask_i420(b, [cover], "blur")
    ya = a[int(face.y1):int(face.y2), int(face.x1):int(face.x2)].astype(int)
    yb = b[int(face.y1):int(face.y2), int(face.x1):int(face.x2)].astype(int)
    # No pixel-level trace of the noise: neighbours differ by a level or two.
    assert np.abs(np.diff(ya, axis=1)).max() <= 3
    assert np.abs(ya - yb).max() <= 12


def test_core_share_counts_only_replaced_pixels() -> None:
    """core_share (the re-check's "this detection is a mask" test) sees the pixels
    a mask replaced entirely: a blur oval's core, a rectangle; masks far from the
    box, however many, change nothing."""
    from sanitize.redact import core_share

    w, h = 800, 600
    big = Box(100, 100, 500, 500)  # oval core: a circle of radius 200 round (300, 300)
    inside = Box(250, 250, 350, 350)
    far = [Box(x, 520, x + 40, 580) for x in range(0, 800, 50)]
    assert core_share(inside, [big], "blur", w, h) == 1.0
    assert core_share(inside, [big, *far], "blur", w, h) == 1.0
    corner = Box(100, 100, 160, 160)  # the box's corner lies outside the inscribed oval
    assert core_share(corner, [big], "blur", w, h) < 0.5
    assert core_share(corner, [big], "pixelate", w, h) == 1.0
    half = Box(450, 250, 550, 350)  # straddles the oval's right edge
    share = core_share(half, [big, *far], "blur", w, h)
    assert 0.4 < share <= 0.5
    assert core_share(Box(600, 100, 700, 200), [big, *far], "blur", w, h) == 0.0


def test_a_still_mask_is_the_same_pixels_on_the_next_frame(closeup) -> None:
    """Video: a box that did not move between frames keeps the fill it had (one
    frame's memo), so the mask's core is the same pixels although the face under
    it changed (a face turning, talking): nothing frame-to-frame for a viewer to
    average, and nothing for x264 to encode again.  A box that moved gets a fill
    made from the frame it is on; without a memo every frame is made afresh."""
    from sanitize.redact import FillMemo

    rgb, faces = closeup
    i420, w, h = _i420(rgb)
    covers = [cover_box("face", b, w, h) for b in faces]
    nxt = i420.copy()  # the next frame: the faces' pixels changed (darker, noisier)
    rng = np.random.default_rng(3)
    for c in covers:  # the whole head and its margin
        part = nxt[int(c.y1):int(c.y2), int(c.x1):int(c.x2)]
        part[:] = np.clip(part.astype(int) - 60 + rng.integers(-20, 21, size=part.shape), 0, 255)

    def core(a: np.ndarray, b: Box) -> np.ndarray:
        return a[int(b.y1):int(b.y2), int(b.x1):int(b.x2)].astype(int)

    memo = FillMemo()
    first, second = i420.copy(), nxt.copy()
    mask_i420(first, covers, "blur", memo)
    mask_i420(second, covers, "blur", memo)
    fresh = nxt.copy()
    mask_i420(fresh, covers, "blur")
    for b in faces:
        assert np.array_equal(core(first, b), core(second, b))
        # Without the memo the darker face shows through as a darker mask.
        assert core(fresh, b).mean() < core(second, b).mean() - 10
        # With the memo, the first frame's masks are exactly today's.
        plain = i420.copy()
        mask_i420(plain, covers, "blur")
        assert np.array_equal(core(plain, b), core(first, b))

    # Moved by more than the snapping grid (a sixth of the box), so it lands elsewhere.
    moved = [Box(c.x1 + 150, c.y1, c.x2 + 150, c.y2) for c in covers]
    third = nxt.copy()
    mask_i420(third, moved, "blur", memo)
    again = nxt.copy()
    mask_i420(again, moved, "blur")
    assert np.array_equal(third, again)  # new geometry: made from this frame
