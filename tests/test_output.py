"""Options that cannot be honoured are refused; output reaches devices, pipes and redirected stdout
intact, write failures exit non-zero, and output paths are checked before any solve."""

import json
import math
import os
import resource
import stat
import subprocess
import sys
import threading

import pytest

from planner import parse_instance, solve
from tests.test_cli import BASE, POWER_BOUND, ROOT, edited, invoke, write

# ----- options -----------------------------------------------------------------------------


@pytest.mark.parametrize(("option", "value", "what"), [
    ("--gap", "2", "gap must be a relative gap in [0, 1]"),
    ("--gap", "nan", "gap must be a relative gap in [0, 1]"),
    ("--gap", "inf", "gap must be a relative gap in [0, 1]"),
    ("--gap", "-0.1", "gap must be a relative gap in [0, 1]"),
    ("--time-limit", "nan", "time_limit must be a finite number of seconds > 0"),
    ("--time-limit", "inf", "time_limit must be a finite number of seconds > 0"),
    ("--time-limit", "0", "time_limit must be a finite number of seconds > 0"),
    ("--threads", "0", "threads must be a whole number in [1, 4096]"),
    ("--threads", str(10**20), "threads must be a whole number in [1, 4096]"),
])
def test_options_that_cannot_be_honoured_exit_2(option, value, what):
    result = invoke("solve", POWER_BOUND, option, value)
    assert result.exit_code == 2, result.output
    assert what in result.stderr and result.stdout == ""


@pytest.mark.parametrize(("options", "what"), [
    ({"time_limit": -1}, "time_limit"), ({"time_limit": math.nan}, "time_limit"), ({"gap": math.nan}, "gap"),
    ({"gap": 2}, "gap"), ({"threads": 0}, "threads"), ({"threads": 2.5}, "threads"), ({"gap": True}, "gap"),
])
def test_the_api_refuses_the_same_options(options, what):
    with pytest.raises(ValueError, match=f"^{what} must be"):
        solve(parse_instance(BASE), **options)


# ----- where the output goes ---------------------------------------------------------------


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """The real command in a child process: file descriptors, devices and limits are the real ones."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "planner", *map(str, args)], env=env, timeout=120, check=False, **kwargs)


def test_output_onto_a_character_device_writes_to_it():
    result = invoke("solve", POWER_BOUND, "--format", "json", "-o", os.devnull)
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)  # still the device, not a regular file put in its place


def test_output_onto_a_pipe_writes_to_it(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    result = invoke("solve", POWER_BOUND, "--format", "json", "-o", fifo)
    reader.join(timeout=60)
    assert result.exit_code == 0, result.output
    assert json.loads(received[0])["objective"] == pytest.approx(177.5)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_output_to_dev_stdout_redirected_to_a_file_lands_in_that_file(tmp_path):
    target = tmp_path / "plan.json"
    with target.open("w") as fh:
        inode = os.fstat(fh.fileno()).st_ino
        proc = run("solve", POWER_BOUND, "--format", "json", "-o", "/dev/stdout", stdout=fh, stderr=subprocess.PIPE)
    assert proc.returncode == 0, proc.stderr
    assert target.stat().st_ino == inode  # written through the shell's file, not renamed over it
    assert json.loads(target.read_text())["objective"] == pytest.approx(177.5)


def test_output_to_dev_stdout_appended_to_a_file_keeps_what_was_there(tmp_path):
    target = tmp_path / "log.txt"
    target.write_text("earlier\n")
    with target.open("a") as fh:
        proc = run("solve", POWER_BOUND, "--format", "json", "-o", "/dev/stdout", stdout=fh, stderr=subprocess.PIPE)
    assert proc.returncode == 0, proc.stderr
    earlier, document = target.read_text().split("\n", 1)
    assert earlier == "earlier" and json.loads(document)["objective"] == pytest.approx(177.5)


def test_output_to_dev_stdout_through_a_pipe():
    proc = run("solve", POWER_BOUND, "--format", "json", "-o", "/dev/stdout", capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["objective"] == pytest.approx(177.5)


def test_a_full_disk_on_stdout_exits_non_zero_with_a_message():
    with open("/dev/full", "w") as full:
        proc = run("solve", POWER_BOUND, "--format", "json", stdout=full, stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 2
    assert "planner: cannot write to stdout: No space left on device" in proc.stderr


def test_a_file_size_limit_on_stdout_exits_non_zero_with_a_message(tmp_path):
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (256, 256))

    with (tmp_path / "plan.json").open("w") as fh:
        proc = run("solve", POWER_BOUND, "--format", "json", stdout=fh, stderr=subprocess.PIPE, text=True,
                   preexec_fn=limit)
    assert proc.returncode == 2, proc.stderr
    assert "planner: cannot write to stdout: File too large" in proc.stderr


def test_a_full_disk_on_output_exits_2():
    result = invoke("solve", POWER_BOUND, "--format", "json", "-o", "/dev/full")
    assert result.exit_code == 2
    assert "/dev/full: cannot write: No space left on device" in result.stderr


def test_sweep_checks_every_output_path_before_solving(tmp_path, monkeypatch):
    inst = write(tmp_path / "i.yaml", BASE)
    monkeypatch.setattr("planner.cli.sweeps.sweep", lambda *a, **k: pytest.fail("solved before checking outputs"))
    vary = ["--vary", "leases.l0.price_per_gpu_hour=1:2:1"]
    missing = invoke("sweep", inst, *vary, "-o", tmp_path / "s.csv", "--plot", tmp_path / "nowhere" / "p.png")
    assert missing.exit_code == 2 and "p.png: cannot write: no folder" in missing.stderr
    onto_input = invoke("sweep", inst, *vary, "-o", tmp_path / "s.csv", "--plot", inst)
    assert onto_input.exit_code == 2 and "refusing to overwrite an input file" in onto_input.stderr
    assert not (tmp_path / "s.csv").exists()


def test_solve_checks_its_output_path_before_solving(tmp_path, monkeypatch):
    monkeypatch.setattr("planner.cli.solve_plan", lambda *a, **k: pytest.fail("solved before checking the output"))
    result = invoke("solve", POWER_BOUND, "-o", tmp_path / "nowhere" / "plan.json")
    assert result.exit_code == 2 and "cannot write: no folder" in result.stderr


# ----- what the output says ----------------------------------------------------------------


def test_markdown_escapes_pipes_and_line_breaks_in_names(tmp_path):
    inst = write(tmp_path / "i.yaml", edited(lambda d: d["leases"][0].update(name="l|0\nsecond line")))
    result = invoke("solve", inst, "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert "l\\|0<br>second line" in result.stdout
    for block in result.stdout.strip().split("\n\n"):
        if block.startswith("|"):
            lines = block.splitlines()
            cells = {line.replace("\\|", "").count("|") for line in lines}
            assert len(cells) == 1, lines  # every row has the header's columns


@pytest.mark.parametrize(("name", "content"), [
    ("utf16.yaml", "name: x\nprice_per_gpu_hour: 1\n".encode("utf-16")),
    ("binary.yaml", bytes(range(256))),
])
def test_offer_file_that_is_not_utf8_text_exits_2(tmp_path, name, content):
    inst = write(tmp_path / "i.yaml", BASE)
    offer = tmp_path / name
    offer.write_bytes(content)
    result = invoke("evaluate", inst, "--offer-file", offer)
    assert result.exit_code == 2, result.output
    assert f"{offer}: cannot read file: not UTF-8 text" in result.stderr
