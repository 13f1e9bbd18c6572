from setuptools import find_packages, setup

# Files outside faxd/ that ship inside its namespace: the switch configuration faxd expects
# (dialplan/ -> faxd/dialplan/) and the systemd unit (contrib/systemd/ -> faxd/systemd/). They
# stay at the top of the repository, where the docs point; the packaging maps them.
MAPPED = {"faxd.dialplan": "dialplan", "faxd.systemd": "contrib/systemd"}

setup(
    packages=find_packages(include=["faxd", "faxd.*"]) + list(MAPPED),
    package_dir=MAPPED,
    package_data={"faxd.dialplan": ["freeswitch/*.xml", "asterisk/*.conf"],
                  "faxd.systemd": ["*.service"]},
    # cffi has no declarative form for cffi_modules (python-cffi/cffi#55).
    cffi_modules=["faxd/spandsp/_build.py:ffibuilder"],
)
