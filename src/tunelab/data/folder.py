"""``folder``: the user's own images, one subfolder of PNG/JPEG files per class (ImageFolder's layout).

    images/
      cat/  001.png  002.jpg ...
      dog/  ...

Classes are the subfolders in sorted order (label 0 is the first); hidden entries and files that are
not ``.png`` / ``.jpg`` / ``.jpeg`` are skipped. Images are decoded with Pillow and kept grey (one
channel) or colour (three: RGB) as they are; palette images become RGB, an alpha channel is dropped,
and a folder mixing grey and colour images is read as RGB. Images of different sizes need ``size``
(all are then resized to it, bilinear, without keeping the aspect ratio).

The decoded arrays are cached (:mod:`tunelab.data.local`) under the folder's content hash:
:func:`content_hash`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunelab.data.base import sha256_file
from tunelab.errors import DataError

SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class ImageFiles:
    """The image files of a folder: ``files[i]`` of class ``labels[i]`` (an index into ``classes``)."""

    root: Path
    classes: tuple[str, ...]
    files: tuple[Path, ...]
    labels: tuple[int, ...]


def list_images(root: Path, classes: tuple[str, ...] | None = None) -> ImageFiles:
    """The class subfolders of ``root`` and their image files, in sorted order.

    With ``classes`` (a training folder's), the subfolders must be among them and take their labels.
    """
    if not root.exists():
        raise DataError(f"{root}: folder not found")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (the folder dataset reads a folder of class subfolders)")
    found = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise DataError(
            f"{root}: no class subfolders; expected one subfolder of PNG or JPEG images per class"
        )
    names = tuple(p.name for p in found)
    if classes is not None:
        unknown = [n for n in names if n not in classes]
        if unknown:
            raise DataError(
                f"{root / unknown[0]}: class {unknown[0]!r} is not among the training classes "
                f"({', '.join(classes)})"
            )
    index = {name: i for i, name in enumerate(classes if classes is not None else names)}
    files: list[Path] = []
    labels: list[int] = []
    for folder in found:
        images = sorted(
            p
            for p in folder.iterdir()
            if p.suffix.lower() in SUFFIXES and not p.name.startswith(".") and p.is_file()
        )
        if not images:
            raise DataError(f"{folder}: empty class folder (no .png, .jpg or .jpeg images)")
        files += images
        labels += [index[folder.name]] * len(images)
    return ImageFiles(root, classes if classes is not None else names, tuple(files), tuple(labels))


def content_hash(images: ImageFiles) -> str:
    """SHA-256 over the sorted class/file names and the SHA-256 of each file's bytes: it changes
    when an image is added, removed, renamed, moved to another class or edited."""
    total = hashlib.sha256()
    for path in images.files:
        total.update(f"{path.relative_to(images.root).as_posix()}\0{sha256_file(path)}\n".encode())
    return total.hexdigest()


def decode(path: Path) -> np.ndarray:
    """One image as an (H, W) or (H, W, 3) uint8 array; a file Pillow cannot read is a DataError."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("1", "L", "LA", "I;16", "I;16B", "I;16L", "I", "F"):
                grey = image if image.mode == "L" else _to_grey(image)
                return np.asarray(grey, dtype=np.uint8)
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: not a readable image ({exc})") from None


def _to_grey(image: object) -> object:
    """8-bit grey of a 1-bit, grey+alpha or 16/32-bit grey image (16-bit values scaled, not clipped)."""
    from PIL import Image

    assert isinstance(image, Image.Image)
    if image.mode in ("1", "LA"):
        return image.convert("L")
    values = np.asarray(image, dtype=np.float64)
    top = 255.0 if image.mode == "F" else 65535.0
    return Image.fromarray(np.clip(np.round(values / top * 255), 0, 255).astype(np.uint8))


def read_images(images: ImageFiles, size: tuple[int, int] | None) -> np.ndarray:
    """Every image of ``images`` decoded into one (N, C, H, W) uint8 array.

    Without ``size`` all must have one size; with it, each is resized to ``size`` (H, W).
    """
    from PIL import Image

    arrays: list[np.ndarray] = []
    first: Path | None = None
    for path in images.files:
        array = decode(path)
        if size is not None and array.shape[:2] != size:
            resized = Image.fromarray(array).resize((size[1], size[0]), Image.Resampling.BILINEAR)
            array = np.asarray(resized, dtype=np.uint8)
        if first is None:
            first = path
        elif array.shape[:2] != arrays[0].shape[:2]:
            a, b = arrays[0].shape[:2], array.shape[:2]
            raise DataError(
                f"{path}: images differ in size ({first.name} is {a[0]}×{a[1]}, {path.name} is "
                f"{b[0]}×{b[1]}); set data.size to resize them all to one size"
            )
        arrays.append(array)
    colour = any(a.ndim == 3 for a in arrays)
    if colour:  # a folder mixing grey and colour images is read as colour
        arrays = [a if a.ndim == 3 else np.repeat(a[:, :, None], 3, axis=2) for a in arrays]
        return np.stack(arrays).transpose(0, 3, 1, 2).copy()
    return np.stack(arrays)[:, None]
