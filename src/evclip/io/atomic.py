"""Temporary files beside a target, renamed over it when complete, and clearing what a killed
run left behind.

Every temporary name says whose it is: ``.<target name>.<pid>.<8 random characters>.tmp`` for a
file and ``.<target name>.<pid>.<8 random characters>`` for a spool folder. A run killed by
SIGKILL or a power cut cannot delete its temporaries, so the next run that writes the same
target deletes those whose process no longer exists (and, for names from before the pid was
part of them, those untouched for an hour). Errors name the user's target, never the temporary.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMP_SUFFIX = ".tmp"
LEGACY_AGE_S = 3600.0  # temporaries without a pid count as abandoned after an hour untouched
# targets whose temporaries a folder-wide sweep may delete: event files and manifests
SWEPT_SUFFIXES = (".npz", ".h5", ".hdf5", ".jsonl", ".json")


def file_mode() -> int:
    """Permission bits of a new file under the current umask (mkstemp itself makes 0600)."""
    try:
        with open("/proc/self/status") as status:  # reading it leaves the umask alone
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return 0o666 & ~current


def target_error(err: OSError, target: str | os.PathLike[str], temps=()) -> OSError:
    """``err`` reworded to name ``target`` instead of a temporary file beside it."""
    target = os.fspath(target)
    if err.errno is not None and err.strerror:
        return type(err)(err.errno, f"cannot write it ({err.strerror})", target)
    message = str(err)
    for temp in temps:
        message = message.replace(os.fspath(temp), target)
    return type(err)(f"{target}: cannot write it ({message})")


def _prefix(target: Path) -> str:
    return f".{target.name}.{os.getpid()}."


def make_temp_file(target: str | os.PathLike[str]) -> Path:
    """An empty private file beside ``target``, named after it and this process."""
    target = Path(target)
    try:
        fd, name = tempfile.mkstemp(prefix=_prefix(target), suffix=TEMP_SUFFIX, dir=target.parent)
    except OSError as err:
        raise target_error(err, target) from None
    os.close(fd)
    return Path(name)


def make_temp_dir(target: str | os.PathLike[str]) -> Path:
    """An empty private folder beside ``target``, named after it and this process."""
    target = Path(target)
    try:
        return Path(tempfile.mkdtemp(prefix=_prefix(target), dir=target.parent))
    except OSError as err:
        raise target_error(err, target) from None


def commit(temp: Path, target: str | os.PathLike[str]) -> None:
    """Give ``temp`` the umask's permissions and move it over ``target`` in one step."""
    try:
        os.chmod(temp, file_mode())
        os.replace(temp, target)
    except OSError as err:
        raise target_error(err, target, (temp,)) from None


def _temp_pattern(name: str | None) -> re.Pattern[str]:
    if name is None:
        suffixes = "|".join(re.escape(s) for s in SWEPT_SUFFIXES)
        name_re = rf".+?(?:{suffixes})"
    else:
        name_re = re.escape(name)
    return re.compile(rf"\.(?:{name_re})\.(?:(?P<pid>\d+)\.)?[A-Za-z0-9_]{{8}}(?:\.tmp)?")


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except (OverflowError, ValueError, OSError):
        return False
    return True


def _newest_change(path: Path) -> float:
    try:
        newest = path.lstat().st_mtime
        if path.is_dir() and not path.is_symlink():
            for child in path.iterdir():
                newest = max(newest, child.lstat().st_mtime)
    except OSError:
        return time.time()  # vanished or unreadable: treat as in use
    return newest


def stale_temporaries(
    folder: str | os.PathLike[str], name: str | None = None, *, now: float | None = None
) -> list[Path]:
    """Temporaries in ``folder`` left by processes that are gone.

    Args:
        folder: where to look.
        name: the target file name whose temporaries to find; None finds those of any event
            file or manifest (names ending in one of :data:`SWEPT_SUFFIXES`).
        now: the current time (for tests).

    Returns:
        Paths whose owner process no longer exists, or, for names without a pid, untouched for
        :data:`LEGACY_AGE_S` seconds. Temporaries of live processes are never listed.
    """
    pattern = _temp_pattern(name)
    now = time.time() if now is None else now
    found = []
    try:
        entries = [e.name for e in os.scandir(folder) if e.name.startswith(".")]
    except OSError:
        return []
    for entry in entries:
        match = pattern.fullmatch(entry)
        if match is None:
            continue
        path = Path(folder) / entry
        if match["pid"] is not None:
            if not _process_exists(int(match["pid"])):
                found.append(path)
        elif now - _newest_change(path) > LEGACY_AGE_S:
            found.append(path)
    return sorted(found)


def remove_stale_temporaries(
    target: str | os.PathLike[str] | None = None, *, folder: str | os.PathLike[str] | None = None
) -> list[Path]:
    """Delete what killed runs left beside ``target`` (or, with ``folder``, beside any event file
    or manifest in it); returns the deleted paths. Best effort: an undeletable one is skipped."""
    if target is not None:
        target = Path(target)
        stale = stale_temporaries(target.parent, target.name)
    elif folder is not None:
        stale = stale_temporaries(folder)
    else:
        raise ValueError("give a target or a folder")
    removed = []
    for path in stale:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


def check_output(target: str | os.PathLike[str], suffixes: tuple[str, ...] = ()) -> Path:
    """Fail before any work when ``target`` cannot be written.

    Raises:
        ValueError: when ``suffixes`` are given and ``target`` ends in none of them.
        IsADirectoryError: when ``target`` is an existing folder.
        FileNotFoundError / NotADirectoryError: when its folder is missing or is a file.
        PermissionError (or another OSError): when no file can be created in its folder.
    """
    target = Path(target)
    if suffixes and target.suffix.lower() not in suffixes:
        raise ValueError(f"{target}: output must end in one of {', '.join(suffixes)}")
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder; give a file name", os.fspath(target))
    parent = target.parent
    if not parent.exists():
        raise FileNotFoundError(errno.ENOENT, f"its folder {parent} does not exist", str(target))
    if not parent.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"{parent} is not a folder", str(target))
    make_temp_file(target).unlink()  # the one sure test, for root and read-only mounts too
    return target


@contextmanager
def atomic_output(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path to write instead of ``target``; moved over it when the block succeeds,
    deleted when it fails. Stale temporaries of the same target are deleted first."""
    target = Path(target)
    remove_stale_temporaries(target)
    temp = make_temp_file(target)
    try:
        yield temp
        commit(temp, target)
    finally:
        temp.unlink(missing_ok=True)
