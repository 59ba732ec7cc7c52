"""The guest plugin itself: selection, replay, no skips in the guest, missing reports, timeout.

These sessions run the guest's side as a host process (``TOPOLAB_GUEST_LAUNCHER=local``):
the same runner, plugin and report files as under qemu, without the boot. The real guest
is exercised by every ``guest`` test of the suite (tests/kernel/test_kinds.py).
"""

from __future__ import annotations

import os
import re
import textwrap

import pytest

from tests.guest import machine
from tests.guest.plugin import guest_addopts, guest_args

pytest_plugins = ["pytester"]

CONFTEST = 'pytest_plugins = ["tests.guest.plugin"]\n'


@pytest.fixture
def local_guest(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester whose guest runs as a local process."""
    monkeypatch.setenv("TOPOLAB_GUEST_LAUNCHER", "local")
    monkeypatch.delenv("TOPOLAB_GUEST", raising=False)
    monkeypatch.delenv("TOPOLAB_GUEST_TIMEOUT", raising=False)
    pytester.makeconftest(CONFTEST)
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "markers =\n    guest: runs again in the guest\n"
    )
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run an inner session in this process (pytest-django stays the outer session's)."""
    return pytester.runpytest("-p", "no:django", *args)


def test_guest_copies_are_replayed_as_ordinary_results(local_guest: pytest.Pytester) -> None:
    local_guest.makepyfile(
        test_where=textwrap.dedent(
            """
            import os, pytest

            @pytest.mark.guest
            def test_in_guest():
                in_guest = os.environ.get("TOPOLAB_IN_GUEST") == "1"
                assert in_guest, "this is the host"

            @pytest.mark.guest
            @pytest.mark.parametrize("n", [1, 2])
            def test_param(n):
                assert n in (1, 2)

            def test_host_only():
                assert os.environ.get("TOPOLAB_IN_GUEST") is None
            """
        )
    )
    result = run(local_guest, "-v")
    # The host copy of test_in_guest fails (it asserts it is in the guest); its guest
    # copy passes: the report came from the other process, traceback and all.
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_where.py::test_in_guest FAILED*",
            "test guest: 3 tests in *",
            "*test_where.py::test_in_guest@guest PASSED*",
            "*test_where.py::test_param[[]1[]]@guest PASSED*",
            "*this is the host*",
        ]
    )
    assert "test_host_only@guest" not in result.stdout.str()


def test_the_next_module_after_a_guest_item_sets_up_cleanly(local_guest: pytest.Pytester) -> None:
    # The guest item is the last of its module: pytest's setup state must still tear the
    # module down before the next one's tests (once it did not: "not torn down properly").
    local_guest.makepyfile(
        test_a="import pytest\n\n@pytest.fixture(scope='module')\ndef res():\n    yield 1\n\n"
        "@pytest.mark.guest\ndef test_a(res):\n    assert res == 1\n",
        test_b="def test_b():\n    pass\n",
    )
    result = run(local_guest, "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*test_a.py::test_a@guest PASSED*", "*test_b.py::test_b PASSED*"])


def test_marker_and_keyword_selection_apply_to_guest_copies(local_guest: pytest.Pytester) -> None:
    local_guest.makepyfile(
        test_sel=textwrap.dedent(
            """
            import pytest

            @pytest.mark.guest
            def test_a():
                pass

            @pytest.mark.guest
            def test_b():
                pass
            """
        )
    )
    run(local_guest, "-m", "not guest").assert_outcomes(deselected=4)
    result = run(local_guest, "-v", "-k", "test_b")
    result.assert_outcomes(passed=2, deselected=2)
    result.stdout.fnmatch_lines(["*test_b@guest PASSED*"])


def test_a_skip_in_the_guest_is_a_failure(local_guest: pytest.Pytester) -> None:
    local_guest.makepyfile(
        test_skip=textwrap.dedent(
            """
            import pytest

            @pytest.mark.guest
            def test_needs_module():
                pytest.skip("needs kernel module bonding")
            """
        )
    )
    result = run(local_guest, "-rA")
    # On the host the skip stays a skip; in the guest it fails, naming the reason.
    result.assert_outcomes(skipped=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*skipped in the test guest, where nothing may skip: needs kernel module bonding*"]
    )


def test_a_missing_report_fails_with_the_console_tail(local_guest: pytest.Pytester) -> None:
    local_guest.makepyfile(
        test_dies=textwrap.dedent(
            """
            import os, pytest

            @pytest.mark.guest
            def test_dies():
                if os.environ.get("TOPOLAB_IN_GUEST"):
                    os._exit(3)  # the guest dies in the middle of the test

            @pytest.mark.guest
            def test_after():
                pass
            """
        )
    )
    result = run(local_guest)
    result.assert_outcomes(passed=2, failed=2)
    out = result.stdout.str()
    assert "the test guest sent no complete report for test_dies.py::test_dies" in out
    assert "the test guest sent no report for test_dies.py::test_after" in out
    assert "stopped before its session ended (exit 3)" in out
    # The tail shows what the guest printed: its pytest header.
    assert "last lines of the guest console:" in out
    assert "test session starts" in out


def test_a_collection_error_in_the_guest_is_shown(local_guest: pytest.Pytester) -> None:
    local_guest.makepyfile(
        test_import=textwrap.dedent(
            """
            import os, pytest
            if os.environ.get("TOPOLAB_IN_GUEST"):
                raise ImportError("no such module in the guest")

            @pytest.mark.guest
            def test_x():
                pass
            """
        )
    )
    result = run(local_guest)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*collection failed in the guest:*", "*no such module in the guest*"]
    )


def test_an_overrunning_guest_is_ended_by_its_pid(
    local_guest: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOPOLAB_GUEST_TIMEOUT", "8")
    local_guest.makepyfile(
        test_slow=textwrap.dedent(
            """
            import os, time, pytest

            @pytest.mark.guest
            def test_slow():
                if os.environ.get("TOPOLAB_IN_GUEST"):
                    time.sleep(600)
            """
        )
    )
    result = run(local_guest)
    result.assert_outcomes(passed=1, failed=1)
    match = re.search(r"overran its 8 s and was ended \(qemu pid (\d+)\)", result.stdout.str())
    assert match is not None, result.stdout.str()
    assert not os.path.exists(f"/proc/{match.group(1)}")  # ended and reaped


def test_guest_off_leaves_the_copies_out(
    local_guest: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOPOLAB_GUEST", "0")
    local_guest.makepyfile(
        test_off="import pytest\n\n@pytest.mark.guest\ndef test_a():\n    pass\n"
    )
    run(local_guest).assert_outcomes(passed=1)


def test_guest_args_keep_options_and_drop_the_selection() -> None:
    args = guest_args(
        ["tests/kernel", "-x", "-q", "-m", "not e2e", "-k", "bond", "--timeout=60",
         "-mguest", "--junitxml=/tmp/j.xml", "-p", "no:randomly", "tests/unit/x.py::t"],
        ["tests/kernel", "tests/unit/x.py::t"],
    )  # fmt: skip
    assert args == ["-x", "-q", "--timeout=60", "-p", "no:randomly"]


def test_guest_addopts_leave_pytest_django_out() -> None:
    assert guest_addopts(["-ra", "--no-migrations", "--strict-markers", "--reuse-db"]) == (
        "-ra --strict-markers"
    )


def test_kvm_only_with_the_cpu_flags() -> None:
    assert machine.accelerator("flags\t: fpu vme sse2\n") == "tcg,thread=multi"


def test_a_missing_kernel_names_the_script(tmp_path) -> None:
    with pytest.raises(machine.GuestUnavailableError, match=r"scripts/guest-ensure\.sh"):
        machine.kernel_version(tmp_path)
