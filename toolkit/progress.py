"""Progress bars on stderr (rich), shared by every long-running stage."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

T = TypeVar("T")

stderr = Console(stderr=True)


def progress_bar(*extra_columns: TextColumn, disable: bool = False) -> Progress:
    """A bar with count, elapsed time and optional extra text columns (e.g. loss, sentences/s)."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        *extra_columns,
        console=stderr,
        disable=disable,
    )


def track(items: Iterable[T], *, total: int | None, description: str, disable: bool = False) -> Iterator[T]:
    with progress_bar(disable=disable) as bar:
        yield from bar.track(items, total=total, description=description)
