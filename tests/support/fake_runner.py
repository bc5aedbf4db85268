"""A runner that expects an exact list of commands, as pcs's own tests do.

Each step is (argv, answer): argv items equal to ANY match anything (temporary
file names); the answer is a Completed or a function of the argv returning
one (to run the real tool, or to read a file before it is deleted).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sipha_runtime.run import Completed

ANY = object()
Answer = Completed | Callable[[Sequence[str]], Completed]


def done(stdout: str = "", returncode: int = 0, stderr: str = "") -> Completed:
    return Completed((), returncode, stdout, stderr, 0.0)


class FakeRunner:
    def __init__(self, steps: list[tuple[list[object], Answer]]) -> None:
        self.steps = list(steps)
        self.calls: list[list[str]] = []

    def run(self, argv: Sequence[str], timeout: float | None = None,
            env: object = None) -> Completed:
        self.calls.append(list(argv))
        assert self.steps, f"unexpected command {list(argv)}"
        expected, answer = self.steps.pop(0)
        assert len(argv) == len(expected) and all(
            e is ANY or e == a for e, a in zip(expected, argv, strict=True)), (
            f"expected {expected}, got {list(argv)}")
        return answer(argv) if callable(answer) else answer

    def finished(self) -> bool:
        return not self.steps
