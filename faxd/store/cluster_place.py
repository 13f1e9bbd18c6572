"""Where the embedded cluster's data directory lives when faxd is root.

The server then runs as the ``postgres`` user, which must be able to search every directory on
the way to its data. ``$FAXD_HOME/postgres`` is used whenever it can; a home it cannot reach (a
clone in ``/root``, mode 0700 on Debian) is not loosened behind the user's back: the cluster
lives in ``/var/lib/faxd/clusters/<key>/postgres`` instead, ``key`` derived from the real path of
FAXD_HOME. Both sides record a shared id (``home.json`` there, ``postgres.location`` in the
home), so a home that was deleted and created again (a fresh clone in the same place) gets a
fresh cluster, as it would have with ``var/postgres``, and the old one is set aside, not lost.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import pwd
import secrets
import stat
import subprocess

from faxd.errors import EmbeddedPostgresError

logger = logging.getLogger(__name__)

CLUSTERS_DIR = "/var/lib/faxd/clusters"

# One process for the whole path: the first argument the user cannot search is printed.
_PROBE = 'for d do test -x "$d" || { printf "%s" "$d"; exit 1; }; done'


def ancestors(path: str) -> list[str]:
    """"/a/b" -> ["/", "/a", "/a/b"]."""
    path = os.path.abspath(path)
    out = [path]
    while path != "/":
        path = os.path.dirname(path)
        out.append(path)
    return out[::-1]


def as_user(user: pwd.struct_passwd) -> dict:
    """subprocess arguments that run a child as ``user`` (its own groups only)."""
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def first_unsearchable(path: str, user: pwd.struct_passwd) -> str | None:
    """The first directory from / down to ``path`` that ``user`` cannot search, or None.

    Walked on the real path: behind a symbolic link, the directory in the way is the target's.
    """
    r = subprocess.run(["sh", "-c", _PROBE, "sh", *ancestors(os.path.realpath(path))], cwd="/", stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, **as_user(user))
    if r.returncode == 0:
        return None
    return r.stdout.decode(errors="replace") or path


def describe(path: str) -> str:
    """"mode 0700, owner root" for an error message."""
    try:
        st = os.stat(path)
    except OSError as e:
        return e.strerror
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    return f"mode {stat.S_IMODE(st.st_mode):04o}, owner {owner}"


def cluster_key(home: str) -> str:
    return hashlib.sha256(os.path.realpath(home).encode()).hexdigest()[:16]


def place_for(home: str, clusters_dir: str = CLUSTERS_DIR) -> str:
    """The directory under ``clusters_dir`` that holds the cluster serving ``home``."""
    return os.path.join(clusters_dir, cluster_key(home))


def choose_datadir(requested: str, user: pwd.struct_passwd, clusters_dir: str = CLUSTERS_DIR) -> str:
    """The data directory to use for ``requested`` ($FAXD_HOME/postgres) when the server runs as ``user``."""
    home = os.path.dirname(requested)
    if os.path.exists(os.path.join(requested, "PG_VERSION")):
        blocker = first_unsearchable(home, user)
        if blocker:
            raise EmbeddedPostgresError(
                f"the {user.pw_name} user cannot search {blocker} ({describe(blocker)}), so it cannot reach "
                f"the embedded cluster in {requested}: allow it to (setfacl -m u:{user.pw_name}:x {blocker}), "
                f"or set FAXD_DATABASE_URL")
        return requested
    place = place_for(home, clusters_dir)
    datadir = os.path.join(place, os.path.basename(requested))
    if os.path.exists(os.path.join(datadir, "PG_VERSION")):
        if _belongs(place, requested) or os.path.exists(os.path.join(datadir, "postmaster.pid")):
            return datadir
        _set_aside(place, home)
    blocker = first_unsearchable(home, user)
    if blocker is None:
        return requested
    _make_place(place, home, requested, user, clusters_dir)
    logger.info("the %s user cannot search %s (%s): the embedded cluster of %s lives in %s",
                user.pw_name, blocker, describe(blocker), home, datadir)
    return datadir


def _marker_path(requested: str) -> str:
    return requested + ".location"


def _read_json(path: str) -> dict:
    try:
        with open(path) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_json(path: str, data: dict) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def _belongs(place: str, requested: str) -> bool:
    ours = _read_json(os.path.join(place, "home.json")).get("id")
    return bool(ours) and _read_json(_marker_path(requested)).get("id") == ours


def _set_aside(place: str, home: str) -> None:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    aside = f"{place}.orphaned-{stamp}"
    os.rename(place, aside)
    logger.warning("the embedded cluster in %s belonged to an earlier %s (deleted or emptied since, its "
                   "postgres.location is gone): set aside as %s; a new one is created", place, home, aside)


def _make_place(place: str, home: str, requested: str, user: pwd.struct_passwd, clusters_dir: str) -> None:
    # Created one level at a time with an explicit mode: root's umask may be 077.
    for d in [*ancestors(clusters_dir)[1:], place]:
        if os.path.isdir(d):
            continue
        try:
            os.mkdir(d)
            os.chmod(d, 0o755)
        except OSError as e:
            raise EmbeddedPostgresError(
                f"the {user.pw_name} user cannot reach {home}, and the embedded cluster's place {d} "
                f"cannot be created: {e.strerror}; set FAXD_DATABASE_URL") from None
    blocker = first_unsearchable(place, user)
    if blocker:
        raise EmbeddedPostgresError(
            f"the {user.pw_name} user cannot search {blocker} ({describe(blocker)}), on the way to the "
            f"embedded cluster in {place}: allow it to (chmod o+x {blocker}), or set FAXD_DATABASE_URL")
    ident = secrets.token_hex(8)
    try:
        _write_json(os.path.join(place, "home.json"), {"home": os.path.realpath(home), "id": ident})
        _write_json(_marker_path(requested), {"datadir": os.path.join(place, os.path.basename(requested)),
                                              "id": ident})
    except OSError as e:
        raise EmbeddedPostgresError(f"cannot record the embedded cluster's place: {e}") from None
