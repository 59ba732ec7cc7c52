"""The kernel layer's one exception: an errno and the kernel's message."""

from __future__ import annotations

import errno as _errno

from lab.wire import TopolabError


class KernelError(TopolabError):
    """The kernel refused a request.

    Attributes:
        errno: the errno the kernel returned (``errno.EEXIST`` ...).
        message: a readable message (strerror plus what was asked).
    """

    code = "kernel.error"

    def __init__(self, errno: int, message: str) -> None:
        super().__init__(message)
        self.errno = errno

    def __str__(self) -> str:
        name = _errno.errorcode.get(self.errno, str(self.errno))
        return f"[{name}] {self.message}"
