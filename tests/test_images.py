"""Tests for course_lib.images: every kind of file a real folder holds, generated with Pillow."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from course_lib.images import ImageLoadError, image_size, load_image

RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)


def pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img).astype(int)


def assert_colour(img: Image.Image, xy: tuple[int, int], expected: tuple[int, int, int], tol: int = 12):
    got = img.getpixel(xy)
    assert max(abs(g - e) for g, e in zip(got, expected)) <= tol, f"pixel {xy} is {got}, expected {expected}"


def quadrant_image(width: int, height: int) -> Image.Image:
    """Top-left red, top-right green, bottom-left blue, bottom-right white: orientation is visible."""
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    hw, hh = width // 2, height // 2
    draw.rectangle((0, 0, hw - 1, hh - 1), fill=RED)
    draw.rectangle((hw, 0, width - 1, hh - 1), fill=GREEN)
    draw.rectangle((0, hh, hw - 1, height - 1), fill=BLUE)
    draw.rectangle((hw, hh, width - 1, height - 1), fill=WHITE)
    return img


def save_with_orientation(img: Image.Image, path: Path, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.save(path, quality=95, exif=exif)


# --- pixel modes -------------------------------------------------------------------------

def test_grayscale_png_becomes_rgb_with_equal_channels(tmp_path):
    gray = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (8, 1))
    Image.fromarray(gray, mode="L").save(tmp_path / "g.png")
    out = load_image(tmp_path / "g.png")
    assert out.mode == "RGB" and out.size == (64, 8)
    arr = pixels(out)
    assert (arr[..., 0] == gray).all() and (arr[..., 1] == gray).all() and (arr[..., 2] == gray).all()


def test_palette_png_with_transparency_is_composited_over_white(tmp_path):
    pal = Image.new("P", (10, 10), 0)
    pal.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    pal.putpixel((3, 4), 1)
    pal.save(tmp_path / "p.png", transparency=0)  # index 0 (black) is transparent
    out = load_image(tmp_path / "p.png")
    assert out.mode == "RGB"
    assert_colour(out, (3, 4), BLUE, tol=0)
    assert_colour(out, (0, 0), WHITE, tol=0)


def test_rgba_png_is_alpha_blended_over_white(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    rgba.putpixel((1, 1), (255, 0, 0, 255))
    rgba.putpixel((2, 2), (0, 0, 0, 128))
    rgba.save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    assert_colour(out, (0, 0), WHITE, tol=0)        # fully transparent: white background
    assert_colour(out, (1, 1), RED, tol=0)          # opaque: unchanged
    assert_colour(out, (2, 2), (127, 127, 127), tol=1)  # half transparent black over white


def test_grayscale_with_alpha_and_one_bit_images(tmp_path):
    Image.new("LA", (3, 3), (0, 255)).save(tmp_path / "la.png")
    Image.new("1", (3, 3), 1).save(tmp_path / "one.png")
    assert_colour(load_image(tmp_path / "la.png"), (1, 1), BLACK, tol=0)
    assert_colour(load_image(tmp_path / "one.png"), (1, 1), WHITE, tol=0)


def test_pgm_8_bit_and_ppm(tmp_path):
    gray = np.arange(100, dtype=np.uint8).reshape(10, 10)
    Image.fromarray(gray, mode="L").save(tmp_path / "g.pgm")
    colour = np.zeros((6, 8, 3), dtype=np.uint8)
    colour[..., 0], colour[..., 1], colour[..., 2] = 10, 120, 250
    Image.fromarray(colour).save(tmp_path / "c.ppm")
    assert (pixels(load_image(tmp_path / "g.pgm"))[..., 1] == gray).all()
    out = load_image(tmp_path / "c.ppm")
    assert out.size == (8, 6) and (pixels(out) == colour).all()


def test_pgm_16_bit_is_scaled_to_8_bit_not_clipped(tmp_path):
    samples = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)  # 0, 1, 128, 255 in 8 bit
    Image.fromarray(samples).save(tmp_path / "deep.pgm")
    assert Image.open(tmp_path / "deep.pgm").mode == "I"  # what Pillow hands us for 16-bit PGM
    out = pixels(load_image(tmp_path / "deep.pgm"))
    assert out[0, :, 0].tolist() == [0, 1, 128, 255]


def test_png_16_bit_grayscale(tmp_path):
    ramp = (np.arange(16, dtype=np.uint16) * 4369).reshape(1, 16)  # 0 .. 65535
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    out = pixels(load_image(tmp_path / "deep.png"))
    assert out[0, :, 0].tolist() == [round(v / 257) for v in ramp[0]]


def test_cmyk_jpeg_keeps_its_colours(tmp_path):
    # Pillow writes CMYK JPEGs with the Adobe marker and inverted ink values, as Photoshop
    # does; a loader that ignores the inversion returns the complementary colour.
    Image.new("RGB", (32, 32), (200, 30, 40)).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    raw = Image.open(tmp_path / "cmyk.jpg")
    assert raw.mode == "CMYK" and "adobe" in raw.info
    assert_colour(load_image(tmp_path / "cmyk.jpg"), (16, 16), (200, 30, 40), tol=6)


# --- EXIF orientation ------------------------------------------------------------------------

@pytest.mark.parametrize("orientation, corners", [
    # Orientation 6: the camera was turned clockwise; display = stored rotated 90 degrees clockwise.
    (6, {"top_left": BLUE, "top_right": RED, "bottom_left": WHITE, "bottom_right": GREEN}),
    # Orientation 8: display = stored rotated 90 degrees counter-clockwise.
    (8, {"top_left": GREEN, "top_right": WHITE, "bottom_left": RED, "bottom_right": BLUE}),
])
def test_exif_orientation_is_applied(tmp_path, orientation, corners):
    path = tmp_path / f"o{orientation}.jpg"
    save_with_orientation(quadrant_image(80, 40), path, orientation)
    assert image_size(path) == (40, 80)
    out = load_image(path)
    assert out.size == (40, 80)
    where = {"top_left": (5, 5), "top_right": (34, 5), "bottom_left": (5, 74), "bottom_right": (34, 74)}
    for corner, colour in corners.items():
        assert_colour(out, where[corner], colour)


def test_bbox_is_in_oriented_coordinates(tmp_path):
    path = tmp_path / "o6.jpg"
    save_with_orientation(quadrant_image(80, 40), path, 6)
    # Displayed 40x80 image: the top-right quarter is red (see the orientation test).
    out = load_image(path, bbox=(22, 2, 38, 38))
    assert out.size == (16, 36)
    arr = pixels(out)
    assert np.abs(arr - np.array(RED)).max() <= 20


# --- crops and resizing ----------------------------------------------------------------------

def test_bbox_crop_is_pixel_exact(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, size=(60, 90, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "noise.png")
    out = load_image(tmp_path / "noise.png", bbox=(10, 20, 50, 45))
    assert (np.asarray(out) == arr[20:45, 10:50]).all()


def test_bbox_then_max_side_downscales_only(tmp_path):
    Image.new("RGB", (400, 300), GREEN).save(tmp_path / "g.png")
    assert load_image(tmp_path / "g.png", max_side=100).size == (100, 75)
    assert load_image(tmp_path / "g.png", max_side=1000).size == (400, 300)   # never enlarged
    assert load_image(tmp_path / "g.png", max_side=50, bbox=(0, 0, 200, 100)).size == (50, 25)
    assert load_image(tmp_path / "g.png", max_side=500, bbox=(0, 0, 200, 100)).size == (200, 100)


def test_bbox_outside_image_is_clipped_or_rejected(tmp_path):
    Image.new("RGB", (50, 40), GREEN).save(tmp_path / "g.png")
    assert load_image(tmp_path / "g.png", bbox=(-5, -5, 20, 100)).size == (20, 40)
    with pytest.raises(ImageLoadError, match="g.png"):
        load_image(tmp_path / "g.png", bbox=(60, 0, 80, 10))
    with pytest.raises(ImageLoadError, match="four numbers"):
        load_image(tmp_path / "g.png", bbox=(1, 2, 3))


@pytest.fixture(scope="module")
def photo_20mp(tmp_path_factory) -> Path:
    """A 5472x3648 (20 megapixel) JPEG with a red square whose position we know."""
    img = Image.new("RGB", (5472, 3648), (90, 140, 200))
    draw = ImageDraw.Draw(img)
    draw.rectangle((2000, 1000, 2999, 1999), fill=RED)
    path = tmp_path_factory.mktemp("big") / "big.jpg"
    img.save(path, quality=90)
    return path


def test_20_megapixel_jpeg_is_reduced_to_max_side(photo_20mp):
    out = load_image(photo_20mp, max_side=640)
    assert out.size == (640, 427)
    assert_colour(out, (round(2500 * 640 / 5472), round(1500 * 640 / 5472)), RED)
    assert_colour(out, (20, 20), (90, 140, 200))


def test_20_megapixel_bbox_is_scaled_with_the_draft_reduction(photo_20mp):
    # Box in full-resolution pixels around the red square, with a blue margin of 500 px.
    out = load_image(photo_20mp, max_side=200, bbox=(1500, 500, 3500, 2500))
    assert out.size == (200, 200)
    assert_colour(out, (100, 100), RED)   # the square fills the middle half
    assert_colour(out, (10, 10), (90, 140, 200))
    assert_colour(out, (60, 60), RED)
    assert_colour(out, (45, 100), (90, 140, 200))


def test_reduced_size_does_not_depend_on_the_decoder_reduction(tmp_path):
    # 2001x1333 decodes at 1/2 scale to 1001x667; the result must still be the size
    # computed from the original dimensions (640 x round(1333 * 640 / 2001) = 426).
    Image.new("RGB", (2001, 1333), GREEN).save(tmp_path / "odd.jpg")
    assert load_image(tmp_path / "odd.jpg", max_side=640).size == (640, 426)
    # A 2000x1333 box: 1333 * 640 / 2000 = 426.56, so 427 rows.
    assert load_image(tmp_path / "odd.jpg", max_side=640, bbox=(1, 0, 2001, 1333)).size == (640, 427)


PEAK_MEMORY_SCRIPT = textwrap.dedent("""
    import sys
    from PIL import Image
    from course_lib.images import load_image

    def high_water_kib():  # peak resident memory of this process (VmHWM), Linux only
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

    before = high_water_kib()
    if sys.argv[2] == "load_image":
        img = load_image(sys.argv[1], max_side=640)
    else:
        img = Image.open(sys.argv[1]); img.load(); img = img.resize((640, 427))
    print(high_water_kib() - before)
""")


def peak_memory_kib(path: Path, how: str) -> int:
    """Growth of peak memory while one fresh Python process loads `path` (ru_maxrss would
    include the parent's peak, so the child reads its own high-water mark)."""
    repo_root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", PEAK_MEMORY_SCRIPT, str(path), how],
                          capture_output=True, text=True, check=True, cwd=repo_root)
    return int(done.stdout.strip())


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc to read peak memory")
def test_20_megapixel_decode_stays_small_in_memory(photo_20mp):
    # A full decode holds 5472*3648 pixels at 4 bytes = 76 MiB; decoding at 1/8 scale about 1 MiB.
    full = peak_memory_kib(photo_20mp, "full_decode")
    reduced = peak_memory_kib(photo_20mp, "load_image")
    assert full > 50 * 1024
    assert reduced < 15 * 1024


# --- broken files ----------------------------------------------------------------------------

def test_truncated_jpeg_names_the_file(tmp_path):
    quadrant_image(200, 200).save(tmp_path / "whole.jpg", quality=90)
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match=r"cut\.jpg.*decode"):
        load_image(tmp_path / "cut.jpg")


def test_text_file_named_jpg_names_the_file(tmp_path):
    (tmp_path / "notes.jpg").write_text("these are my holiday notes, not a photo\n")
    with pytest.raises(ImageLoadError, match=r"notes\.jpg.*not a readable image"):
        load_image(tmp_path / "notes.jpg")
    with pytest.raises(ImageLoadError, match=r"notes\.jpg"):
        image_size(tmp_path / "notes.jpg")


def test_missing_file_is_an_image_load_error(tmp_path):
    with pytest.raises(ImageLoadError, match=r"absent\.png: no such file"):
        load_image(tmp_path / "absent.png")


def test_error_message_is_one_line(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(ImageLoadError) as info:
        load_image(tmp_path / "bad.png")
    assert "\n" not in str(info.value) and "bad.png" in str(info.value)


@pytest.mark.parametrize("keep", [60, 100, 0.5])
def test_truncated_png_names_the_file_whatever_reads_it_first(tmp_path, keep):
    """Pillow reads a PNG's EXIF by walking its chunks: a cut file fails there, before any decode."""
    import skimage.data

    Image.fromarray(skimage.data.astronaut()).save(tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[: int(len(data) * keep) if keep < 1 else keep])
    for read in (load_image, image_size):
        with pytest.raises(ImageLoadError) as info:
            read(cut)
        assert "cut.png" in str(info.value) and "\n" not in str(info.value)


def test_fifo_folder_and_link_loop_are_refused_without_hanging(tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe.jpg")  # opening it for reading would block until a writer comes
    (tmp_path / "loop.jpg").symlink_to(tmp_path / "loop.jpg")
    (tmp_path / "folder.jpg").mkdir()
    for name, message in [("pipe.jpg", "not a regular file"), ("loop.jpg", "symbolic links"),
                          ("folder.jpg", "a folder")]:
        for read in (load_image, image_size):
            with pytest.raises(ImageLoadError, match=message) as info:
                read(tmp_path / name)
            assert name in str(info.value)
