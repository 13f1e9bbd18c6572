from setuptools import setup

# cffi has no declarative form for cffi_modules (python-cffi/cffi#55).
setup(cffi_modules=["faxd/spandsp/_build.py:ffibuilder"])
