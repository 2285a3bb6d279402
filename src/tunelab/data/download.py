"""Finding a dataset's files on disk, and downloading them (with pooch) when they are not there.

Where files are looked for, in order: ``data_dir`` (default ``$TUNELAB_DATA_DIR``), then
``data_dir/<folder>``, then the download cache ``pooch.os_cache("tunelab")/<folder>``, where
``<folder>`` is the dataset's name (or the folder it shares with others: ``emnist``). Downloads try
each base URL in turn — the dataset's official ones, or ``$TUNELAB_DATA_MIRROR`` (comma-separated
base URLs of mirrors laid out as ``<mirror>/<folder>/<file>``) — and check every file against its
known hash.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from tunelab.data.registry import DATASETS, get_info
from tunelab.errors import DataError

DATA_DIR_ENV = "TUNELAB_DATA_DIR"
MIRROR_ENV = "TUNELAB_DATA_MIRROR"


def _folder(name: str) -> str:
    return DATASETS[name].folder if name in DATASETS else name


def cache_dir(name: str) -> Path:
    """Where downloads of ``name`` go: the OS's cache folder for tunelab (honours ``XDG_CACHE_HOME``)."""
    import pooch

    return Path(pooch.os_cache("tunelab")) / _folder(name)


def given_folder(data_dir: str | Path | None = None) -> Path | None:
    """``data_dir``, else ``$TUNELAB_DATA_DIR``, else None; one that is not a folder is a DataError."""
    if data_dir is not None:
        where = f"--data-dir {data_dir}"
    else:
        data_dir = os.environ.get(DATA_DIR_ENV) or None
        where = f"{DATA_DIR_ENV}={data_dir}"
    if data_dir is None:
        return None
    if not Path(data_dir).is_dir():
        state = "not a folder" if Path(data_dir).exists() else "no such folder"
        raise DataError(f"{where}: {state}; expected the folder holding the dataset files")
    return Path(data_dir)


def candidates(name: str, data_dir: str | Path | None = None) -> list[Path]:
    """The folders searched for ``name``'s files, in order."""
    folder = given_folder(data_dir)
    folders = [folder, folder / _folder(name)] if folder is not None else []
    return [*folders, cache_dir(name)]


def locate(name: str, data_dir: str | Path | None = None) -> Path | None:
    """The first folder holding all of ``name``'s files, or ``None`` (always ``None`` when bundled).

    Only the presence of the files is checked here: reading them validates their format, and their
    SHA-256 is recorded with every result.
    """
    info = get_info(name)
    if info.bundled:
        return None
    for folder in candidates(name, data_dir):
        if all((folder / f.name).is_file() for f in info.files):
            return folder
    return None


def dataset_folder(name: str, data_dir: str | Path | None = None, download: bool = True) -> Path | None:
    """The folder holding all of ``name``'s files: found, else downloaded when ``download``.

    None for a bundled dataset. A given folder (``data_dir``, ``$TUNELAB_DATA_DIR``, or its
    ``<name>`` subfolder) that holds some of the files but not all is a DataError naming the missing
    ones, not a download of the whole set; so is a given folder that does not exist (for a bundled
    dataset, only a ``data_dir`` passed in).
    """
    info = get_info(name)
    if info.bundled:
        if data_dir is not None:
            given_folder(data_dir)  # a --data-dir that is not there is named even so
        return None  # a stale $TUNELAB_DATA_DIR, though, must not stop the bundled quickstart
    searched = candidates(name, data_dir)
    folder = locate(name, data_dir)
    if folder is not None:
        return folder
    for given in searched[:-1]:  # not the cache: a download there may have been cut short
        missing = [f.name for f in info.files if not (given / f.name).is_file()]
        if len(missing) < len(info.files):
            them = "it" if len(missing) == 1 else "them"
            raise DataError(
                f"{name}: {given} holds some of the dataset's files but not {', '.join(missing)}; "
                f"put {them} there too"
            )
    where = ", ".join(str(p) for p in searched)
    if not download:
        files = ", ".join(f.name for f in info.files)
        raise DataError(
            f"{name}: files not found ({files}) in {where}; pass --data-dir, set "
            f"{DATA_DIR_ENV} or allow the download"
        )
    try:
        return fetch(name)
    except DataError as exc:  # say where we looked too: a mistyped --data-dir is the usual cause
        raise DataError(f"{exc} (not found in {where} either)") from None


def availability(name: str, data_dir: str | Path | None = None) -> str:
    """``"bundled"``, the folder that holds the files, or ``"not downloaded"``."""
    if get_info(name).bundled:
        return "bundled"
    folder = locate(name, data_dir)
    return str(folder) if folder is not None else "not downloaded"


def default_urls(name: str) -> tuple[str, ...]:
    """``$TUNELAB_DATA_MIRROR``'s ``<mirror>/<folder>/`` when set, else the official base URLs."""
    mirrors = [m.strip() for m in os.environ.get(MIRROR_ENV, "").split(",") if m.strip()]
    if mirrors:
        return tuple(f"{m.rstrip('/')}/{_folder(name)}/" for m in mirrors)
    return get_info(name).urls


def fetch(
    name: str,
    dest: str | Path | None = None,
    base_urls: Sequence[str] | None = None,
    registry: Mapping[str, str | None] | None = None,
) -> Path:
    """Download ``name``'s missing files into ``dest`` (default: the cache) and return ``dest``.

    Each file is tried at each base URL in order and checked against its known hash; a file already
    in ``dest`` with the right hash is kept. ``registry`` (file name → pooch-style hash) replaces the
    dataset's own list of files. Any failure is a DataError naming the file.
    """
    info = get_info(name)
    if registry is None:
        if info.bundled:
            raise DataError(f"{name}: bundled with its library, there is nothing to download")
        registry = {f.name: f.known_hash for f in info.files}
    folder = Path(dest) if dest is not None else cache_dir(name)
    urls = tuple(base_urls) if base_urls is not None else default_urls(name)
    for file, known_hash in registry.items():
        _fetch_one(name, file, known_hash, folder, urls)
    return folder


def _fetch_one(name: str, file: str, known_hash: str | None, folder: Path, urls: Sequence[str]) -> None:
    import pooch
    import requests

    reasons: list[str] = []
    for base in urls:
        url = f"{base.rstrip('/')}/{file}"
        try:
            pooch.retrieve(url, known_hash, fname=file, path=folder, progressbar=False)
            return
        except ValueError as exc:
            if "does not match the known hash" not in str(exc):
                raise DataError(f"{name}: {file}: cannot download from {url} ({exc})") from None
            # pooch has deleted the file; a mirror may still hold the right one, so go on.
            reasons.append(f"{url}: checksum did not match ({_expected_got(exc)})")
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            reasons.append(f"{url}: HTTP {status}")
        except requests.RequestException as exc:
            reasons.append(f"{url}: {exc.__class__.__name__}")
        except OSError as exc:  # e.g. dest not writable: no other URL will do better
            raise DataError(f"{name}: cannot write {file} to {folder} ({exc.strerror or exc})") from None
    if any("checksum did not match" in r for r in reasons):
        raise DataError(
            f"{name}: {file}: the checksum did not match the known one, so the file was not "
            f"kept ({'; '.join(reasons)})"
        )
    where = ", ".join(urls) or "no URL"
    raise DataError(
        f"{name}: could not download {file} from {where} ({'; '.join(reasons) or 'no URL to try'}); "
        f"put the files in a folder and pass --data-dir or set {DATA_DIR_ENV}"
    )


def _expected_got(exc: ValueError) -> str:
    """``expected md5:… but got …`` out of pooch's longer message."""
    text = str(exc)
    start = text.find("expected ")
    return text[start:].split(". ")[0] if start >= 0 else text
