"""Reading the tables the CLI prints (rich's heavy-headed box), as a person would."""

from __future__ import annotations


def cells(line: str) -> list[str]:
    """The cells of one line of a table, stripped."""
    inside = line.strip()[1:-1]  # without the table's left and right edges
    return [cell.strip() for cell in inside.replace("┃", "│").split("│")]


def column(output: str, index: int) -> str:
    """The text of one column of the table's body, its wrapped lines joined by spaces."""
    rows = [cells(line) for line in output.splitlines() if line.startswith("│")]
    return " ".join(row[index] for row in rows if row[index])
