"""The sandbox a converter runs in (faxd/documents/sandbox.py), probed with ordinary programs."""
import os
import pwd
import shutil
import socket
import subprocess
import time

import pytest

from faxd.documents import DocumentError, sandbox


@pytest.fixture
def conversion():
    path = sandbox.conversion_dir(None)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def sh(conversion, script, **kw):
    r = sandbox.run(lambda d: ["/bin/sh", "-c", script, "sh", d], inputs=kw.pop("inputs", {}),
                    outputs=kw.pop("outputs", ()), conversion=conversion, timeout=30, what="sh", **kw)
    return r, r.output.decode().strip()


def test_the_run_is_not_root_and_sees_only_its_own_directory(conversion):
    assert sandbox.isolation().namespaces, sandbox.isolation().reason
    r, out = sh(conversion, 'id -u; echo "$TMPDIR $HOME $PWD"; ls -A /tmp; ls /proc | grep -c "^[0-9]"',
                inputs={"input.pdf": b"x"})
    uid, dirs, listing, processes = out.splitlines()
    expected = pwd.getpwnam(sandbox.USER).pw_uid if os.geteuid() == 0 else os.geteuid()
    assert int(uid) == expected != 0
    assert dirs == "/tmp /tmp /tmp"
    assert listing == "input.pdf"           # /tmp is the run's directory, nothing else
    assert int(processes) <= 4              # its own PID namespace: sh, ls, grep


def test_the_run_cannot_undo_its_mounts_or_leave(conversion):
    r, out = sh(conversion, "umount /tmp 2>/dev/null; echo umount=$?; touch /var/tmp/x /dev/shm/y; ls -A /tmp; "
                            "grep CapEff /proc/self/status; grep NoNewPrivs /proc/self/status")
    assert "umount=0" not in out
    assert "x\ny" in out                    # /var/tmp and /dev/shm are the run's directory too
    assert "CapEff:\t0000000000000000" in out and "NoNewPrivs:\t1" in out


def test_the_run_reaches_no_network(conversion):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        # bash's /dev/tcp, not this test's Python: the converter's user may not reach the
        # interpreter (pyenv's under root's 0700 home), while /bin/bash is everyone's
        probe = f"(: <>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo connected || echo refused"
        r = sandbox.run(lambda d: ["/bin/bash", "-c", probe], inputs={}, outputs=(), conversion=conversion,
                        timeout=30, what="bash")
    finally:
        listener.close()
    assert r.output.decode().startswith("refused"), r.output


def test_a_symbolic_link_is_not_read_back(conversion):
    r, out = sh(conversion, 'ln -s /etc/passwd "$1/out.tif"; ln -s /etc "$1/dir"', outputs=("out.tif",))
    assert r.status == 0 and r.files["out.tif"] is None


def test_other_runs_are_not_listable(conversion):
    os.mkdir(os.path.join(conversion, "someone-else"), 0o700)
    # Without the namespaces, the conversion directory is 0711: enterable, not listable.
    assert os.stat(conversion).st_mode & 0o777 == 0o711
    iso = sandbox.isolation()
    flat = sandbox.Isolation(iso.uid, iso.gid, namespaces=False, userns=False, reason="test")
    r = sandbox.run(lambda d: ["/bin/sh", "-c", 'ls "$(dirname "$1")" 2>&1; echo status=$?', "sh", d],
                    inputs={}, outputs=(), conversion=conversion, timeout=30, what="sh", iso=flat)
    out = r.output.decode()
    if os.geteuid() == 0:
        assert "Permission denied" in out and "someone-else" not in out


def test_libreoffice_is_refused_without_a_network_namespace(conversion):
    flat = sandbox.Isolation(None, None, namespaces=False, userns=False, reason="no namespaces here")
    with pytest.raises(DocumentError, match="LibreOffice is disabled on this server.*no namespaces here"):
        sandbox.run(lambda d: ["true"], inputs={}, outputs=(), conversion=conversion, timeout=5,
                    what="LibreOffice", needs_network_isolation=True, iso=flat)


def test_sweep_removes_only_dead_faxds_directories(tmp_path):
    me = os.getpid()
    alive = tmp_path / f"faxd-doc-{me}-{sandbox.start_time(me)}-abc"
    reused = tmp_path / f"faxd-doc-{me}-1-abc"               # same pid, another process's start time
    dead = tmp_path / "faxd-doc-999999999-5-abc"
    old_style, recent_old_style = tmp_path / "faxd-doc-k2j3h4", tmp_path / "faxd-doc-z9y8x7"
    unrelated = tmp_path / "something-else"
    for d in (alive, reused, dead, old_style, recent_old_style, unrelated):
        (d / "run").mkdir(parents=True)
        (d / "run" / "input.pdf").write_bytes(b"x")
    hour_ago = time.time() - sandbox.STALE_AFTER - 10
    os.utime(old_style, (hour_ago, hour_ago))
    os.utime(unrelated, (hour_ago, hour_ago))

    removed = sandbox.sweep(str(tmp_path))

    assert sorted(removed) == sorted(str(d) for d in (reused, dead, old_style))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(d.name for d in (alive, recent_old_style, unrelated))


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]


def test_a_non_root_faxd_gets_the_same_sandbox_through_a_user_namespace(conversion):
    """What a non-root faxd runs (``unshare -r``), run here as the unprivileged user nobody."""
    rundir = os.path.join(conversion, "run")
    os.mkdir(rundir, 0o700)
    os.chown(rundir, 65534, 65534)
    probe = subprocess.run(NOBODY + sandbox.probe_argv(True, rundir), capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    iso = sandbox.Isolation(None, None, namespaces=True, userns=True)
    script = "ls -A /tmp; touch /tmp/ok; umount /tmp 2>/dev/null; echo umount=$?; grep CapEff /proc/self/status; " \
             "ls /proc | grep -c '^[0-9]'"
    argv = NOBODY + sandbox.wrap(["/bin/sh", "-c", script], rundir, iso, hide=None)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=rundir).stdout.splitlines()
    umount, caps, processes = out                 # and `ls -A /tmp` printed nothing: an empty directory
    assert umount != "umount=0"                   # the mounts stay
    assert caps == "CapEff:\t0000000000000000"
    assert int(processes) <= 4                    # its own PID namespace
    assert os.listdir(rundir) == ["ok"]           # /tmp was the run's own directory
